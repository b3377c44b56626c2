"""The server's jobs in the SQLite store (and, through its dialect, PostgreSQL's).

Part of `SQLiteStore` (a mixin, like tracks.py). A job's row is written by the
worker process that runs it (state, progress, result) and read by any worker,
which may also set `cancel_requested` for the running one to see. Every read
and the cancel request are keyed by (id, owner): a job of someone else's reads
as no job at all. A job that has ended is never changed again, so a late
progress write or a second ending cannot undo the first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guetteur.store.base import JobRecord
from guetteur.store.sqlite._common import StoreCore, iso, now

__all__ = ["JobStore"]

_COLUMNS = (
    "id, owner, kind, created_at, state, worker, done, total, result, error, "
    "cancel_requested, version"
)
_UNFINISHED = "state IN ('queued', 'running')"


def _record(row: Any) -> JobRecord:
    job_id, owner, kind, created, state, worker, done, total, result, error, cancel, version = row
    return JobRecord(
        id=job_id,
        owner=owner,
        kind=kind,
        created_at=datetime.fromisoformat(created),
        state=state,
        worker=worker,
        done=int(done),
        total=int(total),
        result=json.loads(result) if result is not None else None,
        error=error,
        cancel_requested=bool(cancel),
        version=int(version),
    )


class JobStore(StoreCore):
    """Jobs of `SQLiteStore` (schema 14)."""

    def add_job(self, job: JobRecord, keep_finished: int) -> None:
        """Store a new job; of its owner's ended jobs, only the `keep_finished` newest stay."""
        result = json.dumps(job.result, ensure_ascii=False) if job.result is not None else None
        with self._transaction():
            self._db.execute(
                f"INSERT INTO jobs({_COLUMNS}, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.owner,
                    job.kind,
                    iso(job.created_at),
                    job.state,
                    job.worker,
                    job.done,
                    job.total,
                    result,
                    job.error,
                    int(job.cancel_requested),
                    job.version,
                    now(),
                ),
            )
            self._db.execute(
                f"DELETE FROM jobs WHERE owner = ? AND NOT {_UNFINISHED} AND id NOT IN ("
                f"  SELECT id FROM jobs WHERE owner = ? AND NOT {_UNFINISHED} "
                "  ORDER BY created_at DESC, id LIMIT ?)",
                (job.owner, job.owner, max(0, keep_finished)),
            )

    def get_job(self, job_id: str, owner: str) -> JobRecord | None:
        """The job, if it is `owner`'s (anyone else's reads as none)."""
        row = self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND owner = ?", (job_id, owner))
        return _record(row) if row is not None else None

    def update_job(
        self,
        job_id: str,
        *,
        state: str | None = None,
        done: int | None = None,
        total: int | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Change the fields given of a job that has not ended; whether its owner
        asked it to stop."""
        encoded = json.dumps(dict(result), ensure_ascii=False) if result is not None else None
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state = COALESCE(?, state), done = COALESCE(?, done), "
                "total = COALESCE(?, total), result = COALESCE(?, result), "
                "error = COALESCE(?, error), version = version + 1, updated_at = ? "
                f"WHERE id = ? AND {_UNFINISHED}",
                (state, done, total, encoded, error, now(), job_id),
            )
            row = self._one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        return row is not None and bool(row[0])

    def request_job_cancel(self, job_id: str, owner: str) -> JobRecord | None:
        """Ask `owner`'s job to stop (the worker running it polls the flag); the job,
        or None when `owner` has no such job. An ended job is left as it ended."""
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET cancel_requested = 1, version = version + 1, updated_at = ? "
                f"WHERE id = ? AND owner = ? AND {_UNFINISHED} AND cancel_requested = 0",
                (now(), job_id, owner),
            )
            return self.get_job(job_id, owner)

    def unfinished_jobs(self) -> list[JobRecord]:
        """Every job queued or running, oldest first (to find those whose process died)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE {_UNFINISHED} ORDER BY created_at, id"
        ).fetchall()
        return [_record(row) for row in rows]
