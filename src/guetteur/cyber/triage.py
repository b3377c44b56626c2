"""Triage: alerts in, a few ranked and explained incidents out.

Sits between detection and the analyst. Parsers (`cyber.eve`, Sigma matching on
`cyber.winevents`) produce `Alert` records; the store keeps them; `triage` turns
any batch of them into `Incident` records that the CLI lists (`guetteur
incidents`), exports (STIX) and summarises (`summarise`, extractive, French or
English). It is pure — no I/O, no store, no clock — so the pipeline can run it
on any executor and a rerun on the same alerts gives the same incidents and ids.

Clustering, in one sort and linear passes (no per-pair comparison, so a
million alerts fit in seconds): alerts are sorted by (host, time) and each
host's run is cut into *segments* wherever two consecutive alerts are more than
`gap` apart, or the segment would span more than `max_span`. Segments of
different hosts are then joined (union-find) when, within `gap` of each other,
they share a ``flow_id`` or an address (a scanner hitting several hosts, a host
turning on another, two hosts calling the same server). Three limits keep an
incident something an analyst can read in one go rather than a day of traffic
glued by chains of coincidences:

- a *hub* — an address seen opposite many hosts (DNS server, gateway, proxy,
  a scanner sweeping the network), or the server side of DNS, DHCP or NTP —
  links nothing by itself, only alerts of the same signature family ("ET
  SCAN" from one scanner on 200 hosts is one incident; two hosts whose alerts
  only share their DNS server are two);
- a join is refused when the incident would then span more than `max_span`,
  so links never chain across the whole day;
- a signature family alone links nothing: "ET POLICY" on two hosts that share
  no address or flow is two things to look at.
"""

from __future__ import annotations

import gc
import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter

from guetteur.cyber.attack import Catalogue
from guetteur.model.alert import Alert, Severity

__all__ = ["Incident", "triage", "summarise"]

# Reaching any of these means the attacker is past probing: code ran, moved,
# took data out or did damage — worth one step more than the raw rule level.
DECISIVE_TACTICS = frozenset({"execution", "lateral-movement", "exfiltration", "impact"})
# Distinct tactics from which a sequence counts as a progression, not noise.
PROGRESSION_TACTICS = 3
# Asset criticality (1..5) from which an incident on that asset is raised a step.
CRITICAL_ASSET_LEVEL = 4
# An address opposite this many distinct hosts is infrastructure or a sweep
# (DNS server, gateway, proxy, scanner), not evidence that those hosts' alerts
# belong together.
HUB_HOSTS = 10
# The longest an incident may run from its first alert to its last: what
# cannot be read as one story is split, and links never chain across days.
MAX_SPAN_HOURS = 12
# Every host talks to its DNS, DHCP and NTP servers: on those ports the server
# side is a hub whatever the counts say (DNS, DHCP, NTP).
SHARED_SERVICE_PORTS = frozenset({53, 67, 68, 123})
_UNKNOWN_HOST = ""
_ID, _TIME, _SIGNATURE = attrgetter("id"), attrgetter("time"), attrgetter("signature")
_SOURCE, _DESTINATION = attrgetter("src"), attrgetter("dst")
_SEVERITY, _TECHNIQUES = attrgetter("severity"), attrgetter("techniques")


@dataclass(frozen=True)
class Incident:
    """Alerts that belong together, with what they add up to and why it ranks where it does."""

    id: str  # "INC-" + hash of the earliest alert's id and host: stable across reruns
    title: str
    severity: Severity
    score: float  # orders incidents of equal severity; meaningless across data sets
    alert_ids: tuple[str, ...]  # in time order
    alert_count: int
    hosts: tuple[str, ...]  # most alerts first
    sources: tuple[str, ...]  # most alerts first
    destinations: tuple[str, ...]  # most alerts first
    signatures: tuple[tuple[str, int], ...]  # (signature, count), most frequent first
    techniques: tuple[str, ...]  # ATT&CK ids, most alerts first, tagged or inferred
    # Of `techniques`, those no rule tagged: inferred from signature text, to be
    # read as a lead rather than a fact.
    inferred_techniques: tuple[str, ...]
    tactics: tuple[str, ...]  # shortnames in kill-chain order; empty without a catalogue
    first_seen: datetime
    last_seen: datetime
    base_severity: Severity  # the highest alert severity, before any raise
    critical_asset: tuple[str, int] | None  # (host, criticality) of the most critical host
    reasons: tuple[str, ...]  # why `severity` is what it is, in English


def triage(
    alerts: Iterable[Alert],
    *,
    catalogue: Catalogue | None = None,
    asset_criticality: Mapping[str, int] | None = None,
    gap: timedelta = timedelta(minutes=30),
    max_span: timedelta = timedelta(hours=MAX_SPAN_HOURS),
    inferred: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Incident]:
    """Cluster alerts into incidents, most severe (then highest score) first.

    Every alert lands in exactly one incident. `catalogue` maps techniques to
    tactics (for the progression raise); `asset_criticality` maps a host to
    1..5 (4 and above raise the severity one step). No incident spans more
    than `max_span` from its first alert to its last. `inferred` maps a
    signature to techniques guessed from its text (see
    `pipeline.alerts.infer_techniques`); alerts no rule tagged take them, and
    the incident says which techniques were inferred.
    """
    if gap < timedelta(0):
        raise ValueError(f"gap must not be negative (got {gap})")
    if max_span < gap:
        raise ValueError(f"max_span ({max_span}) must not be shorter than gap ({gap})")
    with _collector_paused():
        return _triage(alerts, catalogue, asset_criticality or {}, gap, max_span, inferred or {})


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Triage allocates millions of small tuples and lists and no reference
    # cycle: left on, the cyclic collector walks the million alerts (and their
    # raw records) over and over for nothing — half the time on a large batch.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _triage(
    alerts: Iterable[Alert],
    catalogue: Catalogue | None,
    criticality: Mapping[str, int],
    gap: timedelta,
    max_span: timedelta,
    inferred: Mapping[str, tuple[str, ...]],
) -> list[Incident]:
    # The alert id breaks ties so that equal timestamps give the same order on every run.
    ordered = sorted(alerts, key=lambda a: (_host_of(a), a.time, a.id))
    hosts = list(map(_host_of, ordered))

    hubs = _hubs(ordered, hosts)
    bounds, links = _segments(ordered, hosts, hubs, gap, max_span)
    forest = _Forest([(ordered[start].time, ordered[end - 1].time) for start, end in bounds])
    for spans in links.values():
        if len(spans) > 1:
            _join_close_spans(spans, gap, max_span, forest)

    groups: dict[int, list[int]] = {}
    for segment in range(len(bounds)):
        groups.setdefault(forest.find(segment), []).append(segment)

    tactic_rank, tactics_of = _tactic_tables(catalogue)
    incidents = []
    for segments in groups.values():
        members: list[Alert] = []
        member_hosts: list[str] = []
        for segment in segments:
            start, end = bounds[segment]
            members.extend(ordered[start:end])
            member_hosts.extend(hosts[start:end])
        if len(segments) > 1:
            members.sort(key=_ID)
            members.sort(key=_TIME)
        incidents.append(
            _build(members, member_hosts, tactic_rank, tactics_of, criticality, inferred)
        )
    incidents.sort(key=lambda i: (-i.severity, -i.score, i.first_seen, i.id))
    return incidents


def _host_of(alert: Alert) -> str:
    return alert.host or alert.dst or _UNKNOWN_HOST


def _hubs(ordered: Sequence[Alert], hosts: Sequence[str]) -> frozenset[str]:
    """Addresses seen opposite at least `HUB_HOSTS` distinct hosts."""
    # Counted on the whole batch rather than per window: a DNS server or a
    # gateway is one every day, and a scanner that swept the network once is
    # still only linked through the family of what it does.
    opposite: dict[str, set[str]] = {}
    for alert, host in zip(ordered, hosts, strict=True):
        for address in (alert.src, alert.dst):
            if address is not None and address != host:
                seen = opposite.get(address)
                if seen is None:
                    opposite[address] = {host}
                elif len(seen) < HUB_HOSTS:
                    seen.add(host)
    return frozenset(a for a, seen in opposite.items() if len(seen) >= HUB_HOSTS)


def _segments(
    ordered: Sequence[Alert],
    hosts: Sequence[str],
    hubs: frozenset[str],
    gap: timedelta,
    max_span: timedelta,
) -> tuple[list[tuple[int, int]], dict[str, list[tuple[datetime, datetime, int]]]]:
    """Cut the (host, time)-sorted alerts into per-host time windows.

    Returns each segment's [start, end) range in `ordered`, and for every link
    key (see `_link_keys`) the (first, last, segment) spans it was seen in.
    """
    bounds: list[tuple[int, int]] = []
    links: dict[str, list[tuple[datetime, datetime, int]]] = {}
    seen: dict[str, list[datetime]] = {}  # link key -> [first, last] in the open segment

    def close(end: int) -> None:
        segment = len(bounds)
        bounds.append((start, end))
        for key, (first, last) in seen.items():
            links.setdefault(key, []).append((first, last, segment))
        seen.clear()

    if not ordered:
        return bounds, links
    start = 0
    previous_host, previous_time = hosts[0], ordered[0].time
    opened = previous_time  # first alert of the open segment
    for index, alert in enumerate(ordered):
        host = hosts[index]
        time = alert.time
        if host != previous_host or time - previous_time > gap or time - opened > max_span:
            close(index)
            start, opened = index, time
        previous_host, previous_time = host, time
        for key in _link_keys(alert, host, hubs):
            span = seen.get(key)
            if span is None:
                seen[key] = [time, time]
            else:
                span[1] = time  # alerts arrive in time order within a segment
    close(len(ordered))
    return bounds, links


def _link_keys(alert: Alert, host: str, hubs: frozenset[str]) -> list[str]:
    """What may tie this alert to other hosts' alerts in the same window."""
    # "a:" either address: a scanner hitting several hosts, a host that is
    # itself alerted on and then shows up attacking another (lateral
    # movement), two hosts calling the same C2 server. A hub says nothing by
    # itself; with the signature family it still says "one scanner, one wave".
    keys = [] if alert.flow_id is None else ["f:" + alert.flow_id]
    for address, port in ((alert.src, alert.src_port), (alert.dst, alert.dst_port)):
        if address is None:
            continue
        if address not in hubs and port not in SHARED_SERVICE_PORTS:
            keys.append("a:" + address)
        elif address != host:
            keys.append(f"a:{address}\x1f{_family(alert.signature)}")
    return keys


def _family(signature: str) -> str:
    # Suricata/ET names lead with vendor and class ("ET SCAN …", "GPL WEB_SERVER …");
    # Sigma titles have no such prefix, so two words are a loose but harmless family.
    return " ".join(signature.split()[:2])


def _join_close_spans(
    spans: list[tuple[datetime, datetime, int]],
    gap: timedelta,
    max_span: timedelta,
    forest: _Forest,
) -> None:
    # A flow id or an address seen on several segments links them only when the
    # sightings are within `gap`: flow ids repeat across sensors and an address
    # seen months apart is not the same campaign.
    spans.sort()
    _, reach, anchor = spans[0]
    for first, last, segment in spans[1:]:
        if first - reach <= gap and forest.union(anchor, segment, max_span):
            reach = max(reach, last)
        else:
            reach, anchor = last, segment


class _Forest:
    """Union-find over segments that also keeps each group's time span."""

    def __init__(self, spans: Sequence[tuple[datetime, datetime]]) -> None:
        self.parent = list(range(len(spans)))
        self.first = [first for first, _ in spans]
        self.last = [last for _, last in spans]

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:  # path compression keeps later finds near O(1)
            parent[item], item = root, parent[item]
        return root

    def union(self, a: int, b: int, max_span: timedelta) -> bool:
        """Join the groups of `a` and `b` unless together they would span over `max_span`."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return True
        first = min(self.first[root_a], self.first[root_b])
        last = max(self.last[root_a], self.last[root_b])
        if last - first > max_span:
            return False
        root, child = min(root_a, root_b), max(root_a, root_b)
        self.parent[child] = root
        self.first[root], self.last[root] = first, last
        return True


def _tactic_tables(
    catalogue: Catalogue | None,
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    if catalogue is None:
        return {}, {}
    rank = {tactic.shortname: index for index, tactic in enumerate(catalogue.tactics)}
    tactics_of = {technique.id: technique.tactics for technique in catalogue}
    return rank, tactics_of


def _ranked(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(value for value, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _build(
    members: list[Alert],
    member_hosts: list[str],
    tactic_rank: Mapping[str, int],
    tactics_of: Mapping[str, tuple[str, ...]],
    criticality: Mapping[str, int],
    inferred: Mapping[str, tuple[str, ...]],
) -> Incident:
    first = members[0]  # earliest by (time, id)
    host_counts = Counter(member_hosts)
    host_counts.pop(_UNKNOWN_HOST, None)
    source_counts = Counter(map(_SOURCE, members))
    source_counts.pop(None, None)
    destination_counts = Counter(map(_DESTINATION, members))
    destination_counts.pop(None, None)
    signature_counts = Counter(map(_SIGNATURE, members))
    technique_counts = Counter(chain.from_iterable(map(_TECHNIQUES, members)))
    guessed: Counter[str] = Counter()
    if inferred:
        untagged = Counter(a.signature for a in members if not a.techniques)
        for signature, count in untagged.items():
            for technique in inferred.get(signature, ()):
                guessed[technique] += count
    inferred_only = sorted(t for t in guessed if t not in technique_counts)
    technique_counts.update(guessed)
    # Score each distinct signature once, at its highest level: ten kinds of
    # alert say more than the same one repeated ten thousand times.
    signature_severity: dict[str, int] = {}
    pairs = zip(map(_SIGNATURE, members), map(_SEVERITY, members), strict=True)
    for signature, level in set(pairs):
        if level > signature_severity.get(signature, 0):
            signature_severity[signature] = int(level)

    base = Severity(max(signature_severity.values()))
    top_signature = max(
        (s for s in signature_severity if signature_severity[s] == base),
        key=lambda s: (signature_counts[s], s),
    )
    tactic_set = {
        tactic
        for technique in technique_counts
        for tactic in tactics_of.get(technique, ())
        if tactic in tactic_rank
    }
    tactics = tuple(sorted(tactic_set, key=tactic_rank.__getitem__))
    hosts = _ranked(host_counts)
    critical_asset = max(
        ((host, criticality[host]) for host in hosts if host in criticality),
        key=lambda hc: (hc[1], host_counts[hc[0]]),
        default=None,
    )

    severity = int(base)
    reasons = [f"highest alert severity {base.name} ({top_signature})"]
    if _raises_for_tactics(tactics):
        severity += 1
        reasons.append(_tactics_reason(tactics))
    if critical_asset is not None and critical_asset[1] >= CRITICAL_ASSET_LEVEL:
        severity += 1
        reasons.append(f"asset criticality {critical_asset[1]} ({critical_asset[0]})")
    final = Severity(min(severity, Severity.CRITICAL))

    if inferred_only:
        reasons.append(f"{', '.join(inferred_only)} inferred from signature text, not tagged")
    signatures = tuple(sorted(signature_counts.items(), key=lambda kv: (-kv[1], kv[0])))
    score = (
        sum(signature_severity.values())
        + 2.0 * len(tactics)
        + math.log2(1 + len(members))
        + math.sqrt(len(hosts))
        + (critical_asset[1] if critical_asset else 0)
    )
    first_host = _host_of(first)
    digest = hashlib.sha256(f"{first_host}\x1f{first.id}".encode()).hexdigest()[:16]
    return Incident(
        id=f"INC-{digest}",
        title=_title(signatures, hosts),
        severity=final,
        score=round(score, 3),
        alert_ids=tuple(map(_ID, members)),
        alert_count=len(members),
        hosts=hosts,
        sources=_ranked(source_counts),
        destinations=_ranked(destination_counts),
        signatures=signatures,
        techniques=_ranked(technique_counts),
        inferred_techniques=tuple(inferred_only),
        tactics=tactics,
        first_seen=first.time,
        last_seen=members[-1].time,  # members are in time order
        base_severity=base,
        critical_asset=critical_asset,
        reasons=tuple(reasons),
    )


def _raises_for_tactics(tactics: Sequence[str]) -> bool:
    return len(tactics) >= PROGRESSION_TACTICS or any(t in DECISIVE_TACTICS for t in tactics)


def _tactics_reason(tactics: Sequence[str]) -> str:
    chain = " → ".join(tactics)
    if len(tactics) >= PROGRESSION_TACTICS:
        return f"{len(tactics)} tactics: {chain}"
    decisive = ", ".join(t for t in tactics if t in DECISIVE_TACTICS)
    return f"reached {decisive}: {chain}"


def _title(signatures: Sequence[tuple[str, int]], hosts: Sequence[str]) -> str:
    title = signatures[0][0]
    if hosts:
        title += f" on {hosts[0]}"
        if len(hosts) > 1:
            title += f" and {len(hosts) - 1} other host{'s' if len(hosts) > 2 else ''}"
    if len(signatures) > 1:
        title += f" (+{len(signatures) - 1} signature{'s' if len(signatures) > 2 else ''})"
    return title


_SEVERITY_FR = {
    Severity.INFORMATIONAL: "informative",
    Severity.LOW: "faible",
    Severity.MEDIUM: "moyenne",
    Severity.HIGH: "élevée",
    Severity.CRITICAL: "critique",
}
_LISTED = 3  # hosts, signatures, techniques named in a summary before "+N more"


def summarise(incident: Incident, lang: str = "en") -> str:
    """A short extractive synthesis for command, in English ("en") or French ("fr").

    Templated sentences over the incident's own facts: every name, number and
    date in it is read from `incident`, nothing is inferred.
    """
    if lang not in ("en", "fr"):
        raise ValueError(f"summarise: unsupported language {lang!r} (use 'en' or 'fr')")
    fr = lang == "fr"
    when = "%Y-%m-%d %H:%M:%S UTC"
    first, last = incident.first_seen.strftime(when), incident.last_seen.strftime(when)
    hosts = _listing(incident.hosts, fr)
    sigs = _listing([f"« {s} » ×{n}" if fr else f'"{s}" ×{n}' for s, n in incident.signatures], fr)
    n, k = incident.alert_count, len(incident.signatures)
    sentences: list[str] = []
    if fr:
        alerts = f"{n} alerte{'s' if n > 1 else ''} ({k} signature{'s' if k > 1 else ''})"
        where = f" sur {len(incident.hosts)} hôte(s) : {hosts}" if incident.hosts else ""
        sentences.append(f"Incident {incident.id} : {alerts}{where}, du {first} au {last}.")
        sentences.append(f"Signatures les plus fréquentes : {sigs}.")
        if incident.sources:
            sentences.append(f"Sources : {_listing(incident.sources, fr)}.")
        if incident.techniques:
            sentences.append(f"Techniques ATT&CK : {_techniques(incident, fr)}.")
        if incident.tactics:
            sentences.append(f"Tactiques atteintes : {' → '.join(incident.tactics)}.")
        why = [f"alerte la plus grave {_SEVERITY_FR[incident.base_severity]}"]
        if _raises_for_tactics(incident.tactics):
            why.append(f"{len(incident.tactics)} tactique(s) : {' → '.join(incident.tactics)}")
        if incident.critical_asset and incident.critical_asset[1] >= CRITICAL_ASSET_LEVEL:
            host, level = incident.critical_asset
            why.append(f"criticité {level} de l'actif {host}")
        sentences.append(
            f"Gravité {_SEVERITY_FR[incident.severity]} ({incident.severity.name}) : "
            + " ; ".join(why)
            + "."
        )
    else:
        alerts = f"{n} alert{'s' if n > 1 else ''} ({k} signature{'s' if k > 1 else ''})"
        where = f" on {len(incident.hosts)} host(s): {hosts}" if incident.hosts else ""
        sentences.append(f"Incident {incident.id}: {alerts}{where}, from {first} to {last}.")
        sentences.append(f"Most frequent signatures: {sigs}.")
        if incident.sources:
            sentences.append(f"Sources: {_listing(incident.sources, fr)}.")
        if incident.techniques:
            sentences.append(f"ATT&CK techniques: {_techniques(incident, fr)}.")
        if incident.tactics:
            sentences.append(f"Tactics reached: {' → '.join(incident.tactics)}.")
        sentences.append(f"Severity {incident.severity.name}: {'; '.join(incident.reasons)}.")
    return " ".join(sentences)


def _techniques(incident: Incident, fr: bool) -> str:
    mark = " (déduite du nom de signature)" if fr else " (inferred from signature text)"
    return _listing(
        [t + mark if t in incident.inferred_techniques else t for t in incident.techniques], fr
    )


def _listing(items: Sequence[str], fr: bool) -> str:
    shown = ", ".join(items[:_LISTED])
    more = len(items) - _LISTED
    if more > 0:
        shown += f" (+{more} {'autres' if fr else 'more'})"
    return shown
