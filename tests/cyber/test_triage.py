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

from guetteur.cyber.attack import Catalogue, TechniqueMapper, load_catalogue
from guetteur.cyber.eve import read_eve
from guetteur.cyber.triage import Incident, summarise, triage
from guetteur.model.alert import Alert, Severity
from guetteur.pipeline.alerts import infer_techniques, signature_text

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
    # The sample keeps about one alert per signature (545 signatures), spread
    # over weeks and on 198 hosts: most alerts are alone on their host for
    # half an hour and share no address with anything near them, so they stay
    # alone rather than be lumped with unrelated hosts by signature family.
    assert len(incidents) < len(real_alerts) / 2
    assert max(i.alert_count for i in incidents) < 100
    placed = Counter(alert_id for incident in incidents for alert_id in incident.alert_ids)
    assert placed == Counter(alert.id for alert in real_alerts)
    for incident in incidents:
        assert incident.first_seen <= incident.last_seen
        assert incident.alert_count == len(incident.alert_ids)
        assert sum(count for _, count in incident.signatures) == incident.alert_count
    ranking = [(-i.severity, -i.score) for i in incidents]
    assert ranking == sorted(ranking)
    by_id = {a.id: a for a in real_alerts}
    for incident in incidents:
        assert _hosts_are_linked(incident, by_id), incident.title
        assert incident.last_seen - incident.first_seen <= timedelta(hours=12)


def _hosts_are_linked(incident: Incident, by_id: dict[str, Alert]) -> bool:
    """Whether every host of `incident` reaches the others through a shared address or flow."""
    # What an analyst must be able to say of a multi-host incident: "these
    # hosts are here because they share this address (or this flow)".
    members = [by_id[alert_id] for alert_id in incident.alert_ids]
    keys_of: dict[str, set[str]] = {}
    for alert in members:
        host = alert.host or alert.dst or ""
        keys = {k for k in (alert.src, alert.dst, f"flow {alert.flow_id}") if k}
        keys_of.setdefault(host, set()).update(keys)
    hosts = list(keys_of)
    reached, frontier = {hosts[0]}, [hosts[0]]
    while frontier:
        keys = keys_of[frontier.pop()]
        for other in hosts:
            if other not in reached and keys & keys_of[other]:
                reached.add(other)
                frontier.append(other)
    return len(reached) == len(hosts)


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


def test_two_hosts_whose_alerts_only_share_the_dns_server_are_two_incidents() -> None:
    dns = "10.0.0.53"
    # Two unrelated things at nearly the same time, each on its own host;
    # the only common point is the resolver both asked.
    infected = _alert(
        0, host="10.0.1.17", src="10.0.1.17", dst=dns, dst_port=53,
        signature="ET TROJAN Possible Kovter DNS Lookup", severity=Severity.HIGH,
    )  # fmt: skip
    dyndns = _alert(
        4, host="10.0.2.40", src="10.0.2.40", dst=dns, dst_port=53,
        signature="ET POLICY DNS Query to DynDNS Domain *.dyndns.org",
    )  # fmt: skip
    incidents = triage([infected, dyndns])
    assert sorted(i.alert_ids for i in incidents) == sorted([(infected.id,), (dyndns.id,)])
    # Seen opposite many hosts, an address is a hub on any port: a DNS server
    # on TCP 853, a gateway, a proxy.
    over_tls = [dataclasses.replace(a, dst_port=853) for a in (infected, dyndns)]
    crowd = [
        _alert(m * 7, host=f"10.0.3.{m}", src=f"10.0.3.{m}", dst=dns, dst_port=853,
               signature="ET INFO DNS over TLS query")
        for m in range(1, 13)
    ]  # fmt: skip
    by_first = {i.alert_ids[0]: i for i in triage([*over_tls, *crowd])}
    assert by_first[infected.id].alert_ids == (infected.id,)
    assert by_first[dyndns.id].alert_ids == (dyndns.id,)


def test_a_scan_of_two_hundred_hosts_in_an_hour_is_one_incident_with_counts() -> None:
    scanner = "198.51.100.66"
    sweep = [
        _alert(
            n * 0.3, host=f"10.1.{n // 100}.{n % 100 + 1}", src=scanner,
            dst=f"10.1.{n // 100}.{n % 100 + 1}", dst_port=1433 if n % 2 else 3306,
            signature="ET SCAN Suspicious inbound to MSSQL port 1433" if n % 2
            else "ET SCAN Suspicious inbound to mySQL port 3306",
        )
        for n in range(200)
    ]  # fmt: skip
    # The same hour, another host's own business, unrelated to the scan.
    elsewhere = _alert(20, host="10.9.0.4", src="10.9.0.4", dst="93.184.216.34",
                       signature="ET POLICY curl User-Agent Outbound")  # fmt: skip
    incidents = triage([*sweep, elsewhere])
    assert len(incidents) == 2
    scan = next(i for i in incidents if i.alert_count > 1)
    assert scan.alert_count == 200 and len(scan.hosts) == 200
    assert scan.sources == (scanner,)
    assert scan.signatures == (
        ("ET SCAN Suspicious inbound to MSSQL port 1433", 100),
        ("ET SCAN Suspicious inbound to mySQL port 3306", 100),
    )
    assert scan.title.endswith("and 199 other hosts (+1 signature)")


def test_an_attack_chain_on_one_host_is_one_incident_whose_tactics_progress() -> None:
    web = "10.0.0.80"
    chain = [
        _alert(0, host=web, dst=web, techniques=("T1595.002",),
               signature="ET SCAN Nikto Web App Scan in Progress"),
        _alert(6, host=web, dst=web, techniques=("T1190",), severity=Severity.HIGH,
               signature="ET EXPLOIT Apache Struts 2 REST Plugin XStream RCE"),
        _alert(21, host=web, src=web, dst="192.0.2.200", techniques=("T1071.001",),
               severity=Severity.HIGH, signature="ET TROJAN Cobalt Strike Beacon Observed"),
    ]  # fmt: skip
    (incident,) = triage(chain, catalogue=_catalogue())
    assert incident.hosts == (web,)
    assert incident.tactics == ("reconnaissance", "initial-access", "command-and-control")
    assert incident.severity is Severity.CRITICAL
    assert "3 tactics: reconnaissance → initial-access → command-and-control" in incident.reasons
    assert incident.last_seen - incident.first_seen == timedelta(minutes=21)


def test_links_between_hosts_do_not_chain_across_the_day() -> None:
    # Host k talks to host k+1 every 25 minutes, for a whole day: each link is
    # close in time, but the chain as a whole is no story an analyst can read.
    relay = [
        _alert(25 * k, host=f"10.2.0.{k}", src=f"10.2.0.{k + 1}", dst=f"10.2.0.{k}",
               signature="ET POLICY SMB2 NT Create AndX Request For an Executable File")
        for k in range(1, 58)
    ]  # fmt: skip
    incidents = triage(relay)
    assert 2 <= len(incidents) <= 4
    assert all(i.last_seen - i.first_seen <= timedelta(hours=12) for i in incidents)
    assert sum(i.alert_count for i in incidents) == len(relay)
    # A single host's continuous activity is cut the same way, at most 12 hours long.
    steady = [_alert(10 * m) for m in range(6 * 30)]
    assert [i.alert_count for i in sorted(triage(steady), key=lambda i: i.first_seen)] == [
        73,
        73,
        34,
    ]


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


def test_signature_text_keeps_behaviour_and_drops_engine_events_and_reputation_lists() -> None:
    assert signature_text("ET SCAN Nmap Scripting Engine User-Agent Detected") == (
        "SCAN Nmap Scripting Engine User-Agent Detected"
    )
    assert signature_text("GPL WEB_SERVER viewcode access") == "WEB SERVER viewcode access"
    assert signature_text("ET TOR Known Tor Exit Node Traffic group 67") == (
        "TOR Known Tor Exit Node Traffic"
    )
    assert signature_text("SURICATA HTTP unable to match response to request") is None
    assert signature_text("ET CINS Active Threat Intelligence Poor Reputation IP group 9") is None


@pytest.fixture(scope="module")
def mapper(request: pytest.FixtureRequest) -> TechniqueMapper:
    # pytest's own cache keeps the technique embeddings between runs, as in test_attack.
    return TechniqueMapper(_catalogue(), cache_dir=request.config.cache.mkdir("attack-embeddings"))


def test_untagged_alerts_get_confident_techniques_marked_as_inferred(
    mapper: TechniqueMapper, tmp_path: Path
) -> None:
    catalogue = mapper.catalogue
    exploit = "ET EXPLOIT ETERNALBLUE Exploit M2 MS17-010"
    anomaly = "SURICATA SMB malformed request data"
    vague = "ET POLICY Http Client Body contains pass= in cleartext"  # HTTP is not C2
    alerts = [
        *(_alert(m, signature=exploit, severity=Severity.HIGH) for m in range(0, 20, 2)),
        _alert(3, signature=anomaly),
        _alert(4, signature=vague),
        _alert(5, signature="Encoded PowerShell", detector="sigma", techniques=("T1059.001",)),
    ]
    untagged = [a.signature for a in alerts if not a.techniques]
    inferred = infer_techniques(untagged, mapper, catalogue, tmp_path)
    assert inferred == {exploit: ("T1210",)}

    # Mapped once per signature and cached: a rerun needs no mapper at all.
    def no_mapper() -> TechniqueMapper:
        raise AssertionError("the cache should have answered")

    assert infer_techniques(untagged, no_mapper, catalogue, tmp_path) == inferred

    (incident,) = triage(alerts, catalogue=catalogue, inferred=inferred)
    assert incident.techniques == ("T1210", "T1059.001")  # ten exploit alerts, one tagged
    assert incident.inferred_techniques == ("T1210",)
    assert "T1210 inferred from signature text, not tagged" in incident.reasons
    assert "T1210 (inferred from signature text), T1059.001" in summarise(incident)
    assert "T1210 (déduite du nom de signature)" in summarise(incident, "fr")
    # lateral-movement reached through the inferred technique raises severity, and says so.
    assert incident.tactics == ("execution", "lateral-movement")
    assert incident.severity is Severity.CRITICAL
    # Tagged alerts keep their tags: a mapping for a tagged alert's signature is ignored.
    (tagged,) = triage(alerts[-1:], inferred={"Encoded PowerShell": ("T1003",)})
    assert tagged.techniques == ("T1059.001",) and tagged.inferred_techniques == ()
