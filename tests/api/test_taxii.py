"""TAXII 2.1 on loopback: the OASIS `taxii2-client` against our server, the
tear-line rule for partners, the twin property, and `intel pull` both ways."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection, Server, as_pages

import guetteur.pipeline.ingest as ingest_module
from guetteur.api.guard import Limits
from guetteur.cli import main
from guetteur.cli.intel_pull import BearerAuth
from guetteur.cyber.intel import validate_bundle
from guetteur.cyber.stix_out import intel_document_objects, split_by_marking, tlp_of
from guetteur.pipeline.intel import intel_document, read_intel
from guetteur.security.markings import may_read, parse_clearance, parse_marking
from guetteur.workspace import Workspace

from api.conftest import PASSWORDS
from api.server import LiveServer
from conftest import new_workspace, write

TAXII = "application/taxii+json;version=2.1"
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
ROOMY = Limits(rate_per_second=10_000, burst=100_000)  # the twin walks every endpoint
ID_SECRET = "7c" * 32


def _stix(kind: str, number: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.UUID(int=number, version=4)}",
        "created": "2026-11-01T08:00:00.000Z",
        "modified": "2026-11-01T08:00:00.000Z",
        **fields,
    }


def _indicator(number: int, pattern: str, name: str) -> dict[str, Any]:
    return _stix(
        "indicator", number, name=name, pattern=pattern, pattern_type="stix",
        valid_from="2026-11-01T08:00:00Z", indicator_types=["malicious-activity"],
    )  # fmt: skip


def _indicates(number: int, source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    return _stix(
        "relationship", number, relationship_type="indicates",
        source_ref=source["id"], target_ref=target["id"],
    )  # fmt: skip


def _bundle(marking: str, number: int, objects: Sequence[dict[str, Any]]) -> str:
    """A partner's bundle: every object under one statement marking definition."""
    definition = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.UUID(int=number, version=4)}",
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": marking},
    }
    marked = [{**o, "object_marking_refs": [definition["id"]]} for o in objects]
    return json.dumps(
        {"type": "bundle", "id": f"bundle--{uuid.UUID(int=number, version=4)}",
         "objects": [definition, *marked]}
    )  # fmt: skip


GREYFOX = _stix(
    "intrusion-set", 1, name="GREYFOX", aliases=["Grey Fox"],
    external_references=[{"source_name": "mitre-attack", "external_id": "G9001"}],
)  # fmt: skip
NU_INDICATOR = _indicator(10, "[ipv4-addr:value = '198.51.100.10']", "GREYFOX loader C2")
NR_INDICATOR = _indicator(11, "[domain-name:value = 'c2.greyfox.example']", "GREYFOX C2 domain")
COLDRIVER = _stix("intrusion-set", 2, name="COLDRIVER")
NS_INDICATOR = _indicator(12, "[ipv4-addr:value = '203.0.113.99']", "COLDRIVER relay")
FRA_INDICATOR = _indicator(13, "[ipv4-addr:value = '192.0.2.66']", "French-eyes relay")
CRYPTO_INDICATOR = _indicator(14, "[ipv4-addr:value = '198.51.100.77']", "crypto relay")
PUBLIC_INDICATOR = _indicator(15, "[url:value = 'http://paste.example/raw/abc']", "public paste")

# What LUX may receive (NU, NR released to LUX, plain UNCLASSIFIED) and what it
# may not (NS; NR released to FRA only; NR with a caveat, whoever holds it).
READABLE_FILES = {
    "nu.json": _bundle("NATO UNCLASSIFIED", 100, [
        GREYFOX, NU_INDICATOR, _indicates(20, NU_INDICATOR, GREYFOX),
        _stix("malware", 3, name="FoxLoader", is_family=True,
              description="A loader GREYFOX drops by spear-phishing."),
        _stix("attack-pattern", 4, name="Spearphishing Attachment",
              external_references=[{"source_name": "mitre-attack", "external_id": "T1566.001"}]),
    ]),
    "nr_lux.json": _bundle("NATO RESTRICTED // REL TO FRA, LUX", 101, [
        GREYFOX, NR_INDICATOR, _indicates(21, NR_INDICATOR, GREYFOX),
        {"type": "ipv4-addr", "spec_version": "2.1",
         "id": "ipv4-addr--6da8dad3-4de3-5f8e-ab23-45d0b8f12f94", "value": "203.0.113.7"},
    ]),
    "public.json": _bundle("UNCLASSIFIED", 102, [PUBLIC_INDICATOR]),
}  # fmt: skip
HIGHER_FILES = {
    "ns.json": _bundle("NATO SECRET", 103, [
        COLDRIVER, NS_INDICATOR, _indicates(22, NS_INDICATOR, COLDRIVER),
        _stix("malware", 5, name="SecretRat", is_family=True),
    ]),
    "nr_fra.json": _bundle("NATO RESTRICTED // REL TO FRA", 104, [
        FRA_INDICATOR, _stix("malware", 6, name="FrenchOnlyRat", is_family=True),
    ]),
    "crypto.json": _bundle("NATO RESTRICTED // CRYPTO", 105, [CRYPTO_INDICATOR]),
}  # fmt: skip
HIDDEN_FROM_LUX = ("203.0.113.99", "192.0.2.66", "198.51.100.77", "SecretRat", "FrenchOnlyRat")


def _eve(rows: Sequence[tuple[str, int, str, str, str]]) -> str:
    return "\n".join(
        json.dumps(
            {"timestamp": time, "flow_id": flow, "event_type": "alert", "src_ip": src,
             "src_port": 4444, "dest_ip": dst, "dest_port": 443, "proto": "TCP",
             "alert": {"signature_id": 2027865, "signature": signature,
                       "category": "A Network Trojan was detected", "severity": 1}}
        )
        for time, flow, src, dst, signature in rows
    )  # fmt: skip


NR_ALERTS = _eve([
    ("2026-11-21T03:40:01.000000+0000", 1, "198.51.100.10", "10.20.0.15", "ET MALWARE FoxLoader"),
    ("2026-11-21T03:41:12.000000+0000", 2, "10.20.0.15", "198.51.100.10", "ET MALWARE FoxLoader"),
])  # fmt: skip
NS_ALERTS = _eve([
    ("2026-11-22T01:00:00.000000+0000", 3, "203.0.113.99", "10.30.0.9", "ET MALWARE SecretRat"),
])  # fmt: skip


class _Clock(datetime):
    """pipeline.ingest's clock, set by the test: the twins add readable records at equal times."""

    at: ClassVar[datetime] = datetime(2026, 11, 20, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.at


@dataclass
class Served:
    server: LiveServer
    workspace_home: Path
    tokens: dict[str, str]

    @property
    def discovery(self) -> str:
        return f"{self.server.url}/taxii2/"

    def client(self, user: str, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}", "Accept": TAXII}
        return self.server.client(headers=headers, **options)

    def collection(self, user: str, alias: str) -> Collection:
        root = Server(self.discovery, auth=BearerAuth(self.tokens[user])).default
        return next(c for c in root.collections if c.alias == alias)


def build(home: Path, gazetteer: Path, inputs: Path, *, higher: bool) -> dict[str, str]:
    """A workspace: the readable files and NR alerts, and with `higher` the rest
    interleaved; passwords set; a read token per user, returned. Under `_Clock`,
    the k-th readable record is added at the same time with or without the rest."""
    workspace = new_workspace(home, gazetteer)
    workspace.store.set_id_secret(ID_SECRET)
    ops = workspace.operator()
    readable = [*READABLE_FILES, "nr_alerts.json"]
    hidden = [*HIGHER_FILES, "ns_alerts.json"] if higher else []
    steps: list[tuple[int, str]] = []
    for index, name in enumerate(readable):
        steps.append((10 * index, name))
        if index < len(hidden):
            steps.append((10 * index + 5, hidden[index]))
    for minutes, name in steps:
        _Clock.at = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=minutes)
        path = inputs / name
        kind = "alerts" if "alerts" in name else "intel"
        if kind == "intel":
            workspace.import_intel(ops, path, source="partners")
        else:
            marking = "NATO SECRET" if name.startswith("ns") else "NATO RESTRICTED"
            workspace.ingest_alerts(ops, [path], source="cert", marking=parse_marking(marking))
    tokens = {}
    for user, password in PASSWORDS.items():
        one_time = workspace.accounts.set_password(ops, user)
        workspace.accounts.change_password(workspace.store.get_user(user), one_time, password)
        tokens[user] = workspace.accounts.create_token(ops, user, timedelta(days=1))[1]
    workspace.close()
    return tokens


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The partners' files and the alerts, in one folder every workspace imports from."""
    folder = tmp_path_factory.mktemp("partners")
    for name, text in {**READABLE_FILES, **HIGHER_FILES}.items():
        write(folder, name, text)
    write(folder, "nr_alerts.json", NR_ALERTS)
    write(folder, "ns_alerts.json", NS_ALERTS)
    return folder


@pytest.fixture(scope="module")
def taxii(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path, inputs: Path
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("taxii") / "ws"
    tokens = build(home, built_gazetteer, inputs, higher=True)
    with LiveServer(home, limits=ROOMY) as server:
        yield Served(server, home, tokens)


def pull_all(collection: Collection, per_request: int = 1000) -> list[dict[str, Any]]:
    return [
        o for page in as_pages(collection.get_objects, per_request) for o in page.get("objects", [])
    ]


def statements(objects: Sequence[dict[str, Any]]) -> dict[str, str]:
    """marking-definition id → statement, for the statement definitions among `objects`."""
    return {
        o["id"]: o["definition"]["statement"]
        for o in objects
        if o["type"] == "marking-definition" and o.get("definition_type") == "statement"
    }


def marking_of(stix: dict[str, Any], held: dict[str, str]) -> str:
    (statement,) = [held[r] for r in stix["object_marking_refs"] if r in held]
    return statement


# --------------------------------------------------------------------------- the protocol


def test_discovery_api_root_and_collections_through_taxii2_client(taxii: Served) -> None:
    server = Server(taxii.discovery, auth=BearerAuth(taxii.tokens["lux_nr"]))
    assert server.title == "guetteur"
    assert server.default is not None and server.default.url == f"{taxii.discovery}guetteur/"
    root = server.api_roots[0]
    assert root.versions == [TAXII] and root.max_content_length > 0
    assert {(c.alias, c.can_read, c.can_write) for c in root.collections} == {
        ("intel", True, False),
        ("incidents", True, False),
    }
    one = root.collections[0]
    by_id = Collection(f"{root.url}collections/{one.id}/", auth=BearerAuth(taxii.tokens["lux_nr"]))
    assert by_id.title == one.title and by_id.media_types == ["application/stix+json;version=2.1"]


def test_the_taxii_face_answers_nobody_without_credentials(taxii: Served) -> None:
    with taxii.server.client(headers={"Accept": TAXII}) as anonymous:
        for path in ("/taxii2/", "/taxii2/guetteur/collections/intel/objects/"):
            answer = anonymous.get(path)
            assert answer.status_code == 401 and "objects" not in answer.text


def test_media_types_accepted_and_refused(taxii: Served) -> None:
    with taxii.client("lux_nr") as client:
        answer = client.get("/taxii2/guetteur/collections/")
        assert answer.headers["content-type"] == TAXII
        plain = client.get("/taxii2/guetteur/collections/", headers={"Accept": "application/json"})
        assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
        html = client.get("/taxii2/guetteur/collections/", headers={"Accept": "text/html"})
        assert html.status_code == 406 and "application/taxii+json" in html.json()["detail"]
        old = client.get("/taxii2/", headers={"Accept": "application/taxii+json;version=2.0"})
        assert old.status_code == 406
        write = client.post("/taxii2/guetteur/collections/intel/objects/", json={"objects": []})
        assert write.status_code == 405


# --------------------------------------------------------------------------- who sees what


def test_a_lux_reader_receives_nothing_secret_and_nothing_not_released_to_lux(
    taxii: Served,
) -> None:
    objects = pull_all(taxii.collection("lux_nr", "intel"))
    text = json.dumps(objects)
    for hidden in HIDDEN_FROM_LUX:
        assert hidden not in text
    held = statements(objects)
    lux = parse_clearance("NATO RESTRICTED", "LUX").for_release_to(frozenset({"LUX"}))
    for stix in objects:
        if stix["type"] != "marking-definition":
            assert may_read(lux, parse_marking(marking_of(stix, held)))
    patterns = {o["pattern"] for o in objects if o["type"] == "indicator"}
    assert patterns == {
        NU_INDICATOR["pattern"],
        NR_INDICATOR["pattern"],
        PUBLIC_INDICATOR["pattern"],
    }
    names = {
        (o["type"], o["name"]) for o in objects if "name" in o and o["type"] != "marking-definition"
    }
    assert {("malware", "FoxLoader"), ("attack-pattern", "Spearphishing Attachment")} <= names
    assert ("intrusion-set", "GREYFOX") in names
    # Everything served is valid STIX 2.1, every reference resolves inside the collection.
    validate_bundle({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


def test_the_tear_line_holds_even_for_the_operator(taxii: Served) -> None:
    """ops (NS, FRA, holds CRYPTO) receives NS and FRA-only intel, never a caveated record."""
    objects = pull_all(taxii.collection("ops", "intel"))
    patterns = {o["pattern"] for o in objects if o["type"] == "indicator"}
    assert NS_INDICATOR["pattern"] in patterns and FRA_INDICATOR["pattern"] in patterns
    assert CRYPTO_INDICATOR["pattern"] not in patterns
    deu = pull_all(taxii.collection("deu_nc", "intel"))
    assert {o["pattern"] for o in deu if o["type"] == "indicator"} == {
        NU_INDICATOR["pattern"],
        PUBLIC_INDICATOR["pattern"],
    }


def test_markings_go_out_as_statements_and_tlp(taxii: Served) -> None:
    objects = pull_all(taxii.collection("lux_nr", "intel"))
    held = statements(objects)
    by_pattern = {o["pattern"]: o for o in objects if o["type"] == "indicator"}
    nu, nr, public = (
        by_pattern[i["pattern"]] for i in (NU_INDICATOR, NR_INDICATOR, PUBLIC_INDICATOR)
    )
    assert marking_of(nu, held) == "NATO UNCLASSIFIED" and TLP_GREEN in nu["object_marking_refs"]
    assert marking_of(public, held) == "UNCLASSIFIED" and TLP_CLEAR in public["object_marking_refs"]
    assert marking_of(nr, held) == "NATO RESTRICTED // REL TO FRA, LUX"
    assert nr["object_marking_refs"] == [r for r in nr["object_marking_refs"] if r in held]
    tlp = {o["id"]: o for o in objects if o["id"] in (TLP_CLEAR, TLP_GREEN)}
    assert tlp[TLP_GREEN]["name"] == "TLP:GREEN" and tlp[TLP_CLEAR]["created"] == (
        "2022-10-01T00:00:00.000Z"
    )
    # Attribution goes out as "indicates" at the indicator's own marking.
    relationships = [o for o in objects if o["type"] == "relationship"]
    targets = {o["id"]: o for o in objects if o["type"] == "intrusion-set"}
    assert {targets[r["target_ref"]]["name"] for r in relationships} == {"GREYFOX"}
    for relationship in relationships:
        target = targets[relationship["target_ref"]]
        assert marking_of(target, held) == marking_of(relationship, held)


def test_incidents_go_out_as_reports_under_their_marking(taxii: Served) -> None:
    lux = pull_all(taxii.collection("lux_nr", "incidents"))
    reports = [o for o in lux if o["type"] == "report"]
    assert len(reports) == 1 and "203.0.113.99" not in json.dumps(lux)
    held = statements(lux)
    assert marking_of(reports[0], held) == "NATO RESTRICTED"
    present = {o["id"] for o in lux}
    assert set(reports[0]["object_refs"]) <= present
    ops = pull_all(taxii.collection("ops", "incidents"))
    assert len([o for o in ops if o["type"] == "report"]) == 2


# --------------------------------------------------------------------------- paging


def _walk(client: httpx.Client, path: str, **params: Any) -> list[httpx.Response]:
    """Every page of `path`, following `next`."""
    pages = [client.get(path, params=params)]
    while pages[-1].json().get("more"):
        pages.append(client.get(path, params={**params, "next": pages[-1].json()["next"]}))
    return pages


def test_pages_follow_next_without_loss_or_repeat_and_added_after_filters(taxii: Served) -> None:
    path = "/taxii2/guetteur/collections/intel/objects/"
    with taxii.client("lux_nr") as client:
        whole = client.get(path).json()["objects"]
        pages = _walk(client, path, limit=2)
        assert all(len(p.json()["objects"]) <= 2 for p in pages) and len(pages) > 2
        walked = [o for p in pages for o in p.json()["objects"]]
        assert walked == whole and len({o["id"] for o in walked}) == len(walked)
        manifest = [m for p in _walk(client, path.replace("objects", "manifest"), limit=3)
                    for m in p.json()["objects"]]  # fmt: skip
        assert [m["id"] for m in manifest] == [o["id"] for o in whole]
        dates = [m["date_added"] for m in manifest]
        assert dates == sorted(dates)
        first = pages[0]
        assert first.headers["X-TAXII-Date-Added-First"] == dates[0]
        assert first.headers["X-TAXII-Date-Added-Last"] == dates[1]
        assert first.headers["X-Guetteur-Marking"]
        cut = dates[len(dates) // 2]
        later = client.get(path, params={"added_after": cut}).json().get("objects", [])
        assert [o["id"] for o in later] == [m["id"] for m in manifest if m["date_added"] > cut]
        just = client.get(path, params={"match[type]": "indicator,malware", "limit": 1000})
        assert {o["type"] for o in just.json()["objects"]} == {"indicator", "malware"}
        bad = client.get(path, params={"next": "not-a-cursor"})
        assert bad.status_code == 400 and "next" in bad.json()["detail"]
        assert client.get(path, params={"limit": "0"}).status_code == 400
        assert client.get(path, params={"added_after": "yesterday"}).status_code == 400


def test_one_object_and_its_versions_and_the_same_404_for_absent_and_unreadable(
    taxii: Served,
) -> None:
    secret = next(
        o["id"] for o in pull_all(taxii.collection("ops", "intel"))
        if o.get("pattern") == NS_INDICATOR["pattern"]
    )  # fmt: skip
    base = "/taxii2/guetteur/collections/intel/objects/"
    with taxii.client("lux_nr") as client:
        manifest = client.get(base.replace("objects", "manifest")).json()["objects"]
        entry = manifest[-1]
        one = client.get(f"{base}{entry['id']}/").json()
        assert [o["id"] for o in one["objects"]] == [entry["id"]]
        versions = client.get(f"{base}{entry['id']}/versions/").json()
        assert versions["versions"] == [entry["version"]]
        hidden = client.get(f"{base}{secret}/")
        absent_id = "indicator--" + str(uuid.UUID(int=99, version=4))
        absent = client.get(f"{base}{absent_id}/")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["detail"].replace(secret, "X") == absent.json()["detail"].replace(
            absent_id, "X"
        )
        missing = client.get("/taxii2/guetteur/collections/nope/objects/")
        assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]


# --------------------------------------------------------------------------- the twin


def _everything(taxii: Served, user: str, probes: Sequence[str] = ()) -> dict[str, Any]:
    """Every TAXII answer `user` can get, pages of two, with their TAXII and marking
    headers, and the answers to asking for each of `probes` by id."""
    seen: dict[str, Any] = {}
    kept = ("content-type", "x-taxii-date-added-first", "x-taxii-date-added-last",
            "x-guetteur-marking")  # fmt: skip

    def record(key: str, answer: httpx.Response) -> dict[str, Any]:
        body = json.loads(answer.text.replace(taxii.server.url, "SERVER"))
        seen[key] = {"status": answer.status_code, "body": body,
                     "headers": {h: answer.headers.get(h) for h in kept}}  # fmt: skip
        return dict(body)

    with taxii.client(user) as client:
        for path in ("/taxii2/", "/taxii2/guetteur/", "/taxii2/guetteur/collections/"):
            record(path, client.get(path))
        for alias in ("intel", "incidents"):
            base = f"/taxii2/guetteur/collections/{alias}/"
            record(base, client.get(base))
            for endpoint, limit in (("objects/", 2), ("manifest/", 3)):
                for number, page in enumerate(_walk(client, base + endpoint, limit=limit)):
                    record(f"{base}{endpoint}#{number}", page)
            ids = [
                o["id"] for o in record(base + "objects/", client.get(base + "objects/"))["objects"]
            ]
            for object_id in [*ids, *probes]:
                record(f"{base}objects/{object_id}/", client.get(f"{base}objects/{object_id}/"))
                record(
                    f"{base}objects/{object_id}/versions/",
                    client.get(f"{base}objects/{object_id}/versions/"),
                )
    return seen


def test_twins_differing_only_above_the_reader_give_the_reader_the_same_taxii(
    tmp_path: Path, built_gazetteer: Path, inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "datetime", _Clock)
    answers: dict[bool, dict[str, Any]] = {}
    probes: list[str] = []  # ids only the higher twin holds, asked for in both
    for higher in (True, False):
        home = tmp_path / ("high" if higher else "low") / "ws"
        tokens = build(home, built_gazetteer, inputs, higher=higher)
        with LiveServer(home, limits=ROOMY) as server:
            twin = Served(server, home, tokens)
            ops = [
                o
                for alias in ("intel", "incidents")
                for o in pull_all(twin.collection("ops", alias))
            ]
            assert (NS_INDICATOR["pattern"] in json.dumps(ops)) is higher
            if higher:
                lux = pull_all(twin.collection("lux_nr", "intel"))
                probes = sorted({o["id"] for o in ops} - {o["id"] for o in lux})
            answers[higher] = {
                user: _everything(twin, user, probes) for user in ("lux_nr", "deu_nc")
            }
    assert probes
    low, high = answers[False], answers[True]
    for user in ("lux_nr", "deu_nc"):
        assert low[user].keys() == high[user].keys()
        differing = [key for key in low[user] if low[user][key] != high[user][key]]
        assert not differing, f"{user}: {differing[:3]}"
    assert any(
        o["type"] == "report"
        for o in low["lux_nr"]["/taxii2/guetteur/collections/incidents/objects/"]["body"]["objects"]
    )


# --------------------------------------------------------------------------- intel pull


def _indicators(home: Path, user: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    with Workspace.open(home) as workspace:
        reader = workspace.user(user)
        return {
            (i.kind, i.value): (str(m), i.intrusion_set)
            for i, m in workspace.store.list_indicators(reader.clearance)
        }


def test_intel_pull_from_our_server_keeps_the_markings_both_ways(
    taxii: Served, tmp_path: Path, built_gazetteer: Path
) -> None:
    """lux_nr pulls our `intel` collection into a second workspace: the same indicators, each
    at the marking we served it under, attributed as served; the second workspace then serves
    them to its own LUX reader as we did."""
    home = tmp_path / "partner"
    new_workspace(home, built_gazetteer).close()
    runner = CliRunner()
    pulled = runner.invoke(
        main,
        ["--home", str(home), "intel", "pull", taxii.discovery, "--collection", "intel",
         "--token", taxii.tokens["lux_nr"], "--source", "lux-cert", "--json"],
    )  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    report = json.loads(pulled.output)
    assert {p["marking"] for p in report["parts"]} == {
        "NATO UNCLASSIFIED",
        "NATO RESTRICTED // REL TO FRA, LUX",
        "UNCLASSIFIED",
    }
    got = _indicators(home, "ops")
    sent = pull_all(taxii.collection("lux_nr", "intel"))
    held = statements(sent)
    expected = {
        ("ipv4", "198.51.100.10"): ("NATO UNCLASSIFIED", "GREYFOX"),
        ("domain", "c2.greyfox.example"): ("NATO RESTRICTED // REL TO FRA, LUX", "GREYFOX"),
        ("url", "http://paste.example/raw/abc"): ("UNCLASSIFIED", None),
        ("ipv4", "203.0.113.7"): ("NATO RESTRICTED // REL TO FRA, LUX", None),  # observable
    }
    assert got == expected

    # Pulled again, with a password this time (a guetteur login): nothing is stored twice.
    again = runner.invoke(
        main,
        ["--home", str(home), "intel", "pull", taxii.discovery, "--collection", "intel",
         "--user", "lux_nr", "--password-stdin", "--json"],
        input=PASSWORDS["lux_nr"] + "\n",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["parts"] == [] and _indicators(home, "ops") == got
    with taxii.client("lux_nr") as client:
        manifest = client.get("/taxii2/guetteur/collections/intel/manifest/")
    last = manifest.headers["X-TAXII-Date-Added-Last"]
    late = runner.invoke(
        main,
        ["--home", str(home), "intel", "pull", taxii.discovery, "--collection", "intel",
         "--token", taxii.tokens["lux_nr"], "--added-after", last, "--json"],
    )  # fmt: skip
    assert late.exit_code == 0 and json.loads(late.output)["objects"] == 0

    # Both ways: the partner serves what it pulled, under the same markings, to its LUX reader.
    with Workspace.open(home) as partner:
        ops = partner.operator()
        token = partner.accounts.create_token(ops, "lux_nr", timedelta(days=1))[1]
    with LiveServer(home, limits=ROOMY) as server:
        back = Served(server, home, {"lux_nr": token})
        served_back = pull_all(back.collection("lux_nr", "intel"))
    back_held = statements(served_back)
    assert {
        (o["pattern"], marking_of(o, back_held)) for o in served_back if o["type"] == "indicator"
    } == {(o["pattern"], marking_of(o, held)) for o in sent if o["type"] == "indicator"}


def test_intel_pull_refuses_clearly(taxii: Served, tmp_path: Path, built_gazetteer: Path) -> None:
    home = tmp_path / "partner"
    new_workspace(home, built_gazetteer).close()
    runner = CliRunner()
    base = ["--home", str(home), "intel", "pull", taxii.discovery]
    wrong = runner.invoke(main, [*base, "--collection", "intel", "--token", "gtr_forged"])
    assert wrong.exit_code == 1 and "401" in wrong.output and "Traceback" not in wrong.output
    unknown = runner.invoke(
        main, [*base, "--collection", "nope", "--token", taxii.tokens["lux_nr"]]
    )
    assert unknown.exit_code == 1 and "'nope'" in unknown.output and "intel" in unknown.output
    bad_password = runner.invoke(
        main, [*base, "--collection", "intel", "--user", "lux_nr", "--password-stdin"],
        input="not the password\n",
    )  # fmt: skip
    assert bad_password.exit_code == 1 and "401" in bad_password.output
    usage = runner.invoke(main, [*base, "--collection", "intel", "--user", "lux_nr"])
    assert usage.exit_code == 2
    with Workspace.open(home) as workspace:
        assert workspace.store.list_indicators(workspace.operator().clearance) == []


# --------------------------------------------------------------------------- pieces


def test_intel_documents_are_read_back_to_the_objects_they_state(tmp_path: Path) -> None:
    path = write(tmp_path, "nu.json", READABLE_FILES["nu.json"])
    fmt, reading = read_intel(path)
    document = intel_document(path, fmt, reading)
    back = intel_document_objects(document.text)
    assert [(o.kind, o.name, o.aliases, o.external_ids, o.description) for o in back] == [
        (o.kind, o.name, o.aliases, o.external_ids, o.description) for o in reading.objects
    ]


def test_tlp_maps_only_unclassified_markings() -> None:
    assert tlp_of(parse_marking("UNCLASSIFIED")) == "CLEAR"
    assert tlp_of(parse_marking("NATO UNCLASSIFIED")) == "GREEN"
    assert tlp_of(parse_marking("NON PROTÉGÉ")) == "GREEN"
    assert tlp_of(parse_marking("UNCLASSIFIED // REL TO FRA, LUX")) == "GREEN"
    assert tlp_of(parse_marking("NATO RESTRICTED")) is None
    assert tlp_of(parse_marking("DIFFUSION RESTREINTE")) is None
    assert tlp_of(parse_marking("NATO UNCLASSIFIED // CRYPTO")) is None


def _split(*files: str) -> dict[str, list[dict[str, Any]]]:
    objects = [o for text in files for o in json.loads(text)["objects"]]
    parts = split_by_marking(objects)
    by_statement = {}
    for part in parts:
        (statement,) = statements(part["objects"]).values()
        by_statement[statement] = part["objects"]
    return by_statement


def test_a_pull_is_split_by_marking_and_an_attribution_never_goes_lower(tmp_path: Path) -> None:
    lower_indicator = _bundle("NATO UNCLASSIFIED", 200, [NU_INDICATOR])
    higher_attribution = _bundle(
        "NATO RESTRICTED", 201, [GREYFOX, _indicates(30, NU_INDICATOR, GREYFOX)]
    )
    parts = _split(lower_indicator, higher_attribution)
    assert {o["type"] for o in parts["NATO UNCLASSIFIED"]} == {"marking-definition", "indicator"}
    assert "GREYFOX" in json.dumps(parts["NATO RESTRICTED"])

    higher_indicator = _bundle("NATO RESTRICTED", 202, [NR_INDICATOR])
    lower_attribution = _bundle(
        "NATO UNCLASSIFIED", 203, [GREYFOX, _indicates(31, NR_INDICATOR, GREYFOX)]
    )
    parts = _split(higher_indicator, lower_attribution)
    carried = parts["NATO RESTRICTED"]
    path = write(
        tmp_path, "nr.json", json.dumps({"type": "bundle", "id": "bundle--x", "objects": carried})
    )
    _, reading = read_intel(path)
    assert [(i.value, i.intrusion_set) for i in reading.indicators] == [
        ("c2.greyfox.example", "GREYFOX")
    ]
    assert list(reading.markings) == [parse_marking("NATO RESTRICTED")]
