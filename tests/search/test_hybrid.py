"""Hybrid search as an analyst uses it: exact designators, other language, other words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guetteur.search import fts_query, passage_opening
from guetteur.workspace import Workspace

from conftest import new_workspace, write

REPORTS = {
    "fuel_en.txt": "NATO RESTRICTED\nFuel depot hit by drones near Tapa\n\n"
    "Two loitering munitions struck the diesel tanks of the fuel depot north of Tapa "
    "at dawn. Fire crews contained the blaze; fuel deliveries to the battlegroup are delayed.\n",
    "bridge_fr.txt": "NATO RESTRICTED\nSabotage du pont ferroviaire\n\n"
    "Le pont ferroviaire au sud de Daugavpils a été endommagé par une charge explosive. "
    "Les convois de ravitaillement sont déroutés par l'itinéraire nord.\n",
    "btr_en.txt": "NATO RESTRICTED\nSPOTREP armour column\n\n"
    "SIZE: 12 vehicles. ACTIVITY: moving west. LOCATION: 35VNF6763382659. "
    "EQUIPMENT: BTR-82A and T-90M tanks.\n",
    "weather_fr.txt": "NATO RESTRICTED\nBulletin météo\n\n"
    "Neige et brouillard attendus sur l'Estonie du Sud; "
    "visibilité réduite pour les hélicoptères.\n",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Workspace]:
    home = tmp_path_factory.mktemp("search")
    workspace = new_workspace(home / "ws", built_gazetteer)
    for name, text in REPORTS.items():
        write(home / "in", name, text)
    report = workspace.ingest(workspace.user(), [home / "in"], source="s")
    assert report.ingested == len(REPORTS)
    yield workspace
    workspace.close()


def top_title(workspace: Workspace, query: str) -> str:
    return workspace.search(workspace.user(), query, limit=3)[0].title


def test_french_question_finds_english_report(loaded: Workspace) -> None:
    assert top_title(loaded, "attaque de drones contre un dépôt de carburant") == (
        "Fuel depot hit by drones near Tapa"
    )


def test_english_question_finds_french_report(loaded: Workspace) -> None:
    assert top_title(loaded, "railway bridge sabotage") == "Sabotage du pont ferroviaire"


def test_exact_designators_and_grid_references_are_found(loaded: Workspace) -> None:
    assert top_title(loaded, "BTR-82A") == "SPOTREP armour column"
    assert top_title(loaded, "35VNF6763382659") == "SPOTREP armour column"


def test_accents_do_not_matter(loaded: Workspace) -> None:
    assert top_title(loaded, "meteo brouillard") == "Bulletin météo"


def test_results_carry_marking_and_a_snippet(loaded: Workspace) -> None:
    (result, *_) = loaded.search(loaded.user(), "Daugavpils", limit=1)
    assert str(result.marking) == "NATO RESTRICTED" and "Daugavpils" in result.snippet


@pytest.mark.parametrize("hostile", ['" OR *', "NEAR(a b)", "title:secret", "*", "^", "AND OR NOT"])
def test_query_syntax_from_users_cannot_break_or_steer_full_text(
    loaded: Workspace, hostile: str
) -> None:
    expression = fts_query(hostile)
    assert expression is None or all(part.startswith('"') for part in expression.split(" OR "))
    loaded.search(loaded.user(), hostile)  # must not raise


def test_a_grown_passage_is_read_as_far_as_an_ordinary_one_goes() -> None:
    # Term shares, snippets and the sentences a question weighs read all of an
    # ordinary passage (at most 1,200 characters), and of a grown passage of a
    # huge document (tens of kilobytes) the 700 characters a passage is sized
    # to hold: it costs what an ordinary passage does.
    ordinary = "Convoy seen near Tapa. " * 52
    assert len(ordinary) == 1_196 and passage_opening(ordinary) == ordinary
    grown = "Copy 12. Convoy seen near Tapa. " * 900
    assert passage_opening(grown) == grown[:700]
