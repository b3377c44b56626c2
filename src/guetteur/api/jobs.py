"""Long work as jobs: large ingests and briefs written by a model.

A job runs on a thread of its own (one at a time per process: they take the
heavy lock anyway), and reports progress. Its owner follows it with
`GET /api/jobs/{id}`, or as server-sent events from `/api/jobs/{id}/events`,
and may cancel it with `DELETE /api/jobs/{id}`: an ingest stops between files,
keeping what was already stored. A job is its owner's: anyone else is told it
does not exist. Jobs live in the memory of the worker process that runs them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from guetteur._exceptions import GuetteurError, NotFoundError
from guetteur.api.auth import Caller, caller
from guetteur.api.records import marked
from guetteur.api.workspaces import Workspaces
from guetteur.workspace import Workspace

__all__ = ["Cancelled", "Job", "Jobs", "router"]

router = APIRouter(prefix="/api", tags=["jobs"])

_KEPT = 200  # finished jobs remembered per process, oldest forgotten first


class Cancelled(Exception):
    """Raised inside a job's work when its owner cancelled it."""


@dataclass
class Job:
    id: str
    owner: str
    kind: str
    created_at: datetime
    state: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0  # bumped on every change, for the event stream

    def advance(self, done: int | None = None, total: int | None = None) -> None:
        """Progress from inside the work; raises Cancelled once the owner cancelled."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        self.version += 1
        if self.cancel.is_set():
            raise Cancelled()

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": {"done": self.done, "total": self.total},
            "created_at": self.created_at.isoformat(),
            "result": self.result,
            "error": self.error,
        }


class Jobs:
    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guetteur-job")

    def start(self, owner: str, kind: str, work: Callable[[Workspace, Job], dict[str, Any]]) -> Job:
        job = Job(secrets.token_hex(10), owner, kind, datetime.now(UTC))
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.state not in ("queued", "running")]
            for old in finished[: max(0, len(finished) - _KEPT)]:
                del self._jobs[old.id]
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Workspace, Job], dict[str, Any]]) -> None:
        if job.cancel.is_set():
            job.state = "cancelled"
            job.version += 1
            return
        job.state, job.version = "running", job.version + 1
        try:
            with self.workspaces.checkout() as workspace:
                job.result = work(workspace, job)
            job.state = "done"
        except Cancelled:
            job.state = "cancelled"
        except GuetteurError as error:
            job.state, job.error = "failed", str(error)
        except Exception:  # reported as a failed job, logged with its trace
            logging.getLogger("guetteur.api").exception("job %s failed", job.id)
            job.state, job.error = "failed", "the job failed on the server; it has been logged"
        job.version += 1

    def get(self, owner: str, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise NotFoundError(f"no job {job_id!r}")
        return job

    def shutdown(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def all_jobs(request: Request) -> Jobs:
    found: Jobs = request.app.state.jobs
    return found


def accepted(job: Job) -> Response:
    """202 Accepted, pointing at the job."""
    response = marked({"job": job.json()}, status=202)
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return response


@router.get("/jobs/{job_id}")
def job_state(
    job_id: str, who: Caller = Depends(caller), found: Jobs = Depends(all_jobs)
) -> Response:
    """A job's state, progress and, once done, its result."""
    return marked({"job": found.get(who.user.name, job_id).json()})


@router.delete("/jobs/{job_id}")
def cancel_job(
    job_id: str, who: Caller = Depends(caller), found: Jobs = Depends(all_jobs)
) -> Response:
    """Ask a job to stop; an ingest keeps the files it already stored."""
    job = found.get(who.user.name, job_id)
    job.cancel.set()
    return marked({"job": job.json()}, status=202)


@router.get("/jobs/{job_id}/events")
async def job_events(
    job_id: str, who: Caller = Depends(caller), found: Jobs = Depends(all_jobs)
) -> StreamingResponse:
    """The job's progress as server-sent events, until it ends."""
    job = found.get(who.user.name, job_id)

    async def stream() -> AsyncIterator[str]:
        seen = -1
        while True:
            if job.version != seen:
                seen = job.version
                yield f"event: {job.state}\ndata: {json.dumps(job.json(), default=str)}\n\n"
                if job.state in ("done", "failed", "cancelled"):
                    return
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream")
