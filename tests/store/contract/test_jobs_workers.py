"""Jobs under `guetteur serve --workers 2`, on SQLite and on PostgreSQL, over real HTTP.

A job runs in the worker that accepted it, and its record is in the store: the
other worker answers for it too. Each request below is sent through a chosen
worker (`Served.on`, which tells workers apart from /proc), so every step is
known to have crossed from one worker to the other: a job started through the
first is followed through both to its end and its result, cancelled through
the second while queued or running on the first, and hidden from another user
through either, in the same words as a job that does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guetteur.security.markings import parse_clearance
from guetteur.workspace import Workspace

from .test_postgres_workers import Served
from conftest import seed_gazetteer

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc to tell workers apart"
)


def note(i: int) -> tuple[str, tuple[str, bytes, str]]:
    text = f"NATO UNCLASSIFIED\nPatrol {i} reports no movement on the road to Valga.\n"
    return ("files", (f"patrol-{i}.txt", (text + "NATO UNCLASSIFIED").encode(), "text/plain"))


@pytest.fixture(params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path, built_gazetteer: Path
) -> Iterator[tuple[Served, dict[str, dict[str, Any]]]]:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    url = request.getfixturevalue("postgres").new_database() if request.param != "sqlite" else None
    workspace = Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA"), store=url)
    workspace.add_user("lux_nr", parse_clearance("NATO RESTRICTED", "LUX"), actor="ops")
    ops = workspace.operator()
    credentials = {}
    for user, scope in (("ops", "write"), ("lux_nr", "write")):
        secret = workspace.accounts.create_token(ops, user, timedelta(days=1), scope)[1]
        credentials[user] = {"headers": {"Authorization": f"Bearer {secret}"}}
    workspace.close()
    server = Served(home)
    try:
        yield server, credentials
    finally:
        server.stop()


def _ended(served: Served, worker: int, job_id: str, who: dict[str, Any]) -> dict[str, Any]:
    """The job once it ended, followed as server-sent events through `worker`."""
    answer = served.on(worker, "GET", f"/api/jobs/{job_id}/events", **who)
    assert answer.status_code == 200, answer.text
    events = [line for line in answer.text.splitlines() if line.startswith("event:")]
    assert events[-1] in ("event: done", "event: failed", "event: cancelled"), events
    final = served.on(worker, "GET", f"/api/jobs/{job_id}", **who)
    assert final.status_code == 200, final.text
    job: dict[str, Any] = final.json()["job"]
    assert events[-1] == f"event: {job['state']}"
    return job


def test_any_worker_follows_a_job_to_its_end_and_hides_it_from_others(
    served: tuple[Served, dict[str, dict[str, Any]]],
) -> None:
    server, who = served
    first, second = server.workers
    started = server.on(
        first, "POST", "/api/ingest", files=[note(i) for i in range(3)],
        data={"background": "true"}, **who["ops"],
    )  # fmt: skip
    assert started.status_code == 202, started.text
    job_id = started.json()["job"]["id"]
    assert started.headers["location"] == f"/api/jobs/{job_id}"

    # Twenty polls, each on a new connection, alternately through each worker: all find it.
    for poll in range(20):
        seen = server.on((first, second)[poll % 2], "GET", f"/api/jobs/{job_id}", **who["ops"])
        assert seen.status_code == 200, seen.text
        assert seen.json()["job"]["id"] == job_id
        assert seen.json()["job"]["state"] in ("queued", "running", "done")

    final = _ended(server, second, job_id, who["ops"])
    assert final["state"] == "done" and final["error"] is None
    assert final["result"]["ingested"] == 3 and final["result"]["failed"] == []
    assert final["progress"] == {"done": 3, "total": 3}
    assert _ended(server, first, job_id, who["ops"]) == final
    stats = server.on(first, "GET", "/api/stats", **who["ops"]).json()
    assert stats["documents"] == 3

    # Another user, through either worker, is told what an id never made is told.
    never = secrets.token_hex(10)
    for worker in (first, second):
        for method, path in (("GET", "/api/jobs/{}"), ("GET", "/api/jobs/{}/events"),
                             ("DELETE", "/api/jobs/{}")):  # fmt: skip
            theirs = server.on(worker, method, path.format(job_id), **who["lux_nr"])
            unknown = server.on(worker, method, path.format(never), **who["lux_nr"])
            assert theirs.status_code == unknown.status_code == 404
            assert theirs.text.replace(job_id, "ID") == unknown.text.replace(never, "ID")
    assert _ended(server, second, job_id, who["ops"]) == final  # their DELETE changed nothing


def test_a_job_is_cancelled_through_the_other_worker(
    served: tuple[Served, dict[str, dict[str, Any]]],
) -> None:
    server, who = served
    first, second = server.workers

    def start(files: int) -> str:
        started = server.on(
            first, "POST", "/api/ingest", files=[note(i) for i in range(files)],
            data={"background": "true"}, **who["ops"],
        )  # fmt: skip
        assert started.status_code == 202, started.text
        job_id: str = started.json()["job"]["id"]
        return job_id

    # The first worker runs one job at a time: the second waits behind the first.
    running, queued = start(300), start(5)
    for job_id in (queued, running):
        asked = server.on(second, "DELETE", f"/api/jobs/{job_id}", **who["ops"])
        assert asked.status_code == 202, asked.text
        assert asked.json()["job"]["id"] == job_id
    stopped = _ended(server, second, running, who["ops"])
    assert stopped["state"] == "cancelled" and stopped["result"] is None
    assert stopped["progress"]["total"] == 300 and stopped["progress"]["done"] < 300
    never_ran = _ended(server, second, queued, who["ops"])
    assert never_ran["state"] == "cancelled"
    assert never_ran["progress"] == {"done": 0, "total": 0}
    # What the running job stored before it stopped stays; the queued one stored nothing.
    stats = server.on(first, "GET", "/api/stats", **who["ops"]).json()
    assert 0 <= stats["documents"] < 300
