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

The term frequencies of one-word phrases come from `passage_terms`, counted
per passage at ingest (`term_counts`: unicode61's token characters, accents
folded), so a query costs the passages that hold its words, not their
occurrences; phrases of several words ("btr-82a") read token positions from
FTS5's own index (an `fts5vocab` table of token instances, kept in the
connection's temp schema). No passage text is read to rank it. Lengths are
counted in characters of passage text (`end - start`), not in tokens: FTS5
keeps token counts in a blob of its own, which cannot be summed over the
readable rows in SQL. Titles do not count in the length. Otherwise the formula
is FTS5's (k1 = 1.2, b = 0.75, the same floor on negative idf), so the order
stays close to what `bm25()` gave. Ties are broken by document id, then
offset: readable data, never a row id that hidden rows could shift.
"""

from __future__ import annotations

import heapq
import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guetteur._text import fold_marks

__all__ = [
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


@dataclass(frozen=True)
class ScoredPassage:
    """A readable passage and its BM25 score (higher is better)."""

    chunk_id: int
    doc_id: str
    start: int
    score: float


@dataclass(frozen=True)
class _Passage:
    doc_id: str
    start: int
    length: int


# Token instances: passage (chunk id), column name, token offset in that column
# (-1 when only counted), and how many instances the row stands for.
_Instance = tuple[int, str, int, int]


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


def term_counts(text: str) -> Counter[str]:
    """How often each token occurs in `text`, tokenised as `phrase_tokens` does."""
    plain = fold_marks(text, "NFD")
    return Counter(_TOKEN.findall(plain))


def passage_term_rows(chunk_id: int, title: str, text: str) -> list[tuple[str, int, int, int]]:
    """Rows of `passage_terms` for one passage: (term, chunk id, column, count)."""
    rows = [(term, chunk_id, 0, n) for term, n in term_counts(title).items()] if title else []
    rows.extend((term, chunk_id, 1, n) for term, n in term_counts(text).items())
    return rows


def _occurrences(
    tokens: Sequence[str], instances: Mapping[str, Sequence[_Instance]]
) -> dict[tuple[int, str], int]:
    """How often the phrase `tokens` occurs in each passage and column (consecutive tokens)."""
    counts: Counter[tuple[int, str]] = Counter()
    if len(tokens) == 1:
        for chunk_id, column, _, n in instances.get(tokens[0], ()):
            counts[(chunk_id, column)] += n
        return counts
    later = [
        {(chunk_id, column, offset) for chunk_id, column, offset, _ in instances.get(token, ())}
        for token in tokens[1:]
    ]
    for chunk_id, column, offset, _ in instances.get(tokens[0], ()):
        if all((chunk_id, column, offset + j) in rest for j, rest in enumerate(later, start=1)):
            counts[(chunk_id, column)] += 1
    return counts


def score_passages(
    phrases: Sequence[Sequence[str]],
    instances: Mapping[str, Sequence[_Instance]],
    passages: Mapping[int, _Passage],
    readable_count: int,
    readable_length: int,
    limit: int,
) -> list[ScoredPassage]:
    """BM25 of the `limit` best passages holding at least one phrase, best first.

    `instances` are the readable token instances of the phrases' tokens,
    `passages` the readable passages they fall in; `readable_count` and
    `readable_length` the number of readable passages and their total length
    in characters.
    """
    if readable_count == 0:
        return []
    average_length = readable_length / readable_count
    scores: dict[int, float] = {}
    # Summed phrase by phrase in query order, title before text: equal inputs, equal floats.
    for tokens in phrases:
        if not tokens:
            continue  # FTS5 matches nothing with an empty phrase
        frequencies: dict[int, float] = {}
        for (chunk_id, column), n in sorted(_occurrences(tokens, instances).items()):
            frequencies[chunk_id] = frequencies.get(chunk_id, 0.0) + COLUMN_WEIGHTS[column] * n
        idf = math.log((readable_count - len(frequencies) + 0.5) / (len(frequencies) + 0.5))
        idf = idf if idf > 0.0 else IDF_FLOOR
        for chunk_id, frequency in frequencies.items():
            norm = K1 * (1.0 - B + B * passages[chunk_id].length / average_length)
            gain = idf * frequency * (K1 + 1.0) / (frequency + norm)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + gain
    best = heapq.nsmallest(
        limit,
        scores.items(),
        key=lambda pair: (-pair[1], passages[pair[0]].doc_id, passages[pair[0]].start),
    )
    return [
        ScoredPassage(chunk_id, passages[chunk_id].doc_id, passages[chunk_id].start, score)
        for chunk_id, score in best
    ]


def rank_passages(
    db: Any, expression: str, readable_marking_ids: Sequence[int], limit: int
) -> list[ScoredPassage]:
    """The `limit` best readable passages for an FTS5 `expression` (see `parse_phrases`)."""
    phrases = [phrase_tokens(phrase) for phrase in parse_phrases(expression)]
    tokens = sorted({token for phrase in phrases for token in phrase})
    if not tokens or limit <= 0:
        return []
    readable = json.dumps(list(readable_marking_ids))
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {_INSTANCES} "
        "USING fts5vocab(main, chunks_fts, instance)"
    )
    instances: dict[str, list[_Instance]] = defaultdict(list)
    passages: dict[int, _Passage] = {}
    # Positions matter only for phrases of several tokens ("btr-82a"); a
    # one-token phrase needs counts per passage, kept at ingest in
    # passage_terms: the cost is then the passages that hold it, not its
    # occurrences (a 50 MB document repeats a word a hundred thousand times in
    # a few thousand passages).
    in_phrases = {token for phrase in phrases if len(phrase) > 1 for token in phrase}
    counted = [token for token in tokens if token not in in_phrases]
    rows = db.execute(
        "SELECT pt.term, pt.chunk_id, pt.col, pt.tf, c.doc_id, c.start, c.end "
        "FROM passage_terms pt JOIN chunks c ON c.id = pt.chunk_id "
        "WHERE pt.term IN (SELECT value FROM json_each(?)) "
        "AND c.marking_id IN (SELECT value FROM json_each(?))",
        (json.dumps(counted), readable),
    ).fetchall()
    for term, chunk_id, column, n, doc_id, start, end in rows:
        instances[term].append((chunk_id, _COLUMNS[column], -1, n))
        if chunk_id not in passages:
            passages[chunk_id] = _Passage(doc_id, start, end - start)
    rows = (
        db.execute(
            f"SELECT v.term, v.doc, v.col, v.offset, c.doc_id, c.start, c.end FROM {_INSTANCES} v "
            "JOIN chunks c ON c.id = v.doc "
            "WHERE v.term IN (SELECT value FROM json_each(?)) "
            "AND c.marking_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(in_phrases)), readable),
        ).fetchall()
        if in_phrases
        else []
    )
    for term, chunk_id, column, offset, doc_id, start, end in rows:
        instances[term].append((chunk_id, column, offset, 1))
        if chunk_id not in passages:
            passages[chunk_id] = _Passage(doc_id, start, end - start)
    count, length = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(c.end - c.start), 0) FROM chunks c "
        "WHERE c.marking_id IN (SELECT value FROM json_each(?))",
        (readable,),
    ).fetchone()
    return score_passages(phrases, instances, passages, count, length, limit)
