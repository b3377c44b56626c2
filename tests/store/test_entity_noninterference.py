"""Entities and events a reader sees depend only on the documents they may read.

Twin workspaces built through the real pipeline (extraction, gazetteer,
resolution, store) hold the same documents a NATO RESTRICTED reader may
read; one also holds a NATO SECRET note that spells a shared name another
way. The reader's entities, entity details and events must be the same in
both, ids included (issue 9, finding 4: the SECRET spelling became the
name the reader saw, and spellings merged at ingest against every stored
name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from guetteur import NotFoundError
from guetteur.workspace import Workspace

from conftest import new_workspace, write

# Both twins share one id secret, as the twin property test's workspaces do:
# otherwise every keyed id would differ by design.
SECRET = "5e" * 32

READABLE = {
    "nu-1.txt": "NATO UNCLASSIFIED\n"
    "Wagner commander Yevgeny Prigozhinow met the staff of the 76th Guards Air Assault "
    "Division in Pskov on 21 November 2026.\n",
    "nu-2.txt": "NATO UNCLASSIFIED\n"
    "On 22 November 2026 Yevgeny Prigozhinow left Pskov for Moscow with two BTR-82A.\n",
}
# The same man, spelt as the SECRET source spells him, more often than the
# readable notes do: before the fix this spelling named the reader's entity.
HIDDEN = {
    "ns-1.txt": "NATO SECRET\n"
    "Intercepts confirm that Yevgeny Prigozhinov reached Pskov on 20 November 2026. "
    "Yevgeny Prigozhinov met Yevgeny Prigozhinov's deputy there. Yevgeny Prigozhinov "
    "then called Moscow.\n",
}


def build(home: Path, built_gazetteer: Path, files: dict[str, str]) -> Workspace:
    workspace = new_workspace(home / "ws", built_gazetteer)
    workspace.store.set_id_secret(SECRET)
    inputs = home / "in"
    for name, text in files.items():
        write(inputs, name, text)
    report = workspace.ingest(workspace.user(), [inputs], source="notes")
    assert report.failed == []
    return workspace


@pytest.fixture(scope="module")
def twins(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[tuple[Workspace, Workspace]]:
    plain = build(tmp_path_factory.mktemp("plain"), built_gazetteer, READABLE)
    # The SECRET note first: it used to decide the key the later spellings merged into.
    salted = build(tmp_path_factory.mktemp("salted"), built_gazetteer, {**HIDDEN, **READABLE})
    yield plain, salted
    plain.close()
    salted.close()


def test_the_readers_entities_are_the_same_whatever_is_held_above_them(
    twins: tuple[Workspace, Workspace],
) -> None:
    plain, salted = twins
    reader = plain.user("lux_nr")
    listed = plain.entities(reader)
    assert listed == salted.entities(salted.user("lux_nr"))
    people = [e for e in listed if e.type == "person"]
    assert [(e.name, e.mentions, e.documents) for e in people] == [("Yevgeny Prigozhinow", 2, 2)]


def test_the_readers_entity_details_are_the_same_by_name_and_by_id(
    twins: tuple[Workspace, Workspace],
) -> None:
    plain, salted = twins
    for query in ("Yevgeny Prigozhinow", "yevgeny prigozhinow", "Moscow", "BTR-82A"):
        seen = plain.entity(plain.user("lux_nr"), query)
        assert seen == salted.entity(salted.user("lux_nr"), query), query
        assert seen == salted.entity(salted.user("lux_nr"), seen.entity.id), query
    person = plain.entity(plain.user("lux_nr"), "Yevgeny Prigozhinow")
    assert list(person.aliases) == ["Yevgeny Prigozhinow"]
    # The SECRET spelling is no name the reader can look up.
    for workspace in twins:
        with pytest.raises(NotFoundError, match="no entity"):
            workspace.entity(workspace.user("lux_nr"), "Yevgeny Prigozhinov")


def test_the_readers_events_are_the_same_ids_included(twins: tuple[Workspace, Workspace]) -> None:
    plain, salted = twins
    events = plain.events(plain.user("lux_nr"))
    assert events
    assert events == salted.events(salted.user("lux_nr"))
    names = {name for event in events for _, name, _ in event.participants}
    assert "Yevgeny Prigozhinov" not in names
    # More events exist for a cleared reader; the reader's ids show no gap or count.
    assert len(salted.events(salted.user("ops"))) > len(events)
    for event in events:
        assert re.fullmatch(r"[0-9a-f]{20}", event.id), event.id


def test_a_cleared_reader_sees_both_spellings_as_one_person(
    twins: tuple[Workspace, Workspace],
) -> None:
    _, salted = twins
    ops = salted.user("ops")
    people = [e for e in salted.entities(ops) if e.type == "person"]
    assert [(e.name, e.documents) for e in people] == [("Yevgeny Prigozhinov", 3)]
    detail = salted.entity(ops, "Yevgeny Prigozhinow")
    assert {"Yevgeny Prigozhinov", "Yevgeny Prigozhinow"} <= set(detail.aliases)
    # Each spelling's own id leads to the group the reader sees.
    low = salted.entity(salted.user("lux_nr"), "Yevgeny Prigozhinow").entity.id
    assert salted.entity(ops, low).entity.id == detail.entity.id
