"""Full-text ranking against BM25 counted by hand over the readable passages.

The reference below reads every readable passage's title and text, tokenises
them with `phrase_tokens` (one character at a time, as FTS5's unicode61 does)
and counts each phrase as consecutive tokens; nothing of the store's counts
(`passage_terms`, FTS5's positions) is used. `rank_passages` must give the
same passages, in the same order, with the same scores: for phrases of one,
two and three words, titles, several markings, and ties at the cut.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guetteur.model import Chunk, Clearance, Document, Marking
from guetteur.search import fts_query
from guetteur.security.markings import may_read, parse_clearance, parse_marking
from guetteur.store import NewDocument
from guetteur.store.sqlite import SQLiteStore, fulltext, postings
from guetteur.store.sqlite.fulltext import (
    COLUMN_WEIGHTS,
    IDF_FLOOR,
    K1,
    B,
    passage_term_rows,
    phrase_tokens,
    rank_passages,
)
from guetteur.store.sqlite.postings import POSTING
from guetteur.store.sqlite.schema import MIGRATIONS, _statements

LUX_NR = parse_clearance("NATO RESTRICTED", "LUX")
FRA_NS = parse_clearance("NATO SECRET", "FRA")
DIMENSION = 384


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    title: str  # the document's title on its first passage only
    text: str
    marking: Marking


def new_document(doc_id: str, title: str, pieces: Sequence[str], marking: str) -> NewDocument:
    text = " ".join(pieces)
    chunks, start = [], 0
    for index, piece in enumerate(pieces):
        chunks.append(Chunk(index, start, start + len(piece), piece))
        start += len(piece) + 1
    document = Document(
        id=doc_id,
        title=title,
        text=text,
        language="en",
        marking=parse_marking(marking),
        grade=None,
        source="test",
        origin=f"{doc_id}.txt",
        sha256=doc_id.ljust(64, "0"),
        ingested_at=datetime.now(UTC),
    )
    # Ranking reads no embedding: one constant vector per passage will do.
    vectors = np.ones((len(chunks), DIMENSION), dtype=np.float32)
    return NewDocument(document, chunks, vectors)


def passages_of(item: NewDocument) -> list[Passage]:
    doc = item.document
    return [
        Passage(doc.id, c.start, doc.title if c.index == 0 else "", c.text, doc.marking)
        for c in item.chunks
    ]


def occurrences(phrase: Sequence[str], content: str) -> int:
    tokens = phrase_tokens(content)
    n = len(phrase)
    return sum(1 for i in range(len(tokens) - n + 1) if tokens[i : i + n] == list(phrase))


def reference(
    passages: Sequence[Passage], query: str, clearance: Clearance, limit: int
) -> list[tuple[str, int, float]]:
    """BM25 over the passages `clearance` may read: (document, offset, score), best first."""
    readable = [p for p in passages if may_read(clearance, p.marking)]
    expression = fts_query(query)
    assert expression is not None
    phrases = [phrase_tokens(term) for term in query_terms_of(expression)]
    if not readable:
        return []
    average = sum(len(p.text) for p in readable) / len(readable)
    scores: dict[int, float] = {}
    for phrase in phrases:
        if not phrase:
            continue
        frequencies = {
            n: COLUMN_WEIGHTS["title"] * occurrences(phrase, p.title)
            + COLUMN_WEIGHTS["text"] * occurrences(phrase, p.text)
            for n, p in enumerate(readable)
        }
        frequencies = {n: f for n, f in frequencies.items() if f > 0}
        idf = math.log((len(readable) - len(frequencies) + 0.5) / (len(frequencies) + 0.5))
        idf = idf if idf > 0.0 else IDF_FLOOR
        for n, frequency in frequencies.items():
            norm = K1 * (1.0 - B + B * len(readable[n].text) / average)
            gain = idf * frequency * (K1 + 1.0) / (frequency + norm)
            scores[n] = scores.get(n, 0.0) + gain
    ranked = sorted(
        ((readable[n].doc_id, readable[n].start, score) for n, score in scores.items()),
        key=lambda row: (-row[2], row[0], row[1]),
    )
    return ranked[:limit]


def query_terms_of(expression: str) -> list[str]:
    return [part.strip()[1:-1].replace('""', '"') for part in expression.split(" OR ")]


def ranking(
    store: SQLiteStore, query: str, clearance: Clearance, limit: int
) -> list[tuple[str, int, float]]:
    expression = fts_query(query)
    assert expression is not None
    readable = store.readable_marking_ids(clearance)
    return [
        (p.doc_id, p.start, p.score) for p in rank_passages(store._db, expression, readable, limit)
    ]


DOCUMENTS = (
    ("d01", "Drones au-dessus de Tapa", ["Des drones ont survolé le dépôt.", "Rien à signaler."],
     "NATO RESTRICTED"),
    ("d02", "Night report", ["Two drones au dessus the depot at Tapa, then au-dessus Narva.",
                             "An S-300-PMU battery moved to Luga; the S-300 PMU radar stayed."],
     "NATO RESTRICTED"),
    ("d03", "Convoy", ["Fuel convoy near Narva. Fuel trucks, fuel depot.", "Tapa quiet."],
     "NATO SECRET"),
    ("d04", "S-300-PMU", ["Au-dessus de Luga: s 300 pmu, S-300-PMU again.", "dessus au"],
     "NATO SECRET"),
    ("d05", "Weather", ["Fog over Tapa. Au dessus, rien.", "Fuel is short in Tapa."],
     "NATO UNCLASSIFIED"),
)  # fmt: skip
QUERIES = (
    "drones au-dessus de Tapa",
    "fuel convoy",
    "S-300-PMU",
    "au-dessus",
    "Tapa",
    "dessus au",
    "nothing here",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SQLiteStore, list[Passage]]]:
    store = SQLiteStore(tmp_path_factory.mktemp("fulltext") / "g.db")
    items = [new_document(*document) for document in DOCUMENTS]
    store.add_documents(items)
    yield store, [p for item in items for p in passages_of(item)]
    store.close()


@pytest.mark.parametrize("clearance", [LUX_NR, FRA_NS], ids=["LUX NR", "FRA NS"])
@pytest.mark.parametrize("query", QUERIES)
def test_ranking_is_bm25_over_the_readable_passages(
    corpus: tuple[SQLiteStore, list[Passage]], query: str, clearance: Clearance
) -> None:
    store, passages = corpus
    assert ranking(store, query, clearance, 50) == reference(passages, query, clearance, 50)


def test_two_and_three_word_phrases_find_what_the_reader_may_read(
    corpus: tuple[SQLiteStore, list[Passage]],
) -> None:
    store, _ = corpus
    # "au dessus" and "au-dessus" are the same two tokens; "dessus au" is not them.
    found = {d for d, _, _ in ranking(store, "au-dessus", LUX_NR, 50)}
    assert found == {"d01", "d02", "d05"}
    assert {d for d, _, _ in ranking(store, "au-dessus", FRA_NS, 50)} == found | {"d04"}
    assert [d for d, _, _ in ranking(store, "S-300-PMU", LUX_NR, 50)] == ["d02"]
    assert {d for d, _, _ in ranking(store, "S-300-PMU", FRA_NS, 50)} == {"d02", "d04"}


def test_ties_at_the_cut_fall_to_document_then_offset(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    same = "Convoy of fuel trucks near Narva."
    items = [
        new_document(f"t{n:02d}", "", [same, same], "NATO UNCLASSIFIED") for n in range(30, 0, -1)
    ]
    store.add_documents(items)
    passages = [p for item in items for p in passages_of(item)]
    for limit in (1, 7, 50, 60, 100):
        got = ranking(store, "fuel", LUX_NR, limit)
        assert got == reference(passages, "fuel", LUX_NR, limit)
        assert [(d, s) for d, s, _ in got] == sorted((d, s) for d, s, _ in got)
    assert len(ranking(store, "fuel", LUX_NR, 50)) == 50
    store.close()


def test_passage_terms_count_words_and_pairs_of_words() -> None:
    rows = passage_term_rows(7, "Au-dessus", "au dessus de Tapa, AU-DESSUS")
    assert ("au dessus", 7, 0, 1) in rows and ("au dessus", 7, 1, 2) in rows
    assert ("dessus de", 7, 1, 1) in rows and ("de tapa", 7, 1, 1) in rows
    assert ("tapa au", 7, 1, 1) in rows and ("au", 7, 1, 2) in rows
    # No pair across the title and the text.
    assert not [row for row in rows if row[0] == "dessus au"]


def test_a_workspace_counted_without_pairs_is_counted_again_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = SQLiteStore(path)
    items = [new_document(*document) for document in DOCUMENTS]
    store.add_documents(items)
    passages = [p for item in items for p in passages_of(item)]
    # What schema 9 held: words only, marked as counted.
    for table in ("passage_terms", "term_blocks"):
        store._db.execute(f"DELETE FROM {table} WHERE term LIKE '% %'")
    assert ranking(store, "au-dessus", FRA_NS, 50) == []
    (pairs,) = [m for m in MIGRATIONS if "DELETE FROM passage_terms" in m]
    for statement in _statements(pairs):
        store._db.execute(statement)
    store.close()
    reopened = SQLiteStore(path)
    for query in QUERIES:
        assert ranking(reopened, query, FRA_NS, 50) == reference(passages, query, FRA_NS, 50)
    reopened.close()


# Random corpora: a small vocabulary with words of one, two and three tokens,
# over two markings, so that readable and hidden passages share every phrase.
_WORDS = (
    "narva", "tapa", "fuel", "au-dessus", "au", "dessus", "btr-82a", "s-300-pmu", "t-90-m",
    "dépôt",
)  # fmt: skip
_QUERY_WORDS = tuple(word for word in _WORDS if word != "au")  # a stopword alone
_passage = st.lists(
    st.sampled_from(_WORDS + tuple(string.ascii_lowercase[:2])), min_size=1, max_size=25
).map(" ".join)
_document = st.tuples(
    _passage,
    st.lists(_passage, min_size=1, max_size=3),
    st.sampled_from(["NATO RESTRICTED", "NATO SECRET"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    documents=st.lists(_document, min_size=1, max_size=6),
    query=st.lists(st.sampled_from(_QUERY_WORDS), min_size=1, max_size=3).map(" ".join),
    limit=st.integers(min_value=1, max_value=8),
)
def test_random_corpora_rank_as_the_reference(
    tmp_path_factory: pytest.TempPathFactory,
    documents: list[tuple[str, list[str], str]],
    query: str,
    limit: int,
) -> None:
    store = SQLiteStore(tmp_path_factory.mktemp("random") / "g.db")
    try:
        items = [
            new_document(f"r{n}", title, pieces, marking)
            for n, (title, pieces, marking) in enumerate(documents)
        ]
        store.add_documents(items)
        passages = [p for item in items for p in passages_of(item)]
        for clearance in (LUX_NR, FRA_NS):
            expected = reference(passages, query, clearance, limit)
            assert ranking(store, query, clearance, limit) == expected
            # Words needed once pruning starts looked up passage by passage
            # rather than read whole: the same ranking.
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(fulltext.SQLiteSource, "lookup_cost", 0.0)
                assert ranking(store, query, clearance, limit) == expected
    finally:
        store.close()


def counted_statistics(store: SQLiteStore) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """term_passages and marking_passages as the store keeps them, and as they
    are counted again from the passages (zero rows left out)."""
    db = store._db
    kept = set(db.execute("SELECT * FROM term_passages WHERE passages > 0").fetchall())
    kept_markings = set(db.execute("SELECT * FROM marking_passages WHERE passages > 0").fetchall())
    counted = set(
        db.execute(
            "SELECT t.term, c.marking_id, COUNT(DISTINCT t.chunk_id) FROM passage_terms t "
            "JOIN chunks c ON c.id = t.chunk_id GROUP BY t.term, c.marking_id"
        ).fetchall()
    )
    counted_markings = set(
        db.execute(
            "SELECT marking_id, COUNT(*), SUM(end - start) FROM chunks GROUP BY marking_id"
        ).fetchall()
    )
    assert kept_markings == counted_markings
    assert packed_postings(store) == recounted_postings(store)
    return kept, counted


def packed_postings(store: SQLiteStore) -> dict[tuple[str, int], list[tuple[int, int, int]]]:
    """term_blocks as (term, marking id) -> [(passage, weighted frequency, length)]."""
    packed: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for term, marking_id, first, last, held, data in store._db.execute(
        "SELECT term, marking_id, first, last, postings, data FROM term_blocks"
    ):
        rows = [tuple(int(v) for v in row) for row in np.frombuffer(data, dtype=POSTING)]
        assert len(rows) == held and (rows[0][0], rows[-1][0]) == (first, last)
        assert [row[0] for row in rows] == sorted({row[0] for row in rows})
        packed.setdefault((term, marking_id), []).extend(rows)
    return {key: sorted(rows) for key, rows in packed.items()}


def recounted_postings(store: SQLiteStore) -> dict[tuple[str, int], list[tuple[int, int, int]]]:
    recounted: dict[tuple[str, int], dict[int, list[int]]] = {}
    for term, chunk_id, col, tf, marking_id, length in store._db.execute(
        "SELECT t.term, t.chunk_id, t.col, t.tf, c.marking_id, c.end - c.start "
        "FROM passage_terms t JOIN chunks c ON c.id = t.chunk_id"
    ):
        weight = COLUMN_WEIGHTS["title" if col == 0 else "text"]
        entry = recounted.setdefault((term, marking_id), {}).setdefault(chunk_id, [0, length])
        entry[0] += int(weight) * tf
    return {
        key: sorted((chunk_id, f, n) for chunk_id, (f, n) in rows.items())
        for key, rows in recounted.items()
    }


def test_a_word_written_one_document_at_a_time_keeps_few_blocks(tmp_path: Path) -> None:
    # 100 writes of one document each: blocks merge as a binary counter does, so
    # "fuel" of one marking sits in at most log2(100) + 1 blocks, not 100.
    store = SQLiteStore(tmp_path / "g.db")
    for n in range(100):
        store.add_documents(
            [new_document(f"f{n:03d}", "", [f"Fuel at depot {n}."], "NATO RESTRICTED")]
        )
    (blocks,) = store._db.execute("SELECT COUNT(*) FROM term_blocks WHERE term = 'fuel'").fetchone()
    assert 1 <= blocks <= 7
    for doc_id in ("f000", "f050", "f099"):
        store.withdraw_document(doc_id)
    assert packed_postings(store) == recounted_postings(store)
    got = ranking(store, "fuel depot", FRA_NS, 200)
    assert len(got) == 97 and {"f000", "f050", "f099"}.isdisjoint(d for d, _, _ in got)
    store.close()


def test_a_batch_written_as_blocks_several_times_ranks_as_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch gathers at most FLUSH_POSTINGS before writing them as blocks (a
    # 50 MB document holds ten million): written every 7 postings here, the
    # blocks hold the same postings and rank as the exhaustive reference.
    monkeypatch.setattr(postings, "FLUSH_POSTINGS", 7)
    store = SQLiteStore(tmp_path / "g.db")
    items = [new_document(*document) for document in DOCUMENTS]
    store.add_documents(items)
    (blocks,) = store._db.execute("SELECT MAX(block) FROM term_blocks").fetchone()
    assert blocks > 1  # more than one write of a term's blocks in the one batch
    kept, counted = counted_statistics(store)
    assert kept == counted
    passages = [p for item in items for p in passages_of(item)]
    for query in QUERIES:
        for clearance in (LUX_NR, FRA_NS):
            assert ranking(store, query, clearance, 50) == reference(passages, query, clearance, 50)
    store.close()


def test_statistics_follow_every_write_remark_and_withdrawal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    items = [new_document(*document) for document in DOCUMENTS]
    store.add_documents(items[:3])
    store.add_documents(items)  # the first three again: duplicates count nothing
    kept, counted = counted_statistics(store)
    assert kept == counted and ("au dessus", 1) not in kept
    secret = parse_marking("NATO SECRET")
    remarked = store.remark_document("d01", secret)
    kept, counted = counted_statistics(store)
    assert kept == counted
    store.withdraw_document("d04")
    store.withdraw_document("d02")
    kept, counted = counted_statistics(store)
    assert kept == counted
    # Withdrawn and re-marked passages rank as if they had always been so.
    remaining = [
        replace(p, doc_id=remarked, marking=secret) if p.doc_id == "d01" else p
        for item in items
        for p in passages_of(item)
        if p.doc_id in {"d01", "d03", "d05"}
    ]
    for query in QUERIES:
        for clearance in (LUX_NR, FRA_NS):
            assert ranking(store, query, clearance, 50) == reference(
                remaining, query, clearance, 50
            )
    store.close()


def test_common_words_are_looked_up_only_where_they_can_change_the_cut(tmp_path: Path) -> None:
    # Every passage says "fuel convoy"; one in 25 names Narva as well. Asked for the
    # three best, the store reads Narva's passages and looks up "fuel" and
    # "convoy" in those alone, and ranks exactly as the exhaustive reference.
    store = SQLiteStore(tmp_path / "g.db")
    items = [
        new_document(
            f"c{n:03d}",
            "",
            [f"Fuel convoy {n} reported." + (" Narva depot." if n % 25 == 0 else "")],
            "NATO UNCLASSIFIED" if n % 2 else "NATO SECRET",
        )
        for n in range(400)
    ]
    store.add_documents(items)
    passages = [p for item in items for p in passages_of(item)]
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    # At this size reading "fuel" whole costs less than 16 lookups: cost lookups
    # as a million-passage store would.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fulltext.SQLiteSource, "lookup_cost", 5.0)
        for clearance in (LUX_NR, FRA_NS):
            for limit in (1, 3, 4):
                got = ranking(store, "fuel convoy Narva", clearance, limit)
                assert got == reference(passages, "fuel convoy Narva", clearance, limit)
                assert {d for d, _, _ in got} <= {f"c{n:03d}" for n in range(0, 400, 25)}
    store._db.set_trace_callback(None)
    assert any("chunk_id IN" in s and "FROM passage_terms" in s for s in statements)
    store.close()
