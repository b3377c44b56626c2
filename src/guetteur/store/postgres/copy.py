"""`guetteur migrate --to postgresql://...`: a SQLite workspace copied whole.

Every table the two stores share is copied column by column, ids included,
in one PostgreSQL transaction: documents and their passages, vectors,
entities, mentions and events, alerts and their network and Windows events,
indicators, Sigma rules, watch requirements and hits, spills, users and
their credentials, tracks, settings — the workspace's id secret among them,
so every keyed id (documents, entities, events, alerts) stays what it was —
and the audit chain, row for row, so that it still verifies. Each passage's
term counts come along (fulltext.py), and each marking's vector index is
built once its passages are in (faster than one insert at a time).

The target database must be empty of guetteur records. A SQLite table the
PostgreSQL store does not know (a newer guetteur's, or a concern not yet
ported) stops the copy if it holds rows, naming it, rather than leaving
records behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from guetteur._exceptions import WorkspaceError
from guetteur.store.postgres.fulltext import pack_postings
from guetteur.store.postgres.schema import build_vector_index, marking_ids
from guetteur.store.postgres.store import PostgresStore
from guetteur.store.sqlite.store import SQLiteStore

__all__ = ["COPIED_TABLES", "CopyReport", "copy_sqlite_store"]

# Parents before children (foreign keys); chunks are copied on their own.
COPIED_TABLES = (
    "settings",
    "markings",
    "users",
    "sources",
    "documents",
    "chunks",
    "entities",
    "mentions",
    "events",
    "event_participants",
    "alerts",
    "network_events",
    "windows_events",
    "attack_techniques",
    "indicators",
    "requirements",
    "watch_hits",
    "spills",
    "sigma_rules",
    "passwords",
    "sessions",
    "api_tokens",
    "login_failures",
    "certificate_subjects",
    "track_positions",
    "logistics_rows",
    "jobs",
    "audit",
)
# SQLite's own tables: FTS5's index of the passages, its sequences, the
# passages' binary codes for its vector search (PostgreSQL has HNSW), the
# term counts (copied with the passages, see `_copy_chunks`), and the
# full-text statistics per marking (PostgreSQL's triggers count its own).
# Prefixes.
_SQLITE_ONLY = (
    "passage_terms",
    "passage_bits",
    "passage_spans",
    "term_passages",
    "term_blocks",
    "passage_openings",
    "marking_passages",
    "chunks_fts",
    "sqlite_sequence",
)
_IDENTITY_TABLES = (
    "markings",
    "chunks",
    "mentions",
    "events",
    "requirements",
    "watch_hits",
    "spills",
    "track_positions",
    "logistics_rows",
    "attack_techniques",
)
_BATCH = 2_000


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    audit_rows: int = 0
    audit_head: str = ""


def _quoted(column: str) -> str:
    return f'"{column}"'


def _sqlite_tables(db: Any) -> list[str]:
    return [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
    ]


def _columns_sqlite(db: Any, table: str) -> list[str]:
    return [row[1] for row in db.execute(f'PRAGMA table_info("{table}")').fetchall()]


def _columns_postgres(pg: Any, table: str) -> list[str]:
    return [
        name
        for (name,) in pg.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    ]


def _batches(cursor: Any) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(_BATCH):
        yield rows


def _unknown_tables(db: Any) -> list[str]:
    """SQLite tables with rows that the PostgreSQL store has no place for."""
    unknown = []
    for table in _sqlite_tables(db):
        if table in COPIED_TABLES or table.startswith(_SQLITE_ONLY):
            continue
        if db.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None:
            unknown.append(table)
    return unknown


def copy_sqlite_store(
    source: Path, url: str, on_table: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy the SQLite workspace database `source` into the empty database at `url`."""
    sqlite = SQLiteStore(source)  # brings an older workspace to the current schema first
    try:
        sqlite.verify_audit()  # a broken chain is not copied as if it were whole
        unknown = _unknown_tables(sqlite._db)
        if unknown:
            raise WorkspaceError(
                "the workspace holds records the PostgreSQL store cannot take yet "
                f"(tables {', '.join(unknown)}): nothing was copied"
            )
        target = PostgresStore(url)
        try:
            report = _copy(sqlite._db, target, on_table)
            # Blocks and counts from the copied term counts (fulltext.py reads them).
            with target._pg.transaction():
                pack_postings(target._db)
            # The planner's statistics for the copied counts, now rather than at
            # autovacuum's next pass.
            target._pg.execute("VACUUM (ANALYZE) passage_terms")
            return report
        finally:
            target.close()
    finally:
        sqlite.close()


def _copy(
    db: Any, target: PostgresStore, on_table: Callable[[str, int], None] | None
) -> CopyReport:
    pg = target._pg
    held = pg.execute(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM documents) "
        "+ (SELECT COUNT(*) FROM audit)"
    ).fetchone()[0]
    if held:
        raise WorkspaceError(
            "the PostgreSQL database already holds guetteur records: migrate into an empty one"
        )
    report = CopyReport()
    present = set(_sqlite_tables(db))
    with pg.transaction():
        pg.execute("SELECT pg_advisory_xact_lock(%s)", (0x6775657474657572,))
        # The new store made its own id secret when it opened: the workspace's replaces it.
        pg.execute("DELETE FROM settings")
        for table in COPIED_TABLES:
            if table not in present:
                report.rows[table] = 0
                continue
            count = _copy_chunks(db, pg) if table == "chunks" else _copy_table(db, pg, table)
            report.rows[table] = count
            if on_table is not None:
                on_table(table, count)
        for table in _IDENTITY_TABLES:
            column = "seq" if table == "attack_techniques" else "id"
            pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )
        for marking_id in marking_ids(pg):
            build_vector_index(pg, marking_id)
    target._markings.clear()
    target._marking_ids.clear()
    target._id_key = target._workspace_id_key()
    report.audit_rows, report.audit_head = target.verify_audit()
    return report


def _copy_table(db: Any, pg: Any, table: str) -> int:
    wanted = _columns_postgres(pg, table)
    columns = [c for c in _columns_sqlite(db, table) if c in wanted]
    names = ", ".join(_quoted(c) for c in columns)
    cursor = db.execute(f'SELECT {names} FROM "{table}"')
    count = 0
    with pg.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for rows in _batches(cursor):
            for row in rows:
                copy.write_row(row)
            count += len(rows)
    return count


def _copy_chunks(db: Any, pg: Any) -> int:
    """Passages with their vectors, then their term counts (SQLite's, with the
    passage's marking and length beside each, as add_documents writes them)."""
    pg.execute(
        "CREATE TEMPORARY TABLE chunks_in (id BIGINT, doc_id TEXT, idx INTEGER, start INTEGER, "
        '"end" INTEGER, marking_id BIGINT, text TEXT, embedding TEXT) ON COMMIT DROP'
    )
    cursor = db.execute(
        "SELECT id, doc_id, idx, start, end, marking_id, text, embedding FROM chunks ORDER BY id"
    )
    count = 0
    with pg.cursor().copy(
        'COPY chunks_in (id, doc_id, idx, start, "end", marking_id, text, embedding) FROM STDIN'
    ) as copy:
        for rows in _batches(cursor):
            for *passage, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                copy.write_row((*passage, "[" + ",".join(map(repr, vector.tolist())) + "]"))
            count += len(rows)
    pg.execute(
        'INSERT INTO chunks (id, doc_id, idx, start, "end", marking_id, text, embedding) '
        'SELECT id, doc_id, idx, start, "end", marking_id, text, embedding::vector FROM chunks_in'
    )
    terms = db.execute(
        "SELECT t.term, c.marking_id, t.chunk_id, t.col, t.tf, c.end - c.start "
        "FROM passage_terms t JOIN chunks c ON c.id = t.chunk_id"
    )
    with pg.cursor().copy(
        "COPY passage_terms (term, marking_id, chunk_id, col, tf, length) FROM STDIN"
    ) as copy:
        for rows in _batches(terms):
            for row in rows:
                copy.write_row(row)
    return count
