"""`guetteur tracks` and `guetteur track` end to end, and the noninterference of tracks.

The end-to-end test runs the real command in a child process, as a staff
officer types it. The twin test builds two workspaces that differ only in
positions (and a report) the reader may not read, and checks that every
track command the reader runs — and the answer to their own ingest of a CoT
file — prints the same in both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from click.testing import CliRunner
from cot_samples import SAMPLE_FOLDERS, capture, event, hostile_capture

from guetteur.cli import main
from guetteur.cop.cot import parse_events
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

from conftest import seed_gazetteer, write

GUETTEUR = [sys.executable, "-m", "guetteur"]
NU = "NATO UNCLASSIFIED"
TRACK_KEYS = {"uid", "type", "sidc", "callsign", "lat", "lon", "time", "stale", "marking"}


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    done = subprocess.run([*GUETTEUR, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def test_tracks_from_files_to_json_geojson_kml_and_one_track(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    run(home, "init", "--user", "ops", "--clearance", "NATO SECRET", "--nationality", "FRA")
    run(home, "users", "add", "lux_nr", "--clearance", "NATO RESTRICTED", "--nationality", "LUX")
    inputs = tmp_path / "in"
    write(inputs, "patrol.cot", capture(event("P-1", 0, callsign="ALPHA"), event("P-1", 10)))
    write(inputs, "sighting.xml", capture(event("P-1", 20, lat=58.5, access="NATO SECRET")))
    write(inputs, "hostile.cot", hostile_capture())
    write(inputs, "note.txt", "NATO UNCLASSIFIED\nA patrol left the camp at dawn.\n")

    done = run(home, "ingest", str(inputs), "--marking", "NATO UNCLASSIFIED", "--json", check=False)
    assert done.returncode == 3  # some events were refused, the rest stored
    report = json.loads(done.stdout)
    assert report["ingested"] == 1 and report["positions"] == {"stored": 5, "duplicates": 0}
    assert [f["path"] for f in report["failed"]] == [str(inputs / "hostile.cot")] * 4
    plain = run(home, "ingest", str(inputs / "note.txt"), "--json")
    assert "positions" not in json.loads(plain.stdout)  # a run without CoT keeps its shape
    text = run(home, "ingest", str(inputs / "patrol.cot"), "--marking", "NATO UNCLASSIFIED")
    assert "track positions stored 0, duplicates 2" in text.stdout

    listed = json.loads(run(home, "tracks", "--json").stdout)
    assert [t["uid"] for t in listed["tracks"]] == ["GOOD-1", "GOOD-2", "P-1"]
    assert all(TRACK_KEYS <= t.keys() for t in listed["tracks"])
    assert listed["marking"] == "NATO SECRET"
    as_lux = json.loads(run(home, "tracks", "--json", "--as", "lux_nr").stdout)
    p1 = next(t for t in as_lux["tracks"] if t["uid"] == "P-1")
    assert (p1["lat"], p1["marking"], as_lux["marking"]) == (58.0, NU, NU)
    boxed = json.loads(run(home, "tracks", "--bbox", "24,57.9,26,58.1", "--json").stdout)
    assert [t["uid"] for t in boxed["tracks"]] == ["GOOD-1", "GOOD-2"]  # P-1 last seen at 58.5

    geojson = json.loads(run(home, "tracks", "--geojson", "--as", "lux_nr").stdout)
    assert geojson["type"] == "FeatureCollection" and len(geojson["features"]) == 3
    kml = run(home, "tracks", "--kml", "--as", "lux_nr").stdout
    assert len(ElementTree.fromstring(kml.encode()).findall(".//{*}Placemark")) == 3

    one = json.loads(run(home, "track", "P-1", "--json", "--as", "lux_nr").stdout)
    assert [p["marking"] for p in one["positions"]] == ["NATO UNCLASSIFIED"] * 2
    assert one["positions"][0]["source"] == "default" and one["callsign"] is None
    shown = run(home, "track", "P-1").stdout
    assert "NATO SECRET" in shown.splitlines()[0] and "58.50000" in shown

    missing = run(home, "track", "NOPE", check=False)
    assert missing.returncode == 1 and "no track 'NOPE'" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = run(home, "tracks", "--bbox", "west", check=False)
    assert bad.returncode == 2 and "W,S,E,N" in bad.stderr


def test_the_atak_sample_goes_in_through_the_cli(tmp_path: Path, built_gazetteer: Path) -> None:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    run(home, "init", "--user", "ops", "--clearance", "NATO SECRET", "--nationality", "FRA")
    folders = [str(folder) for folder in SAMPLE_FOLDERS]
    done = run(home, "ingest", *folders, "--marking", "NATO UNCLASSIFIED", "--json")
    report = json.loads(done.stdout)
    assert report["failed"] == [] and report["positions"]["stored"] == 15
    listed = json.loads(run(home, "tracks", "--json").stdout)["tracks"]
    friends = [t for t in listed if t["affiliation"] == "friend"]
    assert friends and all(t["sidc"].startswith("SFG") for t in friends)


# ------------------------------------------------------------------------ twins
ID_SECRET = "5a" * 32
SPOTREP = """{marking}
SPOTREP 7
DTG: 200630ZNOV26

SIZE: two vehicles.
ACTIVITY: {activity}
LOCATION: {lat:.4f}N 0{lon:.4f}E.
UNIT: 3rd reconnaissance company.
TIME: 200615ZNOV26.
EQUIPMENT: 2 x BTR-82A.
{marking}
"""


def twin(home: Path, built: Path, inputs: Path, hidden: bool) -> None:
    """A workspace with what lux_nr may read, and — when `hidden` — more above them,
    interleaved."""
    seed_gazetteer(home, built)
    ws = Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA", ("CRYPTO",)))
    ws.store.set_id_secret(ID_SECRET)
    ops = ws.user()
    ws.add_user("lux_nr", parse_clearance("NATO RESTRICTED", "LUX"), ops)

    def cot(marking: str, *events: str) -> None:
        parsed, _ = parse_events(capture(*events).encode(), "twin")
        ws.ingest_cot(ops, parsed, "tak", parse_marking(marking))

    hostile = dict(callsign="VIPER", cot_type="a-h-G-U-C-F", lat=58.4)
    steps: list[tuple[bool, Callable[[], object]]] = [
        (False, lambda: cot(NU, event("A", 0, callsign="ALPHA"), event("B", 0, lat=57.9))),
        (True, lambda: cot("NATO SECRET", event("A", 5, **hostile))),
        (True, lambda: cot("NATO SECRET", event("A", 0, callsign="ALPHA"))),
        (False, lambda: cot("NATO RESTRICTED", event("A", 3, callsign="ALPHA", lat=58.02))),
        (True, lambda: cot("COSMIC TOP SECRET", event("H", 1, callsign="HIDDEN", lat=58.01))),
        (True, lambda: cot("NATO RESTRICTED // REL TO FRA", event("B", 9, lat=57.2))),
        (True, lambda: cot(NU, event("MINE", 0, access="NATO SECRET"))),
        (False, lambda: ws.ingest(ops, [inputs / "near_nr.txt"], "reports")),
        (True, lambda: ws.ingest(ops, [inputs / "near_ns.txt"], "reports")),
        (False, lambda: cot(NU, event("B", 4, lat=57.95))),
    ]
    for above, step in steps:
        if hidden or not above:
            step()
    ws.close()


def lux(home: Path, runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, ["--home", str(home), *args, "--as", "lux_nr"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    stdout = re.sub(r'"until": "[^"]*"', '"until": "…"', result.stdout)
    return result.exit_code, stdout, result.stderr


def test_positions_above_the_reader_change_nothing_the_reader_sees_or_is_told(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    inputs = tmp_path / "in"
    activity = "moving north on the coast road, callsign {} in contact."
    write(
        inputs,
        "near_nr.txt",
        SPOTREP.format(
            marking="NATO RESTRICTED", activity=activity.format("ALPHA"), lat=58.01, lon=25.01
        ),
    )
    write(
        inputs,
        "near_ns.txt",
        SPOTREP.format(
            marking="NATO SECRET", activity=activity.format("VIPER"), lat=58.0, lon=25.02
        ).replace("two vehicles", "a battery"),
    )
    # The reader's own file: a report already held above them, one held readable, one new.
    own = write(
        inputs,
        "own.cot",
        capture(
            event("MINE", 0, access="NATO SECRET"),
            event("B", 4, lat=57.95),
            event("NEW", 7, callsign="CHARLIE"),
        ),
    )
    plain, more = tmp_path / "plain", tmp_path / "more"
    twin(plain, built_gazetteer, inputs, hidden=False)
    twin(more, built_gazetteer, inputs, hidden=True)
    runner = CliRunner()

    commands = [
        ("tracks", "--json"),
        ("tracks", "--geojson"),
        ("tracks", "--kml"),
        ("tracks", "--bbox", "24.5,57.5,25.5,58.5", "--json"),
        ("tracks", "--since", "2026-11-20T06:02:00Z", "--json"),
        ("tracks",),
        ("track", "A", "--json"),
        ("track", "A"),
        ("track", "B", "--json"),
        ("track", "H", "--json"),
        ("track", "MINE", "--json"),
        ("entity", "ALPHA", "--json"),
        ("entity", "VIPER", "--json"),
        ("brief", "--format", "sitrep", "--json"),
        ("ingest", str(own), "--marking", "NATO UNCLASSIFIED", "--source", "lux", "--json"),
        ("tracks", "--json"),
        ("track", "NEW", "--json"),
    ]
    for command in commands:
        seen_plain, seen_more = lux(plain, runner, *command), lux(more, runner, *command)
        assert seen_plain == seen_more, command

    # The twins do differ, for a reader who may read more: the test can see a leak.
    ops_plain = runner.invoke(main, ["--home", str(plain), "track", "A", "--json"]).stdout
    ops_more = runner.invoke(main, ["--home", str(more), "track", "A", "--json"]).stdout
    assert ops_plain != ops_more and "VIPER" in ops_more
    history = json.loads(lux(plain, runner, "track", "A", "--json")[1])["history"]
    assert [e["marking"] for e in history] == ["NATO RESTRICTED"]
    again = ("ingest", str(own), "--marking", NU, "--source", "lux", "--json")
    told = json.loads(lux(more, runner, *again)[1])
    assert told["positions"] == {"stored": 1, "duplicates": 2}
