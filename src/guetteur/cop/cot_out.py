"""CoT out: the picture a reader may read, as Cursor-on-Target XML events.

    Workspace.tracks / Workspace.events (filtered by the reader's clearance in
    the store's query) → `picture` → `OutEvent`s → the stream port, `cot send`

Each `OutEvent` carries its marking, so that whoever sends it checks it once
more against the connection (`may_read`) before a byte leaves. What goes out:

- a **track** as its last readable position, with the track's own type and
  that position's marking, how, course and speed; its remarks cite where the
  position came from (the source, and the report's document id when it came
  from a report);
- an **event from a report** (only those with a position) as type `a-u-G` for
  a SALUTE/spot report (a thing on the ground whose affiliation the words do
  not settle; `a-u-A` or `a-u-S` when an aircraft or a vessel took part) and
  `b-m-p-s-p-i` (a point of interest) for an event read from a sentence of
  prose; how `h-t` (transcribed); uid `guetteur.event.<event id>`; shown for
  24 hours after it is sent (or after its time, if later); remarks cite the
  source document id;
- incidents carry no location in guetteur's model, so none go out.

Every event names its marking twice: in the `access` attribute (the canonical
string, which a receiving guetteur parses back), and at the head of its
remarks in brackets, for the TAK user, whose device does not show `access`.
Events are CoT 2.0 and valid against MITRE's `Event-PUBLIC.xsd`: a type
outside the schema's grammar goes out as `a-u-G`, a how outside it as `m-p`.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element, tostring
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree

from guetteur.cop.cot import CotEvent
from guetteur.cop.tak import cot_time
from guetteur.model import Marking, Track
from guetteur.store import EventRow

__all__ = [
    "OutEvent",
    "REPORT_STALE",
    "TRACK_STALE",
    "event_type",
    "picture",
    "relayed",
    "report_event",
    "track_event",
]

TRACK_STALE = timedelta(minutes=5)  # a position that gave no stale time
REPORT_STALE = timedelta(hours=24)
UNKNOWN = "9999999.0"  # CoT's "not known" for hae, ce and le
_SCHEMA_TYPE = re.compile(r"^\w+(-\w+)*(;[^;]*)?$")
_SCHEMA_HOW = re.compile(r"^\w(-\w+)*$")
# XML 1.0 cannot carry these characters, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class OutEvent:
    """One CoT event ready to send, with the marking it must be checked against."""

    uid: str
    marking: Marking
    xml: bytes


def _clean(text: str, limit: int) -> str:
    return _NOT_XML.sub("", text)[:limit]


def _decimal(value: float, places: int) -> str:
    return f"{value:.{places}f}"  # never an exponent: xs:decimal has none


def _event_xml(
    *,
    uid: str,
    cot_type: str,
    how: str,
    time: datetime,
    start: datetime,
    stale: datetime,
    lat: float,
    lon: float,
    marking: Marking,
    remarks: str,
    hae: float | None = None,
    ce: float | None = None,
    le: float | None = None,
    callsign: str | None = None,
    group: str | None = None,
    course: float | None = None,
    speed: float | None = None,
) -> bytes:
    cot_type = cot_type if _SCHEMA_TYPE.match(cot_type) else "a-u-G"
    how = how if _SCHEMA_HOW.match(how) else "m-p"
    detail = []
    if callsign:
        detail.append(f"<contact callsign={quoteattr(_clean(callsign, 120))}/>")
    if group:
        detail.append(f"<__group name={quoteattr(_clean(group, 60))}/>")
    if course is not None and speed is not None:
        detail.append(f'<track course="{_decimal(course, 1)}" speed="{_decimal(speed, 2)}"/>')
    detail.append(
        f'<remarks source="guetteur" time="{cot_time(time)}">'
        f"{escape(_clean(f'[{marking}] {remarks}', 4000))}</remarks>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<event version="2.0" uid={quoteattr(_clean(uid, 256))} type="{cot_type}" '
        f'how="{how}" time="{cot_time(time)}" start="{cot_time(start)}" '
        f'stale="{cot_time(stale)}" access={quoteattr(str(marking))}>'
        f'<point lat="{_decimal(lat, 7)}" lon="{_decimal(lon, 7)}" '
        f'hae="{_decimal(hae, 1) if hae is not None else UNKNOWN}" '
        f'ce="{_decimal(ce, 1) if ce is not None else UNKNOWN}" '
        f'le="{_decimal(le, 1) if le is not None else UNKNOWN}"/>'
        f"<detail>{''.join(detail)}</detail></event>"
    ).encode()


def track_event(track: Track) -> OutEvent | None:
    """A track as its last readable position (None: no position readable)."""
    last = track.last
    if last is None:
        return None
    cited = f"source {last.source}" + (f", document {last.doc_id}" if last.doc_id else "")
    said = f" {last.remarks}" if last.remarks else ""
    stale = last.stale if last.stale is not None else last.time + TRACK_STALE
    return OutEvent(
        uid=track.uid,
        marking=last.marking,
        xml=_event_xml(
            uid=track.uid,
            cot_type=track.type,
            how=last.how,
            time=last.time,
            start=last.time,
            stale=max(stale, last.time),
            lat=last.lat,
            lon=last.lon,
            hae=last.hae,
            ce=last.ce,
            le=last.le,
            marking=last.marking,
            callsign=track.callsign,
            group=track.group,
            course=last.course,
            speed=last.speed,
            remarks=f"Position reported by {cited}.{said}",
        ),
    )


def event_type(row: EventRow) -> str:
    """The CoT type of an event from a report (see the module's docstring)."""
    if row.kind != "salute":
        return "b-m-p-s-p-i"
    kinds = {kind for _, _, kind in row.participants}
    return "a-u-A" if "aircraft" in kinds else "a-u-S" if "vessel" in kinds else "a-u-G"


def report_event(row: EventRow, now: datetime) -> OutEvent | None:
    """An event read from a report, at its position (None: it has none)."""
    if row.lat is None or row.lon is None:
        return None
    start = row.at if row.at is not None else now
    names = [name for _, name, _ in row.participants]
    label = names[0] if names else row.place or row.kind
    where = f" ({row.place})" if row.place else ""
    who = f" Who: {', '.join(names)}." if names else ""
    uid = f"guetteur.event.{row.id}"
    return OutEvent(
        uid=uid,
        marking=row.marking,
        xml=_event_xml(
            uid=uid,
            cot_type=event_type(row),
            how="h-t",
            time=now,
            start=start,
            stale=max(now, start) + REPORT_STALE,
            lat=row.lat,
            lon=row.lon,
            marking=row.marking,
            callsign=label,
            remarks=f"{row.what}{where}.{who} Source: document {row.doc_id}.",
        ),
    )


def picture(tracks: Iterable[Track], events: Iterable[EventRow], now: datetime) -> list[OutEvent]:
    """Tracks, then events from reports, as CoT (what has no position is left out)."""
    out = [e for e in map(track_event, tracks) if e is not None]
    out.extend(e for e in (report_event(row, now) for row in events) if e is not None)
    return out


def relayed(event: CotEvent, marking: Marking) -> OutEvent:
    """A client's event as it is relayed to the others: as sent, with its marking in
    `access` and its times written as TAK writes them (UTC, milliseconds)."""
    root: Element = defusedxml.ElementTree.fromstring(event.xml, forbid_dtd=True)
    root.set("access", str(marking))
    for name, moment in (("time", event.time), ("start", event.start), ("stale", event.stale)):
        root.set(name, cot_time(moment.astimezone(UTC)))
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return OutEvent(
        uid=event.uid,
        marking=marking,
        xml=b'<?xml version="1.0" encoding="UTF-8"?>\n' + body,
    )
