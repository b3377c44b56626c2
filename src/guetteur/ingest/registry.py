"""Which parser reads which file, and the walk from command-line paths to files.

This is ingest's front door: the pipeline hands it the paths a user named,
`iter_input_files` turns folders into the files inside them (and lists what
it will not open: FIFOs, devices, sockets, symlink loops, links out of the
named folders), and `parse_file` reads each file and dispatches on its suffix
to one of the format parsers, which yield `RawDocument`s for the pipeline's
later stages (language, marking, chunking…).

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

import errno
import os
import stat
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
    "COT_SUFFIXES",
    "MAX_FILE_BYTES",
    "SUPPORTED_SUFFIXES",
    "iter_input_files",
    "parse_file",
    "parser_for",
    "read_input",
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

# Cursor-on-Target events and captures: .cot always, .xml when it holds an
# <event>. They are track positions, not documents: the workspace sends them
# to the tracks pipeline (pipeline/tracks.py) before documents are parsed.
COT_SUFFIXES: frozenset[str] = frozenset({".cot", ".xml"})

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_PARSERS)


def parser_for(path: Path) -> Parser | None:
    """The parser for `path`'s suffix (case-insensitive), or None if unsupported."""
    return _PARSERS.get(path.suffix.lower())


def iter_input_files(
    paths: Iterable[Path], *, follow_links: bool = False
) -> Iterator[Path | IngestError]:
    """The files to ingest for the paths a user named, each once, in a stable order.

    Folders are walked recursively in sorted order, skipping hidden files and
    folders and regular files of unsupported types. A path named explicitly is
    yielded whatever its type, and even if it does not exist, so that
    `parse_file` reports it ("unsupported file type '.xyz'", "no such file")
    instead of it vanishing silently.

    What is not read is yielded too, as an `IngestError` naming it and why
    (never raised: the walk goes on), for the caller to list: FIFOs, sockets
    and devices (opening a FIFO blocks until someone writes to it), symlink
    loops, broken links, and links leading outside the folders the user named
    unless `follow_links` (a shared drop folder must not pull in files from
    elsewhere on the machine). A link named explicitly is followed: the user
    chose it.
    """
    given = list(paths)
    roots = [Path(os.path.realpath(path)) for path in given if path.is_dir()]
    seen: set[Path] = set()
    for path in given:
        for candidate in _inputs_of(path, roots, follow_links):
            if isinstance(candidate, IngestError):
                yield candidate
                continue
            key = Path(os.path.realpath(candidate))
            if key not in seen:
                seen.add(key)
                yield candidate


def _inputs_of(path: Path, roots: list[Path], follow_links: bool) -> Iterator[Path | IngestError]:
    try:
        info = path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            yield IngestError(str(path), "symlink loop")
        else:
            # Missing or unreadable: parse_file says which.
            yield path
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _walk(path, roots, follow_links, frozenset({(info.st_dev, info.st_ino)}))
    elif stat.S_ISREG(info.st_mode):
        yield path
    else:
        yield IngestError(str(path), _not_regular(info.st_mode))


def _walk(
    folder: Path, roots: list[Path], follow_links: bool, above: frozenset[tuple[int, int]]
) -> Iterator[Path | IngestError]:
    try:
        children = sorted(folder.iterdir(), key=lambda child: child.name)
    except OSError as error:
        yield IngestError(str(folder), f"cannot list: {error.strerror or type(error).__name__}")
        return
    for child in children:
        if child.name.startswith("."):
            continue
        is_link = child.is_symlink()
        try:
            info = child.stat()
        except OSError as error:
            if error.errno == errno.ELOOP:
                yield IngestError(str(child), "symlink loop")
            elif is_link:
                yield IngestError(str(child), "broken link (its target does not exist)")
            else:
                yield IngestError(str(child), error.strerror or type(error).__name__)
            continue
        is_dir, is_file = stat.S_ISDIR(info.st_mode), stat.S_ISREG(info.st_mode)
        suffix = child.suffix.lower()
        if is_file and suffix not in SUPPORTED_SUFFIXES and suffix not in COT_SUFFIXES:
            continue
        if is_link and not follow_links:
            target = Path(os.path.realpath(child))
            if not any(target.is_relative_to(root) for root in roots):
                yield IngestError(
                    str(child),
                    f"link leads outside the given folders (to {target}); "
                    "not followed without --follow-links",
                )
                continue
        if is_dir:
            key = (info.st_dev, info.st_ino)
            if key in above:
                yield IngestError(str(child), "symlink loop (leads back to a folder above it)")
            else:
                yield from _walk(child, roots, follow_links, above | {key})
        elif is_file:
            yield child
        else:
            yield IngestError(str(child), _not_regular(info.st_mode))


def _not_regular(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        kind = "a FIFO (named pipe)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode):
        kind = "a character device"
    elif stat.S_ISBLK(mode):
        kind = "a block device"
    else:
        kind = "not a regular file"
    return f"skipped: {kind}; only regular files are read"


def parse_file(path: Path) -> Iterator[RawDocument]:
    """Read `path` and yield its documents; IngestError for unreadable or unsupported files."""
    size = _regular_file_size(path)
    parser = parser_for(path)
    if parser is None:
        kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
        supported = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise IngestError(str(path), f"unsupported file type {kind}; guetteur reads {supported}")
    if size > MAX_FILE_BYTES:
        raise IngestError(
            str(path),
            f"too large ({size / 2**20:.0f} MB, the limit is "
            f"{MAX_FILE_BYTES / 2**20:.0f} MB): split it first",
        )
    yield from parser(path, _read_bytes(path))


def read_input(path: Path) -> bytes:
    """The bytes of one input file, read as `parse_file` reads them (regular files only,
    within MAX_FILE_BYTES, never blocking); IngestError naming it otherwise."""
    size = _regular_file_size(path)
    if size > MAX_FILE_BYTES:
        raise IngestError(
            str(path),
            f"too large ({size / 2**20:.0f} MB, the limit is "
            f"{MAX_FILE_BYTES / 2**20:.0f} MB): split it first",
        )
    return _read_bytes(path)


def _regular_file_size(path: Path) -> int:
    try:
        info = path.stat()
    except OSError as error:
        raise IngestError(str(path), _os_reason(error)) from None
    if stat.S_ISDIR(info.st_mode):
        raise IngestError(str(path), "Is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise IngestError(str(path), _not_regular(info.st_mode))
    return info.st_size


def _read_bytes(path: Path) -> bytes:
    # Non-blocking, and checked again once open: a file swapped for a FIFO
    # after the walk must not block the run (O_NONBLOCK does nothing to a
    # regular file's reads).
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise IngestError(str(path), _os_reason(error)) from None
    with os.fdopen(descriptor, "rb") as file:
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise IngestError(str(path), _not_regular(info.st_mode))
            data = file.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise IngestError(str(path), _os_reason(error)) from None
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(str(path), f"grew past {MAX_FILE_BYTES / 2**20:.0f} MB while read")
    if not data or data.isspace():
        raise IngestError(str(path), "empty file")
    return data


def _os_reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symlink loop"
    return error.strerror or type(error).__name__
