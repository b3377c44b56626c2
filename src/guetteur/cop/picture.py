"""How tracks join the rest of the picture: names, and events nearby. Pure functions.

A track's callsign and a callsign or unit named in a report are the same
entity when they share a resolution key (enrich/resolution.py): the key is a
pure function of the name, so the join needs no table of its own and holds
only what the reader may read on both sides — their readable positions give
the callsign, their readable mentions the entity. Events from reports join a
track's history when they name it, or when they happened near one of its
positions: within `NEAR_KM` and `NEAR_TIME` of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import cast

from guetteur.enrich.resolution import resolution_key
from guetteur.model import EntityMention, EntityType, Track
from guetteur.store.base import EventRow

__all__ = [
    "NAME_TYPES",
    "NEAR_KM",
    "NEAR_TIME",
    "distance_km",
    "events_near",
    "name_key",
    "tracks_named",
]

# Entity types a track's callsign can be: a callsign, or a unit's name
# ("2e RIMa" reports as itself on TAK as often as by a callsign).
NAME_TYPES = ("callsign", "unit")
NEAR_KM = 5.0
NEAR_TIME = timedelta(hours=6)
EARTH_RADIUS_KM = 6371.0088


def name_key(name: str, entity_type: str) -> str:
    """The resolution key of `name` as an entity of `entity_type` (callsign, unit)."""
    text = " ".join(name.split())
    mention = EntityMention(0, len(text), text, cast(EntityType, entity_type), source="rule")
    return resolution_key(mention)


def tracks_named(tracks: Iterable[Track], entity_type: str, names: Iterable[str]) -> list[Track]:
    """The tracks whose callsign is, as an entity of `entity_type`, one of `names`."""
    if entity_type not in NAME_TYPES:
        return []
    keys = {name_key(name, entity_type) for name in names if name.strip()}
    return [t for t in tracks if t.callsign and name_key(t.callsign, entity_type) in keys]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _names_track(event: EventRow, track: Track) -> bool:
    if not track.callsign:
        return False
    return any(
        kind in NAME_TYPES and name_key(name, kind) == name_key(track.callsign, kind)
        for _, name, kind in event.participants
    )


def _near(event: EventRow, track: Track, radius_km: float, window: timedelta) -> bool:
    if event.at is None or event.lat is None or event.lon is None:
        return False
    return any(
        abs(event.at - p.time) <= window
        and distance_km(event.lat, event.lon, p.lat, p.lon) <= radius_km
        for p in track.positions
    )


def events_near(
    track: Track,
    events: Sequence[EventRow],
    radius_km: float = NEAR_KM,
    window: timedelta = NEAR_TIME,
) -> list[EventRow]:
    """The events (in the order given) that name the track, or happened within
    `radius_km` and `window` of one of its positions."""
    return [e for e in events if _names_track(e, track) or _near(e, track, radius_km, window)]
