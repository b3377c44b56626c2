"""Answers: cited, marked by what they cite, honest when the evidence does not answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from staff_reports import SECRET_FACT, build_staff

from guetteur.model import Level
from guetteur.products.ask import answer_question
from guetteur.security.markings import may_read
from guetteur.workspace import Workspace


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Workspace]:
    workspace = build_staff(tmp_path_factory.mktemp("staff"), built_gazetteer)
    yield workspace
    workspace.close()


def test_answer_quotes_the_passage_that_answers_and_cites_it(staff: Workspace) -> None:
    ops = staff.user("ops")
    answer = staff.ask(ops, "How many litres of diesel did the convoy from Paldiski bring?")
    assert answer.supported
    assert "45,000 litres" in answer.text
    cited = {c.doc_id for c in answer.citations}
    fuel = next(d for d in staff.store.iter_documents(ops.clearance) if "LOGREP" in d.title)
    assert fuel.id in cited
    for citation in answer.citations:
        document = staff.store.get_document(citation.doc_id, ops.clearance)
        assert document.text[citation.start : citation.end] == citation.quote
    for statement in answer.statements:
        assert statement.citations, statement


def test_answer_marking_is_the_high_water_mark_of_its_citations(staff: Workspace) -> None:
    answer = staff.ask(staff.user("ops"), "Where did the 55th Engineer Brigade move its bridge?")
    assert answer.supported
    assert SECRET_FACT in answer.text
    assert answer.marking.level is Level.SECRET
    assert answer.marking.releasable_to == frozenset({"FRA"})
    assert all(c.marking.level <= answer.marking.level for c in answer.citations)


@pytest.mark.parametrize("user", ["lux_nr", "deu_nc"])
def test_a_lesser_reader_never_gets_what_they_may_not_read(staff: Workspace, user: str) -> None:
    reader = staff.user(user)
    answer = staff.ask(reader, "Where did the 55th Engineer Brigade move its pontoon bridge?")
    assert SECRET_FACT not in answer.text
    assert all(may_read(reader.clearance, c.marking) for c in answer.citations)
    assert may_read(reader.clearance, answer.marking)


def test_an_unanswerable_question_is_said_to_be_unsupported(staff: Workspace) -> None:
    answer = staff.ask(staff.user("ops"), "What is the annual budget of the Varnian navy?")
    assert not answer.supported
    assert answer.citations == ()
    assert "do not answer" in answer.text


def test_french_question_over_english_reports(staff: Workspace) -> None:
    ops = staff.user("ops")
    question = "Quel groupe d'intrusion a visé les entreprises logistiques du port de Riga ?"
    answer = staff.ask(ops, question)
    assert answer.language == "fr"
    assert answer.supported
    cert = next(d for d in staff.store.iter_documents(ops.clearance) if "CERT" in d.title)
    assert cert.id in {c.doc_id for c in answer.citations}
    assert answer.statements[0].language == "en"  # quoted as written, not translated


def test_every_question_is_audited_with_what_it_cited(staff: Workspace) -> None:
    answer = staff.ask(staff.user("lux_nr"), "Is the Kiviõli bridge usable by heavy vehicles?")
    row = list(staff.store.audit_rows())[-1]
    assert row.action == "ask" and row.actor == "lux_nr"
    assert row.detail["doc_ids"] == sorted({c.doc_id for c in answer.citations})
    assert row.detail["marking"] == str(answer.marking)


def test_nothing_readable_fails_closed_to_the_readers_own_nation(staff: Workspace) -> None:
    reader = staff.user("lux_nr").clearance
    empty = answer_question(
        staff.store, "zzzz qqqq", reader.for_release_to(frozenset({"AUS"}))
    )  # nothing here is releasable to Australia
    assert not empty.supported
    assert empty.marking.releasable_to == frozenset({"LUX"})
