"""Which parser reads which file, and the walk from command-line paths to files.

This is ingest's front door: the pipeline hands it the paths a user named,
`iter_input_files` turns folders into the files inside them, and `parse_file`
reads each file and dispatches on its suffix to one of the format parsers,
which yield `RawDocument`s for the pipeline's later stages (language, marking,
chunking…).

The parser contract, which every caller of `parse_file` must honour:

- A parser is a generator. It may yield some documents and *then* raise
  `IngestError`: feeds, JSON arrays and JSON Lines yield every good entry
  first and raise afterwards for the first bad one (its origin is `path#N`,
  its reason says how many were bad). The caller must keep what was yielded
  before the exception: storing the good records and reporting the bad one is
  the intended outcome, not a partial failure to roll back.
- `IngestError` is the only exception raised on bad input. Its message starts
  with the file's path (or `path#N`) and fits on one line.
- Parsers are pure functions of (path, bytes): no file, network or clock
  access, so they run unchanged on Dask workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from guetteur._exceptions import IngestError
from guetteur.ingest._base import Parser, RawDocument
from guetteur.ingest.docx import parse_docx
from guetteur.ingest.feeds import parse_feed
from guetteur.ingest.html import parse_html
from guetteur.ingest.jsondocs import parse_json, parse_json_lines
from guetteur.ingest.mail import parse_email
from guetteur.ingest.pdf import parse_pdf
from guetteur.ingest.text import parse_text

__all__ = [
    "MAX_FILE_BYTES",
    "SUPPORTED_SUFFIXES",
    "iter_input_files",
    "parse_file",
    "parser_for",
]

# Every file is read whole into memory before parsing; 200 MB bounds that on a
# laptop, and no single report, feed or export is anywhere near it.
MAX_FILE_BYTES = 200 * 1024 * 1024

_PARSERS: dict[str, Parser] = {
    ".txt": parse_text,
    ".md": parse_text,
    ".markdown": parse_text,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
    ".eml": parse_email,
    ".rss": parse_feed,
    ".atom": parse_feed,
    # Only feeds are read from .xml; the feed parser refuses other XML by name.
    ".xml": parse_feed,
    ".json": parse_json,
    ".jsonl": parse_json_lines,
    ".ndjson": parse_json_lines,
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_PARSERS)


def parser_for(path: Path) -> Parser | None:
    """The parser for `path`'s suffix (case-insensitive), or None if unsupported."""
    return _PARSERS.get(path.suffix.lower())


def iter_input_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files to ingest for the paths a user named, each once, in a stable order.

    Folders are walked recursively in sorted order, skipping hidden files and
    folders and files of unsupported types. A path named explicitly is yielded
    whatever its type, and even if it does not exist, so that `parse_file`
    reports it ("unsupported file type '.xyz'", "no such file") instead of it
    vanishing silently.
    """
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            candidates = _walk(path)
        else:
            candidates = iter([path])
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def _walk(folder: Path) -> Iterator[Path]:
    try:
        children = sorted(folder.iterdir(), key=lambda child: child.name)
    except OSError:
        # Unreadable folder: yield it, so parse_file reports why to the user.
        yield folder
        return
    for child in children:
        if child.name.startswith("."):
            continue
        # Symlinked folders are not followed: they can loop, or lead outside
        # the folder the user chose.
        if child.is_dir() and not child.is_symlink():
            yield from _walk(child)
        elif child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES:
            yield child


def parse_file(path: Path) -> Iterator[RawDocument]:
    """Read `path` and yield its documents; IngestError for unreadable or unsupported files."""
    parser = parser_for(path)
    if parser is None:
        kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
        supported = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise IngestError(str(path), f"unsupported file type {kind}; guetteur reads {supported}")
    yield from parser(path, _read_bytes(path))


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IngestError(
                str(path),
                f"too large ({size / 2**20:.0f} MB, the limit is "
                f"{MAX_FILE_BYTES / 2**20:.0f} MB): split it first",
            )
        data = path.read_bytes()
    except OSError as error:
        raise IngestError(str(path), error.strerror or type(error).__name__) from None
    if not data or data.isspace():
        raise IngestError(str(path), "empty file")
    return data
