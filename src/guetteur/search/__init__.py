"""Retrieval over the store, filtered by the reader's clearance inside the query."""

from guetteur.search.hybrid import SearchResult, fts_query, hybrid_search, query_terms

__all__ = ["SearchResult", "fts_query", "hybrid_search", "query_terms"]
