"""The audit chain: append-only events, each holding the hash of the one before.

Pure functions: the store persists rows and calls `chain_hash` when appending
and `verify_chain` when asked. Editing any field of a row changes its hash and
breaks the link from the next row; deleting a row breaks the link of its
successor; deleting rows at the tail is caught by the head (count and last
hash) the store keeps beside the chain. Someone who can rewrite the whole
database can rewrite the whole chain: the head printed by `guetteur audit
verify` is what an officer writes down to anchor it outside the machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guetteur._exceptions import AuditChainError

__all__ = ["GENESIS", "AuditRow", "chain_hash", "verify_chain"]

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRow:
    """One audit event as stored."""

    id: int
    at: str  # ISO 8601 UTC
    actor: str
    action: str
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str


def chain_hash(
    prev_hash: str, row_id: int, at: str, actor: str, action: str, detail: Mapping[str, Any]
) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the row's fields."""
    body = json.dumps(
        [prev_hash, row_id, at, actor, action, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def verify_chain(rows: Iterable[AuditRow], head_count: int, head_hash: str) -> int:
    """Check every link; return the number of rows. Raise AuditChainError at the first bad row."""
    previous = GENESIS
    expected_id: int | None = None
    count = 0
    for row in rows:
        if expected_id is not None and row.id != expected_id:
            raise AuditChainError(expected_id, f"row missing (next present is {row.id})")
        if row.prev_hash != previous:
            raise AuditChainError(row.id, "does not follow the previous row (edited or deleted)")
        recomputed = chain_hash(row.prev_hash, row.id, row.at, row.actor, row.action, row.detail)
        if recomputed != row.hash:
            raise AuditChainError(row.id, "content does not match its hash (edited)")
        previous, expected_id, count = row.hash, row.id + 1, count + 1
    if count != head_count or previous != head_hash:
        raise AuditChainError(
            (expected_id or 1), f"chain ends after {count} rows but {head_count} were written"
        )
    return count
