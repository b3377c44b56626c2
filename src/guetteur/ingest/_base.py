"""What every ingest parser hands to the pipeline.

A parser turns the bytes of one file into zero or more `RawDocument`s: text and
the few facts the *format itself* states (an e-mail's Date header, a feed
entry's published time, a JSON record's marking field). Everything else —
language, marking decision, grade, chunks, embeddings — is decided downstream by
the pipeline, so parsers stay small, pure and easy to test on hostile input.

Markings are the exception that needs the parser's help: a document is made of
parts that can each carry their own (an e-mail's attachments, a Word file's
section headers, a feed entry's title, a JSON field), and only the parser knows
where those parts are. It lists them as `MarkedPart`s, and
`RawDocument.stated_markings` reads the text and every part, so the pipeline
stores the document at the high-water mark of all of them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from guetteur._exceptions import MarkingError
from guetteur.model import Marking
from guetteur.security.markings import parse_marking, stated_markings

__all__ = ["MarkedPart", "Parser", "PartKind", "RawDocument"]


class PartKind(enum.Enum):
    """How a part states its marking, and so which of its lines are read."""

    # Text with banners near its edges (first and last lines) and portion
    # markings opening its paragraphs: an attachment, a PDF page, an entry title.
    TEXT = "text"
    # A page header or footer: every line is where a banner stands.
    FURNITURE = "furniture"
    # A value that is a marking and nothing else (a JSON "classification"
    # field, an X-Classification header): it must parse whole.
    STATEMENT = "statement"


@dataclass(frozen=True)
class MarkedPart:
    """A part of a document that can carry its own marking."""

    # Where it is, for messages: 'attachment "annex.txt"', "section 2 header",
    # 'field "classification"'.
    name: str
    text: str
    kind: PartKind = PartKind.TEXT

    def stated_markings(self) -> list[Marking]:
        """The markings this part states; MarkingError naming the part if one does not parse."""
        try:
            if self.kind is PartKind.STATEMENT:
                return [parse_marking(self.text)]
            return stated_markings(self.text, every_line=self.kind is PartKind.FURNITURE)
        except MarkingError as error:
            # "attachment "a.txt", line 2: …" / "field "classification": 'X': not a marking"
            separator = ": " if self.kind is PartKind.STATEMENT else ", "
            raise MarkingError(f"{self.name}{separator}{error}") from None


@dataclass(frozen=True)
class RawDocument:
    """One document as a parser read it, before marking, language and grading."""

    title: str
    text: str
    # Path of the file, with "#N" appended for the N-th entry of a feed/JSONL/mbox.
    origin: str
    # The parts whose markings count besides the banners and portion markings
    # of `text` itself (which are always read): attachments, section headers
    # and footers, stated titles, marking fields and headers.
    parts: tuple[MarkedPart, ...] = ()
    # An Admiralty grade the format carries ("B2"), if any.
    declared_grade: str | None = None
    # A time the format states for the content (mail Date, entry published).
    reported_at: datetime | None = None
    # Free-form facts worth keeping (author, sender, link, attachment names).
    metadata: Mapping[str, str] = field(default_factory=dict)

    def stated_markings(self) -> list[Marking]:
        """Every marking the document and its parts state; MarkingError on any that fails.

        The error names the line or the part, so that a user can find the
        banner to fix: a document is refused, never stored under a lower one.
        """
        # Parts first: an error naming the attachment or the section is easier
        # to act on than a line number in the combined text.
        found = [marking for part in self.parts for marking in part.stated_markings()]
        found.extend(stated_markings(self.text))
        return found


class Parser(Protocol):
    """Reads one file's bytes; raises IngestError naming `path` on bad input."""

    def __call__(self, path: Path, data: bytes) -> Iterator[RawDocument]: ...
