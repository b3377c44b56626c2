"""Stores: the contract (base.py) and its backends (sqlite/; postgres/ next)."""

from guetteur.store.base import (
    BBox,
    ChunkHit,
    DocumentMention,
    DocumentStats,
    EntityDetail,
    EntitySummary,
    EventRow,
    MentionRow,
    NewDocument,
    Requirement,
    Spill,
    Store,
    StoredAlert,
    User,
    WatchHit,
)

__all__ = [
    "BBox",
    "ChunkHit",
    "DocumentMention",
    "DocumentStats",
    "EntityDetail",
    "EntitySummary",
    "EventRow",
    "MentionRow",
    "NewDocument",
    "Requirement",
    "Spill",
    "Store",
    "StoredAlert",
    "User",
    "WatchHit",
]
