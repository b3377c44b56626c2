"""Tracks: what TAK devices report by Cursor-on-Target, as positions over time.

A `Track` is a CoT uid with its type (`a-h-G-U-C-F`), callsign and group, and
its `Position`s. Each position carries its own marking: a SECRET sighting of a
unit does not make its UNCLASSIFIED positions SECRET, and a reader sees the
track as the positions they may read draw it. Pure values, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from guetteur.model.marking import Marking

__all__ = [
    "AFFILIATIONS",
    "DIMENSIONS",
    "Position",
    "PositionReport",
    "Track",
    "affiliation",
    "dimension",
    "draw_track",
]

# The second atom of an `a-` (atom) CoT type: who the thing belongs to.
AFFILIATIONS = {
    "p": "pending",
    "u": "unknown",
    "a": "assumed friend",
    "f": "friend",
    "n": "neutral",
    "s": "suspect",
    "h": "hostile",
    "j": "joker",
    "k": "faker",
    "o": "none",
    "x": "other",
}
# The third atom: where it moves.
DIMENSIONS = {
    "P": "space",
    "A": "air",
    "G": "ground",
    "S": "sea surface",
    "U": "subsurface",
    "F": "special operations forces",
    "X": "other",
    "Z": "unknown",
}


def affiliation(cot_type: str) -> str | None:
    """'a-h-G-U-C' → 'hostile'; None for types that are not atoms (b-, t-, u-...)."""
    atoms = cot_type.split("-")
    if len(atoms) < 2 or atoms[0] != "a":
        return None
    return AFFILIATIONS.get(atoms[1])


def dimension(cot_type: str) -> str | None:
    """'a-h-G-U-C' → 'ground'."""
    atoms = cot_type.split("-")
    if len(atoms) < 3 or atoms[0] != "a":
        return None
    return DIMENSIONS.get(atoms[2])


@dataclass(frozen=True)
class Position:
    """One report of where a track was, marked like any other record."""

    time: datetime
    lat: float
    lon: float
    marking: Marking
    source: str
    hae: float | None = None  # height above the WGS84 ellipsoid, metres
    ce: float | None = None  # circular error, metres (CoT: 9999999 = unknown → None)
    le: float | None = None  # linear (vertical) error, metres
    course: float | None = None  # degrees from true north
    speed: float | None = None  # metres per second
    how: str = ""  # how the position was obtained (h-e: human entered, m-g: GPS...)
    stale: datetime | None = None  # after this, the position is no longer current
    doc_id: str | None = None  # the report it came from, when it came from a report
    remarks: str | None = None  # the CoT <remarks>, as the device sent them


@dataclass(frozen=True)
class Track:
    """A CoT uid and its positions (the ones a reader may read, oldest first)."""

    uid: str
    type: str
    callsign: str | None = None
    group: str | None = None  # TAK team colour or unit group
    positions: tuple[Position, ...] = field(default_factory=tuple)

    @property
    def affiliation(self) -> str | None:
        return affiliation(self.type)

    @property
    def dimension(self) -> str | None:
        return dimension(self.type)

    @property
    def last(self) -> Position | None:
        return self.positions[-1] if self.positions else None


@dataclass(frozen=True)
class PositionReport:
    """One report of a track, as stored: the uid, and the type, callsign and group this
    report gave with its position (the next report may give others)."""

    uid: str
    type: str
    callsign: str | None
    group: str | None
    position: Position


def _order(report: PositionReport) -> tuple[datetime, str]:
    # Time, then the canonical marking: (uid, time, marking) is unique, so this is a
    # total order, and it depends on nothing but the reports themselves.
    return report.position.time, str(report.position.marking)


def draw_track(uid: str, reports: Sequence[PositionReport]) -> Track:
    """The track that `reports` draw (the ones a reader may read): positions oldest
    first; type, callsign and group from the last one, so that everything a reader
    sees of the track now comes from one position and carries its marking."""
    ordered = sorted((r for r in reports if r.uid == uid), key=_order)
    if not ordered:
        raise ValueError(f"no report of track {uid!r}")
    last = ordered[-1]
    return Track(
        uid=uid,
        type=last.type,
        callsign=last.callsign,
        group=last.group,
        positions=tuple(r.position for r in ordered),
    )
