"""Products and writes: ask, brief, ingest, alerts, intelligence, rules, watches.

Uploads land in a private folder of the workspace (`uploads/USER/RANDOM/`,
0700), go through the same parsers as `guetteur ingest` and are deleted once
read; the `failed` list names each file as it was uploaded. Work that runs
the enrichment pipeline or the language model takes the process's heavy lock
(workspaces.py). Large uploads, and briefs written by a model, run as jobs
(jobs.py): the answer is then 202 with the job to follow.
"""

from __future__ import annotations

import os
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from guetteur import arguments, views
from guetteur._exceptions import InvalidInputError
from guetteur.api.auth import Caller, caller, workspace, workspaces
from guetteur.api.jobs import Job, Jobs, accepted, all_jobs
from guetteur.api.records import MARKING_HEADER, marked
from guetteur.api.workspaces import Workspaces
from guetteur.model import Grade
from guetteur.products.render import brief_markdown, brief_pdf
from guetteur.security.markings import parse_marking
from guetteur.store import User
from guetteur.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["products and writes"])

UPLOADS_DIR = "uploads"
BACKGROUND_BYTES = 8 << 20  # uploads above this run as a job unless told otherwise
_CHUNK = 1 << 20


# ----------------------------------------------------------------- products
class Question(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    lang: Literal["fr", "en"] | None = None


@router.post("/ask")
def ask(
    asked: Question,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
) -> Response:
    """Answer a question from what the caller may read, every sentence cited."""
    with _model_lock(ws, all_):
        answer = ws.ask(who.user, asked.question, asked.lang)
    return marked(views.answer_json(answer))


class BriefRequest(BaseModel):
    kind: Literal["intsum", "sitrep", "daily"] = "intsum"
    format: Literal["json", "markdown", "pdf"] = "json"
    lang: Literal["fr", "en"] = "en"
    since: str | None = Field(None, max_length=64, description="A duration (24h) or ISO time.")
    topic: str | None = Field(None, max_length=500)
    bbox: str | None = Field(None, max_length=100, description="W,S,E,N in decimal degrees.")
    releasable_to: str | None = Field(None, max_length=500, description="CCC[,CCC] or NATO.")
    background: bool | None = Field(
        None, description="Run as a job (default: when a language model writes the brief)."
    )


def _brief_payload(ws: Workspace, user: User, asked: BriefRequest) -> dict[str, Any]:
    product = ws.brief(
        user,
        form=asked.kind,
        language=asked.lang,
        since=arguments.parse_since(asked.since),
        topic=asked.topic,
        bbox=arguments.parse_bbox(asked.bbox),
        releasable_to=arguments.parse_nations(asked.releasable_to),
    )
    if asked.format == "markdown":
        return {"markdown": brief_markdown(product), "marking": str(product.marking)}
    if asked.format == "pdf":
        return {"pdf": product, "marking": str(product.marking)}
    return views.brief_json(product)


@router.post("/brief")
def brief(
    asked: BriefRequest,
    request: Request,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
    jobs: Jobs = Depends(all_jobs),
) -> Response:
    """Write an INTSUM, SITREP or daily brief, marked by what it cites."""
    # Checked now, so that a bad value is refused before any job starts.
    arguments.parse_since(asked.since), arguments.parse_bbox(asked.bbox)
    arguments.parse_nations(asked.releasable_to)
    background = asked.background
    if background is None:
        background = ws.model_settings().mode != "none"
    if background:
        if asked.format == "pdf":
            raise InvalidInputError("format: a brief run as a job is JSON or Markdown")

        def work(job_ws: Workspace, job: Job) -> dict[str, Any]:
            with _model_lock(job_ws, all_):
                return _brief_payload(job_ws, who.user, asked)

        return accepted(jobs.start(who.user.name, "brief", work))
    with _model_lock(ws, all_):
        payload = _brief_payload(ws, who.user, asked)
    if asked.format == "pdf":
        product = payload["pdf"]
        folder = _upload_folder(ws, who.user)
        try:
            brief_pdf(product, folder / "brief.pdf")
            data = (folder / "brief.pdf").read_bytes()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(
            data,
            media_type="application/pdf",
            headers={
                MARKING_HEADER: payload["marking"],
                "Content-Disposition": f'attachment; filename="{asked.kind}.pdf"',
            },
        )
    if asked.format == "markdown":
        return Response(
            payload["markdown"],
            media_type="text/markdown; charset=utf-8",
            headers={MARKING_HEADER: payload["marking"]},
        )
    return marked(payload)


@contextmanager
def _model_lock(ws: Workspace, all_: Workspaces) -> Iterator[None]:
    # Extractive products share nothing that threads fight over; a language
    # model's context is one per process, so its calls take turns.
    if ws.model_settings().mode == "none":
        yield
        return
    with all_.heavy:
        yield


# ------------------------------------------------------------------- uploads
def _upload_folder(ws: Workspace, user: User) -> Path:
    folder = ws.home / UPLOADS_DIR / secrets.token_hex(4) / secrets.token_hex(8)
    folder.mkdir(parents=True, mode=0o700)
    os.chmod(folder.parent, 0o700)
    os.chmod(ws.home / UPLOADS_DIR, 0o700)
    return folder


def _safe_name(name: str | None, index: int, taken: set[str]) -> str:
    """The uploaded file's own name, reduced to one harmless path component."""
    base = Path((name or "").replace("\\", "/")).name
    base = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable())
    base = base.strip().lstrip(".")[:200] or f"upload-{index}"
    if base in taken:
        base = f"{index}-{base}"
    taken.add(base)
    return base


async def _save(files: list[UploadFile], folder: Path) -> tuple[list[Path], int]:
    paths, taken, total = [], set[str](), 0
    for index, upload in enumerate(files):
        path = folder / _safe_name(upload.filename, index, taken)
        with path.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                out.write(chunk)
                total += len(chunk)
        path.chmod(0o600)
        paths.append(path)
    return paths, total


def _shown(payload: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Failures named by the uploaded file's name, not the server's folder."""
    prefix = str(folder) + os.sep
    for failure in (
        item for key in ("failed", "unsupported", "tables") for item in payload.get(key, [])
    ):
        for key in ("path", "error", "reason"):
            if key in failure:
                failure[key] = str(failure[key]).replace(prefix, "")
    return payload


def _marking(text: str | None) -> Any:
    return parse_marking(text) if text else None


@router.post("/ingest")
async def ingest(
    request: Request,
    files: list[UploadFile] = File(..., description="Documents, in any format ingest reads."),
    source: str = Form("default", max_length=200),
    marking: str | None = Form(None, max_length=500),
    grade: str | None = Form(None, max_length=8),
    background: bool | None = Form(None),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
    jobs: Jobs = Depends(all_jobs),
) -> Response:
    """Ingest uploaded documents: same parsers, markings and `failed` list as the CLI."""
    floor, graded = _marking(marking), Grade.parse(grade) if grade else None
    folder = _upload_folder(ws, who.user)
    try:
        paths, size = await _save(files, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def work(job_ws: Workspace, job: Job | None) -> dict[str, Any]:
        done = 0

        def advance(path: Path) -> None:
            nonlocal done
            done += 1
            if job is not None:
                job.advance(done, len(paths))

        try:
            with all_.heavy:
                report = job_ws.ingest(who.user, paths, source, floor, graded, on_file=advance)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return _shown(views.ingest_json(report), folder)

    if background or (background is None and size > BACKGROUND_BYTES):
        # Off the event loop: the job's record is written to the store first.
        return accepted(await run_in_threadpool(jobs.start, who.user.name, "ingest", work))

    def synchronous() -> dict[str, Any]:
        with all_.checkout() as checked_out:
            return work(checked_out, None)

    return marked(await run_in_threadpool(synchronous))


async def run_upload(
    files: list[UploadFile],
    ws: Workspace,
    who: Caller,
    all_: Workspaces,
    work: Callable[[Workspace, list[Path], Path], dict[str, Any]],
) -> Response:
    """Save `files` in a private folder, run `work(workspace, paths, folder)` on the
    heavy lock with a connection of its own, and answer its payload with the
    server's folder taken out of every path; the folder is deleted either way."""
    folder = _upload_folder(ws, who.user)
    try:
        paths, _ = await _save(files, folder)

        def run() -> dict[str, Any]:
            with all_.heavy, all_.checkout() as checked_out:
                payload = work(checked_out, paths, folder)
            return _shown(payload, folder)

        return marked(await run_in_threadpool(run))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@router.post("/alerts/ingest")
async def alerts_ingest(
    files: list[UploadFile] = File(..., description="Suricata EVE, Sysmon JSON, .evtx files."),
    source: str = Form("cert", max_length=200),
    marking: str | None = Form(None, max_length=500),
    format: Literal["auto", "eve", "sysmon", "evtx"] = Form("auto"),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
) -> Response:
    """Ingest alert and event files; the loaded Sigma rules run over them."""
    floor = _marking(marking)

    def work(checked_out: Workspace, paths: list[Path], folder: Path) -> dict[str, Any]:
        report = checked_out.ingest_alerts(who.user, paths, source, floor, format)
        return views.alerts_ingest_json(report)

    return await run_upload(files, ws, who, all_, work)


@router.post("/intel/import")
async def intel_import(
    file: UploadFile = File(..., description="A STIX 2.x bundle or a MISP event (JSON)."),
    source: str = Form("intel", max_length=200),
    marking: str | None = Form(None, max_length=500),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
) -> Response:
    """Import a partner's threat intelligence."""
    floor = _marking(marking)

    def work(checked_out: Workspace, paths: list[Path], folder: Path) -> dict[str, Any]:
        return views.intel_import_json(checked_out.import_intel(who.user, paths[0], source, floor))

    return await run_upload([file], ws, who, all_, work)


@router.post("/rules")
async def rules(
    files: list[UploadFile] = File(..., description="Sigma rules (.yml)."),
    marking: str | None = Form(None, max_length=500),
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
    all_: Workspaces = Depends(workspaces),
) -> Response:
    """Load Sigma rules under the caller's name and a marking; run them over stored events."""
    floor = _marking(marking)

    def work(checked_out: Workspace, paths: list[Path], folder: Path) -> dict[str, Any]:
        loaded, raised = checked_out.load_rules(who.user, folder, floor)
        return views.rules_load_json(loaded, raised)

    return await run_upload(files, ws, who, all_, work)


# ------------------------------------------------------------------ watches
class NewRequirement(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    requirement: str = Field(min_length=1, max_length=4000)


@router.post("/watch", status_code=201)
def watch_add(
    added: NewRequirement, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """Add a standing requirement, checked on every ingest."""
    requirement = ws.watch_add(who.user, added.name, added.requirement)
    return marked({"requirement": views.requirement_json(requirement)}, status=201)


@router.post("/watch/run")
def watch_run(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """What is new for each of the caller's requirements since their last report."""
    return marked(views.watch_runs_json(ws.watch_run(who.user)))
