"""Windows events in (Sysmon, Security…): what Sigma rules run on, before alerts exist.

`read_windows_events` streams a file of Windows event log records and yields
`WindowsEvent`s, whatever the export: evtx_dump-style JSON
(``{"Event": {"System": …, "EventData": …}}``) one per line, in an array, or
pretty-printed and concatenated; flat records as OTRF/Mordor datasets and
NXLog/Logstash write them (``EventID``, ``Channel``, ``Hostname`` and the event
fields at top level); winlogbeat (``{"winlog": {…}}``); and raw ``.evtx``
files through the `evtx` package (pyevtx-rs). The Sigma matcher consumes these;
the store comes later.

Errors follow `guetteur.cyber.eve`: each bad record is an `IngestError` naming
the file and line/item, handed to ``on_error`` while reading goes on; without
``on_error`` the first one is raised after the good records before it.

Times are UTC. Only a few fields are trustworthy UTC in flat exports: Sysmon's
``UtcTime`` first, then the collector's ``@timestamp``; ``TimeCreated`` and
``EventTime`` there are often the collector's local time without an offset
(OTRF runs are 4 to 16 hours off) and are read as UTC only as a last resort.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from guetteur._exceptions import IngestError, MissingDependencyError
from guetteur.cyber.eve import (
    DEFAULT_MAX_RECORD_BYTES,
    ErrorHandler,
    _report,
    read_json_records,
)
from guetteur.model.alert import WindowsEvent

__all__ = ["read_windows_events", "windows_event_from_record"]

_EVTX_MAGIC = b"ElfFile\x00"
_ATTRIBUTES = "#attributes"
_TEXT = "#text"
# In flat records, the first of these present is the time (see module docstring).
_FLAT_TIME_FIELDS = ("UtcTime", "@timestamp", "TimeCreated", "EventTime", "timestamp")


def read_windows_events(
    path: Path,
    *,
    on_error: ErrorHandler | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[WindowsEvent]:
    """Yield a `WindowsEvent` per record of a JSON export or a raw ``.evtx`` file.

    Bad records go to ``on_error`` (e.g. ``errors.append``) and reading goes on;
    without it the first bad record raises `IngestError`.
    """
    if _is_evtx(path):
        records = _evtx_records(path, on_error)
    else:
        records = read_json_records(path, on_error=on_error, max_record_bytes=max_record_bytes)
    for origin, record in records:
        try:
            event = windows_event_from_record(record)
        except (ValueError, TypeError, KeyError) as exc:
            _report(on_error, IngestError(origin, str(exc)))
            continue
        yield event


def _is_evtx(path: Path) -> bool:
    if path.suffix.lower() == ".evtx":
        return True
    with path.open("rb") as raw:
        return raw.read(len(_EVTX_MAGIC)) == _EVTX_MAGIC


def _evtx_records(
    path: Path, on_error: ErrorHandler | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        from evtx import PyEvtxParser
    except ImportError:
        raise MissingDependencyError(
            f"{path}: reading .evtx files needs the 'evtx' package (pyevtx-rs): "
            "pip install evtx==0.14.0"
        ) from None
    try:
        parser = PyEvtxParser(str(path))
    except (RuntimeError, OSError) as exc:
        _report(on_error, IngestError(str(path), f"not a readable EVTX file: {exc}"))
        return
    records = iter(parser.records_json())
    index = 0
    while True:
        try:
            item = next(records)
        except StopIteration:
            # The parser yields nothing, silently, for a corrupt body behind a valid magic.
            if index == 0 and not _evtx_header_checksum_ok(path):
                reason = "not a readable EVTX file: header checksum mismatch and no records"
                _report(on_error, IngestError(str(path), reason))
            return
        except (RuntimeError, OSError) as exc:
            # The Rust parser cannot go on past a broken chunk: report the tail.
            reason = f"EVTX parse error after record {index}: {exc}; the rest was not read"
            _report(on_error, IngestError(str(path), reason))
            return
        if item is None:
            return
        index += 1
        origin = f"{path}#record{item.get('event_record_id', index)}"
        try:
            value = orjson.loads(item["data"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            _report(on_error, IngestError(origin, f"unreadable record JSON: {exc}"))
            continue
        if isinstance(value, dict):
            yield origin, value
        else:
            _report(on_error, IngestError(origin, "record is not a JSON object"))


def _evtx_header_checksum_ok(path: Path) -> bool:
    # EVTX file header: CRC32 of its first 120 bytes, stored little-endian at offset 124.
    with path.open("rb") as raw:
        header = raw.read(128)
    return len(header) == 128 and zlib.crc32(header[:120]) == int.from_bytes(header[124:], "little")


# --------------------------------------------------------------------------- pure mapping


def windows_event_from_record(record: Mapping[str, Any]) -> WindowsEvent:
    """Normalise one record of any supported shape (pure); ValueError when unusable."""
    event = record.get("Event")
    if isinstance(event, Mapping) and isinstance(event.get("System"), Mapping):
        return _from_event_xml_json(event)
    winlog = record.get("winlog")
    if isinstance(winlog, Mapping):
        return _from_winlogbeat(record, winlog)
    return _from_flat(record)


def _from_event_xml_json(event: Mapping[str, Any]) -> WindowsEvent:
    """evtx_dump / pyevtx-rs JSON: the event's XML, attributes under ``#attributes``."""
    system: Mapping[str, Any] = event["System"]
    provider = _attributes(system.get("Provider")).get("Name") or ""
    time_created = _attributes(system.get("TimeCreated")).get("SystemTime")
    data = event.get("EventData")
    if data is None:
        data = _unwrap_user_data(event.get("UserData"))
    return WindowsEvent(
        time=_parse_time(time_created),
        channel=_text(system.get("Channel")) or "",
        provider=str(provider),
        event_id=_event_id(system.get("EventID")),
        computer=_text(system.get("Computer")) or "",
        data=_flatten_event_data(data),
        record_id=_int_or_none(_text(system.get("EventRecordID"))),
    )


def _from_winlogbeat(record: Mapping[str, Any], winlog: Mapping[str, Any]) -> WindowsEvent:
    event_meta = record.get("event") if isinstance(record.get("event"), Mapping) else {}
    data = winlog.get("event_data")
    if data is None:
        data = _unwrap_user_data(winlog.get("user_data"))
    time_value = record.get("@timestamp") or (event_meta or {}).get("created")
    return WindowsEvent(
        time=_parse_time(time_value),
        channel=str(winlog.get("channel") or ""),
        provider=str(winlog.get("provider_name") or ""),
        event_id=_event_id(winlog.get("event_id", (event_meta or {}).get("code"))),
        computer=str(winlog.get("computer_name") or _host_name(record.get("host")) or ""),
        data=_flatten_event_data(data),
        record_id=_int_or_none(winlog.get("record_id")),
    )


def _from_flat(record: Mapping[str, Any]) -> WindowsEvent:
    """OTRF/Mordor, NXLog, Logstash: system and event fields side by side at top level."""
    time_value = next((record[k] for k in _FLAT_TIME_FIELDS if record.get(k)), None)
    channel = record.get("Channel")
    computer = record.get("Hostname") or record.get("Computer") or _host_name(record.get("host"))
    provider = record.get("SourceName") or record.get("ProviderName") or record.get("Provider_Name")
    event_id = record.get("EventID", record.get("EventId"))
    if event_id is None and channel is None:
        raise ValueError("not a Windows event (no Event.System, winlog, EventID or Channel)")
    return WindowsEvent(
        time=_parse_time(time_value),
        channel=str(channel or ""),
        provider=str(provider or ""),
        event_id=_event_id(event_id),
        computer=str(computer or ""),
        # Everything is kept: rules name these fields as the exporter wrote them.
        data=_flatten_event_data(record),
        record_id=_int_or_none(record.get("RecordNumber", record.get("EventRecordID"))),
    )


def _attributes(node: Any) -> Mapping[str, Any]:
    if isinstance(node, Mapping):
        attributes = node.get(_ATTRIBUTES)
        if isinstance(attributes, Mapping):
            return attributes
    return {}


def _text(node: Any) -> Any:
    """An element's value, whether plain or ``{"#text": value, "#attributes": …}``."""
    if isinstance(node, Mapping):
        return node.get(_TEXT)
    return node


def _event_id(value: Any) -> int:
    value = _text(value)
    if value is None or value == "":
        raise ValueError("event without an EventID")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"EventID {value!r} is not a number") from None


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError("event without a time (TimeCreated, UtcTime or @timestamp)")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"unreadable event time {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _flatten_event_data(data: Any) -> dict[str, Any]:
    """EventData as one flat name → value mapping, whichever way the exporter nested it."""
    if data is None or data == "":
        return {}
    if not isinstance(data, Mapping):
        return {"Data": data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == _ATTRIBUTES:
            continue
        if key == "Data" and isinstance(value, list | Mapping):
            # <Data Name="X">v</Data> elements, as some exporters keep them.
            named = _named_data(value)
            if named is not None:
                flat.update(named)
                continue
        if isinstance(value, Mapping):
            if set(value) <= {_TEXT, _ATTRIBUTES}:
                flat[key] = value.get(_TEXT)
            else:
                for sub_key, sub_value in _flatten_event_data(value).items():
                    flat[f"{key}.{sub_key}"] = sub_value
            continue
        flat[key] = value
    return flat


def _unwrap_user_data(data: Any) -> Any:
    """UserData wraps its fields in one element named by the event (e.g. LogFileCleared)."""
    if isinstance(data, Mapping):
        elements = [v for k, v in data.items() if k != _ATTRIBUTES]
        if len(elements) == 1 and isinstance(elements[0], Mapping):
            return elements[0]
    return data


def _named_data(value: Any) -> dict[str, Any] | None:
    items = value if isinstance(value, list) else [value]
    named: dict[str, Any] = {}
    for item in items:
        name = _attributes(item).get("Name")
        if name is None:
            return None
        named[str(name)] = _text(item)
    return named


def _host_name(host: Any) -> Any:
    if isinstance(host, Mapping):
        return host.get("name") or host.get("hostname")
    return host


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
