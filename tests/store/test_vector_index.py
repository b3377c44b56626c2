"""The SQLite store's approximate vector search (issue 14, store/sqlite/vectors.py).

Sign bits per marking pick the candidates, exact cosine ranks them. Checked
here on real sentence embeddings (the scenario's reports): recall against the
exact ranking, the twin property (a reader's hits, order and scores equal in
a store that also holds passages they may not read), full lists for a narrow
reader, the migration of a workspace made before the index, and the index
following adds, remarks, withdrawals and other connections' writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import guetteur.store.sqlite.schema as schema
import guetteur.store.sqlite.store as sqlite_store
import guetteur.store.sqlite.vectors as bit_index
from guetteur.enrich.embeddings import embed
from guetteur.model import Chunk, Clearance, Document
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument
from guetteur.store.base import ChunkHit
from guetteur.store.sqlite import SQLiteStore
from guetteur.store.sqlite._connect import connect
from guetteur.store.sqlite.vectors import sign_bits

SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "scenario"
SECRET = "NATO SECRET"
RESTRICTED = "NATO RESTRICTED // REL TO FRA, LUX"
FRA_NS = parse_clearance("NATO SECRET", "FRA")  # reads both
LUX_NR = parse_clearance("NATO RESTRICTED", "LUX")  # reads RESTRICTED only


@pytest.fixture(scope="module")
def sentences() -> tuple[list[str], npt.NDArray[np.float32]]:
    """The scenario's report sentences and their real embeddings."""
    found: set[str] = set()
    for path in sorted((SCENARIO / "reports").rglob("*.txt")):
        text = " ".join(path.read_text(encoding="utf-8").split())
        found.update(s for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s) <= 300)
    pool = sorted(found)[:240]
    return pool, embed(pool)


@pytest.fixture
def approximate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The approximate path for every reader, with few candidates, so that the
    small stores of these tests exercise what a million passages would."""
    monkeypatch.setattr(sqlite_store, "EXACT_BELOW", 0)
    monkeypatch.setattr(sqlite_store, "CANDIDATES", 60)


def passages(
    pool: tuple[list[str], npt.NDArray[np.float32]], count: int, seed: int
) -> Iterator[tuple[str, npt.NDArray[np.float32]]]:
    """Passages of two to four of the pool's sentences, vectors their normalised sums."""
    texts, vectors = pool
    rng = np.random.default_rng(seed)
    for _ in range(count):
        chosen = rng.choice(len(texts), size=int(rng.integers(2, 5)), replace=False)
        summed = vectors[chosen].sum(axis=0)
        yield " ".join(texts[i] for i in chosen), summed / np.linalg.norm(summed)


def document(
    doc_id: str, marking: str, items: Sequence[tuple[str, npt.NDArray[np.float32]]]
) -> NewDocument:
    chunks, start = [], 0
    for index, (text, _) in enumerate(items):
        chunks.append(Chunk(index, start, start + len(text), text))
        start += len(text) + 1
    stored = Document(
        id=doc_id,
        title=doc_id,
        text=" ".join(text for text, _ in items),
        language="en",
        marking=parse_marking(marking),
        grade=None,
        source="test",
        origin=f"{doc_id}.txt",
        sha256=doc_id.ljust(64, "0"),
        ingested_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    vectors = np.asarray([vector for _, vector in items], dtype=np.float32)
    return NewDocument(stored, chunks, vectors)


def documents(
    pool: tuple[list[str], npt.NDArray[np.float32]],
    prefix: str,
    marking: str,
    count: int,
    seed: int,
) -> list[NewDocument]:
    """`count` documents of five passages each."""
    items = list(passages(pool, 5 * count, seed))
    return [document(f"{prefix}{n:04d}", marking, items[5 * n : 5 * n + 5]) for n in range(count)]


def shown(hits: Sequence[ChunkHit]) -> list[tuple[object, ...]]:
    """What a hit shows a reader: all but the passage's row number in this file."""
    return [astuple(hit)[1:] for hit in hits]


def queries(pool: tuple[list[str], npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
    """Sentences of the pool (passages hold them among others) and blends of two."""
    _, vectors = pool
    singles = [vectors[i] for i in range(0, len(vectors), 12)]
    blends = [vectors[i] + vectors[i + 5] for i in range(1, len(vectors) - 5, 24)]
    return singles + [b / np.linalg.norm(b) for b in blends]


def test_recall_at_10_against_exact_search_on_real_embeddings(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    store.add_documents(documents(sentences, "s", SECRET, 300, seed=1))
    store.add_documents(documents(sentences, "r", RESTRICTED, 100, seed=2))
    found = wanted = 0
    for vector in queries(sentences):
        approximate_hits = store.search_vector(vector, FRA_NS, 10)
        exact_hits = store.search_vector_exact(vector, FRA_NS, 10)
        assert len(approximate_hits) == 10
        # Scores are exact cosines, whichever path found the passage.
        everything = store.search_vector_exact(vector, FRA_NS, 2000)
        exact_scores = {h.chunk_id: h.score for h in everything}
        assert all(h.score == exact_scores[h.chunk_id] for h in approximate_hits)
        found += len({h.chunk_id for h in approximate_hits} & {h.chunk_id for h in exact_hits})
        wanted += 10
    # 2,000 passages, 60 candidates (3%): sign bits must keep the true neighbours.
    assert found / wanted >= 0.95


def test_small_and_large_markings_are_scanned_to_the_same_candidates(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A small marking's bits are scanned in one pass, a large one's word by word:
    # both ways must find the same passages, in the same order, with the same
    # scores (the store here is small, so the threshold is moved instead).
    store = SQLiteStore(tmp_path / "g.db")
    store.add_documents(documents(sentences, "s", SECRET, 60, seed=5))
    store.add_documents(documents(sentences, "r", RESTRICTED, 20, seed=6))
    one_pass = [shown(store.search_vector(v, FRA_NS, 10)) for v in queries(sentences)]
    monkeypatch.setattr(bit_index, "_ONE_PASS_BELOW", 0)
    word_by_word = [shown(store.search_vector(v, FRA_NS, 10)) for v in queries(sentences)]
    assert word_by_word == one_pass
    assert all(len(hits) == 10 for hits in one_pass)


def test_a_reader_ranks_the_same_whatever_else_the_store_holds(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    readable = documents(sentences, "r", RESTRICTED, 80, seed=3)
    # Hidden passages made to crowd the reader's: copies of readable vectors and
    # of the queries themselves, at a marking the reader may not read.
    hidden = documents(sentences, "s", SECRET, 200, seed=4)
    copies = [
        document(f"c{n:04d}", SECRET, [(f"copy {n}", vector)])
        for n, vector in enumerate(queries(sentences))
    ]
    plain = SQLiteStore(tmp_path / "plain.db")
    plain.add_documents(readable)
    crowded = SQLiteStore(tmp_path / "crowded.db")
    for n, item in enumerate(readable):  # interleaved: other rows, other row numbers
        crowded.add_documents(hidden[2 * n : 2 * n + 2] + [item] + copies[n : n + 1])
    crowded.add_documents(hidden[160:] + copies[80:])
    for vector in queries(sentences):
        for limit in (10, 50):
            expected = shown(plain.search_vector(vector, LUX_NR, limit))
            assert len(expected) == limit
            assert shown(crowded.search_vector(vector, LUX_NR, limit)) == expected
    # Not vacuous: a reader cleared for the hidden passages gets other hits.
    vector = queries(sentences)[0]
    assert shown(crowded.search_vector(vector, FRA_NS, 10)) != shown(
        plain.search_vector(vector, FRA_NS, 10)
    )


def test_passages_equally_close_by_bits_are_all_kept_at_the_boundary(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 30 passages share one vector: with 10 candidates wanted, which 10 of them
    # were kept would otherwise depend on row order. Ties go to document id.
    monkeypatch.setattr(sqlite_store, "CANDIDATES", 10)
    _, vectors = sentences
    twins = [document(f"t{n:02d}", RESTRICTED, [(f"twin {n}", vectors[7])]) for n in (range(30))]
    forward = SQLiteStore(tmp_path / "forward.db")
    forward.add_documents(twins)
    backward = SQLiteStore(tmp_path / "backward.db")
    for item in reversed(twins):
        backward.add_documents([item])
    hits = forward.search_vector(vectors[7], LUX_NR, 15)
    assert [h.doc_id for h in hits] == [f"t{n:02d}" for n in range(15)]
    assert shown(backward.search_vector(vectors[7], LUX_NR, 15)) == shown(hits)


def test_a_narrow_reader_gets_full_lists(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    store.add_documents(documents(sentences, "s", SECRET, 396, seed=5))
    store.add_documents(documents(sentences, "r", RESTRICTED, 4, seed=6))  # 1%: 20 passages
    for vector in queries(sentences):
        hits = store.search_vector(vector, LUX_NR, 50)
        assert len(hits) == 20
        assert {h.marking for h in hits} == {parse_marking(RESTRICTED)}
        assert len(store.search_vector(vector, LUX_NR, 5)) == 5
        # A limit above the candidates wanted still fills the list.
        assert len(store.search_vector(vector, FRA_NS, 100)) == 100


def test_a_workspace_made_before_the_index_gets_it_when_opened(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    store = SQLiteStore(tmp_path / "old.db")
    store.add_documents(documents(sentences, "s", SECRET, 40, seed=7))
    store.add_documents(documents(sentences, "r", RESTRICTED, 20, seed=8))
    store.close()
    # Back to schema 12 (today's store writes tables that schema 12 lacks): what
    # migrations 13 onwards made is dropped, as if it had never been.
    connection = connect(tmp_path / "old.db")
    for kind, name in re.findall(
        r"CREATE (TABLE|INDEX|TRIGGER) (\w+)", "".join(schema.MIGRATIONS[12:])
    ):
        connection.execute(f"DROP {kind} IF EXISTS {name}")
    connection.execute("DELETE FROM settings WHERE key = 'passage_bits_identity'")
    connection.execute("PRAGMA user_version = 12")
    connection.close()
    store = SQLiteStore(tmp_path / "old.db")
    rows = store._db.execute(
        "SELECT c.id, c.marking_id, c.embedding, b.marking_id, b.bits "
        "FROM chunks c LEFT JOIN passage_bits b ON b.chunk_id = c.id"
    ).fetchall()
    assert len(rows) == 300
    for _, marking_id, embedding, bits_marking_id, bits in rows:
        assert bits_marking_id == marking_id
        assert bits == sign_bits(np.frombuffer(embedding, dtype=np.float32)).tobytes()
    for vector in queries(sentences)[:8]:
        hits = store.search_vector(vector, LUX_NR, 10)
        assert len(hits) == 10
        assert shown(hits) == shown(store.search_vector_exact(vector, LUX_NR, 10))
    # Written after the migration: the triggers keep the table in step.
    store.add_documents(documents(sentences, "n", RESTRICTED, 2, seed=9))
    assert store._db.execute("SELECT COUNT(*) FROM passage_bits").fetchone()[0] == 310


def _indexed(store: SQLiteStore) -> list[tuple[int, int]]:
    return store._db.execute(
        "SELECT chunk_id, marking_id FROM passage_bits ORDER BY chunk_id"
    ).fetchall()


def _stored(store: SQLiteStore) -> list[tuple[int, int]]:
    return store._db.execute("SELECT id, marking_id FROM chunks ORDER BY id").fetchall()


def _finds(store: SQLiteStore, vector: npt.NDArray[np.float32], reader: Clearance) -> set[str]:
    return {h.doc_id for h in store.search_vector(vector, reader, 10)}


def test_remark_withdraw_and_other_connections_keep_the_index_in_step(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    _, vectors = sentences
    store = SQLiteStore(tmp_path / "g.db")
    store.add_documents(documents(sentences, "s", SECRET, 60, seed=10))
    store.add_documents(documents(sentences, "r", RESTRICTED, 20, seed=11))
    target = document("target", SECRET, [("the passage searched for", vectors[3])])
    store.add_documents([target])
    assert "target" in _finds(store, vectors[3], FRA_NS)  # the bits are now in memory
    assert "target" not in _finds(store, vectors[3], LUX_NR)

    # Remarked lower: the RESTRICTED reader finds it, under its new id.
    new_id = store.remark_document("target", parse_marking(RESTRICTED))
    assert new_id in _finds(store, vectors[3], LUX_NR)
    assert _indexed(store) == _stored(store)

    # Withdrawn: nobody finds it, and its bits are gone.
    store.withdraw_document(new_id)
    assert new_id not in _finds(store, vectors[3], FRA_NS)
    assert _indexed(store) == _stored(store)

    # Written through another connection (another process, the server's ingest):
    # the first store's copy in memory takes it in before its next search.
    other = SQLiteStore(tmp_path / "g.db")
    other.add_documents([document("late", RESTRICTED, [("a late report", vectors[5])])])
    assert "late" in _finds(store, vectors[5], LUX_NR)
    other.remark_document("late", parse_marking(SECRET))
    assert _finds(store, vectors[5], LUX_NR) & {"late"} == set()
    late_id = store.document_id("late".ljust(64, "0"), parse_marking(SECRET))
    assert late_id in _finds(store, vectors[5], FRA_NS)
    other.withdraw_document(late_id)
    assert late_id not in _finds(store, vectors[5], FRA_NS)
    other.close()

    # The approximate ranking still equals the exact one where the candidates
    # hold every readable passage.
    for vector in queries(sentences)[:5]:
        assert shown(store.search_vector(vector, LUX_NR, 10)) == shown(
            store.search_vector_exact(vector, LUX_NR, 10)
        )
    assert _indexed(store) == _stored(store)


def test_a_workspace_made_again_at_the_same_path_is_searched_afresh(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    # The bits in memory are shared by the stores of one file: a store still
    # open on a deleted workspace must not lend them to the new one.
    _, vectors = sentences
    first = SQLiteStore(tmp_path / "g.db")
    first.add_documents(documents(sentences, "old", RESTRICTED, 30, seed=12))
    assert len(first.search_vector(vectors[2], LUX_NR, 10)) == 10
    for path in tmp_path.glob("g.db*"):
        path.unlink()
    second = SQLiteStore(tmp_path / "g.db")
    second.add_documents(documents(sentences, "new", RESTRICTED, 40, seed=13))
    for vector in queries(sentences)[:5]:
        hits = second.search_vector(vector, LUX_NR, 10)
        assert {h.doc_id[:3] for h in hits} == {"new"}
        assert shown(hits) == shown(second.search_vector_exact(vector, LUX_NR, 10))
    first.close()
    second.close()


def test_a_search_inside_a_transaction_sees_its_writes_and_a_rollback_leaves_nothing(
    tmp_path: Path,
    sentences: tuple[list[str], npt.NDArray[np.float32]],
    approximate: None,
) -> None:
    _, vectors = sentences
    store = SQLiteStore(tmp_path / "g.db")
    store.add_documents(documents(sentences, "r", RESTRICTED, 30, seed=14))
    assert "draft" not in _finds(store, vectors[9], LUX_NR)
    with pytest.raises(RuntimeError), store.atomic():
        store.add_documents([document("draft", RESTRICTED, [("a draft", vectors[9])])])
        assert "draft" in _finds(store, vectors[9], LUX_NR)  # exact, uncommitted rows
        raise RuntimeError("abandoned")
    assert "draft" not in _finds(store, vectors[9], LUX_NR)
    assert _indexed(store) == _stored(store)
