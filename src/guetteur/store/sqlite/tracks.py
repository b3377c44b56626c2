"""Tracks in the SQLite store: positions reported by CoT, each with its own marking.

Part of `SQLiteStore` (a mixin, like entities.py). A row is one position
report — uid, time, marking, and the type, callsign and group that report
gave — keyed by (uid, time, marking). Reads restrict rows to the reader's
readable marking ids inside the query, then draw each track from what is
left (`model.draw_track`): a reader's track, its last position, type and
callsign come from positions they may read only. Rows are ordered by
canonical marking text, never by marking id or row id, which follow the
order records arrived in and so differ between workspaces holding the same
readable positions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from guetteur._exceptions import NotFoundError
from guetteur.model import Clearance, Position, PositionReport, Track, draw_track
from guetteur.store.base import BBox
from guetteur.store.sqlite._common import StoreCore

__all__ = ["TrackStore", "stamp"]

_COLUMNS = (
    "p.uid, p.type, p.callsign, p.grp, p.time, p.lat, p.lon, p.hae, p.ce, p.le, p.course, "
    "p.speed, p.how, p.stale, p.source, p.doc_id, p.remarks, p.marking_id"
)


def stamp(moment: datetime) -> str:
    """A time as stored: ISO 8601 UTC with microseconds, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class TrackStore(StoreCore):
    """Track writes and reads of `SQLiteStore` (schema 11)."""

    def add_positions(self, reports: Sequence[PositionReport]) -> list[bool]:
        """Store each report; for each, True if added, False if its (uid, time, marking)
        was already held (received before, or earlier in `reports`)."""
        added: list[bool] = []
        with self._transaction():
            for report in reports:
                p = report.position
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO track_positions(uid, time, marking_id, type, callsign, "
                    "grp, lat, lon, hae, ce, le, course, speed, how, stale, source, doc_id, "
                    "remarks, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        report.uid,
                        stamp(p.time),
                        self._marking_id(p.marking),
                        report.type,
                        report.callsign,
                        report.group,
                        p.lat,
                        p.lon,
                        p.hae,
                        p.ce,
                        p.le,
                        p.course,
                        p.speed,
                        p.how,
                        stamp(p.stale) if p.stale else None,
                        p.source,
                        p.doc_id,
                        p.remarks,
                        stamp(datetime.now(UTC)),
                    ),
                )
                added.append(cursor.rowcount > 0)
        return added

    def list_tracks(
        self, clearance: Clearance, bbox: BBox | None = None, since: datetime | None = None
    ) -> list[Track]:
        """Tracks drawn by the reader's readable positions (at or after `since`), those
        whose last such position lies in `bbox` when one is given; by uid."""
        params: dict[str, Any] = {
            "readable": json.dumps(self.readable_marking_ids(clearance)),
            "since": stamp(since) if since is not None else "",
        }
        in_box = ""
        if bbox is not None:
            params.update(zip(("west", "south", "east", "north"), bbox, strict=True))
            in_box = (
                "WHERE p.uid IN (SELECT uid FROM (SELECT uid, lat, lon, ROW_NUMBER() OVER "
                "(PARTITION BY uid ORDER BY time DESC, canonical DESC) AS n FROM readable) "
                "WHERE n = 1 AND lon BETWEEN :west AND :east AND lat BETWEEN :south AND :north) "
            )
        rows = self._db.execute(
            "WITH readable AS (SELECT p.*, m.canonical FROM track_positions p "
            "JOIN markings m ON m.id = p.marking_id "
            "WHERE p.marking_id IN (SELECT value FROM json_each(:readable)) "
            "AND p.time >= :since) "
            f"SELECT {_COLUMNS} FROM readable p {in_box}ORDER BY p.uid, p.time, p.canonical",
            params,
        ).fetchall()
        return self._tracks(rows)

    def get_track(self, uid: str, clearance: Clearance) -> Track:
        """The track as the reader's readable positions draw it; NotFoundError, with the
        same message, whether it does not exist or the reader may read none of it."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM track_positions p JOIN markings m ON m.id = p.marking_id "
            "WHERE p.uid = ? AND p.marking_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY p.time, m.canonical",
            (uid, json.dumps(self.readable_marking_ids(clearance))),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no track {uid!r}")
        return self._tracks(rows)[0]

    def _tracks(self, rows: Sequence[Sequence[Any]]) -> list[Track]:
        by_uid: dict[str, list[PositionReport]] = {}
        for row in rows:
            (uid, kind, callsign, group, time, lat, lon, hae, ce, le, course, speed, how, stale,
             source, doc_id, remarks, marking_id) = row  # fmt: skip
            position = Position(
                time=datetime.fromisoformat(time),
                lat=lat,
                lon=lon,
                marking=self._marking(marking_id),
                source=source,
                hae=hae,
                ce=ce,
                le=le,
                course=course,
                speed=speed,
                how=how,
                stale=datetime.fromisoformat(stale) if stale else None,
                doc_id=doc_id,
                remarks=remarks,
            )
            by_uid.setdefault(uid, []).append(PositionReport(uid, kind, callsign, group, position))
        return [draw_track(uid, reports) for uid, reports in sorted(by_uid.items())]
