"""Documents exported as JSON: `.json` (one object or an array) and `.jsonl`/`.ndjson`.

This is how other systems hand guetteur their records: each object is one
document with a "text" string and, optionally, "title", a marking, "grade"
(an Admiralty code such as "B2") and a date under "date", "published" or
"reported_at" (ISO 8601; a time without zone is taken as UTC). Other scalar
fields are kept as metadata. Origins are `path#N`: the item's position in an
array, or the line number in a JSON Lines file.

Systems name the marking field differently, so every field named like one —
"marking", "classification", "security_label", "classification_marking"… in
any case, camelCase or with hyphens, at any depth of the record (see
`_MARKING_FIELDS`) — is a marking statement that must parse, and the stated
title is read for a banner: the document takes the high-water mark of all of
them and of its text. A marking field holding something other than a string
or a list of strings is refused.

One bad record does not cost the others: good records are yielded, then an
IngestError names the first bad one (see the contract in `registry`). A JSON
Lines line longer than `MAX_LINE_BYTES` is refused from its length alone,
never handed to the JSON decoder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guetteur._exceptions import IngestError
from guetteur.ingest._base import MarkedPart, PartKind, RawDocument
from guetteur.ingest._decode import decode_text, normalise_newlines
from guetteur.ingest.text import guess_title

__all__ = ["MAX_LINE_BYTES", "parse_json", "parse_json_lines"]

# A record is a report, not a data dump; 10 MB of text per line is generous,
# and a longer line is more likely a mistake or an attack on the decoder.
MAX_LINE_BYTES = 10 * 1024 * 1024

_DATE_FIELDS = ("date", "published", "reported_at")
_DOCUMENT_FIELDS = frozenset({"text", "title", "grade", *_DATE_FIELDS})
# Field names that hold a marking, once case, camelCase, hyphens and spaces are
# folded to snake_case.
_MARKING_FIELDS = frozenset({
    "marking", "markings", "classification", "classification_marking",
    "classification_level", "classification_banner", "security_classification",
    "security_label", "security_marking", "protective_marking", "marquage",
    "niveau_de_protection", "niveau_de_classification",
})  # fmt: skip
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NAME_SEPARATORS = re.compile(r"[\s.-]+")
# Records nest little; a hostile one cannot make the marking walk go deeper or longer.
_MAX_WALK_DEPTH = 32
_MAX_WALK_NODES = 100_000
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
        if key not in _DOCUMENT_FIELDS
        and not _is_marking_field(key)
        and isinstance(field, str | int | float | bool)
    }
    parts = _marking_fields(origin, value)
    if title:
        parts.append(MarkedPart('field "title"', title))
    return RawDocument(
        title=guess_title(title or "", fallback=guess_title(text, f"{path.stem} #{number}")),
        text=text,
        origin=origin,
        parts=tuple(parts),
        declared_grade=_optional_string(origin, value, "grade"),
        reported_at=_reported_at(origin, value),
        metadata=metadata,
    )


def _is_marking_field(key: str) -> bool:
    snake = _NAME_SEPARATORS.sub("_", _CAMEL_HUMP.sub("_", key).strip()).lower()
    return snake in _MARKING_FIELDS


def _marking_fields(origin: str, record: dict[str, Any]) -> list[MarkedPart]:
    """A statement part for every marking field of the record, nested ones included."""
    parts: list[MarkedPart] = []
    budget = _MAX_WALK_NODES
    # (dotted name, value, depth); the document's text is no field to search.
    pending: list[tuple[str, Any, int]] = [
        (str(key), field, 1) for key, field in record.items() if key != "text"
    ]
    while pending:
        name, field, depth = pending.pop()
        budget -= 1
        if budget < 0 or depth > _MAX_WALK_DEPTH:
            raise IngestError(origin, "record nested too deeply to look for marking fields")
        if _is_marking_field(name.rsplit(".", 1)[-1]):
            parts.extend(_statements(origin, name, field))
        elif isinstance(field, dict):
            pending.extend((f"{name}.{key}", inner, depth + 1) for key, inner in field.items())
        elif isinstance(field, list):
            pending.extend((name, inner, depth + 1) for inner in field)
    return sorted(parts, key=lambda part: part.name)


def _statements(origin: str, name: str, field: Any) -> list[MarkedPart]:
    values = field if isinstance(field, list) else [field]
    found: list[MarkedPart] = []
    for item in values:
        if item is None or (isinstance(item, str) and not item.strip()):
            continue
        if not isinstance(item, str):
            raise IngestError(
                origin, f'"{name}" must be a marking string, found {_type_name(item)}'
            )
        found.append(MarkedPart(f'field "{name}"', _without_nul(item), PartKind.STATEMENT))
    return found


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
