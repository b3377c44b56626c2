"""Events from spot reports (field by field) and from prose (sentence by sentence)."""

from __future__ import annotations

from datetime import UTC, datetime

from guetteur.enrich.events import extract_events, parse_salute
from guetteur.enrich.resolution import to_ref
from guetteur.enrich.times import find_times
from guetteur.model import CoordinateMention, EntityMention, EntityRef, Place

SPOTREP_FR = """NATO RESTRICTED
SPOTREP 12
GDH : 221000ZNOV26

EFFECTIF : une section, 4 véhicules.
ACTIVITÉ : franchissement de la rivière par un pont de bateaux.
LIEU : 35VNF6763382659, près de Narva.
UNITÉ : 14e brigade de fusiliers motorisés.
HEURE : 220915ZNOV26.
ÉQUIPEMENT : 4 x BTR-82A, 1 x TMM-3.

OBSERVATIONS : rien à signaler.
NATO RESTRICTED
"""
NARVA = Place(590447, "Narva", 59.3772, 28.1903, "EE", 58_000)


def ref_of(text: str, fragment: str, kind: str, place: Place | None = None) -> EntityRef:
    start = text.index(fragment)
    mention = EntityMention(start, start + len(fragment), fragment, kind)  # type: ignore[arg-type]
    return to_ref(mention, place)


def test_salute_fields_are_read_in_french() -> None:
    salute = parse_salute(SPOTREP_FR)
    assert salute is not None
    assert salute.value(SPOTREP_FR, "activity") == (
        "franchissement de la rivière par un pont de bateaux."
    )
    assert salute.value(SPOTREP_FR, "equipment") == "4 x BTR-82A, 1 x TMM-3."
    assert parse_salute("An INTREP in prose.\nNothing here: really.") is None


def test_spot_report_becomes_one_event_with_its_own_fields() -> None:
    grid = SPOTREP_FR.index("35VNF6763382659")
    coordinates = [
        CoordinateMention(grid, grid + 15, "35VNF6763382659", 59.3772, 28.19, "mgrs", 0.5)
    ]
    refs = [
        ref_of(SPOTREP_FR, "Narva", "place", NARVA),
        ref_of(SPOTREP_FR, "14e brigade de fusiliers motorisés", "unit"),
        ref_of(SPOTREP_FR, "BTR-82A", "equipment"),
    ]
    anchor = datetime(2026, 11, 22, 10, tzinfo=UTC)
    (event,) = extract_events(SPOTREP_FR, refs, coordinates, find_times(SPOTREP_FR, anchor), anchor)
    assert event.kind == "salute"
    assert event.when == datetime(2026, 11, 22, 9, 15, tzinfo=UTC)  # HEURE, not the GDH
    assert (event.lat, event.lon) == (59.3772, 28.19)
    assert {p.name for p in event.participants} == {
        "14e brigade de fusiliers motorisés",
        "BTR-82A",
    }
    assert event.place is not None and event.place.name == "Narva"


def test_prose_sentences_with_an_actor_and_a_place_become_events() -> None:
    text = (
        "NATO RESTRICTED\nThe weather was poor. A T-90M column moved through Narva at 0600Z "
        "on 21 November 2026. Nothing else happened in Narva."
    )
    refs = [
        ref_of(text, "T-90M", "equipment"),
        ref_of(text, "Narva", "place", NARVA),
    ]
    anchor = datetime(2026, 11, 22, tzinfo=UTC)
    events = extract_events(text, refs, [], find_times(text, anchor), anchor)
    assert [e.what for e in events] == [
        "A T-90M column moved through Narva at 0600Z on 21 November 2026."
    ]
    assert events[0].when is not None and events[0].when.day == 21
