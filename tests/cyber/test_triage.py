"""Triage: the real Suricata samples become a few incidents; hand-built cases pin each rule."""

from __future__ import annotations

import dataclasses
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guetteur.cyber.attack import Catalogue, load_catalogue
from guetteur.cyber.eve import read_eve
from guetteur.cyber.triage import Incident, summarise, triage
from guetteur.model.alert import Alert, Severity

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EVE_DIR = SHARED_DATA / "suricata_eve"
ATTACK_CSV = SHARED_DATA / "attack" / "techniques.csv"
needs_data = pytest.mark.skipif(not EVE_DIR.is_dir(), reason="no ../shared/data/suricata_eve")

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
_serial = iter(range(1_000_000))


def _alert(minutes: float, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "id": f"a{next(_serial):06d}",
        "time": T0 + timedelta(minutes=minutes),
        "detector": "suricata",
        "signature": "ET SCAN Nmap Scripting Engine User-Agent Detected",
        "rule_id": "2009358",
        "severity": Severity.LOW,
        "host": "10.0.0.5",
        "src": "203.0.113.9",
        "dst": "10.0.0.5",
    }
    values.update(fields)
    return Alert(**values)


@pytest.fixture(scope="module")
def real_alerts() -> list[Alert]:
    return [
        event
        for path in sorted(EVE_DIR.glob("*.json"))
        for event in read_eve(path)
        if isinstance(event, Alert)
    ]


@needs_data
def test_real_alerts_become_few_incidents_covering_each_alert_once(
    real_alerts: list[Alert],
) -> None:
    incidents = triage(real_alerts)
    print(f"\n{len(real_alerts)} real alerts -> {len(incidents)} incidents")
    assert len(real_alerts) == 548
    # The sample keeps about one alert per signature, spread over weeks (the
    # first-org file alone has 50 quiet spells over 30 min), so no 30-minute
    # clustering goes much lower without lumping unrelated hosts together.
    assert len(incidents) < 150
    placed = Counter(alert_id for incident in incidents for alert_id in incident.alert_ids)
    assert placed == Counter(alert.id for alert in real_alerts)
    for incident in incidents:
        assert incident.first_seen <= incident.last_seen
        assert incident.alert_count == len(incident.alert_ids)
        assert sum(count for _, count in incident.signatures) == incident.alert_count
    ranking = [(-i.severity, -i.score) for i in incidents]
    assert ranking == sorted(ranking)


@needs_data
def test_ids_are_stable_across_runs_and_input_order(real_alerts: list[Alert]) -> None:
    shuffled = list(real_alerts)
    random.Random(7).shuffle(shuffled)
    first, second = triage(real_alerts), triage(shuffled)
    assert [i.id for i in first] == [i.id for i in second]
    assert first == second
    assert len({i.id for i in first}) == len(first)


def test_two_hosts_hit_by_the_same_scanner_in_one_window_are_one_incident() -> None:
    alerts = [
        _alert(0, host="10.0.0.5", dst="10.0.0.5"),
        _alert(4, host="10.0.0.6", dst="10.0.0.6", signature="GPL SCAN SSH probe"),
        _alert(9, host="10.0.0.5", dst="10.0.0.5"),
    ]
    (incident,) = triage(alerts)
    assert incident.hosts == ("10.0.0.5", "10.0.0.6")
    assert incident.sources == ("203.0.113.9",)
    assert incident.alert_count == 3
    assert incident.title.startswith("ET SCAN Nmap")
    assert "and 1 other host (+1 signature)" in incident.title


def test_same_scanner_on_two_hosts_hours_apart_is_two_incidents() -> None:
    alerts = [_alert(0, host="10.0.0.5"), _alert(240, host="10.0.0.6", dst="10.0.0.6")]
    assert len(triage(alerts)) == 2


def test_same_host_three_hours_apart_is_two_incidents() -> None:
    alerts = [
        _alert(0, signature="ET POLICY curl User-Agent Outbound", src="198.51.100.1"),
        _alert(10, signature="ET POLICY curl User-Agent Outbound", src="198.51.100.1"),
        _alert(190, signature="ET TROJAN Cobalt Strike Beacon", src="192.0.2.44"),
    ]
    incidents = triage(alerts)
    assert sorted(i.alert_count for i in incidents) == [1, 2]
    later = next(i for i in incidents if i.alert_count == 1)
    assert later.first_seen == T0 + timedelta(minutes=190)


def test_shared_flow_joins_alerts_on_different_hosts() -> None:
    alerts = [
        _alert(0, host="10.0.0.5", src="10.9.9.9", flow_id="77", signature="ET A x"),
        _alert(1, host="10.0.0.6", src="10.8.8.8", dst="10.0.0.6", flow_id="77", signature="B"),
    ]
    (incident,) = triage(alerts)
    assert incident.hosts == ("10.0.0.5", "10.0.0.6")


def test_repeated_signature_collapses_with_its_count() -> None:
    noisy = [_alert(m * 0.5) for m in range(40)]
    other = _alert(3, signature="ET POLICY Outgoing Basic Auth", severity=Severity.MEDIUM)
    (incident,) = triage([*noisy, other])
    assert incident.signatures == (
        ("ET SCAN Nmap Scripting Engine User-Agent Detected", 40),
        ("ET POLICY Outgoing Basic Auth", 1),
    )
    assert incident.severity is Severity.MEDIUM
    assert incident.title == (
        "ET SCAN Nmap Scripting Engine User-Agent Detected on 10.0.0.5 (+1 signature)"
    )


def _catalogue() -> Catalogue:
    if ATTACK_CSV.is_file():
        return load_catalogue(ATTACK_CSV)
    pytest.skip("no ../shared/data/attack")


def test_tactic_progression_raises_severity_with_a_reason() -> None:
    catalogue = _catalogue()
    alerts = [
        _alert(0, techniques=("T1046",), severity=Severity.MEDIUM),  # discovery
        _alert(5, techniques=("T1059.001",), severity=Severity.MEDIUM),  # execution
        _alert(9, techniques=("T1071.001",), severity=Severity.MEDIUM),  # command-and-control
    ]
    (incident,) = triage(alerts, catalogue=catalogue)
    # Kill-chain order, not arrival order: execution precedes discovery in ATT&CK.
    assert incident.tactics == ("execution", "discovery", "command-and-control")
    assert incident.base_severity is Severity.MEDIUM
    assert incident.severity is Severity.HIGH
    assert "3 tactics: execution → discovery → command-and-control" in incident.reasons
    # Without the catalogue nothing maps techniques to tactics: no raise.
    (plain,) = triage(alerts)
    assert plain.tactics == () and plain.severity is Severity.MEDIUM
    assert plain.techniques == ("T1046", "T1059.001", "T1071.001")


def test_a_single_decisive_tactic_raises_too() -> None:
    (incident,) = triage(
        [_alert(0, techniques=("T1021.002",), severity=Severity.HIGH)],
        catalogue=_catalogue(),
    )
    assert incident.tactics == ("lateral-movement",)
    assert incident.severity is Severity.CRITICAL
    assert incident.reasons[-1].startswith("reached lateral-movement")


def test_asset_criticality_raises_severity_and_caps_at_critical() -> None:
    alerts = [
        _alert(0, host="dc01", dst="10.0.0.1"),
        _alert(1, host="ws17", src="198.51.100.3", dst="10.0.0.17", signature="GPL ICMP"),
    ]
    by_host = {i.hosts[0]: i for i in triage(alerts, asset_criticality={"dc01": 5, "ws17": 2})}
    assert by_host["dc01"].severity is Severity.MEDIUM
    assert "asset criticality 5 (dc01)" in by_host["dc01"].reasons
    assert by_host["ws17"].severity is Severity.LOW
    (capped,) = triage([_alert(0, severity=Severity.CRITICAL)], asset_criticality={"10.0.0.5": 4})
    assert capped.severity is Severity.CRITICAL


def test_summaries_in_french_and_english_use_only_the_incidents_facts() -> None:
    alerts = [_alert(m) for m in range(12)] + [_alert(3, signature="ET POLICY Basic Auth")]
    (incident,) = triage(alerts, asset_criticality={"10.0.0.5": 5})
    english, french = summarise(incident), summarise(incident, "fr")
    assert "10.0.0.5" in english and "10.0.0.5" in french
    assert "13 alerts" in english and "13 alertes" in french
    assert "criticité 5" in french
    assert "2024-05-06 09:00:00 UTC" in english
    allowed = _numbers_in(incident)
    for text in (english, french):
        assert set(re.findall(r"\d+", text)) <= allowed, text
    with pytest.raises(ValueError, match="'de'"):
        summarise(incident, "de")


def _numbers_in(incident: Incident) -> set[str]:
    facts = [
        incident.id,
        incident.alert_count,
        len(incident.hosts),
        len(incident.signatures),
        *incident.hosts,
        *incident.sources,
        *(f"{name} {count}" for name, count in incident.signatures),
        incident.first_seen.strftime("%Y-%m-%d %H:%M:%S"),
        incident.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
        incident.critical_asset,
    ]
    return set(re.findall(r"\d+", " ".join(map(str, facts))))


def test_empty_input_gives_no_incident() -> None:
    assert triage([]) == []


@needs_data
def test_two_hundred_thousand_mutated_real_alerts(real_alerts: list[Alert]) -> None:
    rng = random.Random(2024)
    hosts = [
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(3000)
    ]
    replay = []
    for n in range(200_000):
        template = real_alerts[n % len(real_alerts)]
        host = rng.choice(hosts)
        replay.append(
            dataclasses.replace(
                template,
                id=f"s{n:07d}",
                time=T0 + timedelta(seconds=rng.randrange(7 * 24 * 3600)),
                host=host,
                dst=host,
                flow_id=str(rng.randrange(10**12)),
            )
        )
    started = time.perf_counter()
    incidents = triage(replay)
    elapsed = time.perf_counter() - started
    print(f"\ntriage of 200,000 alerts: {elapsed:.2f} s, {len(incidents)} incidents")
    assert sum(i.alert_count for i in incidents) == len(replay)
    assert len(incidents) < len(replay) / 10
