"""The audit chain: append-only events, each holding the hash of the one before.

Pure functions: the store persists rows and calls `chain_hash` when appending
and `verify_chain` when asked. Editing any field of a row changes its hash and
breaks the link from the next row; deleting a row breaks the link of its
successor; deleting rows at the tail is caught by the head (count and last
hash) the store keeps beside the chain. A stored record that no audit row
accounts for (a document planted with SQL, or stored by a run killed before
it audited) is caught by `TraceIndex`. Someone who can rewrite the whole
database can still rewrite the whole chain consistently: a checkpoint signed
with a key held outside the workspace (`guetteur.security.anchor`) catches
that, since a rewritten chain no longer extends it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from guetteur._exceptions import AuditChainError, GuetteurError

__all__ = [
    "DOCUMENT_ACTIONS",
    "GENESIS",
    "USER_ACTIONS",
    "AuditIntegrityError",
    "AuditRow",
    "ChainHead",
    "TraceIndex",
    "chain_hash",
    "verify_chain",
]

GENESIS = "0" * 64

# Actions that store, move or re-mark documents, by the first dotted part of
# the action ("ingest", "ingest.batch", "ingest.raise", "remark", "intel.import").
# Reads list document ids too ("search", "show", "ask"...) but never count as a
# trace: otherwise anyone could launder a planted document by searching for it.
DOCUMENT_ACTIONS = frozenset({"ingest", "remark", "intel"})
# Actions that create or change users ("user.add", "user.set", ...).
USER_ACTIONS = frozenset({"user"})


class AuditIntegrityError(AuditChainError):
    """The log is unprotected or incomplete, with no single row to blame.

    A subclass of AuditChainError so that every face treats it alike (exit 4).
    `row_id` is 0: the problem is the log's protection or coverage, not a row.
    """

    def __init__(self, reason: str) -> None:
        self.row_id = 0
        self.reason = reason
        GuetteurError.__init__(self, f"audit log not trustworthy: {reason}")


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


@dataclass(frozen=True)
class ChainHead:
    """A point of the chain: its first `rows` rows end with hash `hash`."""

    rows: int
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


def verify_chain(
    rows: Iterable[AuditRow], head: ChainHead | None, extends: ChainHead | None = None
) -> int:
    """Check every link; return the number of rows. Raise AuditChainError at the first bad row.

    `head` is what the store recorded beside the chain (None: no head recorded);
    `extends` is a checkpoint the chain must still pass through (an anchor).
    """
    previous = GENESIS
    expected_id: int | None = None
    count = 0
    at_checkpoint: str | None = GENESIS if extends is not None and extends.rows == 0 else None
    for row in rows:
        if expected_id is not None and row.id != expected_id:
            raise AuditChainError(expected_id, f"row missing (next present is {row.id})")
        if row.prev_hash != previous:
            raise AuditChainError(row.id, "does not follow the previous row (edited or deleted)")
        recomputed = chain_hash(row.prev_hash, row.id, row.at, row.actor, row.action, row.detail)
        if recomputed != row.hash:
            raise AuditChainError(row.id, "content does not match its hash (edited)")
        previous, expected_id, count = row.hash, row.id + 1, count + 1
        if extends is not None and count == extends.rows:
            at_checkpoint = row.hash
    next_row = expected_id or 1
    if head is None:
        if count:
            raise AuditChainError(
                next_row,
                f"the chain holds {count} rows but its recorded head is missing (deleted)",
            )
    elif count < head.rows:
        raise AuditChainError(
            next_row,
            f"the chain is shorter than its recorded head: it ends after {count} rows "
            f"but {head.rows} were written",
        )
    elif count > head.rows:
        raise AuditChainError(
            head.rows + 1,
            f"the chain holds {count} rows but its recorded head says {head.rows} "
            "(rows added behind the store's back)",
        )
    elif previous != head.hash:
        raise AuditChainError(count, "the last row's hash differs from the recorded head")
    if extends is not None:
        if count < extends.rows:
            raise AuditChainError(
                next_row,
                f"the chain holds {count} rows, fewer than the {extends.rows} of the anchor",
            )
        if at_checkpoint != extends.hash:
            raise AuditChainError(
                extends.rows,
                "the chain does not extend the anchor: row "
                f"{extends.rows} has another hash than the one signed (rewritten since)",
            )
    return count


@dataclass
class TraceIndex:
    """Which documents and users some audit row accounts for; fed one row at a time.

    One pass over the chain collects ids into sets; checking the stored records
    is then a set membership per record, so verifying scales with the log.
    """

    documents: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)

    def note(self, row: AuditRow) -> None:
        kind = row.action.split(".", 1)[0]
        if kind in DOCUMENT_ACTIONS:
            doc_ids = row.detail.get("doc_ids")
            if isinstance(doc_ids, list):
                self.documents.update(str(i) for i in doc_ids)
            doc_id = row.detail.get("doc_id")
            if doc_id is not None:
                self.documents.add(str(doc_id))
        elif kind in USER_ACTIONS:
            user = row.detail.get("user")
            if user is not None:
                self.users.add(str(user))

    def noting(self, rows: Iterable[AuditRow]) -> Iterator[AuditRow]:
        """`rows` unchanged, each noted on its way (to verify and index in one pass)."""
        for row in rows:
            self.note(row)
            yield row

    def check(self, doc_ids: Iterable[str], users: Iterable[str]) -> None:
        """Raise AuditIntegrityError naming stored records no audit row accounts for."""
        problems = [
            _listed(kind, shown, total)
            for kind, (shown, total) in (
                ("document", _first_missing(doc_ids, self.documents)),
                ("user", _first_missing(users, self.users)),
            )
            if total
        ]
        if problems:
            raise AuditIntegrityError("; ".join(problems))


_SHOWN = 5


def _first_missing(stored: Iterable[str], traced: set[str]) -> tuple[list[str], int]:
    """The first few stored ids absent from `traced`, and how many are absent in all."""
    shown: list[str] = []
    total = 0
    for item in stored:
        if item not in traced:
            total += 1
            if len(shown) < _SHOWN:
                shown.append(item)
    return shown, total


def _listed(kind: str, shown: list[str], total: int) -> str:
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    names = ", ".join(repr(item) for item in shown)
    plural = "s" if total > 1 else ""
    return f"{total} {kind}{plural} stored with no audit record ({names}{more})"
