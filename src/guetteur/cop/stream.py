"""The TAK stream port's fan-out: what each connection may receive, and sending it.

    picture_for (Workspace.tracks and .events under the connection's clearance)
        ┐
    relays (another client's update, marked) ──▶ StreamHub.publish ──▶ Outbox of each
        ┘                                          connection (may_read, per recipient)
                                                   ──▶ Outbox.run: XML or TAK protocol 1

A connection reads as its user, narrowed to the nations it declares
(`Clearance.for_release_to`): every record is checked with `may_read` against
that clearance when it is queued and again when it is written, so nothing
reaches a socket that its user may not read or that is not releasable to its
nations. An outbox that cannot keep up drops new relays (counted) rather than
block the others. `send_picture` is `guetteur cot send`: the picture, once,
to a TAK input.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from guetteur.cop.cot_out import OutEvent, picture
from guetteur.cop.tak import encode
from guetteur.model import Clearance
from guetteur.security.markings import may_read
from guetteur.store import User
from guetteur.workspace import Workspace

__all__ = ["Outbox", "StreamHub", "picture_for", "send_picture"]

OUTBOX_LIMIT = 10_000


@dataclass(frozen=True)
class _Control:
    """A control message of ours (announcement, response, pong): no record, no marking."""

    xml: bytes
    as_xml: bool  # the protocol response goes in XML even as the stream switches


@dataclass(frozen=True)
class _Switch:
    version: int


@dataclass
class OutboxStats:
    sent: int = 0  # records written to the socket
    withheld: int = 0  # records this connection may not read: never queued
    dropped: int = 0  # relays dropped because the connection did not keep up
    unencodable: int = 0  # relayed events TAK protocol 1 cannot carry (bad detail values)


@dataclass
class Outbox:
    """What one connection sends, in order: records checked against its clearance,
    our control messages, and the switch to TAK protocol version 1."""

    clearance: Clearance | None = None  # None: receives no record (an input-only connection)
    limit: int = OUTBOX_LIMIT
    version: int = 0
    stats: OutboxStats = field(default_factory=OutboxStats)
    _queue: asyncio.Queue[OutEvent | _Control | _Switch] = field(default_factory=asyncio.Queue)

    def may_receive(self, out: OutEvent) -> bool:
        return self.clearance is not None and may_read(self.clearance, out.marking)

    def narrow(self, nations: frozenset[str]) -> None:
        """From now on, only what is releasable to `nations` too."""
        if self.clearance is not None and nations:
            self.clearance = self.clearance.for_release_to(nations)

    def offer(self, out: OutEvent) -> bool:
        """Queue a relay if this connection may read it; drop it if the connection lags."""
        if not self.may_receive(out):
            self.stats.withheld += 1
            return False
        if self._queue.qsize() >= self.limit:
            self.stats.dropped += 1
            return False
        self._queue.put_nowait(out)
        return True

    async def put(self, out: OutEvent) -> None:
        """Queue a record of the picture, waiting for room (the picture is not dropped)."""
        if not self.may_receive(out):
            self.stats.withheld += 1
            return
        await self._queue.put(out)

    def control(self, xml: bytes, *, as_xml: bool = False) -> None:
        self._queue.put_nowait(_Control(xml, as_xml))

    def switch(self, version: int) -> None:
        self._queue.put_nowait(_Switch(version))

    async def run(self, writer: asyncio.StreamWriter) -> None:
        """Write what is queued until cancelled or the peer goes away."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _Switch):
                self.version = item.version
                continue
            if isinstance(item, _Control):
                data = encode(item.xml, 0 if item.as_xml else self.version)
            else:
                if not self.may_receive(item):  # the clearance may have narrowed since
                    self.stats.withheld += 1
                    continue
                try:
                    data = encode(item.xml, self.version)
                except (ValueError, TypeError):
                    self.stats.unencodable += 1
                    continue
                self.stats.sent += 1
            writer.write(data)
            await writer.drain()


class StreamHub:
    """The connections of the stream port that receive records."""

    def __init__(self) -> None:
        self._by_id: dict[int, Outbox] = {}

    def add(self, outbox: Outbox) -> None:
        self._by_id[id(outbox)] = outbox

    def remove(self, outbox: Outbox) -> None:
        self._by_id.pop(id(outbox), None)

    def has_others(self, sender: Outbox | None) -> bool:
        return any(o is not sender for o in self._by_id.values())

    def publish(self, out: OutEvent, sender: Outbox | None = None) -> int:
        """Offer `out` to every connection but the sender's; how many took it."""
        return sum(o.offer(out) for o in list(self._by_id.values()) if o is not sender)


def picture_for(
    workspace: Workspace, user: User, clearance: Clearance, now: datetime
) -> list[OutEvent]:
    """The picture `user` may read under `clearance` (their own, or narrowed to nations):
    tracks and events from reports, read through the workspace (audited as `user`)."""
    reader = replace(user, clearance=clearance)
    out = picture(workspace.tracks(reader), workspace.events(reader), now)
    return [o for o in out if may_read(clearance, o.marking)]


def send_picture(host: str, port: int, events: Sequence[OutEvent], timeout: float = 30.0) -> int:
    """Send `events` as CoT XML over one TCP connection (a TAK input such as 8087)."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        for event in events:
            connection.sendall(event.xml)
        connection.shutdown(socket.SHUT_WR)
    return len(events)
