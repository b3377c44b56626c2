"""Logistics tables on both stores (the `store` fixture runs each test on SQLite and
PostgreSQL): rows keyed (kind, key, marking), the latest readable row per key, and
`guetteur logistics` end to end on a PostgreSQL workspace, answering as on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import Store
from guetteur.store.base import LogisticsRecord
from guetteur.store.postgres import PostgresStore
from guetteur.workspace import Workspace

from .conftest import Postgres
from conftest import REPO, seed_gazetteer

FRA_NS = parse_clearance("NATO SECRET", "FRA")
LUX_NR = parse_clearance("NATO RESTRICTED", "LUX")
OPEN = parse_marking("NATO RESTRICTED // REL TO FRA, LUX")
SECRET = parse_marking("NATO SECRET")
TABLES = sorted((REPO / "examples" / "scenario" / "logistics").glob("*.csv"))


def depot(name: str, marking: object, fuel: int, row: int) -> LogisticsRecord:
    return LogisticsRecord("depot", name, marking, {"name": name, "III": fuel}, f"d.csv:{row}")  # type: ignore[arg-type]


def test_the_latest_readable_row_of_each_key_is_read(store: Store) -> None:
    store.add_logistics_records(
        [depot("TAPA", OPEN, 100, 2), depot("RAKVERE", OPEN, 50, 3),
         LogisticsRecord("unit", "LYNX", OPEN, {"name": "LYNX"}, "u.csv:2")],
        actor="ops",
    )  # fmt: skip
    # Tapa again, higher: a reader of both sees the newer row; the NR reader the old.
    store.add_logistics_records([depot("TAPA", SECRET, 300, 2)], actor="ops")
    # Rakvere again at its own marking replaces the row.
    store.add_logistics_records([depot("RAKVERE", OPEN, 60, 4)], actor="ops")

    def seen(clearance: object, kinds: list[str] | None = None) -> list[tuple[str, str, object]]:
        return [
            (r.kind, r.key, r.data.get("III"))
            for r in store.list_logistics_records(clearance, kinds)  # type: ignore[arg-type]
        ]

    lynx = ("unit", "LYNX", None)
    assert seen(FRA_NS) == [("depot", "RAKVERE", 60), ("depot", "TAPA", 300), lynx]
    assert seen(LUX_NR) == [("depot", "RAKVERE", 60), ("depot", "TAPA", 100), lynx]
    assert seen(FRA_NS, ["unit"]) == [("unit", "LYNX", None)]
    assert seen(FRA_NS, []) == []
    (tapa,) = [r for r in store.list_logistics_records(LUX_NR, ["depot"]) if r.key == "TAPA"]
    assert (tapa.marking, tapa.origin) == (OPEN, "d.csv:2")
    # The open row imported again, after the secret one, is the latest for both.
    store.add_logistics_records([depot("TAPA", OPEN, 120, 5)], actor="ops")
    assert seen(FRA_NS, ["depot"])[1] == ("depot", "TAPA", 120)


def test_rows_above_the_reader_change_nothing_they_read(
    new_store: object,
) -> None:
    alone, twin = new_store(), new_store()  # type: ignore[operator]
    readable = [depot("TAPA", OPEN, 100, 2), depot("VALGA", OPEN, 10, 3)]
    hidden = [depot("TAPA", SECRET, 300, 2), depot("NARVA", SECRET, 5, 9)]
    alone.add_logistics_records(readable, actor="ops")
    twin.add_logistics_records(hidden[:1], actor="ops")
    twin.add_logistics_records(readable, actor="ops")
    twin.add_logistics_records(hidden[1:], actor="ops")
    assert alone.list_logistics_records(LUX_NR) == twin.list_logistics_records(LUX_NR)
    assert len(twin.list_logistics_records(FRA_NS)) == 3


# ------------------------------------------------------------- the commands
def guetteur(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guetteur", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_logistics_commands_answer_on_postgresql_as_on_sqlite(
    tmp_path: Path, postgres: Postgres, built_gazetteer: Path
) -> None:
    ops = parse_clearance("NATO SECRET", "FRA")
    homes = {"sqlite": tmp_path / "sqlite", "postgresql": tmp_path / "pg"}
    for backend, home in homes.items():
        seed_gazetteer(home, built_gazetteer)
        store = postgres.new_database() if backend == "postgresql" else None
        workspace = Workspace.create(home, "ops", ops, store=store)
        workspace.store.set_id_secret("5a" * 32)  # type: ignore[attr-defined]
        workspace.add_user("lux_nr", LUX_NR, actor="ops")
        workspace.close()
    with Workspace.open(homes["postgresql"]) as workspace:
        assert isinstance(workspace.store, PostgresStore)
    answers: dict[str, list[object]] = {}
    for backend, home in homes.items():
        done = guetteur(home, "logistics", "import", *map(str, TABLES), "--json")
        assert done.returncode == 0, done.stderr
        imported = json.loads(done.stdout)
        assert imported["imported"] > 600 and imported["failed"] == []
        forecast = guetteur(home, "logistics", "forecast", "--horizon", "7d", "--json")
        lux = guetteur(home, "logistics", "forecast", "--json", "--as", "lux_nr")
        plan = guetteur(home, "logistics", "plan", "--time-limit", "2s", "--json")
        for output in (forecast, lux, plan):
            assert output.returncode == 0, output.stderr
        routed = json.loads(plan.stdout)
        assert routed["feasible"] and routed["routes"]
        answers[backend] = [
            imported,
            json.loads(forecast.stdout),
            json.loads(lux.stdout),
            routed["marking"],
        ]
    assert answers["postgresql"] == answers["sqlite"]
    assert answers["postgresql"][2]["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"


@pytest.fixture(autouse=True)
def _no_home_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUETTEUR_HOME", raising=False)
