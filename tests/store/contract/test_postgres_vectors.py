"""PostgreSQL's vector indexes: one HNSW graph per marking, built dense
(store/postgres/schema.py, HNSW_BUILD), and built again so when a workspace
made before them is opened."""

from __future__ import annotations

import psycopg

from guetteur.store import Store
from guetteur.store.postgres import PostgresStore

from .conftest import Postgres
from .test_fulltext_parity import READERS, _corpus
from .test_store_contract import unit_vectors


def _nearest(store: Store) -> dict[str, list[tuple[str, int, float]]]:
    return {
        f"{reader} {n}": [
            (h.doc_id, h.start, round(h.score, 6)) for h in store.search_vector(v, clearance, 10)
        ]
        for reader, clearance in READERS.items()
        for n, v in enumerate(unit_vectors(4, seed=99))
    }


def _index_definitions(url: str) -> dict[str, str]:
    with psycopg.connect(url) as connection:
        return dict(
            connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'chunks' AND indexname LIKE 'chunks_embedding_m%'"
            ).fetchall()
        )


def test_a_workspace_from_before_the_denser_graphs_gets_them_when_opened(
    postgres: Postgres,
) -> None:
    url = postgres.new_database()
    store = PostgresStore(url)
    store.add_documents(_corpus(seed=3))
    before = _nearest(store)
    markings = len(store._pg.execute("SELECT id FROM markings").fetchall())
    store.close()
    # The indexes as schema 6 made them: pgvector's default graph.
    with psycopg.connect(url, autocommit=True) as old:
        for name, definition in _index_definitions(url).items():
            old.execute(f"DROP INDEX {name}")
            old.execute(definition.replace(" WITH (m='24', ef_construction='200')", ""))
        old.execute("UPDATE guetteur_schema SET version = 6")
    assert not any("ef_construction" in d for d in _index_definitions(url).values())
    store = PostgresStore(url)
    try:
        definitions = _index_definitions(url)
        assert len(definitions) == markings
        assert all("m='24', ef_construction='200'" in d for d in definitions.values())
        assert _nearest(store) == before
        assert sum(len(hits) for hits in before.values()) == 10 * len(before)
    finally:
        store.close()


def test_a_bulk_load_builds_the_same_indexes_at_its_end_and_searches_exactly_meanwhile(
    postgres: Postgres,
) -> None:
    reference_url = postgres.new_database()
    reference = PostgresStore(reference_url)
    reference.add_documents(_corpus(seed=5))
    expected, definitions = _nearest(reference), _index_definitions(reference_url)
    reference.close()

    url = postgres.new_database()
    store = PostgresStore(url)
    corpus = _corpus(seed=5)
    try:
        store.add_documents(corpus[:5])  # some markings, and their indexes, exist before
        assert _index_definitions(url)
        with store.vector_indexes_deferred():
            store.add_documents(corpus[5:])
            assert _index_definitions(url) == {}
            # No graph: every readable passage ranked, the lists full and the same.
            assert _nearest(store) == expected
        assert _index_definitions(url) == definitions  # markings first seen inside too
        assert _nearest(store) == expected
        assert sum(len(hits) for hits in expected.values()) == 10 * len(expected)
    finally:
        store.close()


def test_a_bulk_load_that_fails_still_leaves_every_index_built(postgres: Postgres) -> None:
    url = postgres.new_database()
    store = PostgresStore(url)
    try:
        store.add_documents(_corpus(seed=6)[:20])
        before = _index_definitions(url)
        try:
            with store.vector_indexes_deferred():
                raise RuntimeError("the feed broke")
        except RuntimeError:
            pass
        assert _index_definitions(url) == before and before
    finally:
        store.close()
