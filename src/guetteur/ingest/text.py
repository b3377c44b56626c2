"""Plain-text and Markdown reports: the simplest input, and the title rules others reuse.

`parse_text` reads `.txt`, `.md` and `.markdown` files into one `RawDocument`
whose text is the whole decoded file, classification banners included: the
pipeline's marking stage reads the first and last lines, so nothing is cut here.
`guess_title` is shared with the other parsers, which also need a title when
the format does not state one (or states a banner as its title).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from guetteur._exceptions import IngestError
from guetteur.ingest._base import RawDocument
from guetteur.ingest._decode import decode_text

__all__ = ["MAX_TITLE_CHARS", "guess_title", "is_banner_line", "parse_text"]

# A title is a label in lists and citations; a 20 MB single-line file must not
# turn into a 20 MB title.
MAX_TITLE_CHARS = 200

_BANNER_WORDS = re.compile(
    r"\b(NATO|SECRET|RESTRICTED|CONFIDENTIAL|UNCLASSIFIED|RESTREINTE|PROTÉGÉ|"
    r"CONFIDENTIEL|COSMIC)\b"
)
# Patterns below have no nested or lazy repetition before `$`: a hostile
# 20 MB line must cost one pass, not a quadratic backtrack.
_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+)$", re.MULTILINE)
_HAS_WORD = re.compile(r"\w")
# Markdown bold markers, which some reports put around their first line.
_STRONG_MARKERS = re.compile(r"\*\*|__")
_EXERCISE_WORDS = re.compile(r"\b(EXERCISE|EXERCICE)\b")
# "SUBJ: …", "Subject: …", "**Objet :** …" (Markdown bold around the label).
_SUBJECT_LINE = re.compile(r"[*_\s]*(?:subj|subject|objet)[*_\s]*:[*_\s]*(\w.*)", re.I)
# The subject line sits in a message's heading block, never deep in its body.
_SUBJECT_SEARCH_LINES = 30
# A title is read from the opening of a line: the first 10,000 characters of a
# 50 MB single-line document, not copies of all of it (stripped, upper-cased and
# split into words, those took 800 MB at their peak).
_LINE_READ_CHARS = 10_000


def is_banner_line(line: str) -> bool:
    """True for a line that reads like a classification banner ("NATO SECRET//REL TO FRA").

    A heuristic good enough to skip banners when choosing a title: the line is
    all upper-case and holds a classification word. The marking itself is
    parsed downstream, from the text.
    """
    stripped = line.strip()
    return stripped == stripped.upper() and _BANNER_WORDS.search(stripped) is not None


def guess_title(text: str, fallback: str, *, markdown_headings: bool = False) -> str:
    """The title a reader would give `text`.

    In order: the first Markdown heading (when `markdown_headings`, which also
    drops bold markers); a subject line ("SUBJ:", "Subject:", "Objet :") among
    the first lines, as NATO and French staff messages state their title that
    way; the first line with a word in it; else `fallback`. Classification and
    exercise banners ("EXERCISE EXERCISE EXERCISE") are never titles.
    """
    if markdown_headings:
        for match in _MARKDOWN_HEADING.finditer(text):
            end = min(match.end(1), match.start(1) + _LINE_READ_CHARS)
            heading = _without_closing_hashes(text[match.start(1) : end])
            if heading and not _is_banner_like(heading):
                return _shorten(_STRONG_MARKERS.sub("", heading))
    for line in itertools.islice(_iter_lines(text), _SUBJECT_SEARCH_LINES):
        subject = _SUBJECT_LINE.match(line)
        if subject is not None:
            return _shorten(subject.group(1).rstrip("*_ \t"))
    for line in _iter_lines(text):
        if _HAS_WORD.search(line) and not _is_banner_like(line):
            return _shorten(_STRONG_MARKERS.sub("", line) if markdown_headings else line)
    return fallback


def _without_closing_hashes(heading: str) -> str:
    # "## Title ##": the closing run of # is markup when a space precedes it.
    heading = heading.rstrip()
    opened = heading.rstrip("#")
    if opened != heading and (not opened or opened[-1] in " \t"):
        heading = opened.rstrip()
    return heading


def _iter_lines(text: str) -> Iterator[str]:
    # Lazily: the title is near the top, and splitting a 200 MB text into a
    # list of lines to read three of them would double its memory. Each line's
    # first _LINE_READ_CHARS only.
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end == -1:
            end = len(text)
        yield text[start : min(end, start + _LINE_READ_CHARS)]
        start = end + 1


def _is_banner_like(line: str) -> bool:
    stripped = line.strip()
    return is_banner_line(stripped) or (
        stripped == stripped.upper() and _EXERCISE_WORDS.search(stripped) is not None
    )


def _shorten(line: str) -> str:
    title = " ".join(line.split())
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] or title[:MAX_TITLE_CHARS]
    return cut + "…"


def parse_text(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read a `.txt`/`.md` file as one document."""
    text = decode_text(str(path), data)
    if not text.strip():
        raise IngestError(str(path), "empty document")
    # Markdown headings are also the most common way plain-text reports mark
    # their title, so they count in .txt files too.
    title = guess_title(text, fallback=path.stem, markdown_headings=True)
    yield RawDocument(title=title, text=text, origin=str(path))
