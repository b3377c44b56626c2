"""Ranking depends only on what the reader may read (issue 9, finding 7).

Two real workspaces hold the same NATO RESTRICTED reports, stored through the
real ingest pipeline in the same order; one also holds NATO SECRET reports
full of the query words, ingested between them. A NATO RESTRICTED reader's
full-text hits and hybrid results must be the same in both, down to the last
digit of every score. With FTS5's own bm25(), whose statistics cover every
row of every marking, they were not.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Sequence
from dataclasses import astuple
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guetteur.model import Clearance
from guetteur.pipeline.ingest import IngestOptions, ingest_paths
from guetteur.search import fts_query, hybrid_search
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store.sqlite import SQLiteStore
from guetteur.store.sqlite.fulltext import parse_phrases, phrase_tokens

ID_SECRET = "5a" * 32  # twins share it, so equal readable content gets equal ids
READER = parse_clearance("NATO RESTRICTED", "LUX")

READABLE = (
    "Convoy of BTR-82A vehicles moving west near Narva at dawn.\n\n"
    "Twelve vehicles, fuel trucks and a command post were seen on the road to Ivangorod.",
    "Le convoi de ravitaillement en carburant a franchi le pont de Narva.\n\n"
    "Les camions KAMAZ transportaient du diesel pour le dépôt de Tapa.",
    "Fuel depot at Tapa hit by drones. The fuel convoy was delayed by two days.",
    "Weather bulletin: fog and snow over southern Estonia, poor visibility for helicopters.",
    "SPOTREP: 6 x BTR-82A and 3 x KAMAZ trucks at the fortress car park, Ivangorod.",
    "Narva river crossing closed to civilian traffic; military lorries on the far bank.",
    "An S-300-PMU battery moved au-dessus de Luga; its radar, the S-300 PMU kind, stayed.",
)
HIDDEN = tuple(
    f"{name}: convoy convoy BTR-82A fuel Narva Narva Tapa drones depot, convoi carburant "
    f"pont diesel KAMAZ Ivangorod weather fog S-300-PMU au-dessus {n}."
    for n, name in enumerate(("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot") * 3)
)
QUERIES = (
    "BTR-82A",
    "fuel convoy Narva",
    "convoi de carburant",
    "drones depot Tapa",
    "KAMAZ Ivangorod",
    "fog helicopters",
    "dépôt",
    "S-300-PMU au-dessus de Luga",
)


def _ingest(store: SQLiteStore, folder: Path, name: str, text: str, marking: str) -> None:
    path = folder / f"{name}.txt"
    path.write_text(text + "\n", encoding="utf-8")
    options = IngestOptions(source="twin", marking=parse_marking(marking), actor="ops")
    report = ingest_paths(store, [path], options)
    assert report.ingested == 1, report


def build_store(
    folder: Path, readable: Sequence[str], hidden: Sequence[str], every: int = 1
) -> SQLiteStore:
    """A store with `readable` at NATO RESTRICTED and `every` hidden reports before each."""
    folder.mkdir(parents=True)
    store = SQLiteStore(folder / "guetteur.db")
    store.set_id_secret(ID_SECRET)
    store.add_user("ops", parse_clearance("COSMIC TOP SECRET", "FRA", ("CRYPTO",)))
    pending = iter(hidden)
    for number, text in enumerate(readable):
        for _ in range(every):
            secret = next(pending, None)
            if secret is not None:
                _ingest(store, folder, f"s{number}-{_}", secret, "NATO SECRET")
        _ingest(store, folder, f"r{number}", text, "NATO RESTRICTED")
    for rest, secret in enumerate(pending):
        _ingest(store, folder, f"t{rest}", secret, "NATO SECRET")
    return store


def text_ranking(store: SQLiteStore, query: str, clearance: Clearance) -> list[tuple[object, ...]]:
    """What a full-text hit shows: everything but the passage's row number in this file."""
    expression = fts_query(query)
    assert expression is not None
    hits = store.search_text(expression, clearance, 50)
    return [astuple(hit)[1:] for hit in hits]


def hybrid_ranking(
    store: SQLiteStore, query: str, clearance: Clearance
) -> list[tuple[object, ...]]:
    return [astuple(result) for result in hybrid_search(store, query, clearance, limit=10)]


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    root = tmp_path_factory.mktemp("ranking")
    plain = build_store(root / "plain", READABLE, ())
    crowded = build_store(root / "crowded", READABLE, HIDDEN, every=2)
    yield plain, crowded
    plain.close()
    crowded.close()


@pytest.mark.parametrize("query", QUERIES)
def test_full_text_hits_and_scores_ignore_unreadable_documents(
    twins: tuple[SQLiteStore, SQLiteStore], query: str
) -> None:
    plain, crowded = twins
    expected = text_ranking(plain, query, READER)
    assert expected, f"{query!r} should find readable reports"
    assert text_ranking(crowded, query, READER) == expected


@pytest.mark.parametrize("query", QUERIES)
def test_hybrid_results_and_scores_ignore_unreadable_documents(
    twins: tuple[SQLiteStore, SQLiteStore], query: str
) -> None:
    plain, crowded = twins
    expected = hybrid_ranking(plain, query, READER)
    assert expected
    assert hybrid_ranking(crowded, query, READER) == expected


def test_a_cleared_reader_does_see_the_hidden_reports(
    twins: tuple[SQLiteStore, SQLiteStore],
) -> None:
    # The twins really differ: the same query ranks other documents for a reader
    # cleared for them, so the equalities above are not vacuous.
    plain, crowded = twins
    cleared = parse_clearance("NATO SECRET", "FRA")
    assert text_ranking(crowded, "fuel convoy Narva", cleared) != text_ranking(
        plain, "fuel convoy Narva", cleared
    )
    secret = parse_marking("NATO SECRET")
    expression = fts_query("fuel convoy Narva")
    assert expression is not None
    assert any(hit.marking == secret for hit in crowded.search_text(expression, cleared, 50))


def test_full_text_still_ranks_the_report_holding_the_designator_first(
    twins: tuple[SQLiteStore, SQLiteStore],
) -> None:
    plain, _ = twins
    (first, *_) = plain.search_text('"btr-82a" OR "ivangorod"', READER, 5)
    assert "BTR-82A" in first.text and "Ivangorod" in first.text


def test_phrases_are_read_as_fts5_tokenises_them() -> None:
    assert parse_phrases('"btr-82a" OR "say ""hi"""') == ["btr-82a", 'say "hi"']
    assert phrase_tokens("BTR-82A") == ["btr", "82a"]
    assert phrase_tokens("Équipement l’été") == ["equipement", "l", "ete"]


def test_other_full_text_syntax_is_refused_with_the_expression_named() -> None:
    with pytest.raises(ValueError, match="NEAR"):
        parse_phrases('"a" OR NEAR(b c)')


# Random small corpora: words from a short vocabulary, so that readable and
# hidden passages share terms and hidden ones shift every statistic bm25() used.
_WORDS = ("narva", "convoy", "fuel", "tapa", "drone", "depot", "btr-82a", "pont", "dépôt")
_texts = st.lists(
    st.lists(
        st.sampled_from(_WORDS + tuple(string.ascii_lowercase[:3])), min_size=1, max_size=30
    ).map(" ".join),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    readable=_texts, hidden=_texts, query=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3)
)
def test_random_twins_rank_alike(
    tmp_path_factory: pytest.TempPathFactory,
    readable: list[str],
    hidden: list[str],
    query: list[str],
) -> None:
    hidden = [text for text in hidden if text not in readable]
    root = tmp_path_factory.mktemp("random")
    plain = build_store(root / "plain", readable, ())
    crowded = build_store(root / "crowded", readable, hidden)
    try:
        words = " ".join(query)
        assert text_ranking(crowded, words, READER) == text_ranking(plain, words, READER)
        assert hybrid_ranking(crowded, words, READER) == hybrid_ranking(plain, words, READER)
    finally:
        plain.close()
        crowded.close()
