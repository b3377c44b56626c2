"""Approximate vector search for the SQLite store: sign bits per marking, rescored exactly.

Brute-force cosine over every readable passage costs about 400 ms at a million
passages. Here each passage's embedding is also kept as its sign bits (512
dimensions, 64 bytes) in `passage_bits`, written by triggers on `chunks`
(schema 13), so every write path (add, remark, withdraw, delete) keeps it in
step. A store holds those bits in memory, one partition per marking, and
refreshes them from the table before a search: rows added since (by their
never-reused sequence number) are appended, and a marking whose rows were
deleted or changed (a generation counter, bumped by the same triggers) is
reloaded alone.

A search scans the reader's readable partitions only, by Hamming distance to
the query's sign bits, and keeps every passage at least as close as the
`wanted`-th: ties at the boundary are all kept, so the candidates are a
function of the readable passages alone, never of row order or of what other
markings hold. The store then ranks those candidates by exact cosine in SQL
(store.py), so scores are exact and only the candidate set is approximate.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from guetteur.store.base import Vector

__all__ = ["CANDIDATES", "EXACT_BELOW", "PassageBits", "sign_bits"]

WORDS = 8  # uint64 words of sign bits per passage: 512 dimensions
# Candidates ranked by exact cosine (at least; ties at the boundary are kept).
# Recall@10 against exact search on the corpus of benchmarks/search_scale.py
# (sums of real sentence embeddings), a million passages, computed in numpy
# with the same bits: 0.963 with 200, 0.987 with 400, 0.995 with 800. Their
# rows are read one by one, so this is most of a search's cost after the scan.
CANDIDATES = 400
# Below this many readable passages the exact ranking is as cheap: it reads as
# many rows as the candidates would (measured on a 20,000-passage store: 200
# readable passages, exact 1.0 ms against 1.4; 2,400, exact 72 ms against 19).
EXACT_BELOW = 500


def sign_bits(vector: Vector) -> npt.NDArray[np.uint64]:
    """A vector's sign bits as sqlite-vec's vec_quantize_binary lays them out
    (bit i of byte i // 8 is 1 when dimension i is positive), as uint64 words."""
    packed = np.packbits(np.asarray(vector, dtype=np.float32) > 0, bitorder="little")
    return np.frombuffer(packed.tobytes(), dtype=np.uint64)


class _Partition:
    """One marking's passages: chunk ids and bits, column-major (one row of the
    matrix per uint64 word) so a scan streams eight arrays; grown by doubling."""

    def __init__(self) -> None:
        self.size = 0
        self.chunk_ids = np.empty(0, dtype=np.int64)
        self.words = np.empty((WORDS, 0), dtype=np.uint64)

    def append(self, chunk_ids: Sequence[int], bits: Sequence[bytes]) -> None:
        count = len(chunk_ids)
        needed = self.size + count
        if needed > self.chunk_ids.shape[0]:
            capacity = max(needed, 2 * self.chunk_ids.shape[0], 1024)
            grown_ids = np.empty(capacity, dtype=np.int64)
            grown_ids[: self.size] = self.chunk_ids[: self.size]
            grown_words = np.empty((WORDS, capacity), dtype=np.uint64)
            grown_words[:, : self.size] = self.words[:, : self.size]
            self.chunk_ids, self.words = grown_ids, grown_words
        self.chunk_ids[self.size : needed] = chunk_ids
        block = np.frombuffer(b"".join(bits), dtype=np.uint64).reshape(count, WORDS)
        self.words[:, self.size : needed] = block.T
        self.size = needed


class PassageBits:
    """The sign bits of a store's passages, in memory, partitioned by marking."""

    _shared: weakref.WeakValueDictionary[str, PassageBits] = weakref.WeakValueDictionary()
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[int, _Partition] = {}
        self._generations: dict[int, int] = {}
        self._last_seq = 0
        self._identity = ""

    @classmethod
    def of(cls, path: Path | str) -> PassageBits:
        """The copy for this database file, shared by every store of this process
        that opened it (the server opens one per request thread): it holds
        committed rows only and is refreshed before each search, through the
        searching store's own connection."""
        if str(path) == ":memory:":
            return cls()
        key = str(Path(path).resolve())
        with cls._shared_lock:
            found = cls._shared.get(key)
            if found is None:
                found = cls._shared[key] = cls()
            return found

    def refresh(self, db: Any) -> None:
        """Bring the partitions up to date with `passage_bits` (db: a connection that
        is not inside a transaction, so nothing uncommitted is taken in)."""
        with self._lock:
            try:
                self._refresh(db)
            except BaseException:
                # Half-loaded partitions would be loaded again on top: start over.
                self._partitions, self._generations, self._last_seq = {}, {}, 0
                self._identity = ""
                raise

    def _refresh(self, db: Any) -> None:
        db.execute("BEGIN")  # one snapshot for the counters and the rows
        try:
            generations = dict(
                db.execute("SELECT marking_id, generation FROM passage_bits_generations")
            )
            (last_seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM passage_bits").fetchone()
            row = db.execute(
                "SELECT value FROM settings WHERE key = 'passage_bits_identity'"
            ).fetchone()
            identity = row[0] if row else ""
            if identity != self._identity or last_seq < self._last_seq:
                # Another database at this path (a workspace deleted and made again).
                self._partitions, self._generations, self._last_seq = {}, {}, 0
                self._identity = identity
            for marking_id, generation in generations.items():
                if self._generations.get(marking_id) != generation:
                    # Rows deleted or changed: this marking again, as far as loaded.
                    self._partitions[marking_id] = _Partition()
                    self._load(
                        db.execute(
                            "SELECT marking_id, chunk_id, bits FROM passage_bits "
                            "WHERE marking_id = ? AND seq <= ? ORDER BY seq",
                            (marking_id, self._last_seq),
                        )
                    )
            if last_seq > self._last_seq:
                self._load(
                    db.execute(
                        "SELECT marking_id, chunk_id, bits FROM passage_bits "
                        "WHERE seq > ? AND seq <= ? ORDER BY seq",
                        (self._last_seq, last_seq),
                    )
                )
        finally:
            db.execute("COMMIT")
        self._generations = generations
        self._last_seq = last_seq

    def _load(self, cursor: Any) -> None:
        while rows := cursor.fetchmany(100_000):
            by_marking: dict[int, tuple[list[int], list[bytes]]] = {}
            for marking_id, chunk_id, bits in rows:
                ids, blobs = by_marking.setdefault(marking_id, ([], []))
                ids.append(chunk_id)
                blobs.append(bits)
            for marking_id, (ids, blobs) in by_marking.items():
                self._partitions.setdefault(marking_id, _Partition()).append(ids, blobs)

    def count(self, marking_ids: Iterable[int]) -> int:
        """How many passages these markings hold."""
        with self._lock:
            return sum(p.size for m in marking_ids if (p := self._partitions.get(m)))

    def candidates(
        self, vector: Vector, marking_ids: Iterable[int], wanted: int
    ) -> npt.NDArray[np.int64]:
        """Chunk ids of the passages of these markings at least as close, in Hamming
        distance to the query's sign bits, as the `wanted`-th closest (ties kept)."""
        query = sign_bits(vector)
        with self._lock:
            partitions = [
                (p.chunk_ids[: p.size], p.words, p.size)
                for m in sorted(set(marking_ids))
                if (p := self._partitions.get(m)) is not None and p.size
            ]
        if not partitions:
            return np.empty(0, dtype=np.int64)
        # Scanned outside the lock: a refresh appends past each partition's size
        # (or replaces the arrays), never rewrites the part read here.
        distances = [_distances(words, size, query) for _, words, size in partitions]
        # The distance of the `wanted`-th closest, from the histogram of all of them.
        histogram = np.bincount(np.concatenate(distances), minlength=WORDS * 64 + 1)
        farthest = int(np.searchsorted(np.cumsum(histogram), wanted))
        return np.concatenate(
            [ids[d <= farthest] for (ids, _, _), d in zip(partitions, distances, strict=True)]
        )


# Below this many passages a partition is scanned in one pass (three numpy calls
# instead of three per word: a reader's small markings cost their calls, not
# their bits); above it word by word, streaming a word's row at a time.
_ONE_PASS_BELOW = 4096


def _distances(
    words: npt.NDArray[np.uint64], size: int, query: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint16]:
    if size < _ONE_PASS_BELOW:
        distances: npt.NDArray[np.uint16] = np.bitwise_count(words[:, :size] ^ query[:, None]).sum(
            axis=0, dtype=np.uint16
        )
        return distances
    found = np.zeros(size, dtype=np.uint16)
    scratch = np.empty(size, dtype=np.uint64)
    counts = np.empty(size, dtype=np.uint8)
    for word in range(WORDS):
        np.bitwise_xor(words[word, :size], query[word], out=scratch)
        np.bitwise_count(scratch, out=counts)
        np.add(found, counts, out=found)
    return found
