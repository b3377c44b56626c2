"""Retrieval over the store, filtered by the reader's clearance inside the query."""

from guetteur.search.hybrid import (
    SCAN_CHARS,
    RankedPassage,
    SearchResult,
    fts_query,
    hybrid_search,
    query_terms,
    retrieve_passages,
    term_share,
)

__all__ = [
    "SCAN_CHARS",
    "RankedPassage",
    "SearchResult",
    "fts_query",
    "hybrid_search",
    "query_terms",
    "retrieve_passages",
    "term_share",
]
