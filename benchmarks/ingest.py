"""Ingest throughput: the pipeline against its slowest stage alone, and per executor.

    .venv/bin/python benchmarks/ingest.py [--docs 10000] [--rounds 3] [--variants ...]
    .venv/bin/python benchmarks/ingest.py --executor dask --workers 1|2

Writes N variants of the scenario's reports (each with a distinct line, so
none is a duplicate) to a scratch folder and ingests them into fresh
workspaces through the full pipeline (parse, mark, grade, language, chunk,
embed, entities, places, events, store, audit), models loaded beforehand.

- `--executor local` (default): `--rounds` rounds, each timing, in turn and in
  the same process, every `--variants` pipeline (among: `sequential`, both
  stages one after the other on one core; `side process`, embedding in a side
  process while enrichment runs here; `pool`, `--executor local`: whole batches
  on one worker process per core; `dask 2`, a LocalCluster of two workers) and
  the heavy stages alone on one core on the same texts (the encoder, guetteur's
  enrichment, bare spaCy NER). The order alternates between rounds (the
  machine is shared: load varies). Prints each run, then medians of documents
  per second, of CPU seconds (this process and the workers: the work done,
  whatever share of the cores the machine gave), of each pipeline's time over
  the slower stage's and of its speed-up over `sequential` in the same round,
  the load average, and the workers' peak RSS.
- `--executor dask --workers N`: a LocalCluster of one worker process, then of
  N, on the same corpus; prints documents per second and the ratio against
  one worker.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guetteur.enrich.embeddings import embed
from guetteur.enrich.places import Gazetteer
from guetteur.ingest.registry import iter_input_files
from guetteur.pipeline import executors
from guetteur.pipeline._batching import batched
from guetteur.pipeline.enrichment import GAZETTEER_FILE, Enricher
from guetteur.pipeline.executors import (
    BatchWork,
    DaskExecutor,
    EnrichmentRecipe,
    Executor,
    LocalExecutor,
    LocalPoolExecutor,
    enricher_for,
    local_workers,
)
from guetteur.pipeline.ingest import BATCH_SIZE, EMBEDDED_CHARS, IngestOptions, ingest_paths
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenario" / "reports"


def make_corpus(folder: Path, count: int) -> None:
    texts = [
        p.read_text(encoding="utf-8")
        for p in sorted(SCENARIO.rglob("*"))
        if p.suffix in {".txt", ".md"}
    ]
    if not texts:
        sys.exit(f"no .txt/.md reports under {SCENARIO}")
    for n, text in zip(range(count), itertools.cycle(texts)):
        lines = text.splitlines()
        # Keep the banner first: insert the variant line after it.
        lines.insert(1, f"Copy {n} of the exercise corpus.")
        (folder / f"r{n:05}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


WARM_TEXT = "NATO UNCLASSIFIED\nA convoy of 12 trucks was seen near Narva at dawn.\n"


@dataclass
class Run:
    seconds: float  # wall-clock
    cpu: float  # CPU seconds of this process and of the executor's workers
    busiest: float  # CPU seconds of the busiest of those processes
    peaks: dict[str, int]  # peak RSS (MiB) of each worker process


def timed_ingest(
    home: Path, corpus: Path, count: int, executor: Callable[[Workspace], Executor]
) -> Run:
    """Time an ingest of `corpus` into a new workspace at `home`, models already loaded."""
    built = sorted(p for p in home.parent.glob(f"*/{GAZETTEER_FILE}") if p.parent != home)
    if built:  # the gazetteer index of an earlier run: building one takes a while
        home.mkdir()
        shutil.copyfile(built[0], home / GAZETTEER_FILE)
    with Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA")) as workspace:
        with executor(workspace) as running:
            pids = warm(running)
            options = IngestOptions(
                source="bench",
                marking=parse_marking("NATO UNCLASSIFIED"),
                actor="ops",
                clearance=workspace.user().clearance,
            )
            before = cpu_seconds(running, pids)
            started = time.perf_counter()
            report = ingest_paths(workspace.store, [corpus], options, executor=running)
            seconds = time.perf_counter() - started
            used = [b - a for a, b in zip(before, cpu_seconds(running, pids), strict=True)]
            peaks = peak_rss(running, pids)
    assert report.ingested == count, report.failed[:3]
    return Run(seconds, sum(used), max(used), peaks)


def warm(executor: Executor) -> list[int]:
    """Load the models wherever this executor computes; the ids of its worker processes."""
    work = BatchWork([WARM_TEXT], [WARM_TEXT, WARM_TEXT], ["en", "fr"], [None, None])
    if isinstance(executor, DaskExecutor):
        executor.client.run(_warm_worker, executor.recipe, work)
        return []
    if isinstance(executor, LocalPoolExecutor):
        # Until every worker has answered: each loads its models on its first batch.
        pool = executors._pool.get()  # noqa: SLF001 - the benchmark reaches its workers
        seen: set[int] = set()
        while len(seen) < local_workers():
            futures = [
                pool.submit(_warm_pooled, executor.recipe, work) for _ in range(local_workers())
            ]
            seen.update(f.result() for f in futures)
        return sorted(seen)
    executor.submit(work).result()
    if isinstance(executor, LocalExecutor) and executor.overlap:
        return list(executors._side.get()._processes)  # noqa: SLF001
    return []


def _warm_worker(recipe: EnrichmentRecipe | None, work: BatchWork) -> None:
    if recipe is not None:
        enricher, _ = enricher_for(recipe, None)
        enricher.enrich_batch(work.texts, work.languages, work.anchors)
    embed(work.passages)


def _warm_pooled(recipe: EnrichmentRecipe | None, work: BatchWork) -> int:
    _warm_worker(recipe, work)
    time.sleep(0.5)  # long enough for the other workers to take the other tasks
    return os.getpid()


def cpu_seconds(executor: Executor, pids: list[int]) -> list[float]:
    """CPU time used so far by this process (all its threads), then by each worker."""
    used = [time.process_time()]
    if isinstance(executor, DaskExecutor):
        return used + [float(v) for v in executor.client.run(time.process_time).values()]
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return used


def _peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def peak_rss(executor: Executor, pids: list[int]) -> dict[str, int]:
    """Peak RSS (MiB) of the worker processes, from /proc (VmHWM) or the Dask workers."""
    if isinstance(executor, DaskExecutor):
        found = executor.client.run(_peak_mib)
        return {f"worker {n + 1}": mib for n, mib in enumerate(found.values())}
    peaks = {}
    for n, pid in enumerate(pids):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[f"worker {n + 1}"] = int(line.split()[1]) // 1024
    return peaks


def dask_executor(workers: int) -> Callable[[Workspace], Executor]:
    def make(workspace: Workspace) -> Executor:
        Gazetteer.open(workspace.home / GAZETTEER_FILE).close()  # built before workers start
        recipe = EnrichmentRecipe.of(workspace.home, workspace.home / "cache", [])
        return DaskExecutor(None, recipe, workers=workers)

    return make


def local_executor(overlap: bool) -> Callable[[Workspace], Executor]:
    return lambda workspace: LocalExecutor(workspace.enricher, overlap=overlap)


def pooled_executor(workspace: Workspace) -> Executor:
    Gazetteer.open(workspace.home / GAZETTEER_FILE).close()  # built before workers start
    return LocalPoolExecutor(EnrichmentRecipe.of(workspace.home, workspace.home / "cache", []))


VARIANTS: dict[str, Callable[[Workspace], Executor]] = {
    "sequential": local_executor(overlap=False),
    "side process": local_executor(overlap=True),
    "pool": pooled_executor,
    "dask 2": dask_executor(2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--executor", choices=["local", "dask"], default="local")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--rounds", type=int, default=3, help="local: rounds of every run")
    parser.add_argument(
        "--variants",
        default="sequential,side process,pool",
        help=f"local: the pipelines to time, among {', '.join(VARIANTS)}",
    )
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}: among {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        make_corpus(corpus, args.docs)
        files = sum(1 for _ in iter_input_files([corpus]))
        print(f"documents: {args.docs} ({files} files)", flush=True)
        if args.executor == "dask":
            compare_dask(Path(scratch), corpus, args.docs, args.workers)
        else:
            compare_local(Path(scratch), corpus, args.docs, args.rounds, variants)


def show(label: str, count: int, run: Run | float) -> None:
    if isinstance(run, float):
        print(f"{label:34}: {count / run:8.1f} docs/s ({run:.1f} s)", flush=True)
        return
    print(
        f"{label:34}: {count / run.seconds:8.1f} docs/s ({run.seconds:.1f} s, "
        f"{run.cpu:.1f} CPU s, busiest process {run.busiest:.1f})",
        flush=True,
    )


def compare_dask(scratch: Path, corpus: Path, count: int, workers: int) -> None:
    counts = [1] if workers == 1 else [1, workers]
    rates = {}
    for n in counts:
        run = timed_ingest(scratch / f"dask{n}", corpus, count, dask_executor(n))
        rates[n] = count / run.seconds
        show(f"dask, {n} worker(s)", count, run.seconds)
    if workers != 1:
        print(f"ratio {workers} workers / 1 worker: {rates[workers] / rates[1]:.2f}x")


def pipeline_run(name: str, scratch: Path, corpus: Path, count: int) -> Run:
    """One timed ingest with the executor `name`, into a workspace at the same path
    every round (pool workers keep its Enricher, as they do between a user's runs)."""
    home = scratch / name
    if home.exists():
        shutil.rmtree(home)
    return timed_ingest(home, corpus, count, VARIANTS[name])


def stage_runs(scratch: Path, variant: str, bare_pipelines: dict[str, Any]) -> dict[str, Run]:
    """The heavy stages alone, in this process on one core, on what `variant` stored:
    embedding (the pipeline's batches, enrich/embeddings.py), enrichment (Enricher,
    the pipeline's batches) and bare spaCy NER."""
    with Workspace.open(scratch / variant) as workspace:
        documents = list(workspace.store.documents_for_maintenance())
        passages_by_doc: dict[str, list[str]] = {}
        for doc_id, passage in workspace.store._db.execute(  # type: ignore[attr-defined]  # noqa: SLF001
            "SELECT c.doc_id, substr(d.text, c.start + 1, c.end - c.start) FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id ORDER BY c.id"
        ):
            passages_by_doc.setdefault(doc_id, []).append(passage[:EMBEDDED_CHARS])
        enricher = Enricher(workspace.home)
        enricher.enrich_batch([WARM_TEXT, WARM_TEXT], ["en", "fr"], [None, None])
        embed([WARM_TEXT])

        def embedding() -> None:
            for batch in batched(iter(documents), BATCH_SIZE):
                embed([p for d in batch for p in passages_by_doc.get(d.id, [])])

        def enrichment() -> None:
            for batch in batched(iter(documents), BATCH_SIZE):
                enricher.enrich_batch(
                    [d.text for d in batch],
                    [d.language for d in batch],
                    [d.reported_at or d.ingested_at for d in batch],
                )

        texts = [(d.text, d.language) for d in documents]
        return {
            "embedding alone": timed(embedding),
            "enrichment alone": timed(enrichment),
            "bare spaCy NER alone": timed(lambda: bare_spacy(texts, bare_pipelines)),
        }


def timed(stage: Callable[[], None]) -> Run:
    cpu, started = time.process_time(), time.perf_counter()
    stage()
    used = time.process_time() - cpu
    return Run(time.perf_counter() - started, used, used, {})


def compare_local(
    scratch: Path, corpus: Path, count: int, rounds: int, variants: list[str]
) -> None:
    """`rounds` rounds, each running every variant, then the stages alone."""
    runs: dict[str, list[Run]] = {}
    ratios: dict[str, list[float]] = {}
    loads: list[float] = []
    bare_pipelines = load_bare_pipelines()
    for round_ in range(rounds):
        # Interleaved: the stages alone last in even rounds, first in odd ones (on
        # what the previous round stored), the pipelines in turn in reverse order.
        order = variants if round_ % 2 == 0 else variants[::-1]
        steps = [*order, "stages"] if round_ % 2 == 0 else ["stages", *order]
        this_round: dict[str, Run] = {}
        for step in steps:
            if step == "stages":
                for stage, run in stage_runs(scratch, variants[0], bare_pipelines).items():
                    this_round[stage] = run
                    loads.append(os.getloadavg()[0])
                    show(f"round {round_ + 1}: {stage}", count, run)
                continue
            this_round[step] = pipeline_run(step, scratch, corpus, count)
            loads.append(os.getloadavg()[0])
            show(f"round {round_ + 1}: {step}", count, this_round[step])
        slowest = max(this_round["embedding alone"].seconds, this_round["enrichment alone"].seconds)
        for name, run in this_round.items():
            runs.setdefault(name, []).append(run)
            ratios.setdefault(f"{name}: time / slower stage's", []).append(run.seconds / slowest)
            if "sequential" in this_round and name in variants:
                ratios.setdefault(f"{name}: speed-up over sequential", []).append(
                    this_round["sequential"].seconds / run.seconds
                )
    print(
        f"\nmedians of {rounds} round(s), {count} documents; load average (1 min) after "
        f"each run: median {statistics.median(loads):.1f}, {min(loads):.1f} to {max(loads):.1f}"
    )
    for name, done in runs.items():
        seconds = statistics.median(r.seconds for r in done)
        cpu = statistics.median(r.cpu for r in done)
        busiest = statistics.median(r.busiest for r in done)
        print(
            f"{name:22}: {count / seconds:6.1f} docs/s ({seconds:.1f} s; CPU {cpu:.1f} s, "
            f"busiest process {busiest:.1f} s)"
        )
    print(
        "\non two idle cores a run takes at least max(busiest process, CPU / 2) "
        "(the stages alone: their CPU seconds):"
    )
    stage_cpu = {name: statistics.median(r.cpu for r in done) for name, done in runs.items()}
    slower = max(stage_cpu["embedding alone"], stage_cpu["enrichment alone"])
    for name in variants:
        done = runs[name]
        bound = statistics.median(max(r.busiest, r.cpu / 2) for r in done)
        print(f"{name:22}: {bound:.1f} s, {bound / slower:.2f}x the slower stage's CPU seconds")
    for name, values in ratios.items():
        spread = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:44}: {statistics.median(values):.2f}x  ({spread})")
    for name, done in runs.items():
        peaks = {p: max(r.peaks[p] for r in done) for p in done[0].peaks}
        if peaks:
            print(f"peak RSS, {name}: " + ", ".join(f"{p} {m} MiB" for p, m in peaks.items()))
    print(f"peak RSS of this process (every model, several times): {_peak_mib()} MiB")


def load_bare_pipelines() -> dict[str, Any]:
    """The spaCy pipelines guetteur runs (NER only: enrich/entities.py), loaded bare."""
    from guetteur.enrich.entities import _load_pipeline

    return {"fr": _load_pipeline("fr"), "en": _load_pipeline("en")}


def bare_spacy(texts: list[tuple[str, str]], pipelines: dict[str, Any]) -> None:
    """The spaCy pipelines alone, on the same documents."""
    for language in ("fr", "en"):
        nlp = pipelines[language]
        chosen = [t for t, lang in texts if (lang == "fr") == (language == "fr")]
        for _ in nlp.pipe(chosen, batch_size=32):
            pass


if __name__ == "__main__":
    main()
