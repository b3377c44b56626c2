"""Full text on PostgreSQL: tsvector matching, BM25 from the readable passages only.

Place in the data flow: search/hybrid.py writes the query as quoted phrases
joined by OR (`fts_query`), the same expression the SQLite store reads;
`PostgresStore.search_text` hands it here with the reader's readable marking
ids and gets back the best passages and their scores.

Indexing. A passage's title and text are tokenised in Python exactly as the
SQLite store counts them (store/sqlite/fulltext.py: letters and digits,
lower-cased, accents folded — "Équipement" is "equipement", "BTR-82A" is
"btr" "82a") and handed to PostgreSQL space-separated, so PostgreSQL's parser
has nothing left to split and no `unaccent` is needed. `guetteur_passage_tsv`
(schema.py) keeps them twice in one tsvector, told apart by weight:

- under the `simple` configuration, the words as they are (title A, text D):
  designators, grid references and codes ("35vnf6763382659") match exactly;
- under the passage's language, `french` or `english`, their stems (title B,
  text C), so "équipements" finds "équipement" and "strikes" "strike".

Querying. Each phrase becomes a tsquery of its exact words (`'btr':AD <->
'82a':AD`) or of their French and English stems (`'equip':BC`); a passage
holds the phrase when either matches, and the phrase's frequency there is
the larger of the two counts, read from the tsvector's positions (title
occurrences weigh 2.0, text 1.0, as on SQLite).

Ranking without leaking: PostgreSQL's own `ts_rank` would be safe (it reads
one passage at a time), but has no inverse document frequency, so a rare
designator would weigh no more than "report". Here BM25 is computed with
every statistic counted over the readable passages only, as on SQLite:

- N and the average length (characters, `end - start`) from
  `marking_passages`, one row per readable marking, kept by triggers;
- df, the readable passages that hold each phrase: the GIN index finds the
  passages, the marking filter keeps the readable ones, in the same query;
- tf from those passages' own positions.

Ties fall to document id, then offset: readable data, never a row id.
Limits: PostgreSQL keeps at most 256 positions of a word per passage, and
positions above 16,383 collapse onto the last one; a grown passage of a huge
document (tens of kilobytes) may so count a frequent word short, and the
phrases beyond its first 16,383 words are not found by position.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guetteur.store.sqlite.fulltext import (
    IDF_FLOOR,
    K1,
    B,
    ScoredPassage,
    parse_phrases,
    phrase_tokens,
)
from guetteur.store.sqlite.fulltext import _tokens as passage_tokens

__all__ = ["CONFIGURATIONS", "indexed_words", "rank_passages"]

# The stemming configuration of each language a document may be detected in;
# others are indexed by their exact words only.
CONFIGURATIONS = {"fr": "french", "en": "english"}
_EXACT = {"A": 2.0, "D": 1.0}  # title, text
_STEMMED = {"B": 2.0, "C": 1.0}


def indexed_words(title: str, text: str, language: str) -> tuple[str, str, str | None]:
    """The parameters of `guetteur_passage_tsv` for one passage: its title's and text's
    tokens, space-separated, and the stemming configuration of its language."""
    return (
        " ".join(passage_tokens(title)) if title else "",
        " ".join(passage_tokens(text)),
        CONFIGURATIONS.get(language),
    )


@dataclass(frozen=True)
class _Phrase:
    exact: tuple[str, ...]  # lexemes under `simple`
    stems: tuple[
        tuple[int, tuple[str, ...]], ...
    ]  # (offset, alternative stems); stopwords left out

    def exact_query(self) -> str:
        return "(" + " <-> ".join(f"{_quote(lexeme)}:AD" for lexeme in self.exact) + ")"

    def tsquery(self) -> str:
        exact = " <-> ".join(f"{_quote(lexeme)}:AD" for lexeme in self.exact)
        if not self.stems:
            return f"({exact})"
        parts: list[str] = []
        previous = None
        for offset, alternatives in self.stems:
            group = "(" + " | ".join(f"{_quote(stem)}:BC" for stem in alternatives) + ")"
            if previous is not None:
                parts.append(f"<{offset - previous}>")
            parts.append(group)
            previous = offset
        return f"(({exact}) | ({' '.join(parts)}))"


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _phrases(pg: Any, expression: str) -> list[_Phrase]:
    """The expression's phrases, with each word's exact lexeme and French and English stems."""
    tokenised = [tuple(t) for p in parse_phrases(expression) if (t := phrase_tokens(p))]
    words = sorted({word for tokens in tokenised for word in tokens})
    if not words:
        return []
    rows = pg.execute(
        "SELECT w, ARRAY(SELECT lexeme FROM unnest(to_tsvector('simple', w))), "
        "ARRAY(SELECT lexeme FROM unnest(to_tsvector('french', w)) "
        "UNION SELECT lexeme FROM unnest(to_tsvector('english', w))) "
        "FROM unnest(%s::text[]) AS w",
        (words,),
    ).fetchall()
    exact = {w: (simple[0] if len(simple) == 1 else w) for w, simple, _ in rows}
    stems = {w: tuple(sorted(found)) for w, _, found in rows}
    phrases = []
    for tokens in tokenised:
        offsets = tuple((k, stems[w]) for k, w in enumerate(tokens) if stems[w])
        phrases.append(_Phrase(tuple(exact[w] for w in tokens), offsets))
    return phrases


def _occurrences(
    positions: dict[str, dict[int, str]],
    pattern: Sequence[tuple[int, Sequence[str]]],
    weights: dict[str, float],
) -> float:
    """Weighted count of the places where each (offset, lexemes) of `pattern` is found,
    all in one column (weight letter) of the passage."""
    if not pattern:
        return 0.0
    first_offset, first = pattern[0]
    total = 0.0
    for lexeme in first:
        for position, letter in positions.get(lexeme, {}).items():
            if letter not in weights:
                continue
            start = position - first_offset
            if all(
                any(positions.get(alt, {}).get(start + offset) == letter for alt in alternatives)
                for offset, alternatives in pattern[1:]
            ):
                total += weights[letter]
    return total


def rank_passages(
    pg: Any, expression: str, readable_marking_ids: Sequence[int], limit: int
) -> list[ScoredPassage]:
    """The `limit` best readable passages for an FTS5-style `expression` of phrases."""
    phrases = _phrases(pg, expression)
    readable = list(readable_marking_ids)
    if not phrases or limit <= 0 or not readable:
        return []
    count, total_length = pg.execute(
        "SELECT COALESCE(SUM(passages), 0), COALESCE(SUM(length), 0) FROM marking_passages "
        "WHERE marking_id = ANY(%s)",
        (readable,),
    ).fetchone()
    if not count:
        return []
    passages: dict[int, tuple[str, int, int]] = {}
    frequencies = _word_frequencies(pg, phrases, readable, passages)
    for index, found in _phrase_frequencies(pg, phrases, readable, passages).items():
        frequencies[index] = found
    average_length = total_length / count
    scores: dict[int, float] = {}
    # Gains summed phrase by phrase in query order: equal inputs, equal floats.
    for index in range(len(phrases)):
        found = frequencies.get(index, {})
        held = len(found)
        if not held:
            continue
        idf = math.log((count - held + 0.5) / (held + 0.5))
        idf = idf if idf > 0.0 else IDF_FLOOR
        for chunk_id, tf in sorted(found.items()):
            norm = K1 * (1.0 - B + B * passages[chunk_id][2] / average_length)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + idf * tf * (K1 + 1.0) / (tf + norm)
    ranked = sorted(
        (
            ScoredPassage(chunk_id, passages[chunk_id][0], passages[chunk_id][1], score)
            for chunk_id, score in scores.items()
        ),
        key=lambda passage: (-passage.score, passage.doc_id, passage.start),
    )
    return ranked[:limit]


# ts_rank_cd's weights {D, C, B, A}: for a query of one word (or of alternatives
# of one word), twice its cover-density rank is the weighted count of the
# places it occurs — title 2.0, text 1.0 — computed by PostgreSQL, in C.
_COUNTING_WEIGHTS = "{0.5,0.5,1,1}"


def _word_frequencies(
    pg: Any,
    phrases: Sequence[_Phrase],
    readable: list[int],
    passages: dict[int, tuple[str, int, int]],
) -> dict[int, dict[int, float]]:
    """Frequencies of the one-word phrases in the readable passages that hold them."""
    words = [(index, p) for index, p in enumerate(phrases) if len(p.exact) == 1]
    if not words:
        return {}
    exact = [p.exact_query() for _, p in words]
    stemmed = [p.tsquery() if p.stems else p.exact_query() for _, p in words]
    stem_only = [
        "(" + " | ".join(f"{_quote(s)}:BC" for s in p.stems[0][1]) + ")"
        if p.stems
        else p.exact_query()
        for _, p in words
    ]
    rows = pg.execute(
        'SELECT q.n, c.id, c.doc_id, c.start, c."end" - c.start, '
        f"2 * ts_rank_cd('{_COUNTING_WEIGHTS}', c.tsv, q.exact, 0), "
        f"2 * ts_rank_cd('{_COUNTING_WEIGHTS}', c.tsv, q.stem, 0) "
        "FROM unnest(%s::tsquery[], %s::tsquery[], %s::tsquery[]) "
        "WITH ORDINALITY AS q(exact, stem, matching, n) "
        "JOIN chunks c ON c.tsv @@ q.matching WHERE c.marking_id = ANY(%s)",
        (exact, stem_only, stemmed, readable),
    ).fetchall()
    found: dict[int, dict[int, float]] = {}
    for n, chunk_id, doc_id, start, length, tf_exact, tf_stem in rows:
        passages[chunk_id] = (doc_id, start, length)
        tf = max(float(tf_exact), float(tf_stem))
        if tf > 0.0:
            found.setdefault(words[n - 1][0], {})[chunk_id] = tf
    return found


def _phrase_frequencies(
    pg: Any,
    phrases: Sequence[_Phrase],
    readable: list[int],
    passages: dict[int, tuple[str, int, int]],
) -> dict[int, dict[int, float]]:
    """Frequencies of the phrases of two words or more, from the passages' positions."""
    several = [(index, p) for index, p in enumerate(phrases) if len(p.exact) > 1]
    if not several:
        return {}
    lexemes = sorted(
        {lexeme for _, p in several for lexeme in p.exact}
        | {stem for _, p in several for _, alternatives in p.stems for stem in alternatives}
    )
    rows = pg.execute(
        'SELECT c.id, c.doc_id, c.start, c."end" - c.start, u.lexeme, u.positions, u.weights '
        "FROM chunks c, unnest(c.tsv) AS u "
        "WHERE c.tsv @@ %s::tsquery AND c.marking_id = ANY(%s) AND u.lexeme = ANY(%s)",
        (" | ".join(p.tsquery() for _, p in several), readable, lexemes),
    ).fetchall()
    words: defaultdict[int, dict[str, dict[int, str]]] = defaultdict(dict)
    for chunk_id, doc_id, start, length, lexeme, positions, weights in rows:
        passages[chunk_id] = (doc_id, start, length)
        words[chunk_id][lexeme] = dict(zip(positions, weights, strict=True))
    found: dict[int, dict[int, float]] = {}
    for index, phrase in several:
        exact_pattern = [(k, (lexeme,)) for k, lexeme in enumerate(phrase.exact)]
        for chunk_id, positions in words.items():
            tf = max(
                _occurrences(positions, exact_pattern, _EXACT),
                _occurrences(positions, phrase.stems, _STEMMED),
            )
            if tf > 0.0:
                found.setdefault(index, {})[chunk_id] = tf
    return found
