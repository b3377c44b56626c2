"""CoT over loopback: events/s stored by guetteur's listener, against a bare server.

    .venv/bin/python benchmarks/cot_throughput.py [--events 20000] [--clients 100]
                                                  [--latency-events 2000] [--repeat 3]

Throughput. The same stream of N distinct ATAK-like position reports (about
600 bytes each: contact, group, track, takv, remarks) is sent over loopback
TCP by one client, then split among K simultaneous clients, to two servers in
turn, each in a child process of its own (the clients stay in this one):

- **bare**: an asyncio socket server that cuts the stream after each
  `</event>` and parses each event with `xml.etree.ElementTree.fromstring`
  (the least any CoT server does);
- **guetteur**: `CotServer` (`guetteur cot listen --tcp`): framing, the
  checks of `cot.parse_event`, markings, per-connection counts, and every
  event stored in the workspace by the writer thread (`Workspace.ingest_cot`,
  batches in one transaction with their audit record).

A run's time is from the first connection to the last event parsed (bare) or
stored (guetteur, `writer.totals.events`); each is run `--repeat` times,
interleaved, and the fastest run of each counts (the machine is shared); the
ratio is guetteur's time over the bare server's.

Latency. A client logged in on the stream port receives what another client
sends to the TCP input, relayed (`StreamHub`): M events paced at 200/s, each
timed from just before the sender's write to the subscriber's read of it
(both clients in this process, one clock). p50 and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from xml.etree import ElementTree

from guetteur.cop.listener import Channel, CotServer, Limits
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

PASSWORD = "Benchmark-Passw0rd-Cot"
MARKING = "NATO RESTRICTED"
_END = b"</event>"


def cot_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_events(count: int, prefix: str = "BENCH", *, unique: bool = False) -> list[bytes]:
    """`count` distinct position reports of 100 devices moving about Tapa (with
    `unique`, each report under a uid of its own)."""
    start = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)
    events = []
    for n in range(count):
        device, step = n % 100, n // 100
        moment = start + timedelta(seconds=step)
        stale = moment + timedelta(minutes=2)
        lat, lon = 59.26 + device * 0.001 + step * 1e-5, 25.96 + device * 0.001
        events.append(
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<event version="2.0" uid="{prefix}-{n if unique else device:05d}" '
                'type="a-f-G-U-C" how="m-g" '
                f'time="{cot_time(moment)}" start="{cot_time(moment)}" stale="{cot_time(stale)}">'
                f'<point lat="{lat:.6f}" lon="{lon:.6f}" hae="52.1" ce="4.9" le="9999999.0"/>'
                f'<detail><contact endpoint="*:-1:stcp" callsign="LYNX {device:02d}"/>'
                '<__group name="Cyan" role="Team Member"/>'
                '<precisionlocation geopointsrc="GPS" altsrc="GPS"/><status battery="87"/>'
                '<takv device="SAMSUNG SM-G781B" platform="ATAK-CIV" os="33" version="4.10.0"/>'
                f'<track course="{(step * 7) % 360}.0" speed="1.4"/>'
                f"<remarks>patrol LYNX {device:02d}, report {step}</remarks></detail></event>"
            ).encode()
        )
    return events


# ------------------------------------------------------------------ servers
def bare_server(ready: Connection, expected: int) -> None:
    """Cut after </event>, parse with ElementTree; report the time of the last event."""

    async def main() -> None:
        count = 0
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal count
            buffer = b""
            while data := await reader.read(65536):
                buffer += data
                while (end := buffer.find(_END)) >= 0:
                    start = buffer.find(b"<event")
                    ElementTree.fromstring(buffer[start : end + len(_END)])
                    buffer = buffer[end + len(_END) :]
                    count += 1
            if count >= expected:
                done.set()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=65536)
        ready.send(server.sockets[0].getsockname()[1])
        await done.wait()
        ready.send(time.monotonic())
        ready.send(None)
        server.close()

    asyncio.run(main())


def guetteur_server(ready: Connection, home: str, expected: int, stream: bool) -> None:
    """guetteur's listener; report the time the writer has stored the last event."""

    async def main() -> None:
        limits = Limits(rate=None, max_connections=1000)
        channel = Channel("bench", parse_marking(MARKING))
        async with CotServer(Path(home), channel, limits=limits) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            stream_port = 0
            if stream:
                _, stream_port = await server.listen_tcp("127.0.0.1", 0, stream=True)
            ready.send((port, stream_port))
            while server.writer.totals.events < expected:
                await asyncio.sleep(0.002)
            ready.send(time.monotonic())
            totals = server.writer.totals
            ready.send((totals.stored, totals.duplicates, totals.failed, totals.batches))
            ready.recv()  # wait to be told to stop

    asyncio.run(main())


# ------------------------------------------------------------------ clients
async def send_all(port: int, streams: list[bytes]) -> None:
    async def one(data: bytes) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for offset in range(0, len(data), 65536):
            writer.write(data[offset : offset + 65536])
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(one(data) for data in streams))


def split(events: list[bytes], clients: int) -> list[bytes]:
    return [b"".join(events[i::clients]) for i in range(clients)]


def timed(target: object, args: tuple[object, ...], streams: list[bytes]) -> tuple[float, object]:
    """Start a server process, send, and return (seconds, what the server reported after)."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=target, args=(child, *args))  # type: ignore[arg-type]
    process.start()
    port = parent.recv()
    port = port[0] if isinstance(port, tuple) else port
    started = time.monotonic()
    asyncio.run(send_all(port, streams))
    finished = parent.recv()
    extra = parent.recv()
    if extra is not None:
        parent.send("stop")
    process.join(60)
    return finished - started, extra


def new_workspace(scratch: Path, name: str) -> Path:
    home = scratch / name
    with Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA")) as workspace:
        first = workspace.accounts.set_password(workspace.operator(), "ops")
        workspace.accounts.change_password(workspace.operator(), first, PASSWORD)
    return home


# ------------------------------------------------------------------ latency
async def relay_latency(
    port: int, stream_port: int, events: list[bytes], rate: float
) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", stream_port)
    writer.write(f'<auth><cot username="ops" password="{PASSWORD}"/></auth>'.encode())
    now = datetime.now(UTC)
    ping = (
        f'<event version="2.0" uid="bench-ping" type="t-x-c-t" how="h-g-i-g-o" '
        f'time="{cot_time(now)}" start="{cot_time(now)}" stale="{cot_time(now)}">'
        '<point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/></event>'
    ).encode()
    writer.write(ping)
    await writer.drain()
    while b"t-x-c-t-r" not in await reader.readuntil(_END):  # logged in, picture received
        pass
    received: dict[str, float] = {}

    async def subscriber() -> None:
        while len(received) < len(events):
            xml = await reader.readuntil(_END)
            uid = xml.split(b' uid="', 1)[1].split(b'"', 1)[0].decode()
            received.setdefault(uid, time.monotonic())

    listening = asyncio.ensure_future(subscriber())
    _, sender = await asyncio.open_connection("127.0.0.1", port)
    sent: dict[str, float] = {}
    for n, event in enumerate(events):
        sent[f"LAT-{n:05d}"] = time.monotonic()
        sender.write(event)
        await sender.drain()
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(listening, 60)
    sender.close()
    writer.close()
    return [received[uid] - sent[uid] for uid in sent]


def latency(scratch: Path, count: int) -> list[float]:
    home = new_workspace(scratch, "latency")
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=guetteur_server, args=(child, str(home), count, True))
    process.start()
    port, stream_port = parent.recv()
    events = make_events(count, prefix="LAT", unique=True)
    delays = asyncio.run(relay_latency(port, stream_port, events, rate=200.0))
    parent.recv()  # all stored
    parent.recv()
    parent.send("stop")
    process.join(60)
    return delays


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--latency-events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()
    events = make_events(args.events)
    size = sum(map(len, events))
    print(f"{args.events} events, {size / args.events:.0f} bytes each on average\n")
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        print("| clients | bare socket + XML parse | guetteur (parse, checks, store) | ratio |")
        print("|---|---|---|---|")
        for clients in (1, args.clients):
            streams = split(events, clients)
            bare, ours = float("inf"), float("inf")
            for run in range(args.repeat):  # interleaved, so that both meet the same load
                bare = min(bare, timed(bare_server, (args.events,), streams)[0])
                home = new_workspace(scratch, f"ws-{clients}-{run}")
                seconds, totals = timed(guetteur_server, (str(home), args.events, False), streams)
                assert totals is not None and totals[0] == args.events, totals  # type: ignore[index]
                ours = min(ours, seconds)
            print(
                f"| {clients} | {args.events / bare:,.0f} events/s | "
                f"{args.events / ours:,.0f} events/s | **{ours / bare:.2f}×** the time |"
            )
        delays = latency(scratch, args.latency_events)
        print(
            f"\nrelay latency, {len(delays)} events at 200/s: "
            f"p50 {statistics.median(delays) * 1000:.2f} ms, "
            f"p95 {percentile(delays, 0.95) * 1000:.2f} ms, "
            f"max {max(delays) * 1000:.2f} ms"
        )


if __name__ == "__main__":
    main()
