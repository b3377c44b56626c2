"""Entities and events in the SQLite store: what each reader may know of them.

Part of `SQLiteStore` (a mixin, to keep this concern in one file): mentions
and events carry their document's marking, and every read here computes
names, aliases, co-occurrences and events from the mentions the reader may
read, filtered inside the query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from guetteur._exceptions import NotFoundError
from guetteur._text import fold as fold_name
from guetteur.model import Clearance, EntityRef, Event
from guetteur.store.base import (
    BBox,
    DocumentMention,
    EntityDetail,
    EntitySummary,
    EventRow,
    MentionRow,
)
from guetteur.store.sqlite._common import StoreCore, iso

__all__ = ["EntityStore"]


class EntityStore(StoreCore):
    """Entity and event writes and reads of `SQLiteStore`."""

    # ---------------------------------------------------------- entities/events
    def entity_keys(self) -> list[tuple[str, str]]:
        return [(t, k) for t, k in self._db.execute("SELECT type, key FROM entities")]

    def replace_enrichment(
        self, doc_id: str, entities: Sequence[EntityRef], events: Sequence[Event]
    ) -> None:
        """Swap a document's mentions and events for new ones (reindex), atomically."""
        with self._transaction():
            row = self._one("SELECT marking_id FROM documents WHERE id = ?", (doc_id,))
            if row is None:
                raise NotFoundError(f"no document {doc_id!r}")
            self._db.execute("DELETE FROM mentions WHERE doc_id = ?", (doc_id,))
            self._db.execute("DELETE FROM events WHERE doc_id = ?", (doc_id,))
            self._insert_enrichment(doc_id, row[0], entities, events)
            # Entities no document mentions any more would linger as names without
            # evidence; drop them.
            self._db.execute(
                "DELETE FROM entities WHERE id NOT IN (SELECT entity_id FROM mentions) "
                "AND id NOT IN (SELECT entity_id FROM event_participants) "
                "AND id NOT IN (SELECT place_entity_id FROM events "
                "WHERE place_entity_id IS NOT NULL)"
            )

    def _upsert_entity(self, ref: EntityRef) -> None:
        canonical = ref.name if (ref.geonameid is not None or ref.mention.canonical) else None
        self._db.execute(
            "INSERT INTO entities(id, type, key, canonical, lat, lon, geonameid) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "canonical = COALESCE(entities.canonical, excluded.canonical), "
            "lat = COALESCE(entities.lat, excluded.lat), "
            "lon = COALESCE(entities.lon, excluded.lon), "
            "geonameid = COALESCE(entities.geonameid, excluded.geonameid)",
            (ref.entity_id, ref.type, ref.key, canonical, ref.lat, ref.lon, ref.geonameid),
        )

    def _insert_enrichment(
        self, doc_id: str, marking_id: int, entities: Sequence[EntityRef], events: Sequence[Event]
    ) -> None:
        for ref in entities:
            self._upsert_entity(ref)
            self._db.execute(
                "INSERT INTO mentions(entity_id, doc_id, marking_id, start, end, text, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    ref.entity_id,
                    doc_id,
                    marking_id,
                    ref.mention.start,
                    ref.mention.end,
                    ref.mention.text,
                    ref.mention.source,
                ),
            )
        for event in events:
            if event.place is not None:
                self._upsert_entity(event.place)
            cursor = self._db.execute(
                "INSERT INTO events(doc_id, marking_id, kind, what, start, end, at, lat, lon, "
                "place_entity_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    marking_id,
                    event.kind,
                    event.what,
                    event.start,
                    event.end,
                    iso(event.when),
                    event.lat,
                    event.lon,
                    event.place.entity_id if event.place else None,
                    json.dumps(event.detail, ensure_ascii=False),
                ),
            )
            for ref in {p.entity_id: p for p in event.participants}.values():
                self._upsert_entity(ref)
                self._db.execute(
                    "INSERT OR IGNORE INTO event_participants(event_id, entity_id) VALUES (?, ?)",
                    (cursor.lastrowid, ref.entity_id),
                )

    # An entity's name for a reader: its canonical name when the lexicon or the
    # gazetteer gave one, else the surface form most often seen in documents
    # *that reader* may read — never a spelling taken from a document they may not.
    _ENTITY_SUMMARY = """
        SELECT e.id,
               COALESCE(e.canonical, (
                   SELECT m2.text FROM mentions m2
                   WHERE m2.entity_id = e.id
                     AND m2.marking_id IN (SELECT value FROM json_each(:readable))
                   GROUP BY m2.text ORDER BY COUNT(*) DESC, m2.text LIMIT 1)) AS name,
               e.type, COUNT(*) AS mentions, COUNT(DISTINCT m.doc_id) AS documents, e.lat, e.lon
        FROM entities e JOIN mentions m ON m.entity_id = e.id
        WHERE m.marking_id IN (SELECT value FROM json_each(:readable)) {where}
        GROUP BY e.id
    """

    def _summaries(self, rows: Iterable[Sequence[Any]]) -> list[EntitySummary]:
        return [EntitySummary(*row) for row in rows]

    def list_entities(
        self, clearance: Clearance, entity_type: str | None = None
    ) -> list[EntitySummary]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        where = "AND e.type = :type" if entity_type else ""
        rows = self._db.execute(
            self._ENTITY_SUMMARY.format(where=where) + " ORDER BY mentions DESC, name",
            {"readable": readable, "type": entity_type},
        )
        return self._summaries(rows)

    def get_entity(self, name_or_id: str, clearance: Clearance) -> EntityDetail:
        """An entity by id, canonical name or any readable alias (accents and case folded)."""
        readable = json.dumps(self.readable_marking_ids(clearance))
        params = {"readable": readable, "needle": name_or_id}
        found = self._db.execute(
            self._ENTITY_SUMMARY.format(where="AND e.id = :needle"), params
        ).fetchall()
        if not found:
            folded = fold_name(name_or_id)
            candidates = self._db.execute(
                "SELECT DISTINCT e.id, e.canonical, m.text FROM entities e "
                "JOIN mentions m ON m.entity_id = e.id "
                "WHERE m.marking_id IN (SELECT value FROM json_each(?))",
                (readable,),
            ).fetchall()
            ids = [
                entity
                for entity, canonical, text in candidates
                if folded in (fold_name(canonical or ""), fold_name(text))
            ]
            if ids:
                # The most mentioned entity wins when one name designates several.
                found = self._db.execute(
                    self._ENTITY_SUMMARY.format(
                        where="AND e.id IN (SELECT value FROM json_each(:ids))"
                    )
                    + " ORDER BY mentions DESC LIMIT 1",
                    {**params, "ids": json.dumps(ids)},
                ).fetchall()
        if not found:
            raise NotFoundError(f"no entity {name_or_id!r}")
        (summary,) = self._summaries(found)
        mention_rows = self._db.execute(
            "SELECT doc_id, text, start, end, marking_id FROM mentions WHERE entity_id = ? "
            "AND marking_id IN (SELECT value FROM json_each(?)) ORDER BY doc_id, start",
            (summary.id, readable),
        ).fetchall()
        mentions = [
            MentionRow(doc, text, start, end, self._marking(mid))
            for doc, text, start, end, mid in mention_rows
        ]
        aliases = sorted({m.text for m in mentions} | {summary.name})
        cooccurring = self._db.execute(
            self._ENTITY_SUMMARY.format(
                where="AND m.doc_id IN (SELECT doc_id FROM mentions WHERE entity_id = :id "
                "AND marking_id IN (SELECT value FROM json_each(:readable))) AND e.id != :id"
            )
            + " ORDER BY documents DESC, mentions DESC, name LIMIT 20",
            {"readable": readable, "id": summary.id},
        )
        return EntityDetail(summary, aliases, mentions, self._summaries(cooccurring))

    def list_events(
        self, clearance: Clearance, since: datetime | None = None, bbox: BBox | None = None
    ) -> list[EventRow]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        clauses = ["ev.marking_id IN (SELECT value FROM json_each(:readable))"]
        params: dict[str, Any] = {"readable": readable}
        if since is not None:
            clauses.append("ev.at >= :since")
            params["since"] = iso(since)
        if bbox is not None:
            clauses.append("ev.lon BETWEEN :west AND :east AND ev.lat BETWEEN :south AND :north")
            params.update(zip(("west", "south", "east", "north"), bbox, strict=True))
        rows = self._db.execute(
            "SELECT ev.id, ev.doc_id, ev.kind, ev.what, ev.start, ev.end, ev.at, ev.lat, ev.lon, "
            "e.canonical, ev.marking_id, ev.detail FROM events ev "
            "LEFT JOIN entities e ON e.id = ev.place_entity_id "
            f"WHERE {' AND '.join(clauses)} ORDER BY ev.at IS NULL, ev.at, ev.id",
            params,
        ).fetchall()
        events: list[EventRow] = []
        for event_id, doc, kind, what, start, end, at, lat, lon, place, mid, detail in rows:
            participants = [
                (entity, self._entity_name(entity, readable), entity_type)
                for entity, entity_type in self._db.execute(
                    "SELECT p.entity_id, e.type FROM event_participants p "
                    "JOIN entities e ON e.id = p.entity_id WHERE p.event_id = ? ORDER BY e.type",
                    (event_id,),
                )
            ]
            events.append(
                EventRow(
                    event_id, doc, kind, what, start, end,
                    datetime.fromisoformat(at) if at else None, lat, lon, place,
                    participants, self._marking(mid), json.loads(detail),
                )
            )  # fmt: skip
        return events

    def _entity_name(self, entity_id: str, readable: str) -> str:
        row = self._one(
            self._ENTITY_SUMMARY.format(where="AND e.id = :id"),
            {"readable": readable, "id": entity_id},
        )
        return str(row[1]) if row else entity_id

    def document_mentions(
        self, doc_ids: Sequence[str], clearance: Clearance
    ) -> list[DocumentMention]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        rows = self._db.execute(
            "SELECT m.doc_id, e.id, COALESCE(e.canonical, m.text), e.type, m.start, m.end "
            "FROM mentions m JOIN entities e ON e.id = m.entity_id "
            "WHERE m.doc_id IN (SELECT value FROM json_each(?)) "
            "AND m.marking_id IN (SELECT value FROM json_each(?)) ORDER BY m.doc_id, m.start",
            (json.dumps(list(doc_ids)), readable),
        ).fetchall()
        return [DocumentMention(*row) for row in rows]
