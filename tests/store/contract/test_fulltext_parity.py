"""Full text ranks alike on SQLite and PostgreSQL: the same passages, order and scores
(BM25 over the reader's readable passages on each), after re-markings and withdrawals
too, and for a PostgreSQL workspace made before its term counts existed."""

from __future__ import annotations

import random
from pathlib import Path

import psycopg
import pytest

from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument, Store
from guetteur.store.postgres import PostgresStore
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
