"""Hybrid retrieval: full text and multilingual vectors, fused by reciprocal rank.

Full text (BM25, accents folded) finds exact names, designators and codes —
"BTR-82A", "35VNF6763382659" — that embeddings blur; the sentence encoder
finds the same meaning in the other language and in other words. Each side
ranks only the passages the reader may read (the store filters inside its
queries), and neither side's scores use anything else: BM25's statistics are
counted over the readable passages (store/sqlite/fulltext.py), cosine
similarity has no corpus statistics. Reciprocal rank fusion merges the two
lists without having to calibrate BM25 against cosine scores; ties fall to
document id and offset, never to a row number that unreadable rows could
shift. Results are documents, each shown by its best passage.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from guetteur._text import fold_marks
from guetteur.enrich.embeddings import embed
from guetteur.model import Clearance, Marking
from guetteur.store.base import GROWN_OPENING_CHARS, PASSAGE_CHARS, ChunkHit, Store

__all__ = [
    "RankedPassage",
    "SearchResult",
    "fts_query",
    "hybrid_search",
    "passage_opening",
    "query_terms",
    "retrieve_passages",
    "term_share",
]

# Reciprocal rank fusion constant (Cormack et al., 2009): damps the head of each list.
RRF_K = 60
# How many passages each side ranks before fusion.
POOL = 50
SNIPPET_CHARS = 240
# What of a passage is read for its share of the question's words, its snippet
# and (products/ask.py) its sentences: all of an ordinary passage, the opening
# of a grown one (PASSAGE_CHARS and GROWN_OPENING_CHARS, from store/base.py,
# where ranked reads already return only that opening).

# Words that carry no retrieval signal in either language; kept short on purpose.
STOPWORDS = frozenset(
    """
    a an and are as at be by for from has have in is it its of on or that the this to was were
    what when where which who with will would about any all
    au aux avec ce ces dans de des du elle en est et il ils la le les leur lui ma mais me
    mes ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes un une vos
    votre vous y a été quel quelle quels quelles est-ce
    """.split()
)
_WORD = re.compile(r"[\w][\w\-]*", re.UNICODE)


@dataclass(frozen=True)
class SearchResult:
    """One document found, shown by its best passage."""

    id: str
    title: str
    marking: Marking
    grade: str | None
    source: str
    language: str
    snippet: str
    score: float
    start: int
    end: int


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_terms(query: str) -> list[str]:
    """Meaningful words of a query, accents folded, stopwords dropped, order kept."""
    terms: list[str] = []
    for word in _WORD.findall(query):
        folded = _fold(word)
        if (len(folded) > 1 or folded.isdigit()) and folded not in STOPWORDS:
            if folded not in terms:
                terms.append(folded)
    return terms


def fts_query(query: str) -> str | None:
    """An FTS5 expression: any of the terms (BM25 rewards documents with more of them).

    Every term is quoted, so user text can never inject FTS5 syntax (NEAR,
    column filters, a bare '*').
    """
    terms = query_terms(query)
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def passage_opening(text: str) -> str:
    """What search and questions read of a passage's `text`: all of an ordinary
    passage, the opening of a grown one (see PASSAGE_CHARS)."""
    return text if len(text) <= PASSAGE_CHARS else text[:GROWN_OPENING_CHARS]


def _snippet(hit: ChunkHit, terms: list[str]) -> str:
    text = " ".join(passage_opening(hit.text).split())
    if len(text) <= SNIPPET_CHARS:
        return text
    folded = fold_marks(text)
    positions = [folded.find(t) for t in terms if folded.find(t) >= 0]
    centre = min(positions) if positions else 0
    start = max(0, centre - SNIPPET_CHARS // 3)
    end = min(len(text), start + SNIPPET_CHARS)
    start = max(0, end - SNIPPET_CHARS)
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def term_share(terms: Sequence[str], text: str, *, stems: bool = False) -> float:
    """Share of `terms` (from `query_terms`) found among the words of `text`.

    With `stems`, a shared first five letters also counts ("renforcé" /
    "renforcement", "crossed" / "crossing"). No terms: 1.0 (nothing to miss).
    """
    if not terms:
        return 1.0
    words = set(_WORD.findall(fold_marks(text)))
    prefixes = {w[:5] for w in words if len(w) >= 5} if stems else set()
    found = sum(1 for t in terms if t in words or (len(t) >= 5 and t[:5] in prefixes))
    return found / len(terms)


@dataclass(frozen=True)
class RankedPassage:
    """A passage the reader may read, with its fused rank score (higher is better)."""

    hit: ChunkHit
    score: float


def retrieve_passages(
    store: Store, query: str, clearance: Clearance, pool: int = POOL
) -> list[RankedPassage]:
    """Passages matching `query` that `clearance` may read, best first (fused ranks).

    This is what questions and briefs read from: the store filters by the
    reader's clearance inside both queries, so a passage the reader may not
    read never reaches fusion, let alone a model.
    """
    ranks = _Ranks(store, query, clearance, pool)
    fused = {chunk_id: ranks.score(chunk_id) for chunk_id in ranks.hits}
    ordered = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], *ranks.place(chunk_id)))
    return [RankedPassage(ranks.hits[chunk_id], fused[chunk_id]) for chunk_id in ordered]


class _Ranks:
    """Both sides' rankings of one query, and each passage's fused score."""

    def __init__(self, store: Store, query: str, clearance: Clearance, pool: int) -> None:
        vector = embed([query])[0] if query.strip() else None
        text_hits, vector_hits = store.search_both(fts_query(query), vector, clearance, pool)
        self.terms = query_terms(query)
        # Keyed by chunk id (one passage once), but ordered by readable data only.
        self.hits: dict[int, ChunkHit] = {}
        for hit in (*text_hits, *vector_hits):
            self.hits.setdefault(hit.chunk_id, hit)
        self._text = {hit.chunk_id: rank for rank, hit in enumerate(text_hits)}
        self._vector = {hit.chunk_id: rank for rank, hit in enumerate(vector_hits)}

    def place(self, chunk_id: int) -> tuple[str, int]:
        hit = self.hits[chunk_id]
        return hit.doc_id, hit.start

    def bound(self, chunk_id: int) -> float:
        """The passage's fused score if it held every word of the question: at least
        its score (a share is at most 1, and the sums are taken alike)."""
        return self._fused(chunk_id, 1.0)

    def score(self, chunk_id: int) -> float:
        # A full-text hit counts by the share of the question's words it holds:
        # one shared word ("port", "week") across languages is chance, not a
        # match (benchmarks/retrieval_quality.py).
        if chunk_id not in self._text:
            return self._fused(chunk_id, 1.0)
        opening = passage_opening(self.hits[chunk_id].text)
        return self._fused(chunk_id, term_share(self.terms, opening))

    def _fused(self, chunk_id: int, weight: float) -> float:
        score = 0.0
        if (rank := self._text.get(chunk_id)) is not None:
            score += weight / (RRF_K + rank + 1)
        if (rank := self._vector.get(chunk_id)) is not None:
            score += 1.0 / (RRF_K + rank + 1)
        return score


def hybrid_search(
    store: Store, query: str, clearance: Clearance, limit: int = 10
) -> list[SearchResult]:
    """Documents matching `query` that `clearance` may read, best first.

    A document is shown by its best passage (the highest fused score, the
    earliest of those tied). Passages are taken by their bound, highest first,
    and one whose bound is below its document's best so far cannot be that
    best: its share of the question's words is not computed (a 50 MB
    document fills both rankings with its own passages).
    """
    ranks = _Ranks(store, query, clearance, POOL)
    best_per_document: dict[str, tuple[float, ChunkHit]] = {}
    bounds = {chunk_id: ranks.bound(chunk_id) for chunk_id in ranks.hits}
    for chunk_id in sorted(bounds, key=lambda chunk_id: (-bounds[chunk_id], ranks.place(chunk_id))):
        hit = ranks.hits[chunk_id]
        current = best_per_document.get(hit.doc_id)
        if current is not None and bounds[chunk_id] < current[0]:
            continue
        score = ranks.score(chunk_id)
        if (
            current is None
            or score > current[0]
            or (score == current[0] and hit.start < current[1].start)
        ):
            best_per_document[hit.doc_id] = (score, hit)
    ranked_documents = sorted(
        best_per_document.values(), key=lambda pair: (-pair[0], pair[1].doc_id)
    )
    terms = ranks.terms
    return [
        SearchResult(
            id=hit.doc_id,
            title=hit.title,
            marking=hit.marking,
            grade=hit.grade,
            source=hit.source,
            language=hit.language,
            snippet=_snippet(hit, terms),
            score=round(score, 6),
            start=hit.start,
            end=hit.end,
        )
        for score, hit in ranked_documents[:limit]
    ]
