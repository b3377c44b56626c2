"""Executors: where the pure part of an ingest or enrichment batch is computed.

    client: the process that holds the store            compute: pure, anywhere
    parse → prepare → decide (reads the store) ── batch ──▶ embed(passages)
                                                            Enricher.enrich_batch(texts)
    store each batch once, in submission order ◀── vectors, entities, events

The pipeline (pipeline/ingest.py) decides every batch against the store on the
client, hands its pure part to an executor with `submit`, and stores results
strictly in submission order, at most `lookahead` batches behind. Workers
never open the store and a result is only data: a worker lost mid-run costs a
recomputation of its batch, never a lost or doubled write.

- `LocalStagedExecutor`, this machine (`--executor local`): the first batch
  runs here (`LocalExecutor`), every later one on `LocalPoolExecutor`, so an
  ingest of a few files starts no worker.
- `LocalPoolExecutor`: one worker process
  per core (at most 4) computes whole batches, embedding and enrichment, and
  batches go to whichever worker is free; each worker builds its Enricher from
  the workspace folder as a Dask worker does. Both cores then share both heavy
  stages whichever is the heavier, and the command's own work (parsing,
  decisions, writes) fits beside them (benchmarks/ingest.py measured it
  against the next executor). Threads would not do: the encoder's tokenizer is
  pure Python and spaCy holds the GIL for most of its work.
- `LocalExecutor`, for callers that hold an Enricher (and machines with one
  core): the sentence encoder runs in one side process while enrichment runs
  on the calling thread.
- `DaskExecutor`, a Dask distributed cluster: one started in this process
  (`--executor dask`, one worker process per core) or a running scheduler
  (`--executor dask://host:port`). Each worker process loads its Enricher (spaCy
  pipelines, gazetteer) once per workspace and keeps it (`enricher_for`); the
  workspace folder must be at the same path on every worker (a shared disk).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import multiprocessing
import os
import pickle
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from guetteur._exceptions import GuetteurError, InvalidInputError
from guetteur.cyber.attack import Catalogue, TechniqueMapper
from guetteur.enrich.embeddings import embed
from guetteur.pipeline.enrichment import GAZETTEER_FILE, LEXICON_DIR, Enricher, Enrichment

__all__ = [
    "BatchResult",
    "BatchWork",
    "DaskExecutor",
    "EnrichmentRecipe",
    "Executor",
    "LocalExecutor",
    "LocalPoolExecutor",
    "LocalStagedExecutor",
    "Pending",
    "compute_batch",
    "enricher_for",
    "local_workers",
    "open_executor",
]

LOCAL_LOOKAHEAD = 2  # batches computed ahead of the one being stored
DASK_SCHEME = "dask"
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class BatchWork:
    """The pure part of one batch: passages to embed, documents to enrich."""

    passages: Sequence[str]
    texts: Sequence[str]
    languages: Sequence[str]
    anchors: Sequence[datetime | None]


@dataclass(frozen=True)
class BatchResult:
    vectors: npt.NDArray[np.float32]  # one row per passage, in order
    enrichments: list[Enrichment]  # one per text, in order (empty ones without an Enricher)


class Pending(Protocol):
    def result(self) -> BatchResult:
        """Wait for the batch's result (computing it now, for the local executor's part)."""
        ...


def compute_batch(work: BatchWork, enricher: Enricher | None) -> BatchResult:
    """Embed and enrich one batch (pure: the same work gives the same result anywhere)."""
    return BatchResult(embed(work.passages), _enrichments(work, enricher))


def _enrichments(work: BatchWork, enricher: Enricher | None) -> list[Enrichment]:
    if enricher is None or not work.texts:
        return [Enrichment((), ()) for _ in work.texts]
    return enricher.enrich_batch(work.texts, work.languages, work.anchors)


class Executor(ABC):
    """Computes batches' pure parts; the caller stores results in submission order."""

    #: How many submitted batches may wait unstored (bounds memory and in-flight work).
    lookahead: int = LOCAL_LOOKAHEAD

    @abstractmethod
    def submit(self, work: BatchWork) -> Pending:
        """Start computing `work`; the result is read with `Pending.result()`."""

    @abstractmethod
    def close(self) -> None:
        """Release workers started for this executor."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------- local
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent(parent: int) -> None:
    """A worker's initializer: end when the process that started it ends.

    Its task queue is a pipe the worker holds both ends of, so a parent killed
    with SIGKILL (or by the OOM killer) would leave it waiting for ever,
    holding spaCy and the encoder (about 670 MB). Linux sends it SIGTERM
    instead; elsewhere it stays as before.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


class _SharedPool:
    """Worker processes shared by every executor of this process that uses them
    (a server runs many ingests): started on first need, left running, ended at
    exit or with this process, replaced when broken."""

    def __init__(self, workers: Callable[[], int]) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: a fork of a process running threads (a server, Dask) may deadlock.
                self._pool = ProcessPoolExecutor(
                    self._workers(),
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_end_with_parent,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def broken(self, pool: ProcessPoolExecutor) -> None:
        """Forget `pool` (its worker died): the next `get` starts another."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


# One process embeds for every LocalExecutor of this process.
_side = _SharedPool(lambda: 1)


@dataclass
class _LocalPending:
    work: BatchWork
    enricher: Enricher | None
    vectors: Future[npt.NDArray[np.float32]] | None
    pool: ProcessPoolExecutor | None

    def result(self) -> BatchResult:
        # Enrichment runs here, on the caller's thread, while the side process
        # embeds this batch or the next ones.
        enrichments = _enrichments(self.work, self.enricher)
        if self.vectors is None or self.pool is None:
            return BatchResult(embed(self.work.passages), enrichments)
        try:
            vectors = self.vectors.result()
        except BrokenProcessPool:
            # The side process died (killed, out of memory): embed here, and
            # start a new one for the next run.
            _side.broken(self.pool)
            vectors = embed(self.work.passages)
        return BatchResult(vectors, enrichments)


class LocalExecutor(Executor):
    """This machine: embedding in a side process, enrichment on the calling thread.

    `overlap=False` computes both stages one after the other on the calling
    thread (benchmarks/ingest.py's baseline).
    """

    def __init__(self, enricher: Enricher | None, overlap: bool = True) -> None:
        self.enricher = enricher
        self.overlap = overlap
        self.lookahead = LOCAL_LOOKAHEAD if overlap else 0

    def submit(self, work: BatchWork) -> Pending:
        if not self.overlap or not work.passages:
            return _LocalPending(work, self.enricher, None, None)
        pool = _side.get()
        try:
            vectors = pool.submit(embed, list(work.passages))
        except BrokenProcessPool:
            _side.broken(pool)
            return _LocalPending(work, self.enricher, None, None)
        return _LocalPending(work, self.enricher, vectors, pool)

    def close(self) -> None:
        """Nothing to release: the side process serves this process's next runs."""


# ------------------------------------------ worker processes (local pool, Dask)
@dataclass(frozen=True)
class EnrichmentRecipe:
    """What a worker needs to build the workspace's Enricher without opening the store.

    Equal recipes give equal Enrichers: the lexicon's stamp and the ATT&CK
    catalogue's digest change when a user changes either, so a long-lived
    worker rebuilds its cached Enricher for the next run.
    """

    home: Path
    cache_dir: Path  # the workspace's derived files (ATT&CK technique vectors)
    lexicon_stamp: tuple[tuple[str, int, int], ...]
    catalogue_digest: str | None  # None: no ATT&CK catalogue imported

    @classmethod
    def of(
        cls, home: Path, cache_dir: Path, catalogue: Sequence[Mapping[str, Any]]
    ) -> EnrichmentRecipe:
        digest = None
        if catalogue:
            encoded = json.dumps(list(catalogue), sort_keys=True, default=str).encode("utf-8")
            digest = hashlib.sha256(encoded).hexdigest()
        return cls(home, cache_dir, _lexicon_stamp(home / LEXICON_DIR), digest)


def _lexicon_stamp(lexicon: Path) -> tuple[tuple[str, int, int], ...]:
    if not lexicon.exists():
        return ()
    files = [lexicon] if lexicon.is_file() else sorted(p for p in lexicon.rglob("*") if p.is_file())
    stamp = []
    for path in files:
        status = path.stat()
        stamp.append((str(path.relative_to(lexicon.parent)), status.st_size, status.st_mtime_ns))
    return tuple(stamp)


# Per worker process: the Enricher of each workspace, with the recipe it was built
# from; the most recently used last, and only the last WORKER_ENRICHERS kept (each
# holds its own spaCy pipelines: a long-lived worker serves many workspaces).
WORKER_ENRICHERS = 2
_enrichers: dict[Path, tuple[EnrichmentRecipe, Enricher, threading.Lock]] = {}
_enrichers_lock = threading.Lock()


def enricher_for(
    recipe: EnrichmentRecipe, catalogue: Sequence[Mapping[str, Any]] | None
) -> tuple[Enricher, threading.Lock]:
    """This process's Enricher for `recipe` (built on first need, then kept), and the
    lock that serialises its use (spaCy pipelines are not shared between threads)."""
    with _enrichers_lock:
        held = _enrichers.pop(recipe.home, None)
        if held is None or held[0] != recipe:
            techniques = _technique_mapper(recipe, catalogue) if catalogue else None
            held = (recipe, Enricher(recipe.home, techniques=techniques), threading.Lock())
        _enrichers[recipe.home] = held
        while len(_enrichers) > WORKER_ENRICHERS:
            del _enrichers[next(iter(_enrichers))]
        return held[1], held[2]


def _technique_mapper(
    recipe: EnrichmentRecipe, catalogue: Sequence[Mapping[str, Any]]
) -> Callable[[], TechniqueMapper | None]:
    records = [dict(record) for record in catalogue]

    def build() -> TechniqueMapper | None:
        return TechniqueMapper(Catalogue.from_records(records), cache_dir=recipe.cache_dir)

    return build


def _compute_on_worker(
    work: BatchWork,
    recipe: EnrichmentRecipe | None,
    catalogue: Sequence[Mapping[str, Any]] | None,
) -> BatchResult:
    """The task of one batch on a worker process (a module-level function: workers
    import it)."""
    if recipe is None:
        return compute_batch(work, None)
    enricher, lock = enricher_for(recipe, catalogue)
    with lock:
        return compute_batch(work, enricher)


# ------------------------------------------------------------ local, pooled
LOCAL_MAX_WORKERS = 4  # each holds spaCy and the encoder; the writes limit beyond


def local_workers() -> int:
    """Worker processes of the local pool: one per core this process may use, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, LOCAL_MAX_WORKERS))


# Worker processes that compute whole batches, for every LocalPoolExecutor of
# this process.
_pool = _SharedPool(local_workers)


def _compute_pooled(
    work: BatchWork, recipe: EnrichmentRecipe | None, catalogue: bytes | None
) -> BatchResult:
    """One batch on a pool worker. The ATT&CK catalogue comes pickled with every batch
    and is read only by a worker building its Enricher (about 70 ms for 700 techniques)."""
    records = None
    if recipe is not None and catalogue is not None:
        with _enrichers_lock:
            held = _enrichers.get(recipe.home)
        if held is None or held[0] != recipe:
            records = pickle.loads(catalogue)  # noqa: S301 - pickled by this program's client
    return _compute_on_worker(work, recipe, records)


@dataclass
class _PooledPending:
    executor: LocalPoolExecutor
    work: BatchWork
    future: Future[BatchResult]
    pool: ProcessPoolExecutor

    def result(self) -> BatchResult:
        try:
            return self.future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the batches it held are
            # computed again on a new pool; the ones stored before are kept.
            _pool.broken(self.pool)
        pool = _pool.get()
        try:
            return self.executor.start(pool, self.work).result()
        except BrokenProcessPool:
            _pool.broken(pool)
            raise GuetteurError(
                "the local worker processes died twice computing one batch (out of memory?); "
                "the batches before it are stored: run the same command again for the rest"
            ) from None


class LocalPoolExecutor(Executor):
    """This machine: whole batches (embedding and enrichment) on worker processes, one
    per core, each building its Enricher from `recipe` as a Dask worker does.

    Both cores then share both stages, whichever is the heavier one; a run
    that only enriches (reindex) uses them all too.
    """

    def __init__(
        self, recipe: EnrichmentRecipe | None, catalogue: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        self.recipe = recipe
        sent = recipe is not None and bool(catalogue)
        self._catalogue = pickle.dumps(list(catalogue)) if sent else None
        self.lookahead = 2 * local_workers()

    def start(self, pool: ProcessPoolExecutor, work: BatchWork) -> Future[BatchResult]:
        return pool.submit(_compute_pooled, work, self.recipe, self._catalogue)

    def submit(self, work: BatchWork) -> Pending:
        pool = _pool.get()
        try:
            future = self.start(pool, work)
        except BrokenProcessPool:
            _pool.broken(pool)
            pool = _pool.get()
            future = self.start(pool, work)
        return _PooledPending(self, work, future, pool)

    def close(self) -> None:
        """Nothing to release: the workers serve this process's next runs."""


class LocalStagedExecutor(Executor):
    """`--executor local` on two cores or more: the first batch in this process
    (`LocalExecutor`), every later one on the worker pool (`LocalPoolExecutor`).

    A pool worker loads spaCy, the gazetteer and the encoder before its first
    batch: seconds that an ingest of a few files (one batch) does not repay,
    and memory (about 670 MB a worker) that it need not take. A larger run
    starts the pool with its second batch; the first overlaps the pool's start.
    """

    def __init__(self, here: Callable[[], Executor], pool: Callable[[], Executor]) -> None:
        self._make_here, self._make_pool = here, pool
        self._here: Executor | None = None
        self._pool: Executor | None = None
        self.lookahead = 2 * local_workers()

    def submit(self, work: BatchWork) -> Pending:
        if self._here is None:
            self._here = self._make_here()
            return self._here.submit(work)
        if self._pool is None:
            self._pool = self._make_pool()
        return self._pool.submit(work)

    def close(self) -> None:
        for started in (self._here, self._pool):
            if started is not None:
                started.close()


# ---------------------------------------------------------------------- Dask
class _DaskPending:
    def __init__(self, future: Any, where: str) -> None:
        self.future = future
        self.where = where

    def result(self) -> BatchResult:
        distributed = _distributed()
        try:
            result: BatchResult = self.future.result()
        except distributed.KilledWorker as error:
            raise GuetteurError(
                f"{self.where}: the workers computing a batch died repeatedly ({error}); "
                "the batches before it are stored: run the same command again for the rest"
            ) from None
        except (distributed.comm.CommClosedError, CancelledError) as error:
            raise GuetteurError(
                f"{self.where}: the Dask cluster went away ({_first_line(error)}); "
                "the batches before it are stored: run the same command again for the rest"
            ) from None
        return result


class DaskExecutor(Executor):
    """Batches computed on a Dask distributed cluster; results come back to the client.

    `address` None starts a LocalCluster in this process with `workers` worker
    processes (default: one per core), closed with the executor; otherwise
    `address` is a scheduler's (tcp://host:port).
    """

    def __init__(
        self,
        address: str | None,
        recipe: EnrichmentRecipe | None,
        catalogue: Sequence[Mapping[str, Any]] = (),
        workers: int | None = None,
    ) -> None:
        distributed = _distributed()
        self._cluster: Any = None
        self._futures: list[Any] = []
        self.where = address or "dask (local cluster)"
        if address is None:
            self._cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,  # the dashboard needs bokeh, which we do not ship
                memory_limit=0,  # spaCy and the encoder are large; the machine decides
            )
            self._client = distributed.Client(self._cluster)
        else:
            try:
                self._client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as error:
                raise InvalidInputError(
                    f"--executor dask://{address.removeprefix('tcp://')}: no Dask scheduler "
                    f"answers at {address} ({_first_line(error)}); start one there with "
                    "`dask scheduler`, or use `--executor dask` for a cluster on this machine"
                ) from None
        self.recipe = recipe
        if recipe is not None:
            self._check_workers_see(recipe.home)
        self._catalogue: Any = None
        if recipe is not None and catalogue:
            # Sent once to every worker, not with each batch.
            self._catalogue = self._client.scatter(list(catalogue), broadcast=True, hash=False)
        threads = sum(self._client.nthreads().values()) or 1
        self.lookahead = 2 * threads

    def _check_workers_see(self, home: Path) -> None:
        """Refuse a cluster whose workers cannot read the workspace's gazetteer at this path
        (workers building it each on their own would race)."""
        seen = self._client.run(_sees_gazetteer, str(home / GAZETTEER_FILE))
        blind = sorted(address for address, ok in seen.items() if not ok)
        if blind:
            self.close()
            raise InvalidInputError(
                f"{self.where}: the workers {', '.join(blind)} cannot read "
                f"{home / GAZETTEER_FILE}: the workspace folder must be at the same path "
                "on every worker (a shared disk), its gazetteer built (any ingest builds it)"
            )

    @property
    def client(self) -> Any:
        """The Dask client (tests reach the cluster's workers through it)."""
        return self._client

    def submit(self, work: BatchWork) -> Pending:
        future = self._client.submit(
            _compute_on_worker, work, self.recipe, self._catalogue, pure=False
        )
        self._futures = [f for f in self._futures if not f.done()] + [future]
        return _DaskPending(future, self.where)

    def close(self) -> None:
        if self._futures:
            self._client.cancel(self._futures)
            self._futures = []
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _sees_gazetteer(path: str) -> bool:
    return Path(path).is_file()


def _distributed() -> Any:
    """The `distributed` package, imported when a Dask executor is asked for (it is slow
    to import and has no type information)."""
    import distributed

    return distributed


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def open_executor(
    spec: str,
    local_enricher: Callable[[], Enricher | None],
    recipe: Callable[[], tuple[EnrichmentRecipe, Sequence[Mapping[str, Any]]]],
) -> Executor:
    """The executor named by `--executor`: `local`, `dask` or `dask://host:port`.

    `local_enricher` gives this process's Enricher (or None for none), used on a
    machine with one core; `recipe` what worker processes (the local pool's,
    Dask's) need to build their own. Either is called only when used.
    """
    chosen = spec.strip()
    if chosen == "local":
        if local_workers() < 2:
            return LocalExecutor(local_enricher())

        def pool() -> Executor:
            made, catalogue = recipe()
            return LocalPoolExecutor(made, catalogue)

        return LocalStagedExecutor(lambda: LocalExecutor(local_enricher()), pool)
    if chosen == DASK_SCHEME:
        made, catalogue = recipe()
        return DaskExecutor(None, made, catalogue)
    if chosen.startswith(f"{DASK_SCHEME}://"):
        target = chosen.removeprefix(f"{DASK_SCHEME}://")
        if not target or ":" not in target:
            raise InvalidInputError(
                f"--executor {spec}: a Dask scheduler is named host:port "
                "(e.g. dask://10.0.0.5:8786)"
            )
        made, catalogue = recipe()
        return DaskExecutor(f"tcp://{target}", made, catalogue)
    raise InvalidInputError(
        f"--executor {spec}: unknown executor; use local, dask, or dask://host:port"
    )
