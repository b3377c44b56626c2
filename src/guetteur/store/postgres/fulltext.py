"""Full text on PostgreSQL: the SQLite store's term counts and BM25, the same scores.

Place in the data flow: search/hybrid.py writes the query as quoted phrases
joined by OR (`fts_query`); `PostgresStore.search_text` hands it here with
the reader's readable marking ids and gets back the best passages and their
scores. The SQLite store ranks the same expression in store/sqlite/fulltext.py;
both compute the same numbers from the same passages, so a workspace answers
alike on either store (tests/store/contract asserts equal rankings).

Indexing. `passage_terms` holds, for each passage, how often each word and
each pair of consecutive words occurs in its title (col 0, the first passage
of a document only) and text (col 1): the rows `passage_term_rows` counts for
SQLite (letters and digits, lower-cased, accents folded — "Équipement" is
"equipement", "BTR-82A" is "btr" "82a"), written with COPY at ingest. Each
row also carries its passage's marking and length, kept in step with the
passage by triggers (schema.py), so that one index scan answers "the readable
passages holding this term, and their counts and lengths" without touching
the passages.

Ranking without leaking: every BM25 statistic is counted over the readable
passages only, as on SQLite —

- N and the total length (characters, `end - start`) from `marking_passages`,
  one row per readable marking, kept by triggers;
- df, the readable passages holding each phrase: the postings of the
  readable markings only (the marking filter is inside the index scan);
- tf from those postings: title occurrences weigh 2.0, text 1.0.

Phrases of one or two words are read from the counts. A phrase of three
words or more ("s-300-pmu", rare) is looked for in the readable passages that
hold all its consecutive pairs; their title and text are tokenised again and
its occurrences counted (SQLite reads FTS5's token positions instead: the
same count, with the same tokeniser but for characters of Unicode's private
use area, which SQLite's FTS5 keeps in words and guetteur's tokeniser drops).
Scores are summed phrase by phrase in query order, in numpy, as SQLite does:
equal inputs, equal floats. Ties fall to document id, then offset: readable
data, never a row id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from guetteur.store.sqlite.fulltext import (
    COLUMN_WEIGHTS,
    IDF_FLOOR,
    K1,
    B,
    Postings,
    ScoredPassage,
    parse_phrases,
    passage_term_rows,
    phrase_tokens,
)
from guetteur.store.sqlite.fulltext import _tokens as passage_tokens

__all__ = ["passage_terms", "rank_passages"]

# Joins the two words of a pair in passage_terms ("au dessus"), as on SQLite.
_PAIR = " "
_WEIGHTS = np.array([COLUMN_WEIGHTS["title"], COLUMN_WEIGHTS["text"]])


def passage_terms(
    chunk_id: int, marking_id: int, length: int, title: str, text: str
) -> list[tuple[str, int, int, int, int, int]]:
    """Rows of `passage_terms` for one passage: (term, marking, chunk id, column,
    count, length) — SQLite's rows (`passage_term_rows`) with marking and length."""
    return [
        (term, marking_id, chunk_id, column, count, length)
        for term, _, column, count in passage_term_rows(chunk_id, title, text)
    ]


def _integers(joined: str | None) -> npt.NDArray[np.int64]:
    # string_agg of integers: one string per term instead of a row per passage.
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.array(joined.split(","), dtype=np.int64)


def _postings(chunk_ids: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]) -> Postings:
    """`Postings` from (passage, column) rows: a passage's columns summed (as on SQLite)."""
    unique, inverse = np.unique(chunk_ids, return_inverse=True)
    summed = np.bincount(inverse, weights=weights, minlength=len(unique))
    return Postings(unique, summed.astype(np.float64))


class _Counted:
    """The readable postings of the terms a query needs, read in one statement."""

    def __init__(self, pg: Any, terms: Iterable[str], readable: list[int]) -> None:
        self.by_term: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
        self.lengths: dict[int, int] = {}
        wanted = sorted(set(terms))
        if not wanted:
            return
        rows = pg.execute(
            "SELECT term, string_agg(chunk_id::text, ','), string_agg((tf * 2 + col)::text, ','), "
            "string_agg(length::text, ',') FROM passage_terms "
            "WHERE term = ANY(%s) AND marking_id = ANY(%s) GROUP BY term",
            (wanted, readable),
        ).fetchall()
        for term, ids, counted, lengths in rows:
            chunk_ids = _integers(ids)
            self.by_term[term] = (chunk_ids, _integers(counted))
            self.lengths.update(zip(chunk_ids.tolist(), _integers(lengths).tolist(), strict=True))

    def postings(self, tokens: Sequence[str]) -> Postings:
        """A phrase of one or two tokens."""
        empty = np.zeros(0, dtype=np.int64)
        chunk_ids, counts_and_columns = self.by_term.get(_PAIR.join(tokens), (empty, empty))
        frequencies = _WEIGHTS[counts_and_columns & 1] * (counts_and_columns >> 1)
        return _postings(chunk_ids, frequencies)

    def holding_every_pair(self, tokens: Sequence[str]) -> list[int]:
        """Readable passages holding each consecutive pair of `tokens` (in some column)."""
        held: set[int] | None = None
        for pair in _pairs(tokens):
            ids = set(self.by_term[pair][0].tolist()) if pair in self.by_term else set()
            held = ids if held is None else held & ids
        return sorted(held or ())


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


def _long_phrase_postings(
    pg: Any, phrases: Sequence[tuple[str, ...]], counted: _Counted
) -> dict[tuple[str, ...], Postings]:
    """Phrases of three tokens or more, counted in the passages holding all their pairs."""
    candidates = {tokens: counted.holding_every_pair(tokens) for tokens in phrases}
    wanted = sorted({chunk_id for ids in candidates.values() for chunk_id in ids})
    contents: dict[int, tuple[str, str]] = {}
    if wanted:
        for chunk_id, idx, text, title in pg.execute(
            "SELECT c.id, c.idx, c.text, d.title FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id WHERE c.id = ANY(%s)",
            (wanted,),
        ):
            contents[chunk_id] = (title if idx == 0 else "", text)
    found: dict[tuple[str, ...], Postings] = {}
    for tokens, ids in candidates.items():
        chunk_ids: list[int] = []
        weights: list[float] = []
        for chunk_id in ids:
            # A passage withdrawn since its pairs were read is no longer there.
            for column, content in zip(
                ("title", "text"), contents.get(chunk_id, ("", "")), strict=True
            ):
                n = _occurrences(tokens, content)
                if n:
                    chunk_ids.append(chunk_id)
                    weights.append(COLUMN_WEIGHTS[column] * n)
        found[tokens] = _postings(np.array(chunk_ids, dtype=np.int64), np.array(weights))
    return found


def rank_passages(
    pg: Any, expression: str, readable_marking_ids: Sequence[int], limit: int
) -> list[ScoredPassage]:
    """The `limit` best readable passages for an FTS5-style `expression` of phrases."""
    # An empty phrase matches nothing (as in FTS5).
    phrases = [tuple(t) for p in parse_phrases(expression) if (t := phrase_tokens(p))]
    readable = sorted(set(readable_marking_ids))
    if not phrases or limit <= 0 or not readable:
        return []
    count, total_length = pg.execute(
        "SELECT COALESCE(SUM(passages), 0), COALESCE(SUM(length), 0) FROM marking_passages "
        "WHERE marking_id = ANY(%s)",
        (readable,),
    ).fetchone()
    count, total_length = int(count), int(total_length)
    if count == 0:
        return []
    # One- and two-word phrases are terms; a longer one needs its pairs.
    terms = [_PAIR.join(t) for t in phrases if len(t) <= 2]
    terms += [pair for t in phrases if len(t) > 2 for pair in _pairs(t)]
    counted = _Counted(pg, terms, readable)
    long_phrases = sorted({t for t in phrases if len(t) > 2})
    postings = _long_phrase_postings(pg, long_phrases, counted) if long_phrases else {}
    for tokens in phrases:
        if tokens not in postings:
            postings[tokens] = counted.postings(tokens)
    best = _score(
        [postings[tokens] for tokens in phrases], counted.lengths, count, total_length, limit
    )
    if not best:
        return []
    places = pg.execute(
        "SELECT id, doc_id, start FROM chunks WHERE id = ANY(%s)", (list(best),)
    ).fetchall()
    ranked = sorted(
        (
            ScoredPassage(chunk_id, doc_id, start, best[chunk_id])
            for chunk_id, doc_id, start in places
        ),
        key=lambda passage: (-passage.score, passage.doc_id, passage.start),
    )
    return ranked[:limit]


def _score(
    phrases: Sequence[Postings],
    lengths: dict[int, int],
    count: int,
    total_length: int,
    limit: int,
) -> dict[int, float]:
    """BM25 of the readable passages holding at least one phrase: the `limit` best
    and every one tied with the last of them (store/sqlite/fulltext.py's
    `score_passages`, over the passages that hold a phrase rather than every
    readable one: the same arithmetic, element by element)."""
    held_ids = np.unique(
        np.concatenate([p.chunk_ids for p in phrases] or [np.zeros(0, dtype=np.int64)])
    )
    if len(held_ids) == 0:
        return {}
    average_length = total_length / count
    passage_lengths = np.array([lengths[int(c)] for c in held_ids], dtype=np.float64)
    norms = K1 * (1.0 - B + B * passage_lengths / average_length)
    scores = np.zeros(len(held_ids))
    for postings in phrases:
        if len(postings.chunk_ids) == 0:
            continue
        places = np.searchsorted(held_ids, postings.chunk_ids)
        frequencies = postings.frequencies
        idf = math.log((count - len(places) + 0.5) / (len(places) + 0.5))
        idf = idf if idf > 0.0 else IDF_FLOOR
        scores[places] += idf * frequencies * (K1 + 1.0) / (frequencies + norms[places])
    candidates = np.arange(len(held_ids))
    if len(candidates) > limit:
        last = np.partition(scores, len(candidates) - limit)[len(candidates) - limit]
        candidates = candidates[scores >= last]
    return {int(held_ids[p]): float(scores[p]) for p in candidates}
