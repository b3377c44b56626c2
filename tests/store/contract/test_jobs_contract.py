"""The server's job records on both stores (the `store` fixture runs each test on
SQLite and PostgreSQL): read by their owner only, changed until they end and
never after, cancelled through any connection, the oldest ended ones forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guetteur.store import Store
from guetteur.store.base import JobRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def job(job_id: str, owner: str = "ops", minutes: int = 0, state: str = "queued") -> JobRecord:
    return JobRecord(job_id, owner, "ingest", T0 + timedelta(minutes=minutes), state, "w1")


def test_a_job_is_read_by_its_owner_only_and_kept_as_written(store: Store) -> None:
    store.add_job(job("a1"), keep_finished=5)
    found = store.get_job("a1", "ops")
    assert found == job("a1")
    assert store.get_job("a1", "lux_nr") is None  # another's job reads as none
    assert store.get_job("nope", "ops") is None
    assert store.request_job_cancel("a1", "lux_nr") is None
    assert store.get_job("a1", "ops") == job("a1")  # and their cancel changed nothing


def test_progress_then_the_end_and_nothing_after(store: Store) -> None:
    store.add_job(job("a1"), keep_finished=5)
    assert store.update_job("a1", state="running", total=3) is False
    assert store.update_job("a1", done=2) is False
    running = store.get_job("a1", "ops")
    assert running is not None
    assert (running.state, running.done, running.total, running.version) == ("running", 2, 3, 2)
    result = {"ingested": 3, "failed": [], "note": "Narva — pont"}
    store.update_job("a1", state="done", done=3, result=result)
    ended = store.get_job("a1", "ops")
    assert ended is not None and (ended.state, ended.result, ended.error) == ("done", result, None)
    # An ended job stays as it ended: a late write, or a second ending, changes nothing.
    store.update_job("a1", state="failed", error="the server restarted while the job ran")
    assert store.get_job("a1", "ops") == ended
    assert store.unfinished_jobs() == []


def test_a_cancel_asked_on_one_connection_is_seen_on_another(store: Store) -> None:
    other: Store = type(store)(store.path)  # type: ignore[attr-defined]  # a second connection
    try:
        store.add_job(job("a1"), keep_finished=5)
        store.update_job("a1", state="running")
        asked = other.request_job_cancel("a1", "ops")
        assert asked is not None and asked.cancel_requested and asked.state == "running"
        # The running side learns it at its next progress write, and ends the job.
        assert store.update_job("a1", done=1) is True
        store.update_job("a1", state="cancelled")
        ended = other.get_job("a1", "ops")
        assert ended is not None and ended.state == "cancelled" and ended.done == 1
        # Cancelling an ended job leaves it as it ended.
        assert other.request_job_cancel("a1", "ops") == ended
    finally:
        other.close()


def test_unfinished_jobs_and_the_newest_ended_ones_kept_per_owner(store: Store) -> None:
    for minute in range(4):
        store.add_job(job(f"d{minute}", minutes=minute), keep_finished=2)
        store.update_job(f"d{minute}", state="done", result={"n": minute})
    store.add_job(job("lux", owner="lux_nr", minutes=1, state="done"), keep_finished=2)
    store.add_job(job("q", minutes=10), keep_finished=2)
    store.add_job(job("r", minutes=11), keep_finished=2)
    store.update_job("r", state="running")
    # ops keeps its two newest ended jobs and every unfinished one; lux_nr's is its own.
    kept = [j for j in ("d0", "d1", "d2", "d3", "q", "r") if store.get_job(j, "ops")]
    assert kept == ["d2", "d3", "q", "r"]
    assert store.get_job("lux", "lux_nr") is not None
    assert [(j.id, j.state) for j in store.unfinished_jobs()] == [("q", "queued"), ("r", "running")]
