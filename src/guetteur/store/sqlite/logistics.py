"""Logistics tables in the SQLite store: marked rows of depots, units, vehicles,
consumption, windows and distance matrices.

Part of `SQLiteStore` (a mixin, like tracks.py). A row is keyed by (kind,
key, marking): imported again at the same marking it replaces the older row
(and moves to the end of the insertion order), at another marking it is
another row. Reads restrict rows to the reader's readable marking ids inside
the query, then keep, for each (kind, key), the row inserted last among
those: rows above the reader neither show nor hide anything, and rows are
returned by kind and key, never by row id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from guetteur.model import Clearance
from guetteur.store.base import LogisticsRecord
from guetteur.store.sqlite._common import StoreCore, now

__all__ = ["LogisticsStore"]


class LogisticsStore(StoreCore):
    """Logistics writes and reads of `SQLiteStore` (schema 12)."""

    def add_logistics_records(self, records: Sequence[LogisticsRecord], actor: str) -> None:
        """Store each record; one already held at the same (kind, key, marking) is replaced."""
        at = now()
        with self._transaction():
            for record in records:
                self._db.execute(
                    "DELETE FROM logistics_rows WHERE kind = ? AND key = ? AND marking_id = ?",
                    (record.kind, record.key, self._marking_id(record.marking)),
                )
                self._db.execute(
                    "INSERT INTO logistics_rows(kind, key, marking_id, data, origin, imported_by, "
                    "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.kind,
                        record.key,
                        self._marking_id(record.marking),
                        json.dumps(dict(record.data), ensure_ascii=False, sort_keys=True),
                        record.origin,
                        actor,
                        at,
                    ),
                )

    def list_logistics_records(
        self, clearance: Clearance, kinds: Sequence[str] | None = None
    ) -> list[LogisticsRecord]:
        """Per (kind, key), the latest row the reader may read; by kind, then key."""
        params: dict[str, str] = {
            "readable": json.dumps(self.readable_marking_ids(clearance)),
            "kinds": json.dumps(list(kinds) if kinds is not None else []),
        }
        only = "AND kind IN (SELECT value FROM json_each(:kinds)) " if kinds is not None else ""
        rows = self._db.execute(
            "SELECT kind, key, marking_id, data, origin FROM ("
            "  SELECT *, ROW_NUMBER() OVER (PARTITION BY kind, key ORDER BY id DESC) AS n "
            "  FROM logistics_rows "
            f"  WHERE marking_id IN (SELECT value FROM json_each(:readable)) {only}"
            ") WHERE n = 1 ORDER BY kind, key",
            params,
        ).fetchall()
        return [
            LogisticsRecord(kind, key, self._marking(marking_id), json.loads(data), origin)
            for kind, key, marking_id, data, origin in rows
        ]
