"""Logistics: `GET /api/logistics/forecast`, `POST /api/logistics/plan`, and
`POST /api/logistics/import` (multipart: the tables as files).

Bodies are what `guetteur logistics ... --json` prints, built by the same
functions of views.py, and carry the plan's or forecast's marking in the
`X-Guetteur-Marking` header. Uploaded tables are saved in a private folder
of the workspace like other uploads (writes.py), read, then deleted; bad rows
are named by the file's uploaded name.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from guetteur import arguments, views
from guetteur._exceptions import InvalidInputError
from guetteur.api.auth import Caller, caller, workspace, workspaces
from guetteur.api.records import MARKING_HEADER, marked
from guetteur.api.workspaces import Workspaces
from guetteur.api.writes import _marking, run_upload
from guetteur.logistics.render import plan_markdown
from guetteur.logistics.threats import THREAT_KINDS
from guetteur.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api/logistics", tags=["logistics"])

ThreatKind = Literal["ambush", "ied", "artillery", "drone", "checkpoint"]
_ALL_KINDS: tuple[ThreatKind, ...] = ("ambush", "ied", "artillery", "drone", "checkpoint")
assert _ALL_KINDS == THREAT_KINDS


def _days(value: str, field: str) -> int:
    seconds = arguments.parse_duration(value).total_seconds()
    if seconds < 86400 or seconds % 86400:
        raise InvalidInputError(f"{field} {value!r}: whole days (1d, 7d, 2w)")
    return int(seconds // 86400)


@router.get("/forecast")
def forecast(
    horizon: str = Query("7d", max_length=16, description="Days to forecast (7d, 2w)."),
    quantile: float = Query(0.9, gt=0, lt=1, description="The quantile to deliver."),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Each unit's consumption per class over the horizon, from the caller's history."""
    days = _days(horizon, "horizon")
    found = ws.logistics_forecast(who.user, days, quantile)
    return marked(views.logistics_forecast_json(found, days, quantile))


class PlanRequest(BaseModel):
    avoid_threats: bool = False
    threat_penalty_km: float | None = Field(None, ge=0, le=100_000)
    threat_kinds: list[ThreatKind] = Field(default_factory=lambda: list(_ALL_KINDS))
    radius_km: dict[str, float] = Field(default_factory=dict)
    since: str | None = Field("48h", max_length=64, description="A duration (48h) or ISO time.")
    time_limit: str = Field("30s", max_length=16, description="Solver time (30s, 2m).")
    horizon: str = Field("1d", max_length=16)
    quantile: float = Field(0.9, gt=0, lt=1)
    day: date | None = None
    releasable_to: str | None = Field(None, max_length=500, description="CCC[,CCC] or NATO.")
    format: Literal["json", "geojson", "markdown"] = "json"


@router.post("/plan")
def plan(
    asked: PlanRequest,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """A resupply plan from the tables and reports the caller may read."""
    found = ws.logistics_plan(
        who.user,
        avoid_threats=asked.avoid_threats,
        since=arguments.parse_since(asked.since),
        time_limit=arguments.parse_duration(asked.time_limit).total_seconds(),
        releasable_to=arguments.parse_nations(asked.releasable_to),
        threat_kinds=asked.threat_kinds,
        radius_km=asked.radius_km,
        penalty_km=asked.threat_penalty_km,
        horizon_days=_days(asked.horizon, "horizon"),
        quantile=asked.quantile,
        day=asked.day,
    )
    if asked.format == "markdown":
        return Response(
            plan_markdown(found),
            media_type="text/markdown; charset=utf-8",
            headers={MARKING_HEADER: str(found.marking)},
        )
    if asked.format == "geojson":
        return marked(views.logistics_plan_geojson(found))
    return marked(views.logistics_plan_json(found))


@router.post("/import")
async def import_tables(
    files: list[UploadFile] = File(..., description="Logistics tables (CSV, XLSX)."),
    marking: str | None = Form(None, max_length=500),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
) -> Response:
    """Import logistics tables: the same report as `guetteur logistics import --json`."""
    floor = _marking(marking)

    def work(checked_out: Workspace, paths: list[Path], folder: Path) -> dict[str, Any]:
        # Place names open the gazetteer shared by the process: run_upload holds its lock.
        return views.logistics_import_json(checked_out.logistics_import(who.user, paths, floor))

    return await run_upload(files, ws, who, all_, work)
