"""Solomon VRPTW instances: read them into a routing problem, and check a solution
against the instance itself, without the solver.

The benchmark (benchmarks/vrptw_solomon.py) and the tests run guetteur's
routing on the public Solomon instances (C1, C2, R1, R2, RC1, RC2 families):
one depot, identical vehicles, one capacity, Euclidean distances in the
instance's units where travel time equals distance. To keep PyVRP's integers
exact to a thousandth of a unit, distances go in as "kilometres" (metres
inside the solver) and time runs at 3.6 units an hour (a thousandth of a unit
a second). The checker recomputes every route from the raw instance in
floating point: each customer visited once, loads within capacity, service
started within each window, back at the depot before it closes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guetteur.logistics.routing import Drop, Fleet, RoutingProblem, Site

__all__ = ["SCALE", "SolomonInstance", "check_routes", "read_solomon", "routing_problem"]

SCALE = 1000  # solver seconds per instance time unit
SPEED = 3.6  # units an hour: one unit of distance takes SCALE seconds


@dataclass(frozen=True)
class SolomonInstance:
    name: str
    vehicles: int
    capacity: int
    x: tuple[float, ...]  # node 0 is the depot
    y: tuple[float, ...]
    demand: tuple[int, ...]
    ready: tuple[float, ...]
    due: tuple[float, ...]
    service: tuple[float, ...]

    def distance(self, a: int, b: int) -> float:
        return math.hypot(self.x[a] - self.x[b], self.y[a] - self.y[b])


def read_solomon(path: Path) -> SolomonInstance:
    """An instance in Solomon's text format; ValueError naming the file otherwise."""
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    try:
        at = next(i for i, words in enumerate(lines) if words[:1] == ["NUMBER"])
        vehicles, capacity = (int(v) for v in lines[at + 1][:2])
        rows = [[float(v) for v in words] for words in lines[at + 2 :]
                if len(words) == 7 and words[0].isdigit()]  # fmt: skip
    except (StopIteration, ValueError, IndexError):
        raise ValueError(f"{path}: not a Solomon VRPTW instance") from None
    if not rows or rows[0][0] != 0:
        raise ValueError(f"{path}: no depot (customer 0)")
    columns = list(zip(*rows, strict=True))
    return SolomonInstance(
        name=path.stem,
        vehicles=vehicles,
        capacity=capacity,
        x=tuple(columns[1]),
        y=tuple(columns[2]),
        demand=tuple(int(v) for v in columns[3]),
        ready=tuple(columns[4]),
        due=tuple(columns[5]),
        service=tuple(columns[6]),
    )


def routing_problem(instance: SolomonInstance) -> RoutingProblem:
    """The instance as guetteur's routing problem (see the module's docstring)."""
    n = len(instance.x)
    xs, ys = np.array(instance.x), np.array(instance.y)
    km = np.hypot(xs[:, None] - xs[None, :], ys[:, None] - ys[None, :])
    depot = Site("depot", instance.y[0], instance.x[0])
    stops = [Site(str(i), instance.y[i], instance.x[i]) for i in range(1, n)]
    drops = [
        Drop(
            i - 1,
            (instance.demand[i],),
            round(instance.service[i] * SCALE),
            ((round(instance.ready[i] * SCALE), round(instance.due[i] * SCALE)),),
        )
        for i in range(1, n)
    ]
    horizon = (round(instance.ready[0] * SCALE), round(instance.due[0] * SCALE))
    fleet = Fleet("vehicle", 0, instance.vehicles, (instance.capacity,), SPEED, horizon)
    return RoutingProblem([depot], stops, drops, [fleet], km, depot_hours=[horizon])


def check_routes(
    instance: SolomonInstance, routes: Sequence[Sequence[int]], tolerance: float = 1e-3
) -> tuple[float, list[str]]:
    """(total distance, problems) of routes given as customer numbers (1..n-1) in
    visiting order, computed from the instance alone."""
    problems: list[str] = []
    seen: dict[int, int] = {}
    total = 0.0
    if len(routes) > instance.vehicles:
        problems.append(f"{len(routes)} routes for {instance.vehicles} vehicles")
    for number, route in enumerate(routes, start=1):
        load = sum(instance.demand[c] for c in route)
        if load > instance.capacity:
            problems.append(f"route {number}: load {load} above capacity {instance.capacity}")
        time, previous = instance.ready[0], 0
        for customer in route:
            seen[customer] = seen.get(customer, 0) + 1
            total += instance.distance(previous, customer)
            time = max(time + instance.distance(previous, customer), instance.ready[customer])
            if time > instance.due[customer] + tolerance:
                problems.append(
                    f"route {number}: customer {customer} served at {time:.3f}, "
                    f"after its window closes ({instance.due[customer]:g})"
                )
            time += instance.service[customer]
            previous = customer
        total += instance.distance(previous, 0)
        back = time + instance.distance(previous, 0)
        if back > instance.due[0] + tolerance:
            problems.append(f"route {number}: back at the depot at {back:.3f}, after it closes")
    for customer in range(1, len(instance.x)):
        if seen.get(customer, 0) != 1:
            problems.append(f"customer {customer} visited {seen.get(customer, 0)} times")
    return total, problems
