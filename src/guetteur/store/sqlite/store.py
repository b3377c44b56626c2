"""SQLite implementation of the Store contract (the embedded default).

One file per workspace, WAL mode so readers never block the ingest writer.
Full text in FTS5, vectors as float32 blobs ranked with sqlite-vec's distance
functions. Every ranked or listing read restricts rows to the reader's
readable marking ids inside the SQL statement, before ORDER BY and LIMIT.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from guetteur._exceptions import NotFoundError, UnknownUserError, WorkspaceError
from guetteur.model import (
    Alert,
    Clearance,
    Document,
    Grade,
    Indicator,
    Level,
    Marking,
    NetworkEvent,
    Severity,
    WindowsEvent,
)
from guetteur.security.audit import (
    GENESIS,
    AuditIntegrityError,
    AuditRow,
    ChainHead,
    TraceIndex,
    chain_hash,
    verify_chain,
)
from guetteur.security.markings import parse_marking
from guetteur.store.base import (
    PASSAGE_CHARS,
    ChunkHit,
    DocumentStats,
    NewDocument,
    Requirement,
    Spill,
    StoredAlert,
    User,
    Vector,
    WatchHit,
)
from guetteur.store.sqlite import postings
from guetteur.store.sqlite._common import iso, iso_default, now
from guetteur.store.sqlite._connect import IntegrityError, connect
from guetteur.store.sqlite.credentials import CredentialStore
from guetteur.store.sqlite.entities import EntityStore
from guetteur.store.sqlite.fulltext import passage_term_rows, rank_passages
from guetteur.store.sqlite.jobs import JobStore
from guetteur.store.sqlite.logistics import LogisticsStore
from guetteur.store.sqlite.schema import migrate
from guetteur.store.sqlite.tracks import TrackStore
from guetteur.store.sqlite.vectors import CANDIDATES, EXACT_BELOW, PassageBits

__all__ = ["SQLiteStore"]


class SQLiteStore(EntityStore, CredentialStore, TrackStore, LogisticsStore, JobStore):
    """A workspace's records in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self._db = connect(path)
        self._lock = threading.RLock()
        migrate(self._db)
        self._marking_ids: dict[str, int] = {}
        self._markings: dict[int, Marking] = {}
        self._id_key = self._workspace_id_key()
        self._count_older_passage_terms()
        self._pack_older_postings()
        self._passage_bits = PassageBits.of(path)

    def _count_older_passage_terms(self) -> None:
        """Fill passage_terms for passages stored before schema 8 (once)."""
        if self._one("SELECT 1 FROM settings WHERE key = 'passage_terms_counted'"):
            return
        with self._transaction():
            rows = self._db.execute(
                "SELECT c.id, CASE WHEN c.idx = 0 THEN d.title ELSE '' END, c.text "
                "FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE c.id NOT IN (SELECT chunk_id FROM passage_terms)"
            ).fetchall()
            for chunk_id, title, text in rows:
                self._db.executemany(
                    "INSERT INTO passage_terms(term, chunk_id, col, tf) VALUES (?, ?, ?, ?)",
                    passage_term_rows(chunk_id, title, text),
                )
            self._db.execute("DELETE FROM term_passages")
            self._db.execute(
                "INSERT INTO term_passages(term, marking_id, passages) "
                "SELECT t.term, s.marking_id, COUNT(DISTINCT t.chunk_id) "
                "FROM passage_terms t JOIN passage_spans s ON s.chunk_id = t.chunk_id "
                "GROUP BY t.term, s.marking_id"
            )
            self._db.execute(
                "INSERT INTO settings(key, value) VALUES ('passage_terms_counted', '1')"
            )
            self._db.execute("DELETE FROM settings WHERE key = 'term_blocks_built'")

    def _pack_older_postings(self) -> None:
        """Fill term_blocks from passage_terms (schema 17, or after a recount; once)."""
        if self._one("SELECT 1 FROM settings WHERE key = 'term_blocks_built'"):
            return
        with self._transaction():
            postings.rebuild(self._db)
            self._db.execute("INSERT INTO settings(key, value) VALUES ('term_blocks_built', '1')")

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------- settings/users
    def get_setting(self, key: str) -> str | None:
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def add_user(self, name: str, clearance: Clearance, role: str = "analyst") -> None:
        """Add a new user; an existing name is refused (clearances change with set_user)."""
        with self._transaction():
            try:
                self._db.execute(
                    "INSERT INTO users(name, level, nationality, caveats, created_at, role) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        int(clearance.level),
                        clearance.nationality,
                        json.dumps(sorted(clearance.caveats)),
                        now(),
                        role,
                    ),
                )
            except IntegrityError as error:
                raise WorkspaceError(f"user {name!r} already exists") from error

    def set_user(self, name: str, clearance: Clearance, role: str) -> None:
        """Change an existing user's clearance and role."""
        self.get_user(name)
        with self._transaction():
            self._db.execute(
                "UPDATE users SET level = ?, nationality = ?, caveats = ?, role = ? WHERE name = ?",
                (
                    int(clearance.level),
                    clearance.nationality,
                    json.dumps(sorted(clearance.caveats)),
                    role,
                    name,
                ),
            )

    _USER_COLUMNS = "name, level, nationality, caveats, role"

    def get_user(self, name: str) -> User:
        row = self._one(f"SELECT {self._USER_COLUMNS} FROM users WHERE name = ?", (name,))
        if row is None:
            raise UnknownUserError(
                f"unknown user {name!r}: add it with `guetteur users add {name} --clearance ...`"
            )
        return _user(row)

    def list_users(self) -> list[User]:
        rows = self._db.execute(f"SELECT {self._USER_COLUMNS} FROM users ORDER BY name").fetchall()
        return [_user(row) for row in rows]

    # ---------------------------------------------------------- markings/sources
    def source_default_marking(self, source: str) -> Marking | None:
        row = self._one(
            "SELECT m.canonical FROM sources s JOIN markings m ON m.id = s.default_marking_id "
            "WHERE s.name = ?",
            (source,),
        )
        return parse_marking(row[0]) if row else None

    def set_source_default_marking(self, source: str, marking: Marking) -> None:
        with self._transaction():
            marking_id = self._marking_id(marking)
            self._db.execute(
                "INSERT INTO sources(name, default_marking_id) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET default_marking_id = excluded.default_marking_id",
                (source, marking_id),
            )

    # ---------------------------------------------------------------- documents
    def atomic(self) -> AbstractContextManager[None]:
        """One transaction around several calls (a stored batch and its audit record)."""
        return self._transaction()

    def document_id(self, sha256: str, marking: Marking) -> str:
        """The id of this content held at this marking: keyed, so nobody can guess it."""
        return self.opaque_id("document", sha256, str(marking))

    def held_copies(self, sha256s: Sequence[str]) -> dict[str, list[tuple[str, Marking]]]:
        """Every stored copy of each content hash, with its marking: for ingest decisions
        only (duplicates, raises, spills), never shown to a reader."""
        rows = self._db.execute(
            "SELECT sha256, id, marking_id FROM documents "
            "WHERE sha256 IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(list(sha256s)),),
        )
        held: dict[str, list[tuple[str, Marking]]] = {}
        for sha, doc_id, marking_id in rows:
            held.setdefault(sha, []).append((doc_id, self._marking(marking_id)))
        return held

    def remark_document(self, doc_id: str, marking: Marking) -> str:
        """Give a document a new marking; its passages, mentions, events and watch hits
        follow at once. Returns its id under the new marking (ids are keyed by content
        and marking, so that a copy written later at the old marking gets the same id
        in every workspace). Access was decided by the caller."""
        with self._transaction():
            row = self._one("SELECT sha256 FROM documents WHERE id = ?", (doc_id,))
            if row is None:
                raise NotFoundError(f"no document {doc_id!r}")
            new_id = self.document_id(row[0], marking)
            marking_id = self._marking_id(marking)
            if new_id != doc_id and self._one("SELECT 1 FROM documents WHERE id = ?", (new_id,)):
                # The same content is already held at that marking: one copy is enough.
                self._delete_document(doc_id)
                return new_id
            if new_id != doc_id:
                self._db.execute(
                    f"INSERT INTO documents({self._DOC_COLUMNS}) SELECT ?, "
                    + self._DOC_COLUMNS.split(", ", 1)[1]
                    + " FROM documents WHERE id = ?",
                    (new_id, doc_id),
                )
            self._remark_postings(doc_id, marking_id)
            for table in ("chunks", "mentions", "events", "watch_hits"):
                self._db.execute(
                    f"UPDATE {table} SET doc_id = ?, marking_id = ? WHERE doc_id = ?",
                    (new_id, marking_id, doc_id),
                )
            self._db.execute(
                "UPDATE documents SET marking_id = ? WHERE id = ?", (marking_id, new_id)
            )
            if new_id != doc_id:
                self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return new_id

    def withdraw_document(self, doc_id: str) -> None:
        """Remove a document and everything derived from it from every index."""
        with self._transaction():
            if self._one("SELECT 1 FROM documents WHERE id = ?", (doc_id,)) is None:
                raise NotFoundError(f"no document {doc_id!r}")
            self._delete_document(doc_id)

    def _remark_postings(self, doc_id: str, marking_id: int) -> dict[tuple[str, int], int]:
        """Move a document's passages to the blocks of their new marking (term_blocks);
        return how many passages left each (term, old marking). SQLite's trigger on
        chunks moves their counts in term_passages."""
        moved = postings.take_out(self._db, *self._document_terms(doc_id))
        postings.append(self._db, {(term, marking_id): found for (term, _), found in moved.items()})
        return {key: len(found) for key, found in moved.items()}

    def _document_terms(self, doc_id: str) -> tuple[list[int], list[tuple[str, int]]]:
        """A document's passage ids, and the (term, marking id) keys its passages hold."""
        chunk_ids = [
            row[0] for row in self._db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))
        ]
        keys = self._db.execute(
            "SELECT DISTINCT t.term, c.marking_id FROM chunks c "
            "JOIN passage_terms t ON t.chunk_id = c.id WHERE c.doc_id = ?",
            (doc_id,),
        ).fetchall()
        return chunk_ids, [(term, marking_id) for term, marking_id in keys]

    def _forget_postings(self, doc_id: str) -> None:
        """A document's passages leave term_blocks and the per-marking counts
        (before their terms go)."""
        gone = postings.take_out(self._db, *self._document_terms(doc_id))
        postings.uncount(self._db, {key: len(found) for key, found in gone.items()})

    def _delete_document(self, doc_id: str) -> None:
        self._forget_postings(doc_id)
        for table, column in (("chunks_fts", "rowid"), ("passage_terms", "chunk_id")):
            self._db.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM chunks WHERE doc_id = ?)",
                (doc_id,),
            )
        self._db.execute("DELETE FROM watch_hits WHERE doc_id = ?", (doc_id,))
        self._db.execute(
            "DELETE FROM event_participants WHERE event_id IN "
            "(SELECT id FROM events WHERE doc_id = ?)",
            (doc_id,),
        )
        for table in ("events", "mentions", "chunks"):
            self._db.execute(f"DELETE FROM {table} WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        # Entities only this document named would linger as names without evidence.
        self._db.execute(
            "DELETE FROM entities WHERE id NOT IN (SELECT entity_id FROM mentions) "
            "AND id NOT IN (SELECT entity_id FROM event_participants) "
            "AND id NOT IN (SELECT place_entity_id FROM events "
            "WHERE place_entity_id IS NOT NULL)"
        )

    def record_spill(self, spill: Spill) -> None:
        """Content written lower than it is already held: for security officers only."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO spills(at, actor, sha256, doc_id, marking_id, held, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    iso(spill.at),
                    spill.actor,
                    spill.sha256,
                    spill.doc_id,
                    self._marking_id(spill.marking),
                    json.dumps([[d, str(m)] for d, m in spill.held]),
                    spill.origin,
                ),
            )

    def list_spills(self) -> list[Spill]:
        rows = self._db.execute(
            "SELECT at, actor, sha256, doc_id, marking_id, held, origin FROM spills ORDER BY id"
        ).fetchall()
        return [
            Spill(
                at=datetime.fromisoformat(at),
                actor=actor,
                sha256=sha,
                doc_id=doc_id,
                marking=self._marking(marking_id),
                held=tuple((d, parse_marking(m)) for d, m in json.loads(held)),
                origin=origin,
            )
            for at, actor, sha, doc_id, marking_id, held, origin in rows
        ]

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
                        doc.id,
                        doc.sha256,
                        doc.title,
                        doc.text,
                        doc.language,
                        marking_id,
                        str(doc.grade) if doc.grade else None,
                        doc.source,
                        doc.origin,
                        iso(doc.ingested_at),
                        iso(doc.reported_at),
                        json.dumps(dict(doc.metadata), ensure_ascii=False),
                    ),
                )
                if inserted.rowcount == 0:
                    continue  # same content already stored (another run or earlier in batch)
                for chunk, vector in zip(item.chunks, item.embeddings, strict=True):
                    cursor = self._db.execute(
                        "INSERT INTO chunks(doc_id, idx, start, end, marking_id, text, embedding) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            doc.id,
                            chunk.index,
                            chunk.start,
                            chunk.end,
                            marking_id,
                            chunk.text,
                            np.asarray(vector, dtype=np.float32).tobytes(),
                        ),
                    )
                    title = doc.title if chunk.index == 0 else ""
                    self._db.execute(
                        "INSERT INTO chunks_fts(rowid, title, text) VALUES (?, ?, ?)",
                        (cursor.lastrowid, title, chunk.text),
                    )
                    rows = passage_term_rows(cursor.lastrowid, title, chunk.text)
                    self._db.executemany(
                        "INSERT INTO passage_terms(term, chunk_id, col, tf) VALUES (?, ?, ?, ?)",
                        rows,
                    )
                    pending.add_passage(cursor.lastrowid, rows, marking_id, chunk.end - chunk.start)
                    if pending.full:
                        postings.store(self._db, pending)
                self._insert_enrichment(doc.id, marking_id, item.entities, item.events)
                added.append(doc.id)
            postings.store(self._db, pending)
        return added

    def _document(self, row: Sequence[Any]) -> Document:
        (doc_id, sha, title, text, language, marking_id, grade, source, origin, ingested,
         reported, metadata) = row  # fmt: skip
        return Document(
            id=doc_id,
            title=title,
            text=text,
            language=language,
            marking=self._marking(marking_id),
            grade=Grade.parse(grade) if grade else None,
            source=source,
            origin=origin,
            sha256=sha,
            ingested_at=datetime.fromisoformat(ingested),
            reported_at=datetime.fromisoformat(reported) if reported else None,
            metadata=json.loads(metadata),
        )

    _DOC_COLUMNS = (
        "id, sha256, title, text, language, marking_id, grade, source, origin, "
        "ingested_at, reported_at, metadata"
    )

    def get_document(self, doc_id: str, clearance: Clearance) -> Document:
        readable = json.dumps(self.readable_marking_ids(clearance))
        row = self._one(
            f"SELECT {self._DOC_COLUMNS} FROM documents WHERE id = ? "
            "AND marking_id IN (SELECT value FROM json_each(?))",
            (doc_id, readable),
        )
        if row is None:
            # Same answer whether it does not exist or may not be read: the
            # existence of a document is itself information.
            raise NotFoundError(f"no document {doc_id!r}")
        return self._document(row)

    def iter_documents(self, clearance: Clearance, *, text: bool = True) -> Iterator[Document]:
        """The documents `clearance` may read; with `text=False` their text is left
        empty (a listing by time or source must not load every document whole)."""
        readable = json.dumps(self.readable_marking_ids(clearance))
        columns = self._DOC_COLUMNS if text else self._DOC_COLUMNS.replace("text,", "'' AS text,")
        rows = self._db.execute(
            f"SELECT {columns} FROM documents "
            "WHERE marking_id IN (SELECT value FROM json_each(?)) ORDER BY ingested_at, id",
            (readable,),
        )
        for row in rows:
            yield self._document(row)

    def documents_for_maintenance(self) -> Iterator[Document]:
        """Every document, unfiltered: for reindexing only, never shown to a user."""
        # Materialised first: reindex writes while it iterates.
        rows = self._db.execute(f"SELECT {self._DOC_COLUMNS} FROM documents ORDER BY id").fetchall()
        for row in rows:
            yield self._document(row)

    def stats(self, clearance: Clearance) -> DocumentStats:
        readable = json.dumps(self.readable_marking_ids(clearance))
        where = "WHERE d.marking_id IN (SELECT value FROM json_each(?))"
        documents, chunks = self._one(
            f"SELECT COUNT(*), COALESCE(SUM((SELECT COUNT(*) FROM chunks c "
            f"WHERE c.doc_id = d.id)), 0) FROM documents d {where}",
            (readable,),
        )

        def grouped(column: str) -> dict[str, int]:
            rows = self._db.execute(
                f"SELECT {column}, COUNT(*) FROM documents d JOIN markings m "
                f"ON m.id = d.marking_id {where} GROUP BY 1 ORDER BY 2 DESC, 1",
                (readable,),
            )
            return {key: count for key, count in rows}

        return DocumentStats(
            documents=documents,
            chunks=chunks,
            by_marking=grouped("m.canonical"),
            by_language=grouped("d.language"),
            by_source=grouped("d.source"),
        )

    # -------------------------------------------------------------------- cyber
    def add_alerts(self, alerts: Sequence[Alert], marking: Marking, source: str) -> int:
        """Store alerts (one transaction); an alert already stored (same id) is skipped."""
        canonical = str(marking)
        with self._transaction():
            marking_id = self._marking_id(marking)
            before = self._db.total_changes
            # executemany: one prepared statement for the whole batch (the hot path
            # when a CERT loads a day of sensor output); orjson, not json, for the
            # technique list: the stdlib encoder was a sixth of this method.
            self._db.executemany(
                "INSERT OR IGNORE INTO alerts(id, time, detector, signature, rule_id, "
                "severity, host, src, src_port, dst, dst_port, protocol, flow_id, category, "
                f"techniques, raw, source, marking_id) VALUES ({', '.join('?' * 18)})",
                [
                    (
                        # Alert times are UTC already; _iso only for one that is not.
                        # Keyed by the workspace secret and the marking: the same sensor
                        # record held at two markings is two rows, so what a reader
                        # may store never depends on what is held above them.
                        self.opaque_id("alert", a.id, canonical),
                        a.time.isoformat() if a.time.tzinfo is UTC else iso(a.time),
                        a.detector, a.signature, a.rule_id, int(a.severity),
                        a.host, a.src, a.src_port, a.dst, a.dst_port, a.protocol, a.flow_id,
                        a.category, orjson.dumps(a.techniques).decode() if a.techniques else "[]",
                        orjson.dumps(a.raw, default=str).decode(), source, marking_id,
                    )
                    for a in alerts
                ],
            )  # fmt: skip
            return int(self._db.total_changes - before)

    def add_network_events(
        self, events: Sequence[NetworkEvent], marking: Marking, source: str
    ) -> int:
        with self._transaction():
            marking_id = self._marking_id(marking)
            before = self._db.total_changes
            rows = []
            for e in events:
                # The stdlib encoder, not orjson: the id hashes these exact bytes, and
                # a re-ingest after an upgrade must find the events it stored before.
                data = json.dumps(e.data, ensure_ascii=False, sort_keys=True, default=str)
                event_id = hashlib.sha256(f"{marking}|{data}".encode()).hexdigest()[:16]
                rows.append((event_id, iso(e.time), e.event_type, e.flow_id, e.src, e.dst, data,
                             source, marking_id))  # fmt: skip
            self._db.executemany(
                "INSERT OR IGNORE INTO network_events(id, time, event_type, flow_id, src, dst, "
                "data, source, marking_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return int(self._db.total_changes - before)

    def add_windows_events(
        self, events: Sequence[WindowsEvent], marking: Marking, source: str
    ) -> int:
        with self._transaction():
            marking_id = self._marking_id(marking)
            before = self._db.total_changes
            rows = []
            for e in events:
                # Stdlib encoder kept: the id hashes these bytes (see add_network_events).
                data = json.dumps(e.data, ensure_ascii=False, sort_keys=True, default=str)
                identity = f"{marking}|{e.computer}|{e.channel}|{e.record_id}|{iso(e.time)}|{data}"
                event_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
                rows.append((event_id, iso(e.time), e.channel, e.provider, e.event_id,
                             e.computer, e.record_id, data, source, marking_id))  # fmt: skip
            self._db.executemany(
                "INSERT OR IGNORE INTO windows_events(id, time, channel, provider, event_id, "
                "computer, record_id, data, source, marking_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return int(self._db.total_changes - before)

    def windows_events_for_maintenance(self) -> Iterator[tuple[WindowsEvent, Marking, str]]:
        """Every stored Windows event with its marking and source: for running rules only."""
        rows = self._db.execute(
            "SELECT time, channel, provider, event_id, computer, data, record_id, marking_id, "
            "source FROM windows_events ORDER BY time, id"
        ).fetchall()
        for time, channel, provider, event_id, computer, data, record_id, mid, source in rows:
            event = WindowsEvent(
                datetime.fromisoformat(time), channel, provider, event_id, computer,
                json.loads(data), record_id,
            )  # fmt: skip
            yield event, self._marking(mid), source

    def list_alerts(
        self,
        clearance: Clearance,
        since: datetime | None = None,
        rule_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredAlert]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        clauses = ["marking_id IN (SELECT value FROM json_each(:readable))"]
        params: dict[str, Any] = {"readable": readable, "limit": -1 if limit is None else limit}
        if since is not None:
            clauses.append("time >= :since")
            params["since"] = iso(since)
        if rule_id is not None:
            clauses.append("rule_id = :rule_id")
            params["rule_id"] = rule_id
        rows = self._db.execute(
            "SELECT id, time, detector, signature, rule_id, severity, host, src, src_port, dst, "
            "dst_port, protocol, flow_id, category, techniques, raw, marking_id, source "
            f"FROM alerts WHERE {' AND '.join(clauses)} ORDER BY time, id LIMIT :limit",
            params,
        ).fetchall()
        return [
            StoredAlert(
                Alert(
                    row[0],
                    datetime.fromisoformat(row[1]),
                    row[2],
                    row[3],
                    row[4],
                    Severity(row[5]),
                    row[6],
                    row[7],
                    row[8],
                    row[9],
                    row[10],
                    row[11],
                    row[12],
                    row[13],
                    tuple(json.loads(row[14])),
                    json.loads(row[15]),
                ),
                self._marking(row[16]),
                row[17],
            )  # fmt: skip
            for row in rows
        ]

    def add_indicators(self, indicators: Sequence[Indicator], marking: Marking, source: str) -> int:
        added = 0
        with self._transaction():
            marking_id = self._marking_id(marking)
            for indicator in indicators:
                record = {
                    field: getattr(indicator, field) for field in Indicator.__dataclass_fields__
                }
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO indicators(kind, value, origin, source, record, "
                    "marking_id) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        indicator.kind,
                        indicator.value,
                        indicator.origin,
                        source,
                        json.dumps(record, default=iso_default, ensure_ascii=False),
                        marking_id,
                    ),
                )
                added += cursor.rowcount
        return added

    def list_indicators(self, clearance: Clearance) -> list[tuple[Indicator, Marking]]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        rows = self._db.execute(
            "SELECT record, marking_id FROM indicators "
            "WHERE marking_id IN (SELECT value FROM json_each(?)) ORDER BY kind, value, origin",
            (readable,),
        ).fetchall()
        found: list[tuple[Indicator, Marking]] = []
        for record, marking_id in rows:
            fields = json.loads(record)
            for key in ("valid_from", "valid_until"):
                if fields.get(key):
                    fields[key] = datetime.fromisoformat(fields[key])
            found.append((Indicator(**fields), self._marking(marking_id)))
        return found

    def add_sigma_rule(self, key: str, owner: str, rule_id: str, marking: Marking) -> None:
        """Record a loaded rule (its file is kept by the workspace); a reload replaces it."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO sigma_rules(key, owner, rule_id, marking_id, loaded_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "loaded_at = excluded.loaded_at",
                (key, owner, rule_id, self._marking_id(marking), now()),
            )

    def sigma_rules(self) -> list[tuple[str, str, str, Marking]]:
        """Every loaded rule: (key, owner, rule id, marking), for running them only."""
        rows = self._db.execute(
            "SELECT key, owner, rule_id, marking_id FROM sigma_rules ORDER BY key"
        ).fetchall()
        return [(k, o, r, self._marking(m)) for k, o, r, m in rows]

    def set_attack_catalogue(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace the ATT&CK catalogue (the user brings one; a newer one replaces it)."""
        with self._transaction():
            self._db.execute("DELETE FROM attack_techniques")
            self._db.executemany(
                "INSERT INTO attack_techniques(id, record) VALUES (?, ?)",
                [
                    (str(r.get("id") or f"row{n}"), json.dumps(r, ensure_ascii=False))
                    for n, r in enumerate(records)
                ],
            )

    def attack_catalogue(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT record FROM attack_techniques ORDER BY rowid")
        return [json.loads(row[0]) for row in rows]

    # -------------------------------------------------------------- ranked reads
    _HIT_COLUMNS = (
        "c.id, d.id, d.title, d.marking_id, d.grade, d.source, d.language, c.text, c.start, c.end"
    )
    # Ranked reads: a grown passage's opening (schema 18), not its tens of kilobytes.
    _RANKED_HITS = (
        "SELECT "
        + _HIT_COLUMNS.replace(
            "c.text",
            f"CASE WHEN c.end - c.start > {PASSAGE_CHARS} THEN "
            "(SELECT opening FROM passage_openings WHERE chunk_id = c.id) ELSE c.text END",
        )
        + " FROM chunks c JOIN documents d ON d.id = c.doc_id "
        "WHERE c.id IN (SELECT value FROM json_each(?))"
    )

    def _ranked_hits(self, ranked: Sequence[tuple[int, float]]) -> list[ChunkHit]:
        """Hits for (chunk id, score) pairs, in that order."""
        rows = self._db.execute(
            self._RANKED_HITS, (json.dumps([chunk_id for chunk_id, _ in ranked]),)
        ).fetchall()
        by_id = {row[0]: row for row in rows}
        return self._hits([(*by_id[chunk_id], score) for chunk_id, score in ranked])

    def _hits(self, rows: Sequence[Sequence[Any]]) -> list[ChunkHit]:
        return [
            ChunkHit(
                chunk_id=row[0],
                doc_id=row[1],
                title=row[2],
                marking=self._marking(row[3]),
                grade=row[4],
                source=row[5],
                language=row[6],
                text=row[7],
                start=row[8],
                end=row[9],
                score=float(row[10]),
            )
            for row in rows
        ]

    def search_text(self, query: str, clearance: Clearance, limit: int) -> list[ChunkHit]:
        """BM25 from the statistics of readable passages only (store/sqlite/fulltext.py).

        `query` is an FTS5 expression built by search/ (quoted phrases joined
        by OR), not raw user text.
        """
        ranked = rank_passages(self._db, query, self.readable_marking_ids(clearance), limit)
        return self._ranked_hits([(p.chunk_id, p.score) for p in ranked])

    def search_vector(self, vector: Vector, clearance: Clearance, limit: int) -> list[ChunkHit]:
        """Cosine similarity over readable passages, filtered before ranking.

        A reader who may read fewer than EXACT_BELOW passages gets the exact
        ranking (brute force over so few costs what the candidates would).
        Otherwise the candidates are the readable passages closest by sign
        bits (store/sqlite/vectors.py: every passage at least as close as the
        CANDIDATES-th, ties kept), ranked by exact cosine: scores are exact, ties
        fall to document id and offset, and a reader always gets min(limit,
        readable passages) hits. Inside an open transaction the ranking is exact
        (the copy of the bits in memory takes in committed rows only).
        """
        readable_ids = self.readable_marking_ids(clearance)
        candidates = None
        with self._lock:
            if not self._db.in_transaction:
                self._passage_bits.refresh(self._db)
                if self._passage_bits.count(readable_ids) >= EXACT_BELOW:
                    candidates = self._passage_bits.candidates(
                        vector, readable_ids, max(CANDIDATES, limit)
                    ).tolist()
        return self._vector_hits(vector, readable_ids, limit, candidates)

    def search_both(
        self, query: str | None, vector: Vector | None, clearance: Clearance, limit: int
    ) -> tuple[list[ChunkHit], list[ChunkHit]]:
        """Both ranked reads of a hybrid search: `search_text` of `query` and
        `search_vector` of `vector`, each left out (no hits) when None."""
        text = self.search_text(query, clearance, limit) if query is not None else []
        near = self.search_vector(vector, clearance, limit) if vector is not None else []
        return text, near

    def search_vector_exact(
        self, vector: Vector, clearance: Clearance, limit: int
    ) -> list[ChunkHit]:
        """The exact ranking `search_vector` approximates (recall is measured by it)."""
        return self._vector_hits(vector, self.readable_marking_ids(clearance), limit, None)

    def _vector_hits(
        self,
        vector: Vector,
        readable_ids: Sequence[int],
        limit: int,
        candidates: Sequence[int] | None,
    ) -> list[ChunkHit]:
        """Readable passages (among `candidates`, when given) by exact cosine."""
        query = np.asarray(vector, dtype=np.float32).tobytes()
        readable = json.dumps(list(readable_ids))
        # Ids first: ORDER BY ... LIMIT evaluates every selected column of every
        # ranked row, and a grown passage's text is tens of kilobytes.
        if candidates is None:
            ranked = self._db.execute(
                "SELECT c.id, 1.0 - vec_distance_cosine(c.embedding, ?) AS score FROM chunks c "
                "WHERE c.marking_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY score DESC, c.doc_id, c.start LIMIT ?",
                (query, readable, limit),
            ).fetchall()
        else:
            # Driven by the candidates' ids (CROSS JOIN fixes the loop order), the
            # marking checked again on each row.
            ranked = self._db.execute(
                "SELECT c.id, 1.0 - vec_distance_cosine(c.embedding, ?) AS score "
                "FROM json_each(?) AS wanted CROSS JOIN chunks c ON c.id = wanted.value "
                "WHERE c.marking_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY score DESC, c.doc_id, c.start LIMIT ?",
                (query, json.dumps(list(candidates)), readable, limit),
            ).fetchall()
        return self._ranked_hits(ranked)

    def chunks_after(
        self, chunk_id: int, clearance: Clearance, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[ChunkHit, Vector]]:
        """Readable passages stored after `chunk_id` (of `doc_ids` only, when given),
        with their embeddings, in id order."""
        readable = json.dumps(self.readable_marking_ids(clearance))
        only, params = "", [chunk_id, readable]
        if doc_ids is not None:
            only = "AND c.doc_id IN (SELECT value FROM json_each(?)) "
            params.append(json.dumps(list(doc_ids)))
        rows = self._db.execute(
            f"SELECT {self._HIT_COLUMNS}, 0.0, c.embedding "
            "FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.id > ? AND c.marking_id IN (SELECT value FROM json_each(?)) "
            f"{only}ORDER BY c.id",
            params,
        ).fetchall()
        hits = self._hits([row[:-1] for row in rows])
        return [
            (hit, np.frombuffer(row[-1], dtype=np.float32))
            for hit, row in zip(hits, rows, strict=True)
        ]

    def get_chunks(self, chunk_ids: Sequence[int], clearance: Clearance) -> list[ChunkHit]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        rows = self._db.execute(
            f"SELECT {self._HIT_COLUMNS}, 0.0 FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.id IN (SELECT value FROM json_each(?)) "
            "AND c.marking_id IN (SELECT value FROM json_each(?)) ORDER BY c.id",
            (json.dumps(list(chunk_ids)), readable),
        ).fetchall()
        return self._hits(rows)

    # -------------------------------------------------------------------- watch
    _REQUIREMENT_COLUMNS = "id, owner, name, text, created_at, last_chunk_id, last_run_at"

    def _requirement(self, row: Sequence[Any]) -> Requirement:
        rid, owner, name, text, created, last_chunk, last_run = row
        return Requirement(
            rid, owner, name, text, datetime.fromisoformat(created), last_chunk,
            datetime.fromisoformat(last_run) if last_run else None,
        )  # fmt: skip

    def add_requirement(self, owner: str, name: str, text: str) -> Requirement:
        self.get_user(owner)
        with self._transaction():
            try:
                self._db.execute(
                    "INSERT INTO requirements(owner, name, text, created_at) VALUES (?, ?, ?, ?)",
                    (owner, name, text, now()),
                )
            except IntegrityError as error:
                raise WorkspaceError(f"{owner} already has a requirement named {name!r}") from error
        row = self._one(
            f"SELECT {self._REQUIREMENT_COLUMNS} FROM requirements WHERE owner = ? AND name = ?",
            (owner, name),
        )
        assert row is not None
        return self._requirement(row)

    def list_requirements(self, owner: str | None = None) -> list[Requirement]:
        where = "WHERE owner = ?" if owner is not None else ""
        rows = self._db.execute(
            f"SELECT {self._REQUIREMENT_COLUMNS} FROM requirements {where} ORDER BY owner, name",
            (owner,) if owner is not None else (),
        ).fetchall()
        return [self._requirement(row) for row in rows]

    def record_watch_run(
        self, requirement_id: int, hits: Sequence[WatchHit], last_chunk_id: int
    ) -> None:
        found_at = now()
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO watch_hits"
                "(requirement_id, chunk_id, doc_id, marking_id, score, reason, found_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (requirement_id, h.chunk_id, h.doc_id, self._marking_id(h.marking),
                     h.score, h.reason, found_at)
                    for h in hits
                ],
            )  # fmt: skip
            self._db.execute(
                "UPDATE requirements SET last_chunk_id = MAX(last_chunk_id, ?) WHERE id = ?",
                (last_chunk_id, requirement_id),
            )

    def mark_reported(self, requirement_id: int) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE requirements SET last_run_at = ? WHERE id = ?", (now(), requirement_id)
            )

    def watch_hits(
        self, requirement_id: int, clearance: Clearance, since: datetime | None = None
    ) -> list[WatchHit]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        rows = self._db.execute(
            "SELECT requirement_id, chunk_id, doc_id, marking_id, score, reason, found_at "
            "FROM watch_hits WHERE requirement_id = ? AND found_at > ? "
            "AND marking_id IN (SELECT value FROM json_each(?)) ORDER BY found_at, score DESC",
            (requirement_id, iso(since) if since else "", readable),
        ).fetchall()
        return [
            WatchHit(rid, cid, doc, self._marking(mid), score, reason,
                     datetime.fromisoformat(found))
            for rid, cid, doc, mid, score, reason, found in rows
        ]  # fmt: skip

    # -------------------------------------------------------------------- audit
    def audit(self, actor: str, action: str, detail: Mapping[str, Any]) -> AuditRow:
        detail = json.loads(json.dumps(detail, ensure_ascii=False, default=str))
        with self._transaction():
            head = self._one("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
            row_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
            at = now()
            digest = chain_hash(prev, row_id, at, actor, action, detail)
            self._db.execute(
                "INSERT INTO audit(id, at, actor, action, detail, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row_id, at, actor, action, json.dumps(detail, sort_keys=True), prev, digest),
            )
            for key, value in (("audit_head_count", str(row_id)), ("audit_head_hash", digest)):
                self._db.execute(
                    "INSERT INTO settings(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
        return AuditRow(row_id, at, actor, action, detail, prev, digest)

    def audit_rows(self) -> Iterator[AuditRow]:
        rows = self._db.execute(
            "SELECT id, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY id"
        )
        for row_id, at, actor, action, detail, prev, digest in rows:
            yield AuditRow(row_id, at, actor, action, json.loads(detail), prev, digest)

    # Opens a read transaction whose reads see one snapshot (SQLite's deferred
    # BEGIN takes it at the first read; PostgreSQL's store says REPEATABLE READ).
    _BEGIN_SNAPSHOT = "BEGIN"

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """The block's reads see one snapshot of the store (inside a transaction
        already open, that one's)."""
        with self._lock:
            began = not self._db.in_transaction
            if began:
                self._db.execute(self._BEGIN_SNAPSHOT)
            try:
                yield
            finally:
                if began:
                    self._db.execute("COMMIT")

    def _audit_table_present(self) -> bool:
        return (
            self._one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'")
            is not None
        )

    def verify_audit(self, extends: ChainHead | None = None) -> tuple[int, str]:
        """(rows, head hash) of an intact, protected and complete chain.

        AuditChainError at the first bad row (or where the chain leaves `extends`,
        an anchored point); AuditIntegrityError when the audit table or its
        append-only triggers are missing or altered, or when a stored document or
        user has no audit record.
        """
        # One read snapshot: an append by another process between reading the
        # head and the rows must not look like tampering.
        with self._snapshot():
            # The table first (nothing to read without it), then the chain, so
            # an edited row is named; then what makes a consistent rewrite
            # possible (no triggers), then what the log does not account for.
            if not self._audit_table_present():
                raise AuditIntegrityError("the audit table is missing (dropped)")
            count = self.get_setting("audit_head_count")
            digest = self.get_setting("audit_head_hash")
            head = None
            if count is not None or digest is not None:
                head = ChainHead(int(count or 0), digest or GENESIS)
            traces = TraceIndex()
            rows = verify_chain(traces.noting(self.audit_rows()), head, extends)
            self._check_audit_protection()
            traces.check(
                (doc_id for (doc_id,) in self._db.execute("SELECT id FROM documents")),
                (name for (name,) in self._db.execute("SELECT name FROM users")),
            )
        return rows, head.hash if head is not None else GENESIS

    def _check_audit_protection(self) -> None:
        """The audit table and its append-only triggers, exactly as the schema makes them.

        The triggers are what stops an UPDATE or DELETE through SQL; without them
        the chain can be rewritten consistently, so their absence is itself a failure.
        """
        listing = (
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE tbl_name = 'audit' AND type IN ('table', 'trigger')"
        )
        reference = connect(":memory:")
        try:
            migrate(reference)
            expected = {(kind, name): sql for kind, name, sql in reference.execute(listing)}
        finally:
            reference.close()
        found = {(kind, name): sql for kind, name, sql in self._db.execute(listing)}
        problems = []
        for (kind, name), sql in sorted(expected.items()):
            if (kind, name) not in found:
                problems.append(f"the append-only {kind} {name!r} is missing (dropped)")
            elif found[kind, name] != sql:
                problems.append(f"the {kind} {name!r} differs from the schema's (altered)")
        problems += [
            f"an unexpected {kind} {name!r} is defined on the audit table"
            for kind, name in sorted(found.keys() - expected.keys())
        ]
        if problems:
            raise AuditIntegrityError(
                "; ".join(problems) + ": the log was open to rewriting, so its chain proves nothing"
            )


def _user(row: Sequence[Any]) -> User:
    name, level, nationality, caveats, role = row
    return User(name, Clearance(Level(level), nationality, frozenset(json.loads(caveats))), role)


def open_store(path: Path) -> SQLiteStore:
    """Open an existing workspace database; refuse a file that is not one."""
    try:
        return SQLiteStore(path)
    except Exception as error:  # sqlean.DatabaseError on a non-database file
        if isinstance(error, WorkspaceError):
            raise
        raise WorkspaceError(f"{path}: not a guetteur workspace database ({error})") from error
