"""The Admiralty grade a report states, and only when it states one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guetteur.enrich import find_grade
from guetteur.model.grade import Grade


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Évaluation : B2", "B2"),
        ("Evaluation: B2", "B2"),
        ("EVALUATION : B2", "B2"),
        ("évaluation : b2", "B2"),
        ("E\u0301valuation : C3", "C3"),  # decomposed accent, as some exports write it
        ("Évaluation de la source : D4", "D4"),
        ("Cotation : B-2", "B2"),
        ("Cotation : B/2", "B2"),
        ("Cotation : fiabilité B, crédibilité 2", "B2"),
        ("COTATION : FIABILITE B, CREDIBILITE 2", "B2"),
        ("Source grading: C3", "C3"),
        ("Grading: A-1", "A1"),
        ("Admiralty code = F6", "F6"),
        ("Evaluation: reliability B, credibility 2", "B2"),
        ("Source reliability: E\nInformation credibility: 5", "E5"),
        ("Fiabilité de la source : C / Crédibilité de l'information : 3", "C3"),
        ("Fiabilité de la source : C\nCrédibilité de l’information : 3", "C3"),
        ("Selon la source (B2), le convoi est parti.", "B2"),
        ("Source HUMINT (C3) : convoi vu à Tapa.", "C3"),
        ("Source : agent ALPHA (A-1)", "A1"),
        ("Objet : convoi à Tapa - Évaluation B2\n", "B2"),
    ],
)
def test_labelled_forms(text: str, expected: str) -> None:
    assert find_grade(text) == Grade.parse(expected)


def test_grade_in_a_report_header() -> None:
    report = (
        "DIFFUSION RESTREINTE\n"
        "DE : 2e RIMa / S2\n"
        "GDH : 220915ZNOV26\n"
        "Objet : mouvement de convoi\n"
        "Évaluation : B2\n\n"
        "Convoi de douze véhicules observé près de Tapa.\n"
    )
    assert find_grade(report) == Grade("B", "2")


@pytest.mark.parametrize(
    "text",
    [
        "A B2 bomber was seen over the sea.",
        "the B2 bomber",
        "Convoi sur la route B2 vers le nord.",
        "Route B2",
        "Section A1 is in position.",
        "Grid 35VLF 1234 5678, square C3.",
        "4 x T-90M at grid 35VLF123456",
        "Grade: E3",  # a pay grade, not an Admiralty grade
        "Evaluation B2 bomber",  # no colon and prose after it
        "La fiabilité de la source a été confirmée, crédibilité 2 selon le S2.",
        "Source: B2 bomber crash report",
        "Évaluation : en cours",
        "",
    ],
)
def test_unlabelled_codes_are_not_grades(text: str) -> None:
    assert find_grade(text) is None


def test_first_stated_grade_wins() -> None:
    assert find_grade("Source grading: C3\nÉvaluation : A1\n") == Grade("C", "3")
    assert find_grade("Évaluation : A1\nSource grading: C3\n") == Grade("A", "1")
    assert find_grade("Fiabilité : D, crédibilité : 4\nCotation : B2\n") == Grade("D", "4")


def test_grade_is_read_in_the_first_forty_lines_only() -> None:
    assert find_grade("Rien.\n" * 45 + "Évaluation : B2\n") is None
    assert find_grade("Rien.\n" * 30 + "Évaluation : B2\n") == Grade("B", "2")


@given(st.text())
def test_any_text_gives_a_grade_or_none_never_an_error(text: str) -> None:
    grade = find_grade(text)
    assert grade is None or isinstance(grade, Grade)
