"""Routing quality and scale: Solomon VRPTW instances, 1,000 stops, and the cost of threats.

    .venv/bin/python benchmarks/vrptw_solomon.py [--instances DIR] [--seconds 10] [--json]
        [--scale-stops 1000] [--scale-vehicles 50] [--scale-seconds 55] [--skip-scale]

1. Solomon: each instance of DIR/instances (default ../shared/data/solomon_vrptw)
   is read by guetteur (logistics/solomon.py), solved by guetteur's routing
   (PyVRP) for `--seconds` on one core, and its routes checked from the
   instance alone (each customer once, capacity, windows, depot hours); the gap
   is to the best-known distance-only cost `<ID>_distance` of
   best_known_solutions.csv.
2. Scale: `--scale-stops` random stops (seeded) with 2-hour windows round one
   depot, `--scale-vehicles` vehicles: the time to a first feasible plan, the
   plan after `--scale-seconds`, both checked without the solver, against a
   nearest-neighbour construction in the same run.
3. Threats: the same kind of plan with 60 stops, with and without three 5 km
   threat zones avoided: the kilometres avoiding costs.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from guetteur.logistics.routing import Drop, Fleet, RoutingProblem, Site, solve_routes  # noqa: E402
from guetteur.logistics.solomon import check_routes, read_solomon, routing_problem  # noqa: E402
from guetteur.logistics.threats import ThreatZone, route_around  # noqa: E402
from guetteur.model import Marking  # noqa: E402
from guetteur.security.markings import parse_marking  # noqa: E402

DEFAULT_INSTANCES = REPO.parent / "shared" / "data" / "solomon_vrptw"
DAY_S = 12 * 3600


def solomon(folder: Path, seconds: float) -> list[dict[str, Any]]:
    best = {}
    with (folder / "best_known_solutions.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            best[row["instance"]] = float(row["best_known_cost"])
    results = []
    for path in sorted((folder / "instances").glob("*.txt")):
        instance = read_solomon(path)
        problem = routing_problem(instance)
        started = time.perf_counter()
        solution = solve_routes(problem, seconds, required=True)
        elapsed = time.perf_counter() - started
        routes = [[problem.drops[d].stop + 1 for d, _ in r.visits] for r in solution.routes]
        distance, problems = check_routes(instance, routes)
        known = best.get(f"{instance.name}_distance")
        results.append(
            {
                "instance": instance.name,
                "vehicles": len(routes),
                "distance": round(distance, 2),
                "best_known": known,
                "gap_pct": round(100 * (distance / known - 1), 2) if known else None,
                "feasible": not problems,
                "problems": problems[:3],
                "seconds": round(elapsed, 1),
            }
        )
    return results


# ------------------------------------------------------------------ scale
def random_problem(stops: int, vehicles: int, seed: int = 7) -> RoutingProblem:
    rng = np.random.default_rng(seed)
    points = rng.uniform(-75, 75, size=(stops + 1, 2))  # km, a 150 km square
    points[0] = (0.0, 0.0)
    km = np.hypot(points[:, None, 0] - points[None, :, 0], points[:, None, 1] - points[None, :, 1])
    speed = 60.0
    demand = rng.integers(1, 11, size=stops)
    capacity = int(math.ceil(demand.sum() / vehicles * 1.3))
    drops = []
    for i in range(stops):
        reach = int(km[0, i + 1] / speed * 3600)
        early = int(rng.integers(reach, DAY_S - reach - 2 * 3600))
        drops.append(Drop(i, (int(demand[i]),), 300, ((early, early + 2 * 3600),)))
    sites = [Site(f"s{i}", float(p[1]), float(p[0])) for i, p in enumerate(points)]
    fleet = Fleet("truck", 0, vehicles, (capacity,), speed, (0, DAY_S))
    return RoutingProblem(sites[:1], sites[1:], drops, [fleet], km)


def check(problem: RoutingProblem, routes: list[list[int]]) -> list[str]:
    """Capacity, windows, shift end, each drop once: from the problem's data alone."""
    fleet = problem.fleets[0]
    problems, seen = [], [0] * len(problem.drops)
    if len(routes) > fleet.count:
        problems.append(f"{len(routes)} routes for {fleet.count} vehicles")
    for number, route in enumerate(routes):
        if sum(problem.drops[d].load[0] for d in route) > fleet.capacity[0]:
            problems.append(f"route {number}: over capacity")
        clock, node = float(fleet.shift[0]), 0
        for d in route:
            seen[d] += 1
            drop = problem.drops[d]
            target = problem.node(drop.stop)
            clock = max(clock + problem.km[node, target] / fleet.speed_kmh * 3600,
                        drop.windows[0][0])  # fmt: skip
            if clock > drop.windows[0][1] + 1:
                problems.append(f"route {number}: drop {d} late")
            clock += drop.service_s
            node = target
        if clock + problem.km[node, 0] / fleet.speed_kmh * 3600 > fleet.shift[1] + 1:
            problems.append(f"route {number}: back after the shift")
    problems += [f"drop {d} served {n} times" for d, n in enumerate(seen) if n != 1]
    return problems


def route_km(problem: RoutingProblem, routes: list[list[int]]) -> float:
    total = 0.0
    for route in routes:
        nodes = [0, *(problem.node(problem.drops[d].stop) for d in route), 0]
        total += sum(problem.km[a, b] for a, b in zip(nodes, nodes[1:], strict=False))
    return float(total)


def nearest_neighbour(problem: RoutingProblem) -> list[list[int]]:
    """Routes built one at a time: always the nearest drop still servable in its
    window, with room left and time to get back; a new vehicle when none is."""
    fleet = problem.fleets[0]
    left = set(range(len(problem.drops)))
    routes: list[list[int]] = []
    while left and len(routes) < fleet.count:
        route, load, clock, node = [], 0, float(fleet.shift[0]), 0
        while True:
            best, best_km = None, math.inf
            for d in left:
                drop = problem.drops[d]
                target = problem.node(drop.stop)
                arrive = max(clock + problem.km[node, target] / fleet.speed_kmh * 3600,
                             drop.windows[0][0])  # fmt: skip
                back = arrive + drop.service_s + problem.km[target, 0] / fleet.speed_kmh * 3600
                fits = load + drop.load[0] <= fleet.capacity[0]
                if fits and arrive <= drop.windows[0][1] and back <= fleet.shift[1]:
                    if problem.km[node, target] < best_km:
                        best, best_km = d, problem.km[node, target]
            if best is None:
                break
            drop = problem.drops[best]
            target = problem.node(drop.stop)
            clock = max(clock + problem.km[node, target] / fleet.speed_kmh * 3600,
                        drop.windows[0][0]) + drop.service_s  # fmt: skip
            load += drop.load[0]
            node = target
            route.append(best)
            left.discard(best)
        if not route:
            break
        routes.append(route)
    return routes


def scale(stops: int, vehicles: int, seconds: float) -> dict[str, Any]:
    problem = random_problem(stops, vehicles)
    started = time.perf_counter()
    baseline = nearest_neighbour(problem)
    baseline_s = time.perf_counter() - started
    served = sum(len(r) for r in baseline)
    started = time.perf_counter()
    first = solve_routes(problem, seconds, required=True, first_feasible=True)
    first_s = time.perf_counter() - started
    first_routes = [[d for d, _ in r.visits] for r in first.routes]
    started = time.perf_counter()
    solution = solve_routes(problem, seconds, required=True)
    elapsed = time.perf_counter() - started
    routes = [[d for d, _ in r.visits] for r in solution.routes]
    problems = check(problem, routes)
    return {
        "stops": stops,
        "vehicles": vehicles,
        "first_feasible": {
            "seconds": round(first_s, 1),
            "feasible": not check(problem, first_routes),
            "distance_km": round(route_km(problem, first_routes), 1),
        },
        "seconds": round(elapsed, 1),
        "feasible": not problems,
        "problems": problems[:3],
        "routes": len(routes),
        "distance_km": round(route_km(problem, routes), 1),
        "nearest_neighbour": {
            "seconds": round(baseline_s, 1),
            "routes": len(baseline),
            "served": served,
            "distance_km": round(route_km(problem, baseline), 1),
            "feasible": served == stops and not check(problem, baseline),
        },
    }


def threats(stops: int, seconds: float, zones: int = 3, radius_km: float = 5.0) -> dict[str, Any]:
    """Kilometres added by avoiding `zones` threat zones on a `stops`-stop plan."""
    problem = random_problem(stops, max(5, stops // 20), seed=11)
    rng = np.random.default_rng(3)
    lat0, lon0 = 59.0, 26.0  # the square placed in Estonia, for the geometry
    to_lat = 1 / 111.195
    to_lon = 1 / (111.195 * math.cos(math.radians(lat0)))
    lats = [lat0 + s.lat * to_lat for s in [*problem.depots, *problem.stops]]
    lons = [lon0 + s.lon * to_lon for s in [*problem.depots, *problem.stops]]
    marking: Marking = parse_marking("NATO UNCLASSIFIED")
    placed: list[ThreatZone] = []
    while len(placed) < zones:
        x, y = rng.uniform(-60, 60, size=2)
        lat, lon = lat0 + y * to_lat, lon0 + x * to_lon
        if all(math.hypot((la - lat) / to_lat, (lo - lon) / to_lon) > radius_km * 1.2
               for la, lo in zip(lats, lons, strict=True)):  # fmt: skip
            placed.append(ThreatZone("ambush", lat, lon, radius_km, f"d{len(placed)}",
                                     f"e{len(placed)}", None, "", None, marking))  # fmt: skip
    plain = solve_routes(problem, seconds, required=True)
    detours = route_around(lats, lons, placed)
    # Keep the problem's own plane: scale each detoured leg by its ratio to the direct one.
    direct = route_around(lats, lons, [])
    ratio = np.divide(detours.km, direct.km, out=np.ones_like(direct.km), where=direct.km > 0)
    avoiding = RoutingProblem(problem.depots, problem.stops, problem.drops, problem.fleets,
                              problem.km * ratio)  # fmt: skip
    avoided = solve_routes(avoiding, seconds, required=True)
    kept = [[d for d, _ in r.visits] for r in plain.routes]
    return {
        "stops": stops,
        "zones": zones,
        "radius_km": radius_km,
        "legs_detoured": len(detours.crossed),
        "unconstrained_km": round(plain.distance_km, 1),
        "avoiding_km": round(avoided.distance_km, 1),
        "unconstrained_routes_driven_round_km": round(route_km(avoiding, kept), 1),
        "extra_pct": round(100 * (avoided.distance_km / plain.distance_km - 1), 2),
        "both_feasible": plain.feasible and avoided.feasible,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=Path, default=DEFAULT_INSTANCES)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--scale-stops", type=int, default=1000)
    parser.add_argument("--scale-vehicles", type=int, default=50)
    parser.add_argument("--scale-seconds", type=float, default=55.0)
    parser.add_argument("--threat-stops", type=int, default=60)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "cores": len(os.sched_getaffinity(0)),
        "solomon": solomon(args.instances, args.seconds),
    }
    gaps = [r["gap_pct"] for r in report["solomon"] if r["gap_pct"] is not None]
    report["solomon_mean_gap_pct"] = round(sum(gaps) / len(gaps), 2) if gaps else None
    if not args.skip_scale:
        report["scale"] = scale(args.scale_stops, args.scale_vehicles, args.scale_seconds)
        report["threats"] = threats(args.threat_stops, 3 * args.seconds)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"Solomon, {args.seconds:g} s per instance:")
    for r in report["solomon"]:
        state = "feasible" if r["feasible"] else f"INFEASIBLE {r['problems']}"
        print(f"  {r['instance']:6} {r['vehicles']:3} routes {r['distance']:9.2f} "
              f"best {r['best_known']:9.2f} gap {r['gap_pct']:5.2f}%  {state}")  # fmt: skip
    print(f"  mean gap {report['solomon_mean_gap_pct']}%")
    if "scale" in report:
        s, nn = report["scale"], report["scale"]["nearest_neighbour"]
        f = s["first_feasible"]
        print(f"scale: first feasible plan after {f['seconds']} s ({f['distance_km']} km, "
              f"checked {f['feasible']})")  # fmt: skip
        print(f"scale: {s['stops']} stops, {s['vehicles']} vehicles: {s['routes']} routes, "
              f"{s['distance_km']} km in {s['seconds']} s, feasible {s['feasible']}; "
              f"nearest neighbour {nn['distance_km']} km, {nn['routes']} routes, "
              f"{nn['served']} served, feasible {nn['feasible']} "
              f"(ratio {nn['distance_km'] / s['distance_km']:.2f})")  # fmt: skip
        t = report["threats"]
        print(f"threats: {t['stops']} stops, {t['zones']} zones of {t['radius_km']} km: "
              f"{t['unconstrained_km']} km → {t['avoiding_km']} km (+{t['extra_pct']}%; the "
              f"unconstrained routes driven round the zones: "
              f"{t['unconstrained_routes_driven_round_km']} km), "
              f"{t['legs_detoured']} legs detoured")  # fmt: skip


if __name__ == "__main__":
    main()
