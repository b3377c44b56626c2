"""Threat intel: STIX and MISP read, indicators matched to alerts, incidents exported as STIX."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stix2

from guetteur._exceptions import IngestError, NoMarkingError
from guetteur.cyber import intel
from guetteur.cyber.intel import (
    Indicator,
    IndicatorIndex,
    InvalidStixError,
    incident_bundle,
    parse_stix,
    read_misp,
    read_stix,
    validate_bundle,
)
from guetteur.model.alert import Alert, Severity
from guetteur.pipeline.intel import IntelImportReport, import_intel
from guetteur.security.markings import TLP_RED_CAVEAT, parse_clearance, parse_marking
from guetteur.store.sqlite.store import SQLiteStore

ATTACK_BUNDLE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "attack"
    / "enterprise_techniques_tactics_bundle.json"
)

APT = "intrusion-set--11111111-1111-4111-8111-111111111111"
CAMPAIGN = "campaign--22222222-2222-4222-8222-222222222222"


def _indicator(number: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "name": f"indicator {number}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-03-01T10:00:00Z",
        **extra,
    }


def _relationship(number: int, source: str, kind: str, target: str) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": f"relationship--00000000-0000-4000-9000-{number:012d}",
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "relationship_type": kind,
        "source_ref": source,
        "target_ref": target,
    }


SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
STIX_21 = {
    "type": "bundle",
    "id": "bundle--33333333-3333-4333-8333-333333333333",
    "objects": [
        _indicator(1, "[ipv4-addr:value = '203.0.113.7']", confidence=80),
        _indicator(2, "[domain-name:value = 'c2.Evil-Corp.example']"),
        _indicator(3, "[url:value = 'hxxp://dl.evil-corp[.]example/payload.bin']"),
        _indicator(4, f"[file:hashes.'SHA-256' = '{SHA256}']"),
        _indicator(
            5, "[ipv4-addr:value = '198.51.100.1'] OR [domain-name:value = 'relay.example']"
        ),
        # Only the comparisons we cannot match exactly: nothing usable.
        _indicator(6, "[process:name = 'evil.exe' AND file:size > 1000]"),
        _indicator(7, "[ipv4-addr:value = '192.0.2.9']", revoked=True),
        {
            "type": "intrusion-set",
            "spec_version": "2.1",
            "id": APT,
            "created": "2026-03-01T10:00:00.000Z",
            "modified": "2026-03-01T10:00:00.000Z",
            "name": "APT28",
            "aliases": ["Fancy Bear", "Sofacy"],
            "external_references": [{"source_name": "mitre-attack", "external_id": "G0007"}],
        },
        {
            "type": "campaign",
            "spec_version": "2.1",
            "id": CAMPAIGN,
            "created": "2026-03-01T10:00:00.000Z",
            "modified": "2026-03-01T10:00:00.000Z",
            "name": "Operation Cold Harbour",
        },
        _relationship(1, "indicator--00000000-0000-4000-8000-000000000001", "indicates", APT),
        _relationship(2, "indicator--00000000-0000-4000-8000-000000000002", "indicates", CAMPAIGN),
        _relationship(3, CAMPAIGN, "attributed-to", APT),
        {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--4", "value": "192.0.2.44"},
    ],
}


def _write(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- STIX in


def test_stix_indicators_are_normalised_and_attributed(tmp_path: Path) -> None:
    indicators, objects = read_stix(_write(tmp_path, "feed.json", STIX_21))

    by_value = {i.value: i for i in indicators}
    assert by_value["203.0.113.7"].kind == "ipv4"
    assert by_value["203.0.113.7"].confidence == 80
    assert by_value["203.0.113.7"].intrusion_set == "APT28"
    # Through the campaign's attributed-to: the actor, not the campaign.
    assert by_value["c2.evil-corp.example"].intrusion_set == "APT28"
    # Refanged, so it can match what a sensor sees.
    assert "http://dl.evil-corp.example/payload.bin" in by_value
    assert by_value[SHA256.lower()].kind == "sha256"
    assert by_value[SHA256.lower()].intrusion_set is None
    # Both sides of the OR, each its own indicator from the same object.
    assert by_value["198.51.100.1"].origin == by_value["relay.example"].origin
    assert by_value["198.51.100.1"].origin.endswith(
        "#indicator--00000000-0000-4000-8000-000000000005"
    )
    assert "192.0.2.9" not in by_value  # revoked
    observable = by_value["192.0.2.44"]
    assert (observable.for_detection, observable.confidence) == (False, 15)

    assert {(o.kind, o.name) for o in objects} == {
        ("intrusion-set", "APT28"),
        ("campaign", "Operation Cold Harbour"),
    }
    apt = next(o for o in objects if o.kind == "intrusion-set")
    assert apt.aliases == ("Fancy Bear", "Sofacy") and apt.external_ids == ("G0007",)


def test_stix_unusable_comparisons_are_counted() -> None:
    reading = parse_stix(STIX_21, "feed.json")
    assert reading.skipped["unusable pattern comparison"] == 2
    assert reading.skipped["revoked indicator"] == 1


def test_stix_20_observed_data_yields_context_indicators() -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--44444444-4444-4444-8444-444444444444",
        "spec_version": "2.0",
        "objects": [
            {
                "type": "observed-data",
                "id": "observed-data--55555555-5555-4555-8555-555555555555",
                "objects": {
                    "0": {"type": "domain-name", "value": "Beacon.Example"},
                    "1": {"type": "file", "hashes": {"MD5": "D41D8CD98F00B204E9800998ECF8427E"}},
                },
            }
        ],
    }
    reading = parse_stix(bundle, "old.json")
    assert {(i.kind, i.value) for i in reading.indicators} == {
        ("domain", "beacon.example"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
    }
    assert not any(i.for_detection for i in reading.indicators)


def test_real_attack_bundle_gives_attack_patterns_with_t_ids() -> None:
    if not ATTACK_BUNDLE.is_file():
        pytest.skip("../shared/data/attack absent")
    indicators, objects = read_stix(ATTACK_BUNDLE)
    assert indicators == []
    patterns = {i: o for o in objects if o.kind == "attack-pattern" for i in o.external_ids}
    assert len(patterns) > 500
    assert patterns["T1059.001"].name == "PowerShell"
    assert all(any(i.startswith("T") for i in o.external_ids) for o in patterns.values())


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"type": "bundle", "objects": [', encoding="utf-8")
    with pytest.raises(IngestError, match="broken.json: not JSON"):
        read_stix(path)


def test_not_a_bundle_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "event.json", {"Event": {"info": "x"}})
    with pytest.raises(IngestError, match=r"event.json: not a STIX bundle"):
        read_stix(path)
    with pytest.raises(IngestError, match="list.json: not a STIX bundle"):
        read_stix(_write(tmp_path, "list.json", [1, 2]))


def test_bom_is_accepted_and_bad_utf8_names_the_file(tmp_path: Path) -> None:
    with_bom = tmp_path / "bom.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(STIX_21).encode())
    assert read_stix(with_bom)[0]
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"type": "bundle", "objects": [{"name": "caf\xe9"}]}')
    with pytest.raises(IngestError, match="latin1.json: not JSON"):
        read_stix(bad)


def test_oversized_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intel, "MAX_INTEL_FILE_BYTES", 100)
    with pytest.raises(IngestError, match="big.json: .* over the .* limit"):
        read_stix(_write(tmp_path, "big.json", STIX_21))


# --------------------------------------------------------------------------- MISP in

MISP_EVENT = {
    "Event": {
        "uuid": "5f1a7c3e-0b7d-4c5e-9a0e-2f6b8c1d4e01",
        "info": "Spear-phishing wave against MoD suppliers",
        "date": "2026-02-14",
        "threat_level_id": "1",
        "Attribute": [
            {
                "uuid": "a1",
                "type": "ip-dst",
                "category": "Network activity",
                "value": "203.0.113.50",
                "to_ids": True,
                "comment": "C2",
            },
            {
                "uuid": "a2",
                "type": "domain",
                "category": "Network activity",
                "value": "update-check[.]example",
                "to_ids": "1",
            },
            {
                "uuid": "a3",
                "type": "ip-dst|port",
                "category": "Network activity",
                "value": "198.51.100.77|8443",
                "to_ids": True,
            },
            {
                "uuid": "a4",
                "type": "ip-src",
                "category": "Network activity",
                "value": "192.0.2.200",
                "to_ids": False,
                "comment": "victim's proxy",
            },
            {"uuid": "a5", "type": "text", "category": "Other", "value": "x", "to_ids": False},
        ],
        "Object": [
            {
                "name": "file",
                "Attribute": [
                    {
                        "uuid": "o1",
                        "type": "filename|sha256",
                        "category": "Payload delivery",
                        "value": f"invoice.doc|{SHA256}",
                        "to_ids": True,
                    },
                    {
                        "uuid": "o2",
                        "type": "filename",
                        "category": "Payload delivery",
                        "value": "invoice.doc",
                        "to_ids": False,
                    },
                ],
            }
        ],
        "Tag": [{"name": "tlp:amber"}, {"name": 'misp-galaxy:threat-actor="APT28"'}],
        "Galaxy": [
            {
                "type": "threat-actor",
                "name": "Threat Actor",
                "GalaxyCluster": [
                    {
                        "value": "APT28",
                        "description": "Russian military intelligence unit 26165.",
                        "meta": {"synonyms": ["Fancy Bear", "Sofacy"]},
                    }
                ],
            },
            {
                "type": "mitre-attack-pattern",
                "GalaxyCluster": [{"value": "Spearphishing Attachment - T1566.001"}],
            },
        ],
    }
}


def test_misp_to_ids_attributes_become_attributed_indicators(tmp_path: Path) -> None:
    indicators, objects = read_misp(_write(tmp_path, "event.json", MISP_EVENT))

    assert {(i.kind, i.value) for i in indicators} == {
        ("ipv4", "203.0.113.50"),
        ("domain", "update-check.example"),
        ("ipv4", "198.51.100.77"),
        ("sha256", SHA256.lower()),
    }
    assert {i.intrusion_set for i in indicators} == {"APT28"}
    assert all(i.source == "misp" and i.for_detection for i in indicators)
    c2 = next(i for i in indicators if i.value == "203.0.113.50")
    assert c2.description == "C2"
    assert c2.origin.endswith("#5f1a7c3e-0b7d-4c5e-9a0e-2f6b8c1d4e01/a1")
    assert c2.valid_from == datetime(2026, 2, 14, tzinfo=UTC)

    actor = next(o for o in objects if o.kind == "threat-actor")
    assert actor.name == "APT28" and actor.aliases == ("Fancy Bear", "Sofacy")
    technique = next(o for o in objects if o.kind == "attack-pattern")
    assert (technique.name, technique.external_ids) == ("Spearphishing Attachment", ("T1566.001",))


def test_misp_context_attributes_kept_only_on_request(tmp_path: Path) -> None:
    export = {"response": [MISP_EVENT]}
    indicators, _ = read_misp(_write(tmp_path, "export.json", export), include_context=True)
    context = [i for i in indicators if not i.for_detection]
    assert [(i.kind, i.value) for i in context] == [("ipv4", "192.0.2.200")]


def test_misp_list_of_events(tmp_path: Path) -> None:
    other = {
        "Event": {
            "uuid": "e2",
            "info": "second",
            "Attribute": [
                {
                    "uuid": "b1",
                    "type": "url",
                    "value": "https://Login.example/reset?u=1",
                    "to_ids": True,
                }
            ],
        }
    }
    indicators, _ = read_misp(_write(tmp_path, "events.json", [MISP_EVENT, other]))
    second = [i for i in indicators if i.name == "second"]
    assert [(i.kind, i.value, i.intrusion_set) for i in second] == [
        ("url", "https://login.example/reset?u=1", None)
    ]


def test_misp_without_event_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="bundle.json: not a MISP event"):
        read_misp(_write(tmp_path, "bundle.json", STIX_21))


# --------------------------------------------------------------------------- matching


def _alert(number: int, **fields: Any) -> Alert:
    defaults: dict[str, Any] = {
        "id": f"alert{number}",
        "time": datetime(2026, 3, 2, 8, number, tzinfo=UTC),
        "detector": "suricata",
        "signature": "ET MALWARE beacon",
        "rule_id": "2030000",
        "severity": Severity.HIGH,
        "src": "10.0.0.5",
        "src_port": 49152,
        "dst": "192.0.2.1",
        "dst_port": 80,
        "protocol": "TCP",
    }
    return Alert(**{**defaults, **fields})


@pytest.fixture(scope="module")
def index() -> IndicatorIndex:
    return IndicatorIndex(parse_stix(STIX_21, "feed.json").indicators)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"dst": "203.0.113.7"}, "203.0.113.7"),
        (
            {"raw": {"http": {"hostname": "C2.evil-corp.example", "url": "/"}}},
            "c2.evil-corp.example",
        ),
        (
            {"raw": {"http": {"hostname": "dl.evil-corp.example", "url": "/payload.bin"}}},
            "http://dl.evil-corp.example/payload.bin",
        ),
        ({"raw": {"dns": {"rrname": "relay.example"}}}, "relay.example"),
        ({"raw": {"dns": {"query": [{"rrname": "relay.example."}]}}}, "relay.example"),
        ({"raw": {"tls": {"sni": "c2.evil-corp.example"}}}, "c2.evil-corp.example"),
        ({"raw": {"fileinfo": {"sha256": SHA256}}}, SHA256.lower()),
        (
            {
                "detector": "sigma",
                "src": None,
                "dst": None,
                "raw": {"event": {"data": {"Hashes": f"MD5=00,SHA256={SHA256},IMPHASH=11"}}},
            },
            SHA256.lower(),
        ),
        ({"raw": {"DestinationIp": "198.51.100.1"}, "dst": None}, "198.51.100.1"),
        ({"raw": {"event": {"data": {"QueryName": "relay.example"}}}}, "relay.example"),
    ],
)
def test_alert_matches_indicator(
    index: IndicatorIndex, fields: dict[str, Any], expected: str
) -> None:
    matched = index.match_alert(_alert(1, **fields))
    assert [i.value for i in matched] == [expected]


def test_ipv6_and_defanged_values_meet_in_one_form() -> None:
    # Partners write compressed and defanged; EVE writes IPv6 uncompressed.
    bundle = {
        "type": "bundle",
        "id": "bundle--66666666-6666-4666-8666-666666666666",
        "objects": [
            _indicator(1, "[ipv6-addr:value = '2001:db8::1/128']"),
            _indicator(2, "[domain-name:value = 'evil[.]example']"),
        ],
    }
    index = IndicatorIndex(parse_stix(bundle, "v6.json").indicators)
    alert = _alert(
        1, dst="2001:0db8:0000:0000:0000:0000:0000:0001", raw={"tls": {"sni": "EVIL.example"}}
    )
    assert sorted(i.value for i in index.match_alert(alert)) == ["2001:db8::1", "evil.example"]


def test_alert_without_indicator_values_does_not_match(index: IndicatorIndex) -> None:
    alert = _alert(
        1,
        raw={
            "http": {"hostname": "www.example.org", "url": "/index.html"},
            "dns": {"rrname": "evil-corp.example"},  # parent of an indicator: exact match only
            "fileinfo": {"sha256": "0" * 64},
        },
    )
    assert index.match_alert(alert) == []


# --------------------------------------------------------------------------- STIX out

MARKING = "NATO SECRET // REL TO FRA, LUX"


def _export() -> dict[str, Any]:
    indicator = Indicator(
        kind="ipv4",
        value="203.0.113.7",
        source="stix",
        name="APT28 C2",
        intrusion_set="APT28",
        confidence=80,
        valid_from=datetime(2026, 3, 1, tzinfo=UTC),
    )
    alerts = [
        _alert(1, dst="203.0.113.7", raw={"http": {"hostname": "c2.example", "url": "/a"}}),
        _alert(2, dst="203.0.113.7", raw={"http": {"hostname": "c2.example", "url": "/a"}}),
        _alert(
            3,
            detector="sigma",
            src=None,
            dst=None,
            raw={"event": {"data": {"Hashes": f"SHA256={SHA256}"}}},
        ),
    ]
    return incident_bundle(
        incident_id="inc-42",
        title="Beaconing to APT28 infrastructure from WS-17",
        summary="WS-17 downloaded a payload then beaconed to a known APT28 address.",
        alerts=alerts,
        techniques=[("T1071.001", "Web Protocols"), ("T1105", "Ingress Tool Transfer")],
        indicators=[indicator],
        marking=MARKING,
        created=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    )


def test_incident_bundle_validates_with_stix2() -> None:
    bundle = _export()
    with warnings.catch_warnings():
        # stix2 may warn on valid-but-unusual content; any warning here is a defect to see.
        warnings.simplefilter("error")
        parsed = stix2.parse(bundle, allow_custom=False)
        validate_bundle(bundle)
    assert parsed.type == "bundle"

    by_type: dict[str, list[dict[str, Any]]] = {}
    for stix_object in bundle["objects"]:
        by_type.setdefault(stix_object["type"], []).append(stix_object)
    # Alerts 1 and 2 saw the same endpoints: one observed-data, seen twice.
    assert sorted(o["number_observed"] for o in by_type["observed-data"]) == [1, 2]
    assert [o["pattern"] for o in by_type["indicator"]] == ["[ipv4-addr:value = '203.0.113.7']"]
    assert by_type["intrusion-set"][0]["name"] == "APT28"
    assert by_type["relationship"][0]["relationship_type"] == "indicates"
    assert sorted(
        o["external_references"][0]["external_id"] for o in by_type["attack-pattern"]
    ) == ["T1071.001", "T1105"]
    (report,) = by_type["report"]
    assert report["name"].startswith("Beaconing")
    others = {o["id"] for o in bundle["objects"]} - {
        report["id"],
        by_type["marking-definition"][0]["id"],
    }
    assert set(report["object_refs"]) == others

    (marking,) = by_type["marking-definition"]
    assert marking["definition"] == {"statement": MARKING}
    unmarked = [
        o["id"]
        for o in bundle["objects"]
        if o["type"] != "marking-definition" and o.get("object_marking_refs") != [marking["id"]]
    ]
    assert unmarked == []


def test_incident_bundle_ids_are_stable() -> None:
    first, second = _export(), _export()
    assert first == second
    assert [o["id"] for o in first["objects"]] == [o["id"] for o in second["objects"]]


def test_validate_bundle_names_the_bad_object() -> None:
    bundle = _export()
    indicator = next(o for o in bundle["objects"] if o["type"] == "indicator")
    indicator["pattern"] = "[ipv4-addr:value = "
    with pytest.raises(InvalidStixError, match=indicator["id"]):
        validate_bundle(bundle)


# ------------------------------------------------------------- markings of intel files
# Finding 9: a STIX statement marking "NATO SECRET" was ignored and the file's
# indicators and document stored at the lower --marking. Imported for real
# (`import_intel`, a real SQLiteStore) and read back by two readers.

NS_FRA = parse_clearance("NATO SECRET", "FRA")
NR_LUX = parse_clearance("NATO RESTRICTED", "LUX")
STATEMENT_ID = "marking-definition--44444444-4444-4444-8444-444444444444"
TLP_RED_ID = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def _statement(text: str, marking_id: str = STATEMENT_ID) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id,
        "created": "2026-03-01T10:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": text},
    }


def _marked_bundle(refs: list[str], *definitions: dict[str, Any]) -> dict[str, Any]:
    apt = {**STIX_21["objects"][7], "object_marking_refs": refs}  # the intrusion set
    marked = _indicator(1, "[ipv4-addr:value = '203.0.113.7']", object_marking_refs=refs)
    return {
        "type": "bundle",
        "id": "bundle--55555555-5555-4555-8555-555555555555",
        "objects": [*definitions, marked, _indicator(2, "[domain-name:value = 'c2.example']"), apt],
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "g.db")
    yield opened
    opened.close()


def _import(store: SQLiteStore, path: Path, marking: str | None) -> IntelImportReport:
    given = parse_marking(marking) if marking else None
    return import_intel(store, path, "cert", given, None, "analyst")


def test_stix_statement_marking_makes_indicators_and_document_nato_secret(
    store: SQLiteStore, tmp_path: Path
) -> None:
    bundle = _marked_bundle([STATEMENT_ID], _statement("NATO SECRET"))
    report = _import(store, _write(tmp_path, "feed.json", bundle), "NATO UNCLASSIFIED")
    assert report.indicators == 2
    markings = {str(marking) for _, marking in store.list_indicators(NS_FRA)}
    assert markings == {"NATO SECRET"}
    (document,) = store.iter_documents(NS_FRA)
    assert str(document.marking) == "NATO SECRET" and "APT28" in document.text
    # The NATO RESTRICTED reader sees neither the indicators nor the document.
    assert store.list_indicators(NR_LUX) == []
    assert list(store.iter_documents(NR_LUX)) == []


def test_stix_statement_alone_is_enough_without_marking_option(
    store: SQLiteStore, tmp_path: Path
) -> None:
    bundle = _marked_bundle([STATEMENT_ID], _statement("NATO SECRET // REL TO FRA, LUX"))
    _import(store, _write(tmp_path, "feed.json", bundle), None)
    (document,) = store.iter_documents(NS_FRA)
    assert str(document.marking) == "NATO SECRET // REL TO FRA, LUX"


def test_stix_tlp_red_adds_a_caveat_and_sets_no_level(store: SQLiteStore, tmp_path: Path) -> None:
    path = _write(tmp_path, "feed.json", _marked_bundle([TLP_RED_ID]))
    with pytest.raises(NoMarkingError, match="states no classification"):
        _import(store, path, None)
    _import(store, path, "NATO RESTRICTED")
    assert {str(m) for _, m in store.list_indicators(NS_FRA)} == set()
    holder = parse_clearance("NATO RESTRICTED", "LUX", [TLP_RED_CAVEAT])
    assert {str(m) for _, m in store.list_indicators(holder)} == {"NATO RESTRICTED // TLP:RED"}


@pytest.mark.parametrize(
    ("bundle", "says"),
    [
        (
            _marked_bundle([STATEMENT_ID], _statement("NATO SECRETT")),
            "'NATO SECRETT': not a marking",
        ),
        (_marked_bundle([STATEMENT_ID]), "which the bundle does not hold"),
        (
            _marked_bundle(
                [STATEMENT_ID],
                {**_statement("x"), "definition_type": "acme-label", "definition": {"l": "S"}},
            ),
            "a marking definition of type 'acme-label' that guetteur cannot read",
        ),
    ],
    ids=["statement", "undefined", "unknown-type"],
)
def test_stix_marking_that_does_not_parse_refuses_the_bundle(
    store: SQLiteStore, tmp_path: Path, bundle: dict[str, Any], says: str
) -> None:
    path = _write(tmp_path, "feed.json", bundle)
    with pytest.raises(IngestError, match=says) as refused:
        _import(store, path, "NATO SECRET")
    assert str(refused.value).startswith(f"{path}#marking-definition--")
    assert store.list_indicators(NS_FRA) == [] and list(store.iter_documents(NS_FRA)) == []


def test_stix_copyright_statement_is_no_marking() -> None:
    bundle = _marked_bundle([STATEMENT_ID], _statement("Copyright 2026, The MITRE Corporation."))
    reading = parse_stix(bundle, "feed.json")
    assert (reading.markings, reading.caveats) == ((), frozenset())


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (['nato:classification="NS"'], "NATO SECRET"),
        (['nato:classification="CTS-A"'], "COSMIC TOP SECRET // ATOMAL"),
        (["classification:NATO SECRET // REL TO FRA"], "NATO SECRET // REL TO FRA"),
        (["tlp:red"], "NATO RESTRICTED // TLP:RED"),
        (["tlp:amber", "NATO CONFIDENTIAL"], "NATO CONFIDENTIAL"),
    ],
)
def test_misp_marking_tags_mark_the_event(
    store: SQLiteStore, tmp_path: Path, tags: list[str], expected: str
) -> None:
    event = json.loads(json.dumps(MISP_EVENT))
    event["Event"]["Attribute"][0]["Tag"] = [{"name": tag} for tag in tags]
    _import(store, _write(tmp_path, "event.json", event), "NATO RESTRICTED")
    everyone = parse_clearance("COSMIC TOP SECRET", "FRA", ["ATOMAL", TLP_RED_CAVEAT])
    (document,) = store.iter_documents(everyone)
    assert str(document.marking) == expected
    assert {str(m) for _, m in store.list_indicators(everyone)} == {expected}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"Tag": [{"name": "classification:NATO SECRETT"}]}, "tag 'classification:NATO SECRETT'"),
        ({"Tag": [{"name": "tlp:purple"}]}, "not a TLP label"),
        ({"distribution": "9"}, "unknown MISP distribution '9'"),
    ],
)
def test_misp_marking_that_does_not_parse_refuses_the_event(
    store: SQLiteStore, tmp_path: Path, change: dict[str, Any], says: str
) -> None:
    event = json.loads(json.dumps(MISP_EVENT))
    event["Event"].update(change)
    with pytest.raises(IngestError, match=says):
        _import(store, _write(tmp_path, "event.json", event), "NATO SECRET")
    assert list(store.iter_documents(NS_FRA)) == []
