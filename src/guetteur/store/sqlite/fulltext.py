"""Full-text ranking from the statistics of what the reader may read.

Place in the data flow: search/hybrid.py turns a question into an FTS5
expression of quoted phrases joined by OR (`fts_query`); `SQLiteStore.search_text`
hands it here with the reader's readable marking ids and gets back the best
passages' ids and BM25 scores, then loads those passages for the reader.

Why not FTS5's own `bm25()`: its statistics (the number of rows, their
average length, and how many rows hold each phrase) are kept over the whole
table, every marking together. A document the reader may not read would then
change the reader's scores and order, and so leak that it exists (issue 9,
finding 7). Here every statistic is counted over the readable passages only:

- N, the passages the reader may read, and their average length;
- df, for each phrase, the readable passages that hold it;
- tf, how often each phrase occurs in a passage's title (weight 2.0, held by
  the first passage of a document only) and text (1.0).

Term frequencies come from `passage_terms`, counted per passage at ingest
(`passage_term_rows`: unicode61's token characters, accents folded): each
word, and each pair of consecutive words ("au dessus", the phrase that the
query word "au-dessus" makes), so a phrase of one or two words costs the
passages that hold it, not its occurrences. A 50 MB document repeats a word
a hundred thousand times in a few thousand passages, and every query word
may be in all of them: its passages' counts are read as one string per
phrase, and scored as arrays (numpy), not row by row in Python. Phrases of
three words or more ("s-300-pmu", rare) read token positions from FTS5's own
index (an `fts5vocab` table of token instances, kept in the connection's
temp schema). No passage text is read to rank it. Lengths are counted in
characters of passage text (`end - start`), not in tokens: FTS5 keeps token
counts in a blob of its own, which cannot be summed over the readable rows
in SQL. Titles do not count in the length. Otherwise the formula is FTS5's
(k1 = 1.2, b = 0.75, the same floor on negative idf), so the order stays
close to what `bm25()` gave. Ties are broken by document id, then offset:
readable data, never a row id that hidden rows could shift.

Counts of every marking are read, then kept only where the passage is
readable: what the reader sees is computed from readable passages alone
(the time it takes is not; see README, "One large document").
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from guetteur._text import fold_marks

__all__ = [
    "Postings",
    "ReadablePassages",
    "ScoredPassage",
    "parse_phrases",
    "passage_term_rows",
    "phrase_tokens",
    "rank_passages",
    "score_passages",
    "term_counts",
]

K1 = 1.2
B = 0.75
# FTS5's floor for a phrase held by more than half the rows (log ratio <= 0).
IDF_FLOOR = 1e-6
COLUMN_WEIGHTS = {"title": 2.0, "text": 1.0}

_PHRASE = re.compile(r'\s*"((?:[^"]|"")*)"\s*')
_INSTANCES = "temp.chunks_fts_instances"
_COLUMNS = ("title", "text")  # passage_terms.col
# Joins the two words of a pair in passage_terms ("au dessus"); no token holds a space.
_PAIR = " "


@dataclass(frozen=True)
class ScoredPassage:
    """A readable passage and its BM25 score (higher is better)."""

    chunk_id: int
    doc_id: str
    start: int
    score: float


@dataclass(frozen=True)
class Postings:
    """Where one phrase occurs: passages (unique ids) of any marking, and the
    phrase's weighted frequency in each (title occurrences count 2.0, text 1.0)."""

    chunk_ids: npt.NDArray[np.int64]
    frequencies: npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReadablePassages:
    """Every passage the reader may read: ids (ascending), lengths in characters."""

    chunk_ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.float64]
    total_length: int


def parse_phrases(expression: str) -> list[str]:
    """The phrases of an FTS5 expression `"a" OR "b c"`, as `fts_query` writes it.

    Anything else (bare words, NEAR, column filters) is refused: users' words
    reach the store only quoted.
    """
    phrases: list[str] = []
    for number, part in enumerate(expression.split(" OR ")):
        match = _PHRASE.fullmatch(part)
        if match is None:
            raise ValueError(
                f"full-text expression {expression!r}: part {number + 1} ({part!r}) "
                'is not a quoted phrase; expected "a" OR "b"'
            )
        phrases.append(match.group(1).replace('""', '"'))
    return phrases


def _fold(character: str) -> str:
    # One character at a time, as unicode61 does: no context-dependent final sigma.
    decomposed = unicodedata.normalize("NFD", character.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _is_token_character(character: str) -> bool:
    # unicode61's default token characters: letters, numbers, private use.
    category = unicodedata.category(character)
    return category[0] in "LN" or category == "Co"


def phrase_tokens(phrase: str) -> list[str]:
    """The tokens FTS5's unicode61 tokenizer (remove_diacritics 2) makes of `phrase`.

    "BTR-82A" is the two tokens "btr", "82a"; "Équipement" is "equipement".
    """
    tokens: list[str] = []
    current: list[str] = []
    for character in phrase:
        if _is_token_character(character):
            current.append(_fold(character))
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return [token for token in tokens if token]


# The same tokens for a whole passage in a few C-level passes: letters and
# digits (unicode61's token characters but for private use), lower-cased and
# stripped of combining marks.
_TOKEN = re.compile(r"[^\W_]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold_marks(text, "NFD"))


def term_counts(text: str) -> Counter[str]:
    """How often each token occurs in `text`, tokenised as `phrase_tokens` does."""
    return Counter(_tokens(text))


def passage_term_rows(chunk_id: int, title: str, text: str) -> list[tuple[str, int, int, int]]:
    """Rows of `passage_terms` for one passage: (term, chunk id, column, count).

    A term is a token or a pair of consecutive tokens of the same column,
    joined by a space ("au dessus"): the phrases of one and two tokens.
    """
    rows: list[tuple[str, int, int, int]] = []
    for column, content in enumerate((title, text)):
        tokens = _tokens(content) if content else []
        counts = Counter(tokens)
        counts.update(map(_PAIR.join, zip(tokens, tokens[1:], strict=False)))
        rows.extend((term, chunk_id, column, n) for term, n in counts.items())
    return rows


def _phrase_occurrences(
    tokens: Sequence[str], instances: Sequence[tuple[str, int, str, int]]
) -> Counter[tuple[int, str]]:
    """How often the phrase `tokens` occurs in each passage and column (consecutive
    tokens), from FTS5's token `instances`: (token, passage, column, offset)."""
    at: defaultdict[str, set[tuple[int, str, int]]] = defaultdict(set)
    for token, chunk_id, column, offset in instances:
        at[token].add((chunk_id, column, offset))
    counts: Counter[tuple[int, str]] = Counter()
    for chunk_id, column, offset in at[tokens[0]]:
        if all((chunk_id, column, offset + j) in at[token] for j, token in enumerate(tokens)):
            counts[(chunk_id, column)] += 1
    return counts


def _postings(chunk_ids: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]) -> Postings:
    """`Postings` from (passage, column) rows: a passage's columns summed."""
    unique, inverse = np.unique(chunk_ids, return_inverse=True)
    summed = np.bincount(inverse, weights=weights, minlength=len(unique))
    return Postings(unique, summed.astype(np.float64))


def score_passages(
    phrases: Sequence[Postings], readable: ReadablePassages, limit: int
) -> list[tuple[int, float]]:
    """BM25 of the readable passages holding at least one phrase: the `limit` best
    and every one tied with the last of them, as (chunk id, score), unordered.

    Postings of passages that are not readable are left out before anything
    is counted. Gains are summed phrase by phrase in query order: equal
    inputs, equal floats.
    """
    count = len(readable.chunk_ids)
    if count == 0 or limit <= 0:
        return []
    average_length = readable.total_length / count
    norms = K1 * (1.0 - B + B * readable.lengths / average_length)
    scores = np.zeros(count)
    held = np.zeros(count, dtype=bool)
    for postings in phrases:
        places = np.searchsorted(readable.chunk_ids, postings.chunk_ids)
        inside = places < count
        inside[inside] = readable.chunk_ids[places[inside]] == postings.chunk_ids[inside]
        places, frequencies = places[inside], postings.frequencies[inside]
        if len(places) == 0:
            continue
        idf = math.log((count - len(places) + 0.5) / (len(places) + 0.5))
        idf = idf if idf > 0.0 else IDF_FLOOR
        scores[places] += idf * frequencies * (K1 + 1.0) / (frequencies + norms[places])
        held[places] = True
    candidates = np.flatnonzero(held)
    if len(candidates) > limit:
        # Everything tied with the limit-th score stays: ties fall to document
        # and offset, which the caller reads for these passages only.
        last = np.partition(scores[candidates], len(candidates) - limit)[len(candidates) - limit]
        candidates = candidates[scores[candidates] >= last]
    return [(int(readable.chunk_ids[p]), float(scores[p])) for p in candidates]


def _integers(joined: str | None) -> npt.NDArray[np.int64]:
    # group_concat of integers: one string per phrase instead of a row per passage.
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


def _readable_passages(db: Any, readable_marking_ids: Sequence[int]) -> ReadablePassages:
    ids, lengths, total = db.execute(
        "SELECT group_concat(id), group_concat(end - start), COALESCE(SUM(end - start), 0) "
        "FROM chunks WHERE marking_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(readable_marking_ids)),),
    ).fetchone()
    chunk_ids = _integers(ids)
    order = np.argsort(chunk_ids)
    return ReadablePassages(chunk_ids[order], _integers(lengths)[order].astype(np.float64), total)


def _counted_postings(db: Any, tokens: Sequence[str]) -> Postings:
    """A phrase of one or two tokens, from passage_terms."""
    # Count and column (0 or 1) in one number: a third fewer numbers to write and read.
    ids, counted = db.execute(
        "SELECT group_concat(chunk_id), group_concat(tf * 2 + col) "
        "FROM passage_terms WHERE term = ?",
        (_PAIR.join(tokens),),
    ).fetchone()
    counts_and_columns = _integers(counted)
    weights = np.array([COLUMN_WEIGHTS[column] for column in _COLUMNS])
    frequencies = weights[counts_and_columns & 1] * (counts_and_columns >> 1)
    return _postings(_integers(ids), frequencies)


def _positional_postings(db: Any, tokens: Sequence[str]) -> Postings:
    """A phrase of three tokens or more, from FTS5's token positions."""
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {_INSTANCES} "
        "USING fts5vocab(main, chunks_fts, instance)"
    )
    instances = db.execute(
        f"SELECT term, doc, col, offset FROM {_INSTANCES} "
        "WHERE term IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(tokens))),),
    ).fetchall()
    counts = _phrase_occurrences(tokens, instances)
    return _postings(
        np.array([chunk_id for chunk_id, _ in counts], dtype=np.int64),
        np.array([COLUMN_WEIGHTS[column] * n for (_, column), n in counts.items()]),
    )


def rank_passages(
    db: Any, expression: str, readable_marking_ids: Sequence[int], limit: int
) -> list[ScoredPassage]:
    """The `limit` best readable passages for an FTS5 `expression` (see `parse_phrases`)."""
    # FTS5 matches nothing with an empty phrase.
    phrases = [tuple(t) for p in parse_phrases(expression) if (t := phrase_tokens(p))]
    if not phrases or limit <= 0:
        return []
    readable = _readable_passages(db, readable_marking_ids)
    postings: dict[tuple[str, ...], Postings] = {}
    for tokens in phrases:
        if tokens not in postings:
            read = _counted_postings if len(tokens) <= 2 else _positional_postings
            postings[tokens] = read(db, tokens)
    best = dict(score_passages([postings[tokens] for tokens in phrases], readable, limit))
    places = db.execute(
        "SELECT id, doc_id, start FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(best)),),
    ).fetchall()
    ranked = sorted(
        (
            ScoredPassage(chunk_id, doc_id, start, best[chunk_id])
            for chunk_id, doc_id, start in places
        ),
        key=lambda passage: (-passage.score, passage.doc_id, passage.start),
    )
    return ranked[:limit]
