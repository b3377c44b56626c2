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


def store_with(path: Path, secret: str, *documents: NewDocument) -> SQLiteStore:
    store = SQLiteStore(path)
    store.set_id_secret(secret)
    store.add_documents(list(documents))
    return store


OPEN = ("open", "T-90M tanks seen in Narva.", "NATO RESTRICTED // REL TO FRA, LUX",
        ("T-90M", "equipment"), ("Narva", "place"))  # fmt: skip
SECRET = ("secret", "Agent GAMMA met APT28 handlers in Narva.", "NATO SECRET",
          ("GAMMA", "person"), ("APT28", "org"), ("Narva", "place"))  # fmt: skip


def test_ids_are_keyed_with_the_workspace_secret(tmp_path: Path) -> None:
    one = store_with(tmp_path / "1.db", "01" * 32, document(*OPEN))
    same = store_with(tmp_path / "2.db", "01" * 32, document(*OPEN))
    other = store_with(tmp_path / "3.db", "02" * 32, document(*OPEN))
    assert one.list_entities(LUX_NR) == same.list_entities(LUX_NR)
    assert one.list_events(LUX_NR) == same.list_events(LUX_NR)
    # Nobody without the secret can confirm a guessed name against an id.
    assert {e.id for e in one.list_entities(LUX_NR)}.isdisjoint(
        e.id for e in other.list_entities(LUX_NR)
    )
    assert one.list_events(LUX_NR)[0].id != other.list_events(LUX_NR)[0].id


def test_event_ids_are_no_running_number(tmp_path: Path) -> None:
    plain = store_with(tmp_path / "1.db", "01" * 32, document(*OPEN))
    # Events the reader may not read, stored before theirs: a running number
    # would move, and its gaps would count them.
    salted = store_with(tmp_path / "2.db", "01" * 32, document(*SECRET), document(*OPEN))
    (event,) = plain.list_events(LUX_NR)
    assert not event.id.isdigit()
    assert salted.list_events(LUX_NR) == [event]


def test_a_lexicon_name_given_only_in_a_hidden_document_does_not_name_the_entity(
    tmp_path: Path,
) -> None:
    store = store_with(tmp_path / "g.db", "01" * 32)
    hidden = document("secret", "Wagner moved north.", "NATO SECRET")
    lexicon = EntityMention(0, 6, "Wagner", "org", source="rule", canonical="Wagner Group")
    store.add_documents([NewDocument(
        hidden.document, hidden.chunks, hidden.embeddings, [to_ref(lexicon)], ()
    )])  # fmt: skip
    store.add_documents([document("open", "The wagner group moved.", "NATO RESTRICTED",
                                  ("wagner group", "org"))])  # fmt: skip
    (seen,) = store.list_entities(LUX_NR)
    assert seen.name == "wagner group"
    assert store.get_entity("Wagner Group", LUX_NR).aliases == ["wagner group"]
    (cleared,) = store.list_entities(FRA_NS)
    assert (cleared.id, cleared.name, cleared.documents) == (seen.id, "Wagner Group", 2)


def test_spellings_are_grouped_among_the_readers_mentions_only(tmp_path: Path) -> None:
    low = document("low", "Yevgeny Prigozhinow was seen.", "NATO RESTRICTED",
                   ("Yevgeny Prigozhinow", "person"))  # fmt: skip
    high = document("high", "Yevgeny Prigozhinov and Yevgeny Prigozhinov again.",
                    "NATO SECRET", ("Yevgeny Prigozhinov", "person"))  # fmt: skip
    store = store_with(tmp_path / "g.db", "01" * 32, high, low)
    (for_lux,) = store.list_entities(LUX_NR)
    assert for_lux.name == "Yevgeny Prigozhinow"
    (for_ops,) = store.list_entities(FRA_NS)
    assert (for_ops.name, for_ops.documents) == ("Yevgeny Prigozhinov", 2)  # ties: alphabetical
    detail = store.get_entity(for_lux.id, FRA_NS)  # any spelling's id finds the group
    assert detail.aliases == ["Yevgeny Prigozhinov", "Yevgeny Prigozhinow"]
    (event,) = store.list_events(LUX_NR)
    assert event.participants == [(for_lux.id, "Yevgeny Prigozhinow", "person")]


def test_a_version_6_workspace_keeps_gazetteer_names_and_hides_its_old_ids(tmp_path: Path) -> None:
    from guetteur.store.sqlite._connect import connect
    from guetteur.store.sqlite.schema import MIGRATIONS, _statements

    connection = connect(tmp_path / "old.db")
    connection.execute("PRAGMA foreign_keys = OFF")
    for migration in MIGRATIONS[:6]:
        for statement in _statements(migration):
            connection.execute(statement)
    connection.execute("PRAGMA user_version = 6")
    connection.execute("INSERT INTO markings(id, canonical) VALUES (1, 'NATO RESTRICTED')")
    connection.execute(
        "INSERT INTO documents VALUES ('r', 'abc', 'Old', 'Narva: the wagner group.', 'en', 1, "
        "NULL, 'old', 'r.txt', '2026-11-01T00:00:00+00:00', NULL, '{}')"
    )
    connection.execute(
        "INSERT INTO entities VALUES ('Eplace', 'place', 'geonames:590447', 'Narva', 59.38, "
        "28.19, 590447), ('Eorg', 'org', 'wagner group', 'Wagner Group', NULL, NULL, NULL)"
    )
    # The lexicon's name came from another document: this mention, found by the
    # model, never gave it.
    connection.execute(
        "INSERT INTO mentions(entity_id, doc_id, marking_id, start, end, text, source) "
        "VALUES ('Eplace', 'r', 1, 0, 5, 'Narva', 'model'), "
        "('Eorg', 'r', 1, 7, 19, 'wagner group', 'model')"
    )
    connection.close()
    store = SQLiteStore(tmp_path / "old.db")
    seen = {(e.name, e.lat) for e in store.list_entities(LUX_NR)}
    assert seen == {("Narva", 59.38), ("wagner group", None)}
    assert {e.id for e in store.list_entities(LUX_NR)}.isdisjoint({"Eplace", "Eorg"})
    store.close()
