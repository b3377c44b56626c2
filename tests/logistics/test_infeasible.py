"""Inputs no plan can satisfy get a plan that says why, unit by unit, never an exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guetteur._exceptions import InvalidInputError
from guetteur.views import logistics_plan_json
from guetteur.workspace import Workspace

from conftest import write

SHIFT = "2026-11-23T06:00Z-2026-11-23T18:00Z"


def _plan(workspace: Workspace, tables: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    paths = [write(tmp_path, name, "NATO RESTRICTED\n" + text) for name, text in tables.items()]
    report = workspace.logistics_import(workspace.operator(), paths)
    assert not report.failed, report.failed
    return logistics_plan_json(workspace.logistics_plan(workspace.operator(), time_limit=1.0))


DEPOT = "name,location,fuel,water\nBase,59.35 26.36,100000,\n"


def test_demand_above_the_fleet_capacity(workspace: Workspace, tmp_path: Path) -> None:
    plan = _plan(workspace, {
        "depots.csv": DEPOT,
        "units.csv": "name,location,fuel\nA,59.36 27.42,30000\nB,59.40 27.76,30000\n",
        "vehicles.csv": f"name,depot,count,fuel,shift\nTanker,Base,1,17000,{SHIFT}\n",
    }, tmp_path)  # fmt: skip
    assert not plan["feasible"]
    assert any("above what the fleet can carry" in line and "60,000 L" in line
               and "17,000 L" in line for line in plan["explanation"])  # fmt: skip
    assert plan["unserved"] and all("fleet can carry" in u["reason"] for u in plan["unserved"])
    served = sum(q for r in plan["routes"] for s in r["stops"] for q in s["delivery"].values())
    assert served <= 17000


def test_unit_outside_every_window(workspace: Workspace, tmp_path: Path) -> None:
    plan = _plan(workspace, {
        "depots.csv": DEPOT,
        "units.csv": "name,location,fuel,window\nNear,59.36 26.40,100,08:00-12:00\n"
                     "Far,57.78 26.05,100,06:00-06:30\n",
        "vehicles.csv": f"name,depot,count,fuel,shift\nTanker,Base,1,17000,{SHIFT}\n",
    }, tmp_path)  # fmt: skip
    assert not plan["feasible"]
    (far,) = plan["unserved"]
    assert far["name"] == "Far"
    assert far["reason"].startswith("outside every time window: the earliest arrival is")
    assert "2026-11-23 06:00Z-2026-11-23 06:30Z" in far["reason"]
    assert [s["name"] for r in plan["routes"] for s in r["stops"]] == ["Near"]


def test_unit_no_vehicle_can_reach(workspace: Workspace, tmp_path: Path) -> None:
    plan = _plan(workspace, {
        "depots.csv": DEPOT,
        "units.csv": "name,location,fuel\nIsland,59.00 23.00,100\nTown,59.36 26.40,100\n",
        "vehicles.csv": f"name,depot,count,fuel,shift\nTanker,Base,1,17000,{SHIFT}\n",
        "matrix.csv": "from,to,km,minutes\nBase,Town,5,8\n",  # no road to the island
    }, tmp_path)  # fmt: skip
    (island,) = plan["unserved"]
    assert island["name"] == "Island" and "can reach it: no road" in island["reason"]
    (route,) = plan["routes"]
    assert route["distance_km"] == 10.0  # the matrix's 5 km, both ways


def test_a_class_no_vehicle_carries_and_a_vehicle_without_depot(
    workspace: Workspace, tmp_path: Path
) -> None:
    plan = _plan(workspace, {
        "depots.csv": DEPOT,
        "units.csv": "name,location,fuel,water\nA,59.36 26.40,100,500\n",
        "vehicles.csv": f"name,depot,count,fuel,shift\nTanker,Base,1,17000,{SHIFT}\n"
                        f"Ghost,Nowhere,1,17000,{SHIFT}\n",
    }, tmp_path)  # fmt: skip
    assert not plan["feasible"]
    assert plan["unserved"] == [
        {"name": "A", "reason": "no vehicle you may read carries water (L)",
         "demand": {"III": 100, "water": 500}}
    ]  # fmt: skip
    assert any("Ghost" in line and "no depots table" in line for line in plan["explanation"])


def test_a_round_trip_longer_than_the_maximum_duration(
    workspace: Workspace, tmp_path: Path
) -> None:
    plan = _plan(workspace, {
        "depots.csv": DEPOT,
        "units.csv": "name,location,fuel\nFar,57.78 26.05,100\n",
        "vehicles.csv": f"name,depot,count,fuel,shift,max hours,speed\n"
                        f"Tanker,Base,1,17000,{SHIFT},2,50\n",
    }, tmp_path)  # fmt: skip
    (far,) = plan["unserved"]
    assert "longer than any vehicle's maximum route duration" in far["reason"]


def test_depot_stock_short(workspace: Workspace, tmp_path: Path) -> None:
    plan = _plan(workspace, {
        "depots.csv": "name,location,fuel\nBase,59.35 26.36,500\n",
        "units.csv": "name,location,fuel\nA,59.36 26.40,1000\n",
        "vehicles.csv": f"name,depot,count,fuel,shift\nTanker,Base,1,17000,{SHIFT}\n",
    }, tmp_path)  # fmt: skip
    assert not plan["feasible"]
    assert any("above the depots' stock" in line for line in plan["explanation"])
    assert any("would issue 1,000 L of class III but holds 500" in line
               for line in plan["explanation"])  # fmt: skip


def test_nothing_to_plan_and_bad_arguments(workspace: Workspace) -> None:
    plan = workspace.logistics_plan(workspace.operator(), time_limit=1.0)
    assert plan.feasible and plan.routes == () and plan.unserved == ()
    with pytest.raises(InvalidInputError, match="quantile"):
        workspace.logistics_plan(workspace.operator(), quantile=1.5)
    with pytest.raises(InvalidInputError, match="threat kind"):
        workspace.logistics_plan(workspace.operator(), threat_kinds=["dragons"])
    with pytest.raises(InvalidInputError, match="horizon"):
        workspace.logistics_forecast(workspace.operator(), horizon_days=0)
