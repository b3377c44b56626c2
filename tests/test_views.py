"""views.py is what `--json` prints: the CLI's output equals the view of the workspace's
answer for the same reader, and every payload of records carries their high-water mark."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guetteur import views
from guetteur.cli import main
from guetteur.security.markings import high_water_mark, parse_marking
from guetteur.workspace import Workspace

from conftest import SHARED_DATA, new_workspace, write

EVE = SHARED_DATA / "suricata_eve" / "hassanabad_honeypot-2018_alerts.json"

SECRET = (
    "NATO SECRET // REL TO FRA, LUX\nStrike on the fuel depot at Tapa\n\n"
    "Agent reports that APT28 operators met in Narva on 21 November 2026 to plan a strike "
    "on the fuel depot at Tapa.\n\nNATO SECRET // REL TO FRA, LUX\n"
)
RESTRICTED = (
    "NATO RESTRICTED // REL TO FRA, LUX\nSPOTREP 7\nDTG: 221000ZNOV26\n\n"
    "SIZE: 4 vehicles.\nACTIVITY: fuel convoy moving west towards Narva.\n"
    "LOCATION: 35VNF6763382659 near Narva.\nUNIT: 14th Guards Motor Rifle Brigade.\n"
    "TIME: 220915ZNOV26.\nEQUIPMENT: 4 x BTR-82A.\n\nNATO RESTRICTED // REL TO FRA, LUX\n"
)
CRYPTO = (
    "NATO CONFIDENTIAL // REL TO FRA // CRYPTO\nKey change at Tapa\n\n"
    "The fuel depot at Tapa changes its radio keys on 23 November 2026: APT28 read them.\n"
)


@pytest.fixture(autouse=True)
def extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model server: syntheses are extractive, the same on both sides."""
    for variable in [v for v in os.environ if v.startswith("GUETTEUR_LLM")]:
        monkeypatch.delenv(variable)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Path:
    """ops (NATO SECRET, FRA, CRYPTO), lux_nr (NATO RESTRICTED, LUX), deu_nc (NC, DEU):
    three reports released to FRA (two to LUX too), none to DEU; honeypot alerts at
    NR // REL TO FRA, LUX and at NS // REL TO FRA; a standing requirement of ops."""
    root = tmp_path_factory.mktemp("views")
    workspace = new_workspace(root / "ws", built_gazetteer)
    try:
        ops = workspace.user("ops")
        workspace.watch_add(ops, "fuel", "strike on the fuel depot at Tapa")
        write(root / "in", "secret.txt", SECRET)
        write(root / "in", "restricted.txt", RESTRICTED)
        write(root / "in", "crypto.txt", CRYPTO)
        assert workspace.ingest(ops, [root / "in"], "reports").ingested == 3
        if EVE.is_file():
            records = json.loads(EVE.read_text(encoding="utf-8"))
            half = len(records) // 2
            write(root, "nr.json", json.dumps(records[:half]))
            write(root, "ns.json", json.dumps(records[half:]))
            for name, marking in (
                ("nr.json", "NR // REL TO FRA, LUX"),
                ("ns.json", "NS // REL TO FRA"),
            ):
                workspace.ingest_alerts(ops, [root / name], "cert", parse_marking(marking))
    finally:
        workspace.close()
    return root / "ws"


@pytest.fixture
def workspace(home: Path) -> Iterator[Workspace]:
    opened = Workspace.open(home)
    yield opened
    opened.close()


def cli(home: Path, *args: str) -> Any:
    done = CliRunner().invoke(main, ["--home", str(home), *args])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def printed(payload: dict[str, Any]) -> Any:
    """`payload` as the CLI prints it (datetimes and the like as text)."""
    return json.loads(json.dumps(payload, ensure_ascii=False, default=str))


def high_water(markings: Iterable[str]) -> str:
    return str(high_water_mark(parse_marking(m) for m in markings))


READERS = ["ops", "lux_nr", "deu_nc"]


@pytest.mark.parametrize("reader", READERS)
def test_search_and_show(home: Path, workspace: Workspace, reader: str) -> None:
    user = workspace.user(reader)
    payload = cli(home, "search", "fuel depot Tapa", "--as", reader, "--json")
    assert payload == printed(views.search_json(workspace.search(user, "fuel depot Tapa", 10)))
    for result in payload["results"]:
        shown = cli(home, "show", result["id"], "--as", reader, "--json")
        assert shown == printed(views.document_json(workspace.show(user, result["id"])))


@pytest.mark.parametrize("reader", READERS)
def test_stats_entities_events(home: Path, workspace: Workspace, reader: str) -> None:
    user = workspace.user(reader)
    as_reader = ("--as", reader, "--json")
    assert cli(home, "stats", *as_reader) == printed(views.stats_json(user, workspace.stats(user)))
    assert cli(home, "entities", *as_reader) == printed(
        views.entities_json(workspace.entities(user))
    )
    assert cli(home, "events", *as_reader) == printed(views.events_json(workspace.events(user)))
    assert cli(home, "events", "--as", reader, "--geojson") == printed(
        views.events_geojson(workspace.events(user))
    )


def test_entity_detail(home: Path, workspace: Workspace) -> None:
    for reader in ("ops", "lux_nr"):
        payload = cli(home, "entity", "Narva", "--as", reader, "--json")
        detail = workspace.entity(workspace.user(reader), "Narva")
        assert payload == printed(views.entity_detail_json(detail))
        learnt_from = [m["marking"] for m in payload["mentions"]]
        learnt_from += [e["marking"] for e in payload["cooccurring"]]
        assert payload["marking"] == high_water(learnt_from)
    # ops: Narva is named in the SECRET report, with APT28, which the CRYPTO report names
    # too (the names of what it appears with are learnt from all their documents).
    ops = cli(home, "entity", "Narva", "--json")
    assert {m["marking"] for m in ops["mentions"]} == {
        "NATO SECRET // REL TO FRA, LUX",
        "NATO RESTRICTED // REL TO FRA, LUX",
    }
    (apt28,) = [e for e in ops["cooccurring"] if e["name"] == "APT28"]
    assert apt28["marking"] == ops["marking"] == "NATO SECRET // REL TO FRA // CRYPTO"
    lux = cli(home, "entity", "Narva", "--as", "lux_nr", "--json")
    assert lux["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"


@pytest.mark.parametrize("reader", READERS)
def test_entities_are_marked_each_and_together(home: Path, reader: str) -> None:
    listed = cli(home, "entities", "--as", reader, "--json")
    assert listed["marking"] == high_water(
        [str(views.NOTHING_MARKED)] + [e["marking"] for e in listed["entities"]]
    )
    expected = {
        "ops": "NATO SECRET // REL TO FRA // CRYPTO",
        "lux_nr": "NATO RESTRICTED // REL TO FRA, LUX",
        "deu_nc": "UNCLASSIFIED",
    }
    assert listed["marking"] == expected[reader]
    # Only what is returned marks the list, not what the reader may read.
    equipment = cli(home, "entities", "--type", "equipment", "--as", reader, "--json")
    if reader != "deu_nc":
        assert [e["name"] for e in equipment["entities"]] == ["BTR-82A"]
        assert equipment["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"


@pytest.mark.skipif(not EVE.is_file(), reason="../shared/data not present")
@pytest.mark.parametrize("reader", READERS)
def test_alerts_and_incidents(home: Path, workspace: Workspace, reader: str) -> None:
    user = workspace.user(reader)
    as_reader = ("--as", reader, "--json")
    alerts = cli(home, "alerts", *as_reader)
    assert alerts == printed(views.alerts_json(workspace.alerts(user)))
    incidents = cli(home, "incidents", *as_reader)
    assert incidents == printed(views.incidents_json(workspace.incidents(user)))
    for listed in incidents["incidents"]:
        view = workspace.incident(user, listed["id"])
        synthesis = workspace.incident_synthesis(user, view, "en")
        assert cli(home, "incident", listed["id"], *as_reader) == printed(
            views.incident_detail_json(view, synthesis, "en")
        )


def test_watch_list(home: Path, workspace: Workspace) -> None:
    for reader in ("ops", "lux_nr"):
        listed = workspace.watch_list(workspace.user(reader))
        payload = cli(home, "watch", "list", "--as", reader, "--json")
        assert payload == printed(views.watch_requirements_json(listed))
    assert [r["name"] for r in cli(home, "watch", "list", "--json")["requirements"]] == ["fuel"]


# ---------------------------------------------------------------- the marking
def test_marking_is_the_high_water_mark_of_what_is_returned(home: Path) -> None:
    ops = cli(home, "search", "fuel depot Tapa", "--json")
    lux = cli(home, "search", "fuel depot Tapa", "--as", "lux_nr", "--json")
    assert {r["marking"] for r in ops["results"]} == {
        "NATO SECRET // REL TO FRA, LUX",
        "NATO RESTRICTED // REL TO FRA, LUX",
        "NATO CONFIDENTIAL // REL TO FRA // CRYPTO",
    }
    # Highest level, releasable only where all are, every caveat.
    assert ops["marking"] == "NATO SECRET // REL TO FRA // CRYPTO"
    assert [r["marking"] for r in lux["results"]] == ["NATO RESTRICTED // REL TO FRA, LUX"]
    assert lux["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"

    assert cli(home, "stats", "--json")["marking"] == "NATO SECRET // REL TO FRA // CRYPTO"
    assert cli(home, "stats", "--as", "lux_nr", "--json")["marking"] == (
        "NATO RESTRICTED // REL TO FRA, LUX"
    )
    for command in (("events", "--json"), ("events", "--geojson")):
        ops_events = cli(home, *command)
        lux_events = cli(home, *command, "--as", "lux_nr")
        records = ops_events.get("events") or [f["properties"] for f in ops_events["features"]]
        assert records and ops_events["marking"] == high_water(r["marking"] for r in records)
        assert lux_events["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"


def test_nothing_returned_is_marked_with_the_lowest_marking(home: Path) -> None:
    assert str(views.NOTHING_MARKED) == "UNCLASSIFIED"
    # Nothing here is released to DEU.
    for command in (
        ("search", "fuel depot Tapa", "--json"),
        ("stats", "--json"),
        ("entities", "--json"),
        ("events", "--json"),
        ("events", "--geojson"),
        ("alerts", "--json"),
        ("incidents", "--json"),
    ):
        payload = cli(home, *command, "--as", "deu_nc")
        assert payload["marking"] == "UNCLASSIFIED", command
    assert cli(home, "watch", "run", "--as", "deu_nc", "--json") == {
        "requirements": [],
        "marking": "UNCLASSIFIED",
    }


@pytest.mark.skipif(not EVE.is_file(), reason="../shared/data not present")
def test_alerts_and_incidents_are_marked_by_those_returned(home: Path) -> None:
    ops_alerts = cli(home, "alerts", "--json")
    assert {a["marking"] for a in ops_alerts["alerts"]} == {
        "NATO RESTRICTED // REL TO FRA, LUX",
        "NATO SECRET // REL TO FRA",
    }
    assert ops_alerts["marking"] == "NATO SECRET // REL TO FRA"
    lux_alerts = cli(home, "alerts", "--as", "lux_nr", "--json")
    assert lux_alerts["alerts"] and lux_alerts["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"
    ops_incidents = cli(home, "incidents", "--json")
    assert ops_incidents["marking"] == high_water(i["marking"] for i in ops_incidents["incidents"])
    lux_incidents = cli(home, "incidents", "--as", "lux_nr", "--json")
    assert lux_incidents["incidents"]
    assert lux_incidents["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"


def test_watch_run_is_marked_by_its_digests(home: Path) -> None:
    run = cli(home, "watch", "run", "--json")
    (fuel,) = run["requirements"]
    assert fuel["new_hits"] > 0
    assert run["marking"] == fuel["marking"] == high_water(h["marking"] for h in fuel["hits"])
