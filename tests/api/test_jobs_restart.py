"""Jobs whose process died: reported failed, not running for ever.

A job's record names the process running it (host, boot, pid, start time). A
worker starting up, or reading a job, reports failed the unfinished jobs whose
process is gone; a job of a live process, or of another machine (which cannot
be looked at from here), is left alone. End to end: `guetteur serve` killed
in the middle of an ingest, started again, says what became of the job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.test_serve_cli import start_serve
from guetteur.api.jobs import RESTARTED, Jobs, this_worker
from guetteur.api.workspaces import Workspaces
from guetteur.store.base import JobRecord
from guetteur.workspace import Workspace

from conftest import new_workspace

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="needs Linux's /proc to tell processes apart"
)


def worker(**changed: object) -> str:
    return json.dumps({**json.loads(this_worker()), **changed})


def record(job_id: str, named: str, state: str = "running") -> JobRecord:
    return JobRecord(job_id, "ops", "ingest", datetime.now(UTC), state, named, done=4, total=9)


def test_jobs_of_dead_processes_are_failed_at_start_and_when_read(workspace: Workspace) -> None:
    store = workspace.store
    jobs = {
        "rebooted": record("rebooted", worker(boot="00000000-0000-0000-0000-000000000000")),
        # Same pid as this process, another start time: an earlier process, gone.
        "gone": record("gone", worker(started="1"), state="queued"),
        "alive": record("alive", this_worker()),
        "elsewhere": record("elsewhere", worker(host=f"not-{socket.gethostname()}")),
        "ended": record("ended", worker(started="1"), state="done"),
    }
    for job in jobs.values():
        store.add_job(job, keep_finished=10)
    server = Jobs(Workspaces(workspace.home))
    try:

        def state(job_id: str) -> tuple[str, str | None, int]:
            found = store.get_job(job_id, "ops")
            assert found is not None
            return found.state, found.error, found.done

        assert state("rebooted") == state("gone") == ("failed", RESTARTED, 4)
        assert state("alive") == state("elsewhere") == ("running", None, 4)
        assert state("ended") == ("done", None, 4)
        # A job whose process dies while this worker runs is failed when read.
        store.add_job(record("later", worker(started="1")), keep_finished=10)
        read = server.get("ops", "later")
        assert (read.state, read.error) == ("failed", RESTARTED)
        assert server.get("ops", "alive").state == "running"
    finally:
        server.shutdown()
        server.workspaces.close()


def test_a_job_of_a_killed_server_is_failed_when_the_server_is_back(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    workspace = new_workspace(home, built_gazetteer)
    secret = workspace.accounts.create_token(
        workspace.operator(), "ops", timedelta(days=1), "write"
    )[1]
    workspace.close()
    headers = {"Authorization": f"Bearer {secret}"}
    files = [
        ("files", (f"patrol-{i}.txt", f"NATO UNCLASSIFIED\nPatrol {i} saw nothing near "
                   "Valga.\nNATO UNCLASSIFIED".encode(), "text/plain"))
        for i in range(300)
    ]  # fmt: skip
    server, url = start_serve(home)
    try:
        started = httpx.post(
            f"{url}/api/ingest", headers=headers, files=files, data={"background": "true"},
            timeout=300,
        )  # fmt: skip
        assert started.status_code == 202, started.text
        location = started.headers["location"]

        def job() -> dict[str, Any]:
            answer = httpx.get(f"{url}{location}", headers=headers, timeout=300)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()["job"]
            return found

        while job()["progress"]["done"] == 0:
            time.sleep(0.2)  # until the ingest has begun
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.communicate(timeout=60)
    server, url = start_serve(home)
    try:
        after = job()
    finally:
        server.terminate()
        server.communicate(timeout=60)
    assert (after["state"], after["error"]) == ("failed", RESTARTED)
    assert 0 < after["progress"]["done"] < 300 and after["result"] is None
