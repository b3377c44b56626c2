"""Stores: the contract (base.py) and its backends (sqlite/; postgres/ next)."""

from guetteur.store.base import ChunkHit, DocumentStats, NewDocument, Store, User

__all__ = ["ChunkHit", "DocumentStats", "NewDocument", "Store", "User"]
