"""The SQLite store: the embedded default backend."""

from guetteur.store.sqlite.store import SQLiteStore, open_store

__all__ = ["SQLiteStore", "open_store"]
