"""Each word's passages, packed per marking: what full-text ranking reads whole.

Place in the data flow: `SQLiteStore` writes passages (`add_documents`),
re-marks and deletes them; each time it also keeps `term_blocks` here in
step, and fulltext.py reads a query word's readable passages from it.

`passage_terms` holds one row per word and passage: reading a common word's
300,000 passages there costs 0.25-1 µs a row, 75-300 ms a word at a million
passages, and rows of every marking come mixed, so a narrow reader pays for
everyone's. Here the same postings are kept as blocks: for one term (a word
or a pair of words) and one marking, a few binary arrays of (passage id,
weighted frequency, passage length), 16 bytes a passage, read with one
`frombuffer` each. A reader reads the blocks of the markings they may read
and nothing else.

Blocks are append-only between merges, as in a log-structured index: a write
adds one block per term and marking it touches, merged with the newest
blocks while these are no bigger than what is being written (a binary
counter: a term and marking keeps about log2(passages / batch) blocks, and
each posting is rewritten that many times at most). Deleting or re-marking a
document rewrites the blocks that hold its passages.

`passage_terms` stays the record of each passage's terms (it answers "which
terms does this passage hold", for deletion and re-marking, and per-passage
lookups); these blocks are derived from it and rebuilt from it by `rebuild`.
"""

from __future__ import annotations

import json
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FLUSH_POSTINGS",
    "POSTING",
    "Pending",
    "append",
    "count",
    "integers",
    "pack",
    "read",
    "rebuild",
    "store",
    "take_out",
    "uncount",
    "write_block",
]

# One passage of a block: its id, its weighted frequency (title occurrences
# count 2, text 1: COLUMN_WEIGHTS in fulltext.py) and its length in characters.
POSTING = np.dtype([("chunk_id", "<i8"), ("frequency", "<i4"), ("length", "<i4")])
# Integer column weights (passage_terms.col 0 is the title): fulltext.py checks
# they equal its float COLUMN_WEIGHTS.
COLUMN_WEIGHTS = (2, 1)

# Terms (or block rows) per statement when many are looked up at once. On
# PostgreSQL, 5,000 terms made the planner read the whole of term_blocks
# (700 MB at 180,000 passages, 43 times a batch) instead of its index; up to
# 2,000 it takes the index.
_CHUNK = 1_000
# Postings a batch gathers before they are written as blocks (`Pending.full`):
# a 50 MB document holds ten million, and sorting them all at once took
# 550 MB. The blocks of one write then come in several, merged as any others.
FLUSH_POSTINGS = 1_000_000


class Pending:
    """Postings to append, gathered passage by passage (in passage id order) and
    handed to `append` as one array per (term, marking id).

    Held in arrays of machine integers, not tuples: a 50 MB document's ten
    million postings took about 1.2 GB as Python tuples, 16 bytes each here."""

    def __init__(self) -> None:
        self._empty()

    def _empty(self) -> None:
        self._keys: dict[tuple[str, int], int] = {}
        # One entry per posting: its (term, marking id)'s number, its frequency.
        self._key_of = array("q")
        self._frequencies = array("q")
        # One entry per passage: its id, its length, how many postings it added.
        self._chunk_ids = array("q")
        self._lengths = array("q")
        self._counts = array("q")

    def add_passage(
        self,
        chunk_id: int,
        rows: Iterable[tuple[str, int, int, int]],
        marking_id: int,
        length: int,
    ) -> None:
        """Queue one passage's `passage_terms` rows (term, chunk id, column, count)."""
        frequencies: dict[str, int] = {}
        for term, _, column, count in rows:
            frequencies[term] = frequencies.get(term, 0) + COLUMN_WEIGHTS[column] * count
        keys = self._keys
        self._key_of.extend(
            [keys.setdefault((term, marking_id), len(keys)) for term in frequencies]
        )
        self._frequencies.extend(frequencies.values())
        self._chunk_ids.append(chunk_id)
        self._lengths.append(length)
        self._counts.append(len(frequencies))

    @property
    def full(self) -> bool:
        """Whether FLUSH_POSTINGS are gathered: time to `store` them."""
        return len(self._key_of) >= FLUSH_POSTINGS

    def take(self) -> dict[tuple[str, int], npt.NDArray[Any]]:
        """Each (term, marking id)'s postings, in passage id order; this is left empty."""
        if not self._key_of:
            return {}
        key_of = np.frombuffer(self._key_of, dtype=np.int64)
        counts = np.frombuffer(self._counts, dtype=np.int64)
        rows = np.empty(len(key_of), dtype=POSTING)
        rows["chunk_id"] = np.repeat(np.frombuffer(self._chunk_ids, dtype=np.int64), counts)
        rows["frequency"] = np.frombuffer(self._frequencies, dtype=np.int64)
        rows["length"] = np.repeat(np.frombuffer(self._lengths, dtype=np.int64), counts)
        ordered = rows[np.argsort(key_of, kind="stable")]
        del rows
        ends = np.cumsum(np.bincount(key_of, minlength=len(self._keys)))
        taken = {key: ordered[(ends[n - 1] if n else 0) : ends[n]] for key, n in self._keys.items()}
        del key_of, counts  # views of the arrays `_empty` lets go
        self._empty()
        return taken


def append(db: Any, pending: Mapping[tuple[str, int], npt.NDArray[Any]]) -> None:
    """Add postings as new blocks, merging each with its newest blocks while these
    are no bigger than the block being written. A few statements for the whole
    batch (10,000 passages touch half a million terms and markings), not a few
    per term."""
    wanted = {key: found for key, found in pending.items() if len(found)}
    if not wanted:
        return
    held: defaultdict[tuple[str, int], list[tuple[int, int, int]]] = defaultdict(list)
    terms = sorted({term for term, _ in wanted})
    # Only the batch's markings: a batch of one marking's reports need not read
    # the blocks of the others (each key's, through the index on term and marking).
    markings = json.dumps(sorted({marking_id for _, marking_id in wanted}))
    for start in range(0, len(terms), _CHUNK):
        for term, marking_id, rowid, block, count in db.execute(
            "SELECT term, marking_id, rowid, block, postings FROM term_blocks "
            "WHERE term IN (SELECT value FROM json_each(?)) "
            "AND marking_id IN (SELECT value FROM json_each(?))",
            (json.dumps(terms[start : start + _CHUNK]), markings),
        ):
            if (term, marking_id) in wanted:
                held[(term, marking_id)].append((rowid, block, count))
    merging: dict[tuple[str, int], list[int]] = {}
    numbers: dict[tuple[str, int], int] = {}
    for key, found in wanted.items():
        if key not in held:
            continue  # a term new to this marking: its first block
        blocks = sorted(held[key], key=lambda row: -row[1])  # newest first
        numbers[key] = blocks[0][1] + 1
        size, merged = len(found), []
        for rowid, _, count in blocks:
            if count > size:
                break
            merged.append(rowid)
            size += count
        if merged:
            merging[key] = merged[::-1]  # oldest first
    data: dict[int, bytes] = {}
    gone = [rowid for merged in merging.values() for rowid in merged]
    for start in range(0, len(gone), _CHUNK):
        part = json.dumps(gone[start : start + _CHUNK])
        data.update(
            db.execute(
                "SELECT rowid, data FROM term_blocks "
                "WHERE rowid IN (SELECT value FROM json_each(?))",
                (part,),
            ).fetchall()
        )
        db.execute(
            "DELETE FROM term_blocks WHERE rowid IN (SELECT value FROM json_each(?))", (part,)
        )

    def rows() -> Iterator[tuple[str, int, int, int, int, int, bytes]]:
        # One block's bytes at a time, not the whole batch's postings twice over.
        for key, found in wanted.items():
            parts = [np.frombuffer(data[rowid], dtype=POSTING) for rowid in merging.get(key, ())]
            joined = np.concatenate([*parts, found]) if parts else found
            yield _block_row(key, numbers.get(key, 1), joined)

    db.executemany(
        "INSERT INTO term_blocks(term, marking_id, block, postings, first, last, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )


def _block_row(
    key: tuple[str, int], block: int, postings: npt.NDArray[Any]
) -> tuple[str, int, int, int, int, int, bytes]:
    # Read through the chunk id column: a structured array's element access
    # (`postings[0]["chunk_id"]`) costs twice as much, once per term and batch.
    ids = postings["chunk_id"]
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
        postings = postings[np.argsort(ids, kind="stable")]
        ids = postings["chunk_id"]
    term, marking_id = key
    return (term, marking_id, block, len(ids), int(ids[0]), int(ids[-1]), postings.tobytes())


def _write(db: Any, term: str, marking_id: int, block: int, postings: npt.NDArray[Any]) -> None:
    db.execute(
        "INSERT INTO term_blocks(term, marking_id, block, postings, first, last, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        _block_row((term, marking_id), block, postings),
    )


def take_out(
    db: Any, chunk_ids: Sequence[int], keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], npt.NDArray[Any]]:
    """Remove passages from the blocks of the given (term, marking id) keys; return
    their postings per key (to append elsewhere when a document is re-marked)."""
    if not chunk_ids:
        return {}
    wanted = np.array(sorted(set(chunk_ids)), dtype=np.int64)
    low, high = int(wanted[0]), int(wanted[-1])
    taken: dict[tuple[str, int], npt.NDArray[Any]] = {}
    for term, marking_id in keys:
        rows = db.execute(
            "SELECT rowid, block, data FROM term_blocks WHERE term = ? AND marking_id = ? "
            "AND first <= ? AND last >= ?",
            (term, marking_id, high, low),
        ).fetchall()
        out = []
        for rowid, block, data in rows:
            postings = np.frombuffer(data, dtype=POSTING)
            leaving = np.isin(postings["chunk_id"], wanted)
            if not leaving.any():
                continue
            out.append(postings[leaving])
            db.execute("DELETE FROM term_blocks WHERE rowid = ?", (rowid,))
            if not leaving.all():
                _write(db, term, marking_id, block, postings[~leaving])
        if out:
            taken[(term, marking_id)] = np.concatenate(out)
    return taken


def read(db: Any, term: str, markings: str) -> npt.NDArray[Any]:
    """Every posting of `term` in the markings listed (a JSON array of ids), in no
    particular order; each passage once."""
    # Blobs joined as bytes: concatenating structured arrays costs more than
    # reading them when a term's postings sit in a dozen small blocks.
    data = b"".join(
        data
        for (data,) in db.execute(
            "SELECT data FROM term_blocks WHERE term = ? "
            "AND marking_id IN (SELECT value FROM json_each(?))",
            (term, markings),
        )
    )
    return np.frombuffer(data, dtype=POSTING)


def integers(joined: str | None) -> npt.NDArray[np.int64]:
    """Integers an aggregate joined with commas (one string instead of a row each)."""
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


def pack(
    chunk_ids: str, counts_and_columns: str, marking_ids: str, lengths: str
) -> Iterator[tuple[int, npt.NDArray[Any]]]:
    """One term's `passage_terms` rows, each column joined by commas (passage id
    order, a passage's title row before its text row; count and column as
    tf * 2 + col), as one block per marking: (marking id, postings)."""
    ids, counts = integers(chunk_ids), integers(counts_and_columns)
    firsts = np.flatnonzero(np.diff(ids, prepend=-1) != 0)
    found = np.zeros(len(firsts), dtype=POSTING)
    found["chunk_id"] = ids[firsts]
    weights = np.array(COLUMN_WEIGHTS, dtype=np.int64)
    found["frequency"] = np.add.reduceat(weights[counts & 1] * (counts >> 1), firsts)
    found["length"] = integers(lengths)[firsts]
    markings = integers(marking_ids)[firsts]
    for marking_id in np.unique(markings):
        yield int(marking_id), found[markings == marking_id]


def write_block(db: Any, term: str, marking_id: int, postings: npt.NDArray[Any]) -> None:
    """Store `postings` as a term's first block in a marking (a rebuild)."""
    _write(db, term, marking_id, 1, postings)


def store(
    db: Any,
    pending: Pending,
    counter: Callable[[Any, Mapping[tuple[str, int], int]], None] | None = None,
) -> None:
    """Write a batch's postings: their blocks, and how many new passages of each
    marking hold each term (one posting per passage), through `counter` if given
    (PostgreSQL's, in one statement). `pending` is emptied."""
    arrays = pending.take()
    (counter or count)(db, {key: len(found) for key, found in arrays.items()})
    append(db, arrays)


def count(db: Any, held: Mapping[tuple[str, int], int]) -> None:
    """Add to term_passages: how many new passages of each marking hold each term."""
    db.executemany(
        "INSERT INTO term_passages(term, marking_id, passages) VALUES (?, ?, ?) "
        "ON CONFLICT(term, marking_id) "
        "DO UPDATE SET passages = term_passages.passages + excluded.passages",
        [(term, marking_id, n) for (term, marking_id), n in held.items()],
    )


def uncount(db: Any, gone: Mapping[tuple[str, int], int]) -> None:
    """Take from term_passages: passages of each marking that no longer hold each term."""
    db.executemany(
        "UPDATE term_passages SET passages = passages - ? WHERE term = ? AND marking_id = ?",
        [(n, term, marking_id) for (term, marking_id), n in gone.items()],
    )


def rebuild(db: Any) -> None:
    """Every block again from `passage_terms` (schema 17, and after a recount):
    one block per term and marking."""
    db.execute("DELETE FROM term_blocks")
    writer = db.cursor()
    # passage_terms' key is (term, chunk id, column): this streams term by term.
    rows = db.execute(
        "SELECT t.term, group_concat(t.chunk_id), group_concat(t.tf * 2 + t.col), "
        "group_concat(s.marking_id), group_concat(s.length) "
        "FROM passage_terms t JOIN passage_spans s ON s.chunk_id = t.chunk_id GROUP BY t.term"
    )
    for term, *columns in rows:
        for marking_id, found in pack(*columns):
            write_block(writer, term, marking_id, found)
