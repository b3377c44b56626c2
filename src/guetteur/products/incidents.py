"""Incidents as a reader sees them: triaged from the alerts they may read, marked by them.

An incident is a derived product. It is computed from the alerts the reader
may read (the store filters them in its query), so it can never reveal an
alert above the reader's clearance; and it carries its own marking, the
high-water mark of the alerts it groups. Triage is fast and deterministic, so
incidents are computed when asked rather than stored: ids stay stable across
runs on the same alerts, and new alerts regroup naturally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from guetteur.cyber.attack import Catalogue
from guetteur.cyber.triage import Incident, triage
from guetteur.model import Clearance, Marking, Severity
from guetteur.security.markings import high_water_mark
from guetteur.store.base import Store, StoredAlert

__all__ = ["IncidentView", "incidents_for"]


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    marking: Marking
    alerts: Sequence[StoredAlert]


def incidents_for(
    store: Store,
    clearance: Clearance,
    since: datetime | None = None,
    min_severity: Severity | None = None,
    asset_criticality: Mapping[str, int] | None = None,
) -> list[IncidentView]:
    """The reader's incidents, most severe first."""
    stored = store.list_alerts(clearance, since)
    records = store.attack_catalogue()
    catalogue = Catalogue.from_records(records) if records else None
    by_id = {s.alert.id: s for s in stored}
    views: list[IncidentView] = []
    for incident in triage(
        [s.alert for s in stored], catalogue=catalogue, asset_criticality=asset_criticality
    ):
        if min_severity is not None and incident.severity < min_severity:
            continue
        alerts = [by_id[alert_id] for alert_id in incident.alert_ids]
        marking = high_water_mark(a.marking for a in alerts)
        views.append(IncidentView(incident, marking, alerts))
    return views
