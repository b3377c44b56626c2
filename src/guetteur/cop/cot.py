"""Cursor-on-Target events in: XML (TAK protocol version 0) to `CotEvent`.

Every CoT input — a `.cot` file, a capture holding several events, a TCP
stream, a UDP datagram, the XML inside a TAK protocol version 1 message —
comes through `parse_event`, which refuses with a reason anything hostile or
wrong: events over 64 KiB, DOCTYPE and entity declarations, coordinates off
the globe, times that do not parse, stale before start. `split_stream` cuts a
TCP byte stream after each `</event>`, bounded so that a peer that never
closes an event cannot grow the buffer. Pure functions, no I/O.

Markings: an event takes the marking of the channel it came in on (a file's
`--marking`, a listener's declared marking); a CoT `access` attribute that
parses as a marking raises it, never lowers it (high-water mark), and one that
does not parse refuses the event (fail closed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import defusedxml.ElementTree
from defusedxml import DefusedXmlException

from guetteur._exceptions import GuetteurError, MarkingError
from guetteur.model import Marking, Position
from guetteur.security.markings import high_water_mark, parse_marking

__all__ = [
    "MAX_EVENT_BYTES",
    "CotError",
    "CotEvent",
    "event_marking",
    "looks_like_cot",
    "parse_event",
    "parse_events",
    "split_stream",
]

MAX_EVENT_BYTES = 64 * 1024
UNKNOWN = 9_999_999.0  # CoT's "not known" for hae, ce and le
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_HOW = re.compile(r"^[A-Za-z0-9_.-]{0,40}$")
_END = b"</event>"
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class CotError(GuetteurError):
    """A CoT event refused; the message says why (and where, when known)."""


@dataclass(frozen=True)
class CotEvent:
    """One CoT event, checked: the fields guetteur keeps, and the XML as received."""

    uid: str
    type: str
    how: str
    time: datetime
    start: datetime
    stale: datetime
    lat: float
    lon: float
    hae: float | None
    ce: float | None
    le: float | None
    callsign: str | None
    group: str | None
    course: float | None
    speed: float | None
    remarks: str | None
    access: str | None
    xml: bytes

    def position(self, marking: Marking, source: str) -> Position:
        """This event as a position of its track, at `marking`."""
        return Position(
            time=self.time,
            lat=self.lat,
            lon=self.lon,
            marking=marking,
            source=source,
            hae=self.hae,
            ce=self.ce,
            le=self.le,
            course=self.course,
            speed=self.speed,
            how=self.how,
            stale=self.stale,
            remarks=self.remarks,
        )


def _time(element: Element, name: str, where: str) -> datetime:
    text = element.get(name)
    if not text:
        raise CotError(f"{where}: the event has no {name!r} time")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CotError(f"{where}: {name}={text[:40]!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(element: Element, name: str, where: str, *, required: bool = False) -> float | None:
    text = element.get(name)
    if text is None or not text.strip():
        if required:
            raise CotError(f"{where}: the point has no {name!r}")
        return None
    try:
        value = float(text)
    except ValueError:
        raise CotError(f"{where}: {name}={text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise CotError(f"{where}: {name}={text[:40]!r} is not a finite number")
    return None if value >= UNKNOWN and not required else value


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    cleaned = "".join(c for c in value if c.isprintable() or c in "\n\t").strip()
    return cleaned[:limit] or None


def parse_event(data: bytes, where: str = "CoT") -> CotEvent:
    """One `<event>` from its XML bytes, or CotError saying why it is refused."""
    if len(data) > MAX_EVENT_BYTES:
        raise CotError(f"{where}: event of {len(data)} bytes, over the {MAX_EVENT_BYTES} limit")
    if _DTD.search(data):
        raise CotError(f"{where}: DOCTYPE or entity declarations are refused")
    try:
        root = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise CotError(f"{where}: DOCTYPE or entity declarations are refused") from None
    except (defusedxml.ElementTree.ParseError, ValueError, LookupError) as error:
        raise CotError(f"{where}: not well-formed XML ({error})") from None
    if root.tag != "event":
        raise CotError(f"{where}: the root element is <{root.tag[:40]}>, not <event>")
    uid = _text(root.get("uid"), 256)
    if not uid:
        raise CotError(f"{where}: the event has no uid")
    where = f"{where} (uid {uid[:60]})"
    cot_type = (root.get("type") or "").strip()
    if not _TYPE.match(cot_type):
        raise CotError(f"{where}: type={cot_type[:40]!r} is not a CoT type")
    how = (root.get("how") or "").strip()
    if not _HOW.match(how):
        raise CotError(f"{where}: how={how[:40]!r} is not a CoT how")
    time, start, stale = (_time(root, name, where) for name in ("time", "start", "stale"))
    if stale < start:
        raise CotError(f"{where}: stale ({stale.isoformat()}) is before start")
    point = root.find("point")
    if point is None:
        raise CotError(f"{where}: the event has no <point>")
    lat = _number(point, "lat", where, required=True)
    lon = _number(point, "lon", where, required=True)
    assert lat is not None and lon is not None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CotError(f"{where}: lat={lat}, lon={lon} is off the globe")
    detail = root.find("detail")
    contact = detail.find("contact") if detail is not None else None
    group = detail.find("__group") if detail is not None else None
    track = detail.find("track") if detail is not None else None
    remarks = detail.find("remarks") if detail is not None else None
    course = _number(track, "course", where) if track is not None else None
    speed = _number(track, "speed", where) if track is not None else None
    if course is not None and not 0 <= course <= 360:
        raise CotError(f"{where}: course={course} is not a bearing in degrees")
    if speed is not None and speed < 0:
        raise CotError(f"{where}: speed={speed} is negative")
    return CotEvent(
        uid=uid,
        type=cot_type,
        how=how,
        time=time,
        start=start,
        stale=stale,
        lat=lat,
        lon=lon,
        hae=_number(point, "hae", where),
        ce=_number(point, "ce", where),
        le=_number(point, "le", where),
        callsign=_text(contact.get("callsign"), 120) if contact is not None else None,
        group=_text(group.get("name"), 60) if group is not None else None,
        course=course,
        speed=speed,
        remarks=_text(remarks.text, 4000) if remarks is not None else None,
        access=_text(root.get("access"), 500),
        xml=data,
    )


def split_stream(buffer: bytearray) -> Iterator[bytes]:
    """Take each complete event out of `buffer` (TAK's TCP framing: after `</event>`).

    What precedes an event's `<` (an XML declaration's end, whitespace) is
    dropped with it. Raises CotError when the buffer holds more than one
    event's worth of bytes without an end: the caller drops the connection.
    """
    while True:
        end = buffer.find(_END)
        if end < 0:
            if len(buffer) > MAX_EVENT_BYTES + 1024:
                size = len(buffer)
                buffer.clear()
                raise CotError(f"no </event> within {size} bytes: the stream is not CoT")
            return
        start = buffer.find(b"<event")
        chunk = bytes(buffer[start if 0 <= start < end else 0 : end + len(_END)])
        del buffer[: end + len(_END)]
        yield chunk


def looks_like_cot(data: bytes) -> bool:
    """Whether a file's bytes open with a CoT `<event` (after a BOM, an XML declaration,
    comments and whitespace): how `guetteur ingest` tells a CoT .xml from a feed."""
    body = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if body.startswith(b"<?xml"):
        end = body.find(b"?>")
        body = body[end + 2 :].lstrip() if end >= 0 else b""
    while body.startswith(b"<!--"):
        end = body.find(b"-->")
        body = body[end + 3 :].lstrip() if end >= 0 else b""
    return body.startswith(b"<event") and body[6:7] in (b" ", b"\t", b"\r", b"\n", b">", b"/")


def parse_events(data: bytes, where: str) -> tuple[list[CotEvent], list[str]]:
    """Every event of a file or capture: the ones read, and why the others were refused.

    Framed as TAK frames a stream, after each `</event>`: one bad event — too
    large, not well-formed, off the globe — is refused with its reason and
    the others load. A frame holding a DOCTYPE or entity declaration is
    refused whole, even where the declaration precedes its `<event`: its
    entities would otherwise fail later under another name.
    """
    body = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", data.lstrip(b"\xef\xbb\xbf"), count=1)
    events: list[CotEvent] = []
    failed: list[str] = []
    position = index = 0
    while (end := body.find(_END, position)) >= 0:
        frame = body[position : end + len(_END)]
        position = end + len(_END)
        index += 1
        label = f"{where}#{index}"
        if _DTD.search(frame):
            failed.append(f"{label}: DOCTYPE or entity declarations are refused")
            continue
        start = frame.find(b"<event")
        try:
            events.append(parse_event(frame[start:] if start >= 0 else frame, label))
        except CotError as error:
            failed.append(str(error))
    rest = body[position:].strip()
    if rest:
        dtd = " (DOCTYPE or entity declarations are refused)" if _DTD.search(rest) else ""
        failed.append(f"{where}: {len(rest)} bytes after the last </event>{dtd}")
    if not events and not failed:
        raise CotError(f"{where}: no <event> in the file")
    return events, failed


def event_marking(channel: Marking, event: CotEvent) -> Marking:
    """The channel's marking, raised (never lowered) by the event's `access` attribute."""
    if not event.access:
        return channel
    try:
        carried = parse_marking(event.access)
    except MarkingError:
        raise CotError(
            f"uid {event.uid[:60]}: access={event.access[:80]!r} is not a marking; "
            "the event is refused rather than stored lower than it may be"
        ) from None
    return high_water_mark([channel, carried])
