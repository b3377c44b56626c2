"""Ingest as an operator meets it: markings decided, bad files reported, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from guetteur._exceptions import PermissionDeniedError
from guetteur.model import Grade
from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

from conftest import write

FUEL_EN = """NATO SECRET // REL TO FRA, LUX
INTREP 041 — Fuel depot struck near Tapa
DTG: 221430ZNOV26
Source grading: B2

At 0540Z a drone strike hit the diesel storage of the fuel depot north of Tapa.
Two tanks burned; the depot's output is reduced by half for at least 72 hours.
NATO SECRET // REL TO FRA, LUX
"""

BRIDGE_FR = """DIFFUSION RESTREINTE
Compte rendu — sabotage du pont ferroviaire de Daugavpils
GDH : 211200ZNOV26
Cotation : fiabilité C, crédibilité 3

Le pont ferroviaire au sud de Daugavpils a été endommagé par une charge explosive
dans la nuit. Le trafic des convois de ravitaillement est interrompu.
DIFFUSION RESTREINTE
"""


def test_banner_marking_grade_and_time_are_read_from_the_text(
    workspace: Workspace, tmp_path: Path
) -> None:
    write(tmp_path / "in", "fuel.txt", FUEL_EN)
    write(tmp_path / "in", "pont.md", BRIDGE_FR)
    report = workspace.ingest(workspace.user(), [tmp_path / "in"], source="bg")
    assert (report.ingested, report.duplicates, report.failed) == (2, 0, [])
    docs = {d.title: d for d in workspace.store.iter_documents(workspace.user().clearance)}
    fuel = docs["INTREP 041 — Fuel depot struck near Tapa"]
    assert str(fuel.marking) == "NATO SECRET // REL TO FRA, LUX"
    assert fuel.grade == Grade("B", "2") and fuel.language == "en"
    assert fuel.reported_at is not None and fuel.reported_at.isoformat().startswith(
        "2026-11-22T14:30"
    )
    bridge = next(d for d in docs.values() if d.language == "fr")
    assert str(bridge.marking) == "DIFFUSION RESTREINTE" and str(bridge.grade) == "C3"


def test_the_more_restrictive_of_banner_and_marking_option_wins(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write(tmp_path, "r.txt", "NATO RESTRICTED\nConvoy seen near Narva.\nNATO RESTRICTED\n")
    given = parse_marking("NATO CONFIDENTIAL // REL TO FRA, DEU")
    workspace.ingest(workspace.user(), [path], source="s", marking=given)
    (doc,) = workspace.store.iter_documents(workspace.user().clearance)
    assert str(doc.marking) == "NATO CONFIDENTIAL // REL TO DEU, FRA"
    # A lower --marking never downgrades a banner.
    path2 = write(tmp_path, "s.txt", "NATO SECRET\nT-90M column near Pskov.\n")
    workspace.ingest(
        workspace.user(), [path2], source="t", marking=parse_marking("NATO UNCLASSIFIED")
    )
    levels = {str(d.marking) for d in workspace.store.iter_documents(workspace.user().clearance)}
    assert "NATO SECRET" in levels


def test_unmarked_document_is_refused_and_the_rest_of_the_run_goes_on(
    workspace: Workspace, tmp_path: Path
) -> None:
    write(tmp_path / "in", "a_unmarked.txt", "Convoy of trucks seen near Tartu at dawn.\n")
    write(tmp_path / "in", "b_marked.txt", FUEL_EN)
    write(tmp_path / "in", "c_binary.pdf", "")
    (tmp_path / "in" / "c_binary.pdf").write_bytes(b"PK\x03\x04 not a pdf at all" * 10)
    report = workspace.ingest(workspace.user(), [tmp_path / "in"], source="s")
    assert report.ingested == 1
    reasons = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert "no marking" in reasons["a_unmarked.txt"]
    assert "not a PDF" in reasons["c_binary.pdf"]


def test_marking_is_a_floor_for_its_run_only(workspace: Workspace, tmp_path: Path) -> None:
    # Finding 3: `--marking` without `--source` made M the default of the source
    # "default", and a later unmarked note by anyone was stored at M.
    first = write(tmp_path, "one.txt", "Press review: fuel prices rise in Riga.\n")
    marked = workspace.ingest(
        workspace.user(), [first], source="default", marking=parse_marking("NATO SECRET")
    )
    assert marked.ingested == 1
    second = write(tmp_path, "two.txt", "Press review: ferry traffic resumes in Tallinn.\n")
    report = workspace.ingest(workspace.user("lux_nr"), [second], source="default")
    assert report.ingested == 0
    assert "no marking" in report.failed[0]["error"]
    assert workspace.store.source_default_marking("default") is None


def test_source_default_is_set_by_a_security_officer(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(PermissionDeniedError, match="security officer"):
        workspace.set_source_default(
            workspace.user("lux_nr"), "osint", parse_marking("NATO UNCLASSIFIED")
        )
    workspace.set_source_default(workspace.user(), "osint", parse_marking("NATO UNCLASSIFIED"))
    note = write(tmp_path, "two.txt", "Press review: ferry traffic resumes in Tallinn.\n")
    report = workspace.ingest(workspace.user("lux_nr"), [note], source="osint")
    assert report.ingested == 1 and report.failed == []
    actions = [row.action for row in workspace.store.audit_rows()]
    assert "source.default" in actions


def test_same_content_twice_is_stored_once(workspace: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "a", "fuel.txt", FUEL_EN)
    write(tmp_path / "b", "fuel-copy.txt", FUEL_EN)
    first = workspace.ingest(workspace.user(), [tmp_path / "a"], source="s")
    second = workspace.ingest(workspace.user(), [tmp_path / "a", tmp_path / "b"], source="s")
    assert (first.ingested, second.ingested, second.duplicates) == (1, 0, 2)
    assert workspace.stats(workspace.user()).documents == 1


def test_chunks_point_at_exact_offsets(workspace: Workspace, tmp_path: Path) -> None:
    body = "NATO RESTRICTED\n" + "\n\n".join(
        f"Paragraph {i}: the convoy moved along MSR TIGER towards Valga at dawn." for i in range(60)
    )
    write(tmp_path, "long.txt", body)
    workspace.ingest(workspace.user(), [tmp_path / "long.txt"], source="s")
    (doc,) = workspace.store.iter_documents(workspace.user().clearance)
    hits = workspace.store.search_text('"valga"', workspace.user().clearance, 100)
    assert len(hits) > 3
    for hit in hits:
        assert doc.text[hit.start : hit.end] == hit.text
