"""Tracks in: checked CoT events → marked position reports → store → audit.

    cop.cot.parse_event (a file, a capture, a TCP stream, a UDP datagram)
        → mark each event (its channel's marking, raised by its `access`)
        → position reports → store (one transaction, with one audit record)

`position_reports` is pure; `store_positions` does the store's I/O. A
position is keyed by (uid, time, marking): the same report received again is
a duplicate, the same position at another marking is another row, so a
SECRET sighting never makes an UNCLASSIFIED position SECRET.

Noninterference (issue 9), for the writer's own answer: a report is called a
duplicate only when the copy already held is one the writer may read. A
position marked above the writer (an `access` attribute raised it) is always
reported as stored — whether or not the store held it already — so the
counts a writer gets never reveal a record they may not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from guetteur.cop.cot import CotError, CotEvent, event_marking
from guetteur.model import Clearance, Marking, PositionReport
from guetteur.security.markings import may_read
from guetteur.store.base import Store

__all__ = ["CotIngestReport", "position_reports", "store_positions"]


@dataclass
class CotIngestReport:
    """What a run of CoT events did: positions stored, duplicates, refusals with reasons."""

    stored: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)


def position_reports(
    events: Sequence[CotEvent], channel: Marking, source: str
) -> tuple[list[PositionReport], list[str]]:
    """Each event as a marked position report, and why the others were refused.

    An event's marking is its channel's, raised (never lowered) by its
    `access` attribute; an `access` that does not parse refuses the event.
    """
    reports: list[PositionReport] = []
    failed: list[str] = []
    for event in events:
        try:
            marking = event_marking(channel, event)
        except CotError as error:
            failed.append(str(error))
            continue
        reports.append(
            PositionReport(
                uid=event.uid,
                type=event.type,
                callsign=event.callsign,
                group=event.group,
                position=event.position(marking, source),
            )
        )
    return reports, failed


def store_positions(
    store: Store,
    events: Sequence[CotEvent],
    source: str,
    channel: Marking,
    actor: str,
    writer: Clearance,
) -> CotIngestReport:
    """Store the events' positions and one audit record ("cot.ingest") in one transaction."""
    reports, failed = position_reports(events, channel, source)
    result = CotIngestReport(failed=failed)
    with store.atomic():
        added = store.add_positions(reports)
        for report, new in zip(reports, added, strict=True):
            if new or not may_read(writer, report.position.marking):
                result.stored += 1
            else:
                result.duplicates += 1
        store.audit(
            actor,
            "cot.ingest",
            {
                "source": source,
                "marking": str(channel),
                "events": len(events),
                "stored": result.stored,
                "duplicates": result.duplicates,
                "failed": len(result.failed),
            },
        )
    return result
