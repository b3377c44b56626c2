"""TAK traffic on loopback, with a real TAK client library.

pytak sends to guetteur's CoT listener and receives from its stream port, in
TAK protocol version 0 (XML) and version 1 (protobuf: negotiated with
t-x-takp-v/q/r, or from the first byte); version 1 frames are decoded with
takproto. Each stream connection receives only what its user may read and
what is releasable to the nations it declares, whether the picture or another
client's relayed update. Hostile input is refused, counted per connection,
and the listener and the other connections go on.

Everything runs on 127.0.0.1 against a real workspace. No test waits on a
clock: the end of what a connection was sent is marked by the answer to its
own ping (t-x-c-t), which the server queues after everything before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Coroutine
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import takproto
import takproto.functions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from guetteur.cop.listener import Channel, CotServer, Limits, server_tls
from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytak warns at import that aiohttp (enrolment) is absent
    import pytak

TIMEOUT = 60  # seconds any one scenario may take before the test fails
PASSWORD = "Loopback-Tak-Passw0rd"
CHANNEL = "NATO RESTRICTED"


def run(scenario: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario, TIMEOUT))


def cot_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event(
    uid: str,
    *,
    lat: float = 48.85,
    lon: float = 2.35,
    access: str | None = None,
    cot_type: str = "a-f-G-U-C",
    stale_minutes: int = 10,
    declaration: bool = True,
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    stale = now + dt.timedelta(minutes=stale_minutes)
    carried = f' access="{access}"' if access else ""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if declaration else ""
    return (
        f'{head}<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" '
        f'time="{cot_time(now)}" start="{cot_time(now)}" stale="{cot_time(stale)}"{carried}>'
        f'<point lat="{lat}" lon="{lon}" hae="35.0" ce="9.9" le="9999999.0"/>'
        f'<detail><contact callsign="{uid}"/><__group name="Cyan" role="Team Member"/>'
        '<track course="90.0" speed="1.5"/></detail></event>'
    ).encode()


def ping(uid: str = "PING") -> bytes:
    now = dt.datetime.now(dt.UTC)
    return (
        f'<event version="2.0" uid="{uid}" type="t-x-c-t" how="h-g-i-g-o" time="{cot_time(now)}" '
        f'start="{cot_time(now)}" stale="{cot_time(now + dt.timedelta(seconds=20))}">'
        '<point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/></event>'
    ).encode()


def takp_request(uid: str) -> bytes:
    now = dt.datetime.now(dt.UTC)
    return (
        f'<event version="2.0" uid="{uid}" type="t-x-takp-q" how="m-g" time="{cot_time(now)}" '
        f'start="{cot_time(now)}" stale="{cot_time(now + dt.timedelta(minutes=1))}">'
        '<point lat="0.0" lon="0.0" hae="0.0" ce="999999" le="999999"/>'
        '<detail><TakControl><TakRequest version="1"/></TakControl></detail></event>'
    ).encode()


def auth(user: str, password: str = PASSWORD, releasable_to: str | None = None) -> bytes:
    declared = f' releasableTo="{releasable_to}"' if releasable_to else ""
    return (
        f'<?xml version="1.0"?>\n<auth><cot username="{user}" password="{password}" '
        f'uid="ANDROID-{user}"{declared}/></auth>'
    ).encode()


# ------------------------------------------------------------- certificates
@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    subject: str


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exercise"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _save(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path, cert.subject.rfc4514_string())


class Authority:
    """A CA issuing the server's certificate (for 127.0.0.1) and clients' certificates."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name("TAK test CA")
        self.cert = self._build(self.name, self.key.public_key(), ca=True)
        self.issued = _save(folder, "ca", self.cert, self.key)

    def _build(
        self, subject: x509.Name, public: Any, *, ca: bool = False, ip: str | None = None
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                critical=False,
            )
        return builder.sign(self.key, hashes.SHA256())

    def issue(self, stem: str, common: str, ip: str | None = None) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        return _save(self.folder, stem, self._build(_name(common), key.public_key(), ip=ip), key)


# ----------------------------------------------------------------- fixtures
@pytest.fixture
def tak(workspace: Workspace) -> Workspace:
    """The conftest workspace: ops (FRA NS + CRYPTO), lux_nr (LUX NR), deu_nc (DEU NC)."""
    return workspace


@pytest.fixture
def logins(tak: Workspace) -> None:
    """The same, with passwords the users have already changed, as a TAK user's would be."""
    operator = tak.operator()
    for name in ("ops", "lux_nr", "deu_nc"):
        first = tak.accounts.set_password(operator, name)
        tak.accounts.change_password(tak.store.get_user(name), first, PASSWORD)


def stored(workspace: Workspace) -> dict[str, str]:
    """uid → marking of the last position of every track (as the operator reads them)."""
    return {t.uid: str(t.last.marking) for t in workspace.tracks(workspace.operator()) if t.last}


def positions(workspace: Workspace, uid: str) -> list[str]:
    return [str(p.marking) for p in workspace.track(workspace.operator(), uid).positions]


def new_server(workspace: Workspace, **limits: Any) -> CotServer:
    return CotServer(
        workspace.home, Channel("tak", parse_marking(CHANNEL)), limits=Limits(**limits)
    )


async def seed(server: CotServer, port: int, *events: bytes) -> None:
    """Store events through the plain TCP input, and wait until they are stored."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(events) + ping())
    await writer.drain()
    await until_pong(reader)
    await close(writer)
    assert await server.flushed(TIMEOUT)


def stats_of(server: CotServer, writer: asyncio.StreamWriter) -> Any:
    """The server's counts for the connection whose client end is `writer`."""
    host, port = writer.get_extra_info("sockname")[:2]
    (found,) = [c for c in server.connections if c.peer == f"{host}:{port}"]
    return found


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


# ------------------------------------------------------------ pytak clients
@dataclass
class Client:
    url: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tx: pytak.TXWorker
    rx: pytak.RXWorker

    async def send(self, *messages: bytes) -> None:
        for message in messages:
            await self.tx.send_data(message)

    async def close(self) -> None:
        await close(self.writer)

    def upgraded(self) -> pytak.TXWorker:
        """pytak's sender for this connection once it speaks TAK protocol version 1."""
        config = {"COT_URL": self.url, "TAK_PROTO": "1"}  # a stream URL: stream frames
        return pytak.TXWorker(asyncio.Queue(), config, self.writer)


async def pytak_client(url: str, proto: int = 0, **settings: str) -> Client:
    config = ConfigParser(interpolation=None)
    config["guetteur-test"] = {"COT_URL": url, "TAK_PROTO": str(proto), **settings}
    section = config["guetteur-test"]
    with warnings.catch_warnings():
        # pytak's TLS context sets ssl.OP_NO_TLSv1*, which Python deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        reader, writer = await pytak.protocol_factory(section)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    return Client(
        url,
        reader,
        writer,
        pytak.TXWorker(queue, section, writer),
        pytak.RXWorker(queue, section, reader),
    )


def _type(xml: bytes) -> str:
    found = re.search(rb'\stype="([^"]+)"', xml)
    return found.group(1).decode() if found else ""


def _uid(xml: bytes) -> str:
    found = re.search(rb'\suid="([^"]+)"', xml)
    return found.group(1).decode() if found else ""


async def until_pong(reader: asyncio.StreamReader) -> list[bytes]:
    """XML events read until the answer to our ping (everything queued before it)."""
    received = []
    while True:
        xml = await reader.readuntil(b"</event>")
        if _type(xml) == "t-x-c-t-r":
            return received
        received.append(xml)


async def xml_until_pong(client: Client) -> list[bytes]:
    """What pytak's reader gets, up to the answer to the client's ping."""
    received = []
    while True:
        xml = await client.rx.readcot()
        assert xml, "the server closed the connection"
        if _type(xml) == "t-x-c-t-r":
            return received
        if not _type(xml).startswith("t-x-"):  # the t-x-takp-v offer is no record
            received.append(xml)


@dataclass
class Frames:
    """TAK protocol version 1 stream frames, read off a socket and decoded with takproto."""

    reader: asyncio.StreamReader
    buffer: bytes = b""

    async def message(self) -> Any:
        while True:
            if self.buffer:
                assert self.buffer[0] == 0xBF, f"not a TAK protocol 1 frame: {self.buffer[:8]!r}"
                length, shift, index = 0, 0, 1
                while index < len(self.buffer):
                    byte = self.buffer[index]
                    length |= (byte & 0x7F) << shift
                    index += 1
                    if not byte & 0x80:
                        break
                    shift += 7
                else:
                    index = -1
                if index > 0 and len(self.buffer) >= index + length:
                    frame, self.buffer = (
                        self.buffer[: index + length],
                        self.buffer[index + length :],
                    )
                    return takproto.parse_proto(bytearray(frame))
            data = await self.reader.read(65536)
            assert data, "the server closed the connection"
            self.buffer += data

    async def until_pong(self) -> list[Any]:
        received = []
        while True:
            message = await self.message()
            if message.cotEvent.type == "t-x-c-t-r":
                return received
            received.append(message)


async def negotiate(client: Client) -> list[bytes]:
    """Ask for TAK protocol version 1 as ATAK does; the XML events read meanwhile."""
    before = []
    while True:
        xml = await client.rx.readcot()
        assert xml, "the server closed the connection"
        if _type(xml) == "t-x-takp-v":
            assert b'TakProtocolSupport version="1"' in xml
            await client.send(takp_request(_uid(xml)))
            continue
        if _type(xml) == "t-x-takp-r":
            assert b'status="true"' in xml
            return before
        before.append(xml)


# ===================================================================== in
def test_pytak_sends_to_the_listener_in_both_protocol_versions(tak: Workspace) -> None:
    async def scenario() -> None:
        async with new_server(tak) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            url = f"tcp://127.0.0.1:{port}"
            xml_client = await pytak_client(url, proto=0)
            await xml_client.send(event("XML-1"), event("XML-2", access="NATO SECRET"), ping())
            assert await xml_client.rx.readcot()  # the server's t-x-takp-v
            await until_pong(xml_client.reader)
            # pytak with TAK_PROTO=1 speaks protobuf from its first byte, as TAK
            # Server's protobuf-only input expects: answered in version 1 too.
            proto_client = await pytak_client(url, proto=1)
            await proto_client.send(event("PROTO-1"), event("PROTO-2", access="NATO SECRET"))
            await proto_client.send(ping())
            frames = Frames(proto_client.reader)
            assert await frames.until_pong() == []
            # A client that negotiates, as ATAK does: XML first, then t-x-takp-q.
            negotiated = await pytak_client(url, proto=0)
            await negotiated.send(event("NEGOTIATED-0"))
            await negotiate(negotiated)
            upgraded = negotiated.upgraded()
            await upgraded.send_data(event("NEGOTIATED-1"))
            await upgraded.send_data(ping())
            assert await Frames(negotiated.reader).until_pong() == []
            counts = [stats_of(server, c.writer) for c in (xml_client, proto_client, negotiated)]
            for client in (xml_client, proto_client, negotiated):
                await client.close()
            assert await server.flushed(TIMEOUT)
            assert [(c.protocol, c.accepted, c.control, dict(c.refused)) for c in counts] == [
                (0, 2, 1, {}),
                (1, 2, 1, {}),
                (1, 2, 2, {}),  # the t-x-takp-q, then the ping
            ]
        assert stored(tak) == {
            "XML-1": "NATO RESTRICTED",
            "XML-2": "NATO SECRET",
            "PROTO-1": "NATO RESTRICTED",
            "PROTO-2": "NATO SECRET",
            "NEGOTIATED-0": "NATO RESTRICTED",
            "NEGOTIATED-1": "NATO RESTRICTED",
        }
        proto = tak.track(tak.operator(), "PROTO-1")
        assert proto.callsign == "PROTO-1" and proto.group == "Cyan"
        assert proto.last is not None and proto.last.course == 90.0 and proto.last.speed == 1.5

    run(scenario())


def test_pytak_sends_over_udp_in_both_protocol_versions(tak: Workspace) -> None:
    async def scenario() -> None:
        async with new_server(tak) as server:
            _, port = await server.listen_udp("127.0.0.1", 0)
            for proto, uid in ((0, "UDP-XML"), (1, "UDP-PROTO")):
                client = await pytak_client(f"udp+wo://127.0.0.1:{port}", proto=proto)
                await client.send(event(uid), event(f"{uid}-BAD", lat=123.0))
                client.writer.close()
            while sum(c.received for c in server.connections) < 4:
                await asyncio.sleep(0.01)
            assert await server.flushed(TIMEOUT)
            refused = refusals(server)
        assert stored(tak) == {"UDP-XML": CHANNEL, "UDP-PROTO": CHANNEL}
        assert refused == {"bad coordinates": 2}

    run(scenario())


def refusals(server: CotServer) -> dict[str, int]:
    total: dict[str, int] = {}
    for stats in server.connections:
        for reason, count in stats.refused.items():
            total[reason] = total.get(reason, 0) + count
    return total


def test_tls_input_maps_client_certificates_to_users(tak: Workspace, tmp_path: Path) -> None:
    ca = Authority(tmp_path)
    server_cert = ca.issue("server", "guetteur", ip="127.0.0.1")
    mapped = ca.issue("deu", "deu_nc device")
    unmapped = ca.issue("stranger", "someone")
    tak.accounts.map_certificate(tak.operator(), mapped.subject, "deu_nc")

    async def scenario() -> None:
        async with new_server(tak) as server:
            context = server_tls(
                server_cert.cert, server_cert.key, ca.issued.cert, require_client=True
            )
            _, port = await server.listen_tcp("127.0.0.1", 0, tls=context)
            url = f"tls://127.0.0.1:{port}"
            settings = {"PYTAK_TLS_CLIENT_CAFILE": str(ca.issued.cert)}
            device = await pytak_client(
                url, PYTAK_TLS_CLIENT_CERT=str(mapped.cert), PYTAK_TLS_CLIENT_KEY=str(mapped.key),
                **settings,
            )  # fmt: skip
            await device.send(event("DEU-1"), ping())
            await xml_until_pong(device)
            stranger = await pytak_client(
                url, PYTAK_TLS_CLIENT_CERT=str(unmapped.cert),
                PYTAK_TLS_CLIENT_KEY=str(unmapped.key), **settings,
            )  # fmt: skip
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await stranger.send(event("STRANGER-1"))
            try:
                answer = await stranger.reader.read()
            except (ConnectionError, ssl.SSLError):
                answer = b""
            assert answer == b""  # closed at once: the subject is mapped to no one
            await stranger.close()
            # No certificate at all: the handshake itself is refused.
            bare = ssl.create_default_context(cafile=str(ca.issued.cert))
            with pytest.raises((ssl.SSLError, ConnectionError)):
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=bare)
                writer.write(event("NOBODY-1"))
                await writer.drain()
                if not await reader.read():
                    raise ConnectionError("closed")
            await device.send(event("DEU-2"), ping())
            await xml_until_pong(device)
            await device.close()
            assert await server.flushed(TIMEOUT)
            closed = {c.user: c.closed for c in server.connections}
        assert stored(tak) == {"DEU-1": CHANNEL, "DEU-2": CHANNEL}
        assert closed[None] == f"the certificate {unmapped.subject} is not mapped to a user"
        assert closed["deu_nc"] == "closed by the peer"

    run(scenario())


# ==================================================================== out
def _marked_picture(tak: Workspace, server: CotServer, port: int) -> Coroutine[Any, Any, None]:
    return seed(
        server,
        port,
        event("NR-TRACK"),
        event("NS-TRACK", access="NATO SECRET"),
        event("CRYPTO-TRACK", access="NATO SECRET // CRYPTO"),
        event("FRA-ONLY", access="NATO RESTRICTED // REL TO FRA"),
        event("FRA-LUX", access="NATO RESTRICTED // REL TO FRA, LUX"),
    )


@pytest.mark.usefixtures("logins")
def test_each_stream_connection_receives_only_what_it_may_read(
    tak: Workspace, tmp_path: Path
) -> None:
    ca = Authority(tmp_path)
    server_cert = ca.issue("server", "guetteur", ip="127.0.0.1")
    device = ca.issue("deu", "deu_nc device")
    tak.accounts.map_certificate(tak.operator(), device.subject, "deu_nc")

    async def scenario() -> dict[str, set[str]]:
        async with new_server(tak) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            await _marked_picture(tak, server, port)
            _, plain = await server.listen_tcp("127.0.0.1", 0, stream=True)
            context = server_tls(
                server_cert.cert, server_cert.key, ca.issued.cert, require_client=False
            )
            _, secure = await server.listen_tcp("127.0.0.1", 0, tls=context, stream=True)
            seen: dict[str, set[str]] = {}
            for name, login in (
                ("lux_nr", auth("lux_nr")),
                ("ops", auth("ops")),
                ("ops REL TO LUX", auth("ops", releasable_to="LUX")),
            ):
                client = await pytak_client(f"tcp://127.0.0.1:{plain}")
                await client.send(login, ping())
                seen[name] = {_uid(x) for x in await xml_until_pong(client)}
                await client.close()
            # The certificate's user, over TLS, in TAK protocol version 1 (negotiated).
            client = await pytak_client(
                f"tls://127.0.0.1:{secure}", PYTAK_TLS_CLIENT_CAFILE=str(ca.issued.cert),
                PYTAK_TLS_CLIENT_CERT=str(device.cert), PYTAK_TLS_CLIENT_KEY=str(device.key),
            )  # fmt: skip
            before = await negotiate(client)
            await client.upgraded().send_data(ping())
            after = await Frames(client.reader).until_pong()
            seen["deu_nc (certificate, protocol 1)"] = {_uid(x) for x in before} | {
                m.cotEvent.uid for m in after
            }
            for message in after:  # each one carries its marking, as we sent it
                assert message.cotEvent.access in {CHANNEL, "NATO RESTRICTED // REL TO FRA, LUX"}
            await client.close()
            return seen

    seen = run(scenario())
    assert seen["lux_nr"] == {"NR-TRACK", "FRA-LUX"}
    assert seen["ops"] == {"NR-TRACK", "NS-TRACK", "CRYPTO-TRACK", "FRA-ONLY", "FRA-LUX"}
    # Declared REL TO LUX: nothing released to FRA only, nothing caveated.
    assert seen["ops REL TO LUX"] == {"NR-TRACK", "NS-TRACK", "FRA-LUX"}
    assert seen["deu_nc (certificate, protocol 1)"] == {"NR-TRACK"}
    # Each connection's reads are in the audit: who, from where, how much, to which nations.
    streamed = [(r.actor, r.detail) for r in tak.store.audit_rows() if r.action == "cot.stream"]
    assert sorted((actor, d["sent"], d["nations"], d["protocol"]) for actor, d in streamed) == [
        ("deu_nc", 1, [], 1),
        ("lux_nr", 2, [], 0),
        ("ops", 3, ["LUX"], 0),
        ("ops", 5, [], 0),
    ]


@pytest.mark.usefixtures("logins")
def test_the_stream_port_refuses_clients_that_do_not_authenticate(tak: Workspace) -> None:

    async def scenario() -> dict[str, str | None]:
        async with new_server(tak, auth_timeout=30) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            await _marked_picture(tak, server, port)
            _, stream = await server.listen_tcp("127.0.0.1", 0, stream=True)
            outcomes: dict[str, bytes] = {}
            for name, first in (
                ("wrong password", auth("lux_nr", password="Not-The-Passw0rd")),
                ("unknown user", auth("nobody")),
                ("no auth", event("ANON-1")),
                ("bad nation", auth("ops", releasable_to="XXX")),
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", stream)
                writer.write(first + ping())
                await writer.drain()
                outcomes[name] = await reader.read()
                await close(writer)
            assert all(received == b"" for received in outcomes.values()), outcomes
            assert await server.flushed(TIMEOUT)
            return {c.peer: c.closed for c in server.connections if c.port == "stream"}

    closed = sorted(str(reason) for reason in run(scenario()).values())
    refused = "authentication failed: authentication required: wrong or expired credentials"
    assert closed == [
        refused,  # a wrong password
        refused,  # an unknown user: the same words
        "releasableTo: 'XXX': not an ISO 3166 alpha-3 code nor NATO/EU/FVEY",
        "the stream port needs a client certificate or <auth> first",
    ]
    assert "ANON-1" not in stored(tak)


@pytest.mark.usefixtures("logins")
def test_relay_between_clients_is_filtered_per_recipient(tak: Workspace) -> None:

    async def scenario() -> tuple[set[str], set[str], list[Any], set[str]]:
        async with new_server(tak) as server:
            _, stream = await server.listen_tcp("127.0.0.1", 0, stream=True)
            url = f"tcp://127.0.0.1:{stream}"
            lux = await pytak_client(url)
            await lux.send(auth("lux_nr"), ping())
            await xml_until_pong(lux)
            ops = await pytak_client(url)
            await ops.send(auth("ops"), ping())
            await xml_until_pong(ops)
            ops_rel_lux = await pytak_client(url)
            await ops_rel_lux.send(auth("ops", releasable_to="LUX"), ping())
            await xml_until_pong(ops_rel_lux)
            # deu_nc speaks protocol version 1, negotiated; sends and receives protobuf.
            deu = await pytak_client(url)
            await deu.send(auth("deu_nc"))
            await negotiate(deu)
            deu_tx = deu.upgraded()
            for update in (
                event("DEU-NR", lat=50.1, lon=8.6),
                event("DEU-NC", access="NATO CONFIDENTIAL"),
                event("DEU-FRA", access="NATO RESTRICTED // REL TO FRA, DEU"),
                ping(),
            ):
                await deu_tx.send_data(update)
            deu_frames = Frames(deu.reader)
            assert await deu_frames.until_pong() == []  # no echo of its own updates
            await ops.send(event("OPS-NR"), event("OPS-NS", access="NATO SECRET"), ping())
            ops_got = {_uid(x) for x in await xml_until_pong(ops)}
            await lux.send(ping())
            lux_got = {_uid(x) for x in await xml_until_pong(lux)}
            await ops_rel_lux.send(ping())
            rel_got = {_uid(x) for x in await xml_until_pong(ops_rel_lux)}
            await deu_tx.send_data(ping())
            deu_got = await deu_frames.until_pong()
            for client in (lux, ops, ops_rel_lux, deu):
                await client.close()
            assert await server.flushed(TIMEOUT)
            return ops_got, lux_got, deu_got, rel_got

    ops_got, lux_got, deu_got, rel_got = run(scenario())
    assert ops_got == {"DEU-NR", "DEU-NC", "DEU-FRA"}
    assert lux_got == {"DEU-NR", "OPS-NR"}
    # NATO SECRET is releasable to NATO, LUX included; DEU-FRA is not released to LUX.
    assert rel_got == {"DEU-NR", "DEU-NC", "OPS-NR", "OPS-NS"}
    assert {m.cotEvent.uid for m in deu_got} == {"OPS-NR"}  # NATO SECRET is above deu_nc
    relayed = deu_got[0].cotEvent
    assert relayed.access == CHANNEL and relayed.detail.contact.callsign == "OPS-NR"
    assert stored(tak) == {
        "DEU-NR": CHANNEL,
        "DEU-NC": "NATO CONFIDENTIAL",
        "DEU-FRA": "NATO RESTRICTED // REL TO DEU, FRA",
        "OPS-NR": CHANNEL,
        "OPS-NS": "NATO SECRET",
    }


# ================================================================ hostile
def _bomb() -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    now = cot_time(dt.datetime.now(dt.UTC))
    return (
        f'<?xml version="1.0"?><!DOCTYPE event [{entities}]>'
        f'<event version="2.0" uid="BOMB" type="a-h-G" how="m-g" time="{now}" start="{now}" '
        f'stale="{now}"><point lat="1" lon="1" hae="0" ce="1" le="1"/>'
        "<detail><remarks>&lol9;</remarks></detail></event>"
    ).encode()


def test_hostile_events_are_refused_counted_and_the_connection_goes_on(tak: Workspace) -> None:
    oversized = event("BIG").replace(
        b"<detail>", b"<detail><remarks>" + b"A" * 70_000 + b"</remarks>"
    )
    stale_first = event("STALE").replace(b'stale="', b'stale="2001-01-01T00:00:00.000Z" x="')

    async def scenario() -> dict[str, int]:
        async with new_server(tak) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for chunk in (
                event("GOOD-1"),
                oversized,
                event("GOOD-2"),
                _bomb(),
                event("GOOD-3"),
                event("OFF-GLOBE", lat=91.0),
                event("NAN", lat=float("nan")),
                stale_first,
                event("ACCESS", access="NOT A MARKING AT ALL"),
                b"<event>not even close</event>",
                event("GOOD-4"),
                ping(),
            ):
                writer.write(chunk)
                await writer.drain()
            await until_pong(reader)
            await close(writer)
            assert await server.flushed(TIMEOUT)
            (stats,) = [c for c in server.connections if c.port == "tcp"]
            assert stats.accepted == 4
            return dict(stats.refused)

    refused = run(scenario())
    assert refused == {
        "oversized": 1,
        "DOCTYPE or entity": 1,
        "bad coordinates": 2,
        "stale before start": 1,
        "access is not a marking": 1,
        "not a valid CoT event": 1,
    }
    assert set(stored(tak)) == {"GOOD-1", "GOOD-2", "GOOD-3", "GOOD-4"}


def test_garbage_drops_one_connection_and_the_listener_goes_on(tak: Workspace) -> None:
    async def scenario() -> tuple[str | None, int]:
        async with new_server(tak) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            good_reader, good = await asyncio.open_connection("127.0.0.1", port)
            good.write(event("BEFORE"))
            _, bad = await asyncio.open_connection("127.0.0.1", port)
            bad.write(event("LAST-GOOD-OF-BAD"))
            with contextlib.suppress(ConnectionError):
                for _ in range(40):  # 2.5 MiB without one </event>
                    bad.write(b"<junk>" + b"x" * 65_536)
                    await bad.drain()
            while not any(c.closed for c in server.connections):
                await asyncio.sleep(0.01)
            await close(bad)
            good.write(event("AFTER") + ping())
            await good.drain()
            await until_pong(good_reader)
            # A fresh connection is still welcome.
            fresh_reader, fresh = await asyncio.open_connection("127.0.0.1", port)
            fresh.write(event("FRESH") + ping())
            await until_pong(fresh_reader)
            await close(good)
            await close(fresh)
            assert await server.flushed(TIMEOUT)
            (dropped,) = [c for c in server.connections if c.refused.get("not CoT")]
            return dropped.closed, dropped.accepted

    closed, accepted = run(scenario())
    assert closed is not None and "the stream is not CoT" in closed
    assert accepted == 1
    assert set(stored(tak)) == {"BEFORE", "LAST-GOOD-OF-BAD", "AFTER", "FRESH"}


def test_a_flood_is_rate_limited_per_connection_and_the_others_go_on(tak: Workspace) -> None:
    async def scenario() -> tuple[int, int, int]:
        async with new_server(tak, rate=5.0, burst=10) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            _, flood = await asyncio.open_connection("127.0.0.1", port)
            flood.write(b"".join(event(f"FLOOD-{i}", declaration=False) for i in range(500)))
            await flood.drain()
            calm_reader, calm = await asyncio.open_connection("127.0.0.1", port)
            calm.write(event("CALM") + ping())
            await until_pong(calm_reader)
            counts = stats_of(server, flood)
            await close(flood)
            while counts.closed is None:  # the server reads to the end of the flood
                await asyncio.sleep(0.01)
            await close(calm)
            assert await server.flushed(TIMEOUT)
            return counts.received, counts.accepted, counts.refused["rate limit"]

    received, accepted, limited = run(scenario())
    assert received == 500 and accepted + limited == 500
    assert accepted >= 10 and limited > 0  # the burst went through, the rest mostly not
    floods = {uid for uid in stored(tak) if uid.startswith("FLOOD-")}
    assert len(floods) == accepted  # every event let through was stored
    assert "CALM" in stored(tak)


def test_connections_over_the_limit_are_refused_and_the_others_go_on(tak: Workspace) -> None:
    async def scenario() -> int:
        async with new_server(tak, max_connections=2) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            first_reader, first = await asyncio.open_connection("127.0.0.1", port)
            first.write(event("FIRST") + ping())
            await until_pong(first_reader)
            second_reader, second = await asyncio.open_connection("127.0.0.1", port)
            second.write(event("SECOND") + ping())
            await until_pong(second_reader)
            third_reader, third = await asyncio.open_connection("127.0.0.1", port)
            third.write(event("THIRD"))
            try:
                answer = await third_reader.read()
            except ConnectionResetError:
                answer = b""
            assert answer == b""
            await close(third)
            first.write(event("FIRST-AGAIN") + ping())
            await until_pong(first_reader)
            for writer in (first, second):
                await close(writer)
            assert await server.flushed(TIMEOUT)
            return server.refused_connections

    assert run(scenario()) == 1
    assert set(stored(tak)) == {"FIRST", "SECOND", "FIRST-AGAIN"}


def test_hostile_protocol_1_frames(tak: Workspace) -> None:
    good = bytes(takproto.xml2proto(event("V1-GOOD"), takproto.TAKProtoVer.STREAM))
    after = bytes(takproto.xml2proto(event("V1-AFTER"), takproto.TAKProtoVer.STREAM))
    # A frame that declares 100,000 bytes, then sends them: skipped whole.
    length = 100_000
    varint = bytes([(length & 0x7F) | 0x80, ((length >> 7) & 0x7F) | 0x80, length >> 14])
    oversized = b"\xbf" + varint + b"\x00" * length
    not_protobuf = b"\xbf\x05" + b"\xff\xff\xff\xff\xff"
    dtd = bytes(takproto.xml2proto(event("V1-DTD"), takproto.TAKProtoVer.STREAM))
    with_dtd = takproto.parse_proto(bytearray(dtd))
    with_dtd.cotEvent.detail.xmlDetail = '<!DOCTYPE x [<!ENTITY a "b">]><remarks>&a;</remarks>'
    dtd_frame = bytes(takproto.functions.msg2proto(with_dtd, takproto.TAKProtoVer.STREAM))

    async def scenario() -> tuple[dict[str, int], str | None]:
        async with new_server(tak) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            pong_frame = bytes(takproto.xml2proto(ping(), takproto.TAKProtoVer.STREAM))
            writer.write(good + oversized + not_protobuf + dtd_frame + after + pong_frame)
            await writer.drain()
            assert await Frames(reader).until_pong() == []
            writer.write(b"<event>lost sync: XML in a protocol 1 stream</event>")
            await writer.drain()
            assert await reader.read() == b""
            await close(writer)
            assert await server.flushed(TIMEOUT)
            (stats,) = [c for c in server.connections if c.port == "tcp"]
            return dict(stats.refused), stats.closed

    refused, closed = run(scenario())
    assert refused == {
        "oversized": 1,
        "not a TAK protocol 1 message": 1,
        "DOCTYPE or entity": 1,
        "not CoT": 1,
    }
    assert closed is not None and "the stream is lost" in closed
    assert set(stored(tak)) == {"V1-GOOD", "V1-AFTER"}


def test_what_was_received_is_stored_when_the_server_closes(tak: Workspace) -> None:
    async def scenario() -> int:
        server = new_server(tak, rate=None)
        await server.start()
        _, port = await server.listen_tcp("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(event(f"LAST-{i}") for i in range(2000)) + ping())
        await writer.drain()
        await until_pong(reader)  # all read and queued; the store may not have caught up
        await server.close()  # no flushed(): close itself stores what was queued
        await close(writer)
        return server.writer.totals.stored

    assert run(scenario()) == 2000
    assert len(stored(tak)) == 2000


@pytest.mark.usefixtures("logins")
def test_a_reader_may_receive_but_not_send(tak: Workspace) -> None:
    tak.set_user(tak.operator(), "lux_nr", tak.store.get_user("lux_nr").clearance, "reader")

    async def scenario() -> dict[str, int]:
        async with new_server(tak) as server:
            _, port = await server.listen_tcp("127.0.0.1", 0)
            await seed(server, port, event("FOR-ALL"))
            _, stream = await server.listen_tcp("127.0.0.1", 0, stream=True)
            client = await pytak_client(f"tcp://127.0.0.1:{stream}")
            await client.send(auth("lux_nr"), event("FROM-READER"), ping())
            got = {_uid(x) for x in await xml_until_pong(client)}
            await client.close()
            assert got == {"FOR-ALL"}
            assert await server.flushed(TIMEOUT)
            (stats,) = [c for c in server.connections if c.port == "stream"]
            return dict(stats.refused)

    assert run(scenario()) == {"reader role": 1}
    assert "FROM-READER" not in stored(tak)


# =================================================================== the CLI
class Process:
    """A `guetteur` command running in the background, its stderr read line by line."""

    def __init__(self, home: Path, *args: str) -> None:
        env = {**os.environ, "GUETTEUR_HOME": str(home)}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "guetteur", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reading = threading.Thread(target=self._read, daemon=True)
        self.reading.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, *, anywhere: bool = False) -> str:
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no line {prefix!r} in {self.seen}") from None
            self.seen.append(line)
            if line.startswith(prefix) or (anywhere and prefix in line):
                return line

    def port(self, kind: str) -> int:
        line = self.wait_for(f"listening: {kind} ")
        return int(line.split()[2].rsplit(":", 1)[1])

    def interrupt(self) -> str:
        """Ctrl-C, as the operator stops it; what it printed on stderr after."""
        self.popen.send_signal(signal.SIGINT)
        self.popen.wait(timeout=TIMEOUT)
        self.reading.join(timeout=TIMEOUT)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get_nowait())
        return "\n".join(self.seen + rest)


def send_and_confirm(port: int, *events: bytes) -> None:
    async def scenario() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(events) + ping())
        await writer.drain()
        await until_pong(reader)
        await close(writer)

    run(scenario())


@pytest.mark.usefixtures("logins")
def test_cot_listen_runs_until_interrupted_and_stores_what_it_received(tak: Workspace) -> None:
    home = tak.home
    listener = Process(
        home, "cot", "listen", "--tcp", "127.0.0.1:0", "--stream", "127.0.0.1:0",
        "--source", "exercise-tak", "--marking", "NATO RESTRICTED // REL TO FRA, LUX",
    )  # fmt: skip
    try:
        tcp, stream = listener.port("tcp"), listener.port("stream")
        send_and_confirm(
            tcp, event("CLI-1"), event("CLI-2", access="NATO SECRET"), event("X", lat=99)
        )

        async def lux_receives() -> set[str]:
            reader, writer = await asyncio.open_connection("127.0.0.1", stream)
            writer.write(auth("lux_nr") + ping())
            await writer.drain()
            got = {_uid(x) for x in await until_pong(reader) if not _type(x).startswith("t-x-")}
            await close(writer)
            return got

        assert run(lux_receives()) == {"CLI-1"}
    finally:
        printed = listener.interrupt()
    assert listener.popen.returncode == 0, printed
    assert "stopped: 2 positions stored, 0 duplicates, 0 failed" in printed
    assert "refused: 1 bad coordinates" in printed
    tracks = tak.tracks(tak.operator())
    assert {t.uid: str(t.last.marking) for t in tracks if t.last} == {
        "CLI-1": "NATO RESTRICTED // REL TO FRA, LUX",
        "CLI-2": "NATO SECRET // REL TO FRA, LUX",
    }
    assert {p.source for t in tracks for p in t.positions} == {"exercise-tak"}


def test_serve_also_listens_for_cot(tak: Workspace) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        http_port = probe.getsockname()[1]
    server = Process(
        tak.home, "serve", "--port", str(http_port), "--cot-tcp", "127.0.0.1:0",
        "--cot-marking", "NATO RESTRICTED", "--cot-source", "tak-beside-api",
    )  # fmt: skip
    try:
        send_and_confirm(server.port("tcp"), event("SERVED-1"))
        server.wait_for("Application startup complete", anywhere=True)  # uvicorn's, then Ctrl-C
    finally:
        printed = server.interrupt()
    assert server.popen.returncode == 0, printed
    assert stored(tak) == {"SERVED-1": "NATO RESTRICTED"}
