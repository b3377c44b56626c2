"""The TAK protocol on the wire: framing, version 1 (protobuf) ↔ CoT XML, negotiation, auth.

What the listener and the stream port put on and take off a socket, as pure
functions and small stateful framers (no I/O):

- version 0 is CoT XML: a TCP stream is cut after each `</event>`
  (`XmlFramer`, around `cot.split_stream`); a datagram holds one event;
- version 1 is a protobuf `TakMessage` (the `takproto` package): on a stream,
  `0xBF <varint length> <message>` (`ProtoFramer`); in a datagram (mesh),
  `0xBF 0x01 0xBF <message>`;
- a stream starts in XML; the server advertises version 1 (`t-x-takp-v`), the
  client may ask for it (`t-x-takp-q`), the server answers (`t-x-takp-r`), and
  from the next byte on both directions speak version 1. A client whose very
  first byte is 0xBF speaks version 1 from the start (TAK Server's protobuf-only
  input): it is answered in version 1 too (a client that sends a version can
  decode it);
- a client with credentials sends `<auth><cot username=… password=…/></auth>`
  as its first message, as ATAK does (`take_auth`).

Every version 1 message is turned back into CoT XML (`message_to_xml`) and goes
through `cot.parse_event` like any XML event, so there is one set of checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

import defusedxml.ElementTree
import takproto  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from takproto.proto import TakMessage  # type: ignore[import-untyped]

from guetteur.cop.cot import MAX_EVENT_BYTES, CotError, split_stream

__all__ = [
    "AUTH_LIMIT",
    "CONTROL_TYPES",
    "MAGIC",
    "MESH_HEADER",
    "Auth",
    "ProtoFramer",
    "XmlFramer",
    "cot_time",
    "decode_message",
    "encode",
    "message_to_xml",
    "opening",
    "pong",
    "protocol_announcement",
    "protocol_response",
    "requested_version",
    "take_auth",
]

MAGIC = 0xBF
MESH_HEADER = b"\xbf\x01\xbf"
AUTH_LIMIT = 2048  # TAK Server buffers 1,024 bytes for an <auth> message; we allow twice that
# A peer that sends this many bytes without one `</event>` is not speaking CoT.
MAX_SKIP = 1 << 20
# A version 1 frame longer than MAX_EVENT_BYTES is skipped; one longer than this
# is not worth reading through: the connection is dropped.
MAX_FRAME = 16 << 20
NEGOTIATION_TTL = timedelta(seconds=60)
# Control messages between a client and its server: never stored, never relayed.
PING, PONG = "t-x-c-t", "t-x-c-t-r"
ADVERTISE, REQUEST, RESPONSE = "t-x-takp-v", "t-x-takp-q", "t-x-takp-r"
CONTROL_TYPES = frozenset({PING, PONG, ADVERTISE, REQUEST, RESPONSE})
_END = b"</event>"
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(rb"^\s*(<\?xml[^>]{0,200}\?>)?\s*")


def cot_time(moment: datetime) -> str:
    """A CoT time: UTC, milliseconds, `Z` (what TAK writes and takproto reads)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------- framing
class XmlFramer:
    """TAK protocol version 0 on a stream: complete `<event>`s, cut after `</event>`.

    An event longer than MAX_EVENT_BYTES is skipped up to its `</event>` and
    reported (a `CotError` among the frames) and the stream goes on; a peer
    that sends MAX_SKIP bytes without any `</event>` is not speaking CoT and
    `frames` raises CotError (drop the connection).
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._skipped = 0  # bytes of an oversized event skipped so far; 0: not skipping

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def frames(self) -> Iterator[bytes | CotError]:
        while True:
            if self._skipped:
                end = self.buffer.find(_END)
                if end < 0:
                    keep = len(_END) - 1  # a `</event>` may straddle two reads
                    dropped = max(0, len(self.buffer) - keep)
                    self._skipped += dropped
                    del self.buffer[:dropped]
                    if self._skipped > MAX_SKIP:
                        raise CotError(
                            f"no </event> within {self._skipped} bytes: the stream is not CoT"
                        )
                    return
                size = self._skipped + end + len(_END)
                del self.buffer[: end + len(_END)]
                self._skipped = 0
                yield CotError(f"event of {size} bytes, over the {MAX_EVENT_BYTES} limit")
                continue
            end = self.buffer.find(_END)
            if end < 0:
                if len(self.buffer) > MAX_EVENT_BYTES + 1024:
                    # Left to itself split_stream would clear the buffer and stop; skip
                    # instead, so that the connection goes on after the oversized event.
                    self._skipped = 1
                    continue
                return
            if _DTD.search(self.buffer, 0, end):
                # split_stream drops what precedes `<event`: a DOCTYPE there would pass
                # unseen, and its entities fail later under another name.
                del self.buffer[: end + len(_END)]
                yield CotError("DOCTYPE or entity declarations are refused")
                continue
            # split_stream takes the event off the buffer before yielding it, so a
            # caller that stops early (the protocol switched) finds the rest there.
            yield next(split_stream(self.buffer))


def _varint(buffer: bytearray, offset: int) -> tuple[int, int] | None:
    """The unsigned varint at `offset` and the offset after it; None if incomplete."""
    value = shift = 0
    for index in range(offset, min(len(buffer), offset + 10)):
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    if len(buffer) >= offset + 10:
        raise CotError("a TAK protocol 1 frame length of more than 10 bytes: not a varint")
    return None


class ProtoFramer:
    """TAK protocol version 1 on a stream: `0xBF <varint length> <TakMessage>` frames.

    A frame longer than MAX_EVENT_BYTES is skipped (its length says where the
    next one starts) and reported; a missing magic byte or a frame over
    MAX_FRAME raises CotError (drop the connection: the stream cannot be resynchronised).
    """

    def __init__(self, initial: bytes = b"") -> None:
        self.buffer = bytearray(initial)
        self._skip = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def frames(self) -> Iterator[bytes | CotError]:
        while True:
            if self._skip:
                dropped = min(self._skip, len(self.buffer))
                del self.buffer[:dropped]
                self._skip -= dropped
                if self._skip:
                    return
            if not self.buffer:
                return
            if self.buffer[0] != MAGIC:
                raise CotError(
                    f"byte 0x{self.buffer[0]:02x} where a TAK protocol 1 frame starts "
                    "with 0xbf: the stream is lost"
                )
            header = _varint(self.buffer, 1)
            if header is None:
                return
            length, start = header
            if length > MAX_FRAME:
                raise CotError(f"a TAK protocol 1 frame of {length} bytes: the stream is not TAK")
            if length > MAX_EVENT_BYTES:
                del self.buffer[:start]
                self._skip = length
                yield CotError(f"message of {length} bytes, over the {MAX_EVENT_BYTES} limit")
                continue
            if len(self.buffer) < start + length:
                return
            payload = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
            yield payload


# ---------------------------------------------------------- version 1 ↔ XML
def decode_message(payload: bytes) -> Any:
    """A `TakMessage` from its protobuf bytes, or CotError."""
    message = TakMessage()
    try:
        message.ParseFromString(payload)
    except (DecodeError, RuntimeWarning, ValueError):
        raise CotError(f"{len(payload)} bytes that are not a TAK protocol 1 message") from None
    return message


def _ms(value: int, name: str) -> str:
    try:
        return cot_time(datetime.fromtimestamp(value / 1000, UTC))
    except (OverflowError, OSError, ValueError):
        raise CotError(f"{name}={value} ms is not a time") from None


def _attributes(pairs: list[tuple[str, str]]) -> str:
    return "".join(f" {name}={quoteattr(value)}" for name, value in pairs if value)


def message_to_xml(message: Any) -> bytes | None:
    """The CoT XML a `TakMessage` stands for (None: a control message without an event).

    The typed detail fields (contact, group, track, ...) become their elements;
    `xmlDetail` is kept as it came, and wins where it holds the same element,
    as the protocol says. The result is checked by `cot.parse_event` like any
    XML, so a hostile `xmlDetail` is refused there.
    """
    if not message.HasField("cotEvent"):
        return None
    event = message.cotEvent
    head = _attributes(
        [
            ("version", "2.0"),
            ("uid", event.uid),
            ("type", event.type),
            ("how", event.how),
            ("time", _ms(event.sendTime, "sendTime")),
            ("start", _ms(event.startTime, "startTime")),
            ("stale", _ms(event.staleTime, "staleTime")),
            ("access", event.access),
            ("qos", event.qos),
            ("opex", event.opex),
        ]
    )
    point = _attributes(
        [(name, repr(float(getattr(event, name)))) for name in ("lat", "lon", "hae", "ce", "le")]
    )
    detail = event.detail
    raw: str = detail.xmlDetail
    parts = [raw]
    typed = [
        ("contact", "contact", [("callsign", detail.contact.callsign),
                                ("endpoint", detail.contact.endpoint)]),
        ("group", "__group", [("name", detail.group.name), ("role", detail.group.role)]),
        ("precisionLocation", "precisionlocation",
         [("geopointsrc", detail.precisionLocation.geopointsrc),
          ("altsrc", detail.precisionLocation.altsrc)]),
        ("status", "status", [("battery", str(detail.status.battery))]),
        ("takv", "takv", [("device", detail.takv.device), ("platform", detail.takv.platform),
                          ("os", detail.takv.os), ("version", detail.takv.version)]),
        ("track", "track", [("course", repr(detail.track.course)),
                            ("speed", repr(detail.track.speed))]),
    ]  # fmt: skip
    for field, element, pairs in typed:
        if detail.HasField(field) and f"<{element}" not in raw:
            parts.append(f"<{element}{_attributes(pairs)}/>")
    body = "".join(parts)
    return (
        f"<event{head}><point{point}/>" + (f"<detail>{body}</detail>" if body else "") + "</event>"
    ).encode("utf-8")


def encode(xml: bytes, version: int, *, mesh: bool = False) -> bytes:
    """Our own CoT XML as it goes on the wire in `version` (0: XML; 1: a stream frame,
    or a mesh datagram)."""
    if version == 0:
        return xml
    form = takproto.TAKProtoVer.MESH if mesh else takproto.TAKProtoVer.STREAM
    return bytes(takproto.xml2proto(xml, form))


# ---------------------------------------------------------------- negotiation
def _control(uid: str, cot_type: str, detail: str, now: datetime) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<event version="2.0" uid={quoteattr(uid)} type="{cot_type}" time="{cot_time(now)}" '
        f'start="{cot_time(now)}" stale="{cot_time(now + NEGOTIATION_TTL)}" how="m-g">'
        '<point lat="0.0" lon="0.0" hae="0.0" ce="9999999.0" le="9999999.0"/>'
        f"<detail>{detail}</detail></event>"
    ).encode()


def protocol_announcement(uid: str, now: datetime) -> bytes:
    """`t-x-takp-v`: this server decodes TAK protocol version 1 (sent once, in XML)."""
    return _control(
        uid, ADVERTISE, '<TakControl><TakProtocolSupport version="1"/></TakControl>', now
    )


def protocol_response(uid: str, accepted: bool, now: datetime) -> bytes:
    """`t-x-takp-r`: whether the version the client asked for is taken (the last XML sent)."""
    status = "true" if accepted else "false"
    return _control(
        uid, RESPONSE, f'<TakControl><TakResponse status="{status}"/></TakControl>', now
    )


def pong(now: datetime) -> bytes:
    """The answer to a client's ping (`t-x-c-t`)."""
    return _control("takPong", PONG, "", now)


def requested_version(xml: bytes) -> str | None:
    """The version a `t-x-takp-q` asks for (`detail/TakControl/TakRequest/@version`)."""
    root = defusedxml.ElementTree.fromstring(xml, forbid_dtd=True)
    request = root.find("detail/TakControl/TakRequest")
    return request.get("version") if request is not None else None


# ----------------------------------------------------------------------- auth
@dataclass(frozen=True)
class Auth:
    """A client's `<auth><cot username password uid/></auth>` message.

    `releasable_to` is guetteur's addition, `releasableTo="LUX"` on `<cot>`: the
    connection declares the nations what it receives must be releasable to.
    """

    username: str | None
    password: str | None
    uid: str | None
    releasable_to: str | None


def opening(buffer: bytes | bytearray) -> str | None:
    """What a connection's first bytes are: 'auth', 'proto' (0xBF), 'xml', or None (too few)."""
    match = _DECLARATION.match(buffer)
    rest = bytes(buffer[match.end() if match else 0 :])
    if not rest:
        return None
    if rest[0] == MAGIC:
        return "proto"
    if rest.startswith(b"<?") and b"?>" not in rest:
        return None  # a declaration cut by the network: read on
    if rest.startswith(b"<auth"[: len(rest)]):
        return "auth" if len(rest) >= len(b"<auth") else None
    return "xml"


def take_auth(buffer: bytearray) -> Auth | None:
    """Take the `<auth>` message off the front of `buffer` (None: not complete yet).

    Raises CotError when it is longer than AUTH_LIMIT or not well-formed.
    """
    end = buffer.find(b"</auth>")
    if end < 0:
        if len(buffer) > AUTH_LIMIT:
            raise CotError(f"no </auth> within {AUTH_LIMIT} bytes")
        return None
    if end + len(b"</auth>") > AUTH_LIMIT:
        raise CotError(f"an <auth> message over {AUTH_LIMIT} bytes")
    data = bytes(buffer[: end + len(b"</auth>")])
    del buffer[: end + len(b"</auth>")]
    try:
        root: Element = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise CotError("DOCTYPE or entity declarations are refused") from None
    except (defusedxml.ElementTree.ParseError, ValueError, LookupError):
        raise CotError("the <auth> message is not well-formed XML") from None
    cot = root.find("cot")
    if root.tag != "auth" or cot is None:
        raise CotError("an <auth> message without its <cot> element")
    return Auth(
        username=cot.get("username"),
        password=cot.get("password"),
        uid=cot.get("uid"),
        releasable_to=cot.get("releasableTo"),
    )
