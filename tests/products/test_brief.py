"""Briefs: by format, every sentence cited and portion-marked, banner = high-water mark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from staff_reports import SECRET_FACT, build_staff

from guetteur.model import Level
from guetteur.products.render import brief_json, brief_markdown, brief_pdf
from guetteur.security.markings import high_water_mark, may_read
from guetteur.workspace import Workspace


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Workspace]:
    workspace = build_staff(tmp_path_factory.mktemp("staff"), built_gazetteer)
    yield workspace
    workspace.close()


def _documents(workspace: Workspace) -> dict[str, object]:
    ops = workspace.user("ops").clearance
    return {d.id: d for d in workspace.store.iter_documents(ops)}


def test_intsum_has_its_headings_and_every_sentence_cites_a_source(staff: Workspace) -> None:
    brief = staff.brief(staff.user("ops"), form="intsum", language="en")
    payload = brief_json(brief)
    headings = [s["heading"] for s in payload["sections"]]
    for expected in ("General situation", "Cyber", "Logistics", "Assessment", "Gaps"):
        assert expected in headings
    sentences = [s for section in payload["sections"] for s in section["sentences"]]
    assert len(sentences) >= 5
    known = _documents(staff)
    for sentence in sentences:
        assert sentence["citations"], sentence
        assert all(doc_id in known for doc_id in sentence["citations"])
    cyber = next(s for s in payload["sections"] if s["heading"] == "Cyber")
    assert any("GREYFOX" in s["text"] for s in cyber["sentences"])
    logistics = next(s for s in payload["sections"] if s["heading"] == "Logistics")
    assert any("diesel" in s["text"] for s in logistics["sentences"])


def test_banner_is_the_high_water_mark_of_the_portion_markings(staff: Workspace) -> None:
    brief = staff.brief(staff.user("ops"))
    portions = [s.marking for section in brief.sections for s in section.statements]
    assert brief.marking == high_water_mark(portions)
    markdown = brief_markdown(brief).splitlines()
    assert markdown[0] == f"**{brief.marking}**" and markdown[-1] == f"**{brief.marking}**"


def test_french_brief_has_french_headings_and_flags_quotes_in_english(staff: Workspace) -> None:
    brief = staff.brief(staff.user("ops"), form="sitrep", language="fr")
    headings = [section.heading for section in brief.sections]
    assert "Situation générale" in headings and "Logistique" in headings
    english = [s for section in brief.sections for s in section.statements if s.language == "en"]
    assert english and all(s.note == "cité en anglais" for s in english)


def test_lesser_readers_get_a_lesser_brief(staff: Workspace) -> None:
    for name in ("lux_nr", "deu_nc"):
        reader = staff.user(name)
        brief = staff.brief(reader)
        assert may_read(reader.clearance, brief.marking)
        text = brief_markdown(brief)
        assert SECRET_FACT not in text
        assert all(may_read(reader.clearance, s.marking) for s in brief.sources)


def test_tear_line_brief_uses_only_what_is_releasable_to_the_partner(staff: Workspace) -> None:
    ops = staff.user("ops")
    brief = staff.brief(ops, releasable_to=frozenset({"LUX"}))
    assert brief.sources
    for source in brief.sources:
        assert source.marking.releasable_to is None or "LUX" in source.marking.releasable_to
        assert not source.marking.caveats
    assert brief.marking.releasable_to is None or "LUX" in brief.marking.releasable_to
    assert SECRET_FACT not in brief_markdown(brief)
    assert "REL TO LUX (tear-line)" in brief_markdown(brief)
    # The same officer without the tear-line sees the SECRET, FRA-only report.
    assert brief.marking.level < Level.SECRET or "FRA" in str(brief.marking)


def test_since_keeps_only_the_period(staff: Workspace) -> None:
    since = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    brief = staff.brief(staff.user("ops"), since=since)
    documents = _documents(staff)
    for source in brief.sources:
        reported = documents[source.doc_id].reported_at  # type: ignore[attr-defined]
        assert reported is not None and reported >= since


def test_pdf_prints_the_banner_on_every_page(staff: Workspace, tmp_path: Path) -> None:
    brief = staff.brief(staff.user("ops"), form="daily")
    path = tmp_path / "daily.pdf"
    brief_pdf(brief, path)
    pages = PdfReader(path).pages
    for page in pages:
        text = page.extract_text()
        assert text.count(str(brief.marking)) >= 2, text[:200]


def test_every_brief_is_audited(staff: Workspace) -> None:
    brief = staff.brief(staff.user("deu_nc"), topic="phishing port of Riga")
    row = list(staff.store.audit_rows())[-1]
    assert (row.action, row.actor) == ("brief", "deu_nc")
    assert row.detail["doc_ids"] == [s.doc_id for s in brief.sources]
    assert row.detail["marking"] == str(brief.marking)


def test_bbox_keeps_what_is_located_in_the_box(staff: Workspace) -> None:
    riga = (23.9, 56.8, 24.4, 57.2)  # W, S, E, N around Riga
    brief = staff.brief(staff.user("ops"), bbox=riga)
    titles = {s.title for s in brief.sources}
    assert titles and all(
        "Riga" in staff.show(staff.user("ops"), s.doc_id).text for s in brief.sources
    )
    assert any("CERT NOTE" in title for title in titles)
    assert not any("LOGREP" in title for title in titles)  # Tapa and Paldiski are elsewhere
