"""Executors: the same ingest on this machine's worker processes and on a Dask cluster.

The Dask tests run a real LocalCluster of two worker processes (bounded: a few
documents, small batches, a timeout on every result) and kill one worker while
the run goes on: the store must hold every document exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from guetteur._exceptions import InvalidInputError
from guetteur.pipeline import executors
from guetteur.pipeline import ingest as ingest_module
from guetteur.pipeline.executors import (
    BatchResult,
    BatchWork,
    DaskExecutor,
    EnrichmentRecipe,
    LocalExecutor,
    LocalPoolExecutor,
    LocalStagedExecutor,
    Pending,
    open_executor,
)
from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

from conftest import SCENARIO, new_workspace, seed_gazetteer

distributed = pytest.importorskip("distributed")

RESULT_TIMEOUT_S = 240


def scenario_reports(folder: Path, count: int) -> Path:
    """`count` distinct reports of the scenario (a variant line after each banner)."""
    texts = [
        p.read_text(encoding="utf-8")
        for p in sorted((SCENARIO / "reports").rglob("*"))
        if p.suffix in {".txt", ".md"}
    ]
    folder.mkdir(parents=True)
    for n in range(count):
        lines = texts[n % len(texts)].splitlines()
        lines.insert(1, f"Copy {n} of the exercise corpus.")
        (folder / f"r{n:03}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def recipe_of(workspace: Workspace) -> tuple[EnrichmentRecipe, list[dict[str, Any]]]:
    catalogue = workspace.store.attack_catalogue()
    return EnrichmentRecipe.of(workspace.home, workspace.home / "cache", catalogue), catalogue


def held(workspace: Workspace) -> dict[str, Any]:
    """What a reader notices of a workspace: documents, passages, entities, search hits.

    Documents are named by their file (ids are keyed per workspace)."""
    ops = workspace.user()
    stats = workspace.stats(ops)
    name = {d.id: Path(d.origin).name for d in workspace.store.iter_documents(ops.clearance)}
    return {
        "documents": stats.documents,
        "passages": stats.chunks,
        "files": sorted(name.values()),
        "entities": sorted(
            (e.type, e.name, e.mentions, e.documents) for e in workspace.entities(ops)
        ),
        "found": [
            (name[r.id], round(r.score, 5)) for r in workspace.search(ops, "convoy near Narva")
        ],
    }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded worker processes, as `--executor dask` starts on two cores."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=0,
    ) as local:
        yield local


class _TimedPending:
    def __init__(self, pending: Any, timeout: float) -> None:
        self.pending = pending
        self.timeout = timeout

    def result(self) -> BatchResult:
        result: BatchResult = self.pending.future.result(timeout=self.timeout)
        return result


class BoundedDask(DaskExecutor):
    """A DaskExecutor whose results fail the test instead of hanging it."""

    def submit(self, work: BatchWork) -> Pending:
        return _TimedPending(super().submit(work), RESULT_TIMEOUT_S)


class KillingDask(BoundedDask):
    """Kills a busy worker's process once the first batch's result is back."""

    killed: str | None = None

    def submit(self, work: BatchWork) -> Pending:
        inner = super().submit(work)
        executor = self

        class Killing:
            def result(self) -> BatchResult:
                result = inner.result()
                if executor.killed is None:
                    executor.killed = executor.kill_a_busy_worker()
                return result

        return Killing()

    def kill_a_busy_worker(self) -> str:
        """Kill a worker computing a batch (its result is then lost with it); '' if none was."""
        processing = self.client.processing()
        busy = sorted(address for address, keys in processing.items() if keys)
        if not busy:
            return ""
        pid = self.client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        return str(busy[0])


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of two documents: a handful of files make several batches in flight."""
    monkeypatch.setattr(ingest_module, "BATCH_SIZE", 2)


# ---------------------------------------------------------------------- local
def test_same_content_in_batches_still_in_flight_is_decided_as_if_stored_one_by_one(
    workspace: Workspace, tmp_path: Path, small_batches: None
) -> None:
    # Batches of two, two batches computed ahead: the second copy arrives while
    # the batch holding the first one is not stored yet.
    text = "NATO RESTRICTED\nConvoy of 12 trucks seen near Narva at dawn.\nNATO RESTRICTED\n"
    folder = tmp_path / "in"
    folder.mkdir()
    bodies = [text, "NATO RESTRICTED\nA bridge north of Tapa is closed.\nNATO RESTRICTED\n"]
    bodies += [text, "NATO RESTRICTED\nFuel depot hit at Rakvere.\nNATO RESTRICTED\n", text]
    for n, body in enumerate(bodies):
        (folder / f"{n}.txt").write_text(body, encoding="utf-8")
    report = workspace.ingest(workspace.user(), [folder], source="s")
    assert (report.ingested, report.duplicates, report.raised, report.failed) == (3, 2, 0, [])
    assert workspace.stats(workspace.user()).documents == 3
    assert workspace.verify_audit()[0] > 0  # raises if the chain is broken


def test_every_local_executor_stores_what_one_stage_after_the_other_stores(
    tmp_path: Path, built_gazetteer: Path, small_batches: None
) -> None:
    corpus = scenario_reports(tmp_path / "in", 6)
    results = []
    for name in ("sequential", "side process", "pool"):
        ws = new_workspace(tmp_path / name, built_gazetteer)
        options = ingest_module.IngestOptions(
            source="s", marking=parse_marking("NATO UNCLASSIFIED"), actor="ops"
        )
        executor = (
            LocalPoolExecutor(*recipe_of(ws))
            if name == "pool"
            else LocalExecutor(ws.enricher, overlap=name == "side process")
        )
        with executor:
            report = ingest_module.ingest_paths(ws.store, [corpus], options, executor=executor)
            assert (report.ingested, report.failed) == (6, [])
            results.append(held(ws))
            assert ingest_module.reindex(ws.store, executor) == 6
        results.append(held(ws))
        ws.close()
    assert all(result == results[0] for result in results)


def test_local_means_a_pool_of_worker_processes_and_an_enricher_here_on_one_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = EnrichmentRecipe(tmp_path, tmp_path / "cache", (), None)
    enricher = object()
    chosen = open_executor("local", lambda: enricher, lambda: (recipe, []))  # type: ignore[arg-type,return-value]
    if executors.local_workers() > 1:
        # The first batch here, the rest on the pool.
        assert isinstance(chosen, LocalStagedExecutor)
        here, pool = chosen._make_here(), chosen._make_pool()  # noqa: SLF001
        assert isinstance(here, LocalExecutor) and here.enricher is enricher
        assert isinstance(pool, LocalPoolExecutor) and pool.recipe == recipe
    monkeypatch.setattr(executors, "local_workers", lambda: 1)
    chosen = open_executor("local", lambda: enricher, lambda: (recipe, []))  # type: ignore[arg-type,return-value]
    assert isinstance(chosen, LocalExecutor) and chosen.enricher is enricher


def assert_stored_once(
    report: ingest_module.IngestReport, run: Workspace, local: Workspace
) -> None:
    """A run that lost a worker stored what a local run stores: every document once,
    the duplicate reported, and each document's write audited once."""
    assert (report.ingested, report.duplicates, report.raised, report.failed) == (10, 1, 0, [])
    assert len(report.doc_ids) == len(set(report.doc_ids)) + 1  # the duplicate's id, twice
    assert held(run) == held(local)
    # The chain is intact (this raises otherwise) and records each document's write once.
    assert run.verify_audit()[0] > 0
    written = [
        doc_id
        for row in run.store.audit_rows()
        if row.action == "ingest.batch"
        for doc_id in row.detail["doc_ids"]
    ]
    ops = run.user()
    assert sorted(written) == sorted(d.id for d in run.store.iter_documents(ops.clearance))


class KillingPool(LocalPoolExecutor):
    """Kills a worker process of the pool once the first batch's result is back."""

    killed: int | None = None

    def submit(self, work: BatchWork) -> Pending:
        inner = super().submit(work)
        executor = self

        class Killing:
            def result(self) -> BatchResult:
                result = inner.result()
                if executor.killed is None:
                    pool = executors._pool.get()  # noqa: SLF001
                    process = next(iter(pool._processes.values()))  # noqa: SLF001
                    executor.killed = process.pid
                    process.kill()
                    process.join()
                return result

        return Killing()


def test_a_pool_worker_killed_mid_run_loses_nothing_and_doubles_nothing(
    tmp_path: Path, built_gazetteer: Path, small_batches: None
) -> None:
    corpus = scenario_reports(tmp_path / "in", 10)
    (corpus / "r999.txt").write_bytes((corpus / "r001.txt").read_bytes())  # a duplicate
    local = new_workspace(tmp_path / "local", built_gazetteer)
    with LocalExecutor(local.enricher, overlap=False) as sequential:
        options = ingest_module.IngestOptions(source="s", actor="ops")
        ingest_module.ingest_paths(local.store, [corpus], options, executor=sequential)
    pooled = new_workspace(tmp_path / "pool", built_gazetteer)
    with KillingPool(*recipe_of(pooled)) as executor:
        options = ingest_module.IngestOptions(source="s", actor="ops")
        report = ingest_module.ingest_paths(pooled.store, [corpus], options, executor=executor)
        assert executor.killed  # a worker died with batches in flight
    assert_stored_once(report, pooled, local)
    local.close()
    pooled.close()


def test_a_killed_embedding_process_costs_a_recomputation_not_a_batch() -> None:
    executor = LocalExecutor(None)
    work = BatchWork(["Convoy of 12 trucks near Narva."], [], [], [])
    expected = executor.submit(work).result().vectors  # the side process is up
    for process in list(executors._side.get()._processes.values()):  # noqa: SLF001
        process.kill()
        process.join()
    assert np.allclose(executor.submit(work).result().vectors, expected, atol=1e-6)
    # and the next batch goes to a new side process
    assert np.allclose(executor.submit(work).result().vectors, expected, atol=1e-6)


_STARTS_A_SIDE_PROCESS = """
import sys
from guetteur.pipeline import executors
from guetteur.pipeline.executors import BatchWork, LocalExecutor
LocalExecutor(None).submit(BatchWork(["Convoy near Narva."], [], [], [])).result()
print(*[p.pid for p in executors._side.get()._processes.values()], flush=True)
sys.stdin.read()  # until killed
"""


def test_worker_processes_end_when_the_process_that_started_them_is_killed() -> None:
    # kill -9 of an ingest (or of a server worker, by the OOM killer) must not
    # leave its workers waiting for ever with spaCy and the encoder loaded.
    with subprocess.Popen(
        [sys.executable, "-c", _STARTS_A_SIDE_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers and all(_running(pid) for pid in workers)
        parent.kill()
    deadline = time.monotonic() + 60
    while (alive := [pid for pid in workers if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive == [], f"workers {alive} outlived their killed parent"


def _running(pid: int) -> bool:
    # An orphan that ended stays a zombie until something reaps it.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ----------------------------------------------------------------------- Dask
def test_dask_ingest_and_reindex_store_what_a_local_run_stores(
    tmp_path: Path, built_gazetteer: Path, cluster: Any, small_batches: None
) -> None:
    corpus = scenario_reports(tmp_path / "in", 6)
    local = new_workspace(tmp_path / "local", built_gazetteer)
    local_report = local.ingest(local.user(), [corpus], source="s", marking=None)
    on_dask = new_workspace(tmp_path / "dask", built_gazetteer)
    recipe, catalogue = recipe_of(on_dask)
    with BoundedDask(cluster.scheduler_address, recipe, catalogue) as executor:
        options = ingest_module.IngestOptions(
            source="s", actor="ops", clearance=on_dask.user().clearance
        )
        report = ingest_module.ingest_paths(on_dask.store, [corpus], options, executor=executor)
        assert (report.ingested, report.duplicates, report.failed) == (
            local_report.ingested,
            local_report.duplicates,
            local_report.failed,
        )
        assert held(on_dask) == held(local)
        assert ingest_module.reindex(on_dask.store, executor) == 6
    assert held(on_dask) == held(local)
    local.close()
    on_dask.close()


def test_a_worker_killed_mid_run_loses_nothing_and_doubles_nothing(
    tmp_path: Path, built_gazetteer: Path, cluster: Any, small_batches: None
) -> None:
    corpus = scenario_reports(tmp_path / "in", 10)
    # One copy of a report under another name: a duplicate, decided across batches.
    (corpus / "r999.txt").write_bytes((corpus / "r001.txt").read_bytes())
    local = new_workspace(tmp_path / "local", built_gazetteer)
    local.ingest(local.user(), [corpus], source="s")
    on_dask = new_workspace(tmp_path / "dask", built_gazetteer)
    recipe, catalogue = recipe_of(on_dask)
    with KillingDask(cluster.scheduler_address, recipe, catalogue) as executor:
        options = ingest_module.IngestOptions(
            source="s", actor="ops", clearance=on_dask.user().clearance
        )
        report = ingest_module.ingest_paths(on_dask.store, [corpus], options, executor=executor)
        assert executor.killed  # a worker died holding a batch in flight
    assert_stored_once(report, on_dask, local)
    local.close()
    on_dask.close()


# ---------------------------------------------------------------------- errors
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unknown_executor_names_what_is_accepted() -> None:
    with pytest.raises(InvalidInputError, match="--executor spark: unknown executor"):
        open_executor("spark", lambda: None, lambda: (None, []))  # type: ignore[arg-type,return-value]


def test_a_scheduler_that_does_not_answer_is_named_without_a_traceback(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    guetteur = [sys.executable, "-m", "guetteur"]
    subprocess.run(
        [*guetteur, "init", "--user", "ops", "--clearance", "NATO SECRET", "--nationality", "FRA"],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    report = tmp_path / "r.txt"
    report.write_text("NATO RESTRICTED\nConvoy near Narva.\nNATO RESTRICTED\n", encoding="utf-8")
    address = f"127.0.0.1:{unused_port()}"
    done = subprocess.run(
        [*guetteur, "ingest", str(report), "--executor", f"dask://{address}"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"dask://{address}" in done.stderr and "no Dask scheduler" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_that_cannot_read_the_workspace_folder_are_refused(
    tmp_path: Path, cluster: Any
) -> None:
    elsewhere = tmp_path / "not-on-the-workers"
    recipe = EnrichmentRecipe(elsewhere, elsewhere / "cache", (), None)
    with pytest.raises(InvalidInputError, match="must be at the same path") as caught:
        DaskExecutor(cluster.scheduler_address, recipe)
    assert str(elsewhere) in str(caught.value)
