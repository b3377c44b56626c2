"""Bytes to text, for every parser that receives text in an unknown encoding.

Plain-text files, HTML pages, JSON documents and mail attachments reach ingest as
bytes whose encoding nobody declared. Reports written on staff workstations come
as UTF-8, UTF-16 (Windows "Unicode" saves, always with a byte-order mark) or
Windows-1252 (older French Office exports). This module turns those bytes into a
`str` with `\\n` newlines, and refuses binary content instead of turning it into
mojibake that would then be indexed, embedded and cited as if it were a report.
"""

from __future__ import annotations

import codecs
import re

from guetteur._exceptions import IngestError

__all__ = ["decode_text", "looks_like_text", "normalise_newlines", "one_line"]

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# C0 and C1 control characters that never occur in written text. Tab, newline,
# carriage return and form feed (page breaks in text exports) are allowed.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")

# Random bytes decoded as Latin-1 give about one control character in four;
# real text gives none. 1 % leaves room for a few stray characters in a long
# report while refusing anything binary.
_MAX_CONTROL_RATIO = 0.01

_NEWLINES = re.compile(r"\r\n?")


def looks_like_text(text: str) -> bool:
    """True when `text` has no NUL and almost no other control characters."""
    if "\x00" in text:
        return False
    if not text:
        return True
    controls = len(_CONTROL.findall(text))
    return controls / len(text) <= _MAX_CONTROL_RATIO


def one_line(error: BaseException, limit: int = 200) -> str:
    """A library's error message as one short line, for an IngestError reason.

    Parsers of damaged files raise messages spanning lines or pages; a user
    needs the gist, and the log needs one line per failed input.
    """
    message = " ".join(str(error).split()) or type(error).__name__
    return message if len(message) <= limit else message[: limit - 1] + "…"


def normalise_newlines(text: str) -> str:
    """Turn Windows and old Mac line ends into `\\n`."""
    return _NEWLINES.sub("\n", text)


def decode_text(origin: str, data: bytes) -> str:
    """Decode text of unknown encoding; raise IngestError naming `origin` if binary.

    Order: a byte-order mark decides (UTF-8, UTF-16, UTF-32); else strict UTF-8;
    else Windows-1252, or Latin-1 for the five bytes cp1252 leaves undefined.
    Whatever the encoding, the result must look like text (see `looks_like_text`).
    """
    text = _decode(data)
    if text is None or not looks_like_text(text):
        raise IngestError(origin, "not text (binary content)")
    return normalise_newlines(text)


def _decode(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                # A BOM followed by bytes that do not fit it: not a text file.
                return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # A NUL byte is never in cp1252 text; checking it first spares decoding a
    # large binary file twice.
    if b"\x00" in data:
        return None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")
