"""A resupply plan: the tables and threats a reader may read, made into routes.

    table records (depots, units, vehicles, windows, matrix, consumption)
        → the day's problem: sites, fleets per shift, drops per unit
          (demand from the units table, else forecast from consumption)
        → distances: great-circle × road factor, or the user's matrix;
          threat zones detoured, refused or charged
        → checks that explain what cannot be served, before solving
        → PyVRP routes → the plan, its marking and what shaped it

Everything here is a function of its arguments: the workspace passes the
records and events the reader may read, so two readers who may read the
same records get the same plan, whatever else the workspace holds.

Choices a reader should know:

- The plan's day is the date of the earliest date-time in the tables (a
  time of day such as `06:00` is on that day), else `PlanOptions.day`, else
  today (UTC). A unit without a window may be served any time that day; a
  vehicle without a shift works the whole day.
- A unit's demand per class is the units table's, where it gives one;
  otherwise the forecast of its consumption over `horizon_days` at
  `quantile`; otherwise nothing. A unit's demand is split into drops a
  vehicle type can carry whole (one drop per group of classes some vehicle
  carries together, split again when larger than that vehicle).
- What cannot be served is said before solving, unit by unit: inside an
  avoided threat zone; a class no vehicle carries; no road from any depot
  whose vehicles carry it (matrix, threats); every window closed before the
  earliest arrival, or outside every shift; a round trip longer than every
  vehicle's maximum duration. Then, for the whole plan: demand above the
  fleet's capacity in a shift, demand above the depots' stock. The solver
  leaves out what still does not fit; those units are named too.
- Depot stocks are checked after solving (PyVRP has no depot stock): a depot
  that would issue more than it holds makes the plan infeasible, said so.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from guetteur.logistics.forecast import forecast_consumption
from guetteur.logistics.routing import (
    UNLIMITED,
    Drop,
    Fleet,
    RoutingProblem,
    Site,
    solve_routes,
)
from guetteur.logistics.tables import CLASS_UNITS, SUPPLY_CLASSES, LogisticsRecord, name_key
from guetteur.logistics.threats import (
    THREAT_KINDS,
    ThreatZone,
    inside_zones,
    route_around,
    threat_zones,
)
from guetteur.model import Marking
from guetteur.security.markings import high_water_mark
from guetteur.store import EventRow

__all__ = [
    "ROAD_FACTOR",
    "Avoided",
    "Plan",
    "PlanOptions",
    "RoutePlan",
    "StopPlan",
    "Unserved",
    "plan_resupply",
]

ROAD_FACTOR = 1.3  # road kilometres per great-circle kilometre (rural Europe: 1.2-1.4)
DAY = 24 * 3600


@dataclass(frozen=True)
class PlanOptions:
    avoid_threats: bool = False
    threat_kinds: tuple[str, ...] = THREAT_KINDS
    radius_km: Mapping[str, float] = field(default_factory=dict)
    penalty_km: float | None = None  # charge crossings instead of avoiding them
    since: datetime | None = None
    until: datetime | None = None
    time_limit_s: float = 30.0
    horizon_days: int = 1
    quantile: float = 0.9
    road_factor: float = ROAD_FACTOR
    day: date | None = None
    seed: int = 0

    @property
    def threats(self) -> bool:
        return self.avoid_threats or self.penalty_km is not None


@dataclass(frozen=True)
class StopPlan:
    name: str
    lat: float
    lon: float
    arrival: datetime
    delivery: Mapping[str, int]


@dataclass(frozen=True)
class RoutePlan:
    vehicle: str
    depot: str
    start: datetime
    end: datetime
    distance_km: float
    stops: tuple[StopPlan, ...]
    path: tuple[tuple[float, float], ...]  # (lat, lon) from depot to depot, detours included


@dataclass(frozen=True)
class Avoided:
    doc_id: str
    kind: str
    reason: str
    lat: float
    lon: float
    radius_km: float
    marking: Marking


@dataclass(frozen=True)
class Unserved:
    name: str
    reason: str
    demand: Mapping[str, int]


@dataclass(frozen=True)
class Plan:
    marking: Marking
    feasible: bool
    distance_km: float
    day: date
    routes: tuple[RoutePlan, ...]
    avoided: tuple[Avoided, ...]
    unserved: tuple[Unserved, ...]
    explanation: tuple[str, ...]
    demand_sources: Mapping[str, Mapping[str, str]]  # unit → class → table | forecast
    solver: Mapping[str, Any]


# ------------------------------------------------------------------------ times
def _absolute(text: str | None) -> datetime | None:
    if not text or text.startswith("T"):
        return None
    return datetime.fromisoformat(text)


def _seconds(text: str | None, origin: datetime, default: int) -> int:
    if not text:
        return default
    if text.startswith("T"):
        hours, minutes = (int(part) for part in text[1:].split(":"))
        return hours * 3600 + minutes * 60
    return max(0, int((datetime.fromisoformat(text) - origin).total_seconds()))


def _clock(origin: datetime, seconds: int) -> str:
    return (origin + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%MZ")


def _plan_day(records: Sequence[LogisticsRecord], chosen: date | None) -> date:
    stamps: list[datetime] = []
    for record in records:
        data = record.data
        for pair in [*data.get("windows", []), *data.get("shifts", [])]:
            stamps.extend(m for m in map(_absolute, pair) if m is not None)
        for key in ("open", "close"):
            moment = _absolute(data.get(key))
            if moment is not None:
                stamps.append(moment)
    if stamps:
        return min(stamps).astimezone(UTC).date()
    return chosen or datetime.now(UTC).date()


# ----------------------------------------------------------------------- plan
@dataclass
class _Unit:
    name: str
    site: int
    demand: dict[str, int]
    windows: list[tuple[int, int]]
    service_s: int
    drops: list[int] = field(default_factory=list)
    reason: str | None = None


def plan_resupply(
    records: Sequence[LogisticsRecord],
    events: Sequence[EventRow],
    options: PlanOptions,
    floor: Marking,
) -> Plan:
    """The plan for `records` around the threats of `events`; see the module's docstring.

    `floor`: the marking of a plan built from nothing (the reader's lowest).
    """
    by_kind: dict[str, list[LogisticsRecord]] = defaultdict(list)
    for record in records:
        by_kind[record.kind].append(record)
    problem_kinds = ("depot", "unit", "vehicle", "window", "matrix")
    used: list[Marking] = [r.marking for kind in problem_kinds for r in by_kind[kind]]
    day = _plan_day(records, options.day)
    origin = datetime(day.year, day.month, day.day, tzinfo=UTC)
    explanation: list[str] = []

    # Sites: depots, then units.
    depot_rows = sorted(by_kind["depot"], key=lambda r: r.key)
    unit_rows = sorted(by_kind["unit"], key=lambda r: r.key)
    depot_index = {r.key: i for i, r in enumerate(depot_rows)}
    sites = [Site(str(r.data["name"]), float(r.data["lat"]), float(r.data["lon"]))
             for r in [*depot_rows, *unit_rows]]  # fmt: skip
    period_end = max(
        [DAY]
        + [
            _seconds(t, origin, 0)
            for r in records
            for pair in [*r.data.get("windows", []), *r.data.get("shifts", [])]
            for t in pair
        ]
    )

    # Fleets: one per vehicle row and shift.
    fleets: list[Fleet] = []
    for row in sorted(by_kind["vehicle"], key=lambda r: r.key):
        data = row.data
        home = depot_index.get(name_key(str(data["depot"])))
        if home is None:
            explanation.append(
                f"vehicle {data['name']}: its depot {data['depot']!r} is in no depots table "
                "you may read; it was not used"
            )
            continue
        capacity = tuple(math.floor(float(data["capacity"].get(c, 0))) for c in SUPPLY_CLASSES)
        shifts = data.get("shifts") or [[None, None]]
        max_hours = data.get("max_hours")
        for number, (start, end) in enumerate(shifts, start=1):
            early, late = _seconds(start, origin, 0), _seconds(end, origin, period_end)
            if late <= early:
                explanation.append(f"vehicle {data['name']}: shift {number} ends before it starts")
                continue
            label = str(data["name"]) + (f" (shift {number})" if len(shifts) > 1 else "")
            fleets.append(
                Fleet(label, home, int(data["count"]), capacity, float(data["speed_kmh"]),
                      (early, late), int(float(max_hours) * 3600) if max_hours else None)
            )  # fmt: skip

    # Units: windows (own and from windows tables), demand (table, else forecast).
    windows_of: dict[str, list[list[str]]] = defaultdict(list)
    for row in by_kind["window"]:
        windows_of[row.key].extend(row.data["windows"])
    forecast_rows = by_kind["consumption"]
    units: list[_Unit] = []
    sources: dict[str, dict[str, str]] = {}
    wanted_forecasts: set[tuple[str, str]] = set()
    for row in unit_rows:
        stated = {c: float(q) for c, q in row.data.get("demand", {}).items()}
        for cls in SUPPLY_CLASSES:
            if cls not in stated:
                wanted_forecasts.add((row.key, cls))
    forecasts: dict[tuple[str, str], int] = {}
    if wanted_forecasts and forecast_rows:
        relevant = [
            r for r in forecast_rows
            if (name_key(str(r.data["unit"])), str(r.data["class"])) in wanted_forecasts
        ]  # fmt: skip
        for found in forecast_consumption(relevant, options.horizon_days, options.quantile):
            forecasts[(name_key(found.unit), found.supply_class)] = found.deliver
        used.extend(r.marking for r in relevant)
    for offset, row in enumerate(unit_rows):
        data = row.data
        demand: dict[str, int] = {}
        sources[str(data["name"])] = {}
        for cls in SUPPLY_CLASSES:
            if cls in data.get("demand", {}):
                quantity = math.ceil(round(float(data["demand"][cls]), 6))
                source = "table"
            elif (row.key, cls) in forecasts:
                quantity, source = forecasts[(row.key, cls)], "forecast"
            else:
                continue
            if quantity > 0:
                demand[cls] = quantity
                sources[str(data["name"])][cls] = source
        spans = [*data.get("windows", []), *windows_of.get(row.key, [])]
        windows = sorted({(_seconds(a, origin, 0), _seconds(b, origin, period_end))
                          for a, b in spans})  # fmt: skip
        units.append(
            _Unit(str(data["name"]), len(depot_rows) + offset, demand, windows,
                  int(round(float(data.get("service_min", 20)) * 60)))
        )  # fmt: skip
    for unit in units:
        if any(b <= a for a, b in unit.windows):
            unit.reason = "a time window that closes before it opens"

    # Threats.
    zones: list[ThreatZone] = []
    if options.threats:
        zones = threat_zones(
            events, options.threat_kinds, options.radius_km, options.since, options.until
        )
    inside = inside_zones([s.lat for s in sites], [s.lon for s in sites], zones)
    shaped: set[int] = set()
    if options.avoid_threats and options.penalty_km is None:
        for unit in units:
            if inside[unit.site] and unit.demand and unit.reason is None:
                zone = zones[inside[unit.site][0]]
                unit.reason = f"inside the zone of a {zone.describe()}, report {zone.doc_id}"
                shaped.update(inside[unit.site])

    # Which classes each fleet carries; drops per unit.
    carries = [frozenset(c for c, q in zip(SUPPLY_CLASSES, f.capacity, strict=True) if q > 0)
               for f in fleets]  # fmt: skip
    drops: list[Drop] = []
    drop_unit: list[int] = []
    drop_classes: list[frozenset[str]] = []
    for index, unit in enumerate(units):
        if unit.reason or not unit.demand:
            continue
        remaining = dict(unit.demand)
        while remaining:
            best = max(
                range(len(fleets)),
                key=lambda f: (len(carries[f] & remaining.keys()), sum(fleets[f].capacity)),
                default=None,
            )
            if best is None or not carries[best] & remaining.keys():
                missing = ", ".join(f"{c} ({CLASS_UNITS[c]})" for c in sorted(remaining))
                unit.reason = f"no vehicle you may read carries {missing}"
                break
            classes = carries[best] & remaining.keys()
            room = dict(zip(SUPPLY_CLASSES, fleets[best].capacity, strict=True))
            parts = max(math.ceil(remaining[c] / room[c]) for c in classes)
            for part in range(parts):
                load = tuple(
                    (remaining[c] // parts + (1 if part < remaining[c] % parts else 0))
                    if c in classes else 0
                    for c in SUPPLY_CLASSES
                )  # fmt: skip
                drops.append(Drop(index, load, unit.service_s, tuple(unit.windows)))
                drop_unit.append(index)
                drop_classes.append(frozenset(classes))
                unit.drops.append(len(drops) - 1)
            for c in classes:
                del remaining[c]
        if unit.reason:  # a class nobody carries: none of the unit is planned
            for d in unit.drops:
                drop_unit[d] = -1
            unit.drops = []

    # Distances (the planned sites only take part in threat geometry).
    planned_sites = sorted({*range(len(depot_rows)),
                            *(u.site for u in units if u.drops)})  # fmt: skip
    km, cost, minutes, via, crossed = _distances(
        sites, planned_sites, by_kind["matrix"], zones, inside, options, len(depot_rows)
    )
    shaped.update(z for found in crossed.values() for z in found)

    # Checks per drop: a fleet that carries it, reaches it in a window, and is back in time.
    for index, unit in enumerate(units):
        if not unit.drops or unit.reason:
            continue
        problems: list[str] = []
        for d in unit.drops:
            why = _why_not(drops[d], drop_classes[d], unit, fleets, carries, km, minutes,
                           origin)  # fmt: skip
            if why:
                problems.append(why)
        if problems:
            unit.reason = problems[0]
            unit.drops = []
        del index

    kept = [d for u in units for d in u.drops]
    capacity_notes = _capacity_notes(
        [drops[d] for d in kept], fleets, by_kind["depot"], explanation
    )
    problem = RoutingProblem(
        depots=sites[: len(depot_rows)],
        stops=sites[len(depot_rows) :],
        drops=[drops[d] for d in kept],
        fleets=fleets,
        km=km,
        cost_km=cost,
        minutes=minutes,
        depot_hours=[
            (
                _seconds(r.data.get("open"), origin, 0),
                _seconds(r.data.get("close"), origin, UNLIMITED),
            )
            for r in depot_rows
        ],
    )
    solution = solve_routes(
        problem,
        options.time_limit_s,
        seed=options.seed,
        no_improvement=max(2000, 20 * len(kept)),
    )
    served_drops = {kept[d] for route in solution.routes for d, _ in route.visits}

    # Routes as the reader reads them.
    numbering: dict[int, int] = defaultdict(int)
    routes: list[RoutePlan] = []
    issued: dict[int, list[int]] = defaultdict(lambda: [0] * len(SUPPLY_CLASSES))
    for route in sorted(solution.routes, key=lambda r: (r.fleet, r.start_s, r.visits)):
        fleet = fleets[route.fleet]
        numbering[route.fleet] += 1
        stops: list[StopPlan] = []
        nodes = [fleet.depot]
        for local, start in route.visits:
            drop = drops[kept[local]]
            unit = units[drop.stop]
            node = problem.node(drop.stop)
            delivery = {c: q for c, q in zip(SUPPLY_CLASSES, drop.load, strict=True) if q}
            for k, q in enumerate(drop.load):
                issued[fleet.depot][k] += q
            if stops and nodes[-1] == node:
                merged = dict(stops[-1].delivery)
                for c, q in delivery.items():
                    merged[c] = merged.get(c, 0) + q
                stops[-1] = StopPlan(stops[-1].name, stops[-1].lat, stops[-1].lon,
                                     stops[-1].arrival, merged)  # fmt: skip
                continue
            site = sites[node]
            stops.append(StopPlan(unit.name, site.lat, site.lon,
                                  origin + timedelta(seconds=start), delivery))  # fmt: skip
            nodes.append(node)
        nodes.append(fleet.depot)
        path: list[tuple[float, float]] = []
        for a, b in zip(nodes, nodes[1:], strict=False):
            path.append((sites[a].lat, sites[a].lon))
            path.extend(via.get((a, b), ()))
        path.append((sites[nodes[-1]].lat, sites[nodes[-1]].lon))
        name = fleet.name if fleet.count == 1 else f"{fleet.name} #{numbering[route.fleet]}"
        routes.append(
            RoutePlan(name, sites[fleet.depot].name, origin + timedelta(seconds=route.start_s),
                      origin + timedelta(seconds=route.end_s), round(route.km, 1), tuple(stops),
                      tuple(path))
        )  # fmt: skip

    unserved: list[Unserved] = []
    for unit in units:
        if not unit.demand:
            continue
        if unit.reason:
            unserved.append(Unserved(unit.name, unit.reason, dict(unit.demand)))
            continue
        missed = [d for d in unit.drops if d not in served_drops]
        if missed:
            left: dict[str, int] = defaultdict(int)
            for d in missed:
                for c, q in zip(SUPPLY_CLASSES, drops[d].load, strict=True):
                    if q:
                        left[c] += q
            reason = capacity_notes or (
                "not served: the fleet's vehicles, shifts and windows left no room for it "
                f"within the {options.time_limit_s:g} s the solver had"
            )
            partly = " (partly served)" if len(missed) < len(unit.drops) else ""
            unserved.append(Unserved(unit.name + partly, reason, dict(left)))
    _stock_check(issued, depot_rows, explanation)

    avoided = tuple(
        Avoided(
            zones[z].doc_id,
            zones[z].kind,
            _avoid_reason(zones[z], z, units, inside, options),
            zones[z].lat,
            zones[z].lon,
            zones[z].radius_km,
            zones[z].marking,
        )
        for z in sorted(shaped)
    )
    markings = [*used, *(a.marking for a in avoided)]
    marking = high_water_mark(markings) if markings else floor
    feasible = not unserved and not explanation and (solution.feasible or not problem.drops)
    return Plan(
        marking=marking,
        feasible=feasible,
        distance_km=round(sum(r.distance_km for r in routes), 1),
        day=day,
        routes=tuple(routes),
        avoided=avoided,
        unserved=tuple(unserved),
        explanation=tuple(explanation),
        demand_sources=sources,
        solver={
            "iterations": solution.iterations,
            "seconds": round(solution.runtime_s, 2),
            "drops": len(problem.drops),
            "vehicle_types": len(fleets),
        },
    )


def _avoid_reason(
    zone: ThreatZone, z: int, units: Sequence[_Unit], inside: Sequence[Sequence[int]],
    options: PlanOptions,
) -> str:  # fmt: skip
    within = [u.name for u in units if z in inside[u.site] and u.reason and "inside" in u.reason]
    if within:
        return f"{zone.describe()}: {', '.join(within)} inside it, not served"
    if options.penalty_km is not None:
        return f"{zone.describe()}: each crossing costs {options.penalty_km:g} km more"
    return f"{zone.describe()}: routes go round it"


def _distances(
    sites: Sequence[Site],
    planned: Sequence[int],
    matrix_rows: Sequence[LogisticsRecord],
    zones: Sequence[ThreatZone],
    inside: Sequence[Sequence[int]],
    options: PlanOptions,
    depots: int,
) -> tuple[Any, Any, Any, dict[tuple[int, int], tuple[tuple[float, float], ...]],
           dict[tuple[int, int], tuple[int, ...]]]:  # fmt: skip
    """km, cost, minutes (or None), detour points and crossed zones, over all sites."""
    n = len(sites)
    exempt = [list(inside[i]) if i < depots else [] for i in range(n)]
    sub = list(planned)
    avoid = options.avoid_threats and options.penalty_km is None
    user_matrix = bool(matrix_rows)
    detours = route_around(
        [sites[i].lat for i in sub],
        [sites[i].lon for i in sub],
        zones if options.threats else [],
        [exempt[i] for i in sub],
        avoid=avoid and not user_matrix,
    )
    km = np.full((n, n), math.inf)
    minutes: Any = None
    crossed: dict[tuple[int, int], tuple[int, ...]] = {
        (sub[a], sub[b]): found for (a, b), found in detours.crossed.items()
    }
    via = {(sub[a], sub[b]): points for (a, b), points in detours.via.items()}
    if user_matrix:
        minutes = np.full((n, n), np.nan)
        index = {name_key(s.name): i for i, s in enumerate(sites)}
        given: set[tuple[int, int]] = set()
        for row in matrix_rows:
            a = index.get(name_key(str(row.data["from"])))
            b = index.get(name_key(str(row.data["to"])))
            if a is None or b is None:
                continue
            for i, j in ((a, b), (b, a)):
                if (i, j) in given and (i, j) != (a, b):
                    continue
                km[i, j] = float(row.data["km"])
                if row.data.get("minutes") is not None:
                    minutes[i, j] = float(row.data["minutes"])
            given.add((a, b))
        np.fill_diagonal(km, 0.0)
        if avoid:
            for i, j in crossed:
                km[i, j] = math.inf
    else:
        grid = np.ix_(sub, sub)
        km[grid] = detours.km * options.road_factor
        np.fill_diagonal(km, 0.0)
    cost = None
    if options.penalty_km is not None and crossed:
        cost = km.copy()
        for (i, j), found in crossed.items():
            cost[i, j] = km[i, j] + options.penalty_km * len(found)
    # A zone only shaped the plan where it changed a leg that exists.
    crossed = {pair: found for pair, found in crossed.items() if math.isfinite(km[pair]) or avoid}
    return km, cost, minutes, via, crossed


def _why_not(
    drop: Drop,
    classes: frozenset[str],
    unit: _Unit,
    fleets: Sequence[Fleet],
    carries: Sequence[frozenset[str]],
    km: Any,
    minutes: Any,
    origin: datetime,
) -> str | None:
    """Why no vehicle can serve `drop` on its own, or None when one can."""
    node = unit.site
    capable = [f for f, fleet in enumerate(fleets) if classes <= carries[f]]
    reachable = [
        f
        for f in capable
        if math.isfinite(km[fleets[f].depot, node]) and math.isfinite(km[node, fleets[f].depot])
    ]
    if not reachable:
        what = ", ".join(sorted(classes))
        return (f"no vehicle carrying {what} can reach it: no road from their depots "
                "(matrix, or threat zones closing every way)")  # fmt: skip
    arrivals: list[int] = []
    trips: list[int] = []
    too_late_back = False
    for f in reachable:
        fleet = fleets[f]
        there = _travel_s(km, minutes, fleet.depot, node, fleet.speed_kmh)
        back = _travel_s(km, minutes, node, fleet.depot, fleet.speed_kmh)
        arrive = fleet.shift[0] + there
        arrivals.append(arrive)
        limit = fleet.max_duration_s or (fleet.shift[1] - fleet.shift[0])
        trip = there + drop.service_s + back  # leaving later rather than waiting
        for early, late in list(drop.windows) or [(0, UNLIMITED)]:
            start = max(arrive, early)
            if start > late:
                continue
            if trip > limit:
                trips.append(trip)
                continue
            if start + drop.service_s + back > fleet.shift[1]:
                too_late_back = True
                continue
            return None
    if trips:
        return (f"its round trip takes {min(trips) / 3600:.1f} h, longer than any vehicle's "
                "maximum route duration or shift")  # fmt: skip
    first = min(arrivals)
    if too_late_back:
        return (f"no vehicle can serve it in a window and be back before its shift ends "
                f"(earliest arrival {_clock(origin, first)})")  # fmt: skip
    windows = ", ".join(f"{_clock(origin, a)}-{_clock(origin, b)}" for a, b in drop.windows)
    return (f"outside every time window: the earliest arrival is {_clock(origin, first)} "
            f"and its windows are {windows}")  # fmt: skip


def _travel_s(km: Any, minutes: Any, a: int, b: int, speed_kmh: float) -> int:
    if minutes is not None and not math.isnan(minutes[a, b]):
        return int(minutes[a, b] * 60)
    return int(km[a, b] / speed_kmh * 3600)


def _capacity_notes(
    drops: Sequence[Drop],
    fleets: Sequence[Fleet],
    depot_rows: Sequence[LogisticsRecord],
    explanation: list[str],
) -> str:
    """Explain demand above what the fleet can carry or the depots hold; the first such
    reason (for the units left out), or ''."""
    notes: list[str] = []
    for k, cls in enumerate(SUPPLY_CLASSES):
        demand = sum(d.load[k] for d in drops)
        if not demand:
            continue
        carried = sum(f.count * f.capacity[k] for f in fleets)
        unit = CLASS_UNITS[cls]
        if demand > carried:
            notes.append(
                f"demand for class {cls} ({demand:,} {unit}) is above what the fleet can "
                f"carry in its shifts ({carried:,} {unit})"
            )
        stocked = [r for r in depot_rows if cls in r.data.get("stock", {})]
        held = sum(float(r.data["stock"][cls]) for r in stocked)
        if stocked and demand > held:
            notes.append(
                f"demand for class {cls} ({demand:,} {unit}) is above the depots' stock "
                f"({held:,.0f} {unit})"
            )
    explanation.extend(notes)
    return notes[0] if notes else ""


def _stock_check(
    issued: Mapping[int, Sequence[int]],
    depot_rows: Sequence[LogisticsRecord],
    explanation: list[str],
) -> None:
    for depot, amounts in sorted(issued.items()):
        stock = depot_rows[depot].data.get("stock", {})
        for k, cls in enumerate(SUPPLY_CLASSES):
            if cls in stock and amounts[k] > float(stock[cls]):
                name = depot_rows[depot].data["name"]
                line = (f"depot {name} would issue {amounts[k]:,} {CLASS_UNITS[cls]} of class "
                        f"{cls} but holds {float(stock[cls]):,.0f}")  # fmt: skip
                if line not in explanation:
                    explanation.append(line)
