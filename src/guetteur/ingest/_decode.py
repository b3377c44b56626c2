"""Bytes to text, for every parser that receives text in an unknown encoding.

Plain-text files, HTML pages, JSON documents and mail attachments reach ingest as
bytes whose encoding nobody declared. Reports written on staff workstations come
as UTF-8, UTF-16 (Windows "Unicode" saves, always with a byte-order mark) or
Windows-1252 (older French Office exports). This module turns those bytes into a
`str` with `\\n` newlines, and refuses binary content instead of turning it into
mojibake that would then be indexed, embedded and cited as if it were a report.
A UTF-8 file with a few Windows-1252 lines pasted in (a quote from an old
export) keeps its UTF-8 lines: only the bytes that are not UTF-8 are read
as Windows-1252. `printable` is the other direction: it makes names taken
from the file system safe to print.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from guetteur._exceptions import IngestError

__all__ = ["decode_text", "looks_like_text", "normalise_newlines", "one_line", "printable"]

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

    Order: a byte-order mark decides (UTF-8, UTF-16, UTF-32); else UTF-8, with
    each byte that is not UTF-8 read as Windows-1252 (or Latin-1, for the five
    bytes cp1252 leaves undefined): a whole Windows-1252 file, and a UTF-8 file
    with a stray Latin-1 byte, both come out right.
    Whatever the encoding, the result must look like text (see `looks_like_text`).
    """
    text = _decode(data)
    if text is None or not looks_like_text(text):
        raise IngestError(origin, "not text (binary content)")
    return normalise_newlines(text)


def _decode(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    else:
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
    # UTF-8 wherever the bytes are UTF-8: every valid line, and every valid
    # character of a line holding a stray byte (a « quote » around a pasted
    # Latin-1 word), stays UTF-8; only the invalid bytes are read as cp1252.
    # Decoding the whole file as cp1252 instead turned every "é" into "Ã©".
    return data.decode("utf-8", errors=_FALLBACK)


def _single_byte_fallback(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: an invalid byte is a Windows-1252 character (else Latin-1)."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    try:
        return bad.decode("cp1252"), error.end
    except UnicodeDecodeError:
        return bad.decode("latin-1"), error.end


_FALLBACK = "guetteur-cp1252-fallback"
codecs.register_error(_FALLBACK, _single_byte_fallback)


# Characters that would act instead of showing: C0/C1 controls (newline, ANSI
# escapes), format characters (zero-width, bidi overrides), line and paragraph
# separators, and lone surrogates (undecodable bytes in a POSIX file name).
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with every character that would act on a terminal written as an escape.

    For names taken from outside (file names, paths in errors) before they are
    printed: a file name holding a newline or an ANSI escape must not fake a
    line or a colour in guetteur's output. Backslashes are doubled, so an
    escape cannot be faked either. An undecodable byte of a file name (a lone
    surrogate from `os.fsdecode`) shows as `\\xNN`, its byte.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == " " or unicodedata.category(char) not in _UNPRINTABLE_CATEGORIES:
            out.append(char)
        elif "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)
