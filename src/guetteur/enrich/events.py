"""Events: what happened, who or what took part, where and when — from each report.

Two readers of a text, both pure:

- `parse_salute` reads spot reports written field by field (SALUTE / SIZE-
  ACTIVITY-LOCATION-UNIT-TIME-EQUIPMENT, in English or French: EFFECTIF,
  ACTIVITÉ, LIEU, UNITÉ, HEURE, ÉQUIPEMENT) into one event whose parts come
  from their own fields;
- `sentence_events` turns each sentence of prose that names an actor or a
  system *and* a place or a position into an event: the sentence is the
  "what", its entities the "who", its first position or place the "where",
  its first time (else the report's own time) the "when".

Events keep character offsets, so a product can cite the words they rest on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from guetteur.enrich.times import TimeMention
from guetteur.model import CoordinateMention, EntityRef, Event

__all__ = ["SaluteReport", "extract_events", "parse_salute"]

ACTOR_TYPES = frozenset({"unit", "equipment", "org", "person", "aircraft", "vessel", "observable"})

# Field label (folded) → SALUTE part. English and French, with the usual variants.
_FIELDS = {
    "size": "size",
    "effectif": "size",
    "effectifs": "size",
    "activity": "activity",
    "activite": "activity",
    "location": "location",
    "lieu": "location",
    "localisation": "location",
    "position": "location",
    "unit": "unit",
    "unite": "unit",
    "time": "time",
    "heure": "time",
    "date heure": "time",
    "equipment": "equipment",
    "equipement": "equipment",
    "equipements": "equipment",
    "materiel": "equipment",
}
# "SIZE: …", "ACTIVITÉ : …", "S. SIZE/ …", "2. LOCATION: …" at the start of a line.
_FIELD_LINE = re.compile(
    r"^[ \t]*(?:[A-Z]\.\s*|\d\.\s*)?"
    r"(?P<label>[^\W\d_][^\W\d_ ]*(?:[ \t][^\W\d_]+)?)[ \t]*[:/][ \t]*",
    re.MULTILINE,
)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.MULTILINE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


@dataclass(frozen=True)
class SaluteReport:
    """The fields of a spot report, each with its span in the text."""

    fields: dict[str, tuple[int, int]]  # part → (start, end) of the field's value

    def value(self, text: str, part: str) -> str | None:
        span = self.fields.get(part)
        return " ".join(text[span[0] : span[1]].split()) if span else None


def parse_salute(text: str) -> SaluteReport | None:
    """The SALUTE fields of a spot report, or None when it has fewer than three."""
    starts: list[tuple[str, int, int]] = []  # (part, label start, value start)
    for match in _FIELD_LINE.finditer(text):
        part = _FIELDS.get(_fold(match.group("label")))
        if part and part not in {p for p, _, _ in starts}:
            starts.append((part, match.start(), match.end()))
    if len({p for p, _, _ in starts} & {"activity", "location", "unit", "time"}) < 2:
        return None
    if len(starts) < 3:
        return None
    fields: dict[str, tuple[int, int]] = {}
    for index, (part, _, value_start) in enumerate(starts):
        # A field runs to the next label line, or to the first blank line.
        limit = starts[index + 1][1] if index + 1 < len(starts) else len(text)
        blank = text.find("\n\n", value_start, limit)
        end = blank if blank != -1 else limit
        fields[part] = (value_start, len(text[:end].rstrip()))
    return SaluteReport(fields)


class _Span(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


S = TypeVar("S", bound=_Span)


def _inside(start: int, end: int, spans: Sequence[S]) -> list[S]:
    return [s for s in spans if start <= s.start and s.end <= end]


def _where(
    coordinates: Sequence[CoordinateMention], places: Sequence[EntityRef]
) -> tuple[float | None, float | None, EntityRef | None]:
    place = next((p for p in places if p.lat is not None), None)
    if coordinates:
        return coordinates[0].lat, coordinates[0].lon, place
    if place is not None:
        return place.lat, place.lon, place
    return None, None, None


def extract_events(
    text: str,
    refs: Sequence[EntityRef],
    coordinates: Sequence[CoordinateMention],
    times: Sequence[TimeMention],
    reported_at: datetime | None,
) -> list[Event]:
    """The events of one report: its SALUTE event if it is a spot report, else per sentence."""
    salute = parse_salute(text)
    if salute is not None:
        return [_salute_event(text, salute, refs, coordinates, times, reported_at)]
    return _sentence_events(text, refs, coordinates, times, reported_at)


def _salute_event(
    text: str,
    salute: SaluteReport,
    refs: Sequence[EntityRef],
    coordinates: Sequence[CoordinateMention],
    times: Sequence[TimeMention],
    reported_at: datetime | None,
) -> Event:
    spans = salute.fields.values()
    start, end = min(s for s, _ in spans), max(e for _, e in spans)

    def within(part: str, items: Sequence[S]) -> list[S]:
        span = salute.fields.get(part)
        return _inside(span[0], span[1], items) if span else []

    loc_places = [r for r in within("location", refs) if r.type == "place"]
    lat, lon, place = _where(within("location", coordinates), loc_places)
    when_times = within("time", times) or list(times)
    participants = [
        r
        for r in within("unit", refs) + within("equipment", refs) + within("activity", refs)
        if r.type in ACTOR_TYPES
    ]
    detail = {part: salute.value(text, part) or "" for part in salute.fields}
    what = detail.get("activity") or detail.get("size") or text[start:end]
    return Event(
        kind="salute",
        what=what[:500],
        start=start,
        end=end,
        when=when_times[0].value if when_times else reported_at,
        lat=lat,
        lon=lon,
        place=place,
        participants=tuple(participants),
        detail=detail,
    )


def _sentence_events(
    text: str,
    refs: Sequence[EntityRef],
    coordinates: Sequence[CoordinateMention],
    times: Sequence[TimeMention],
    reported_at: datetime | None,
) -> list[Event]:
    events: list[Event] = []
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start].isspace():
            start += 1
        inside_refs = _inside(start, end, refs)
        actors = [r for r in inside_refs if r.type in ACTOR_TYPES]
        places = [r for r in inside_refs if r.type == "place"]
        coords = _inside(start, end, coordinates)
        if not actors or not (places or coords):
            continue
        lat, lon, place = _where(coords, places)
        if lat is None:
            continue  # a place the gazetteer could not locate: no "where" to map
        sentence_times = _inside(start, end, times)
        events.append(
            Event(
                kind="sentence",
                what=" ".join(text[start:end].split())[:500],
                start=start,
                end=end,
                when=sentence_times[0].value if sentence_times else reported_at,
                lat=lat,
                lon=lon,
                place=place,
                participants=tuple(actors),
            )
        )
    return events
