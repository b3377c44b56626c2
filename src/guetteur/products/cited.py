"""What every written product is made of: cited sentences, and the product's own marking.

A product (answer, brief, watch digest) is a list of sentences, each citing
the passages it rests on and carrying the portion marking of what it cites.
The product's banner marking is the high-water mark of everything it cites —
never the reader's clearance, never less — so that a model's output never
becomes a way around markings. A product that cites nothing fails closed: it
takes the reader's level, releasable to the reader's nation only.

Source passages reach a model only through `quote_passages`, which renders
them as numbered, fenced data and strips anything that could close the fence:
text in a report is evidence to weigh, never an instruction to follow.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guetteur.model import Authority, Clearance, Marking
from guetteur.security.markings import high_water_mark

__all__ = [
    "Citation",
    "ModelCall",
    "Statement",
    "citations_json",
    "product_marking",
    "prompt_digest",
    "quote_passages",
    "reader_floor_marking",
]


@dataclass(frozen=True)
class Citation:
    """A cited passage: the exact words, where they are, and their marking and grade."""

    n: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    marking: Marking
    grade: str | None
    language: str


@dataclass(frozen=True)
class Statement:
    """One sentence of a product, with the numbers of the citations it rests on."""

    text: str
    citations: tuple[int, ...]
    marking: Marking
    grades: tuple[str, ...] = ()
    language: str = ""
    note: str = ""  # e.g. "citation added by the check", "quoted in English"


@dataclass(frozen=True)
class ModelCall:
    """What the audit chain records of one model call."""

    model_id: str
    prompt_sha256: str
    passages: tuple[str, ...]  # "doc_id:start-end" of every passage shown
    purpose: str
    extra: dict[str, Any] = field(default_factory=dict)


def reader_floor_marking(clearance: Clearance) -> Marking:
    """The fail-closed marking of a product that cites nothing: reader's level, own nation."""
    authority = Authority.NATIONAL_FRA if clearance.nationality == "FRA" else Authority.NATO
    return Marking(clearance.level, authority, frozenset({clearance.nationality}))


def product_marking(markings: Iterable[Marking], clearance: Clearance) -> Marking:
    """High-water mark of what a product cites; fail closed when it cites nothing."""
    items = list(markings)
    return high_water_mark(items) if items else reader_floor_marking(clearance)


# What could end our quoting of a passage, or pose as a role marker in a chat template.
_FENCE_BREAKERS = re.compile(r"</?\s*source[^>]*>|<\|[^|>]*\|>|\[/?INST\]|<<SYS>>", re.IGNORECASE)


def quote_passages(citations: Sequence[Citation], max_chars: int = 1200) -> str:
    """Passages as numbered, fenced data for a prompt."""
    blocks = []
    for citation in citations:
        text = _FENCE_BREAKERS.sub(" ", citation.quote)[:max_chars]
        grade = f" grade={citation.grade}" if citation.grade else ""
        blocks.append(f'<source n="{citation.n}"{grade}>\n{text}\n</source>')
    return "\n".join(blocks)


def prompt_digest(messages: Sequence[tuple[str, str]]) -> str:
    """SHA-256 of a prompt (role and content of each message), for the audit chain."""
    digest = hashlib.sha256()
    for role, content in messages:
        digest.update(role.encode() + b"\x00" + content.encode() + b"\x00")
    return digest.hexdigest()


def citations_json(citations: Sequence[Citation]) -> list[dict[str, Any]]:
    return [
        {
            "n": c.n,
            "doc_id": c.doc_id,
            "title": c.title,
            "quote": c.quote,
            "start": c.start,
            "end": c.end,
            "marking": str(c.marking),
            "grade": c.grade,
        }
        for c in citations
    ]


Recorder = Callable[[ModelCall], None]
