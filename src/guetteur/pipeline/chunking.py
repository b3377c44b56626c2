"""Cut a document into passages for retrieval and citation.

Passages follow paragraph and sentence boundaries and keep exact character
offsets into the document text, so a citation can quote the source verbatim.
Sized for the sentence encoder (which averages over its input: long passages
blur) and for a model's context (a handful of passages per answer). A line with
no sentence end (a log line, a minified export, a 50 MB dump) is cut by
length, at a space when there is one. A document of more than MAX_PASSAGES
passages gets fewer, longer ones: what a huge document costs every later
search is bounded by its passage count, not its size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from guetteur.model import Chunk

__all__ = ["chunk_text"]

TARGET_CHARS = 700
MAX_CHARS = 1200

# A sentence ends at . ! ? … followed by space, or at a paragraph break.
_BOUNDARY = re.compile(r"(?<=[.!?…])\s+|\n\s*\n")
_NOT_BLANK = re.compile(r"\S")


def _spans(text: str) -> Iterator[tuple[int, int]]:
    """Sentence-ish spans (start, end) covering the non-blank text, none over MAX_CHARS.

    A generator: a 50 MB single-line document holds millions of sentences, and
    a list of them all would cost far more memory than the text itself.
    """
    position = 0
    for match in _BOUNDARY.finditer(text):
        yield from _split_long(text, position, match.start())
        position = match.end()
    yield from _split_long(text, position, len(text))


def _split_long(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Break a span longer than MAX_CHARS at whitespace (or hard, for one huge token);
    blank spans are dropped."""
    while start < end:
        cut = end
        if end - start > MAX_CHARS:
            cut = text.rfind(" ", start, start + MAX_CHARS)
            cut = cut if cut > start else start + MAX_CHARS
        if _NOT_BLANK.search(text, start, cut) is not None:
            yield (start, cut)
        start = cut


# At most about this many passages per document: past TARGET_CHARS × this
# (about 1.4 MB), a document's passages grow with it instead of multiplying, so
# a 50 MB dump costs search and the vector scan what a few hundred reports do.
MAX_PASSAGES = 2_000


def chunk_text(text: str) -> list[Chunk]:
    """Passages of about TARGET_CHARS (more for a document beyond MAX_PASSAGES of
    them), with exact offsets."""
    target = max(TARGET_CHARS, len(text) // MAX_PASSAGES)
    chunks: list[Chunk] = []
    current: tuple[int, int] | None = None
    for start, end in _spans(text):
        if current is not None and end - current[0] > target:
            chunks.append(_chunk(text, len(chunks), *current))
            current = None
        current = (start, end) if current is None else (current[0], end)
    if current is not None:
        chunks.append(_chunk(text, len(chunks), *current))
    return chunks


def _chunk(text: str, index: int, start: int, end: int) -> Chunk:
    # Trim surrounding whitespace while keeping offsets exact.
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Chunk(index=index, start=start, end=end, text=text[start:end])
