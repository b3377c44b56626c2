"""PostgreSQL implementation of the Store contract (a staff's server, many users).

`PostgresStore` is the SQLite store with another engine underneath: every
concern whose SQL both databases share (settings, users, credentials,
entities and events, tracks, alerts, indicators, watch, spills, audit
appends) is the SQLite store's own code, run through `_dialect.Connection`,
so the access rules and the noninterference of what they compute exist once.
What PostgreSQL does differently lives here:

- passages: their words counted as on SQLite (`passage_terms`, fulltext.py)
  and their embedding in a pgvector column, with one partial HNSW index per
  marking (schema.py);
- `search_text`: BM25 over the readable passages only (fulltext.py);
- `search_vector`: approximate nearest neighbours in each readable marking's
  own index, merged (see the method);
- `verify_audit`: the same chain check (security/audit.py) in one
  repeatable-read snapshot, and the append-only triggers as PostgreSQL
  keeps them.

Transactions: a write takes a transaction-scoped advisory lock, so writers
queue as on SQLite (one writer, many readers); readers are never blocked.
One `PostgresStore` is one connection: the server opens one per thread
(`Workspace.sibling`).
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from guetteur._exceptions import WorkspaceError
from guetteur.model import Clearance, Marking
from guetteur.security.audit import AuditIntegrityError
from guetteur.store.base import (
    GROWN_OPENING_CHARS,
    PASSAGE_CHARS,
    ChunkHit,
    NewDocument,
    Vector,
)
from guetteur.store.postgres._dialect import Connection
from guetteur.store.postgres.fulltext import PostgresSource, count_postings
from guetteur.store.postgres.schema import (
    build_vector_index,
    marking_ids,
    migrate,
    vector_index_sql,
)
from guetteur.store.sqlite import postings
from guetteur.store.sqlite._common import iso
from guetteur.store.sqlite.fulltext import passage_term_rows, rank_passages
from guetteur.store.sqlite.store import SQLiteStore

__all__ = ["EF_BUDGET", "EF_SEARCH", "Embedding", "PostgresStore", "ef_search_for", "open_postgres"]

# Candidates each HNSW index scan keeps (pgvector's hnsw.ef_search; 40 by
# default). On the benchmark corpus at 200,000 passages (benchmarks/search_scale.py,
# 40 queries, one sitting), with the graphs schema 7 builds (schema.HNSW_BUILD),
# recall@10 against exact search broad / narrow and the broad reader's vector
# search p50 / p95: 40 gave 0.973 / 0.960 and 21 / 24 ms, 60 gave 0.988 / 0.983
# and 27 / 31 ms, 80 gave 0.990 / 0.995 and 36 / 42 ms. (pgvector's default
# graphs needed 200 for 0.955 broad, at 43 / 52 ms.) 60 keeps a margin above the
# 0.95 aim as a store grows. A scan that needs more rows than that goes on
# (hnsw.iterative_scan), so a limit above it still gets full lists.
EF_SEARCH = 60
# What one reader's vector search may spend over all the graphs it walks: a
# reader of few markings walks few graphs, and each must find that reader's
# whole top ten, not a share of it. At a million passages (search_scale.py,
# `--ef-search`), the narrow reader's one graph of 10,000 passages gave
# recall@10 0.943 at 60, 0.973 at 100 and 0.988 at 200; the broad reader's ten
# graphs of 110,000 gave 0.983 at 60 (48 / 57 ms) and 0.995 at 100 (75 / 117
# ms). So ef_search is EF_BUDGET spread over the reader's graphs, never less
# than EF_SEARCH (`ef_search_for`): 200 for one graph, 100 for two, 60 from four.
EF_BUDGET = 200


def ef_search_for(graphs: int) -> int:
    """hnsw.ef_search for a reader whose readable passages sit in `graphs` markings."""
    return max(EF_SEARCH, EF_BUDGET // max(graphs, 1))


# Passages whose term counts go in one COPY (postings may be written between two).
_COUNTED_PASSAGES = 256


class Embedding:
    """A float32 vector as a query parameter (pgvector's binary format)."""

    def __init__(self, values: Any) -> None:
        self.values = np.asarray(values, dtype=">f4").ravel()


class _EmbeddingDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Embedding) -> bytes:
        return struct.pack(">HH", len(obj.values), 0) + obj.values.tobytes()


class _NumericLoader(Loader):
    """SUM() of integers is numeric in PostgreSQL: read it back as int (float if not whole)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


def _vector_text(text: str) -> Vector:
    return np.array(text[1:-1].split(","), dtype=np.float32)


class _SideReader:
    """A store's second connection, and the one thread that reads on it
    (`PostgresStore.search_both`)."""

    def __init__(self, url: str) -> None:
        self.pg = psycopg.connect(url, autocommit=True)
        PostgresStore._configure(self.pg)  # noqa: SLF001 - the store's own settings
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guetteur-vectors")

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.pg.close()


class PostgresStore(SQLiteStore):
    """A workspace's records in a PostgreSQL database (`url`: a libpq connection URI)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = url
        self._db = Connection(url)
        self._pg = self._db.raw
        self._lock = threading.RLock()
        migrate(self._pg)
        self._configure(self._pg)
        self._marking_ids: dict[str, int] = {}
        self._markings: dict[int, Marking] = {}
        self._indexes_deferred = False
        self._side: _SideReader | None = None  # opened by the first `search_both`
        self._id_key = self._workspace_id_key()

    @staticmethod
    def _configure(pg: psycopg.Connection[Any]) -> None:
        info = TypeInfo.fetch(pg, "vector")
        if info is None:
            raise WorkspaceError("the database has no pgvector extension (CREATE EXTENSION vector)")
        dumper = type("EmbeddingDumper", (_EmbeddingDumper,), {"oid": info.oid})
        pg.adapters.register_dumper(Embedding, dumper)
        pg.adapters.register_loader("numeric", _NumericLoader)
        pg.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        pg.execute("SET hnsw.iterative_scan = strict_order")

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
        self._db.close()

    # ----------------------------------------------------------------- markings
    def _marking_id(self, marking: Marking) -> int:
        """Intern a marking; a new one gets its own vector index (inside the caller's
        transaction, so a marking never exists without it)."""
        known = str(marking) in self._marking_ids
        marking_id = super()._marking_id(marking)
        if not known and not self._indexes_deferred:
            self._pg.execute(vector_index_sql(marking_id))
        return marking_id

    @contextmanager
    def vector_indexes_deferred(self) -> Iterator[None]:
        """For a bulk load: every marking's vector index is dropped while the block
        runs and built again, whole, when it ends, even on an error.

        pgvector builds a graph in memory far faster than it links one vector at
        a time (10,000 passages stored without their inserts into the HNSW
        graphs: 1 s of the chunk writes against 26 s with them, at 20,000
        passages; benchmarks/search_scale.py). Meanwhile vector search ranks
        every readable passage exactly: slower, never wrong, never short.
        """
        self._indexes_deferred = True
        try:
            with self._transaction():
                for marking_id in marking_ids(self._pg):
                    self._pg.execute(f"DROP INDEX IF EXISTS chunks_embedding_m{int(marking_id)}")
            yield
        finally:
            self._indexes_deferred = False
            self.build_vector_indexes()

    def build_vector_indexes(self) -> None:
        """Every marking's vector index that is missing, built in one pass each."""
        for marking_id in marking_ids(self._pg):
            with self._transaction():  # one marking at a time: writers wait for one build
                build_vector_index(self._pg, marking_id)

    # ---------------------------------------------------------------- documents
    def add_documents(self, batch: Sequence[NewDocument]) -> list[str]:
        """Store a batch atomically; return the ids added (an id already stored is skipped)."""
        added: list[str] = []
        pending = postings.Pending()
        with self._transaction():
            for item in batch:
                doc = item.document
                marking_id = self._marking_id(doc.marking)
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO documents(id, sha256, title, text, language, "
                    "marking_id, grade, source, origin, ingested_at, reported_at, metadata) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.id, doc.sha256, doc.title, doc.text, doc.language, marking_id,
                        str(doc.grade) if doc.grade else None, doc.source, doc.origin,
                        iso(doc.ingested_at), iso(doc.reported_at), _metadata(doc.metadata),
                    ),
                )  # fmt: skip
                if inserted.rowcount == 0:
                    continue  # same content already stored (another run or earlier in batch)
                # Ids drawn first: each passage's term counts name it (fulltext.py).
                chunk_ids = [
                    chunk_id
                    for (chunk_id,) in self._pg.execute(
                        "SELECT nextval(pg_get_serial_sequence('chunks', 'id')) "
                        "FROM generate_series(1, %s)",
                        (len(item.chunks),),
                    )
                ]
                rows = [
                    (chunk_id, doc.id, chunk.index, chunk.start, chunk.end, marking_id,
                     chunk.text, Embedding(vector))
                    for chunk_id, chunk, vector in zip(
                        chunk_ids, item.chunks, item.embeddings, strict=True
                    )
                ]  # fmt: skip
                with self._pg.cursor() as cursor:
                    cursor.executemany(
                        'INSERT INTO chunks(id, doc_id, idx, start, "end", marking_id, text, '
                        "embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %b)",
                        rows,
                    )
                del rows
                # Term counts passage by passage, never a whole document's at once
                # (a 50 MB document has ten million); postings written as blocks
                # whenever enough are gathered, between two COPYs.
                for start in range(0, len(chunk_ids), _COUNTED_PASSAGES):
                    with (
                        self._pg.cursor() as cursor,
                        cursor.copy(
                            "COPY passage_terms (term, marking_id, chunk_id, col, tf, length) "
                            "FROM STDIN"
                        ) as copy,
                    ):
                        for chunk_id, chunk in zip(
                            chunk_ids[start : start + _COUNTED_PASSAGES],
                            item.chunks[start : start + _COUNTED_PASSAGES],
                            strict=True,
                        ):
                            title = doc.title if chunk.index == 0 else ""
                            counted = passage_term_rows(chunk_id, title, chunk.text)
                            length = chunk.end - chunk.start
                            for term, _, column, n in counted:
                                copy.write_row((term, marking_id, chunk_id, column, n, length))
                            pending.add_passage(chunk_id, counted, marking_id, length)
                    if pending.full:
                        postings.store(self._db, pending, count_postings)
                self._insert_enrichment(doc.id, marking_id, item.entities, item.events)
                added.append(doc.id)
            postings.store(self._db, pending, count_postings)
        return added

    def _remark_postings(self, doc_id: str, marking_id: int) -> dict[tuple[str, int], int]:
        """The blocks move as on SQLite; the counts move here (SQLite's trigger
        does it there). passage_terms rows follow their passage by trigger."""
        moved = super()._remark_postings(doc_id, marking_id)
        postings.uncount(self._db, moved)
        postings.count(self._db, {(term, marking_id): n for (term, _), n in moved.items()})
        return moved

    def _delete_document(self, doc_id: str) -> None:
        self._forget_postings(doc_id)
        self._db.execute("DELETE FROM watch_hits WHERE doc_id = ?", (doc_id,))
        self._db.execute(
            "DELETE FROM event_participants WHERE event_id IN "
            "(SELECT id FROM events WHERE doc_id = ?)",
            (doc_id,),
        )
        for table in ("events", "mentions", "chunks"):
            self._db.execute(f"DELETE FROM {table} WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        self._db.execute(
            "DELETE FROM entities WHERE id NOT IN (SELECT entity_id FROM mentions) "
            "AND id NOT IN (SELECT entity_id FROM event_participants) "
            "AND id NOT IN (SELECT place_entity_id FROM events "
            "WHERE place_entity_id IS NOT NULL)"
        )

    # -------------------------------------------------------------- ranked reads
    _PG_HIT_COLUMNS = (
        'c.id, d.id, d.title, d.marking_id, d.grade, d.source, d.language, c.text, c.start, c."end"'
    )
    # Ranked reads: a grown passage's opening, as on SQLite.
    _RANKED_HIT_COLUMNS = _PG_HIT_COLUMNS.replace(
        "c.text",
        f'CASE WHEN c."end" - c.start > {PASSAGE_CHARS} '
        f"THEN substr(c.text, 1, {GROWN_OPENING_CHARS}) ELSE c.text END",
    )

    # `_snapshot`'s transaction: PostgreSQL's default reads each statement's own.
    _BEGIN_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def search_text(self, query: str, clearance: Clearance, limit: int) -> list[ChunkHit]:
        """BM25 from the statistics of readable passages only (postgres/fulltext.py),
        every statistic and posting read from one snapshot: a write committed
        meanwhile (a merge of blocks) changes none of them midway."""
        readable = self.readable_marking_ids(clearance)
        with self._snapshot():
            ranked = rank_passages(self._db, query, readable, limit, PostgresSource)
        if not ranked:
            return []
        rows = self._pg.execute(
            f"SELECT {self._RANKED_HIT_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.id = ANY(%s)",
            ([passage.chunk_id for passage in ranked],),
        ).fetchall()
        by_id = {row[0]: row for row in rows}
        return self._hits([(*by_id[p.chunk_id], p.score) for p in ranked])

    def search_vector(self, vector: Vector, clearance: Clearance, limit: int) -> list[ChunkHit]:
        """Cosine similarity: approximate (HNSW), searched in each readable marking's index.

        One index per marking holds that marking's passages only, so the graph a
        reader's search walks is made of passages they may read: what it finds —
        and misses — depends on readable passages alone, and no hidden neighbour
        crowds the reader's out (the under-return of a filtered HNSW scan, pgvector
        issues 259 and 671). Each marking's best `limit` are merged; ties fall to
        document id and offset. Each scan keeps `ef_search_for(graphs)` candidates:
        a reader of few markings searches each graph deeper (the number of
        graphs is readable data too: markings the reader may read that hold
        passages). If fewer come back than the reader may read (an index scan
        cut short), the exact ranking is returned instead: a reader always gets
        min(limit, readable passages) results.
        """
        readable = self.readable_marking_ids(clearance)
        with self._lock:
            return self._hits(self._vector_rows(self._pg, vector, readable, limit))

    def _vector_rows(
        self, pg: psycopg.Connection[Any], vector: Vector, readable: list[int], limit: int
    ) -> list[Any]:
        """`search_vector`'s rows, read on `pg`: this store's connection, or its side one."""
        if limit <= 0 or not readable:
            return []
        # The reader's graphs: readable markings that hold passages, and how many.
        held = dict(
            pg.execute(
                "SELECT marking_id, passages FROM marking_passages "
                "WHERE marking_id = ANY(%s) AND passages > 0",
                (readable,),
            ).fetchall()
        )
        if not held:
            return []
        branches = " UNION ALL ".join(
            f"(SELECT id, embedding <=> %(v)b AS distance FROM chunks "
            f"WHERE marking_id = {int(m)} ORDER BY embedding <=> %(v)b LIMIT %(k)s)"
            for m in sorted(held)
        )
        query = (
            f"SELECT {self._RANKED_HIT_COLUMNS}, 1.0 - x.distance FROM ({branches}) x "
            "JOIN chunks c ON c.id = x.id JOIN documents d ON d.id = c.doc_id "
            "ORDER BY x.distance, d.id, c.start LIMIT %(k)s"
        )
        params = {"v": Embedding(vector), "k": limit}
        ef_search = ef_search_for(len(held))
        if ef_search != EF_SEARCH:
            pg.execute(f"SET hnsw.ef_search = {ef_search}")
        try:
            rows: list[Any] = pg.execute(query, params).fetchall()
        finally:
            if ef_search != EF_SEARCH:
                pg.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        if len(rows) < limit and len(rows) < sum(held.values()):
            rows = self._exact_vector_rows(pg, readable, params)
        return rows

    def _exact_vector_rows(
        self, pg: psycopg.Connection[Any], readable: list[int], params: dict[str, Any]
    ) -> list[Any]:
        # "+ 0" keeps the planner off the HNSW indexes: every readable passage is ranked.
        rows: list[Any] = pg.execute(
            f"SELECT {self._RANKED_HIT_COLUMNS}, 1.0 - (c.embedding <=> %(v)b) "
            "FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.marking_id = ANY(%(m)s) "
            "ORDER BY (c.embedding <=> %(v)b) + 0, d.id, c.start LIMIT %(k)s",
            {**params, "m": readable},
        ).fetchall()
        return rows

    def search_both(
        self, query: str | None, vector: Vector | None, clearance: Clearance, limit: int
    ) -> tuple[list[ChunkHit], list[ChunkHit]]:
        """Both ranked reads of a hybrid search at once: vector search on this
        store's side connection, in its own thread, while full text runs on
        this one. The server does most of either (HNSW scans, block reads), so
        two backends share the cores (README, "Search at scale"). The results
        are `search_text`'s and `search_vector`'s. Inside an open transaction
        they run one after the other on this connection, which alone sees what
        the transaction wrote."""
        if query is None or vector is None or self._db.in_transaction:
            return super().search_both(query, vector, clearance, limit)
        readable = self.readable_marking_ids(clearance)
        side = self._side_reader()
        pending = side.thread.submit(self._vector_rows, side.pg, vector, readable, limit)
        try:
            text = self.search_text(query, clearance, limit)
        finally:
            rows = pending.result()  # never left running on a store handed back
        return text, self._hits(rows)

    def _side_reader(self) -> _SideReader:
        with self._lock:
            if self._side is None:
                self._side = _SideReader(self.url)
            return self._side

    def search_vector_exact(
        self, vector: Vector, clearance: Clearance, limit: int
    ) -> list[ChunkHit]:
        """The exact ranking `search_vector` approximates (benchmarks measure recall by it)."""
        readable = self.readable_marking_ids(clearance)
        if limit <= 0 or not readable:
            return []
        params = {"v": Embedding(vector), "k": limit}
        with self._lock:
            return self._hits(self._exact_vector_rows(self._pg, readable, params))

    def chunks_after(
        self, chunk_id: int, clearance: Clearance, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[ChunkHit, Vector]]:
        """Readable passages stored after `chunk_id` (of `doc_ids` only, when given),
        with their embeddings, in id order."""
        params: dict[str, Any] = {
            "after": chunk_id,
            "readable": self.readable_marking_ids(clearance),
            "docs": list(doc_ids) if doc_ids is not None else None,
        }
        only = "AND c.doc_id = ANY(%(docs)s) " if doc_ids is not None else ""
        rows = self._pg.execute(
            f"SELECT {self._PG_HIT_COLUMNS}, 0.0, c.embedding::text "
            "FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id > %(after)s AND c.marking_id = ANY(%(readable)s) {only}ORDER BY c.id",
            params,
        ).fetchall()
        hits = self._hits([row[:-1] for row in rows])
        return [(hit, _vector_text(row[-1])) for hit, row in zip(hits, rows, strict=True)]

    # -------------------------------------------------------------------- audit
    def _audit_table_present(self) -> bool:
        (present,) = self._pg.execute("SELECT to_regclass('audit') IS NOT NULL").fetchone()
        return bool(present)

    # The append-only triggers as the schema makes them: name → (event, level).
    _AUDIT_TRIGGERS = {
        "audit_no_update": "BEFORE UPDATE ON {table} FOR EACH ROW",
        "audit_no_delete": "BEFORE DELETE ON {table} FOR EACH ROW",
        "audit_no_truncate": "BEFORE TRUNCATE ON {table} FOR EACH STATEMENT",
    }
    _AUDIT_GUARD = "guetteur_audit_append_only"
    _AUDIT_GUARD_BODY = "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END"

    def _check_audit_protection(self) -> None:
        """The audit table's append-only triggers: present, enabled, and raising.

        Without them the chain can be rewritten consistently through SQL, so their
        absence, or a disabled or altered one, is itself a failure.
        """
        (table,) = self._pg.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'audit'::regclass"
        ).fetchone()
        found = {
            name: (definition, enabled, function, body)
            for name, definition, enabled, function, body in self._pg.execute(
                "SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled, p.proname, p.prosrc "
                "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = 'audit'::regclass AND NOT t.tgisinternal"
            )
        }
        problems = []
        for name, timing in sorted(self._AUDIT_TRIGGERS.items()):
            if name not in found:
                problems.append(f"the append-only trigger {name!r} is missing (dropped)")
                continue
            definition, enabled, function, body = found[name]
            expected = f"CREATE TRIGGER {name} {timing.format(table=table)} EXECUTE FUNCTION "
            if (
                not definition.startswith(expected)
                or not definition.endswith(f"{self._AUDIT_GUARD}()")
                or function != self._AUDIT_GUARD
                or " ".join(body.split()) != self._AUDIT_GUARD_BODY
            ):
                problems.append(f"the trigger {name!r} differs from the schema's (altered)")
            elif enabled != "O":
                problems.append(f"the trigger {name!r} is disabled")
        problems += [
            f"an unexpected trigger {name!r} is defined on the audit table"
            for name in sorted(found.keys() - self._AUDIT_TRIGGERS.keys())
        ]
        if problems:
            raise AuditIntegrityError(
                "; ".join(problems) + ": the log was open to rewriting, so its chain proves nothing"
            )


def _metadata(metadata: Any) -> str:
    return json.dumps(dict(metadata), ensure_ascii=False)


def open_postgres(url: str) -> PostgresStore:
    """Open (and bring up to date) the workspace database at `url`; say clearly why not."""
    try:
        return PostgresStore(url)
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        raise WorkspaceError(f"cannot reach the PostgreSQL store: {reason}") from error
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        raise WorkspaceError(f"the PostgreSQL store refused to open: {reason}") from error
