"""Documents and the passages cited from them.

A `Document` is one report, message, feed entry or page as stored: its text,
the language detected, the marking decided at ingest, the Admiralty grade when
known, provenance (source name, origin path, content SHA-256) and times. A
`Chunk` is a passage of it, with character offsets into `Document.text`, so a
citation can always point back to the exact words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from guetteur.model.grade import Grade
from guetteur.model.marking import Marking

__all__ = ["Chunk", "Document"]


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: `text == document.text[start:end]`."""

    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Document:
    """One stored document."""

    id: str
    title: str
    text: str
    language: str  # "fr", "en" or "other"
    marking: Marking
    grade: Grade | None
    source: str
    origin: str
    sha256: str
    ingested_at: datetime
    reported_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
