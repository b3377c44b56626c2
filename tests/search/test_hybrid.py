"""Hybrid search as an analyst uses it: exact designators, other language, other words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guetteur.enrich.embeddings import embed
from guetteur.search import fts_query, passage_opening
from guetteur.search.hybrid import POOL, RRF_K, hybrid_search, query_terms, term_share
from guetteur.store.base import ChunkHit
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


@pytest.fixture(scope="module")
def with_a_long_report(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[Workspace]:
    """The reports above, and a long one made of them (many passages of one document)."""
    home = tmp_path_factory.mktemp("long")
    workspace = new_workspace(home / "ws", built_gazetteer)
    bodies = [text.split("\n\n", 1)[1] for text in REPORTS.values()]
    # Passages whose rank and share of words disagree: the one that repeats a rare
    # name ranks first in full text but holds one word of the question in three.
    items = [f"Item {n}. {bodies[n % len(bodies)]}" for n in range(120)]
    items[40] = "Item 40. " + "Koivisto, Koivisto: Koivisto. " * 12
    items[80] = "Item 80. Koivisto reports the convoy crossed the bridge."
    long_report = "NATO RESTRICTED\nCompilation\n\n" + "\n\n".join(items)
    for name, text in {**REPORTS, "compilation.txt": long_report}.items():
        write(home / "in", name, text)
    report = workspace.ingest(workspace.user(), [home / "in"], source="s")
    assert report.ingested == len(REPORTS) + 1
    yield workspace
    workspace.close()


def fused_reference(workspace: Workspace, query: str, limit: int) -> list[tuple[str, float, int]]:
    """Reciprocal rank fusion over both of the store's rankings, every passage's share
    of the question's words computed, each document shown by its best passage."""
    store, clearance = workspace.store, workspace.user().clearance
    expression = fts_query(query)
    text_hits = store.search_text(expression, clearance, POOL) if expression else []
    vector_hits = store.search_vector(embed([query])[0], clearance, POOL)
    terms = query_terms(query)
    fused: dict[int, float] = {}
    hits: dict[int, ChunkHit] = {}
    for ranked, weigh in ((text_hits, True), (vector_hits, False)):
        for rank, hit in enumerate(ranked):
            weight = term_share(terms, passage_opening(hit.text)) if weigh else 1.0
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + weight / (RRF_K + rank + 1)
            hits.setdefault(hit.chunk_id, hit)
    best: dict[str, tuple[float, int]] = {}
    for chunk_id, score in fused.items():
        hit = hits[chunk_id]
        current = best.get(hit.doc_id)
        if current is None or (score, -hit.start) > (current[0], -current[1]):
            best[hit.doc_id] = (score, hit.start)
    ranked_documents = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
    return [(doc_id, round(score, 6), start) for doc_id, (score, start) in ranked_documents][:limit]


@pytest.mark.parametrize(
    "query",
    [
        "fuel depot drones",
        "pont ferroviaire convois",
        "BTR-82A 35VNF6763382659",
        "brouillard hélicoptères",
        "Item 7 fuel",
        "compilation of reports on the bridge",
        "météo",
        "tanks",
        "Koivisto convoy bridge",
    ],
)
def test_documents_are_ranked_by_their_best_passage_as_full_fusion_ranks_them(
    with_a_long_report: Workspace, query: str
) -> None:
    # Search skips the share of words of a passage that cannot be its document's
    # best: the documents, scores and passages shown are full fusion's.
    workspace = with_a_long_report
    found = hybrid_search(workspace.store, query, workspace.user().clearance, limit=10)
    assert [(r.id, r.score, r.start) for r in found] == fused_reference(workspace, query, 10)
    assert found
