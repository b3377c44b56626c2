"""guetteur logistics import / forecast / plan, end to end in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema
from logistics_helpers import scenario_tables

from conftest import SHARED_DATA, seed_gazetteer, write

GUETTEUR = Path(sys.executable).parent / "guetteur"


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUETTEUR_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [str(GUETTEUR), *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cli") / "ws"
    seed_gazetteer(folder, built_gazetteer)
    assert run(folder, "init", "--user", "ops", "--clearance", "NATO SECRET",
               "--nationality", "FRA").returncode == 0  # fmt: skip
    assert run(folder, "users", "add", "lux_nr", "--clearance", "NATO RESTRICTED",
               "--nationality", "LUX").returncode == 0  # fmt: skip
    done = run(folder, "logistics", "import", *map(str, scenario_tables()), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["imported"] > 600 and payload["failed"] == []
    assert {t["kind"] for t in payload["tables"]} == {"depot", "unit", "vehicle", "consumption"}
    yield folder


def test_import_lists_bad_rows_and_exits_3(home: Path, tmp_path: Path) -> None:
    bad = write(tmp_path, "units.csv", "NATO RESTRICTED\nname,location,fuel\nA,59.3 26.3,x\n")
    done = run(home, "logistics", "import", str(bad), "--json")
    assert done.returncode == 3
    (failed,) = json.loads(done.stdout)["failed"]
    assert (failed["row"], failed["column"]) == (3, "III")
    assert "'x' is not a number" in failed["error"]
    text = run(home, "logistics", "import", str(bad))
    assert text.returncode == 3 and "row 3, column III: 'x' is not a number" in text.stdout


def test_forecast_json_and_table(home: Path) -> None:
    done = run(home, "logistics", "forecast", "--horizon", "7d", "--quantile", "0.9", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["horizon_days"] == 7 and len(payload["forecasts"]) == 35
    fuel = next(f for f in payload["forecasts"]
                if f["unit"] == "LUX RECCE PL" and f["class"] == "III")  # fmt: skip
    assert fuel["deliver"] >= fuel["total_mean"] > 0 and len(fuel["mean"]) == 7
    lux = json.loads(run(home, "logistics", "forecast", "--json", "--as", "lux_nr").stdout)
    assert {f["unit"] for f in lux["forecasts"]} < {f["unit"] for f in payload["forecasts"]}
    assert lux["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"
    assert run(home, "logistics", "forecast", "--horizon", "12h").returncode == 2


def test_plan_in_every_format(home: Path) -> None:
    done = run(home, "logistics", "plan", "--time-limit", "2s", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["feasible"] and plan["routes"] and plan["marking"].startswith("SECRET")
    geo = json.loads(run(home, "logistics", "plan", "--time-limit", "2s", "--geojson").stdout)
    lines = [f for f in geo["features"] if f["geometry"]["type"] == "LineString"]
    assert len(lines) == len(plan["routes"]) and geo["marking"] == plan["marking"]
    cot = run(home, "logistics", "plan", "--time-limit", "2s", "--cot")
    assert cot.returncode == 0
    chunks = cot.stdout.split('<?xml version="1.0" encoding="UTF-8"?>')
    events = [ElementTree.fromstring(chunk) for chunk in chunks if chunk.strip()]
    assert len(events) == len(plan["routes"])
    # Valid against MITRE's CoT event schema.
    schema = xmlschema.XMLSchema(SHARED_DATA / "cot_xml" / "schemas_mitre_cot" / "Event-PUBLIC.xsd")
    for chunk in chunks:
        if chunk.strip():
            schema.validate(chunk.strip())
    for event in events:
        assert event.get("type") == "b-m-r" and event.get("access") == plan["marking"]
        links = event.findall("detail/link")
        assert links[0].get("type") == "b-m-p-w" and links[-1].get("type") == "b-m-p-w"
        assert any(link.get("type") == "b-m-p-c" for link in links)
    markdown = run(home, "logistics", "plan", "--time-limit", "2s", "--markdown").stdout
    assert markdown.startswith(f"**{plan['marking']}**") and "| # | stop |" in markdown
    text = run(home, "logistics", "plan", "--time-limit", "2s", "--as", "lux_nr")
    assert text.returncode == 0 and "NATO RESTRICTED // REL TO FRA, LUX" in text.stdout
    assert "DET FS" not in text.stdout


def test_plan_refuses_bad_options(home: Path) -> None:
    assert run(home, "logistics", "plan", "--json", "--cot").returncode == 2
    assert run(home, "logistics", "plan", "--threat-kinds", "dragons").returncode == 2
    assert run(home, "logistics", "plan", "--radius", "ambush").returncode == 2
    failed = run(home, "logistics", "plan", "--quantile", "2")
    assert failed.returncode == 1 and "quantile" in failed.stderr
    assert "Traceback" not in failed.stderr
