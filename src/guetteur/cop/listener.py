"""CoT in, live: TAK inputs over TCP, TLS and UDP, and the TAK stream port.

    socket ─▶ framing (tak.XmlFramer / ProtoFramer, negotiated) ─▶ rate limit
        ─▶ cot.parse_event ─▶ event_marking ─┬▶ StoreWriter (one thread, batches)
                                             │      ─▶ Workspace.ingest_cot
                                             └▶ StreamHub.publish (relay, per recipient)

A `CotServer` is declared with its channel — the source its events are stored
under and the marking they get (raised, never lowered, by an event's `access`)
— and holds any number of ports:

- `tcp`: TAK's plain input (8087): events are stored under the listener's user
  (the operator unless told otherwise), or under the user of an `<auth>`
  message if the client sends one first;
- `tls`: TAK's TLS input (8089): a client certificate is required, and its
  subject (RFC 4514) is mapped to a user (`guetteur users certificate`);
- `udp`: mesh SA, unicast or a multicast group (239.2.3.1:6969), one event per
  datagram, XML or TAK protocol 1 mesh; stored under the listener's user, so
  open it only on a network you trust;
- `stream`: the TAK-compatible server port: a client is authenticated by its
  certificate (TLS) or by an `<auth>` message (its first message), receives
  the picture its user may read, narrowed to the nations the port and the
  connection declare, and then every update relayed from the other clients
  that it may read. Its own updates are stored and relayed too.

Every TCP and TLS connection is offered TAK protocol version 1 (`t-x-takp-v`);
a client that asks (`t-x-takp-q`) is answered (`t-x-takp-r`) and both
directions switch to protobuf frames. Hostile input is refused event by event
with a reason, counted per connection (`ConnectionStats.refused`): events over
64 KiB (skipped, the connection goes on), DOCTYPE and entities, bad
coordinates and times, stale before start, `access` that is not a marking,
events over the connection's rate (token bucket), writes from a reader. A
stream that is not CoT (no `</event>` within 1 MiB, a lost protobuf frame) or
an authentication that fails closes that connection only; connections over
`max_connections` are refused at once. Events are stored by one writer thread
(SQLite has one writer), in batches of whatever has queued, each batch one
transaction per user and channel; what was queued when the server closes is
stored before `close` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509

from guetteur._exceptions import AuthenticationError, GuetteurError, InvalidInputError
from guetteur.arguments import parse_nations
from guetteur.cop.cot import CotError, CotEvent, event_marking, parse_event
from guetteur.cop.cot_out import relayed
from guetteur.cop.stream import Outbox, StreamHub, picture_for
from guetteur.cop.tak import (
    AUTH_LIMIT,
    CONTROL_TYPES,
    MESH_HEADER,
    PING,
    REQUEST,
    Auth,
    ProtoFramer,
    XmlFramer,
    decode_message,
    message_to_xml,
    opening,
    pong,
    protocol_announcement,
    protocol_response,
    requested_version,
    take_auth,
)
from guetteur.model import Marking
from guetteur.security.roles import ANALYST, require
from guetteur.store import User
from guetteur.workspace import Workspace

__all__ = [
    "Background",
    "Channel",
    "ConnectionStats",
    "CotServer",
    "Limits",
    "Ports",
    "StoreWriter",
    "WriterTotals",
    "addresses",
    "open_ports",
    "refusal_reason",
    "serve_until",
    "server_tls",
]

log = logging.getLogger("guetteur.cot")
T = TypeVar("T")
READ_SIZE = 65536
_ROLE_MESSAGE = "a reader may not send positions (the analyst role is needed)"


@dataclass(frozen=True)
class Channel:
    """What a listener declares: the source its events are stored under, and their marking."""

    source: str
    marking: Marking


@dataclass(frozen=True)
class Limits:
    """Per-connection and per-server bounds."""

    rate: float | None = 50.0  # events per second per connection (None: no limit)
    burst: int = 200  # events a connection may send at once before the rate applies
    max_connections: int = 512
    auth_timeout: float = 10.0  # seconds a stream connection has to authenticate
    writer_queue: int = 1000  # batches waiting for the store before readers wait


@dataclass
class ConnectionStats:
    """What one connection (or, for UDP, one sender address) did, and why things were refused."""

    id: int
    port: str
    peer: str
    user: str | None = None
    protocol: int = 0
    received: int = 0  # messages read (events, control messages, refused ones)
    accepted: int = 0  # events queued for the store (and relayed)
    control: int = 0  # protocol control messages (negotiation, ping)
    refused: Counter[str] = field(default_factory=Counter)  # reason → count
    last_refusals: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    nations: tuple[str, ...] = ()  # what the connection's records must be releasable to
    sent: int = 0
    withheld: int = 0
    dropped: int = 0
    closed: str | None = None  # why it closed; None while open

    def refuse(self, reason: str, message: str) -> None:
        self.refused[reason] += 1
        self.last_refusals.append(message)

    def summary(self) -> str:
        refused = ", ".join(f"{n} {r}" for r, n in sorted(self.refused.items())) or "none"
        return (
            f"{self.port} {self.peer} user={self.user or '-'} protocol={self.protocol}: "
            f"received {self.received}, accepted {self.accepted}, sent {self.sent}, "
            f"refused: {refused}" + (f"; closed: {self.closed}" if self.closed else "")
        )


_REASONS = (
    ("over the", "oversized"),
    ("DOCTYPE", "DOCTYPE or entity"),
    ("off the globe", "bad coordinates"),
    ("has no 'lat'", "bad coordinates"),
    ("has no 'lon'", "bad coordinates"),
    ("is before start", "stale before start"),
    ("not an ISO 8601 time", "bad time"),
    ("no 'time'", "bad time"),
    ("no 'start'", "bad time"),
    ("no 'stale'", "bad time"),
    ("is not a time", "bad time"),
    ("is not a marking", "access is not a marking"),
    ("not well-formed", "not well-formed XML"),
    ("lat=", "bad coordinates"),
    ("lon=", "bad coordinates"),
    ("TAK protocol 1 message", "not a TAK protocol 1 message"),
)


def refusal_reason(message: str) -> str:
    """The short reason a refusal is counted under."""
    for marker, reason in _REASONS:
        if marker in message:
            return reason
    return "not a valid CoT event"


class _Bucket:
    """A token bucket: `rate` per second, at most `burst` at once."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate, self.capacity = rate, float(max(1, burst))
        self.tokens, self.at = self.capacity, time.monotonic()

    def take(self) -> bool:
        if self.rate is None:
            return True
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# ------------------------------------------------------------------- the writer
@dataclass(frozen=True)
class _Pending:
    user: User
    channel: Channel
    events: list[CotEvent]


@dataclass
class WriterTotals:
    """What the store made of the events queued: across all connections of a server."""

    batches: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    reasons: deque[str] = field(default_factory=lambda: deque(maxlen=50))


class StoreWriter:
    """The one thread that writes events to the store, in batches of what has queued.

    Each batch becomes one `Workspace.ingest_cot` call (one transaction, one
    audit record) per user and channel. A batch the store refuses is counted
    as failed with its reason; the batches before it stay stored.
    """

    _STOP = object()

    def __init__(self, home: Path, *, max_queue: int = 1000, batch_events: int = 5000) -> None:
        self.home = home
        self.batch_events = batch_events
        self.totals = WriterTotals()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._done = threading.Condition()
        self._submitted = 0
        self._processed = 0
        self._thread = threading.Thread(target=self._run, name="guetteur-cot-writer", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def offer(self, user: User, channel: Channel, events: list[CotEvent]) -> bool:
        """Queue without waiting; False when the queue is full (then call `put`)."""
        try:
            self._queue.put_nowait(_Pending(user, channel, events))
        except queue.Full:
            return False
        with self._done:
            self._submitted += len(events)
        return True

    def put(self, user: User, channel: Channel, events: list[CotEvent]) -> None:
        """Queue, waiting for room (the caller's reads wait too: back-pressure)."""
        self._queue.put(_Pending(user, channel, events))
        with self._done:
            self._submitted += len(events)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every event queued so far has been through the store."""
        with self._done:
            return self._done.wait_for(lambda: self._processed >= self._submitted, timeout)

    def stop(self) -> None:
        """Store what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            workspace = Workspace.open(self.home)
        except BaseException as error:  # reported by start()
            self._error = error
            self._started.set()
            return
        self._started.set()
        try:
            while True:
                item = self._queue.get()
                stop = item is self._STOP
                batch: list[_Pending] = [] if stop else [item]
                count = len(batch[0].events) if batch else 0
                # Whatever else has queued joins the batch; once stopping, everything
                # (a reader may still have been waiting to queue when the server closed).
                while stop or count < self.batch_events:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is self._STOP:
                        stop = True
                        continue
                    batch.append(more)
                    count += len(more.events)
                if batch:
                    self._write(workspace, batch)
                if stop:
                    break
        finally:
            workspace.close()

    def _write(self, workspace: Workspace, batch: list[_Pending]) -> None:
        groups: dict[tuple[str, Channel], tuple[User, list[CotEvent]]] = {}
        for pending in batch:
            key = (pending.user.name, pending.channel)
            groups.setdefault(key, (pending.user, []))[1].extend(pending.events)
        totals = self.totals
        for (_, channel), (user, events) in groups.items():
            try:
                report = workspace.ingest_cot(user, events, channel.source, channel.marking)
            except GuetteurError as error:
                totals.failed += len(events)
                totals.reasons.append(f"{len(events)} events of {user.name}: {error}")
                log.error("CoT: %d events of %s not stored: %s", len(events), user.name, error)
            except Exception as error:  # a failing disk, a locked database: say so, go on
                totals.failed += len(events)
                totals.reasons.append(f"{len(events)} events of {user.name}: {error!r}")
                log.exception("CoT: %d events of %s not stored", len(events), user.name)
            else:
                totals.stored += report.stored
                totals.duplicates += report.duplicates
                totals.failed += len(report.failed)
                totals.reasons.extend(report.failed)
        totals.batches += 1
        totals.events += sum(len(p.events) for p in batch)
        with self._done:
            self._processed += sum(len(p.events) for p in batch)
            self._done.notify_all()


# ---------------------------------------------------------------------- ports
@dataclass(frozen=True)
class _Port:
    kind: str  # tcp | tls | stream | udp
    address: str
    stream: bool = False


def server_tls(
    cert: Path, key: Path, client_ca: Path | None, *, require_client: bool
) -> ssl.SSLContext:
    """A server TLS context (1.2 or later); with `client_ca`, client certificates it signed
    are verified (required, or optional when credentials may be used instead)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as error:
        raise InvalidInputError(f"{cert}, {key}: not a certificate and its key ({error})") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as error:
            raise InvalidInputError(f"{client_ca}: not a CA certificate ({error})") from None
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
    elif require_client:
        raise InvalidInputError(
            "a TLS input needs --client-ca: its clients are known by certificate"
        )
    return context


def _now() -> datetime:
    return datetime.now(UTC)


class CotServer:
    """CoT inputs and the TAK stream port, over one workspace. Use `async with`."""

    def __init__(
        self,
        home: Path,
        channel: Channel,
        *,
        user: str | None = None,
        limits: Limits | None = None,
        releasable_to: frozenset[str] = frozenset(),
    ) -> None:
        self.home = home
        self.channel = channel
        self.limits = limits or Limits()
        self.releasable_to = releasable_to  # what the stream port's records must be releasable to
        self.hub = StreamHub()
        self.writer = StoreWriter(home, max_queue=self.limits.writer_queue)
        self.refused_connections = 0
        self._user_name = user
        self._user: User | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guetteur-cot-reads")
        self._reader: Workspace | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._connections: dict[int, _Connection] = {}
        self._closed: deque[ConnectionStats] = deque(maxlen=1000)
        self._udp_stats: dict[str, ConnectionStats] = {}
        self._ids = itertools.count(1)

    # ---------------------------------------------------------- lifecycle
    async def __aenter__(self) -> CotServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def user(self) -> User:
        """The listener's user: whom plain TCP and UDP events are stored under."""
        assert self._user is not None, "start() the server first"
        return self._user

    async def start(self) -> None:
        def resolve(workspace: Workspace) -> User:
            chosen = workspace.user(self._user_name)
            require(chosen.role, ANALYST, "listening for CoT (storing positions)")
            return chosen

        self._user = await self.read(resolve)
        await asyncio.to_thread(self.writer.start)

    async def close(self) -> None:
        """Stop listening, close every connection, store what was queued."""
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for connection in list(self._connections.values()):
            connection.abort("the server is closing")
        for server in self._servers:
            await server.wait_closed()
        deadline = time.monotonic() + 5
        while self._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(self.writer.stop)

        def close_reader() -> None:
            if self._reader is not None:
                self._reader.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, close_reader)
        self._executor.shutdown(wait=True)

    async def read(self, work: Callable[[Workspace], T]) -> T:
        """Run `work` on the server's reading connection to the workspace, off the event loop."""

        def run() -> T:
            if self._reader is None:
                self._reader = Workspace.open(self.home)
            return work(self._reader)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def flushed(self, timeout: float | None = None) -> bool:
        """Wait until every event accepted so far has been through the store."""
        return await asyncio.to_thread(self.writer.wait_idle, timeout)

    @property
    def connections(self) -> list[ConnectionStats]:
        """Every connection's counts: open ones, then the last 1,000 closed, then UDP senders."""
        live = [c.stats for c in self._connections.values()]
        return live + list(self._closed) + list(self._udp_stats.values())

    # ------------------------------------------------------------- ports
    async def listen_tcp(
        self, host: str, port: int, *, tls: ssl.SSLContext | None = None, stream: bool = False
    ) -> tuple[str, int]:
        """A TCP input (TLS with `tls`), or the TAK stream port; returns the bound address."""
        kind = "stream" if stream else "tls" if tls is not None else "tcp"
        try:
            server = await asyncio.start_server(
                lambda r, w: self._accept(kind, stream, r, w), host, port, ssl=tls, limit=READ_SIZE
            )
        except OSError as error:
            raise InvalidInputError(f"{host}:{port}: cannot listen ({error.strerror})") from None
        self._servers.append(server)
        bound: tuple[str, int] = server.sockets[0].getsockname()[:2]
        log.debug("CoT: %s input on %s:%d", kind, *bound)
        return bound

    async def listen_udp(self, group: str, port: int) -> tuple[str, int]:
        """A UDP input on `group`:`port`: a multicast group is joined; else the address is bound."""
        loop = asyncio.get_running_loop()
        multicast = ip_address(group).is_multicast
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if multicast:
                sock.bind(("", port))
                joined = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0"))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, joined)
            else:
                sock.bind((group, port))
        except OSError as error:
            sock.close()
            raise InvalidInputError(f"{group}:{port}: cannot listen ({error.strerror})") from None
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=sock)
        self._transports.append(transport)
        bound: tuple[str, int] = sock.getsockname()[:2]
        log.debug("CoT: udp input on %s:%d", group, bound[1])
        return group, bound[1]

    async def _accept(
        self, kind: str, stream: bool, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if peer else "?"
        if len(self._connections) >= self.limits.max_connections:
            self.refused_connections += 1
            log.warning(
                "CoT: %s connection from %s refused: %d open", kind, address, len(self._connections)
            )
            writer.close()
            return
        stats = ConnectionStats(next(self._ids), kind, address)
        connection = _Connection(self, _Port(kind, address, stream), reader, writer, stats)
        self._connections[stats.id] = connection
        try:
            await connection.run()
        finally:
            self._connections.pop(stats.id, None)
            self._closed.append(stats)
            log.info("CoT: closed %s", stats.summary())

    # -------------------------------------------------------------- intake
    def intake(
        self, stats: ConnectionStats, user: User, bucket: _Bucket, xml: bytes, sender: Outbox | None
    ) -> CotEvent | None:
        """One message: refused (counted), a control message (returned), or accepted.

        An accepted event is relayed at once to the stream port's other clients
        that may read it, and returned in `stats`' batch by the caller.
        """
        stats.received += 1
        if not bucket.take():
            stats.refuse("rate limit", f"over {self.limits.rate} events/s")
            return None
        try:
            event = parse_event(xml, f"{stats.port} {stats.peer}")
        except CotError as error:
            stats.refuse(refusal_reason(str(error)), str(error))
            return None
        if event.type in CONTROL_TYPES:
            stats.control += 1
            return event
        try:
            require(user.role, ANALYST, "sending positions")
        except GuetteurError:
            stats.refuse("reader role", _ROLE_MESSAGE)
            return None
        try:
            marking = event_marking(self.channel.marking, event)
        except CotError as error:
            stats.refuse(refusal_reason(str(error)), str(error))
            return None
        stats.accepted += 1
        if self.hub.has_others(sender):
            try:
                self.hub.publish(relayed(event, marking), sender)
            except Exception:  # never let a relay problem cost the store an event
                log.exception("CoT: relay of %s failed", event.uid)
        return event

    async def store(self, user: User, events: list[CotEvent]) -> None:
        if events and not self.writer.offer(user, self.channel, events):
            await asyncio.to_thread(self.writer.put, user, self.channel, events)

    def udp_stats(self, address: str) -> ConnectionStats:
        found = self._udp_stats.get(address)
        if found is None:
            if len(self._udp_stats) >= 1024:  # forget the oldest sender
                self._closed.append(self._udp_stats.pop(next(iter(self._udp_stats))))
            found = self._udp_stats[address] = ConnectionStats(next(self._ids), "udp", address)
            found.user = self.user.name
        return found


class _Udp(asyncio.DatagramProtocol):
    """One event per datagram: CoT XML, or TAK protocol 1 (see `_datagram_payload`)."""

    def __init__(self, server: CotServer) -> None:
        self.server = server
        self.buckets: dict[str, _Bucket] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        server = self.server
        address = f"{addr[0]}:{addr[1]}"
        stats = server.udp_stats(address)
        bucket = self.buckets.get(address)
        if bucket is None:
            if len(self.buckets) >= 1024:
                self.buckets.pop(next(iter(self.buckets)))
            bucket = self.buckets[address] = _Bucket(server.limits.rate, server.limits.burst)
        if data[:1] == b"\xbf":
            stats.protocol = 1
            try:
                xml = message_to_xml(decode_message(_datagram_payload(data)))
            except CotError as error:
                stats.received += 1
                stats.refuse(refusal_reason(str(error)), str(error))
                return
            if xml is None:  # a TakControl announcement: which versions the sender decodes
                stats.received += 1
                stats.control += 1
                return
        else:
            xml = data.lstrip()
        event = server.intake(stats, server.user, bucket, xml, None)
        if event is not None and event.type not in CONTROL_TYPES:
            task = asyncio.ensure_future(server.store(server.user, [event]))
            task.add_done_callback(_log_failure)


def _datagram_payload(data: bytes) -> bytes:
    """The TakMessage of a version 1 datagram: mesh (`BF 01 BF`), or a stream frame
    (`BF <varint length>`), which some clients send to unicast UDP."""
    if data.startswith(MESH_HEADER):
        return data[len(MESH_HEADER) :]
    framer = ProtoFramer(data)
    frames = list(framer.frames())
    if len(frames) != 1 or framer.buffer or not isinstance(frames[0], bytes):
        raise CotError(f"a datagram of {len(data)} bytes that is not one TAK protocol 1 message")
    return frames[0]


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("CoT: storing failed: %s", task.exception())


class _Closed(Exception):
    """The connection ends; the message says why."""


class _Connection:
    """One TCP or TLS connection: who it is, how it speaks, what it sends and receives."""

    def __init__(
        self,
        server: CotServer,
        port: _Port,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stats: ConnectionStats,
    ) -> None:
        self.server, self.port, self.reader, self.writer, self.stats = (
            server, port, reader, writer, stats,
        )  # fmt: skip
        self.user: User | None = None
        self.session: str | None = None
        self.framer: XmlFramer | ProtoFramer = XmlFramer()
        self.version = 0
        self.outbox = Outbox()
        self.bucket = _Bucket(server.limits.rate, server.limits.burst)
        self.nations: frozenset[str] = server.releasable_to if port.stream else frozenset()
        self.negotiation_uid = str(uuid.uuid4())
        self._sender: asyncio.Task[None] | None = None
        self._greeted = False  # identified: protocol 1 offered, the picture queued

    def abort(self, reason: str) -> None:
        if self.stats.closed is None:
            self.stats.closed = reason
        self.writer.close()

    async def run(self) -> None:
        try:
            self._sender = asyncio.ensure_future(self.outbox.run(self.writer))
            self._sender.add_done_callback(self._sender_ended)
            await self._certificate()
            await self._read_loop()
        except _Closed as closed:
            if self.stats.closed is None:
                self.stats.closed = str(closed)
        except (ConnectionError, ssl.SSLError, OSError) as error:
            if self.stats.closed is None:
                self.stats.closed = f"connection error: {error}"
        except Exception:  # a fault of ours: this connection ends, the others go on
            log.exception("CoT: connection %s failed", self.stats.peer)
            if self.stats.closed is None:
                self.stats.closed = "internal error (logged)"
        finally:
            await self._finish()

    def _sender_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            if self.stats.closed is None:
                self.stats.closed = f"sending failed: {task.exception()}"
            self.writer.close()

    async def _finish(self) -> None:
        self.server.hub.remove(self.outbox)
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        self.stats.sent = self.outbox.stats.sent
        self.stats.withheld = self.outbox.stats.withheld
        self.stats.dropped = self.outbox.stats.dropped
        if self.stats.closed is None:
            self.stats.closed = "closed by the peer"
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        user, stats = self.user, self.stats
        if self.port.stream and user is not None and self._greeted:
            # What the connection was sent, in the audit: one record per connection.
            what = {
                "client": stats.peer,
                "protocol": stats.protocol,
                "nations": list(stats.nations),
                "sent": stats.sent,
                "withheld": stats.withheld,
                "dropped": stats.dropped,
            }
            with contextlib.suppress(Exception):
                await self.server.read(lambda ws: ws.store.audit(user.name, "cot.stream", what))
        if self.session is not None:
            session = self.session
            with contextlib.suppress(Exception):
                await self.server.read(lambda ws: ws.accounts.logout(session))

    # ------------------------------------------------------ identification
    async def _certificate(self) -> None:
        tls = self.writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls is not None else None
        if not der:
            return
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        client = self.port.address.rsplit(":", 1)[0]
        try:
            login = await self.server.read(
                lambda ws: ws.accounts.login_certificate(subject, client)
            )
        except AuthenticationError:
            raise _Closed(f"the certificate {subject} is not mapped to a user") from None
        self.session = login.session_key
        await self._identified(login.user)

    async def _credentials(self, auth: Auth) -> None:
        if auth.releasable_to:
            try:
                declared = parse_nations(auth.releasable_to)
            except InvalidInputError as error:
                raise _Closed(f"releasableTo: {error}") from None
            self.nations |= declared
            self.outbox.narrow(declared)
        if self.user is not None:  # a certificate said who: <auth> only declares nations
            self.stats.nations = tuple(sorted(self.nations))
            return
        if not auth.username or auth.password is None:
            raise _Closed("an <auth> message without username and password")
        client = self.port.address.rsplit(":", 1)[0]
        username, password = auth.username, auth.password
        try:
            login = await self.server.read(lambda ws: ws.accounts.login(username, password, client))
        except AuthenticationError as error:
            raise _Closed(f"authentication failed: {error}") from None
        self.session = login.session_key
        if login.must_change_password:
            raise _Closed(f"{login.user.name} must change the one-time password first")
        self.user = login.user
        self.stats.user = login.user.name

    async def _identified(self, user: User) -> None:
        """Known as `user`: offer protocol 1, and on the stream port send the picture."""
        self.user = user
        self._greeted = True
        self.stats.user = user.name
        self.stats.nations = tuple(sorted(self.nations))
        if self.version == 0:
            self.outbox.control(protocol_announcement(self.negotiation_uid, _now()))
        if self.port.stream:
            clearance = (
                user.clearance.for_release_to(self.nations) if self.nations else user.clearance
            )
            self.outbox.clearance = clearance
            self.server.hub.add(self.outbox)
            out = await self.server.read(lambda ws: picture_for(ws, user, clearance, _now()))
            for event in out:
                await self.outbox.put(event)

    # ------------------------------------------------------------- reading
    async def _read(self) -> bytes:
        if self.user is None and self.port.stream:
            try:
                return await asyncio.wait_for(
                    self.reader.read(READ_SIZE), self.server.limits.auth_timeout
                )
            except TimeoutError:
                raise _Closed("no <auth> message in time") from None
        return await self.reader.read(READ_SIZE)

    async def _read_loop(self) -> None:
        opened: bytearray | None = bytearray()  # the first bytes, until we know what they are
        while True:
            data = await self._read()
            if not data:
                if self.stats.closed is None:
                    self.stats.closed = "closed by the peer"
                return
            if opened is not None:
                opened += data
                kind = await self._opening(opened)
                if kind is None:
                    if self.user is not None and not self._greeted and not opened.strip():
                        await self._identified(self.user)  # logged in, nothing after: XML
                    continue
                if self.user is None:
                    if self.port.stream:
                        raise _Closed("the stream port needs a client certificate or <auth> first")
                    self.user = self.server.user
                if kind == "proto":  # before the announcement and the picture: all in version 1
                    self._speak_proto(b"")
                if not self._greeted:
                    await self._identified(self.user)
                data, opened = bytes(opened), None
            self.framer.feed(data)
            await self._frames()

    async def _opening(self, opened: bytearray) -> str | None:
        """Take any <auth> messages off the front; then 'xml' or 'proto' (None: read more)."""
        while True:
            kind = opening(opened)
            if kind != "auth":
                break
            try:
                auth = take_auth(opened)
            except CotError as error:
                self.stats.received += 1
                self.stats.refuse(refusal_reason(str(error)), str(error))
                raise _Closed(f"refused <auth> message: {error}") from None
            if auth is None:
                return None
            await self._credentials(auth)
        if kind is None and len(opened) > AUTH_LIMIT:
            return "xml"  # whitespace, or a declaration that never ends: the framer decides
        return kind

    def _speak_proto(self, rest: bytes) -> None:
        self.version = 1
        self.stats.protocol = 1
        self.framer = ProtoFramer(rest)
        self.outbox.switch(1)

    async def _frames(self) -> None:
        user = self.user
        assert user is not None
        batch: list[CotEvent] = []
        try:
            while True:
                switched = False
                for frame in self.framer.frames():
                    if isinstance(frame, CotError):
                        self.stats.received += 1
                        self.stats.refuse(refusal_reason(str(frame)), str(frame))
                        continue
                    xml = self._as_xml(frame)
                    if xml is None:
                        continue
                    event = self.server.intake(self.stats, user, self.bucket, xml, self.outbox)
                    if event is None:
                        continue
                    if event.type not in CONTROL_TYPES:
                        batch.append(event)
                    elif self._control(event):
                        switched = True
                        break
                if not switched:
                    return
        except CotError as error:
            self.stats.refuse("not CoT", str(error))
            raise _Closed(str(error)) from None
        finally:
            await self.server.store(user, batch)

    def _as_xml(self, frame: bytes) -> bytes | None:
        """A frame's CoT XML (None: a protocol 1 message refused, or control only; counted)."""
        if self.version == 0:
            return frame
        try:
            xml = message_to_xml(decode_message(frame))
        except CotError as error:
            self.stats.received += 1
            self.stats.refuse(refusal_reason(str(error)), str(error))
            return None
        if xml is None:  # a TakControl without an event
            self.stats.received += 1
            self.stats.control += 1
        return xml

    def _control(self, event: CotEvent) -> bool:
        """Answer a control message; True when the stream switches to protocol 1."""
        if event.type == PING:
            self.outbox.control(pong(_now()))
        elif event.type == REQUEST and self.version == 0:
            try:
                wanted = requested_version(event.xml)
            except Exception:
                wanted = None
            accepted = wanted == "1"
            self.outbox.control(
                protocol_response(self.negotiation_uid, accepted, _now()), as_xml=True
            )
            if accepted:
                rest = bytes(self.framer.buffer)
                self._speak_proto(rest)
                return True
        return False


def addresses(values: Iterable[str]) -> list[tuple[str, int]]:
    """'HOST:PORT' strings as (host, port) pairs."""
    found = []
    for value in values:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise InvalidInputError(f"{value!r}: expected HOST:PORT")
        found.append((host.strip("[]"), int(port)))
    return found


# ------------------------------------------------------------- running it
@dataclass(frozen=True)
class Ports:
    """The ports a server opens, as `guetteur cot listen` and `guetteur serve` declare them."""

    tcp: tuple[tuple[str, int], ...] = ()
    tls: tuple[tuple[str, int], ...] = ()
    udp: tuple[tuple[str, int], ...] = ()
    stream: tuple[tuple[str, int], ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None

    def __bool__(self) -> bool:
        return bool(self.tcp or self.tls or self.udp or self.stream)


async def open_ports(server: CotServer, ports: Ports) -> list[str]:
    """Open every port of `ports` on `server`; what listens where, one line each."""
    opened = []
    for host, port in ports.tcp:
        bound = await server.listen_tcp(host, port)
        opened.append(f"tcp {bound[0]}:{bound[1]} (events stored as {server.user.name})")
    if ports.tls:
        if ports.tls_cert is None or ports.tls_key is None:
            raise InvalidInputError("a TLS input needs --tls-cert and --tls-key")
        context = server_tls(ports.tls_cert, ports.tls_key, ports.client_ca, require_client=True)
        for host, port in ports.tls:
            bound = await server.listen_tcp(host, port, tls=context)
            opened.append(f"tls {bound[0]}:{bound[1]} (client certificates)")
    for group, port in ports.udp:
        bound = await server.listen_udp(group, port)
        opened.append(f"udp {bound[0]}:{bound[1]} (events stored as {server.user.name})")
    stream_tls = None
    if ports.stream and ports.tls_cert is not None and ports.tls_key is not None:
        cert, key = ports.tls_cert, ports.tls_key
        stream_tls = server_tls(cert, key, ports.client_ca, require_client=False)
    for host, port in ports.stream:
        bound = await server.listen_tcp(host, port, tls=stream_tls, stream=True)
        how = "TLS, " if stream_tls else ""
        who = "client certificates or <auth>" if ports.client_ca else "<auth>"
        rel = f", releasable to {', '.join(sorted(server.releasable_to))}"
        opened.append(
            f"stream {bound[0]}:{bound[1]} ({how}{who}{rel if server.releasable_to else ''})"
        )
    return opened


async def serve_until(
    server: CotServer, ports: Ports, stop: asyncio.Event, opened: Callable[[list[str]], None]
) -> None:
    """Run `server` with `ports` until `stop` is set; then close it (storing what was queued)."""
    async with server:
        opened(await open_ports(server, ports))
        await stop.wait()


class Background:
    """A CotServer on a thread of its own (beside uvicorn in `guetteur serve`)."""

    def __init__(self, server: CotServer, ports: Ports) -> None:
        self.server, self.ports = server, ports
        self.opened: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="guetteur-cot", daemon=True)

    def start(self) -> list[str]:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.opened

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(opened: list[str]) -> None:
                self.opened = opened
                self._ready.set()

            await serve_until(self.server, self.ports, self._stop, ready)

        try:
            asyncio.run(main())
        except BaseException as error:
            self._error = error
        finally:
            self._ready.set()
