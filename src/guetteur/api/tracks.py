"""Tracks: `GET /api/tracks` (JSON, GeoJSON, KML), one track, and the live stream.

`/api/tracks/stream` sends server-sent events (`event: track`, one track as
`track_json` shapes it) each time a track the caller may read moves, as the
positions they may read draw it: a position above them never shows, not even
as the time at which the stream spoke.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from guetteur import arguments, views
from guetteur.api.auth import Caller, caller, workspace, workspaces
from guetteur.api.records import MARKING_HEADER, marked
from guetteur.api.workspaces import Workspaces
from guetteur.model import Track
from guetteur.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["tracks"])

POLL_SECONDS = 1.0
# The stream looks at positions from this long before it opened: a late report
# (a device back in coverage) still moves its track.
LOOKBACK = timedelta(hours=6)


@router.get("/tracks")
def tracks(
    bbox: str | None = Query(None, description="W,S,E,N in decimal degrees."),
    since: str | None = Query(None, description="A duration (24h, 7d) or an ISO time."),
    format: Literal["json", "geojson", "kml"] = "json",
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Tracks where they were last reported, as the caller's readable positions draw them."""
    found = ws.tracks(who.user, arguments.parse_bbox(bbox), arguments.parse_since(since))
    if format == "kml":
        payload = views.tracks_json(found)
        return Response(
            views.tracks_kml(found),
            media_type="application/vnd.google-earth.kml+xml",
            headers={MARKING_HEADER: payload["marking"]},
        )
    if format == "geojson":
        return marked(views.tracks_geojson(found))
    return marked(views.tracks_json(found))


@router.get("/tracks/stream")
async def stream(
    request: Request, who: Caller = Depends(caller), all_: Workspaces = Depends(workspaces)
) -> StreamingResponse:
    """Tracks as they move, as server-sent events (`event: track`)."""
    opened = datetime.now(UTC)
    clearance = who.user.clearance

    def audit_opening() -> None:
        with all_.checkout() as checked_out:
            checked_out.store.audit(who.user.name, "tracks.stream", {"opened": opened})

    await run_in_threadpool(audit_opening)

    def moved_since(seen: dict[str, tuple[str, float, float]]) -> list[Track]:
        with all_.checkout() as checked_out:
            found = checked_out.store.list_tracks(clearance, None, opened - LOOKBACK)
        moved = []
        for track in found:
            last = track.last
            if last is None:
                continue
            key = (last.time.isoformat(), last.lat, last.lon)
            if seen.get(track.uid) != key:
                seen[track.uid] = key
                moved.append(track)
        return moved

    async def events() -> AsyncIterator[str]:
        seen: dict[str, tuple[str, float, float]] = {}
        await run_in_threadpool(moved_since, seen)  # what is already there: not news
        yield ": tracks\n\n"
        while not await request.is_disconnected():
            for track in await run_in_threadpool(moved_since, seen):
                data = json.dumps(views.track_json(track), ensure_ascii=False)
                yield f"event: track\ndata: {data}\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream")


@router.get("/tracks/{uid}")
def track(uid: str, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """One track: its readable positions with their markings and sources, and its history."""
    found = ws.track(who.user, uid)
    return marked(views.track_detail_json(found, ws.track_history(who.user, found)))
