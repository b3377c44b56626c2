"""The Store contract: what every backend (SQLite now, PostgreSQL next) provides.

Everything above the store — pipeline, search, products, faces — talks to this
protocol only, never to SQL. Every read that returns records takes the
reader's `Clearance` and filters *inside its query*: a backend computes the
markings the reader may read with `readable_marking_ids` (which applies
`security.may_read`, the one access rule) and restricts rows to those markings
before any ranking or limit, so nothing above a reader's clearance ever leaves
the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from guetteur.model import (
    Alert,
    Chunk,
    Clearance,
    Document,
    EntityRef,
    Event,
    Indicator,
    Marking,
    NetworkEvent,
    PositionReport,
    Track,
    WindowsEvent,
)
from guetteur.security.audit import AuditRow, ChainHead

__all__ = [
    "GROWN_OPENING_CHARS",
    "PASSAGE_CHARS",
    "BBox",
    "ChunkHit",
    "DocumentMention",
    "DocumentStats",
    "EntityDetail",
    "EntitySummary",
    "EventRow",
    "JobRecord",
    "LogisticsRecord",
    "MentionRow",
    "NewDocument",
    "Session",
    "Spill",
    "StoredAlert",
    "Token",
    "Requirement",
    "Store",
    "User",
    "WatchHit",
]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class User:
    name: str
    clearance: Clearance
    role: str = "analyst"  # security_officer | analyst | reader (guetteur.security.roles)


@dataclass(frozen=True)
class Session:
    """A browser's login, held server-side; the cookie carries only its random key."""

    user: str
    method: str  # password | certificate
    client: str
    created_at: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Token:
    """An API token as listed: never its secret, which is shown once at creation."""

    id: str
    user: str
    scope: str  # read | write
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used: datetime | None = None


@dataclass(frozen=True)
class Spill:
    """Content written at a marking lower than, or outside, one it is already held at."""

    at: datetime
    actor: str
    sha256: str
    doc_id: str | None  # the copy stored at the writer's marking, if one was stored
    marking: Marking  # the marking it was written at
    held: Sequence[tuple[str, Marking]]  # the copies already held (id, marking)
    origin: str


@dataclass(frozen=True)
class NewDocument:
    """A document ready to store, with its chunks and one embedding per chunk."""

    document: Document
    chunks: Sequence[Chunk]
    embeddings: Vector  # shape (len(chunks), dim)
    entities: Sequence[EntityRef] = ()
    events: Sequence[Event] = ()


BBox = tuple[float, float, float, float]  # west, south, east, north (degrees)


@dataclass(frozen=True)
class EntitySummary:
    """An entity as one reader may know it: only from documents they may read.

    `marking` is the high-water mark of the documents its name, aliases, counts
    and position were learnt from: every readable document that mentions it.
    """

    id: str
    name: str
    type: str
    mentions: int
    documents: int
    marking: Marking
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class MentionRow:
    doc_id: str
    text: str
    start: int
    end: int
    marking: Marking


@dataclass(frozen=True)
class EntityDetail:
    entity: EntitySummary
    aliases: Sequence[str]
    mentions: Sequence[MentionRow]
    cooccurring: Sequence[EntitySummary]  # `mentions` there counts shared documents
    # Tracks whose callsign is this entity (cop/picture.py), as the reader's positions draw them.
    tracks: Sequence[Track] = ()


@dataclass(frozen=True)
class EventRow:
    id: str  # keyed with the workspace secret from the document and the event's rank in it
    doc_id: str
    kind: str
    what: str
    start: int
    end: int
    at: datetime | None
    lat: float | None
    lon: float | None
    place: str | None
    participants: Sequence[tuple[str, str, str]]  # (entity id, name, type)
    marking: Marking
    detail: Mapping[str, str]


# A passage is at most PASSAGE_CHARS long (pipeline/chunking.py's MAX_CHARS),
# but for the grown passages of a huge document (tens of kilobytes each). Of
# those, ranked reads return the opening that a passage is sized to hold
# (chunking's TARGET_CHARS; ordinary passages average about as much): search
# and questions read no more, and a search then costs what it does without
# them rather than loading megabytes of text.
PASSAGE_CHARS = 1_200
GROWN_OPENING_CHARS = 700


@dataclass(frozen=True)
class ChunkHit:
    """A chunk returned by a ranked read, with its document's display fields.

    `text` is the passage's text; from the ranked reads (search_text,
    search_vector), a grown passage's opening only (see PASSAGE_CHARS).
    """

    chunk_id: int
    doc_id: str
    title: str
    marking: Marking
    grade: str | None
    source: str
    language: str
    text: str
    start: int
    end: int
    score: float  # backend-specific; only the order is meaningful


@dataclass(frozen=True)
class DocumentMention:
    """An entity named in a document, at character offsets of its text."""

    doc_id: str
    entity_id: str
    name: str
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class Requirement:
    """A standing intelligence requirement, owned by the user who wrote it."""

    id: int
    owner: str
    name: str
    text: str
    created_at: datetime
    last_chunk_id: int  # passages up to this id have been evaluated
    last_run_at: datetime | None  # when its hits were last reported to its owner


@dataclass(frozen=True)
class WatchHit:
    """A passage that matched a requirement, and why."""

    requirement_id: int
    chunk_id: int
    doc_id: str
    marking: Marking
    score: float
    reason: str
    found_at: datetime | None = None


@dataclass(frozen=True)
class DocumentStats:
    documents: int
    chunks: int
    by_marking: Mapping[str, int] = field(default_factory=dict)
    by_language: Mapping[str, int] = field(default_factory=dict)
    by_source: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAlert:
    alert: Alert
    marking: Marking
    source: str


@dataclass(frozen=True)
class LogisticsRecord:
    """One row of a logistics table (issue 13): its table kind (depot, unit, vehicle,
    consumption, window, matrix), its identity in that kind, marking and fields."""

    kind: str
    key: str
    marking: Marking
    data: Mapping[str, Any]
    origin: str  # FILE[#SHEET]:ROW


@dataclass(frozen=True)
class JobRecord:
    """A job of the server (api/jobs.py) as every worker process reads it.

    `worker` names the process running it (api/jobs.py makes and reads it), so
    that a job whose process died can be told apart from one still running.
    """

    id: str
    owner: str
    kind: str  # ingest | brief
    created_at: datetime
    state: str  # queued | running | done | failed | cancelled
    worker: str
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False
    version: int = 0  # bumped on every change


class Store(Protocol):
    """A guetteur workspace's records. Implementations: store.sqlite.SQLiteStore."""

    # --- workspace settings and users
    def get_setting(self, key: str) -> str | None: ...
    def set_setting(self, key: str, value: str) -> None: ...
    def add_user(self, name: str, clearance: Clearance, role: str = "analyst") -> None: ...
    def set_user(self, name: str, clearance: Clearance, role: str) -> None: ...
    def get_user(self, name: str) -> User: ...
    def list_users(self) -> list[User]: ...

    # --- credentials of the server (argon2id and SHA-256 digests only)
    def get_password(self, user: str) -> tuple[str, bool] | None: ...
    def set_password(self, user: str, digest: str, must_change: bool, at: datetime) -> None: ...
    def add_session(self, session: Session, key_hash: str, csrf_hash: str) -> None: ...
    def get_session(self, key_hash: str) -> tuple[Session, str] | None: ...
    def touch_session(self, key_hash: str, at: datetime) -> None: ...
    def delete_session(self, key_hash: str) -> None: ...
    def delete_sessions(self, user: str) -> None: ...
    def delete_sessions_before(self, created_before: datetime, seen_before: datetime) -> int: ...
    def add_token(self, token: Token, secret_hash: str) -> None: ...
    def token_by_secret(self, secret_hash: str) -> Token | None: ...
    def get_token(self, token_id: str) -> Token | None: ...
    def list_tokens(self, user: str | None = None) -> list[Token]: ...
    def revoke_token(self, token_id: str, at: datetime) -> None: ...
    def touch_token(self, token_id: str, at: datetime) -> None: ...
    def login_failures(self, key: str) -> tuple[int, datetime] | None: ...
    def set_login_failures(
        self, key: str, failures: int, at: datetime, blocked_until: datetime
    ) -> None: ...
    def clear_login_failures(self, key: str) -> None: ...
    def blocked_logins(self, at: datetime) -> list[tuple[str, int, datetime]]: ...
    def set_certificate_subject(self, subject: str, user: str) -> None: ...
    def user_for_certificate(self, subject: str) -> str | None: ...

    # --- markings and sources
    def readable_marking_ids(self, clearance: Clearance) -> list[int]: ...
    def source_default_marking(self, source: str) -> Marking | None: ...
    def set_source_default_marking(self, source: str, marking: Marking) -> None: ...

    # --- documents
    def atomic(self) -> AbstractContextManager[None]: ...
    def opaque_id(self, kind: str, *parts: str) -> str: ...
    def document_id(self, sha256: str, marking: Marking) -> str: ...
    def held_copies(self, sha256s: Sequence[str]) -> dict[str, list[tuple[str, Marking]]]: ...
    def remark_document(self, doc_id: str, marking: Marking) -> str: ...
    def withdraw_document(self, doc_id: str) -> None: ...
    def record_spill(self, spill: Spill) -> None: ...
    def list_spills(self) -> list[Spill]: ...
    def add_documents(self, batch: Sequence[NewDocument]) -> list[str]: ...
    def get_document(self, doc_id: str, clearance: Clearance) -> Document: ...
    def iter_documents(self, clearance: Clearance, *, text: bool = True) -> Iterator[Document]: ...
    def documents_for_maintenance(self) -> Iterator[Document]:
        """Every document, unfiltered: for reindexing only, never shown to a user."""
        ...

    def stats(self, clearance: Clearance) -> DocumentStats: ...

    # --- entities and events (issue 3), filtered like documents
    def replace_enrichment(
        self, doc_id: str, entities: Sequence[EntityRef], events: Sequence[Event]
    ) -> None: ...
    def list_entities(
        self, clearance: Clearance, entity_type: str | None = None
    ) -> list[EntitySummary]: ...
    def get_entity(self, name_or_id: str, clearance: Clearance) -> EntityDetail: ...
    def list_events(
        self, clearance: Clearance, since: datetime | None = None, bbox: BBox | None = None
    ) -> list[EventRow]: ...

    # --- cyber (issue 5): alerts and their context, filtered like documents
    def add_alerts(self, alerts: Sequence[Alert], marking: Marking, source: str) -> int: ...
    def add_network_events(
        self, events: Sequence[NetworkEvent], marking: Marking, source: str
    ) -> int: ...
    def add_windows_events(
        self, events: Sequence[WindowsEvent], marking: Marking, source: str
    ) -> int: ...
    def windows_events_for_maintenance(self) -> Iterator[tuple[WindowsEvent, Marking, str]]:
        """Every stored Windows event with its marking and source: for running rules only."""
        ...

    def list_alerts(
        self,
        clearance: Clearance,
        since: datetime | None = None,
        rule_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredAlert]: ...
    def add_indicators(
        self, indicators: Sequence[Indicator], marking: Marking, source: str
    ) -> int: ...
    def list_indicators(self, clearance: Clearance) -> list[tuple[Indicator, Marking]]: ...
    def add_sigma_rule(self, key: str, owner: str, rule_id: str, marking: Marking) -> None: ...
    def sigma_rules(self) -> list[tuple[str, str, str, Marking]]: ...
    def set_attack_catalogue(self, records: Sequence[Mapping[str, Any]]) -> None: ...
    def attack_catalogue(self) -> list[dict[str, Any]]: ...

    # --- tracks (issue 11): CoT positions, each with its own marking
    def add_positions(self, reports: Sequence[PositionReport]) -> list[bool]: ...
    def list_tracks(
        self, clearance: Clearance, bbox: BBox | None = None, since: datetime | None = None
    ) -> list[Track]: ...
    def get_track(self, uid: str, clearance: Clearance) -> Track: ...

    # --- logistics tables (issue 13): rows marked one by one
    def add_logistics_records(self, records: Sequence[LogisticsRecord], actor: str) -> None: ...
    def list_logistics_records(
        self, clearance: Clearance, kinds: Sequence[str] | None = None
    ) -> list[LogisticsRecord]: ...

    # --- ranked reads, filtered by clearance before ranking
    def search_text(self, query: str, clearance: Clearance, limit: int) -> list[ChunkHit]: ...
    def chunks_after(
        self, chunk_id: int, clearance: Clearance, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[ChunkHit, Vector]]: ...
    def get_chunks(self, chunk_ids: Sequence[int], clearance: Clearance) -> list[ChunkHit]: ...
    def document_mentions(
        self, doc_ids: Sequence[str], clearance: Clearance
    ) -> list[DocumentMention]: ...

    # ------------------------------------------------------------ watch
    def add_requirement(self, owner: str, name: str, text: str) -> Requirement: ...
    def list_requirements(self, owner: str | None = None) -> list[Requirement]: ...
    def record_watch_run(
        self, requirement_id: int, hits: Sequence[WatchHit], last_chunk_id: int
    ) -> None: ...
    def mark_reported(self, requirement_id: int) -> None: ...
    def watch_hits(
        self, requirement_id: int, clearance: Clearance, since: datetime | None = None
    ) -> list[WatchHit]: ...
    def search_vector(self, vector: Vector, clearance: Clearance, limit: int) -> list[ChunkHit]: ...
    def search_both(
        self, query: str | None, vector: Vector | None, clearance: Clearance, limit: int
    ) -> tuple[list[ChunkHit], list[ChunkHit]]: ...

    # --- the server's jobs, seen by every worker process; a job is its owner's
    def add_job(self, job: JobRecord, keep_finished: int) -> None: ...
    def get_job(self, job_id: str, owner: str) -> JobRecord | None: ...
    def update_job(
        self,
        job_id: str,
        *,
        state: str | None = None,
        done: int | None = None,
        total: int | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> bool: ...
    def request_job_cancel(self, job_id: str, owner: str) -> JobRecord | None: ...
    def unfinished_jobs(self) -> list[JobRecord]: ...

    # --- audit
    def audit(self, actor: str, action: str, detail: Mapping[str, Any]) -> AuditRow: ...
    def audit_rows(self) -> Iterator[AuditRow]: ...
    def verify_audit(self, extends: ChainHead | None = None) -> tuple[int, str]: ...

    def close(self) -> None: ...
