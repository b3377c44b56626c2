"""A reader's own writes answer the same whatever is held above them (issue 9).

Each test is one finding of the issue, tried as a hostile insider would: the
answer to a write (ingest counts, raises, rule loads, reindex) must not tell
the writer anything about records they may not read; spills go to security
officers; markings can be raised, lowered by an officer, and documents
withdrawn with everything derived from them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guetteur._exceptions import NotFoundError, PermissionDeniedError, WorkspaceError
from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

from conftest import SHARED_DATA, new_workspace, write

SECRET_NOTE = (
    "Note on the GREYFOX cell: two operators met near the Narva bridge at dawn "
    "and handed over a satellite phone.\n"
)


def _ingest_as(workspace: Workspace, user: str, path: Path, marking: str) -> tuple[int, ...]:
    report = workspace.ingest(
        workspace.user(user), [path], source="notes", marking=parse_marking(marking)
    )
    return report.ingested, report.duplicates, report.raised, len(report.failed)


def test_content_held_above_the_writer_is_no_duplicate_for_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Finding 6: a low user ingesting a guessed text got `duplicates: 1`.
    secret = write(tmp_path / "s", "note.txt", SECRET_NOTE)
    assert _ingest_as(workspace, "ops", secret, "NATO SECRET") == (1, 0, 0, 0)
    guess = write(tmp_path / "g", "guess.txt", SECRET_NOTE)
    # The same answer as for content nobody holds...
    assert _ingest_as(workspace, "lux_nr", guess, "NATO RESTRICTED") == (1, 0, 0, 0)
    # ...and now the writer holds their own copy, which they may read.
    (found,) = workspace.search(workspace.user("lux_nr"), "GREYFOX satellite phone", limit=1)
    assert str(found.marking) == "NATO RESTRICTED"
    # A second time it is their own duplicate, as anywhere else.
    assert _ingest_as(workspace, "lux_nr", guess, "NATO RESTRICTED") == (0, 1, 0, 0)
    # The security officers hear of the spill; the writer is never told.
    (spill,) = workspace.spills(workspace.user("ops"))
    assert spill.actor == "lux_nr" and str(spill.marking) == "NATO RESTRICTED"
    assert [str(m) for _, m in spill.held] == ["NATO SECRET"]
    with pytest.raises(PermissionDeniedError):
        workspace.spills(workspace.user("lux_nr"))


def test_writing_above_ones_own_clearance_answers_as_new_content(
    workspace: Workspace, tmp_path: Path
) -> None:
    secret = write(tmp_path / "s", "note.txt", SECRET_NOTE)
    assert _ingest_as(workspace, "ops", secret, "NATO SECRET") == (1, 0, 0, 0)
    # lux_nr writes the same text up, at NATO SECRET, which they may not read:
    # exactly what they would be told if nobody held it.
    guess = write(tmp_path / "g", "guess.txt", SECRET_NOTE)
    assert _ingest_as(workspace, "lux_nr", guess, "NATO SECRET") == (1, 0, 0, 0)
    assert workspace.stats(workspace.user("ops")).documents == 1  # nothing stored twice


def test_reingesting_with_a_higher_marking_raises_it(workspace: Workspace, tmp_path: Path) -> None:
    # Finding 10: a higher --marking on the same text was a silent duplicate.
    note = write(tmp_path, "note.txt", SECRET_NOTE)
    assert _ingest_as(workspace, "ops", note, "NATO RESTRICTED") == (1, 0, 0, 0)
    assert _ingest_as(workspace, "ops", note, "NATO SECRET") == (0, 0, 1, 0)
    (document,) = workspace.store.iter_documents(workspace.user("ops").clearance)
    assert str(document.marking) == "NATO SECRET"
    # Passages and everything derived followed: the NR reader finds nothing now.
    assert workspace.search(workspace.user("lux_nr"), "GREYFOX satellite phone") == []
    assert workspace.stats(workspace.user("lux_nr")).documents == 0


def test_remark_raises_with_read_access_and_lowers_only_as_an_officer(
    workspace: Workspace, tmp_path: Path
) -> None:
    note = write(tmp_path, "note.txt", SECRET_NOTE)
    workspace.ingest(
        workspace.user("lux_nr"), [note], source="n", marking=parse_marking("NATO RESTRICTED")
    )
    nr = workspace.user("lux_nr")
    (hit,) = workspace.search(nr, "GREYFOX", limit=1)
    with pytest.raises(WorkspaceError, match="reason"):
        workspace.remark(nr, hit.id, parse_marking("NATO SECRET"), " ")
    raised = workspace.remark(nr, hit.id, parse_marking("NATO SECRET"), "names a source")
    with pytest.raises(NotFoundError):  # raised above its own reader
        workspace.show(nr, raised)
    with pytest.raises(NotFoundError):  # the same answer as for any unknown id
        workspace.remark(nr, raised, parse_marking("NATO UNCLASSIFIED"), "x")
    deu = workspace.user("deu_nc")
    with pytest.raises(NotFoundError):
        workspace.remark(deu, raised, parse_marking("NATO SECRET // CRYPTO"), "x")
    ops = workspace.user("ops")
    lowered = workspace.remark(ops, raised, parse_marking("NATO RESTRICTED"), "sanitised")
    assert str(workspace.show(nr, lowered).marking) == "NATO RESTRICTED"
    with pytest.raises(PermissionDeniedError, match="security officer"):
        workspace.remark(nr, lowered, parse_marking("NATO UNCLASSIFIED"), "wants it public")
    remarks = [r.detail for r in workspace.store.audit_rows() if r.action == "remark"]
    assert [(r["from"], r["to"], r["reason"]) for r in remarks] == [
        ("NATO RESTRICTED", "NATO SECRET", "names a source"),
        ("NATO SECRET", "NATO RESTRICTED", "sanitised"),
    ]


def test_withdraw_removes_the_document_and_all_derived_from_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    note = write(tmp_path, "note.txt", "NATO RESTRICTED\n" + SECRET_NOTE)
    workspace.ingest(workspace.user(), [note], source="n")
    ops = workspace.user()
    (hit,) = workspace.search(ops, "GREYFOX", limit=1)
    assert workspace.entities(ops)
    with pytest.raises(PermissionDeniedError):
        workspace.withdraw(workspace.user("lux_nr"), hit.id, "spill")
    workspace.withdraw(ops, hit.id, "spillage cleaned up")
    assert workspace.search(ops, "GREYFOX satellite phone") == []
    assert workspace.entities(ops) == [] and workspace.events(ops) == []
    assert workspace.stats(ops).documents == 0 and workspace.stats(ops).chunks == 0
    assert workspace.store.search_text('"greyfox"', ops.clearance, 10) == []
    (row,) = [r for r in workspace.store.audit_rows() if r.action == "withdraw"]
    assert row.detail["doc_id"] == hit.id and row.detail["reason"] == "spillage cleaned up"


def test_reindex_tells_a_reader_only_what_they_may_read(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Finding 8: reindex as a low user reported how many documents exist.
    write(tmp_path / "in", "s.txt", "NATO SECRET\n" + SECRET_NOTE)
    write(tmp_path / "in", "r.txt", "NATO RESTRICTED\nConvoy seen near Valga at dawn.\n")
    workspace.ingest(workspace.user(), [tmp_path / "in"], source="n")
    assert workspace.reindex(workspace.user("lux_nr")) == 1
    assert workspace.reindex(workspace.user()) == 2


def test_document_ids_are_keyed_not_content_hashes(tmp_path: Path, built_gazetteer: Path) -> None:
    import hashlib

    ids = []
    for name in ("one", "two"):
        ws = new_workspace(tmp_path / name, built_gazetteer)
        note = write(tmp_path / f"{name}-in", "note.txt", "NATO RESTRICTED\n" + SECRET_NOTE)
        ws.ingest(ws.user(), [note], source="n")
        (document,) = ws.store.iter_documents(ws.user().clearance)
        assert not document.sha256.startswith(document.id)
        assert document.id not in hashlib.sha256(document.text.encode()).hexdigest()
        ids.append(document.id)
        ws.close()
    assert ids[0] != ids[1]  # each workspace has its own secret


SIGMA = SHARED_DATA / "sigma_regression_events"


@pytest.mark.skipif(not SIGMA.is_dir(), reason="../shared/data not present")
def test_rules_load_counts_only_alerts_the_loader_may_read(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Finding 5: loading a rule told a low user how many stored events of any
    # marking it matched — a text oracle on SECRET events.
    events = sorted((SIGMA / "events").glob("*.json"))[:20]
    folder = tmp_path / "events"
    folder.mkdir()
    for path in events:
        (folder / path.name).write_bytes(path.read_bytes())
    ops, nr = workspace.user(), workspace.user("lux_nr")
    workspace.ingest_alerts(ops, [folder], "edr", parse_marking("NATO SECRET"))
    loaded, raised = workspace.load_rules(nr, SIGMA / "rules", parse_marking("NATO RESTRICTED"))
    assert len(loaded.rules) > 20 and raised == 0  # they all fired, on events above lux_nr
    assert workspace.alerts(nr) == []
    # ops sees the alerts, marked by both the event and the rule.
    seen = workspace.alerts(ops)
    assert len(seen) >= 20 and {str(a.marking) for a, _ in seen} == {"NATO SECRET"}


@pytest.mark.skipif(not SIGMA.is_dir(), reason="../shared/data not present")
def test_a_user_cannot_replace_another_users_rule(workspace: Workspace, tmp_path: Path) -> None:
    rule = next((SIGMA / "rules").glob("*.yml"))
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for folder in (mine, theirs):
        folder.mkdir()
        (folder / rule.name).write_bytes(rule.read_bytes())
    # The same rule id, loaded by two users at two markings: two rules, one each.
    workspace.load_rules(workspace.user(), mine, parse_marking("NATO SECRET"))
    workspace.load_rules(workspace.user("lux_nr"), theirs, parse_marking("NATO RESTRICTED"))
    owned = sorted((owner, str(m)) for _, owner, _, m in workspace.store.sigma_rules())
    assert owned == [("lux_nr", "NATO RESTRICTED"), ("ops", "NATO SECRET")]
    assert {str(m) for _, m in workspace.rule_groups()} == {"NATO SECRET", "NATO RESTRICTED"}


def test_rules_need_a_marking(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no marking"):
        workspace.load_rules(workspace.user(), tmp_path)


@pytest.mark.skipif(not SIGMA.is_dir(), reason="../shared/data not present")
def test_reloading_a_rule_higher_keeps_the_alerts_of_the_lower_copy(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Found by the long twin run: the same rule reloaded at NATO CONFIDENTIAL
    # replaced the NATO RESTRICTED copy, and its alerts vanished for NR readers.
    rule = next((SIGMA / "rules").glob("*.yml"))
    folder = tmp_path / "rule"
    folder.mkdir()
    (folder / rule.name).write_bytes(rule.read_bytes())
    ops = workspace.user()
    workspace.load_rules(ops, folder, parse_marking("NATO RESTRICTED"))
    workspace.load_rules(ops, folder, parse_marking("NATO CONFIDENTIAL"))
    assert sorted(str(m) for _, _, _, m in workspace.store.sigma_rules()) == [
        "NATO CONFIDENTIAL",
        "NATO RESTRICTED",
    ]
