"""Entities and events obey the reader's clearance: unseen evidence means no entity."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from guetteur import NotFoundError
from guetteur.enrich.embeddings import embed
from guetteur.enrich.resolution import to_ref
from guetteur.model import Chunk, Document, EntityMention, Event, Place
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument
from guetteur.store.sqlite import SQLiteStore

FRA_NS = parse_clearance("NATO SECRET", "FRA")
LUX_NR = parse_clearance("NATO RESTRICTED", "LUX")
NARVA = Place(590447, "Narva", 59.3772, 28.1903, "EE", 58_000)


def document(doc_id: str, text: str, marking: str, *names: tuple[str, str]) -> NewDocument:
    doc = Document(
        id=doc_id,
        title=doc_id,
        text=text,
        language="en",
        marking=parse_marking(marking),
        grade=None,
        source="test",
        origin=doc_id,
        sha256=doc_id * 8,
        ingested_at=datetime.now(UTC),
    )
    refs = []
    for surface, kind in names:
        start = text.index(surface)
        mention = EntityMention(start, start + len(surface), surface, kind)  # type: ignore[arg-type]
        refs.append(to_ref(mention, NARVA if surface == "Narva" else None))
    places = [r for r in refs if r.type == "place"]
    actors = [r for r in refs if r.type != "place"]
    events = [
        Event(
            "sentence", text, 0, len(text), datetime(2026, 11, 21, 6, tzinfo=UTC),
            NARVA.lat, NARVA.lon, places[0] if places else None, tuple(actors),
        )
    ]  # fmt: skip
    return NewDocument(doc, [Chunk(0, 0, len(text), text)], embed([text]), refs, events)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "g.db")
    store.add_documents(
        [
            document("open", "T-90M tanks seen in Narva.", "NATO RESTRICTED // REL TO FRA, LUX",
                     ("T-90M", "equipment"), ("Narva", "place")),
            document("secret", "Agent GAMMA met APT28 handlers in Narva.", "NATO SECRET",
                     ("GAMMA", "person"), ("APT28", "org"), ("Narva", "place")),
        ]
    )  # fmt: skip
    return store


def test_an_entity_seen_only_in_unreadable_documents_does_not_exist(store: SQLiteStore) -> None:
    assert {e.name for e in store.list_entities(FRA_NS)} == {"T-90M", "Narva", "GAMMA", "APT28"}
    assert {e.name for e in store.list_entities(LUX_NR)} == {"T-90M", "Narva"}
    with pytest.raises(NotFoundError):
        store.get_entity("APT28", LUX_NR)
    assert store.get_entity("apt28", FRA_NS).entity.type == "org"


def test_mentions_and_cooccurrences_come_only_from_readable_documents(store: SQLiteStore) -> None:
    for_lux = store.get_entity("Narva", LUX_NR)
    assert [m.doc_id for m in for_lux.mentions] == ["open"]
    assert {c.name for c in for_lux.cooccurring} == {"T-90M"}
    for_ops = store.get_entity("Narva", FRA_NS)
    assert {m.doc_id for m in for_ops.mentions} == {"open", "secret"}
    assert (for_ops.entity.lat, for_ops.entity.lon) == (NARVA.lat, NARVA.lon)


def test_events_are_filtered_and_filterable_by_time_and_box(store: SQLiteStore) -> None:
    assert [e.doc_id for e in store.list_events(LUX_NR)] == ["open"]
    assert len(store.list_events(FRA_NS)) == 2
    assert store.list_events(FRA_NS, since=datetime(2026, 11, 22, tzinfo=UTC)) == []
    assert len(store.list_events(FRA_NS, bbox=(27.0, 59.0, 29.0, 60.0))) == 2
    assert store.list_events(FRA_NS, bbox=(0.0, 40.0, 5.0, 50.0)) == []
    (event,) = store.list_events(LUX_NR)
    assert [name for _, name, _ in event.participants] == ["T-90M"]


def test_reindex_replaces_a_documents_mentions(store: SQLiteStore) -> None:
    store.replace_enrichment("secret", [], [])
    assert {e.name for e in store.list_entities(FRA_NS)} == {"T-90M", "Narva"}
    with pytest.raises(NotFoundError):
        store.get_entity("GAMMA", FRA_NS)
