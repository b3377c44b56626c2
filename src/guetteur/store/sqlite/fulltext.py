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

Term frequencies are counted per passage at ingest (`passage_term_rows`:
unicode61's token characters, accents folded): each word, and each pair of
consecutive words ("au dessus", the phrase that the query word "au-dessus"
makes), so a phrase of one or two words costs the passages that hold it, not
its occurrences. `passage_terms` keeps them one row per term and passage;
`term_blocks` (schema 17, store/sqlite/postings.py) keeps the same counts
packed per term and marking, with each passage's length, and that is what a
query reads: a common word's readable passages in a few blobs, scored as
arrays (numpy), never row by row in Python, and never the passages of
markings the reader may not read. Phrases of three words or more
("s-300-pmu", rare) read token positions from FTS5's own index (an
`fts5vocab` table of token instances, kept in the connection's temp schema).
No passage text is read to rank it. Lengths are counted in
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
It reads through a `PostingsSource`: `SQLiteSource` here, and the
PostgreSQL store's own (store/postgres/fulltext.py), so both stores rank
with the same code.
What the reader sees is computed from readable passages alone (the time it
takes is not; see README, "Search at scale" and "One large document").
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from guetteur._text import fold_marks
from guetteur.store.sqlite import postings

__all__ = [
    "PhrasePostings",
    "Postings",
    "PostingsSource",
    "SQLiteSource",
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


def _frequencies(counts_and_columns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    # Count and column (0 or 1) come as one number: a third fewer numbers to read.
    weights = np.array([COLUMN_WEIGHTS[column] for column in _COLUMNS])
    frequencies: npt.NDArray[np.float64] = weights[counts_and_columns & 1] * (
        counts_and_columns >> 1
    )
    return frequencies


# term_blocks keeps frequencies as integers: the column weights must be whole.
assert tuple(COLUMN_WEIGHTS[column] for column in _COLUMNS) == postings.COLUMN_WEIGHTS


@dataclass(frozen=True)
class PhrasePostings:
    """A phrase's readable postings: passages (each once, in any order), their
    weighted frequencies, and their lengths in characters (empty for a lookup,
    whose passages are candidates already, lengths known)."""

    chunk_ids: npt.NDArray[np.int64]
    frequencies: npt.NDArray[np.float64]
    lengths: npt.NDArray[np.float64]


class PostingsSource(Protocol):
    """What ranking reads from a store, for the readable markings only (each
    store answers from its own tables; `score_passages` does the rest)."""

    def totals(self) -> tuple[int, int]:
        """The readable passages, and their total length in characters."""

    # What looking a term up in one candidate costs, in postings read whole: a
    # phrase needed for fewer candidates than its readable postings / this is
    # looked up in them (`looked_up`), otherwise read whole.
    lookup_cost: float

    def largest_id(self) -> int:
        """The largest passage id of any marking (only sizes arrays: ranking reads
        nothing else of hidden passages)."""

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """How many readable passages hold each term (a word or a pair of words)."""

    def whole(self, term: str) -> PhrasePostings:
        """Every readable passage holding a term."""

    def looked_up(self, term: str, chunk_ids: npt.NDArray[np.int64]) -> PhrasePostings:
        """A term in the given (readable) passages only."""

    def long_phrase(self, tokens: tuple[str, ...]) -> PhrasePostings:
        """Every readable passage holding a phrase of three tokens or more."""


class SQLiteSource:
    """Postings from an SQLite store: packed blocks, per-passage rows, FTS5 positions."""

    # What reading costs on a warm million-passage store: 0.02 µs a readable
    # posting read from term_blocks, 5 µs a posting looked up by passage in
    # passage_terms (one index seek each). Both give the same postings: only
    # the time differs.
    lookup_cost = 5.0 / 0.02

    def __init__(self, db: Any, readable_marking_ids: Sequence[int]) -> None:
        self.db = db
        # What term blocks are read through (PostgreSQL's source asks for bytes).
        self.blocks = db
        self.markings = json.dumps(sorted(set(readable_marking_ids)))

    def totals(self) -> tuple[int, int]:
        count, total_length = self.db.execute(
            "SELECT COALESCE(SUM(passages), 0), COALESCE(SUM(length), 0) "
            "FROM marking_passages WHERE marking_id IN (SELECT value FROM json_each(?))",
            (self.markings,),
        ).fetchone()
        return int(count), int(total_length)

    def largest_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM chunks").fetchone()[0])

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT term, SUM(passages) FROM term_passages "
            "WHERE term IN (SELECT value FROM json_each(?)) "
            "AND marking_id IN (SELECT value FROM json_each(?)) GROUP BY term",
            (json.dumps(sorted(set(terms))), self.markings),
        ).fetchall()
        return {term: int(n) for term, n in rows}

    def whole(self, term: str) -> PhrasePostings:
        found = postings.read(self.blocks, term, self.markings)
        return PhrasePostings(
            found["chunk_id"],
            found["frequency"].astype(np.float64),
            found["length"].astype(np.float64),
        )

    def looked_up(self, term: str, chunk_ids: npt.NDArray[np.int64]) -> PhrasePostings:
        ids, counted = self.db.execute(
            "SELECT group_concat(chunk_id), group_concat(tf * 2 + col) FROM passage_terms "
            "WHERE term = ? AND chunk_id IN (SELECT value FROM json_each(?))",
            (term, json.dumps(chunk_ids.tolist())),
        ).fetchone()
        found = _postings(postings.integers(ids), _frequencies(postings.integers(counted)))
        return PhrasePostings(found.chunk_ids, found.frequencies, np.zeros(0))

    def long_phrase(self, tokens: tuple[str, ...]) -> PhrasePostings:
        found = _positional_postings(self.db, tokens)
        rows = self.db.execute(
            "SELECT chunk_id, length FROM passage_spans "
            "WHERE chunk_id IN (SELECT value FROM json_each(?)) "
            "AND marking_id IN (SELECT value FROM json_each(?)) ORDER BY chunk_id",
            (json.dumps(found.chunk_ids.tolist()), self.markings),
        ).fetchall()
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        kept = np.isin(found.chunk_ids, ids)
        return PhrasePostings(
            found.chunk_ids[kept],
            found.frequencies[kept],
            np.array([row[1] for row in rows], dtype=np.float64),
        )


def _idf(count: int, held: int) -> float:
    idf = math.log((count - held + 0.5) / (held + 0.5))
    return idf if idf > 0.0 else IDF_FLOOR


def _gains(
    idf: float, frequencies: npt.NDArray[np.float64], norms: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    # BM25's term weight; FTS5's formula, element by element.
    gains: npt.NDArray[np.float64] = idf * frequencies * (K1 + 1.0) / (frequencies + norms)
    return gains


# Pruning compares sums taken in another order than the score's: a margin far
# above rounding and far below any gain keeps every passage that could tie.
_MARGIN = 1e-9


class _Candidates:
    """Readable passages holding a phrase read so far, their lengths, and a lower
    bound of their scores (the gains of the phrases read). Kept in arrays
    indexed by passage id, so adding a phrase's postings costs those postings
    (no sort, no merge); the arrays grow with the largest id seen."""

    def __init__(self, largest_id: int) -> None:
        self.held = np.zeros(largest_id + 1, dtype=np.bool_)
        self.lengths = np.zeros(largest_id + 1)
        self.partial = np.zeros(largest_id + 1)
        # `ids()` as last found, while no passage has come or gone since (finding
        # them scans `held`, a million entries at a million passages).
        self._ids: npt.NDArray[np.int64] | None = None

    def _reach(self, chunk_ids: npt.NDArray[np.int64]) -> None:
        # Passages written since the largest id was read.
        if len(chunk_ids) == 0 or int(chunk_ids.max()) < len(self.held):
            return
        size = max(int(chunk_ids.max()) + 1, 2 * len(self.held))
        for name in ("held", "lengths", "partial"):
            old = getattr(self, name)
            grown = np.zeros(size, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def ids(self) -> npt.NDArray[np.int64]:
        """The candidates, in passage id order."""
        if self._ids is None:
            self._ids = np.flatnonzero(self.held)
        return self._ids

    def where(
        self, chunk_ids: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """The passages of `chunk_ids` that are candidates, and where they sit in it."""
        self._reach(chunk_ids)
        inside = self.held[chunk_ids]
        return chunk_ids[inside], inside

    def add(self, read: PhrasePostings, idf: float, weight: int, average_length: float) -> None:
        self._reach(read.chunk_ids)
        ids = read.chunk_ids  # each passage once: fancy-indexed += adds once
        self.held[ids] = True
        self._ids = None
        self.lengths[ids] = read.lengths
        norms = K1 * (1.0 - B + B * read.lengths / average_length)
        self.partial[ids] += weight * _gains(idf, read.frequencies, norms)

    def raise_by(
        self, read: PhrasePostings, idf: float, weight: int, average_length: float
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Add a phrase's gains to the candidates that hold it (and no others);
        return those candidates and the phrase's gain in each (what the final
        sum adds again)."""
        ids, inside = self.where(read.chunk_ids)
        norms = K1 * (1.0 - B + B * self.lengths[ids] / average_length)
        gains = _gains(idf, read.frequencies[inside], norms)
        self.partial[ids] += weight * gains
        return ids, gains

    def keep(self, ids: npt.NDArray[np.int64], kept: npt.NDArray[np.bool_]) -> None:
        """Keep of `ids` (the candidates, `ids()`) those where `kept` holds."""
        self.held[ids[~kept]] = False
        self._ids = ids[kept]

    def cut(self, ids: npt.NDArray[np.int64], limit: int, rest: float) -> float | None:
        """The `limit`-th best lower bound among `ids` (the candidates); None when
        there are fewer, or when even the best is not above `rest` (what the
        phrases left may add), for then no cut can prune."""
        if len(ids) < limit:
            return None
        partial = self.partial[ids]
        # The best bounds the limit-th, and costs less to find.
        if float(partial.max()) * (1.0 - _MARGIN) <= rest:
            return None
        return float(np.partition(partial, len(partial) - limit)[-limit])


def score_passages(
    source: PostingsSource, phrases: Sequence[tuple[str, ...]], limit: int
) -> dict[int, float]:
    """BM25 of the readable passages holding at least one phrase: the `limit` best
    and every one tied with the last of them, as {chunk id: score}.

    Statistics come from the readable markings' counts (on SQLite,
    marking_passages and term_passages). Phrases are read rarest first, each
    in full (every readable passage holding it: on SQLite, from term_blocks);
    once the phrases left
    could not lift a passage holding none of those read to the `limit`-th best
    score found so far (MaxScore: each phrase's gain is below idf x (k1 + 1)),
    they are looked up in the passages that can still make the cut, and
    nowhere else. The result is the exhaustive ranking's, to the last bit:
    gains are summed phrase by phrase in query order, as FTS5 does.
    """
    count, total_length = source.totals()
    if count == 0 or limit <= 0 or not phrases:
        return {}
    average_length = total_length / count
    weights = Counter(phrases)
    read = {tokens: source.long_phrase(tokens) for tokens in weights if len(tokens) > 2}
    terms = {_PAIR.join(tokens): tokens for tokens in weights if len(tokens) <= 2}
    held = {terms[t]: n for t, n in source.document_frequencies(list(terms)).items() if n > 0}
    held.update({tokens: len(r.chunk_ids) for tokens, r in read.items()})
    idf = {tokens: _idf(count, n) for tokens, n in held.items() if n > 0}
    bound = {tokens: value * (K1 + 1.0) * weights[tokens] for tokens, value in idf.items()}
    # Long phrases first (already read), then the rarest; ties by query order.
    order = sorted(idf, key=lambda t: (t not in read, -bound[t], phrases.index(t)))
    candidates = _Candidates(source.largest_id())
    # The gains of each phrase read once pruning has begun, in the candidates
    # then: the final sum adds them again, without their other postings.
    gained: dict[tuple[str, ...], tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    pruning = False
    for number, tokens in enumerate(order):
        rest = math.fsum(bound[t] for t in order[number:])
        # No lower bound can pass what the phrases read may add at most: while
        # that is not above `rest`, no cut can prune, and none is looked for.
        if pruning or math.fsum(bound[t] for t in order[:number]) > rest:
            ids = candidates.ids()
            cut = candidates.cut(ids, limit, rest)
            # Once the phrases left cannot lift a passage holding none of those
            # read to the cut, no other passage can make it: from then on only
            # the candidates that still can are kept, and the phrases looked up
            # in them. (The cut only rises and `rest` only falls: once pruning,
            # a cut is found.)
            pruning = pruning or (cut is not None and rest < cut * (1.0 - _MARGIN))
        if pruning:
            assert cut is not None
            candidates.keep(ids, candidates.partial[ids] + rest >= cut * (1.0 - _MARGIN))
            found = read.pop(tokens, None)
            if found is None:
                ids = candidates.ids()
                if len(ids) * source.lookup_cost < held[tokens]:
                    found = source.looked_up(_PAIR.join(tokens), ids)
                else:
                    found = source.whole(_PAIR.join(tokens))
            gained[tokens] = candidates.raise_by(
                found, idf[tokens], weights[tokens], average_length
            )
            continue
        if tokens not in read:
            read[tokens] = source.whole(_PAIR.join(tokens))
        candidates.add(read[tokens], idf[tokens], weights[tokens], average_length)
    # The candidates' scores, summed again in query order (`chosen` is sorted).
    chosen = candidates.ids()
    scores = np.zeros(len(chosen))
    for tokens in phrases:
        if tokens in gained:
            ids, gains = gained[tokens]
            ids, inside = candidates.where(ids)
            gains = gains[inside]
        elif tokens in idf:
            ids, inside = candidates.where(read[tokens].chunk_ids)
            norms = K1 * (1.0 - B + B * candidates.lengths[ids] / average_length)
            gains = _gains(idf[tokens], read[tokens].frequencies[inside], norms)
        else:
            continue
        scores[np.searchsorted(chosen, ids)] += gains
    if len(chosen) > limit:
        # Everything tied with the limit-th score stays: ties fall to document
        # and offset, which the caller reads for these passages only.
        kept = scores >= np.partition(scores, len(chosen) - limit)[len(chosen) - limit]
        chosen, scores = chosen[kept], scores[kept]
    return dict(zip(chosen.tolist(), scores.tolist(), strict=True))


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
    db: Any,
    expression: str,
    readable_marking_ids: Sequence[int],
    limit: int,
    source: Callable[[Any, Sequence[int]], PostingsSource] = SQLiteSource,
) -> list[ScoredPassage]:
    """The `limit` best readable passages for an FTS5 `expression` (see `parse_phrases`),
    their postings read by `source` (the PostgreSQL store passes its own; `db` then
    is its dialect connection)."""
    # FTS5 matches nothing with an empty phrase.
    phrases = [tuple(t) for p in parse_phrases(expression) if (t := phrase_tokens(p))]
    best = score_passages(source(db, readable_marking_ids), phrases, limit)
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
