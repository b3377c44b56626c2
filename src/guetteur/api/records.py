"""Reads: search, documents, stats, entities, events, alerts, incidents, watches.

Each body is what the CLI prints with `--json` for the same query, built by
the same function of views.py, and each carries the high-water mark of the
records it returns: in its `marking` field and in the `X-Guetteur-Marking`
header, like a banner.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import JSONResponse, Response

from guetteur import arguments, views
from guetteur.api.auth import Caller, caller, workspace
from guetteur.model import Severity
from guetteur.workspace import Workspace

__all__ = ["MARKING_HEADER", "marked", "router"]

router = APIRouter(prefix="/api", tags=["records"])

MARKING_HEADER = "X-Guetteur-Marking"


class MarkedJSON(JSONResponse):
    """JSON encoded as the CLI encodes it (same escapes, datetimes as ISO text)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str).encode("utf-8")


def marked(payload: dict[str, Any], status: int = 200) -> Response:
    """`payload` as a response whose header repeats its marking."""
    headers = {MARKING_HEADER: str(payload["marking"])} if "marking" in payload else None
    return MarkedJSON(payload, status_code=status, headers=headers)


Limit = Query(10, ge=1, le=1000, description="At most this many results.")
ListLimit = Query(None, ge=1, le=arguments.MAX_LISTED, description="At most this many.")


@router.get("/search")
def search(
    q: str = Query(..., min_length=1, max_length=2000, description="The query, FR or EN."),
    limit: int = Limit,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Search documents (full text and meaning, French and English)."""
    return marked(views.search_json(ws.search(who.user, q, limit)))


@router.get("/documents/{doc_id}")
def document(
    doc_id: str, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """One document, if the caller may read it."""
    return marked(views.document_json(ws.show(who.user, doc_id)))


@router.get("/stats")
def stats(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """What the store holds, counted as the caller may see it."""
    return marked(views.stats_json(who.user, ws.stats(who.user)))


@router.get("/entities")
def entities(
    type: str | None = Query(None, max_length=64, description="Only entities of this type."),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Entities named in what the caller may read."""
    return marked(views.entities_json(ws.entities(who.user, type)))


@router.get("/entities/{name_or_id}")
def entity(
    name_or_id: str, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """One entity: aliases, mentions, co-occurrences, as the caller may know them."""
    return marked(views.entity_detail_json(ws.entity(who.user, name_or_id)))


@router.get("/events")
def events(
    since: str | None = Query(None, description="A duration (24h, 7d) or an ISO time."),
    bbox: str | None = Query(None, description="W,S,E,N in decimal degrees."),
    format: Literal["json", "geojson"] = "json",
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Events (what, who, where, when), as JSON or GeoJSON."""
    found = ws.events(who.user, arguments.parse_since(since), arguments.parse_bbox(bbox))
    if format == "geojson":
        return marked(views.events_geojson(found))
    return marked(views.events_json(found))


@router.get("/alerts")
def alerts(
    since: str | None = Query(None, description="A duration (24h, 7d) or an ISO time."),
    rule: str | None = Query(None, max_length=256, description="Only alerts of this rule."),
    limit: int | None = ListLimit,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Alerts the caller may read, oldest first."""
    found = ws.alerts(who.user, arguments.parse_since(since), rule, limit)
    return marked(views.alerts_json(found))


@router.get("/incidents")
def incidents(
    since: str | None = Query(None, description="A duration (24h, 7d) or an ISO time."),
    min_severity: Literal["informational", "low", "medium", "high", "critical"] | None = None,
    limit: int | None = ListLimit,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Alerts grouped into incidents, most severe first."""
    floor = Severity[min_severity.upper()] if min_severity else None
    found = ws.incidents(who.user, arguments.parse_since(since), floor)[:limit]
    return marked(views.incidents_json(found))


@router.get("/incidents/{incident_id}")
def incident(
    incident_id: str,
    format: Literal["json", "markdown", "stix"] = "json",
    lang: Literal["en", "fr"] = "en",
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """One incident as JSON, a Markdown report, or a STIX 2.1 bundle."""
    view = ws.incident(who.user, incident_id)
    header = {MARKING_HEADER: str(view.marking)}
    if format == "stix":
        return MarkedJSON(ws.incident_stix(view, lang), headers=header)
    synthesis = ws.incident_synthesis(who.user, view, lang)
    if format == "markdown":
        text = views.incident_markdown(view, lang, synthesis)
        return Response(text, media_type="text/markdown; charset=utf-8", headers=header)
    return marked(views.incident_detail_json(view, synthesis, lang))


@router.get("/watch")
def watch(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """The caller's standing requirements."""
    return marked(views.watch_requirements_json(ws.watch_list(who.user)))
