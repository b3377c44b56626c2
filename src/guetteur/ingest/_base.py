"""What every ingest parser hands to the pipeline.

A parser turns the bytes of one file into zero or more `RawDocument`s: text and
the few facts the *format itself* states (an e-mail's Date header, a feed
entry's published time, a JSON record's marking field). Everything else —
language, marking decision, grade, chunks, embeddings — is decided downstream by
the pipeline, so parsers stay small, pure and easy to test on hostile input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

__all__ = ["Parser", "RawDocument"]


@dataclass(frozen=True)
class RawDocument:
    """One document as a parser read it, before marking, language and grading."""

    title: str
    text: str
    # Path of the file, with "#N" appended for the N-th entry of a feed/JSONL/mbox.
    origin: str
    # A marking string the format carries next to the text (JSON "marking"
    # field, X-Classification mail header). Banners inside `text` are found
    # downstream, not here.
    declared_marking: str | None = None
    # An Admiralty grade the format carries ("B2"), if any.
    declared_grade: str | None = None
    # A time the format states for the content (mail Date, entry published).
    reported_at: datetime | None = None
    # Free-form facts worth keeping (author, sender, link, attachment names).
    metadata: Mapping[str, str] = field(default_factory=dict)


class Parser(Protocol):
    """Reads one file's bytes; raises IngestError naming `path` on bad input."""

    def __call__(self, path: Path, data: bytes) -> Iterator[RawDocument]: ...
