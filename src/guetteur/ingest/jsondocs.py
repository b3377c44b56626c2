"""Documents exported as JSON: `.json` (one object or an array) and `.jsonl`/`.ndjson`.

This is how other systems hand guetteur their records: each object is one
document with a "text" string and, optionally, "title", "marking" (the
declared marking), "grade" (an Admiralty code such as "B2") and a date under
"date", "published" or "reported_at" (ISO 8601; a time without zone is taken
as UTC). Other scalar fields are kept as metadata. Origins are `path#N`: the
item's position in an array, or the line number in a JSON Lines file.

One bad record does not cost the others: good records are yielded, then an
IngestError names the first bad one (see the contract in `registry`). A JSON
Lines line longer than `MAX_LINE_BYTES` is refused from its length alone,
never handed to the JSON decoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guetteur._exceptions import IngestError
from guetteur.ingest._base import RawDocument
from guetteur.ingest._decode import decode_text, normalise_newlines
from guetteur.ingest.text import guess_title

__all__ = ["MAX_LINE_BYTES", "parse_json", "parse_json_lines"]

# A record is a report, not a data dump; 10 MB of text per line is generous,
# and a longer line is more likely a mistake or an attack on the decoder.
MAX_LINE_BYTES = 10 * 1024 * 1024

_DATE_FIELDS = ("date", "published", "reported_at")
_DOCUMENT_FIELDS = frozenset({"text", "title", "marking", "grade", *_DATE_FIELDS})
_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}

# What a numbered source hands `_documents`: a decoded value, or why it has none.
_Numbered = tuple[int, Any | IngestError]


def parse_json(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read a `.json` file holding one document object or an array of them."""
    origin = str(path)
    text = decode_text(origin, data)
    if not text.strip():
        raise IngestError(origin, "empty document")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise IngestError(
            origin, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise IngestError(origin, "invalid JSON: nested too deeply") from None
    if isinstance(value, list):
        if not value:
            raise IngestError(origin, "empty JSON array: no documents")
        yield from _documents(path, enumerate(value, start=1), unit="items")
    else:
        yield from _documents(path, [(1, value)], unit="items")


def parse_json_lines(path: Path, data: bytes) -> Iterator[RawDocument]:
    """Read a JSON Lines file, one document object per line."""
    yield from _documents(path, _lines(str(path), data), unit="lines")


def _lines(origin: str, data: bytes) -> Iterator[_Numbered]:
    """(line number, decoded value or error) for every non-blank line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    start, number = 0, 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end == -1:
            end = len(data)
        number += 1
        line_origin = f"{origin}#{number}"
        length = end - start
        if length > MAX_LINE_BYTES:
            # Measured, not sliced: the oversized line is never copied or decoded.
            yield (
                number,
                IngestError(
                    line_origin,
                    f"line of {length / 2**20:.1f} MB, over the "
                    f"{MAX_LINE_BYTES / 2**20:.0f} MB limit for one JSON record",
                ),
            )
        else:
            line = data[start:end]
            if line.strip():
                yield number, _decode_line(line_origin, line)
        start = end + 1


def _decode_line(origin: str, line: bytes) -> Any | IngestError:
    try:
        return json.loads(decode_text(origin, line))
    except IngestError as error:
        return error
    except json.JSONDecodeError as error:
        return IngestError(origin, f"invalid JSON at column {error.colno}: {error.msg}")
    except RecursionError:
        return IngestError(origin, "invalid JSON: nested too deeply")


def _documents(path: Path, numbered: Iterable[_Numbered], *, unit: str) -> Iterator[RawDocument]:
    """Yield a document per good record, then raise for the first bad one, if any."""
    first_error: IngestError | None = None
    bad = total = 0
    for number, value in numbered:
        total += 1
        outcome = value if isinstance(value, IngestError) else _document(path, number, value)
        if isinstance(outcome, IngestError):
            bad += 1
            first_error = first_error or outcome
        else:
            yield outcome
    if first_error is not None:
        if total == 1:
            raise first_error
        raise IngestError(
            first_error.origin,
            f"{first_error.reason} ({bad} of {total} {unit} unreadable, the others were read)",
        )
    if total == 0:
        raise IngestError(str(path), "empty document")


def _document(path: Path, number: int, value: Any) -> RawDocument | IngestError:
    origin = f"{path}#{number}"
    try:
        return _read_document(path, origin, number, value)
    except IngestError as error:
        return error


def _read_document(path: Path, origin: str, number: int, value: Any) -> RawDocument:
    if not isinstance(value, dict):
        raise IngestError(origin, f"expected a JSON object, found {_type_name(value)}")
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        if text is None:
            problem = "it is missing"
        elif isinstance(text, str):
            problem = "it is blank"
        else:
            problem = f"found {_type_name(text)}"
        raise IngestError(origin, f'a document needs a non-empty "text" string; {problem}')
    text = _without_nul(normalise_newlines(text))
    title = _optional_string(origin, value, "title")
    metadata = {
        key: _without_nul(field if isinstance(field, str) else json.dumps(field))
        for key, field in value.items()
        if key not in _DOCUMENT_FIELDS and isinstance(field, str | int | float | bool)
    }
    return RawDocument(
        title=guess_title(title or "", fallback=guess_title(text, f"{path.stem} #{number}")),
        text=text,
        origin=origin,
        declared_marking=_optional_string(origin, value, "marking"),
        declared_grade=_optional_string(origin, value, "grade"),
        reported_at=_reported_at(origin, value),
        metadata=metadata,
    )


def _optional_string(origin: str, value: dict[str, Any], key: str) -> str | None:
    field = value.get(key)
    if field is None:
        return None
    if not isinstance(field, str):
        raise IngestError(origin, f'"{key}" must be a string, found {_type_name(field)}')
    return _without_nul(field).strip() or None


def _without_nul(text: str) -> str:
    # JSON can carry "\u0000", which no store keeps (PostgreSQL text refuses it).
    return text.replace("\x00", "")


def _reported_at(origin: str, value: dict[str, Any]) -> datetime | None:
    for key in _DATE_FIELDS:
        stated = _optional_string(origin, value, key)
        if stated is None:
            continue
        try:
            moment = datetime.fromisoformat(stated)
        except ValueError:
            raise IngestError(origin, f'"{key}" is not an ISO 8601 date: {stated[:40]!r}') from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    return None


def _type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
