"""One source of JSON shapes: for the same workspace and reader, each read of the
API answers exactly what `guetteur ... --json --as USER` prints.

The CLI runs as a real process (`python -m guetteur --home H ... --json --as
USER`, the operator taking the reader's view); the API is called over real
HTTP by that reader, logged in with their own password. Bodies are compared
as the CLI prints them (same keys, same order, same values). Every payload
with records also carries their high-water mark, as a field and as the
`X-Guetteur-Marking` header, which must agree with each other and with the
markings of the records returned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from guetteur.security.markings import high_water_mark, parse_marking
from guetteur.views import NOTHING_MARKED

from api.conftest import PASSWORDS, REPORTS, serve_ready
from api.server import LiveServer, login
from conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

EVE = SHARED_DATA / "suricata_eve" / "hassanabad_honeypot-2018_alerts.json"
MARKING_HEADER = "x-guetteur-marking"
READERS = ("ops", "lux_nr", "deu_nc")  # NATO SECRET FRA, NATO RESTRICTED LUX, NATO CONF. DEU
QUERIES = ("Narva", "convoy bridge", "ORCHID Prigozhinov")


@dataclass(frozen=True)
class Served:
    server: LiveServer
    home: Path


@pytest.fixture(scope="module")
def served_cyber(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[Served]:
    """The reports of conftest.REPORTS, honeypot alerts at NR and at NS, and watches."""
    home = tmp_path_factory.mktemp("same") / "ws"
    workspace = serve_ready(home, built_gazetteer)
    operator = workspace.operator()
    records = json.loads(EVE.read_text())
    folder = home.parent / "alerts"
    folder.mkdir()
    for name, chosen, marking in (
        ("low.json", records[:30], "NATO RESTRICTED"),
        ("high.json", records[30:60], "NATO SECRET"),
    ):
        (folder / name).write_text(json.dumps(chosen), encoding="utf-8")
        report = workspace.ingest_alerts(
            operator, [folder / name], "cert", parse_marking(marking), "eve"
        )
        assert report.alerts > 0 and not report.failed
    workspace.watch_add(workspace.store.get_user("lux_nr"), "bridges", "Narva bridge convoy")
    workspace.watch_add(operator, "orchid", "brigade commander inspection")
    workspace.close()
    with LiveServer(home) as server:
        yield Served(server, home)


@pytest.fixture(scope="module")
def clients(served_cyber: Served) -> Iterator[dict[str, httpx.Client]]:
    opened = {}
    for name in READERS:
        client = served_cyber.server.client()
        login(client, name, PASSWORDS[name])
        opened[name] = client
    yield opened
    for client in opened.values():
        client.close()


@dataclass(frozen=True)
class Printed:
    code: int
    stdout: str
    stderr: str


def cli(home: Path, user: str, *args: str) -> Printed:
    """`guetteur --home H ARGS --json --as USER`, as a real process."""
    command = [sys.executable, "-m", "guetteur", "--home", str(home), *args, "--as", user]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    return Printed(done.returncode, done.stdout, done.stderr)


def cli_many(home: Path, calls: list[tuple[str, tuple[str, ...]]]) -> list[Printed]:
    """Several CLI runs side by side (each process loads the models on its own)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda call: cli(home, call[0], *call[1]), calls))


def printed_as_cli(body: Any) -> str:
    """A JSON body laid out as `emit_json` prints it, to compare key order too."""
    return json.dumps(body, ensure_ascii=False, indent=2, default=str) + "\n"


def record_markings(path: str, body: dict[str, Any]) -> list[str]:
    """The markings of the records a payload returns (where each endpoint puts them)."""
    if path.startswith("/api/search"):
        return [r["marking"] for r in body["results"]]
    if path.startswith("/api/documents/"):
        return [body["marking"]]
    if path.startswith("/api/events"):
        if "features" in body:
            return [f["properties"]["marking"] for f in body["features"]]
        return [e["marking"] for e in body["events"]]
    if path.startswith("/api/alerts"):
        return [a["marking"] for a in body["alerts"]]
    if path == "/api/incidents":
        return [i["marking"] for i in body["incidents"]]
    if path.startswith("/api/incidents/"):
        return [a["marking"] for a in body["alerts"]] + [i["marking"] for i in body["indicators"]]
    if path.startswith("/api/entities/"):
        # Also what the names of the entities it appears with were learnt from.
        return [m["marking"] for m in body["mentions"]] + [
            e["marking"] for e in body["cooccurring"]
        ]
    if path == "/api/entities":
        return [e["marking"] for e in body["entities"]]
    if path == "/api/stats":
        return list(body["by_marking"])
    raise AssertionError(f"no records known for {path}")


def expected_marking(markings: list[str]) -> str:
    if not markings:
        return str(NOTHING_MARKED)
    return str(high_water_mark(parse_marking(m) for m in markings))


def check_same(
    client: httpx.Client, path: str, params: dict[str, str], printed: Printed
) -> list[str]:
    """What differs between the API's answer and the CLI's output (empty: nothing)."""
    answer = client.get(path, params=params)
    where = f"GET {path} {params or ''}"
    if printed.code != 0:
        return [f"{where}: the CLI failed ({printed.code}): {printed.stderr.strip()}"]
    problems = []
    if answer.status_code != 200:
        problems.append(f"{where}: {answer.status_code} {answer.text[:300]}")
        return problems
    if printed_as_cli(answer.json()) != printed.stdout:
        problems.append(f"{where}: body differs from the CLI's\nAPI: {answer.text[:2000]}\n"
                        f"CLI: {printed.stdout[:2000]}")  # fmt: skip
    body = answer.json()
    if "marking" in body:
        if answer.headers.get(MARKING_HEADER) != body["marking"]:
            problems.append(
                f"{where}: header {answer.headers.get(MARKING_HEADER)!r} "
                f"!= body marking {body['marking']!r}"
            )
        expected = expected_marking(record_markings(path, body))
        if body["marking"] != expected:
            problems.append(
                f"{where}: marking {body['marking']!r}, high-water mark of records {expected!r}"
            )
    return problems


# Reads without an id: the same list for every reader.
LISTS: tuple[tuple[str, dict[str, str], tuple[str, ...]], ...] = (
    *(("/api/search", {"q": q}, ("search", q, "--json")) for q in QUERIES),
    ("/api/search", {"q": "Narva", "limit": "1"}, ("search", "Narva", "--limit", "1", "--json")),
    ("/api/stats", {}, ("stats", "--json")),
    ("/api/entities", {}, ("entities", "--json")),
    ("/api/entities", {"type": "place"}, ("entities", "--type", "place", "--json")),
    ("/api/events", {}, ("events", "--json")),
    ("/api/events", {"format": "geojson"}, ("events", "--geojson")),
    ("/api/alerts", {}, ("alerts", "--json")),
    ("/api/incidents", {}, ("incidents", "--json")),
    ("/api/watch", {}, ("watch", "list", "--json")),
)


@pytest.mark.parametrize("reader", READERS)
def test_every_list_read_answers_what_the_cli_prints(
    served_cyber: Served, clients: dict[str, httpx.Client], reader: str
) -> None:
    printed = cli_many(served_cyber.home, [(reader, args) for _, _, args in LISTS])
    problems = []
    for (path, params, _), output in zip(LISTS, printed, strict=True):
        problems += check_same(clients[reader], path, params, output)
    assert not problems, "\n".join(problems)


def _listed(client: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()[key]
    return found


@pytest.mark.parametrize("reader", READERS)
def test_every_read_by_id_answers_what_the_cli_prints(
    served_cyber: Served, clients: dict[str, httpx.Client], reader: str
) -> None:
    client = clients[reader]
    doc_ids = sorted({r["id"] for q in QUERIES for r in _listed(client, f"/api/search?q={q}",
                                                                  "results")})  # fmt: skip
    entities = _listed(client, "/api/entities", "entities")[:2]
    incidents = _listed(client, "/api/incidents", "incidents")[:2]
    assert doc_ids and entities, "the reader should see some documents and entities"
    if reader != "deu_nc":  # the honeypot alerts are NATO markings DEU NC reads too
        assert incidents
    reads: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
    reads += [(f"/api/documents/{i}", {}, ("show", i, "--json")) for i in doc_ids]
    for entity in entities:
        reads.append((f"/api/entities/{entity['id']}", {}, ("entity", entity["id"], "--json")))
    name = entities[0]["name"]  # by name too, as an analyst types it
    reads.append((f"/api/entities/{name}", {}, ("entity", name, "--json")))
    for incident in incidents:
        shown = ("incident", incident["id"], "--json")
        reads.append((f"/api/incidents/{incident['id']}", {}, shown))
    if incidents:
        first = incidents[0]["id"]
        fr = ("incident", first, "--lang", "fr", "--json")
        reads.append((f"/api/incidents/{first}", {"lang": "fr"}, fr))
    printed = cli_many(served_cyber.home, [(reader, args) for _, _, args in reads])
    problems = []
    for (path, params, _), output in zip(reads, printed, strict=True):
        problems += check_same(client, path, params, output)
    assert not problems, "\n".join(problems)


def test_a_refusal_names_the_same_thing_as_the_cli(
    served_cyber: Served, clients: dict[str, httpx.Client]
) -> None:
    """A document above the reader: the API's 404 says what the CLI's error says."""
    secret = next(
        r["id"]
        for r in _listed(clients["ops"], "/api/search?q=ORCHID", "results")
        if r["marking"] == "NATO SECRET"
    )
    printed = cli(served_cyber.home, "lux_nr", "show", secret, "--json")
    answer = clients["lux_nr"].get(f"/api/documents/{secret}")
    assert printed.code == 1 and answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert printed.stderr.strip() == f"error: {answer.json()['detail']}"
    assert MARKING_HEADER not in answer.headers
    assert "ORCHID" not in answer.text and "SECRET" not in answer.text


def test_the_marking_header_is_the_high_water_mark_of_what_is_returned(
    clients: dict[str, httpx.Client],
) -> None:
    ops = clients["ops"].get("/api/search", params={"q": "ORCHID Prigozhinov"})
    assert any(r["marking"] == "NATO SECRET" for r in ops.json()["results"])
    assert ops.headers[MARKING_HEADER] == ops.json()["marking"] == "NATO SECRET"
    # Only the unclassified report: the banner follows what is returned, not who asks.
    low = clients["ops"].get("/api/search", params={"q": "BTR-82A Mechanised", "limit": "1"})
    assert [r["marking"] for r in low.json()["results"]] == ["NATO UNCLASSIFIED"]
    assert low.headers[MARKING_HEADER] == "NATO UNCLASSIFIED"
    for path in ("/api/search?q=Narva", "/api/search?q=ORCHID", "/api/stats", "/api/events",
                 "/api/alerts", "/api/incidents", "/api/events?format=geojson"):  # fmt: skip
        answer = clients["lux_nr"].get(path)
        assert answer.status_code == 200, answer.text
        assert "SECRET" not in answer.headers.get(MARKING_HEADER, ""), path
        assert "ORCHID" not in answer.text and "NATO SECRET" not in answer.text, path
    # The SECRET alerts are the operator's to see: their alert list is marked so.
    assert clients["ops"].get("/api/alerts").headers[MARKING_HEADER] == "NATO SECRET"
    assert clients["lux_nr"].get("/api/alerts").headers[MARKING_HEADER] == "NATO RESTRICTED"


def test_the_reports_of_the_fixture_are_what_the_readers_see(
    clients: dict[str, httpx.Client],
) -> None:
    """The control: each reader's stats count what their clearance allows."""
    counted = {name: clients[name].get("/api/stats").json()["documents"] for name in READERS}
    assert counted == {"ops": len(REPORTS), "lux_nr": 2, "deu_nc": 2}


@pytest.mark.parametrize("read", ["alerts", "incidents"])
def test_a_limit_past_the_largest_list_is_refused_by_both_faces(
    served_cyber: Served, clients: dict[str, httpx.Client], read: str
) -> None:
    """2**63 once reached SQLite and failed the request with a 500 (found by the fuzz)."""
    huge = str(2**63)
    answer = clients["lux_nr"].get(f"/api/{read}", params={"limit": huge})
    assert answer.status_code == 422 and "limit" in answer.text
    printed = cli(served_cyber.home, "lux_nr", read, "--limit", huge, "--json")
    assert printed.code == 2 and "--limit" in printed.stderr and "1000000" in printed.stderr
    largest = clients["lux_nr"].get(f"/api/{read}", params={"limit": "1000000"})
    assert largest.status_code == 200
