"""Threat zones: the events of reports a planner may read, turned into areas routes avoid.

    events the reader may read (store, filtered by clearance in the query)
        → those of the chosen kinds, in the time window, with a position
        → a circle per event (radius by kind)
        → the distance matrix: legs crossing a circle go round it, or pay a penalty

Events carry no threat type of their own (enrichment types them `salute` or
`sentence`), so the kind is read from what the event says. Only spot reports
(SALUTE events) make zones: their ACTIVITY says what happened and their
LOCATION where. A sentence of prose that merely names a drone or a TOS-1A
next to a town ("the drone strike at Tapa suggests a campaign against
sustainment", read as an event at the first place it names) would put a
circle where no threat is. English and French words for each kind: an
ambush (`embuscade`), an IED (`EEI`, `engin explosif improvisé`, roadside
bomb), artillery (shelling, `tirs d'artillerie`, mortars, rockets,
MLRS), a drone (UAV, `drone`, loitering munition, Shahed, Orlan, Lancet), a
checkpoint (roadblock, `barrage routier`, `point de contrôle`). A word right
after a negation ("no", "sans", "aucun") does not count.

Avoiding: a leg between two stops whose straight line crosses a zone goes
round it instead, by the shortest way along a ring of points just outside
each zone (a visibility graph searched with Dijkstra), so the route length
says what avoiding costs; a stop inside a zone cannot be served safely and is
left out, named in the plan with the report. A zone around a depot does not
stop its vehicles from leaving. With a penalty instead, each crossing adds
that many kilometres to the leg's cost (not to its length). A zone shaped the
plan only if it changed a leg or a stop: only those zones, and their reports,
are listed and mark the plan.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from guetteur.model import Marking
from guetteur.store import EventRow

__all__ = [
    "DEFAULT_RADIUS_KM",
    "THREAT_KINDS",
    "Detours",
    "ThreatZone",
    "inside_zones",
    "route_around",
    "threat_kind",
    "threat_zones",
]

THREAT_KINDS: tuple[str, ...] = ("ambush", "ied", "artillery", "drone", "checkpoint")
DEFAULT_RADIUS_KM: Mapping[str, float] = {
    "ambush": 5.0,
    "ied": 2.0,
    "artillery": 15.0,
    "drone": 10.0,
    "checkpoint": 1.0,
}
EARTH_KM = 6371.0088
RING_POINTS = 16  # points on the ring round a zone that detours follow
RING_MARGIN = 1.05  # the ring's radius, past the zone's: its chords stay outside

# Accents folded, lower case; word boundaries added round each.
_WORDS = {
    "ambush": r"ambush(?:es|ed)?|embuscades?|tendu une embuscade|pris dans une embuscade",
    "ied": (r"ieds?|vbieds?|eei|engins? explosifs? improvises?|improvised explosive devices?"
            r"|roadside bombs?|bombes? artisanales?"),
    "artillery": (r"artillery|shell(?:ing|ed)|mortars?|rocket (?:fire|attack)s?|mlrs|tos ?1a?"
                  r"|bm ?(?:21|27|30)|grad|artillerie|tirs? d artillerie|obus|bombardements?"
                  r"|roquettes?|mortiers?|lance roquettes"),
    "drone": (r"drones?|uavs?|uas|loitering munitions?|munitions? rodeuses?|shahed(?: ?136)?"
              r"|orlan(?: ?10)?|lancet|geran(?: ?2)?"),
    "checkpoint": (r"check ?points?|roadblocks?|road blocks?|barrages? routiers?"
                   r"|points? de controle|postes? de controle|faux barrages?"),
}  # fmt: skip
_PATTERNS = {kind: re.compile(rf"\b(?:{words})\b") for kind, words in _WORDS.items()}
_NEGATION = re.compile(
    r"\b(?:no|not|without|never|sans|aucun|aucune|pas de|pas d|ni)\s+(?:\w+\s+){0,2}$"
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def threat_kind(text: str, kinds: Iterable[str] = THREAT_KINDS) -> str | None:
    """The first threat kind (in THREAT_KINDS order) `text` reports, or None."""
    folded = _fold(text)
    for kind in (k for k in THREAT_KINDS if k in set(kinds)):
        for found in _PATTERNS[kind].finditer(folded):
            if not _NEGATION.search(folded[: found.start()]):
                return kind
    return None


@dataclass(frozen=True)
class ThreatZone:
    """A circle to keep out of, and the report it comes from."""

    kind: str
    lat: float
    lon: float
    radius_km: float
    doc_id: str
    event_id: str
    at: datetime | None
    what: str
    place: str | None
    marking: Marking

    def describe(self) -> str:
        where = self.place or f"{self.lat:.4f}, {self.lon:.4f}"
        when = f" at {self.at.strftime('%Y-%m-%dT%H:%MZ')}" if self.at else ""
        return f"{self.kind} reported{when} near {where} ({self.radius_km:g} km zone)"


def threat_zones(
    events: Sequence[EventRow],
    kinds: Iterable[str] = THREAT_KINDS,
    radius_km: Mapping[str, float] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ThreatZone]:
    """The zones of the located events of `kinds` at or after `since` (and not after
    `until`); an event without a time counts only when no `since` is given."""
    radii = {**DEFAULT_RADIUS_KM, **(radius_km or {})}
    chosen = set(kinds)
    zones: list[ThreatZone] = []
    for event in events:
        if event.kind != "salute" or event.lat is None or event.lon is None:
            continue
        if since is not None and (event.at is None or event.at < since):
            continue
        if until is not None and event.at is not None and event.at > until:
            continue
        text = " ".join([event.what, event.detail.get("activity", "")])
        kind = threat_kind(text, chosen)
        if kind is None:
            continue
        zones.append(
            ThreatZone(kind, event.lat, event.lon, float(radii[kind]), event.doc_id, event.id,
                       event.at, event.what, event.place, event.marking)
        )  # fmt: skip
    return sorted(zones, key=lambda z: (z.doc_id, z.event_id))


# ------------------------------------------------------------------ geometry
Points = npt.NDArray[np.float64]


def _project(lat: Points, lon: Points, lat0: float, lon0: float) -> tuple[Points, Points]:
    """Kilometres east and north of (lat0, lon0): an equirectangular plane, exact
    enough over a theatre a few hundred kilometres across."""
    x = np.radians(lon - lon0) * math.cos(math.radians(lat0)) * EARTH_KM
    y = np.radians(lat - lat0) * EARTH_KM
    return x, y


def _segment_distance(
    ax: Points, ay: Points, bx: Points, by: Points, cx: float, cy: float
) -> Points:
    """Distance from (cx, cy) to each segment A-B (arrays broadcast)."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length2 > 0, ((cx - ax) * dx + (cy - ay) * dy) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(ax + t * dx - cx, ay + t * dy - cy)


def inside_zones(
    lats: Sequence[float], lons: Sequence[float], zones: Sequence[ThreatZone]
) -> list[list[int]]:
    """For each point, the indices of the zones it lies in."""
    if not zones:
        return [[] for _ in lats]
    lat0, lon0 = float(np.mean(lats)), float(np.mean(lons))
    x, y = _project(np.asarray(lats, float), np.asarray(lons, float), lat0, lon0)
    found: list[list[int]] = [[] for _ in lats]
    for z, zone in enumerate(zones):
        cx, cy = _project(np.array([zone.lat]), np.array([zone.lon]), lat0, lon0)
        inside = np.hypot(x - cx[0], y - cy[0]) < zone.radius_km
        for index in np.flatnonzero(inside):
            found[int(index)].append(z)
    return found


@dataclass(frozen=True)
class Detours:
    """The straight-line kilometres between points, with legs that cross zones replaced.

    `km[i, j]` is the length of the way from i to j (inf: no way round);
    `crossed[i, j]` the zones the straight leg crossed; `via[(i, j)]` the
    (lat, lon) of the ring points a detour passes; `shaped` the zones that
    changed at least one leg.
    """

    km: Points
    crossed: Mapping[tuple[int, int], tuple[int, ...]]
    via: Mapping[tuple[int, int], tuple[tuple[float, float], ...]]
    shaped: frozenset[int]


def _great_circle(lats: Points, lons: Points) -> Points:
    phi = np.radians(lats)
    lam = np.radians(lons)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    a = np.sin(dphi / 2) ** 2 + np.cos(phi[:, None]) * np.cos(phi[None, :]) * np.sin(dlam / 2) ** 2
    distances: Points = 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return distances


def route_around(
    lats: Sequence[float],
    lons: Sequence[float],
    zones: Sequence[ThreatZone],
    exempt: Sequence[Sequence[int]] = (),
    avoid: bool = True,
) -> Detours:
    """Great-circle kilometres between the points, legs through zones detoured.

    `exempt[i]`: zones that do not constrain legs touching point i (a depot
    inside a zone: its vehicles still leave). With `avoid` False, legs keep
    their length and only `crossed` is filled (for a penalty).
    """
    lat_arr, lon_arr = np.asarray(lats, float), np.asarray(lons, float)
    n = len(lat_arr)
    km = _great_circle(lat_arr, lon_arr)
    if not zones or n == 0:
        return Detours(km, {}, {}, frozenset())
    lat0, lon0 = float(np.mean(lat_arr)), float(np.mean(lon_arr))
    x, y = _project(lat_arr, lon_arr, lat0, lon0)
    exempt_sets = [set(e) for e in exempt] + [set() for _ in range(n - len(exempt))]
    crossing: dict[tuple[int, int], list[int]] = {}
    centres = []
    for z, zone in enumerate(zones):
        cx, cy = _project(np.array([zone.lat]), np.array([zone.lon]), lat0, lon0)
        centres.append((float(cx[0]), float(cy[0])))
        near = _segment_distance(x[:, None], y[:, None], x[None, :], y[None, :],
                                 centres[-1][0], centres[-1][1]) < zone.radius_km  # fmt: skip
        for i, j in zip(*np.nonzero(near), strict=True):
            if i != j and z not in exempt_sets[i] and z not in exempt_sets[j]:
                crossing.setdefault((int(i), int(j)), []).append(z)
    crossed = {pair: tuple(found) for pair, found in crossing.items()}
    if not avoid or not crossed:
        return Detours(km, crossed, {}, frozenset(z for f in crossed.values() for z in f))
    # Visibility graph: the points, then RING_POINTS around each zone.
    ring_x, ring_y, ring_zone = [], [], []
    for z, zone in enumerate(zones):
        radius = zone.radius_km * RING_MARGIN / math.cos(math.pi / RING_POINTS)
        for k in range(RING_POINTS):
            angle = 2 * math.pi * k / RING_POINTS
            ring_x.append(centres[z][0] + radius * math.cos(angle))
            ring_y.append(centres[z][1] + radius * math.sin(angle))
            ring_zone.append(z)
    gx = np.concatenate([x, np.array(ring_x)])
    gy = np.concatenate([y, np.array(ring_y)])
    total = len(gx)
    blocked = np.zeros((total, total), dtype=bool)
    # Every zone blocks ring legs; exempt zones do not block legs touching their point.
    for z, zone in enumerate(zones):
        near = _segment_distance(gx[:, None], gy[:, None], gx[None, :], gy[None, :],
                                 centres[z][0], centres[z][1]) < zone.radius_km  # fmt: skip
        for i in range(n):
            if z in exempt_sets[i]:
                near[i, :] = False
                near[:, i] = False
        blocked |= near
    np.fill_diagonal(blocked, False)
    plane = np.hypot(gx[:, None] - gx[None, :], gy[:, None] - gy[None, :])
    # Detours run from a point to ring points, round the rings, and to the other
    # point: no leg between two points (the direct ones are what is blocked).
    usable = ~blocked
    usable[:n, :n] = False
    graph = np.where(usable, np.maximum(plane, 1e-9), 0.0)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    by_source: dict[int, list[int]] = {}
    for a, j in crossed:
        by_source.setdefault(a, []).append(j)
    sources = sorted(by_source)
    distances, predecessors = dijkstra(
        csr_matrix(graph), directed=False, indices=sources, return_predecessors=True
    )
    km = km.copy()
    via: dict[tuple[int, int], tuple[tuple[float, float], ...]] = {}
    for row, a in enumerate(sources):
        for j in by_source[a]:
            length = float(distances[row, j])
            if not math.isfinite(length):
                km[a, j] = math.inf
                continue
            # Plane kilometres scaled to the direct leg's great-circle length, so
            # the detour is measured on the same scale as the legs it replaces.
            direct = float(plane[a, j])
            if direct > 0:
                km[a, j] = length * float(km[a, j]) / direct
            path: list[int] = []
            node = int(predecessors[row, j])
            while node >= 0 and node != a:
                path.append(node)
                node = int(predecessors[row, node])
            path.reverse()
            via[(a, j)] = tuple(_unproject(gx[p], gy[p], lat0, lon0) for p in path if p >= n)
    shaped = frozenset(z for found in crossed.values() for z in found)
    return Detours(km, crossed, via, shaped)


def _unproject(x: float, y: float, lat0: float, lon0: float) -> tuple[float, float]:
    lat = lat0 + math.degrees(y / EARTH_KM)
    lon = lon0 + math.degrees(x / (EARTH_KM * math.cos(math.radians(lat0))))
    return round(lat, 6), round(lon, 6)
