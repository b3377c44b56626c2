"""The one place that opens SQLite connections.

We use `sqlean` (sqlean-py) instead of the standard library's `sqlite3`: the
stock interpreter on our target machines cannot load extensions, and
sqlite-vec is an extension. Nothing else in guetteur imports a SQLite module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlean
import sqlite_vec

__all__ = ["IntegrityError", "complete_statement", "connect"]

IntegrityError = sqlean.IntegrityError
complete_statement = sqlean.complete_statement


def connect(path: Path | str) -> Any:
    """A connection with sqlite-vec loaded, WAL journaling and foreign keys on."""
    connection = sqlean.connect(str(path), isolation_level=None, check_same_thread=False)
    connection.enable_load_extension(True)
    sqlite_vec.load(connection)
    connection.enable_load_extension(False)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA journal_mode = WAL")
    # NORMAL keeps every committed transaction across a process kill (WAL), losing
    # at most the last ones on a power cut — the trade-off SQLite documents for WAL.
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA busy_timeout = 10000")
    # Bulk ingest (neither touches durability): alert ids are hashes, so a batch
    # lands all over the primary-key index; a 64 MiB page cache (the default is
    # 2 MiB) keeps that index in memory instead of spilling it to the WAL
    # mid-transaction, and checkpointing every 64 MiB of WAL rather than every
    # 4 MiB copies each index page to the database once per few batches instead
    # of once per batch. At 200,000 alerts that halves the bytes written
    # (benchmarks/alerts_speed.py).
    connection.execute("PRAGMA cache_size = -65536")
    connection.execute("PRAGMA wal_autocheckpoint = 16384")
    return connection
