"""Full text ranks alike on SQLite and PostgreSQL: the same passages, order and scores
(BM25 over the reader's readable passages on each), after re-markings and withdrawals
too, and for a PostgreSQL workspace made before its term counts existed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument, Store
from guetteur.store.postgres import PostgresStore, fulltext
from guetteur.store.postgres import store as postgres_store
from guetteur.store.postgres.schema import MIGRATIONS
from guetteur.store.sqlite import SQLiteStore, postings

from .conftest import Postgres
from .test_store_contract import SHARED_SECRET, document, unit_vectors

READERS = {
    "lux_nr": parse_clearance("NATO RESTRICTED", "LUX"),
    "deu_nc": parse_clearance("NATO CONFIDENTIAL", "DEU"),
    "fra_ns": parse_clearance("NATO SECRET", "FRA"),
}
MARKINGS = (
    "NATO RESTRICTED // REL TO FRA, LUX",
    "NATO RESTRICTED",
    "NATO CONFIDENTIAL",
    "NATO SECRET // REL TO FRA",
    "NATO SECRET",
)
WORDS = (
    "convoy fuel depot Narva bridge Tapa brigade drone strike ambush T-90M BTR-82A "
    "au-dessus de la Équipements blindés pont franchi s-300-pmu 35VNF6763382659 "
    "report sector quiet the of and"
).split()
QUERIES = (
    '"fuel"',
    '"narva"',
    '"convoy" OR "depot"',
    '"fuel" OR "fuel" OR "bridge"',  # a phrase twice counts twice
    '"btr 82a"',
    '"au-dessus"',
    '"s-300-pmu"',
    '"pont franchi au-dessus"',
    '"equipements"',
    '"brigade" OR "the" OR "of"',  # words in most passages: the idf floor
    '"35vnf6763382659" OR "tapa" OR "quiet"',
    '"absent"',
)


def _corpus(seed: int) -> list[NewDocument]:
    rng = random.Random(seed)
    documents = []
    for n in range(40):
        pieces = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))
            for _ in range(rng.randint(1, 4))
        ]
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        documents.append(
            document(f"d{n:02}", "", rng.choice(MARKINGS), title=title, pieces=pieces,
                     vectors=unit_vectors(len(pieces), seed=n))
        )  # fmt: skip
    return documents


def _rankings(store: Store) -> dict[tuple[str, str], list[tuple[str, int, float]]]:
    return {
        (reader, query): [
            (h.doc_id, h.start, h.score) for h in store.search_text(query, clearance, 15)
        ]
        for reader, clearance in READERS.items()
        for query in QUERIES
    }


@pytest.mark.parametrize("written", ["at the end of each batch", "every 7 postings"])
def test_the_same_corpus_ranks_alike_on_both_stores(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    if written == "every 7 postings":
        # A batch's postings written as blocks several times (a 50 MB document
        # holds ten million), its term counts copied 2 passages at a time.
        monkeypatch.setattr(postings, "FLUSH_POSTINGS", 7)
        monkeypatch.setattr(postgres_store, "_COUNTED_PASSAGES", 2)
    documents = _corpus(seed=7)
    sqlite = SQLiteStore(tmp_path / "store.db")
    pg = PostgresStore(postgres.new_database())
    try:
        for store in (sqlite, pg):
            store.set_id_secret(SHARED_SECRET)  # a re-marked document gets the same id
            for first in range(0, len(documents), 7):
                store.add_documents(documents[first : first + 7])
        before = _rankings(sqlite)
        assert sum(1 for found in before.values() if found) > 20
        assert _rankings(pg) == before
        for store in (sqlite, pg):
            store.remark_document("d03", parse_marking("NATO SECRET"))
            store.remark_document("d04", parse_marking("NATO RESTRICTED // REL TO FRA, LUX"))
            store.withdraw_document("d05")
        after = _rankings(sqlite)
        assert after != before
        assert _rankings(pg) == after
    finally:
        sqlite.close()
        pg.close()


def test_a_workspace_from_before_the_term_counts_is_counted_when_opened(
    tmp_path: Path, postgres: Postgres
) -> None:
    """Schema 1 kept passages' words in a tsvector: opening counts them as ingest would."""
    documents = _corpus(seed=11)
    url = postgres.new_database(template=None)
    with psycopg.connect(url, autocommit=True) as old:
        old.execute("CREATE TABLE guetteur_schema (version INTEGER NOT NULL)")
        old.execute("INSERT INTO guetteur_schema VALUES (1)")
        old.execute(MIGRATIONS[0])
    sqlite = SQLiteStore(tmp_path / "store.db")
    sqlite.add_documents(documents)
    # The passages as schema 1 held them (copied row for row, words in the tsvector).
    with psycopg.connect(url, autocommit=True) as old:
        for table, columns in (
            ("markings", "id, canonical"),
            ("documents", "id, sha256, title, text, language, marking_id, grade, source, "
                          "origin, ingested_at, reported_at, metadata"),
        ):  # fmt: skip
            rows = sqlite._db.execute(f"SELECT {columns} FROM {table}").fetchall()
            places = ", ".join(["%s"] * len(rows[0]))
            old.cursor().executemany(f"INSERT INTO {table} ({columns}) VALUES ({places})", rows)
        for chunk_id, doc_id, idx, start, end, marking_id, text in sqlite._db.execute(
            "SELECT id, doc_id, idx, start, end, marking_id, text FROM chunks"
        ).fetchall():
            old.execute(
                'INSERT INTO chunks (id, doc_id, idx, start, "end", marking_id, text, embedding, '
                "tsv) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, to_tsvector('simple', %s))",
                (chunk_id, doc_id, idx, start, end, marking_id, text,
                 str([0.0] * 511 + [1.0]), text),
            )  # fmt: skip
    pg = PostgresStore(url)
    try:
        assert _rankings(pg) == _rankings(sqlite)
    finally:
        sqlite.close()
        pg.close()


def test_large_blocks_are_looked_up_by_segment_and_rank_alike(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Common words fill blocks larger than SKIPPED_ABOVE; once pruning begins they
    are looked up segment by segment (schema 8's skips): the same rankings as
    SQLite's, and as reading them whole, before and after a re-marking."""
    rng = random.Random(3)
    rare = ("narva", "tapa", "drone", "ambush")
    documents = [
        document(
            f"b{n:04}",
            "",
            MARKINGS[n % 2],
            title="report",
            pieces=[
                " ".join(
                    ["fuel", "convoy"] * rng.randint(1, 3)
                    + rng.sample(WORDS, 3)
                    + ([rng.choice(rare)] if n % 11 == 0 else [])
                )
            ],
            vectors=unit_vectors(1, seed=n),
        )  # fmt: skip
        for n in range(2_400)
    ]
    sqlite = SQLiteStore(tmp_path / "store.db")
    url = postgres.new_database()
    pg = PostgresStore(url)
    queries = ('"narva" OR "fuel"', '"tapa" OR "convoy" OR "fuel"', '"drone" OR "convoy fuel"')
    try:
        for store in (sqlite, pg):
            # Each marking's 240 new passages a batch, merged as a binary counter:
            # blocks of 960 and 240.
            for first in range(0, len(documents), 480):
                store.add_documents(documents[first : first + 480])
        # Blocks of both sizes, and the skips where a block is large.
        for skips, data in pg._pg.execute(
            "SELECT skips, data FROM term_blocks WHERE term = 'fuel'"
        ).fetchall():
            if len(data) > fulltext.SKIPPED_ABOVE:
                ids = np.frombuffer(data, dtype=postings.POSTING)["chunk_id"]
                step = fulltext.SEGMENT_BYTES // postings.POSTING.itemsize
                assert np.frombuffer(skips, dtype="<i8").tolist() == ids[::step].tolist()
            else:
                assert skips is None
        skips_of = "SELECT seq, skips FROM term_blocks WHERE skips IS NOT NULL ORDER BY seq"
        written = pg._pg.execute(skips_of).fetchall()
        # A workspace from before schema 8 gets the same skips when opened.
        pg.close()
        with psycopg.connect(url, autocommit=True) as old:
            old.execute("ALTER TABLE term_blocks DROP COLUMN skips")
            old.execute("DROP FUNCTION guetteur_block_skips(BYTEA)")
            old.execute("UPDATE guetteur_schema SET version = 7")
        pg = PostgresStore(url)
        assert pg._pg.execute(skips_of).fetchall() == written
        query = "SELECT postings FROM term_blocks WHERE term = 'fuel'"
        sizes = [n for (n,) in pg._pg.execute(query)]
        assert max(sizes) * postings.POSTING.itemsize > fulltext.SKIPPED_ABOVE
        assert min(sizes) * postings.POSTING.itemsize <= fulltext.SKIPPED_ABOVE

        # A lookup finds exactly what the whole read holds of its candidates,
        # wherever they fall in a segment (its first passage and its last too).
        every = np.array(sorted(pg._pg.execute("SELECT array_agg(id) FROM chunks").fetchone()[0]))
        for clearance in READERS.values():
            source = fulltext.PostgresSource(pg._db, pg.readable_marking_ids(clearance))
            for term in ("fuel", "convoy fuel", "narva"):
                whole = source.whole(term)
                for ids in (every, every[::7], every[every % 128 < 2], every[-3:], every[:0]):
                    found = source.looked_up(term, ids)
                    kept = np.isin(whole.chunk_ids, ids)
                    assert sorted(zip(found.chunk_ids.tolist(), found.frequencies.tolist(),
                                      strict=True)) == sorted(
                        zip(whole.chunk_ids[kept].tolist(), whole.frequencies[kept].tolist(),
                            strict=True))  # fmt: skip

        looked_up: list[int] = []
        read_by_lookup = fulltext.PostgresSource.looked_up

        def counting(self: fulltext.PostgresSource, term: str, ids: np.ndarray) -> Any:
            looked_up.append(len(ids))
            return read_by_lookup(self, term, ids)

        def rankings(store: Store) -> list[list[tuple[str, int, float]]]:
            return [
                [(h.doc_id, h.start, h.score) for h in store.search_text(q, clearance, limit)]
                for q in queries
                for clearance in READERS.values()
                for limit in (1, 5, 20)
            ]

        for remarked in (False, True):
            if remarked:
                for store in (sqlite, pg):
                    store.remark_document("b0011", parse_marking("NATO SECRET"))
                    store.remark_document("b0022", parse_marking("NATO RESTRICTED"))
            expected = rankings(sqlite)
            assert sum(1 for found in expected if found) > 20
            monkeypatch.setattr(fulltext.PostgresSource, "lookup_cost", float("inf"))
            assert rankings(pg) == expected  # every word read whole
            monkeypatch.setattr(fulltext.PostgresSource, "lookup_cost", 0.0)
            monkeypatch.setattr(fulltext.PostgresSource, "looked_up", counting)
            looked_up.clear()
            assert rankings(pg) == expected  # looked up once pruning begins
            assert looked_up
            monkeypatch.undo()
    finally:
        sqlite.close()
        pg.close()
