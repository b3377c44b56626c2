"""Standing requirements: new hits since the last run, why, under the owner's clearance."""

from __future__ import annotations

from pathlib import Path

import pytest
from staff_reports import REPORTS

from guetteur._exceptions import WorkspaceError
from guetteur.security.markings import may_read
from guetteur.workspace import Workspace

from conftest import new_workspace, write


@pytest.fixture
def watched(tmp_path: Path, built_gazetteer: Path) -> Workspace:
    workspace = new_workspace(tmp_path / "ws", built_gazetteer)
    first = {k: v for k, v in REPORTS.items() if k != "secret_crossing.txt"}
    for name, text in first.items():
        write(tmp_path / "first", name, text)
    workspace.ingest(workspace.user("ops"), [tmp_path / "first"], source="staff")
    return workspace


REQUIREMENT = "Varnian bridging or river crossing equipment near Narva and Ivangorod"


def test_a_run_reports_what_is_new_then_nothing(watched: Workspace, tmp_path: Path) -> None:
    ops = watched.user("ops")
    watched.watch_add(ops, "PIR-1", REQUIREMENT)
    first = watched.watch_run(ops)[0]
    assert first.hits  # the press review about the Narva bridge was already there
    assert watched.watch_run(ops)[0].hits == ()

    write(tmp_path / "new", "secret_crossing.txt", REPORTS["secret_crossing.txt"])
    watched.ingest(ops, [tmp_path / "new"], source="staff")  # evaluates requirements
    run = watched.watch_run(ops)[0]
    secret = next(d for d in watched.store.iter_documents(ops.clearance) if "INTREP" in d.title)
    assert [h.doc_id for h in run.hits] == [secret.id]
    assert "similarity" in run.hits[0].reason
    assert run.digest and run.doc_ids == (secret.id,)
    assert all(s.text in " ".join(secret.text.split()) for s in run.digest)
    assert run.marking is not None and str(run.marking) == "NATO SECRET // REL TO FRA"


def test_a_requirement_sees_only_what_its_owner_may_read(
    watched: Workspace, tmp_path: Path
) -> None:
    lux = watched.user("lux_nr")
    watched.watch_add(lux, "PIR-LUX", REQUIREMENT)
    watched.watch_run(lux)
    write(tmp_path / "new", "secret_crossing.txt", REPORTS["secret_crossing.txt"])
    watched.ingest(watched.user("ops"), [tmp_path / "new"], source="staff")
    run = watched.watch_run(lux)[0]
    assert run.hits == ()
    for requirement_run in watched.watch_run(lux):
        assert all(may_read(lux.clearance, h.marking) for h in requirement_run.hits)


def test_requirements_are_per_user_and_names_unique(watched: Workspace) -> None:
    ops, lux = watched.user("ops"), watched.user("lux_nr")
    watched.watch_add(ops, "PIR-1", REQUIREMENT)
    watched.watch_add(lux, "PIR-1", "fuel convoys")
    assert [r.text for r in watched.watch_list(lux)] == ["fuel convoys"]
    with pytest.raises(WorkspaceError, match="already has a requirement named 'PIR-1'"):
        watched.watch_add(ops, "PIR-1", "again")
