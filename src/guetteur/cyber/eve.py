"""Suricata EVE JSON in: the first step of the alert path (normalise → rules → cluster).

`read_eve` streams a Suricata EVE file — NDJSON as Suricata writes it, or one
big JSON array as many exporters do — and yields `Alert`s (``event_type ==
"alert"``) and `NetworkEvent`s (flow, dns, http, tls, fileinfo, anomaly…,
linked to alerts by ``flow_id``), in constant memory whatever the file size.
Store and triage come after; nothing here touches the store.

Error discipline, shared with `guetteur.cyber.winevents`: bad input never stops
the stream silently and never loses the good records around it. Each bad record
becomes an `IngestError` naming the file and the line (NDJSON) or item (array)
and is handed to ``on_error``; reading goes on. Without ``on_error`` the first
error is raised — after every good record before it has been yielded. In an
array or a stream of concatenated objects the parser cannot resynchronise after
a syntax error, so such an error is reported once, for the unread tail.

The streaming helpers (`read_json_records`) also serve the Windows event reader.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from guetteur._exceptions import IngestError
from guetteur.model.alert import Alert, NetworkEvent, Severity

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "ErrorHandler",
    "eve_record_to_event",
    "parse_eve_time",
    "read_eve",
    "read_eve_records",
    "read_json_records",
    "record_id",
]

#: Larger records are rejected unread: real EVE records are a few KB, and a
#: bound is what keeps a hostile or corrupted file from exhausting memory.
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024

ErrorHandler = Callable[[IngestError], None]

_CHUNK = 64 * 1024
_SKIP_CHUNK = 1024 * 1024
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
# yajl is ijson's C backend; the pure-Python fallback would be ~20x slower.
_ijson = ijson.get_backend("yajl2_c") if "yajl2_c" in ijson.ALL_BACKENDS else ijson
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
# Precomputed: the enum classmethod builds a dict per call, a measurable cost per alert.
_SEVERITY_BY_SURICATA = {n: Severity.from_suricata(n) for n in range(1, 5)}
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _report(on_error: ErrorHandler | None, error: IngestError) -> None:
    if on_error is None:
        raise error
    on_error(error)


# --------------------------------------------------------------------------- streaming


class _RecordTooLarge(Exception):
    """Raised inside the parser's reads, so ijson stops before buffering a huge value."""


class _CountingReader:
    """A file wrapper that knows how far ijson has read and refuses oversized values."""

    def __init__(self, raw: IO[bytes], prefix: bytes, limit: int) -> None:
        self._raw = raw
        self._prefix = prefix
        self._limit = limit
        self.offset = 0  # bytes handed to the parser so far
        self._since_value = 0  # bytes read since the last complete value

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson probes with read(0) to tell bytes from text
        if self._prefix:
            data, self._prefix = self._prefix, b""
        else:
            data = self._raw.read(size if size > 0 else _CHUNK)
        self.offset += len(data)
        self._since_value += len(data)
        # One chunk of read-ahead is allowed: it may hold the end of the value.
        if self._since_value > self._limit + _CHUNK:
            raise _RecordTooLarge
        return data

    def value_done(self) -> None:
        self._since_value = 0


def _skip_to_first_significant_byte(raw: io.BufferedReader) -> bytes:
    """Consume a BOM and leading whitespace; return (without consuming) the next byte."""
    if raw.peek(len(_BOM))[: len(_BOM)] == _BOM:
        raw.read(len(_BOM))
    while True:
        ahead = raw.peek(_CHUNK)
        if not ahead:
            return b""
        stripped = ahead.lstrip(_WHITESPACE)
        if stripped:
            raw.read(len(ahead) - len(stripped))
            return stripped[:1]
        raw.read(len(ahead))


def _stream_values(
    path: Path,
    reader: _CountingReader,
    *,
    array: bool,
    on_error: ErrorHandler | None,
    limit: int,
) -> Iterator[tuple[str, Any]]:
    """Values of a top-level array, or of concatenated top-level values, through ijson."""
    index = 0
    values = (
        _ijson.items(reader, "item", use_float=True, buf_size=_CHUNK)
        if array
        else _ijson.items(reader, "", multiple_values=True, use_float=True, buf_size=_CHUNK)
    )
    where = "item" if array else "object"
    try:
        for value in values:
            reader.value_done()
            index += 1
            yield f"{path}#{where}{index}", value
    except _RecordTooLarge:
        _report(
            on_error,
            IngestError(
                str(path),
                f"{where} {index + 1} (near byte {reader.offset}) is larger than "
                f"{limit} bytes; the rest of the file was not read",
            ),
        )
    except ijson.JSONError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _report(
            on_error,
            IngestError(
                str(path),
                f"invalid or truncated JSON after {where} {index} (near byte {reader.offset}): "
                f"{reason}; the rest of the file was not read",
            ),
        )


def read_json_records(
    path: Path,
    *,
    on_error: ErrorHandler | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (origin, object) for each JSON object of `path`, streaming.

    The layout is told by the first significant byte and line: ``[`` is one
    array, read incrementally; ``{`` whose first line is a whole object is
    NDJSON, read line by line (a bad line costs only itself); any other ``{``
    is a stream of concatenated, possibly pretty-printed objects. `origin` is
    ``path:LINE``, ``path#itemN`` or ``path#objectN``. Non-objects are errors.
    """
    for where, record in _located_records(path, on_error, max_record_bytes):
        yield _origin(path, where), record


def _origin(path: Path, where: int | str) -> str:
    return f"{path}:{where}" if isinstance(where, int) else where


def _located_records(
    path: Path, on_error: ErrorHandler | None, max_record_bytes: int
) -> Iterator[tuple[int | str, dict[str, Any]]]:
    """`read_json_records`, with an NDJSON line's origin left as its number.

    Spelling ``path:LINE`` for every line was a measurable share of reading a
    large file; `_origin` spells it for the few records that need it.
    """
    with path.open("rb") as raw:
        first = _skip_to_first_significant_byte(raw)
        if not first:
            return  # an empty file holds no records; that is not an error
        if first not in (b"[", b"{"):
            head = raw.peek(8)[:8]
            _report(on_error, IngestError(str(path), f"not JSON (starts with {head!r})"))
            return
        if first == b"[":
            reader = _CountingReader(raw, b"", max_record_bytes)
            values = _stream_values(
                path, reader, array=True, on_error=on_error, limit=max_record_bytes
            )
            yield from _objects_only(values, on_error)
            return
        # The first line (bounded like every other) tells NDJSON from a stream of
        # pretty-printed objects: a whole object, or a next line opening another.
        first_line = raw.readline(max_record_bytes + 1)
        is_ndjson = len(first_line) <= max_record_bytes and (
            _is_json_object(first_line) or raw.peek(1)[:1] == b"{"
        )
        if is_ndjson:
            yield from _ndjson(path, raw, first_line, on_error, max_record_bytes)
            return
        reader = _CountingReader(raw, first_line, max_record_bytes)
        values = _stream_values(
            path, reader, array=False, on_error=on_error, limit=max_record_bytes
        )
        yield from _objects_only(values, on_error)


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _ndjson(
    path: Path,
    raw: io.BufferedReader,
    first_line: bytes,
    on_error: ErrorHandler | None,
    limit: int,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per line, `first_line` (already read) included.

    A line longer than `limit` bytes is skipped in bounded chunks, so memory
    stays near `limit` whatever the line; reading, parsing and checking sit in
    one loop because this is the per-record hot path of a large file.
    """
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    lineno, line = 1, first_line
    while line:
        if len(line) > limit and not line.endswith(b"\n"):
            del line
            while True:
                rest = raw.readline(_SKIP_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            reason = f"line longer than {limit} bytes, skipped"
            _report(on_error, IngestError(f"{path}:{lineno}", reason))
        else:
            try:
                value = loads(line)
            except decode_error as exc:
                if line.strip():  # a blank line is no record, and no error either
                    _report(on_error, IngestError(f"{path}:{lineno}", f"invalid JSON: {exc}"))
            else:
                if type(value) is dict:
                    yield lineno, value
                else:
                    reason = f"a JSON {_kind(value)}, not an object"
                    _report(on_error, IngestError(f"{path}:{lineno}", reason))
        line = raw.readline(limit + 1)
        lineno += 1


def _objects_only(
    values: Iterator[tuple[str, Any]], on_error: ErrorHandler | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    for origin, value in values:
        if isinstance(value, dict):
            yield origin, value
        else:
            _report(on_error, IngestError(origin, f"a JSON {_kind(value)}, not an object"))


def _kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# --------------------------------------------------------------------------- EVE records


def read_eve_records(
    path: Path,
    *,
    on_error: ErrorHandler | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (origin, raw EVE record) from an NDJSON or JSON-array EVE file."""
    return read_json_records(path, on_error=on_error, max_record_bytes=max_record_bytes)


def read_eve(
    path: Path,
    *,
    on_error: ErrorHandler | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Alert | NetworkEvent]:
    """Yield an `Alert` per EVE alert and a `NetworkEvent` per other record (``stats`` skipped).

    Bad records go to ``on_error`` (e.g. ``errors.append``) and reading goes on;
    without it the first bad record raises `IngestError` (file and line/item).
    """
    for where, record in _located_records(path, on_error, max_record_bytes):
        try:
            event = eve_record_to_event(record)
        except (ValueError, TypeError, KeyError) as exc:
            _report(on_error, IngestError(_origin(path, where), str(exc)))
            continue
        if event is not None:
            yield event


def eve_record_to_event(record: Mapping[str, Any]) -> Alert | NetworkEvent | None:
    """Normalise one EVE record (pure). None for ``stats``; ValueError when unusable."""
    # The per-alert hot path of a large file: each field is read once, and the
    # common case (strings and ints as Suricata writes them) is tested inline.
    get = record.get
    event_type = get("event_type")
    if not isinstance(event_type, str):
        raise ValueError("EVE record without an event_type")
    if event_type == "stats":
        return None  # engine counters: neither evidence nor context
    time = parse_eve_time(get("timestamp"))
    flow_id = get("flow_id")
    if flow_id is not None:
        flow_id = str(flow_id)
    src = get("src_ip")
    if src is not None and type(src) is not str:
        src = str(src)
    dst = get("dest_ip")
    if dst is not None and type(dst) is not str:
        dst = str(dst)
    if event_type != "alert":
        return NetworkEvent(time, event_type, flow_id, src, dst, record)
    alert = get("alert")
    if not isinstance(alert, dict):
        raise ValueError("alert record without an 'alert' object")
    signature_id = alert.get("signature_id")
    if signature_id is None:
        raise ValueError("alert without a signature_id")
    signature = alert.get("signature") or f"Suricata signature {signature_id}"
    severity = alert.get("severity", 3)  # Suricata's own default priority
    src_port = get("src_port")
    dst_port = get("dest_port")
    protocol = get("proto")
    category = alert.get("category")
    metadata = alert.get("metadata")
    return Alert(
        record_id(record),
        time,
        "suricata",
        signature if type(signature) is str else str(signature),
        str(signature_id),
        _SEVERITY_BY_SURICATA.get(severity) or Severity.from_suricata(int(severity)),
        _host_of(src, dst),
        src,
        src_port if type(src_port) is int else _int_or_none(src_port),
        dst,
        dst_port if type(dst_port) is int else _int_or_none(dst_port),
        protocol if protocol is None or type(protocol) is str else str(protocol),
        flow_id,
        category if category is None or type(category) is str else str(category),
        () if metadata is None else _techniques(metadata),
        record,
    )


def record_id(record: Mapping[str, Any]) -> str:
    """Stable id: the same record, NDJSON or array, pretty or not, gets the same id."""
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def parse_eve_time(value: Any) -> datetime:
    """EVE's ``2017-03-24T16:00:00.123456+0000`` (or ISO 8601) to an aware UTC datetime.

    A timestamp without an offset is taken as UTC: sensors are expected to run
    in UTC, and guessing the reader's local zone would be worse.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("record without a timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"unreadable timestamp {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


@lru_cache(maxsize=65536)
def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _PRIVATE_NETS)


def _host_of(src: str | None, dst: str | None) -> str | None:
    # The host an alert is "about" is ours: the internal side when only one side is.
    if src and not (dst and _is_private(dst)) and _is_private(src):
        return src
    return dst or src


def _techniques(metadata: Any) -> tuple[str, ...]:
    if not isinstance(metadata, dict):
        return ()
    values = metadata.get("mitre_technique_id") or ()
    if isinstance(values, str):
        values = [values]
    found: list[str] = []
    for value in values:
        text = str(value).strip().upper()
        if _TECHNIQUE.fullmatch(text) and text not in found:
            found.append(text)
    return tuple(found)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
