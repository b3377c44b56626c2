"""Resupply plans on the scenario's tables and on a Solomon instance: every unit
served within its windows and the vehicles' capacities (checked from the tables,
not the solver), markings, tear-line, threats, and explained infeasibility."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logistics_helpers import AMBUSH, TABLES, check_plan, scenario_tables

from guetteur.logistics.routing import solve_routes
from guetteur.logistics.solomon import check_routes, read_solomon, routing_problem
from guetteur.security.markings import high_water_mark, may_read, parse_marking
from guetteur.views import logistics_plan_geojson, logistics_plan_json
from guetteur.workspace import Workspace

from conftest import SHARED_DATA, new_workspace, write

SOLOMON = SHARED_DATA / "solomon_vrptw"
EARTH_KM = 6371.0088


def _table(name: str) -> list[dict[str, str]]:
    with (TABLES / name).open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()[1:-1]  # the banners
    return list(csv.DictReader(lines))


def _windows() -> dict[str, list[tuple[int, int]]]:
    found = {}
    for row in _table("units.csv"):
        start, end = row["window"].split("-")
        minutes = [int(t[:2]) * 60 + int(t[3:]) for t in (start, end)]
        found[row["name"]] = [(minutes[0], minutes[1])]
    return found


def _capacities() -> dict[str, dict[str, int]]:
    columns = {"III (L)": "III", "V (kg)": "V", "rations": "I", "water (L)": "water",
               "medical (kg)": "medical"}  # fmt: skip
    return {
        row["name"]: {cls: int(row[col]) for col, cls in columns.items() if row[col]}
        for row in _table("vehicles.csv")
    }


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Workspace]:
    workspace = new_workspace(tmp_path_factory.mktemp("plan") / "ws", built_gazetteer)
    report = workspace.logistics_import(workspace.operator(), scenario_tables())
    assert not report.failed
    yield workspace
    workspace.close()


def _plan(ws: Workspace, name: str | None = None, **options: Any) -> dict[str, Any]:
    options.setdefault("time_limit", 3.0)
    return logistics_plan_json(ws.logistics_plan(ws.user(name), **options))


def test_scenario_plan_serves_every_unit_within_windows_and_capacities(staff: Workspace) -> None:
    plan = _plan(staff)
    assert plan["feasible"], plan
    assert plan["unserved"] == [] and plan["explanation"] == []
    check_plan(plan, _windows(), _capacities())
    delivered: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for route in plan["routes"]:
        for stop in route["stops"]:
            for cls, qty in stop["delivery"].items():
                delivered[stop["name"]][cls] += qty
    # Fuel asked for in the units table is delivered exactly; the rest was forecast.
    for row in _table("units.csv"):
        if row["III (L)"]:
            assert delivered[row["name"]]["III"] == int(row["III (L)"])
            assert plan["demand_sources"][row["name"]]["III"] == "table"
    assert plan["demand_sources"]["LUX RECCE PL"]["III"] == "forecast"
    assert set(delivered) == {row["name"] for row in _table("units.csv")}
    assert plan["distance_km"] == round(sum(r["distance_km"] for r in plan["routes"]), 1)


def test_plan_marking_is_the_high_water_mark_of_what_the_reader_read(staff: Workspace) -> None:
    for name in ("ops", "deu_nc", "lux_nr"):
        reader = staff.user(name)
        rows = staff.store.list_logistics_records(reader.clearance)
        plan = _plan(staff, name)
        assert plan["marking"] == str(high_water_mark(r.marking for r in rows)), name
        stops = {s["name"] for r in plan["routes"] for s in r["stops"]}
        units = {r.data["name"] for r in rows if r.kind == "unit"}
        assert stops == units - {u["name"] for u in plan["unserved"]}
    assert _plan(staff, "ops")["marking"].startswith("SECRET")
    lux = _plan(staff, "lux_nr")
    assert lux["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"
    assert "DET FS Kohtla" not in str(lux) and "2e RH 1st troop" not in str(lux)


def test_tear_line_plan_uses_only_what_is_releasable(staff: Workspace) -> None:
    plan = staff.logistics_plan(staff.operator(), time_limit=3.0, releasable_to=frozenset({"LUX"}))
    assert plan.marking.releasable_to is not None and "LUX" in plan.marking.releasable_to
    assert not plan.marking.caveats
    shown = str(logistics_plan_json(plan))
    assert "DET FS Kohtla" not in shown  # SECRET // SPECIAL FRANCE: not releasable
    # NATO CONFIDENTIAL rows are releasable to NATO nations, Luxembourg among them.
    assert "2e RH 1st troop" in shown
    partner = parse_marking("NATO SECRET // REL TO LUX").releasable_to
    assert partner is not None


@pytest.fixture(scope="module")
def ambushed(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[tuple[Workspace, dict[str, Any], dict[str, Any]]]:
    """The scenario's tables; the plan before the contact report, the report ingested."""
    workspace = new_workspace(tmp_path_factory.mktemp("ambush") / "ws", built_gazetteer)
    workspace.logistics_import(workspace.operator(), scenario_tables())
    before = _plan(workspace, avoid_threats=True, since=_since())
    plain = _plan(workspace)
    report = workspace.ingest(workspace.operator(), [AMBUSH], "movcon")
    assert report.ingested == 1 and not report.failed
    yield workspace, before, plain
    workspace.close()


def _since() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 11, 22, tzinfo=UTC)


def _crosses(path: list[list[float]], lat: float, lon: float, radius_km: float) -> bool:
    """Whether a polyline of [lon, lat] passes within radius_km of the point (a plane
    tangent at the point: exact enough at this scale)."""
    scale = math.cos(math.radians(lat))

    def xy(point: list[float]) -> tuple[float, float]:
        return (math.radians(point[0] - lon) * scale * EARTH_KM,
                math.radians(point[1] - lat) * EARTH_KM)  # fmt: skip

    for a, b in zip(path, path[1:], strict=False):
        (ax, ay), (bx, by) = xy(a), xy(b)
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, -(ax * dx + ay * dy) / ((dx * dx + dy * dy) or 1.0)))
        if math.hypot(ax + t * dx, ay + t * dy) < radius_km * 0.999:
            return True
    return False


def test_threat_avoidance_changes_the_route_and_names_the_report(
    ambushed: tuple[Workspace, dict[str, Any], dict[str, Any]],
) -> None:
    workspace, before, plain = ambushed
    assert before["avoided"] == []
    (document,) = [d for d in workspace.store.iter_documents(workspace.operator().clearance)]
    plan_obj = workspace.logistics_plan(
        workspace.operator(), avoid_threats=True, since=_since(), time_limit=3.0
    )
    plan = logistics_plan_json(plan_obj)
    assert plan["feasible"], plan
    assert [a["doc_id"] for a in plan["avoided"]] == [document.id]
    (zone,) = plan["avoided"]
    assert zone["kind"] == "ambush" and "routes go round it" in zone["reason"]
    assert abs(zone["lat"] - 59.356) < 0.01 and abs(zone["lon"] - 26.905) < 0.01
    assert plan["routes"] != before["routes"]
    assert plan["distance_km"] > before["distance_km"]
    geojson = logistics_plan_geojson(plan_obj)
    lines = [f for f in geojson["features"] if f["geometry"]["type"] == "LineString"]
    crossing_before = [
        f for f in logistics_plan_geojson(
            workspace.logistics_plan(workspace.operator(), time_limit=3.0)
        )["features"]
        if f["geometry"]["type"] == "LineString"
        and _crosses(f["geometry"]["coordinates"], zone["lat"], zone["lon"], zone["radius_km"])
    ]  # fmt: skip
    assert crossing_before, "the unconstrained plan drives through the ambush zone"
    for line in lines:
        assert not _crosses(line["geometry"]["coordinates"], zone["lat"], zone["lon"],
                            zone["radius_km"]), line["properties"]["vehicle"]  # fmt: skip
    # The report (NATO RESTRICTED) raises nothing for ops, and the plan keeps its marking.
    assert plan["marking"] == before["marking"]
    # Without --avoid-threats, or with a window that starts after the report, nothing changes.
    assert _plan(workspace)["routes"] == plain["routes"]
    later = _plan(workspace, avoid_threats=True, since=_since().replace(day=24))
    assert later["avoided"] == []


def test_threat_penalty_is_charged_not_forbidden(
    ambushed: tuple[Workspace, dict[str, Any], dict[str, Any]],
) -> None:
    workspace, _, _ = ambushed
    plan = _plan(workspace, penalty_km=1.0, since=_since())
    (zone,) = plan["avoided"]
    assert "each crossing costs 1 km more" in zone["reason"]


def test_threat_report_marks_the_plan(tmp_path: Path, built_gazetteer: Path) -> None:
    workspace = new_workspace(tmp_path / "ws", built_gazetteer)
    marked = write(
        tmp_path,
        "tables/units.csv",
        "NATO UNCLASSIFIED\nname,location,fuel\nOP East,59.359 27.421,1000\n",
    )
    write(tmp_path, "tables/depots.csv",
          "NATO UNCLASSIFIED\nname,location,fuel\nBase West,59.346 26.356,50000\n")  # fmt: skip
    write(tmp_path, "tables/vehicles.csv",
          "NATO UNCLASSIFIED\nname,depot,fuel,shift\nTanker,Base West,17000,"
          "2026-11-23T04:00Z-2026-11-23T16:00Z\n")  # fmt: skip
    workspace.logistics_import(workspace.operator(), sorted(marked.parent.glob("*.csv")))
    secret = AMBUSH.read_text(encoding="utf-8").replace("NATO RESTRICTED", "NATO SECRET")
    workspace.ingest(workspace.operator(), [write(tmp_path, "in/contact.txt", secret)], "movcon")
    ops = _plan(workspace, avoid_threats=True, since=_since())
    assert ops["marking"] == "NATO SECRET" and len(ops["avoided"]) == 1
    lux = _plan(workspace, "lux_nr", avoid_threats=True, since=_since())
    assert lux["avoided"] == [] and lux["marking"] == "NATO UNCLASSIFIED"
    assert may_read(workspace.user("lux_nr").clearance, parse_marking(lux["marking"]))


def test_solomon_instance_solved_and_checked_without_the_solver() -> None:
    instance = read_solomon(SOLOMON / "instances" / "C101.txt")
    problem = routing_problem(instance)
    solution = solve_routes(problem, 2.0, required=True)
    routes = [[problem.drops[d].stop + 1 for d, _ in r.visits] for r in solution.routes]
    distance, problems = check_routes(instance, routes)
    assert problems == []
    assert math.isclose(distance, solution.distance_km, rel_tol=1e-9)
    text = (SOLOMON / "best_known_solutions.csv").read_text(encoding="utf-8")
    best = {row[0]: float(row[1]) for row in csv.reader(text.splitlines()) if row[0] != "instance"}
    assert distance <= 1.05 * best["C101_distance"]


def test_solomon_checker_catches_a_broken_solution() -> None:
    instance = read_solomon(SOLOMON / "instances" / "R101.txt")
    _, problems = check_routes(instance, [list(range(1, 101))])
    assert any("above capacity" in p for p in problems)
    assert any("after its window closes" in p for p in problems)
    _, problems = check_routes(instance, [[1, 2], [2]])
    assert "customer 2 visited 2 times" in problems and "customer 3 visited 0 times" in problems
