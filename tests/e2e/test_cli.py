"""The `guetteur` command end to end, as a staff officer types it (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guetteur.store.sqlite._connect import connect

from conftest import SCENARIO, seed_gazetteer, write

GUETTEUR = [sys.executable, "-m", "guetteur"]


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    done = subprocess.run([*GUETTEUR, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def home(tmp_path: Path, built_gazetteer: Path) -> Path:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    run(home, "init", "--user", "ops", "--clearance", "NATO SECRET", "--nationality", "FRA")
    run(home, "users", "add", "lux_nr", "--clearance", "NATO RESTRICTED", "--nationality", "LUX")
    run(
        home,
        "users",
        "add",
        "deu_nc",
        "--clearance",
        "NC",
        "--nationality",
        "DEU",
        "--caveat",
        "CRYPTO",
    )
    return home


def test_users_are_listed_with_clearances(home: Path) -> None:
    users = json.loads(run(home, "users", "list", "--json").stdout)["users"]
    assert {u["name"]: (u["clearance"], u["nationality"], u["caveats"]) for u in users} == {
        "ops": ("SECRET", "FRA", []),
        "lux_nr": ("RESTRICTED", "LUX", []),
        "deu_nc": ("CONFIDENTIAL", "DEU", ["CRYPTO"]),
    }


def test_commands_without_a_workspace_say_how_to_make_one(tmp_path: Path) -> None:
    done = run(tmp_path / "nothing", "search", "x", check=False)
    assert done.returncode == 1 and "guetteur init" in done.stderr


def test_ingest_search_show_under_each_clearance(home: Path, tmp_path: Path) -> None:
    write(
        tmp_path / "in", "ns.txt", "NATO SECRET // REL TO FRA, LUX\nStrike on fuel depot at Tapa\n"
    )
    write(
        tmp_path / "in",
        "nr.txt",
        "NATO RESTRICTED // REL TO FRA, LUX\nFuel convoy delayed at Tapa\n",
    )
    write(tmp_path / "in", "bad.pdf", "this is not a pdf")
    done = run(home, "ingest", str(tmp_path / "in"), "--json", check=False)
    assert done.returncode == 3  # partial: one input failed
    report = json.loads(done.stdout)
    assert report["ingested"] == 2 and report["duplicates"] == 0
    assert (
        report["failed"][0]["path"].endswith("bad.pdf")
        and "not a PDF" in report["failed"][0]["error"]
    )

    ops = json.loads(run(home, "search", "fuel Tapa", "--json").stdout)["results"]
    lux = json.loads(run(home, "search", "fuel Tapa", "--as", "lux_nr", "--json").stdout)["results"]
    assert {r["marking"] for r in ops} == {
        "NATO SECRET // REL TO FRA, LUX",
        "NATO RESTRICTED // REL TO FRA, LUX",
    }
    assert [r["marking"] for r in lux] == ["NATO RESTRICTED // REL TO FRA, LUX"]
    assert set(lux[0]) >= {"id", "title", "marking", "grade", "source", "snippet", "score"}

    secret_id = next(r["id"] for r in ops if r["marking"].startswith("NATO SECRET"))
    shown = json.loads(run(home, "show", secret_id, "--json").stdout)
    assert shown["marking"] == "NATO SECRET // REL TO FRA, LUX" and "fuel depot" in shown["text"]
    denied = run(home, "show", secret_id, "--as", "lux_nr", check=False)
    assert denied.returncode == 1 and "no document" in denied.stderr and "fuel" not in denied.stdout
    # DEU is outside REL TO: even RESTRICTED stays hidden.
    assert json.loads(run(home, "stats", "--as", "deu_nc", "--json").stdout)["documents"] == 0
    assert json.loads(run(home, "stats", "--as", "lux_nr", "--json").stdout)["documents"] == 1

    again = json.loads(run(home, "ingest", str(tmp_path / "in" / "ns.txt"), "--json").stdout)
    assert (again["ingested"], again["duplicates"]) == (0, 1)


def test_audit_verify_names_the_first_edited_row(home: Path, tmp_path: Path) -> None:
    write(tmp_path, "r.txt", "NATO RESTRICTED\nConvoy near Narva\n")
    run(home, "ingest", str(tmp_path / "r.txt"))
    run(home, "search", "convoy", "--as", "lux_nr")
    assert "intact" in run(home, "audit", "verify").stdout
    connection = connect(home / "guetteur.db")
    connection.execute("DROP TRIGGER audit_no_update")
    connection.execute("UPDATE audit SET actor = 'nobody' WHERE id = 2")
    connection.close()
    broken = run(home, "audit", "verify", check=False)
    assert broken.returncode == 4 and "row 2" in broken.stderr


def test_bad_marking_option_is_refused_clearly(home: Path, tmp_path: Path) -> None:
    write(tmp_path, "r.txt", "Convoy near Narva\n")
    done = run(
        home,
        "ingest",
        str(tmp_path / "r.txt"),
        "--marking",
        "NATO SECRET // REL TO FRANCE",
        check=False,
    )
    assert done.returncode == 1 and "FRANCE" in done.stderr


def test_killed_ingest_rerun_stores_every_document_exactly_once(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for n in range(400):
        write(
            folder,
            f"r{n:03}.txt",
            f"NATO RESTRICTED\nReport {n}: convoy of {n} trucks seen near Valga.\n",
        )
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    process = subprocess.Popen(
        [*GUETTEUR, "ingest", str(folder), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        connection = connect(home / "guetteur.db")
        stored = connection.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        connection.close()
        if stored >= 32:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < stored < 400, "the kill must land in the middle of the run"
    # Finding 13: every document stored before the kill has its audit record,
    # committed with it — none can be planted without a trace.
    connection = connect(home / "guetteur.db")
    stored_ids = {row[0] for row in connection.execute("SELECT id FROM documents")}
    audited = {
        doc_id
        for (detail,) in connection.execute(
            "SELECT detail FROM audit WHERE action = 'ingest.batch'"
        )
        for doc_id in json.loads(detail)["doc_ids"]
    }
    connection.close()
    assert stored_ids and stored_ids <= audited
    run(home, "audit", "verify")
    report = json.loads(run(home, "ingest", str(folder), "--json").stdout)
    assert report["ingested"] + report["duplicates"] == 400
    connection = connect(home / "guetteur.db")
    total, distinct = connection.execute(
        "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM documents"
    ).fetchone()
    connection.close()
    assert total == distinct == 400


@pytest.mark.skipif(not SCENARIO.is_dir(), reason="scenario not present")
def test_demo_shows_different_views_per_user() -> None:
    done = subprocess.run([*GUETTEUR, "demo"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "lux_nr" in done.stdout and "audit chain intact" in done.stdout
    assert "this must never happen" not in done.stdout


def test_entity_entities_events_and_reindex_commands(home: Path, tmp_path: Path) -> None:
    write(
        tmp_path / "in",
        "spot.txt",
        "NATO RESTRICTED // REL TO FRA, LUX\nSPOTREP 7\nDTG: 221000ZNOV26\n\n"
        "SIZE: 4 vehicles.\nACTIVITY: convoy moving west towards Narva.\n"
        "LOCATION: 35VNF6763382659 near Narva.\nUNIT: 14th Guards Motor Rifle Brigade.\n"
        "TIME: 220915ZNOV26.\nEQUIPMENT: 4 x BTR-82A.\n\nNATO RESTRICTED // REL TO FRA, LUX\n",
    )
    write(
        tmp_path / "in",
        "secret.txt",
        "NATO SECRET\nAgent reports that APT28 operators met in Narva on 21 November 2026.\n",
    )
    run(home, "ingest", str(tmp_path / "in"))
    narva = json.loads(run(home, "entity", "Narva", "--json").stdout)
    assert set(narva) >= {"id", "name", "type", "aliases", "lat", "lon", "mentions"}
    assert narva["type"] == "place" and abs(narva["lat"] - 59.377) < 0.05
    assert set(narva["mentions"][0]) >= {"doc_id", "text", "start", "end"}
    assert len({m["doc_id"] for m in narva["mentions"]}) == 2
    lux_narva = json.loads(run(home, "entity", "Narva", "--as", "lux_nr", "--json").stdout)
    assert len({m["doc_id"] for m in lux_narva["mentions"]}) == 1
    assert run(home, "entity", "APT28", "--as", "lux_nr", check=False).returncode == 1

    equipment = json.loads(run(home, "entities", "--type", "equipment", "--json").stdout)
    assert "BTR-82A" in {e["name"] for e in equipment["entities"]}

    geojson = json.loads(run(home, "events", "--bbox", "27.5,59.0,28.6,59.6", "--geojson").stdout)
    assert geojson["type"] == "FeatureCollection" and geojson["features"]
    assert len(geojson["features"]) == 2  # the spot report and the SECRET sentence
    (feature,) = [f for f in geojson["features"] if f["properties"]["kind"] == "salute"]
    assert feature["properties"]["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"
    lon, lat = feature["geometry"]["coordinates"]
    assert abs(lat - 59.38) < 0.1 and abs(lon - 28.19) < 0.1
    listed = json.loads(run(home, "events", "--since", "2026-11-22T00:00Z", "--json").stdout)
    assert [e["when"][:16] for e in listed["events"]] == ["2026-11-22T09:15"]
    lux = json.loads(run(home, "events", "--as", "lux_nr", "--json").stdout)["events"]
    assert [e["kind"] for e in lux] == ["salute"]
    assert run(home, "events", "--bbox", "not,a,box", check=False).returncode == 2

    assert "re-enriched 2 documents" in run(home, "reindex").stdout
    again = json.loads(run(home, "entity", "Narva", "--json").stdout)
    assert again["id"] == narva["id"] and len(again["mentions"]) == len(narva["mentions"])
