"""What a store write costs: search_scale.py's corpus stored through add_documents.

    .venv/bin/python benchmarks/store_writes.py [--passages 40000]

Prints the passages stored per second of this process's CPU time (the
SQLite store, vectors computed beforehand), so other programs' load counts
little. To compare two versions of the store, run it from each checkout with
the same --passages (README, "Search at scale": packed postings).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from guetteur.store.sqlite import SQLiteStore
from search_scale import PASSAGES_PER_DOCUMENT, batches, sentence_vectors, sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=40_000)
    parser.add_argument("--vectors", type=Path, help="a folder to keep the sentence vectors in")
    options = parser.parse_args()
    pool = sentences()
    vectors = sentence_vectors(pool, options.vectors)
    with tempfile.TemporaryDirectory(prefix="guetteur-writes-") as folder:
        store = SQLiteStore(Path(folder) / "bench.db")
        cpu = wall = 0.0
        stored = 0
        documents = options.passages // PASSAGES_PER_DOCUMENT
        for batch in batches(0, documents, pool, vectors, 0, False):
            started, started_cpu = time.perf_counter(), time.process_time()
            store.add_documents(batch)
            wall += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
            stored += sum(len(item.chunks) for item in batch)
        store.close()
    print(
        f"{stored} passages: {cpu:.1f} s CPU, {wall:.1f} s wall, "
        f"{stored / cpu:.0f} passages a second of CPU"
    )


if __name__ == "__main__":
    main()
