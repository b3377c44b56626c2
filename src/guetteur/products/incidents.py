"""Incidents as a reader sees them: triaged from the alerts they may read, marked by them.

An incident is a derived product. It is computed from the alerts the reader
may read (the store filters them in its query), so it can never reveal an
alert above the reader's clearance; and it carries its own marking, the
high-water mark of the alerts it groups. Triage is fast and deterministic, so
incidents are computed when asked rather than stored: ids stay stable across
runs on the same alerts, and new alerts regroup naturally.

With an ATT&CK catalogue imported and a `technique_cache` folder given, alerts
no rule tagged get techniques inferred from their signature text (the mapping
of each distinct signature is cached there), marked as inferred in the incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from guetteur.cyber.attack import Catalogue, TechniqueMapper
from guetteur.cyber.intel import IndicatorIndex
from guetteur.cyber.triage import Incident, triage
from guetteur.model import Clearance, Indicator, Marking, Severity
from guetteur.pipeline.alerts import infer_techniques
from guetteur.security.markings import high_water_mark
from guetteur.store.base import Store, StoredAlert

__all__ = ["IncidentView", "incidents_for"]


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    marking: Marking  # high-water mark of its alerts and of the indicators they match
    alerts: Sequence[StoredAlert]
    indicators: Sequence[tuple[Indicator, Marking]] = ()

    @property
    def intrusion_sets(self) -> list[str]:
        return sorted({i.intrusion_set for i, _ in self.indicators if i.intrusion_set})


def incidents_for(
    store: Store,
    clearance: Clearance,
    since: datetime | None = None,
    min_severity: Severity | None = None,
    asset_criticality: Mapping[str, int] | None = None,
    *,
    technique_cache: Path | None = None,
    mapper: TechniqueMapper | None = None,
) -> list[IncidentView]:
    """The reader's incidents, most severe first.

    Techniques are inferred for untagged alerts when a catalogue is imported
    and either `technique_cache` (a folder for the cached mappings; the mapper
    is then built only for signatures not yet mapped) or `mapper` is given.
    """
    stored = store.list_alerts(clearance, since)
    records = store.attack_catalogue()
    catalogue = Catalogue.from_records(records) if records else None
    inferred: dict[str, tuple[str, ...]] = {}
    if catalogue is not None and (technique_cache is not None or mapper is not None):
        known = catalogue
        inferred = infer_techniques(
            (s.alert.signature for s in stored if not s.alert.techniques),
            mapper or (lambda: TechniqueMapper(known, cache_dir=technique_cache)),
            catalogue,
            technique_cache,
        )
    by_id = {s.alert.id: s for s in stored}
    # Only indicators the reader may read: a match must not reveal a partner's
    # indicator above their clearance.
    readable = [(i, m) for i, m in store.list_indicators(clearance) if i.for_detection]
    marking_of = {(i.kind, i.value, i.origin): m for i, m in readable}
    index = IndicatorIndex([i for i, _ in readable])
    views: list[IncidentView] = []
    for incident in triage(
        [s.alert for s in stored],
        catalogue=catalogue,
        asset_criticality=asset_criticality,
        inferred=inferred,
    ):
        alerts = [by_id[alert_id] for alert_id in incident.alert_ids]
        matched = {
            (i.kind, i.value, i.origin): (i, marking_of[(i.kind, i.value, i.origin)])
            for a in alerts
            for i in index.match_alert(a.alert)
        }
        indicators = sorted(matched.values(), key=lambda pair: (pair[0].kind, pair[0].value))
        if indicators:
            incident = _raised_by_indicators(incident, [i for i, _ in indicators])
        if min_severity is not None and incident.severity < min_severity:
            continue
        marking = high_water_mark([a.marking for a in alerts] + [m for _, m in indicators])
        views.append(IncidentView(incident, marking, alerts, indicators))
    views.sort(key=lambda v: (-v.incident.severity, -v.incident.score, v.incident.id))
    return views


def _raised_by_indicators(incident: Incident, indicators: Sequence[Indicator]) -> Incident:
    """One severity step more for an incident that matches known indicators, with the reason."""
    actors = sorted({i.intrusion_set for i in indicators if i.intrusion_set})
    values = ", ".join(i.value for i in indicators[:3]) + (" …" if len(indicators) > 3 else "")
    reason = f"matches {len(indicators)} known indicator(s): {values}"
    if actors:
        reason += f" (attributed to {', '.join(actors)})"
    return replace(
        incident,
        severity=Severity(min(int(incident.severity) + 1, int(Severity.CRITICAL))),
        reasons=(*incident.reasons, reason),
    )
