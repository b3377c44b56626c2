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

N, the total length and df are sums over the readable markings of counts
kept per marking (schema 15: `marking_passages`, `term_passages`), so no
query counts passages to learn them. `score_passages` then reads phrases
rarest first and stops reading the common ones in full once they can no
longer change the cut (MaxScore); the result is the exhaustive ranking's.
What the reader sees is computed from readable passages alone (the time it
takes is not; see README, "Search at scale" and "One large document").
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
    # Rows mostly come sorted by passage: a sort and a segmented sum beat hashing.
    order = np.argsort(chunk_ids, kind="stable")
    ordered = chunk_ids[order]
    firsts = np.flatnonzero(np.diff(ordered, prepend=-1) != 0)
    if len(firsts) == 0:
        return Postings(ordered, np.zeros(0))
    summed = np.add.reduceat(np.asarray(weights, dtype=np.float64)[order], firsts)
    return Postings(ordered[firsts], summed)


def _integers(joined: str | None) -> npt.NDArray[np.int64]:
    # group_concat of integers: one string per phrase instead of a row per passage.
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


def _frequencies(counts_and_columns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    # Count and column (0 or 1) come as one number: a third fewer numbers to read.
    weights = np.array([COLUMN_WEIGHTS[column] for column in _COLUMNS])
    frequencies: npt.NDArray[np.float64] = weights[counts_and_columns & 1] * (
        counts_and_columns >> 1
    )
    return frequencies


@dataclass(frozen=True)
class _Read:
    """A phrase's readable postings, with each passage's length in characters."""

    postings: Postings
    lengths: npt.NDArray[np.float64]


def _readable_counted(db: Any, tokens: Sequence[str], markings: str) -> _Read:
    """Every readable passage holding a phrase of one or two tokens (passage_terms)."""
    ids, counted, lengths = db.execute(
        "SELECT group_concat(t.chunk_id), group_concat(t.tf * 2 + t.col), "
        "group_concat(s.length) FROM passage_terms t "
        "CROSS JOIN passage_spans s ON s.chunk_id = t.chunk_id "
        "WHERE t.term = ? AND s.marking_id IN (SELECT value FROM json_each(?))",
        (_PAIR.join(tokens), markings),
    ).fetchone()
    chunk_ids = _integers(ids)
    postings = _postings(chunk_ids, _frequencies(_integers(counted)))
    # Rows come in chunk id order (the key), a passage's title row beside its text row.
    firsts = np.flatnonzero(np.diff(chunk_ids, prepend=-1) != 0)
    return _Read(postings, _integers(lengths)[firsts].astype(np.float64))


def _readable_of(db: Any, postings: Postings, markings: str) -> _Read:
    """The readable part of `postings` (of any marking), with lengths."""
    rows = db.execute(
        "SELECT chunk_id, length FROM passage_spans "
        "WHERE chunk_id IN (SELECT value FROM json_each(?)) "
        "AND marking_id IN (SELECT value FROM json_each(?)) ORDER BY chunk_id",
        (json.dumps(postings.chunk_ids.tolist()), markings),
    ).fetchall()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    kept = np.isin(postings.chunk_ids, ids)
    return _Read(
        Postings(postings.chunk_ids[kept], postings.frequencies[kept]),
        np.array([row[1] for row in rows], dtype=np.float64),
    )


def _every_marking(db: Any, tokens: Sequence[str]) -> Postings:
    """A phrase of one or two tokens, in the passages of every marking."""
    ids, counted = db.execute(
        "SELECT group_concat(chunk_id), group_concat(tf * 2 + col) "
        "FROM passage_terms WHERE term = ?",
        (_PAIR.join(tokens),),
    ).fetchone()
    return _postings(_integers(ids), _frequencies(_integers(counted)))


def _looked_up(db: Any, tokens: Sequence[str], chunk_ids: npt.NDArray[np.int64]) -> Postings:
    """A phrase of one or two tokens in the given (readable) passages only."""
    ids, counted = db.execute(
        "SELECT group_concat(chunk_id), group_concat(tf * 2 + col) FROM passage_terms "
        "WHERE term = ? AND chunk_id IN (SELECT value FROM json_each(?))",
        (_PAIR.join(tokens), json.dumps(chunk_ids.tolist())),
    ).fetchone()
    return _postings(_integers(ids), _frequencies(_integers(counted)))


def _document_frequencies(
    db: Any, phrases: Sequence[tuple[str, ...]], markings: str
) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
    """How many readable passages hold each phrase of one or two tokens, and how
    many of any marking (which only decides how its postings are read)."""
    terms = {_PAIR.join(tokens): tokens for tokens in phrases}
    rows = db.execute(
        "SELECT term, SUM(CASE WHEN marking_id IN (SELECT value FROM json_each(?)) "
        "THEN passages ELSE 0 END), SUM(passages) FROM term_passages "
        "WHERE term IN (SELECT value FROM json_each(?)) GROUP BY term",
        (markings, json.dumps(sorted(terms))),
    ).fetchall()
    readable = {terms[term]: int(n) for term, n, _ in rows if n > 0}
    return readable, {terms[term]: int(n) for term, _, n in rows}


def _idf(count: int, held: int) -> float:
    idf = math.log((count - held + 0.5) / (held + 0.5))
    return idf if idf > 0.0 else IDF_FLOOR


def _gains(
    idf: float, frequencies: npt.NDArray[np.float64], norms: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    # BM25's term weight; FTS5's formula, element by element.
    gains: npt.NDArray[np.float64] = idf * frequencies * (K1 + 1.0) / (frequencies + norms)
    return gains


def _places(
    chunk_ids: npt.NDArray[np.int64], wanted: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Where each of `wanted` sits in the ascending `chunk_ids`, and which are there."""
    places = np.searchsorted(chunk_ids, wanted)
    inside = places < len(chunk_ids)
    inside[inside] = chunk_ids[places[inside]] == wanted[inside]
    return places, inside


# What reading costs, in microseconds per row (a warm 260,000-passage store):
# a posting of any marking as one string per phrase; a posting joined with its
# passage's marking and length; a readable passage's id and length, all of them
# at once; a posting looked up by passage (one index seek each).
_PLAIN, _JOINED, _READABLE, _LOOKUP = 0.25, 1.0, 0.32, 5.0


class _Postings:
    """How one query reads postings: whichever way costs least, same rows.

    Each phrase's postings are joined with passage_spans (the marking and
    length of each passage) until that has cost more than reading every
    readable passage's id and length at once (at once for a narrow reader or
    a small workspace); from then on, postings of every marking are matched
    against those. A phrase needed for a few passages only is looked
    up in those. Every way yields the same postings: only the time differs.
    """

    def __init__(self, db: Any, markings: str, count: int) -> None:
        self.db, self.markings, self.count = db, markings, count
        self.readable: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None
        self.joined = 0  # postings read through the join so far

    def every(self, tokens: Sequence[str], held: int) -> _Read:
        """Every readable passage holding a phrase of one or two tokens; `held`,
        the passages of any marking that hold it."""
        if self.readable is None:
            if (self.joined + held) * (_JOINED - _PLAIN) <= self.count * _READABLE:
                self.joined += held
                return _readable_counted(self.db, tokens, self.markings)
            ids, lengths = self.db.execute(
                "SELECT group_concat(chunk_id), group_concat(length) FROM passage_spans "
                "WHERE marking_id IN (SELECT value FROM json_each(?))",
                (self.markings,),
            ).fetchone()
            chunk_ids = _integers(ids)
            order = np.argsort(chunk_ids)
            self.readable = chunk_ids[order], _integers(lengths)[order].astype(np.float64)
        chunk_ids, lengths = self.readable
        postings = self.within(tokens, chunk_ids, held)
        places, inside = _places(chunk_ids, postings.chunk_ids)
        kept = Postings(postings.chunk_ids[inside], postings.frequencies[inside])
        return _Read(kept, lengths[places[inside]])

    def within(
        self, tokens: Sequence[str], chunk_ids: npt.NDArray[np.int64], held: int
    ) -> Postings:
        """A phrase of one or two tokens, in (at least) the passages `chunk_ids`;
        `held`, the passages of any marking that hold it."""
        if len(chunk_ids) * _LOOKUP < held * _PLAIN:
            return _looked_up(self.db, tokens, chunk_ids)
        return _every_marking(self.db, tokens)


class _Candidates:
    """Readable passages holding a phrase read so far, their lengths, and a lower
    bound of their scores (the gains of the phrases read)."""

    def __init__(self) -> None:
        self.chunk_ids = np.zeros(0, dtype=np.int64)
        self.lengths = np.zeros(0)
        self.partial = np.zeros(0)

    def add(self, read: _Read, idf: float, weight: int, average_length: float) -> None:
        merged = np.concatenate((self.chunk_ids, read.postings.chunk_ids))
        merged.sort()
        merged = merged[np.diff(merged, prepend=-1) != 0]
        lengths, partial = np.zeros(len(merged)), np.zeros(len(merged))
        old = np.searchsorted(merged, self.chunk_ids)
        lengths[old], partial[old] = self.lengths, self.partial
        new = np.searchsorted(merged, read.postings.chunk_ids)
        lengths[new] = read.lengths
        norms = K1 * (1.0 - B + B * read.lengths / average_length)
        partial[new] += weight * _gains(idf, read.postings.frequencies, norms)
        self.chunk_ids, self.lengths, self.partial = merged, lengths, partial

    def raise_by(self, postings: Postings, idf: float, weight: int, average_length: float) -> None:
        """Add a phrase's gains to the candidates that hold it (and no others)."""
        places, inside = _places(self.chunk_ids, postings.chunk_ids)
        places = places[inside]
        norms = K1 * (1.0 - B + B * self.lengths[places] / average_length)
        self.partial[places] += weight * _gains(idf, postings.frequencies[inside], norms)

    def keep(self, kept: npt.NDArray[np.bool_]) -> None:
        self.chunk_ids = self.chunk_ids[kept]
        self.lengths, self.partial = self.lengths[kept], self.partial[kept]

    def cut(self, limit: int) -> float | None:
        """The `limit`-th best lower bound, if there are that many candidates."""
        if len(self.partial) < limit:
            return None
        return float(np.partition(self.partial, len(self.partial) - limit)[-limit])


# Pruning compares sums taken in another order than the score's: a margin far
# above rounding and far below any gain keeps every passage that could tie.
_MARGIN = 1e-9


def score_passages(
    db: Any,
    phrases: Sequence[tuple[str, ...]],
    readable_marking_ids: Sequence[int],
    limit: int,
) -> dict[int, float]:
    """BM25 of the readable passages holding at least one phrase: the `limit` best
    and every one tied with the last of them, as {chunk id: score}.

    Statistics come from the readable markings' counts (marking_passages,
    term_passages). Phrases are read rarest first, each in full (every
    readable passage holding it); once the phrases left could not lift a
    passage holding none of those read to the `limit`-th best score found so
    far (MaxScore: each phrase's gain is below idf x (k1 + 1)), they are looked
    up in the passages that can still make the cut, and nowhere else. The
    result is the exhaustive ranking's, to the last bit: gains are summed
    phrase by phrase in query order, as FTS5 does.
    """
    markings = json.dumps(sorted(set(readable_marking_ids)))
    count, total_length = db.execute(
        "SELECT COALESCE(SUM(passages), 0), COALESCE(SUM(length), 0) FROM marking_passages "
        "WHERE marking_id IN (SELECT value FROM json_each(?))",
        (markings,),
    ).fetchone()
    if count == 0 or limit <= 0 or not phrases:
        return {}
    average_length = total_length / count
    weights = Counter(phrases)
    read: dict[tuple[str, ...], _Read] = {
        tokens: _readable_of(db, _positional_postings(db, tokens), markings)
        for tokens in weights
        if len(tokens) > 2
    }
    held, spread = _document_frequencies(db, [t for t in weights if len(t) <= 2], markings)
    held.update({tokens: len(r.postings.chunk_ids) for tokens, r in read.items()})
    reading = _Postings(db, markings, count)
    idf = {tokens: _idf(count, n) for tokens, n in held.items() if n > 0}
    bound = {tokens: value * (K1 + 1.0) * weights[tokens] for tokens, value in idf.items()}
    # Long phrases first (already read), then the rarest; ties by query order.
    order = sorted(idf, key=lambda t: (t not in read, -bound[t], phrases.index(t)))
    candidates = _Candidates()
    pruning = False
    for number, tokens in enumerate(order):
        rest = math.fsum(bound[t] for t in order[number:])
        cut = candidates.cut(limit)
        # Once the phrases left cannot lift a passage holding none of those read
        # to the cut, no other passage can make it: from then on only the
        # candidates that still can are kept, and the phrases looked up in them.
        pruning = pruning or (cut is not None and rest < cut * (1.0 - _MARGIN))
        if pruning:
            assert cut is not None
            candidates.keep(candidates.partial + rest >= cut * (1.0 - _MARGIN))
            if tokens in read:  # a long phrase, read before any other
                postings = read[tokens].postings
            else:
                postings = reading.within(tokens, candidates.chunk_ids, spread[tokens])
                read[tokens] = _Read(postings, np.zeros(0))
            candidates.raise_by(postings, idf[tokens], weights[tokens], average_length)
            continue
        if tokens not in read:
            read[tokens] = reading.every(tokens, spread[tokens])
        candidates.add(read[tokens], idf[tokens], weights[tokens], average_length)
    norms = K1 * (1.0 - B + B * candidates.lengths / average_length)
    scores = np.zeros(len(candidates.chunk_ids))
    for tokens in phrases:
        if tokens not in idf:
            continue
        postings = read[tokens].postings
        places, inside = _places(candidates.chunk_ids, postings.chunk_ids)
        places = places[inside]
        scores[places] += _gains(idf[tokens], postings.frequencies[inside], norms[places])
    chosen = np.arange(len(scores))
    if len(chosen) > limit:
        # Everything tied with the limit-th score stays: ties fall to document
        # and offset, which the caller reads for these passages only.
        last = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        chosen = chosen[scores >= last]
    return {int(candidates.chunk_ids[p]): float(scores[p]) for p in chosen}


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
    best = score_passages(db, phrases, readable_marking_ids, limit)
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
