"""The JSON shapes of records and products: one module for every face.

The CLI's `--json`, and next the HTTP API and the web application, print
records through these functions, so a field is spelled, ordered and
formatted the same wherever a user meets it (markings in canonical form,
times in ISO 8601 UTC).
"""

from __future__ import annotations

from typing import Any

from guetteur.model import Document
from guetteur.products import IncidentView
from guetteur.store import EntitySummary, EventRow, StoredAlert, User

__all__ = [
    "alert_json",
    "document_json",
    "entity_summary_json",
    "event_json",
    "incident_json",
    "user_json",
]


def user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "clearance": user.clearance.level.name.replace("_", " "),
        "nationality": user.clearance.nationality,
        "caveats": sorted(user.clearance.caveats),
    }


def document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "title": document.title,
        "marking": str(document.marking),
        "grade": str(document.grade) if document.grade else None,
        "language": document.language,
        "source": document.source,
        "origin": document.origin,
        "sha256": document.sha256,
        "ingested_at": document.ingested_at.isoformat(),
        "reported_at": document.reported_at.isoformat() if document.reported_at else None,
        "metadata": dict(document.metadata),
        "text": document.text,
    }


def entity_summary_json(entity: EntitySummary) -> dict[str, Any]:
    return {
        "id": entity.id,
        "name": entity.name,
        "type": entity.type,
        "mentions": entity.mentions,
        "documents": entity.documents,
        "lat": entity.lat,
        "lon": entity.lon,
    }


def event_json(event: EventRow) -> dict[str, Any]:
    return {
        "id": event.id,
        "doc_id": event.doc_id,
        "kind": event.kind,
        "what": event.what,
        "when": event.at.isoformat() if event.at else None,
        "lat": event.lat,
        "lon": event.lon,
        "place": event.place,
        "who": [{"id": i, "name": n, "type": t} for i, n, t in event.participants],
        "marking": str(event.marking),
        "start": event.start,
        "end": event.end,
        "detail": dict(event.detail),
    }


# ------------------------------------------------------------------------ cyber
def alert_json(stored: StoredAlert, incident_id: str | None) -> dict[str, Any]:
    a = stored.alert
    return {
        "id": a.id,
        "time": a.time.isoformat(),
        "signature": a.signature,
        "rule_id": a.rule_id,
        "severity": a.severity.name.lower(),
        "host": a.host,
        "src": a.src,
        "dst": a.dst,
        "techniques": list(a.techniques),
        "incident_id": incident_id,
        "detector": a.detector,
        "marking": str(stored.marking),
    }


def incident_json(view: IncidentView) -> dict[str, Any]:
    i = view.incident
    return {
        "id": i.id,
        "title": i.title,
        "severity": i.severity.name.lower(),
        "alert_count": i.alert_count,
        "hosts": list(i.hosts),
        "techniques": list(i.techniques),
        "first_seen": i.first_seen.isoformat(),
        "last_seen": i.last_seen.isoformat(),
        "marking": str(view.marking),
    }
