"""The cyber commands end to end on the real public samples in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run

from conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

EVE = SHARED_DATA / "suricata_eve"
SIGMA = SHARED_DATA / "sigma_regression_events"


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    run(home, "init", "--user", "cert", "--clearance", "DR", "--nationality", "FRA")
    run(home, "users", "add", "lux_ns", "--clearance", "NATO SECRET", "--nationality", "LUX")
    return home


def test_alerts_need_a_marking_then_are_read_only_by_those_released_to(cert: Path) -> None:
    refused = run(cert, "alerts", "ingest", str(EVE), check=False)
    assert refused.returncode == 1 and "no marking" in refused.stderr
    report = json.loads(
        run(
            cert, "alerts", "ingest", str(EVE), "--marking", "DIFFUSION RESTREINTE", "--json"
        ).stdout
    )
    assert (report["alerts"], report["failed"]) == (548, [])
    listed = json.loads(run(cert, "alerts", "--json").stdout)["alerts"]
    assert len(listed) == 548  # no silent cut without --limit
    assert set(listed[0]) >= {
        "id", "time", "signature", "rule_id", "severity", "host", "src", "dst", "techniques",
        "incident_id",
    }  # fmt: skip
    # A French national RESTRICTED feed is not for a Luxembourg reader, whatever their level.
    assert json.loads(run(cert, "alerts", "--as", "lux_ns", "--json").stdout)["alerts"] == []
    again = json.loads(run(cert, "alerts", "ingest", str(EVE), "--marking", "DR", "--json").stdout)
    assert (again["alerts"], again["duplicates"]) == (0, 548)


def test_sigma_rules_run_on_stored_events_and_on_new_ones(cert: Path, tmp_path: Path) -> None:
    events = sorted((SIGMA / "events").glob("*.json"))
    first, rest = events[:50], events[50:]
    batch = tmp_path / "first"
    batch.mkdir()
    for path in first:
        (batch / path.name).write_bytes(path.read_bytes())
    run(cert, "alerts", "ingest", str(batch), "--marking", "NATO RESTRICTED", "--json")
    loaded = json.loads(
        run(cert, "rules", "load", str(SIGMA / "rules"), "--marking", "NR", "--json").stdout
    )
    assert loaded["loaded"] == 101 and loaded["unsupported"] == [] and loaded["alerts"] >= 50
    later = tmp_path / "later"
    later.mkdir()
    for path in rest:
        (later / path.name).write_bytes(path.read_bytes())
    report = json.loads(
        run(cert, "alerts", "ingest", str(later), "--marking", "NR", "--json").stdout
    )
    assert report["alerts"] >= len(rest)  # the loaded rules fire on new events at ingest
    node = "271de298-cc0e-4842-acd8-079a0a99ea65"
    (alert,) = json.loads(run(cert, "alerts", "--rule", node, "--json").stdout)["alerts"]
    assert alert["techniques"] == ["T1059", "T1190"] and alert["severity"] == "high"


def test_bad_and_hostile_alert_files_are_reported_and_good_records_kept(
    cert: Path, tmp_path: Path
) -> None:
    records = json.loads((EVE / "hassanabad_honeypot-2018_alerts.json").read_text())
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [json.dumps(r) for r in records[:10]]
    (folder / "truncated.json").write_text("\n".join(lines) + "\n" + lines[10 % len(lines)][:40])
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00garbage" * 100)
    bad_rules = tmp_path / "rules"
    bad_rules.mkdir()
    (bad_rules / "broken.yml").write_text("title: x\ndetection: [unclosed\n")
    done = run(cert, "alerts", "ingest", str(folder), "--marking", "DR", "--json", check=False)
    assert done.returncode == 3
    report = json.loads(done.stdout)
    assert report["alerts"] == 10
    assert {Path(f["path"].split("#")[0].split(":")[0]).name for f in report["failed"]} == {
        "truncated.json",
        "binary.json",
    }
    loaded = json.loads(
        run(cert, "rules", "load", str(bad_rules), "--marking", "DR", "--json").stdout
    )
    assert loaded["loaded"] == 0 and "broken.yml" in loaded["unsupported"][0]["path"]


def test_attack_import_and_map(cert: Path) -> None:
    missing = run(cert, "attack", "map", "powershell", check=False)
    assert missing.returncode == 1 and "attack import" in missing.stderr
    out = run(cert, "attack", "import", str(SHARED_DATA / "attack" / "techniques.csv")).stdout
    assert "imported 691 techniques" in out
    mapped = json.loads(
        run(cert, "attack", "map", "credentials dumped from lsass with mimikatz", "--json").stdout
    )
    assert mapped["techniques"][0]["id"] == "T1003.001"
    assert set(mapped["techniques"][0]) == {"id", "name", "score"}


def test_incidents_group_alerts_and_carry_their_marking(cert: Path) -> None:
    run(cert, "alerts", "ingest", str(EVE), "--marking", "DIFFUSION RESTREINTE // REL TO FRA, LUX")
    found = json.loads(run(cert, "incidents", "--json").stdout)["incidents"]
    assert 0 < len(found) < 548 // 2  # 240: most sample alerts are alone on their host
    assert sum(i["alert_count"] for i in found) == 548
    first = found[0]
    assert set(first) >= {
        "id", "title", "severity", "alert_count", "hosts", "techniques", "first_seen",
        "last_seen", "marking",
    }  # fmt: skip
    assert first["marking"] == "DIFFUSION RESTREINTE // REL TO FRA, LUX"
    detail = json.loads(run(cert, "incident", first["id"], "--json", "--lang", "fr").stdout)
    assert len(detail["alerts"]) == first["alert_count"]
    assert str(first["alert_count"]) in detail["summary"]
    markdown = run(cert, "incident", first["id"], "--markdown").stdout.strip().splitlines()
    assert markdown[0] == markdown[-1] == "**DIFFUSION RESTREINTE // REL TO FRA, LUX**"
    alerts = json.loads(run(cert, "alerts", "--json").stdout)["alerts"]
    assert {a["incident_id"] for a in alerts} == {i["id"] for i in found}
    high = json.loads(run(cert, "incidents", "--min-severity", "high", "--json").stdout)
    assert all(i["severity"] in ("high", "critical") for i in high["incidents"])
    # LUX is released to, but a RESTRICTED reader of another nation sees nothing.
    assert json.loads(run(cert, "incidents", "--as", "lux_ns", "--json").stdout)["incidents"]
    run(cert, "users", "add", "deu_ns", "--clearance", "NS", "--nationality", "DEU")
    assert json.loads(run(cert, "incidents", "--as", "deu_ns", "--json").stdout) == {
        "incidents": [],
        "marking": "UNCLASSIFIED",  # nothing returned: the lowest marking
    }
    assert run(cert, "incident", first["id"], "--as", "deu_ns", check=False).returncode == 1


def test_partner_indicators_raise_incidents_mark_them_and_export_to_stix(
    cert: Path, tmp_path: Path
) -> None:
    import stix2

    records = json.loads((EVE / "hassanabad_honeypot-2018_alerts.json").read_text())
    attacker = records[0]["src_ip"]
    misp = {
        "Event": {
            "info": "GREYFOX infrastructure",
            "uuid": "5f1c2d3e-0000-4000-8000-000000000001",
            "date": "2026-11-20",
            "threat_level_id": "1",
            "Attribute": [
                {"type": "ip-src", "value": attacker, "category": "Network activity",
                 "to_ids": True, "uuid": "5f1c2d3e-0000-4000-8000-000000000002"},
            ],
            "Tag": [{"name": 'misp-galaxy:threat-actor="GREYFOX"'}],
        }
    }  # fmt: skip
    (tmp_path / "misp.json").write_text(json.dumps(misp))
    run(cert, "users", "add", "ops", "--clearance", "NS", "--nationality", "FRA")
    run(cert, "alerts", "ingest", str(EVE), "--marking", "DIFFUSION RESTREINTE", "--json")
    before = json.loads(run(cert, "incidents", "--as", "ops", "--json").stdout)["incidents"]
    imported = json.loads(
        run(cert, "intel", "import", str(tmp_path / "misp.json"), "--marking",
            "NATO SECRET // REL TO FRA", "--as", "ops", "--json").stdout
    )  # fmt: skip
    assert (imported["format"], imported["indicators"]) == ("misp", 1)

    after = json.loads(run(cert, "incidents", "--as", "ops", "--json").stdout)["incidents"]
    hit = next(i for i in after if i["marking"] == "NATO SECRET // REL TO FRA")
    detail = json.loads(run(cert, "incident", hit["id"], "--as", "ops", "--json").stdout)
    assert detail["intrusion_sets"] == ["GREYFOX"]
    assert any("known indicator" in reason for reason in detail["reasons"])
    assert hit["severity"] != next(i for i in before if i["id"] == hit["id"])["severity"]
    # The DR-cleared CERT user may not read the SECRET indicator: nothing changes for them.
    mine = json.loads(run(cert, "incidents", "--json").stdout)["incidents"]
    assert all(i["marking"] == "DIFFUSION RESTREINTE" for i in mine)

    bundle = json.loads(run(cert, "incident", hit["id"], "--as", "ops", "--stix").stdout)
    assert bundle["type"] == "bundle"
    for item in bundle["objects"]:
        stix2.parse(item, allow_custom=False)
    statement = next(o for o in bundle["objects"] if o["type"] == "marking-definition")
    assert statement["definition"]["statement"] == "NATO SECRET // REL TO FRA"

    greyfox = json.loads(run(cert, "entity", "GREYFOX", "--as", "ops", "--json").stdout)
    assert greyfox["type"] == "org"
    assert run(cert, "entity", "GREYFOX", check=False).returncode == 1
