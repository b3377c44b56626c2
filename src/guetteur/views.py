"""The JSON shapes of records and products: one module for every face.

The CLI's `--json`, and next the HTTP API and the web application, print
records through these functions, so a field is spelled, ordered and
formatted the same wherever a user meets it (markings in canonical form,
times in ISO 8601 UTC); the incident's Markdown report lives here too.
Each `*_json` function that answers a command takes what the workspace
returned and gives the whole payload; every payload that carries marked
records has a top-level "marking", the high-water mark of the records in it
(`NOTHING_MARKED` when there are none), which the API also sends as a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from guetteur.cop.symbols import sidc
from guetteur.cyber.triage import summarise
from guetteur.ingest._decode import printable
from guetteur.model import Authority, Document, Level, Marking, Position, Track
from guetteur.products import IncidentView
from guetteur.products.render import answer_json, brief_json, watch_json
from guetteur.security.markings import high_water_mark, parse_marking
from guetteur.store import (
    DocumentStats,
    EntityDetail,
    EntitySummary,
    EventRow,
    Requirement,
    Spill,
    StoredAlert,
    Token,
    User,
)

if TYPE_CHECKING:
    from guetteur.cyber.attack import Catalogue, Technique
    from guetteur.cyber.sigma import RuleSet
    from guetteur.logistics import Forecast, ImportReport, Plan
    from guetteur.pipeline.alerts import AlertIngestReport
    from guetteur.pipeline.ingest import IngestReport
    from guetteur.pipeline.intel import IntelImportReport
    from guetteur.products.incident_synthesis import IncidentSynthesis
    from guetteur.products.watch import WatchRun
    from guetteur.search.hybrid import SearchResult
    from guetteur.security.audit import ChainHead

__all__ = [
    "NOTHING_MARKED",
    "alert_json",
    "alerts_ingest_json",
    "alerts_json",
    "answer_json",
    "attack_map_json",
    "audit_verify_json",
    "brief_json",
    "document_json",
    "entities_json",
    "entity_detail_json",
    "entity_summary_json",
    "event_json",
    "events_geojson",
    "events_json",
    "incident_detail_json",
    "incident_json",
    "incident_markdown",
    "incidents_json",
    "ingest_json",
    "logistics_forecast_json",
    "logistics_import_json",
    "logistics_plan_geojson",
    "logistics_plan_json",
    "intel_import_json",
    "marking_of",
    "position_json",
    "requirement_json",
    "rules_load_json",
    "search_json",
    "search_result_json",
    "spills_json",
    "stats_json",
    "track_detail_json",
    "track_json",
    "tracks_geojson",
    "tracks_json",
    "tracks_kml",
    "user_json",
    "users_json",
    "watch_json",
    "watch_requirements_json",
    "watch_runs_json",
]

# The lowest marking the grammar has: plain UNCLASSIFIED, releasable to all, no
# caveat. The marking of a payload that returns no record; combining it with
# any other marking gives that marking.
NOTHING_MARKED: Final = Marking(Level.UNCLASSIFIED, Authority.PLAIN, None)


def marking_of(markings: Iterable[Marking]) -> Marking:
    """The high-water mark of `markings`, or NOTHING_MARKED when there are none."""
    items = list(markings)
    return high_water_mark(items) if items else NOTHING_MARKED


# ------------------------------------------------------------------ documents
def search_result_json(result: SearchResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "title": result.title,
        "marking": str(result.marking),
        "grade": result.grade,
        "source": result.source,
        "language": result.language,
        "snippet": result.snippet,
        "score": result.score,
    }


def search_json(results: Sequence[SearchResult]) -> dict[str, Any]:
    return {
        "results": [search_result_json(r) for r in results],
        "marking": str(marking_of(r.marking for r in results)),
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


def stats_json(reader: User, stats: DocumentStats) -> dict[str, Any]:
    """Counts of what `reader` may read, marked by the documents counted."""
    return {
        "user": reader.name,
        "documents": stats.documents,
        "chunks": stats.chunks,
        "by_marking": dict(stats.by_marking),
        "by_language": dict(stats.by_language),
        "by_source": dict(stats.by_source),
        # by_marking is keyed by canonical markings, which parse back to themselves.
        "marking": str(marking_of(parse_marking(canonical) for canonical in stats.by_marking)),
    }


def ingest_json(report: IngestReport) -> dict[str, Any]:
    # Paths come from the file system: a name holding a newline or an ANSI escape
    # must not fake a line or a colour, in text or JSON (json.dumps leaves C1
    # controls, bidi overrides and undecodable bytes as they are).
    payload: dict[str, Any] = {
        "ingested": report.ingested,
        "duplicates": report.duplicates,
        "raised": report.raised,
        "failed": [
            {"path": printable(failure["path"]), "error": printable(failure["error"])}
            for failure in report.failed
        ],
    }
    if report.positions is not None:  # CoT files were read: their track positions
        payload["positions"] = {
            "stored": report.positions.stored,
            "duplicates": report.positions.duplicates,
        }
    return payload


# ----------------------------------------------------------- entities, events
def entity_summary_json(entity: EntitySummary) -> dict[str, Any]:
    return {
        "id": entity.id,
        "name": entity.name,
        "type": entity.type,
        "mentions": entity.mentions,
        "documents": entity.documents,
        "lat": entity.lat,
        "lon": entity.lon,
        "marking": str(entity.marking),
    }


def entities_json(found: Sequence[EntitySummary]) -> dict[str, Any]:
    return {
        "entities": [entity_summary_json(e) for e in found],
        "marking": str(marking_of(e.marking for e in found)),
    }


def entity_detail_json(detail: EntityDetail) -> dict[str, Any]:
    """One entity as `guetteur entity X` shows it, marked by what it is known from:
    its mentions, the documents that name the entities it appears with (their
    names and positions are learnt from those), and its tracks."""
    return {
        **entity_summary_json(detail.entity),
        "aliases": list(detail.aliases),
        "mentions": [
            {"doc_id": m.doc_id, "text": m.text, "start": m.start, "end": m.end,
             "marking": str(m.marking)}
            for m in detail.mentions
        ],
        "cooccurring": [entity_summary_json(e) for e in detail.cooccurring],
        "tracks": [track_json(t) for t in detail.tracks],
        "marking": str(
            marking_of([*(m.marking for m in detail.mentions),
                        *(e.marking for e in detail.cooccurring),
                        *(_last(t).marking for t in detail.tracks)])
        ),
    }  # fmt: skip


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


def events_json(found: Sequence[EventRow]) -> dict[str, Any]:
    return {
        "events": [event_json(e) for e in found],
        "marking": str(marking_of(e.marking for e in found)),
    }


def events_geojson(found: Sequence[EventRow]) -> dict[str, Any]:
    """The located events as a GeoJSON FeatureCollection ("marking" a foreign member)."""
    located = [e for e in found if e.lat is not None and e.lon is not None]
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [e.lon, e.lat]},
            "properties": {k: v for k, v in event_json(e).items() if k not in ("lat", "lon")},
        }
        for e in located
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "marking": str(marking_of(e.marking for e in located)),
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


def alerts_json(found: Sequence[tuple[StoredAlert, str | None]]) -> dict[str, Any]:
    return {
        "alerts": [alert_json(stored, incident_id) for stored, incident_id in found],
        "marking": str(marking_of(stored.marking for stored, _ in found)),
    }


def alerts_ingest_json(report: AlertIngestReport) -> dict[str, Any]:
    return {
        "alerts": report.alerts,
        "events": report.events,
        "duplicates": report.duplicates,
        "failed": report.failed,
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


def incidents_json(found: Sequence[IncidentView]) -> dict[str, Any]:
    return {
        "incidents": [incident_json(v) for v in found],
        "marking": str(marking_of(v.marking for v in found)),
    }


def incident_detail_json(
    view: IncidentView, synthesis: IncidentSynthesis, lang: str = "en"
) -> dict[str, Any]:
    """One incident as `guetteur incident ID --json` shows it; its "marking" is the
    incident's, the high-water mark of its alerts and of the indicators they match."""
    i = view.incident
    return {
        **incident_json(view),
        "summary": synthesis.text,
        "summary_mode": synthesis.mode,
        "facts": summarise(i, lang),
        "reasons": list(i.reasons),
        "tactics": list(i.tactics),
        "signatures": [{"signature": s, "count": n} for s, n in i.signatures],
        "indicators": [
            {"kind": ind.kind, "value": ind.value, "intrusion_set": ind.intrusion_set,
             "marking": str(m)}
            for ind, m in view.indicators
        ],
        "intrusion_sets": view.intrusion_sets,
        "alerts": [alert_json(a, i.id) for a in view.alerts],
    }  # fmt: skip


def incident_markdown(view: IncidentView, lang: str, synthesis: IncidentSynthesis) -> str:
    """The incident for a report: banner marking at top and bottom, cited alerts."""
    i = view.incident
    lines = [f"**{view.marking}**", "", f"# {i.title}", "", synthesis.text, ""]
    if synthesis.mode == "model":
        lines += [f"_(written by {synthesis.model_id}, checked against these facts:)_", ""]
        lines += [summarise(i, lang), ""]
    lines += [
        f"- severity: {i.severity.name.lower()} ({'; '.join(i.reasons) or 'highest alert level'})",
        f"- hosts: {', '.join(i.hosts)}",
        f"- techniques: {', '.join(i.techniques) or '-'}",
        f"- first seen {i.first_seen.isoformat()}, last seen {i.last_seen.isoformat()}",
        "",
        "| time | signature | src | dst | marking |",
        "|---|---|---|---|---|",
    ]
    for stored in view.alerts:
        a = stored.alert
        lines.append(
            f"| {a.time.isoformat()} | {a.signature} | {a.src or ''} | {a.dst or ''} "
            f"| {stored.marking} |"
        )
    lines += ["", f"**{view.marking}**"]
    return "\n".join(lines)


def intel_import_json(report: IntelImportReport) -> dict[str, Any]:
    return {
        "format": report.format,
        "indicators": report.indicators,
        "duplicates": report.duplicates,
        "objects": report.objects,
        "skipped": report.skipped,
        "doc_ids": report.doc_ids,
    }


def rules_load_json(loaded: RuleSet, raised: int) -> dict[str, Any]:
    """`raised`: the new alerts the loading user may read."""
    return {
        "loaded": len(loaded.rules),
        "unsupported": [
            {"path": str(path), "reason": reason} for path, reason in loaded.unsupported
        ],
        "alerts": raised,
    }


def attack_map_json(
    found: Sequence[tuple[Technique, float]], catalogue: Catalogue
) -> dict[str, Any]:
    return {
        "techniques": [
            {"id": t.id, "name": catalogue.full_name(t), "score": round(score, 4)}
            for t, score in found
        ]
    }


# --------------------------------------------------------------------- products
def requirement_json(requirement: Requirement) -> dict[str, Any]:
    return {
        "name": requirement.name,
        "requirement": requirement.text,
        "created_at": requirement.created_at.isoformat(),
        "last_run_at": requirement.last_run_at.isoformat() if requirement.last_run_at else None,
    }


def watch_requirements_json(listed: Sequence[Requirement]) -> dict[str, Any]:
    """The owner's own requirements: their words, which carry no marking of their own."""
    return {"requirements": [requirement_json(r) for r in listed]}


def watch_runs_json(runs: Sequence[WatchRun]) -> dict[str, Any]:
    return {
        "requirements": [watch_json(run) for run in runs],
        "marking": str(marking_of(run.marking for run in runs if run.marking is not None)),
    }


# ------------------------------------------------------------------------ admin
def user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "clearance": user.clearance.level.name.replace("_", " "),
        "nationality": user.clearance.nationality,
        "caveats": sorted(user.clearance.caveats),
    }


def users_json(listed: Sequence[User]) -> dict[str, Any]:
    return {"users": [user_json(user) for user in listed]}


def spills_json(found: Sequence[Spill]) -> dict[str, Any]:
    """Spills, marked by every marking they name: the copy written and those held."""
    return {
        "spills": [
            {
                "at": spill.at.isoformat(),
                "actor": spill.actor,
                "doc_id": spill.doc_id,
                "marking": str(spill.marking),
                "held": [{"doc_id": d, "marking": str(m)} for d, m in spill.held],
                "origin": spill.origin,
            }
            for spill in found
        ],
        "marking": str(
            marking_of(m for spill in found for m in (spill.marking, *(m for _, m in spill.held)))
        ),
    }


def audit_verify_json(
    rows: int, head: str, anchor: Path | None = None, pinned: ChainHead | None = None
) -> dict[str, Any]:
    """An intact chain of `rows` rows ending at `head`; the anchor it extends, if checked."""
    payload: dict[str, Any] = {"intact": True, "rows": rows, "head": head}
    if anchor is not None and pinned is not None:
        payload["anchor"] = {"path": str(anchor), "rows": pinned.rows, "head": pinned.hash}
    return payload


# ------------------------------------------------------------ server accounts
def token_json(token: Token) -> dict[str, Any]:
    """An API token as listed: never its secret."""
    state = "revoked" if token.revoked_at else "active"
    if state == "active" and token.expires_at <= datetime.now(UTC):
        state = "expired"
    return {
        "id": token.id,
        "user": token.user,
        "scope": token.scope,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "last_used": token.last_used.isoformat() if token.last_used else None,
        "state": state,
    }


def tokens_json(listed: Sequence[Token]) -> dict[str, Any]:
    return {"tokens": [token_json(t) for t in listed]}


def lockouts_json(blocked: Sequence[tuple[str, int, datetime]]) -> dict[str, Any]:
    """Names ('user:…') and addresses ('address:…') blocked after failed logins."""
    return {
        "lockouts": [
            {"who": key, "failures": failures, "until": until.isoformat()}
            for key, failures, until in blocked
        ]
    }


# ----------------------------------------------------------------------- tracks
# A track as one reader sees it: drawn from the positions they may read, its
# type, callsign and group from the last of them, and so marked like it.
def _last(track: Track) -> Position:
    if track.last is None:  # the store never draws a track without a position
        raise ValueError(f"track {track.uid!r} has no position")
    return track.last


def track_json(track: Track) -> dict[str, Any]:
    """The track where it was last reported; "marking" is that position's."""
    last = _last(track)
    return {
        "uid": track.uid,
        "type": track.type,
        "sidc": sidc(track.type),
        "callsign": track.callsign,
        "lat": last.lat,
        "lon": last.lon,
        "time": last.time.isoformat(),
        "stale": last.stale.isoformat() if last.stale else None,
        "marking": str(last.marking),
        "affiliation": track.affiliation,
        "dimension": track.dimension,
        "group": track.group,
        "course": last.course,
        "speed": last.speed,
    }


def tracks_json(found: Sequence[Track]) -> dict[str, Any]:
    return {
        "tracks": [track_json(t) for t in found],
        "marking": str(marking_of(_last(t).marking for t in found)),
    }


def tracks_geojson(found: Sequence[Track]) -> dict[str, Any]:
    """Each track at its last position, a GeoJSON FeatureCollection ("marking" a foreign
    member: the high-water mark of the positions drawn)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [_last(t).lon, _last(t).lat]},
            "properties": {k: v for k, v in track_json(t).items() if k not in ("lat", "lon")},
        }
        for t in found
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "marking": str(marking_of(_last(t).marking for t in found)),
    }


def tracks_kml(found: Sequence[Track]) -> str:
    """Each track at its last position as a KML 2.2 placemark; the document's name
    carries the high-water mark, each placemark its own marking."""
    from xml.etree import ElementTree as ET

    namespace = "http://www.opengis.net/kml/2.2"
    ET.register_namespace("", namespace)

    def element(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        child = ET.SubElement(parent, f"{{{namespace}}}{tag}")
        if text is not None:
            child.text = text
        return child

    marking = str(marking_of(_last(t).marking for t in found))
    root = ET.Element(f"{{{namespace}}}kml")
    document = element(root, "Document")
    element(document, "name", f"{marking} — guetteur tracks")
    element(document, "description", f"Classification: {marking}")
    for track in found:
        fields = track_json(track)
        last = _last(track)
        placemark = element(document, "Placemark")
        element(placemark, "name", track.callsign or track.uid)
        element(
            placemark,
            "description",
            f"{fields['marking']} · {track.type}"
            + (f" · {fields['sidc']}" if fields["sidc"] else "")
            + f" · {track.uid}",
        )
        stamp = element(placemark, "TimeStamp")
        element(stamp, "when", fields["time"])
        extended = element(placemark, "ExtendedData")
        for key, value in fields.items():
            if value is not None and key not in ("lat", "lon"):
                data = element(extended, "Data")
                data.set("name", key)
                element(data, "value", str(value))
        point = element(placemark, "Point")
        height = f",{last.hae:g}" if last.hae is not None else ""
        element(point, "coordinates", f"{last.lon:.7f},{last.lat:.7f}{height}")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def position_json(position: Position) -> dict[str, Any]:
    return {
        "time": position.time.isoformat(),
        "lat": position.lat,
        "lon": position.lon,
        "hae": position.hae,
        "ce": position.ce,
        "le": position.le,
        "course": position.course,
        "speed": position.speed,
        "how": position.how,
        "stale": position.stale.isoformat() if position.stale else None,
        "marking": str(position.marking),
        "source": position.source,
        "doc_id": position.doc_id,
        "remarks": position.remarks,
    }


def track_detail_json(track: Track, history: Sequence[EventRow] = ()) -> dict[str, Any]:
    """One track as `guetteur track UID --json` shows it: every readable position with
    its marking and source, and the events of reports near it (`history`); "marking"
    is the high-water mark of all of them."""
    return {
        **track_json(track),
        "positions": [position_json(p) for p in track.positions],
        "history": [event_json(e) for e in history],
        "marking": str(
            marking_of([*(p.marking for p in track.positions), *(e.marking for e in history)])
        ),
    }


# -------------------------------------------------------------------- logistics
# Plans, forecasts and import reports (issue 13). Each is marked by the table
# rows and reports it was made from; a plan's "marking" is the high-water mark
# of every row it read and every report whose threat zone changed it.
def logistics_import_json(report: ImportReport) -> dict[str, Any]:
    """`guetteur logistics import --json`: tables read, rows stored, bad rows and why."""
    return {
        "imported": len(report.records),
        "tables": [
            {
                "path": printable(t.path),
                "kind": t.kind,
                "rows": t.rows,
                "marking": str(t.marking) if t.marking is not None else None,
            }
            for t in report.tables
        ],
        "failed": [
            {"path": printable(b.path), "row": b.row, "column": b.column,
             "error": printable(b.reason)}
            for b in report.failed
        ],
        "marking": str(marking_of(r.marking for r in report.records)),
    }  # fmt: skip


def logistics_forecast_json(
    found: Sequence[Forecast], horizon_days: int, quantile: float
) -> dict[str, Any]:
    """`guetteur logistics forecast --json`: per unit and class, daily forecasts with
    their interval, and the quantity to deliver at the quantile."""
    return {
        "horizon_days": horizon_days,
        "quantile": quantile,
        "forecasts": [
            {
                "unit": f.unit,
                "class": f.supply_class,
                "measure": f.measure,
                "method": f.method,
                "pattern": f.pattern,
                "history_days": f.history_days,
                "last_day": f.last_day.isoformat(),
                "level": f.level,
                "mean": list(f.daily_mean),
                "low": list(f.daily_low),
                "high": list(f.daily_high),
                "total_mean": round(f.total_mean, 1),
                "deliver": f.deliver,
                "marking": str(f.marking),
            }
            for f in found
        ],
        "marking": str(marking_of(f.marking for f in found)),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def logistics_plan_json(plan: Plan) -> dict[str, Any]:
    """`guetteur logistics plan --json`: routes and stops, the reports whose threats
    shaped them, what could not be served and why."""
    return {
        "marking": str(plan.marking),
        "feasible": plan.feasible,
        "distance_km": plan.distance_km,
        "day": plan.day.isoformat(),
        "routes": [
            {
                "vehicle": route.vehicle,
                "depot": route.depot,
                "start": _iso(route.start),
                "end": _iso(route.end),
                "distance_km": route.distance_km,
                "stops": [
                    {"name": s.name, "lat": round(s.lat, 6), "lon": round(s.lon, 6),
                     "arrival": _iso(s.arrival), "delivery": dict(s.delivery)}
                    for s in route.stops
                ],
            }
            for route in plan.routes
        ],
        "avoided": [
            {"doc_id": a.doc_id, "kind": a.kind, "reason": a.reason, "lat": round(a.lat, 6),
             "lon": round(a.lon, 6), "radius_km": a.radius_km, "marking": str(a.marking)}
            for a in plan.avoided
        ],
        "unserved": [
            {"name": u.name, "reason": u.reason, "demand": dict(u.demand)} for u in plan.unserved
        ],
        "explanation": list(plan.explanation),
        "demand_sources": {unit: dict(classes) for unit, classes in plan.demand_sources.items()},
    }  # fmt: skip


def logistics_plan_geojson(plan: Plan) -> dict[str, Any]:
    """Routes as LineStrings (depot to depot, detours included), their stops as
    Points, and the threat zones that shaped them as Polygons; "marking" a foreign
    member, the plan's."""
    import math

    features: list[dict[str, Any]] = []
    for route in plan.routes:
        line = [[round(lon, 6), round(lat, 6)] for lat, lon in route.path]
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": line},
            "properties": {"kind": "route", "vehicle": route.vehicle, "depot": route.depot,
                           "start": _iso(route.start), "end": _iso(route.end),
                           "distance_km": route.distance_km,
                           "stops": [s.name for s in route.stops]},
        })  # fmt: skip
        for order, stop in enumerate(route.stops, start=1):
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point",
                             "coordinates": [round(stop.lon, 6), round(stop.lat, 6)]},
                "properties": {"kind": "stop", "vehicle": route.vehicle, "order": order,
                               "name": stop.name, "arrival": _iso(stop.arrival),
                               "delivery": dict(stop.delivery)},
            })  # fmt: skip
    for zone in plan.avoided:
        ring = []
        for k in range(33):
            angle = 2 * math.pi * k / 32
            dlat = zone.radius_km / 111.195 * math.sin(angle)
            dlon = zone.radius_km / (111.195 * math.cos(math.radians(zone.lat))) * math.cos(angle)
            ring.append([round(zone.lon + dlon, 6), round(zone.lat + dlat, 6)])
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"kind": "threat", "threat": zone.kind, "doc_id": zone.doc_id,
                           "reason": zone.reason, "radius_km": zone.radius_km,
                           "marking": str(zone.marking)},
        })  # fmt: skip
    return {"type": "FeatureCollection", "features": features, "marking": str(plan.marking)}
