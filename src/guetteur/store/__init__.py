"""Stores: the contract (base.py) and its backends (sqlite/; postgres/ next)."""

from guetteur.store.base import (
    BBox,
    ChunkHit,
    DocumentStats,
    EntityDetail,
    EntitySummary,
    EventRow,
    MentionRow,
    NewDocument,
    Store,
    StoredAlert,
    User,
)

__all__ = [
    "BBox",
    "ChunkHit",
    "DocumentStats",
    "EntityDetail",
    "EntitySummary",
    "EventRow",
    "MentionRow",
    "NewDocument",
    "Store",
    "StoredAlert",
    "User",
]
