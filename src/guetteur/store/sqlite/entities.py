"""Entities and events in the SQLite store: what each reader may know of them.

Part of `SQLiteStore` (a mixin, to keep this concern in one file). Enrichment
hands over mentions resolved to exact keys; they are stored as they are, each
with its document's marking, so what is stored never depends on what else
the store holds. Everything a reader is shown is then computed from the
mentions *that reader* may read, filtered inside the query: which spellings
form one entity (`group_similar_names`), its name, aliases, counts,
coordinates and co-occurrences. Ids are keyed with the workspace's secret
(`opaque_id`): an entity's from its type and key, an event's from its
document and its rank in it — never a bare hash of a name, never a running
number whose gaps would count hidden events.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guetteur._exceptions import NotFoundError
from guetteur._text import fold as fold_name
from guetteur.enrich.resolution import group_similar_names
from guetteur.model import Clearance, EntityRef, Event
from guetteur.security.markings import high_water_mark
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

COOCCURRING_LIMIT = 20


@dataclass
class _Known:
    """One stored entity as a reader knows it: from their readable mentions only."""

    type: str
    key: str
    lat: float | None
    lon: float | None
    mentions: int = 0
    per_document: Counter[str] = field(default_factory=Counter)
    surfaces: Counter[str] = field(default_factory=Counter)
    canonicals: Counter[str] = field(default_factory=Counter)
    marking_ids: set[int] = field(default_factory=set)  # of the documents that mention it


@dataclass(frozen=True)
class _Group:
    """Stored entities one reader sees as one (spellings of one name), with its summary."""

    summary: EntitySummary
    aliases: tuple[str, ...]
    per_document: Counter[str]


@dataclass(frozen=True)
class _ReaderView:
    groups: dict[str, _Group]  # by the id the reader sees
    group_of_row: dict[str, str]  # stored entity row → group id
    group_of_id: dict[str, str]  # the id of any member → group id


def _most_common(counts: Counter[str]) -> str | None:
    """The most frequent value, ties broken alphabetically (never by insertion order)."""
    return min(counts.items(), key=lambda item: (-item[1], item[0]))[0] if counts else None


class EntityStore(StoreCore):
    """Entity and event writes and reads of `SQLiteStore`."""

    # ------------------------------------------------------------------- writes
    def replace_enrichment(
        self, doc_id: str, entities: Sequence[EntityRef], events: Sequence[Event]
    ) -> None:
        """Swap a document's mentions and events for new ones (reindex), atomically."""
        with self._transaction():
            row = self._one("SELECT marking_id FROM documents WHERE id = ?", (doc_id,))
            if row is None:
                raise NotFoundError(f"no document {doc_id!r}")
            self._db.execute(
                "DELETE FROM event_participants WHERE event_id IN "
                "(SELECT id FROM events WHERE doc_id = ?)",
                (doc_id,),
            )
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

    def entity_public_id(self, entity_type: str, key: str) -> str:
        """The id readers see for the entity a (type, key) designates."""
        return self.opaque_id("entity", entity_type, key)

    def _upsert_entity(self, ref: EntityRef) -> str:
        """The stored row of `ref`'s (type, key), made if new; returns its id.

        Rows of workspaces made before schema 7 keep their old ids: readers only
        ever see `entity_public_id`, computed from type and key.
        """
        (row_id,) = self._one(
            "INSERT INTO entities(id, type, key, lat, lon, geonameid) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(type, key) DO UPDATE SET "
            "lat = COALESCE(entities.lat, excluded.lat), "
            "lon = COALESCE(entities.lon, excluded.lon), "
            "geonameid = COALESCE(entities.geonameid, excluded.geonameid) RETURNING id",
            (
                self.entity_public_id(ref.type, ref.key),
                ref.type,
                ref.key,
                ref.lat,
                ref.lon,
                ref.geonameid,
            ),
        )
        return str(row_id)

    def _insert_enrichment(
        self, doc_id: str, marking_id: int, entities: Sequence[EntityRef], events: Sequence[Event]
    ) -> None:
        for ref in entities:
            # The lexicon's or gazetteer's name, kept per mention: an entity is
            # named after it only for readers who may read a mention that gave it.
            canonical = ref.name if (ref.geonameid is not None or ref.mention.canonical) else None
            self._db.execute(
                "INSERT INTO mentions(entity_id, doc_id, marking_id, start, end, text, source, "
                "canonical) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._upsert_entity(ref),
                    doc_id,
                    marking_id,
                    ref.mention.start,
                    ref.mention.end,
                    ref.mention.text,
                    ref.mention.source,
                    canonical,
                ),
            )
        # Events are inserted in the order enrichment found them: their rank in the
        # document (by row id) is part of their public id.
        for event in events:
            place_row = self._upsert_entity(event.place) if event.place is not None else None
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
                    place_row,
                    json.dumps(event.detail, ensure_ascii=False),
                ),
            )
            for ref in {p.entity_id: p for p in event.participants}.values():
                self._db.execute(
                    "INSERT OR IGNORE INTO event_participants(event_id, entity_id) VALUES (?, ?)",
                    (cursor.lastrowid, self._upsert_entity(ref)),
                )

    # -------------------------------------------------------------------- reads
    def _reader_view(self, readable: str, entity_type: str | None = None) -> _ReaderView:
        """Every entity the reader may know of, grouped and summarised from their mentions.

        A few thousand mention rows on a staff workspace: aggregated in SQL, then
        grouped in Python (`group_similar_names` over the readable keys only).
        """
        params: dict[str, Any] = {"readable": readable, "type": entity_type}
        rows = self._db.execute(
            "SELECT e.id, e.type, e.key, e.lat, e.lon, m.doc_id, m.text, m.canonical, "
            "m.marking_id, COUNT(*) "
            "FROM mentions m JOIN entities e ON e.id = m.entity_id "
            "WHERE m.marking_id IN (SELECT value FROM json_each(:readable)) "
            + ("AND e.type = :type " if entity_type else "")
            + "GROUP BY e.id, m.doc_id, m.text, m.canonical, m.marking_id",
            params,
        )
        known: dict[str, _Known] = {}
        for row_id, kind, key, lat, lon, doc_id, text, canonical, marking_id, count in rows:
            entity = known.get(row_id)
            if entity is None:
                entity = known[row_id] = _Known(kind, key, lat, lon)
            entity.mentions += count
            entity.per_document[doc_id] += count
            entity.marking_ids.add(marking_id)
            entity.surfaces[" ".join(text.split())] += count
            if canonical:
                entity.canonicals[canonical] += count
        leader = group_similar_names((e.type, e.key, e.mentions) for e in known.values())
        members: dict[tuple[str, str], list[str]] = {}
        for row_id, entity in known.items():
            members.setdefault(leader[entity.type, entity.key], []).append(row_id)
        groups: dict[str, _Group] = {}
        group_of_row: dict[str, str] = {}
        group_of_id: dict[str, str] = {}
        for (kind, key), rows_of_group in members.items():
            group = self._group(self.entity_public_id(kind, key), [known[r] for r in rows_of_group])
            groups[group.summary.id] = group
            for row_id in rows_of_group:
                group_of_row[row_id] = group.summary.id
                group_of_id[self.entity_public_id(kind, known[row_id].key)] = group.summary.id
        return _ReaderView(groups, group_of_row, group_of_id)

    def _group(self, group_id: str, entities: list[_Known]) -> _Group:
        canonicals: Counter[str] = Counter()
        surfaces: Counter[str] = Counter()
        per_document: Counter[str] = Counter()
        for entity in entities:
            canonicals.update(entity.canonicals)
            surfaces.update(entity.surfaces)
            per_document.update(entity.per_document)
        # The lexicon's or gazetteer's name when a readable mention gave one, else
        # the spelling the reader meets most often.
        name = _most_common(canonicals) or _most_common(surfaces) or ""
        by_weight = sorted(entities, key=lambda e: (-e.mentions, e.key))
        lat, lon = next(((e.lat, e.lon) for e in by_weight if e.lat is not None), (None, None))
        marking_ids = sorted(set().union(*(e.marking_ids for e in entities)))
        summary = EntitySummary(
            group_id,
            name,
            entities[0].type,
            sum(e.mentions for e in entities),
            len(per_document),
            high_water_mark(self._marking(i) for i in marking_ids),
            lat,
            lon,
        )
        return _Group(summary, tuple(sorted(set(surfaces) | {name})), per_document)

    @staticmethod
    def _ranked(summaries: Iterable[EntitySummary]) -> list[EntitySummary]:
        return sorted(summaries, key=lambda s: (-s.mentions, s.name, s.id))

    def list_entities(
        self, clearance: Clearance, entity_type: str | None = None
    ) -> list[EntitySummary]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        view = self._reader_view(readable, entity_type)
        return self._ranked(g.summary for g in view.groups.values())

    def get_entity(self, name_or_id: str, clearance: Clearance) -> EntityDetail:
        """An entity by the id of any of its spellings, or by its name or any readable
        alias (accents and case folded); the most mentioned wins when a name is shared."""
        readable = json.dumps(self.readable_marking_ids(clearance))
        view = self._reader_view(readable)
        group_id = view.group_of_id.get(name_or_id)
        if group_id is None:
            folded = fold_name(name_or_id)
            named = [
                g.summary
                for g in view.groups.values()
                if any(fold_name(alias) == folded for alias in g.aliases)
            ]
            if not named:
                raise NotFoundError(f"no entity {name_or_id!r}")
            group_id = self._ranked(named)[0].id
        group = view.groups[group_id]
        rows = [row for row, gid in view.group_of_row.items() if gid == group_id]
        mention_rows = self._db.execute(
            "SELECT doc_id, text, start, end, marking_id FROM mentions "
            "WHERE entity_id IN (SELECT value FROM json_each(?)) "
            "AND marking_id IN (SELECT value FROM json_each(?)) ORDER BY doc_id, start, end, text",
            (json.dumps(rows), readable),
        ).fetchall()
        mentions = [
            MentionRow(doc, text, start, end, self._marking(mid))
            for doc, text, start, end, mid in mention_rows
        ]
        return EntityDetail(
            group.summary, list(group.aliases), mentions, self._cooccurring(view, group)
        )

    @staticmethod
    def _cooccurring(view: _ReaderView, group: _Group) -> list[EntitySummary]:
        """Entities named in the documents that name `group`: counts over those documents.

        Name, position and marking are each one's own, from all its documents."""
        shared: dict[str, tuple[int, int]] = {}
        for other in view.groups.values():
            if other is group:
                continue
            documents = [d for d in other.per_document if d in group.per_document]
            if documents:
                shared[other.summary.id] = (
                    sum(other.per_document[d] for d in documents),
                    len(documents),
                )
        summaries = [
            EntitySummary(
                gid, view.groups[gid].summary.name, view.groups[gid].summary.type,
                mentions, documents, view.groups[gid].summary.marking,
                view.groups[gid].summary.lat, view.groups[gid].summary.lon,
            )
            for gid, (mentions, documents) in shared.items()
        ]  # fmt: skip
        summaries.sort(key=lambda s: (-s.documents, -s.mentions, s.name, s.id))
        return summaries[:COOCCURRING_LIMIT]

    def list_events(
        self, clearance: Clearance, since: datetime | None = None, bbox: BBox | None = None
    ) -> list[EventRow]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        clauses = ["1"]
        params: dict[str, Any] = {"readable": readable}
        if since is not None:
            clauses.append("ev.at >= :since")
            params["since"] = iso(since)
        if bbox is not None:
            clauses.append("ev.lon BETWEEN :west AND :east AND ev.lat BETWEEN :south AND :north")
            params.update(zip(("west", "south", "east", "north"), bbox, strict=True))
        # An event's rank in its document is taken before the time and box filters,
        # so that its id does not depend on the filter.
        rows = self._db.execute(
            "SELECT ev.id, ev.rank, ev.doc_id, ev.kind, ev.what, ev.start, ev.end, ev.at, "
            "ev.lat, ev.lon, ev.place_entity_id, ev.marking_id, ev.detail FROM ("
            "  SELECT *, ROW_NUMBER() OVER (PARTITION BY doc_id ORDER BY id) - 1 AS rank "
            "  FROM events WHERE marking_id IN (SELECT value FROM json_each(:readable))"
            f") ev WHERE {' AND '.join(clauses)} "
            # Ties broken by document and rank, both the same in every workspace
            # that holds the same readable documents (row ids follow ingest order).
            "ORDER BY ev.at IS NULL, ev.at, ev.doc_id, ev.rank",
            params,
        ).fetchall()
        if not rows:
            return []
        view = self._reader_view(readable)
        participants: dict[int, list[tuple[str, str, str]]] = {}
        for event_id, row_id, kind, key in self._db.execute(
            "SELECT p.event_id, e.id, e.type, e.key FROM event_participants p "
            "JOIN entities e ON e.id = p.entity_id "
            "WHERE p.event_id IN (SELECT value FROM json_each(?))",
            (json.dumps([row[0] for row in rows]),),
        ):
            participants.setdefault(event_id, []).append(self._as_seen(view, row_id, kind, key))
        events: list[EventRow] = []
        for row_id, rank, doc, kind, what, start, end, at, lat, lon, place, mid, detail in rows:
            place_name = (
                view.groups[view.group_of_row[place]].summary.name
                if place in view.group_of_row
                else None
            )
            events.append(
                EventRow(
                    self.opaque_id("event", doc, str(rank)), doc, kind, what, start, end,
                    datetime.fromisoformat(at) if at else None, lat, lon, place_name,
                    sorted(set(participants.get(row_id, [])), key=lambda p: (p[2], p[1], p[0])),
                    self._marking(mid), json.loads(detail),
                )
            )  # fmt: skip
        return events

    def _as_seen(self, view: _ReaderView, row_id: str, kind: str, key: str) -> tuple[str, str, str]:
        """(id, name, type) of an entity as the reader knows it."""
        group_id = view.group_of_row.get(row_id)
        if group_id is None:
            # Participants are mentions of the event's own (readable) document, so
            # this is only reached by data written before they were; the key is
            # from that same document.
            return (self.entity_public_id(kind, key), key, kind)
        return (group_id, view.groups[group_id].summary.name, kind)

    def document_mentions(
        self, doc_ids: Sequence[str], clearance: Clearance
    ) -> list[DocumentMention]:
        readable = json.dumps(self.readable_marking_ids(clearance))
        rows = self._db.execute(
            "SELECT m.doc_id, e.id, e.type, e.key, m.start, m.end "
            "FROM mentions m JOIN entities e ON e.id = m.entity_id "
            "WHERE m.doc_id IN (SELECT value FROM json_each(?)) "
            "AND m.marking_id IN (SELECT value FROM json_each(?)) ORDER BY m.doc_id, m.start",
            (json.dumps(list(doc_ids)), readable),
        ).fetchall()
        if not rows:
            return []
        view = self._reader_view(readable)
        found = []
        for doc_id, row_id, kind, key, start, end in rows:
            entity, name, _ = self._as_seen(view, row_id, kind, key)
            found.append(DocumentMention(doc_id, entity, name, kind, start, end))
        return found
