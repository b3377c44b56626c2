"""Full text on PostgreSQL: the SQLite store's term counts and BM25, the same scores.

Place in the data flow: search/hybrid.py writes the query as quoted phrases
joined by OR (`fts_query`); `PostgresStore.search_text` hands it here with
the reader's readable marking ids and gets back the best passages and their
scores. The SQLite store ranks the same expression in store/sqlite/fulltext.py;
both compute the same numbers from the same passages, so a workspace answers
alike on either store (tests/store/contract asserts equal rankings).

Indexing, as on SQLite. `passage_terms` holds, for each passage, how often
each word and each pair of consecutive words occurs in its title (col 0, the
first passage of a document only) and text (col 1): the rows
`passage_term_rows` counts for SQLite (letters and digits, lower-cased,
accents folded — "Équipement" is "equipement", "BTR-82A" is "btr" "82a"),
written with COPY at ingest, each with its passage's marking and length, kept
in step with the passage by triggers (schema.py). From the same counts the
store keeps (schema 6):

- `term_blocks`, each term's passages packed per marking (store/sqlite/
  postings.py, the same code and format: the SQL goes through the dialect
  connection), which ranking reads whole until it prunes; a block larger
  than SKIPPED_ABOVE bytes also keeps `skips` (schema 8, generated from its
  bytes): the id of the passage opening each segment of SEGMENT_BYTES;
- `term_passages`, how many passages of each marking hold each term;
- `marking_passages`, passages and total length per marking (triggers).

Ranking is `score_passages`, SQLite's: statistics summed over the readable
markings only, phrases read rarest first, the common ones no longer read once
they cannot change the cut (MaxScore), scores summed phrase by phrase in query
order, in numpy: equal inputs, equal floats. This module gives it the reads
(`PostgresSource`). Once pruning has begun, a phrase is looked up in the
candidates left: SQLite seeks them in passage_terms' key index, which
PostgreSQL does without (schema 6); here the blocks' skips tell which
segments may hold a candidate, and those segments alone are read, slices of
the blocks' values that PostgreSQL fetches without the rest (the values are
stored uncompressed). Every read of one search sees one snapshot
(`PostgresStore.search_text`), so the skips and the segments agree.

A phrase of three words or more ("s-300-pmu", rare) is looked for in the
readable passages that hold all its consecutive pairs; their
title and text are tokenised again and its occurrences counted (SQLite reads
FTS5's token positions instead: the same count, with the same tokeniser but
for characters of Unicode's private use area, which SQLite's FTS5 keeps in
words and guetteur's tokeniser drops). Ties fall to document id, then offset:
readable data, never a row id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from guetteur.store.postgres._dialect import Connection
from guetteur.store.sqlite import postings
from guetteur.store.sqlite.fulltext import (
    COLUMN_WEIGHTS,
    PhrasePostings,
    SQLiteSource,
    passage_term_rows,
)
from guetteur.store.sqlite.fulltext import _tokens as passage_tokens

__all__ = [
    "SEGMENT_BYTES",
    "SKIPPED_ABOVE",
    "PostgresSource",
    "count_postings",
    "pack_postings",
    "passage_terms",
]

# Joins the two words of a pair in passage_terms ("au dessus"), as on SQLite.
_PAIR = " "
# A large block is read by segments of this many postings' bytes when looking
# candidates up; blocks of more than SKIPPED_ABOVE bytes keep each segment's
# first passage id (`skips`). Schema 8 computes the skips with these numbers:
# changing either needs a migration that computes them again.
SEGMENT_BYTES = 128 * postings.POSTING.itemsize
SKIPPED_ABOVE = 4 * SEGMENT_BYTES


def passage_terms(
    chunk_id: int, marking_id: int, length: int, title: str, text: str
) -> list[tuple[str, int, int, int, int, int]]:
    """Rows of `passage_terms` for one passage: (term, marking, chunk id, column,
    count, length) — SQLite's rows (`passage_term_rows`) with marking and length."""
    return [
        (term, marking_id, chunk_id, column, count, length)
        for term, _, column, count in passage_term_rows(chunk_id, title, text)
    ]


def _pairs(tokens: Sequence[str]) -> list[str]:
    return [_PAIR.join(pair) for pair in zip(tokens, tokens[1:], strict=False)]


def _occurrences(tokens: Sequence[str], content: str) -> int:
    """How often `tokens` occur one after the other in `content` (overlaps counted)."""
    words = passage_tokens(content) if content else []
    size = len(tokens)
    first = tokens[0]
    return sum(
        1
        for at, word in enumerate(words)
        if word == first and words[at : at + size] == list(tokens)
    )


class PostgresSource(SQLiteSource):
    """Postings from a PostgreSQL store, for `score_passages`: the SQLite source's
    SQL through the dialect connection (`db`), but for lookups and long phrases."""

    # A lookup per candidate costs about as much as reading this many postings
    # whole: a segment of 128 and the fetch of its slice (measured at a million
    # passages: README, "Search at scale").
    lookup_cost = 400.0

    def __init__(self, db: Connection, readable_marking_ids: Sequence[int]) -> None:
        super().__init__(db, readable_marking_ids)
        self.blocks = db.binary_results()
        self.marking_ids = sorted(set(readable_marking_ids))
        # The marking of each candidate looked up so far (passage id → marking id).
        self._marking_of: dict[int, int] = {}

    def _markings_of(self, chunk_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Each (readable) candidate's marking id, read once per search."""
        unknown = [i for i in chunk_ids.tolist() if i not in self._marking_of]
        if unknown:
            self._marking_of.update(
                self.db.raw.execute(
                    "SELECT id, marking_id FROM chunks WHERE id = ANY(%s)", (unknown,)
                ).fetchall()
            )
        # Every candidate is found (one snapshot); -1 would match no block.
        return np.array([self._marking_of.get(i, -1) for i in chunk_ids.tolist()], dtype=np.int64)

    def looked_up(self, term: str, chunk_ids: npt.NDArray[np.int64]) -> PhrasePostings:
        wanted = np.sort(chunk_ids)
        markings = self._markings_of(wanted)
        parts: list[bytes] = []
        seqs: list[int] = []
        segments: list[int] = []
        for seq, marking_id, first, last, skips, data in self.db.raw.execute(
            "SELECT seq, marking_id, first, last, skips, CASE WHEN skips IS NULL THEN data END "
            "FROM term_blocks WHERE term = %s AND marking_id = ANY(%s)",
            (term, self.marking_ids),
            binary=True,
        ):
            if data is not None:  # a small block: read whole
                parts.append(data)
                continue
            # The block's candidates: of its marking, between its first and last.
            span = slice(np.searchsorted(wanted, first), np.searchsorted(wanted, last, "right"))
            inside = wanted[span][markings[span] == marking_id]
            if len(inside):
                starts = np.frombuffer(skips, dtype="<i8")
                # The segment that may hold each: the last to open at or before it.
                held = np.unique(np.searchsorted(starts, inside, "right") - 1)
                seqs.extend([seq] * len(held))
                segments.extend(held.tolist())
        if segments:
            parts.extend(
                data
                for (data,) in self.db.raw.execute(
                    f"SELECT substring(b.data FROM s.n * {SEGMENT_BYTES} + 1 FOR {SEGMENT_BYTES}) "
                    "FROM unnest(%s::bigint[], %s::int[]) AS s(seq, n) "
                    "JOIN term_blocks b ON b.seq = s.seq",
                    (seqs, segments),
                    binary=True,
                )
            )
        found = np.frombuffer(b"".join(parts), dtype=postings.POSTING)
        found = found[np.isin(found["chunk_id"], wanted, assume_unique=True)]
        return PhrasePostings(found["chunk_id"], found["frequency"].astype(np.float64), np.zeros(0))

    def long_phrase(self, tokens: tuple[str, ...]) -> PhrasePostings:
        holding: PhrasePostings | None = None
        for pair in _pairs(tokens):
            read = self.whole(pair)
            if holding is not None:
                kept = np.isin(holding.chunk_ids, read.chunk_ids)
                read = PhrasePostings(
                    holding.chunk_ids[kept], holding.frequencies[kept], holding.lengths[kept]
                )
            holding = read
        assert holding is not None  # a long phrase has pairs
        contents: dict[int, tuple[str, str]] = {}
        if len(holding.chunk_ids):
            for chunk_id, idx, text, title in self.db.raw.execute(
                "SELECT c.id, c.idx, c.text, d.title FROM chunks c "
                "JOIN documents d ON d.id = c.doc_id WHERE c.id = ANY(%s)",
                (holding.chunk_ids.tolist(),),
            ):
                contents[chunk_id] = (title if idx == 0 else "", text)
        frequencies = np.array(
            [
                sum(
                    COLUMN_WEIGHTS[column] * _occurrences(tokens, content)
                    # A passage withdrawn since its pairs were read is no longer there.
                    for column, content in zip(
                        ("title", "text"), contents.get(int(chunk_id), ("", "")), strict=True
                    )
                )
                for chunk_id in holding.chunk_ids
            ],
            dtype=np.float64,
        )
        found = frequencies > 0
        return PhrasePostings(holding.chunk_ids[found], frequencies[found], holding.lengths[found])


def pack_postings(db: Connection) -> None:
    """term_passages and term_blocks again from passage_terms (schema 6, and after
    `migrate --to postgresql` has copied the counts)."""
    raw = db.raw
    raw.execute("DELETE FROM term_passages")
    raw.execute(
        "INSERT INTO term_passages(term, marking_id, passages) "
        "SELECT term, marking_id, COUNT(DISTINCT chunk_id) FROM passage_terms "
        "GROUP BY term, marking_id"
    )
    raw.execute("DELETE FROM term_blocks")
    order = "ORDER BY chunk_id, col"
    # A server-side cursor: the counts stream term by term, never all in memory.
    with raw.cursor(name="guetteur_pack_postings") as terms:
        terms.execute(
            f"SELECT term, string_agg(chunk_id::text, ',' {order}), "
            f"string_agg((tf * 2 + col)::text, ',' {order}), "
            f"string_agg(marking_id::text, ',' {order}), "
            f"string_agg(length::text, ',' {order}) FROM passage_terms GROUP BY term"
        )
        for term, *columns in terms:
            for marking_id, found in postings.pack(*columns):
                postings.write_block(db, term, marking_id, found)


def count_postings(db: Connection, held: Mapping[tuple[str, int], int]) -> None:
    """`postings.count` in two statements, whatever the number of terms: the
    counts copied into a temporary table, then added to term_passages in one
    upsert (a batch of 10,000 passages holds some 350,000 terms and markings:
    one upsert each took 45 µs, 15 s a batch). Each key comes once (a mapping),
    so no row is updated twice by the one statement."""
    if not held:
        return
    raw = db.raw
    raw.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS counted_terms "
        "(term TEXT NOT NULL, marking_id BIGINT NOT NULL, passages BIGINT NOT NULL) "
        "ON COMMIT DELETE ROWS"
    )
    with raw.cursor() as cursor, cursor.copy("COPY counted_terms FROM STDIN") as copy:
        for (term, marking_id), n in held.items():
            copy.write_row((term, marking_id, n))
    raw.execute(
        "INSERT INTO term_passages(term, marking_id, passages) "
        "SELECT term, marking_id, passages FROM counted_terms "
        "ON CONFLICT (term, marking_id) "
        "DO UPDATE SET passages = term_passages.passages + excluded.passages"
    )
    raw.execute("TRUNCATE counted_terms")
