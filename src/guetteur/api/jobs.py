"""Long work as jobs: large ingests and briefs written by a model.

A job runs on a thread of its own in the worker process that accepted it (one
at a time per process: they take the heavy lock anyway), and reports progress.
Its owner follows it with `GET /api/jobs/{id}`, or as server-sent events from
`/api/jobs/{id}/events`, and may cancel it with `DELETE /api/jobs/{id}`: an
ingest stops between files, keeping what was already stored.

The job's record lives in the workspace's store (store/sqlite/jobs.py), so
that every worker of `guetteur serve --workers N` answers for it, whichever
the client's connection lands on. The running worker writes its state when it
changes and its progress at most every `_SYNC_SECONDS`, and reads back the
cancel flag that any worker may set. A job is its owner's: anyone else is
told it does not exist, in the same words as for an id never made. Each
record names the process running it (host, boot, pid and start time), so a
job whose process died — a restart, a crash — is reported failed rather than
running for ever: at a worker's start, and whenever it is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from guetteur._exceptions import GuetteurError, NotFoundError
from guetteur.api.auth import Caller, caller
from guetteur.api.records import marked
from guetteur.api.workspaces import Workspaces
from guetteur.store import Store
from guetteur.store.base import JobRecord
from guetteur.workspace import Workspace

__all__ = ["Cancelled", "Job", "Jobs", "router"]

router = APIRouter(prefix="/api", tags=["jobs"])

_KEPT = 200  # ended jobs kept per owner, oldest forgotten first
# Progress is written to the store (and the cancel flag read back) at most this
# often, so that an ingest of many small files does not spend its time on it.
_SYNC_SECONDS = 0.5
_POLL_SECONDS = 0.5  # how often the event stream reads the job again
_ENDED = ("done", "failed", "cancelled")
RESTARTED = "the server restarted while the job ran"
STOPPED = "the server stopped before the job could end"
_log = logging.getLogger("guetteur.api")


class Cancelled(Exception):
    """Raised inside a job's work when its owner cancelled it (or the server stops)."""


# ------------------------------------------------------------ worker processes
@cache
def _boot_id() -> str:
    """This machine's boot (Linux); '' where unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _started(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (Linux); '' where unknown.
    With the boot, it tells a process from a later one given the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # pid (comm) state ppid ...: comm may hold spaces and ')'; starttime is field 22.
    return stat.rsplit(")", 1)[1].split()[19]


def this_worker() -> str:
    """The process running a job, as its record names it."""
    pid = os.getpid()
    return json.dumps(
        {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "started": _started(pid)}
    )


def worker_alive(worker: str) -> bool:
    """Whether the process a record names may still run its job. A process of
    another machine cannot be looked at from here: it is taken to be alive."""
    try:
        named = json.loads(worker)
        host, boot, started = str(named["host"]), str(named["boot"]), str(named["started"])
        pid = int(named["pid"])
    except (ValueError, KeyError, TypeError):
        return True
    if host != socket.gethostname():
        return True
    if boot and _boot_id() and boot != _boot_id():
        return False  # this machine restarted since
    if started:
        return _started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------- jobs
@dataclass
class Job:
    """A job as the worker running it holds it (and as its first answer shows it)."""

    id: str
    owner: str
    kind: str
    created_at: datetime
    state: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)  # stop, for any reason
    cancelled_by_owner: bool = False
    ledger: Store | None = None  # the connection its record is written through
    synced: float = 0.0  # time.monotonic() of the last progress write

    @classmethod
    def of(cls, record: JobRecord) -> Job:
        return cls(
            record.id,
            record.owner,
            record.kind,
            record.created_at,
            record.state,
            record.done,
            record.total,
            record.result,
            record.error,
        )

    def advance(self, done: int | None = None, total: int | None = None) -> None:
        """Progress from inside the work; raises Cancelled once the owner cancelled."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        moment = time.monotonic()
        if self.ledger is not None and moment - self.synced >= _SYNC_SECONDS:
            self.synced = moment
            try:
                if self.ledger.update_job(self.id, done=self.done, total=self.total):
                    self.cancelled_by_owner = True
                    self.cancel.set()
            except Exception:  # progress is advisory: the work goes on, the end is written
                _log.warning("job %s: its progress could not be written", self.id, exc_info=True)
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


def _plain(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The result as its JSON answer shows it (datetimes as text), to be stored."""
    if result is None:
        return None
    plain: dict[str, Any] = json.loads(json.dumps(result, ensure_ascii=False, default=str))
    return plain


class Jobs:
    """This worker's jobs, run one at a time, and every worker's, read from the store."""

    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces
        self._running: dict[str, Job] = {}  # this process's jobs not yet ended
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guetteur-job")
        self.fail_orphans()

    def fail_orphans(self) -> int:
        """Report failed the unfinished jobs whose process is gone; how many."""
        failed = 0
        with self.workspaces.checkout() as workspace:
            for record in workspace.store.unfinished_jobs():
                if not worker_alive(record.worker):
                    workspace.store.update_job(record.id, state="failed", error=RESTARTED)
                    failed += 1
        return failed

    def start(self, owner: str, kind: str, work: Callable[[Workspace, Job], dict[str, Any]]) -> Job:
        """Record a new job, queued on this worker; its record is in the store on return."""
        job = Job(secrets.token_hex(10), owner, kind, datetime.now(UTC))
        record = JobRecord(job.id, owner, kind, job.created_at, job.state, this_worker())
        with self._lock:
            self._running[job.id] = job
        try:
            with self.workspaces.checkout() as workspace:
                workspace.store.add_job(record, keep_finished=_KEPT)
        except BaseException:
            with self._lock:
                self._running.pop(job.id, None)
            raise
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Workspace, Job], dict[str, Any]]) -> None:
        try:
            with self.workspaces.checkout() as ledger:
                job.ledger = ledger.store
                self._run_recorded(job, work, ledger.store)
        except Exception:
            _log.exception("job %s: its record could not be written", job.id)
        finally:
            job.ledger = None
            with self._lock:
                self._running.pop(job.id, None)

    def _run_recorded(
        self, job: Job, work: Callable[[Workspace, Job], dict[str, Any]], ledger: Store
    ) -> None:
        if ledger.update_job(job.id, state="running"):
            job.cancelled_by_owner = True
            job.cancel.set()
        if job.cancel.is_set():
            self._end(job, ledger)
            return
        job.state = "running"
        try:
            with self.workspaces.checkout() as workspace:
                job.result = _plain(work(workspace, job))
            job.state = "done"
        except Cancelled:
            pass  # _end tells an owner's cancel from the server stopping
        except GuetteurError as error:
            job.state, job.error = "failed", str(error)
        except Exception:  # reported as a failed job, logged with its trace
            _log.exception("job %s failed", job.id)
            job.state, job.error = "failed", "the job failed on the server; it has been logged"
        self._end(job, ledger)

    def _end(self, job: Job, ledger: Store) -> None:
        if job.state not in _ENDED:
            if job.cancelled_by_owner or not self._stopping.is_set():
                job.state = "cancelled"
            else:
                job.state, job.error = "failed", STOPPED
        ledger.update_job(
            job.id,
            state=job.state,
            done=job.done,
            total=job.total,
            result=job.result,
            error=job.error,
        )

    def get(self, owner: str, job_id: str) -> JobRecord:
        """`owner`'s job; anyone else's, or none, is the same NotFoundError."""
        with self.workspaces.checkout() as workspace:
            record = workspace.store.get_job(job_id, owner)
            if record is None:
                raise NotFoundError(f"no job {job_id!r}")
            if record.state not in _ENDED and not self._alive(record):
                workspace.store.update_job(record.id, state="failed", error=RESTARTED)
                record = workspace.store.get_job(job_id, owner)
                if record is None:
                    raise NotFoundError(f"no job {job_id!r}")
        return record

    def _alive(self, record: JobRecord) -> bool:
        with self._lock:
            if record.id in self._running:
                return True
        return worker_alive(record.worker)

    def cancel(self, owner: str, job_id: str) -> JobRecord:
        """Ask `owner`'s job to stop, whichever worker runs it."""
        self.get(owner, job_id)  # a job whose process died is failed first, not cancelled
        with self.workspaces.checkout() as workspace:
            record = workspace.store.request_job_cancel(job_id, owner)
        if record is None:
            raise NotFoundError(f"no job {job_id!r}")
        with self._lock:
            here = self._running.get(job_id)
        if here is not None:  # running on this worker: no need to wait for its next poll
            here.cancelled_by_owner = True
            here.cancel.set()
        return record

    def shutdown(self) -> None:
        """Stop this worker's jobs; those that could not end are reported failed."""
        self._stopping.set()
        with self._lock:
            for job in self._running.values():
                job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            never_ran = list(self._running.values())
        if never_ran:
            with self.workspaces.checkout() as workspace:
                for job in never_ran:
                    workspace.store.update_job(job.id, state="failed", error=STOPPED)


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
    return marked({"job": Job.of(found.get(who.user.name, job_id)).json()})


@router.delete("/jobs/{job_id}")
def cancel_job(
    job_id: str, who: Caller = Depends(caller), found: Jobs = Depends(all_jobs)
) -> Response:
    """Ask a job to stop; an ingest keeps the files it already stored."""
    return marked({"job": Job.of(found.cancel(who.user.name, job_id)).json()}, status=202)


@router.get("/jobs/{job_id}/events")
async def job_events(
    job_id: str, who: Caller = Depends(caller), found: Jobs = Depends(all_jobs)
) -> StreamingResponse:
    """The job's progress as server-sent events, until it ends."""
    owner = who.user.name
    first = await run_in_threadpool(found.get, owner, job_id)

    async def stream() -> AsyncIterator[str]:
        record, seen = first, -1
        while True:
            if record.version != seen:
                seen = record.version
                body = json.dumps(Job.of(record).json(), default=str)
                yield f"event: {record.state}\ndata: {body}\n\n"
                if record.state in _ENDED:
                    return
            await asyncio.sleep(_POLL_SECONDS)
            record = await run_in_threadpool(found.get, owner, job_id)

    return StreamingResponse(stream(), media_type="text/event-stream")
