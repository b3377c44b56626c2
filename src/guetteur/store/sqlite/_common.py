"""What every part of the SQLite store shares: the connection, transactions,
interned markings and keyed ids.

`SQLiteStore` is assembled from one class per concern (documents, entities,
…); each builds on `StoreCore`, which owns the connection and the helpers
they all use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from guetteur._exceptions import WorkspaceError
from guetteur.model import Clearance, Marking
from guetteur.security.markings import may_read, parse_marking

__all__ = ["StoreCore", "iso", "iso_default", "now"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def iso_default(value: object) -> str:
    """json.dumps default: datetimes as ISO 8601 UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


class StoreCore:
    """The connection and the helpers every part of the store uses."""

    _db: Any
    _lock: threading.RLock
    _marking_ids: dict[str, int]
    _markings: dict[int, Marking]
    _id_key: bytes

    # ------------------------------------------------------------------ helpers
    def _one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        return self._db.execute(sql, params).fetchone()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # ---------------------------------------------------------------------- ids
    def _workspace_id_key(self) -> bytes:
        """The workspace's secret for opaque ids, made once when the store is new."""
        with self._transaction():
            row = self._one("SELECT value FROM settings WHERE key = 'id_secret'")
            if row is None:
                value = secrets.token_hex(32)
                self._db.execute(
                    "INSERT INTO settings(key, value) VALUES ('id_secret', ?)", (value,)
                )
                return bytes.fromhex(value)
        return bytes.fromhex(row[0])

    def set_id_secret(self, value: str) -> None:
        """Replace the id secret of an empty store (twin workspaces in tests share one)."""
        if self._one("SELECT 1 FROM documents LIMIT 1") is not None:
            raise WorkspaceError("the id secret of a store that holds documents cannot change")
        with self._transaction():
            self._db.execute("UPDATE settings SET value = ? WHERE key = 'id_secret'", (value,))
        self._id_key = bytes.fromhex(value)

    def opaque_id(self, kind: str, *parts: str) -> str:
        """An id nobody can compute or confirm without the workspace's secret.

        Keyed (HMAC-SHA256), never a bare content hash or a running number: a
        guessed text or name cannot be confirmed offline, and a gap in a sequence
        reveals nothing about records the reader may not see.
        """
        message = "\x1f".join((kind, *parts)).encode("utf-8")
        return hmac.new(self._id_key, message, hashlib.sha256).hexdigest()[:20]

    def _marking(self, marking_id: int) -> Marking:
        if marking_id not in self._markings:
            self._load_markings()
        return self._markings[marking_id]

    def _load_markings(self) -> None:
        # Markings other connections added since; one already known is not parsed
        # again (a marking's row never changes).
        for marking_id, canonical in self._db.execute("SELECT id, canonical FROM markings"):
            if self._marking_ids.get(canonical) != marking_id:
                self._markings[marking_id] = parse_marking(canonical)
                self._marking_ids[canonical] = marking_id

    def _marking_id(self, marking: Marking) -> int:
        """Intern a marking (inside the caller's transaction)."""
        canonical = str(marking)
        if canonical not in self._marking_ids:
            self._db.execute("INSERT OR IGNORE INTO markings(canonical) VALUES (?)", (canonical,))
            (marking_id,) = self._one("SELECT id FROM markings WHERE canonical = ?", (canonical,))
            self._marking_ids[canonical] = marking_id
            self._markings[marking_id] = marking
        return self._marking_ids[canonical]

    def readable_marking_ids(self, clearance: Clearance) -> list[int]:
        # Markings are few (dozens); deciding each with may_read keeps one access
        # rule in Python, and the ids then go into every query's WHERE clause.
        self._load_markings()
        return sorted(mid for mid, m in self._markings.items() if may_read(clearance, m))


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error; re-entrant within a thread."""

    def __init__(self, db: Any, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._outer = not self._db.in_transaction
            if self._outer:
                self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            # A BEGIN that fails (busy past the timeout) must not keep the lock:
            # every later transaction on this connection would wait for ever.
            self._lock.release()
            raise

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if self._outer:
                self._db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self._lock.release()
