"""Retrieval over the store, filtered by the reader's clearance inside the query."""

from guetteur.search.hybrid import (
    RankedPassage,
    SearchResult,
    fts_query,
    hybrid_search,
    passage_opening,
    query_terms,
    retrieve_passages,
    term_share,
)

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
