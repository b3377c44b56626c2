"""PostgreSQL's vector indexes: one HNSW graph per marking, built dense
(store/postgres/schema.py, HNSW_BUILD), and built again so when a workspace
made before them is opened."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from guetteur.store import Store
from guetteur.store.postgres import PostgresStore
from guetteur.store.postgres.store import EF_SEARCH, ef_search_for

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
        # and without schema 8's skips.
        old.execute("ALTER TABLE term_blocks DROP COLUMN skips")
        old.execute("DROP FUNCTION guetteur_block_skips(BYTEA)")
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


def test_a_reader_of_fewer_markings_searches_each_graph_deeper_then_the_session_is_as_it_was(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [ef_search_for(n) for n in (0, 1, 2, 3, 4, 10)] == [200, 200, 100, 66, 60, 60]
    store = PostgresStore(postgres.new_database())
    try:
        store.add_documents(_corpus(seed=3))
        sent: list[str] = []
        execute = store._pg.execute

        def recording(query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(str(query))
            return execute(query, *args, **kwargs)

        monkeypatch.setattr(store._pg, "execute", recording)
        vector = unit_vectors(1, seed=1)[0]
        for clearance in READERS.values():
            # The reader's graphs: the markings of every passage they may read.
            graphs = {hit.marking for hit in store.search_vector(vector, clearance, 1_000)}
            sent.clear()
            assert store.search_vector(vector, clearance, 10)
            settings = [q for q in sent if "hnsw.ef_search" in q]
            wanted = ef_search_for(len(graphs))
            if wanted == EF_SEARCH:
                assert settings == []
            else:
                assert settings == [f"SET hnsw.ef_search = {wanted}", "SET hnsw.ef_search = 60"]
            assert execute("SHOW hnsw.ef_search").fetchone() == (str(EF_SEARCH),)
    finally:
        store.close()
