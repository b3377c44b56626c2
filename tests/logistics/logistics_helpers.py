"""What the logistics tests share: the scenario's tables, and plan checks that
recompute loads and windows from the tables, not from the solver."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from conftest import REPO

TABLES = REPO / "examples" / "scenario" / "logistics"
AMBUSH = REPO / "examples" / "incoming" / "SPOTREP-0123-01_ambush_e20_kivioli.txt"
CLASSES = ("I", "III", "V", "water", "medical")


def scenario_tables() -> list[Path]:
    return sorted(TABLES.glob("*.csv"))


def check_plan(plan: dict[str, Any], units: dict[str, Any], vehicles: dict[str, Any]) -> None:
    """Every route within its vehicle's capacity per class, every stop served inside
    one of its unit's windows (HH:MM on the plan's day), no stop served twice by
    one route: recomputed from the JSON and the tables."""
    for route in plan["routes"]:
        kind = route["vehicle"].split(" #")[0]
        capacity = vehicles[kind]
        load: dict[str, int] = defaultdict(int)
        for stop in route["stops"]:
            for cls, qty in stop["delivery"].items():
                load[cls] += qty
            windows = units[stop["name"]]
            arrival = datetime.fromisoformat(stop["arrival"])
            clock = arrival.hour * 60 + arrival.minute
            assert any(a <= clock <= b for a, b in windows) or not windows, (stop, windows)
        for cls, qty in load.items():
            assert qty <= capacity.get(cls, 0), (route["vehicle"], cls, qty, capacity)
