"""Cyber records: alerts, and the raw events they come from or are explained by.

An `Alert` is one detection — a Suricata signature hit or a Sigma rule match
on a Windows event — normalised to the few fields triage needs. `WindowsEvent`
(Sysmon, Security) and `NetworkEvent` (Suricata flow, dns, http, tls,
fileinfo, anomaly records) are context: rules run on the former, the latter
are linked to alerts by `flow_id`. Markings are attached where they are
stored, as for documents.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Alert", "Indicator", "NetworkEvent", "Severity", "WindowsEvent"]


class Severity(enum.IntEnum):
    """One scale for every detector: Sigma's levels; Suricata's 1..4 map onto it."""

    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def from_suricata(cls, severity: int) -> Severity:
        """Suricata: 1 is the most severe (HIGH), 4 the least (INFORMATIONAL)."""
        return {1: cls.HIGH, 2: cls.MEDIUM, 3: cls.LOW}.get(severity, cls.INFORMATIONAL)

    @classmethod
    def from_sigma(cls, level: str | None) -> Severity:
        return cls.__members__.get((level or "").upper(), cls.MEDIUM)


# slots: a million alerts in memory during triage; it also makes them faster to build.
@dataclass(frozen=True, slots=True)
class Alert:
    """One detection, normalised."""

    id: str  # stable: a hash of the detector's own record, so re-ingest dedupes
    time: datetime  # UTC
    detector: str  # "suricata" or "sigma"
    signature: str  # human-readable name of what fired
    rule_id: str  # Suricata signature id, or the Sigma rule's own `id`
    severity: Severity
    host: str | None = None  # the host it is about (Windows computer, or the internal address)
    src: str | None = None
    src_port: int | None = None
    dst: str | None = None
    dst_port: int | None = None
    protocol: str | None = None
    flow_id: str | None = None
    category: str | None = None
    techniques: tuple[str, ...] = ()  # ATT&CK ids, e.g. ("T1059.001",)
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowsEvent:
    """One Windows event log record (Sysmon, Security, …) as rules see it."""

    time: datetime  # UTC
    channel: str  # "Microsoft-Windows-Sysmon/Operational", "Security", …
    provider: str
    event_id: int
    computer: str
    data: Mapping[str, Any]  # EventData fields by name (Image, CommandLine, …)
    record_id: int | None = None


@dataclass(frozen=True)
class NetworkEvent:
    """A Suricata non-alert record kept as context (flow, dns, http, tls, fileinfo, anomaly)."""

    time: datetime
    event_type: str
    flow_id: str | None
    src: str | None
    dst: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Indicator:
    """One exact value to look for in alerts and events."""

    kind: str  # one of INDICATOR_KINDS
    value: str  # normalised by `normalise_value`: refanged, lower-case host/hash
    source: str  # "stix" or "misp"
    name: str | None = None
    description: str | None = None
    intrusion_set: str | None = None  # name of the intrusion set / threat actor
    confidence: int | None = None  # 0..100 as in STIX; None when the source says nothing
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    origin: str = ""  # file#object id, so an analyst can find it in the partner's file
    # False for context: MISP attributes without to_ids, STIX observables.
    for_detection: bool = True
