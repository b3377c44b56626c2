"""The vehicle routing problem of a resupply, solved with PyVRP.

    depots, drops (what to deliver where, when), fleets, a kilometre matrix
        → PyVRP model: a profile per vehicle speed, a vehicle type per fleet
          and shift, a client per drop (a client group when a unit has
          several windows), capacities in every supply class at once
        → routes: which vehicle, which drops, when it starts unloading

Choices a reader should know:

- Units are metres and seconds (PyVRP counts in integers); loads are whole
  rations, litres and kilograms.
- PyVRP 0.14's solver is an iterated local search (the genetic algorithm of
  its first versions, HGS, is gone from the package). It stops at the time
  limit, or earlier once `no_improvement` iterations in a row found nothing
  better: a small plan then comes out the same on every run and machine,
  since the seed is fixed.
- With `required` False (the plans of `guetteur logistics plan`), every drop
  is optional with a prize far above any leg's cost, so the solver serves
  all it can and leaves out only what the fleet cannot carry or reach in
  time; those drops come back as unserved for the plan to explain. Legs that
  cannot be driven (no road in a user's matrix, every way round a threat
  closed) cost a hundred prizes: leaving a unit out is always cheaper.
- A leg's cost is its length, plus any threat penalty (`cost_km`); the
  route's reported length is its real length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Drop",
    "Fleet",
    "RouteResult",
    "RoutingProblem",
    "RoutingSolution",
    "Site",
    "solve_routes",
]

Matrix = npt.NDArray[np.float64]
UNLIMITED = 10**12  # seconds: no window


@dataclass(frozen=True)
class Site:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Drop:
    """Part of a unit's demand, delivered in one visit."""

    stop: int  # index into RoutingProblem.stops
    load: tuple[int, ...]  # per dimension
    service_s: int
    windows: tuple[tuple[int, int], ...] = ()  # (early, late) seconds; empty: any time


@dataclass(frozen=True)
class Fleet:
    """Vehicles of one type, at one depot, in one shift."""

    name: str
    depot: int  # index into RoutingProblem.depots
    count: int
    capacity: tuple[int, ...]
    speed_kmh: float
    shift: tuple[int, int] = (0, UNLIMITED)
    max_duration_s: int | None = None


@dataclass
class RoutingProblem:
    depots: list[Site]
    stops: list[Site]
    drops: list[Drop]
    fleets: list[Fleet]
    km: Matrix  # (depots + stops) square; inf: no way
    cost_km: Matrix | None = None  # the solver's cost when it differs from km (penalties)
    minutes: Matrix | None = None  # driving minutes when given (a user's matrix); nan: use speed
    depot_hours: list[tuple[int, int]] = field(default_factory=list)

    def node(self, stop: int) -> int:
        return len(self.depots) + stop


@dataclass(frozen=True)
class RouteResult:
    fleet: int
    visits: tuple[tuple[int, int], ...]  # (drop index, service start in seconds)
    start_s: int
    end_s: int
    km: float


@dataclass(frozen=True)
class RoutingSolution:
    routes: tuple[RouteResult, ...]
    unserved: tuple[int, ...]  # drop indices
    feasible: bool
    distance_km: float
    iterations: int
    runtime_s: float


def _durations(problem: RoutingProblem, speed_kmh: float) -> Matrix:
    with np.errstate(invalid="ignore"):
        seconds = problem.km / speed_kmh * 3600.0
    if problem.minutes is not None:
        seconds = np.where(np.isnan(problem.minutes), seconds, problem.minutes * 60.0)
    return seconds


def solve_routes(
    problem: RoutingProblem,
    time_limit_s: float,
    *,
    required: bool = False,
    seed: int = 0,
    no_improvement: int | None = None,
    first_feasible: bool = False,
) -> RoutingSolution:
    """Routes for `problem`; see the module's docstring."""
    from pyvrp import Model, solve
    from pyvrp.stop import (
        FirstFeasible,
        MaxRuntime,
        MultipleCriteria,
        NoImprovement,
        StoppingCriterion,
    )

    dims = len(problem.fleets[0].capacity) if problem.fleets else 0
    if not problem.drops or not problem.fleets:
        return RoutingSolution((), tuple(range(len(problem.drops))), not problem.drops, 0.0, 0, 0.0)
    cost = problem.cost_km if problem.cost_km is not None else problem.km
    finite_cost = cost[np.isfinite(cost)]
    top = float(finite_cost.max()) if finite_cost.size else 1.0
    prize = max(1, int(10 * top * 1000) + 1)  # metres
    blocked = 100 * prize

    model = Model()
    sites = [*problem.depots, *problem.stops]
    locations = [model.add_location(x=site.lon, y=site.lat, name=site.name) for site in sites]
    depots = []
    for index, _ in enumerate(problem.depots):
        hours = problem.depot_hours[index] if index < len(problem.depot_hours) else (0, UNLIMITED)
        depots.append(model.add_depot(locations[index], tw_early=hours[0], tw_late=hours[1]))
    speeds = sorted({fleet.speed_kmh for fleet in problem.fleets})
    profiles = {speed: model.add_profile(name=f"{speed:g} km/h") for speed in speeds}
    for fleet in problem.fleets:
        early, late = fleet.shift
        model.add_vehicle_type(
            num_available=fleet.count,
            capacity=list(fleet.capacity),
            start_depot=depots[fleet.depot],
            end_depot=depots[fleet.depot],
            tw_early=early,
            tw_late=late,
            shift_duration=fleet.max_duration_s if fleet.max_duration_s else late - early,
            profile=profiles[fleet.speed_kmh],
            name=fleet.name,
        )
    clients: list[int] = []  # PyVRP client index → drop index
    for index, drop in enumerate(problem.drops):
        windows = drop.windows or ((0, UNLIMITED),)
        group = None
        if len(windows) > 1:
            group = model.add_client_group(required=required)
        for early, late in windows:
            model.add_client(
                locations[problem.node(drop.stop)],
                delivery=list(drop.load) if dims else [],
                service_duration=drop.service_s,
                tw_early=early,
                tw_late=late,
                required=required and group is None,
                prize=0 if required else prize,
                group=group,
            )
            clients.append(index)
    metres = np.where(np.isfinite(cost), np.round(cost * 1000), blocked).astype(np.int64)
    np.fill_diagonal(metres, 0)
    durations: list[Any] = []
    for speed in speeds:
        seconds = _durations(problem, speed)
        secs = np.where(np.isfinite(seconds), np.round(seconds), blocked).astype(np.int64)
        np.fill_diagonal(secs, 0)
        durations.append(secs)
    # Whole matrices (one per profile) instead of an edge at a time: a thousand
    # stops would otherwise be a million calls.
    matrices: Any = [metres] * len(speeds)
    data = model.data().replace(distance_matrices=matrices, duration_matrices=list(durations))
    criteria: list[StoppingCriterion] = [MaxRuntime(time_limit_s)]
    if no_improvement:
        criteria.append(NoImprovement(no_improvement))
    if first_feasible:
        criteria.append(FirstFeasible())
    stop = MultipleCriteria(criteria) if len(criteria) > 1 else criteria[0]
    result = solve(data, stop=stop, seed=seed, display=False)
    best = result.best
    routes: list[RouteResult] = []
    served: set[int] = set()
    total_km = 0.0
    for route in best.routes():
        visits: list[tuple[int, int]] = []
        previous = route.start_depot()
        km = 0.0
        for activity in route.schedule():
            if not activity.is_client():
                continue
            drop_index = clients[activity.idx]
            node = problem.node(problem.drops[drop_index].stop)
            km += float(problem.km[previous, node])
            previous = node
            visits.append((drop_index, int(activity.start_time)))
            served.add(drop_index)
        km += float(problem.km[previous, route.end_depot()])
        routes.append(
            RouteResult(
                route.vehicle_type(),
                tuple(visits),
                int(route.start_time()),
                int(route.end_time()),
                km,
            )  # fmt: skip
        )
        total_km += km
    unserved = tuple(i for i in range(len(problem.drops)) if i not in served)
    uses_blocked = any(not math.isfinite(r.km) for r in routes)
    return RoutingSolution(
        tuple(routes),
        unserved,
        bool(best.is_feasible()) and not unserved and not uses_blocked,
        total_km,
        int(result.num_iterations),
        float(result.runtime),
    )
