"""Cursor-on-Target with TAK: `cot listen` (inputs and the stream port), `cot send`.

`cot listen` runs until interrupted (Ctrl-C or SIGTERM), then stores what it
had received before it exits. `cot send` reads the picture as the operator, or
as `--as USER`, narrowed to `--releasable-to`, and sends it once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from guetteur._exceptions import InvalidInputError
from guetteur.cli._common import as_option, handle_errors, main, open_workspace, parse_nations
from guetteur.cop.listener import Channel, CotServer, Limits, Ports, addresses, serve_until
from guetteur.cop.stream import picture_for, send_picture
from guetteur.security.markings import high_water_mark, parse_marking

__all__ = ["cot"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _addresses(values: tuple[str, ...], option: str) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(addresses(values))
    except InvalidInputError as error:
        raise click.BadParameter(str(error), param_hint=option) from None


def cot_log_to_stderr() -> None:
    """Connections opening and closing, with their counts, on stderr."""
    logger = logging.getLogger("guetteur.cot")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


@main.group()
def cot() -> None:
    """Cursor-on-Target with TAK: take tracks in, send the picture out."""


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cot.command("listen")
@click.option("--tcp", multiple=True, metavar="HOST:PORT", help="Plain TCP input (TAK: 8087).")
@click.option(
    "--tls", multiple=True, metavar="HOST:PORT",
    help="TLS input (TAK: 8089): clients known by their certificates (needs --client-ca).",
)  # fmt: skip
@click.option(
    "--udp", multiple=True, metavar="GROUP:PORT",
    help="UDP input: a multicast group (TAK mesh: 239.2.3.1:6969) or a local address.",
)  # fmt: skip
@click.option(
    "--stream", multiple=True, metavar="HOST:PORT",
    help="TAK stream port: clients log in (certificate or <auth>), receive what they may "
    "read, and their updates are relayed to the others. TLS when --tls-cert is given.",
)  # fmt: skip
@click.option("--source", required=True, help="Source the events are stored under.")
@click.option("--marking", required=True, help="Marking of the events (their access may raise it).")
@click.option("--tls-cert", type=_FILE, help="Server certificate (PEM) for --tls and --stream.")
@click.option("--tls-key", type=_FILE, help="Its private key (PEM).")
@click.option("--client-ca", type=_FILE, help="CA whose client certificates are accepted.")
@click.option(
    "--releasable-to", metavar="CCC[,CCC]",
    help="Stream port: send only what is also releasable to these nations.",
)  # fmt: skip
@click.option(
    "--rate", default=50.0, show_default=True, type=click.FloatRange(0.1),
    help="Events per second per connection (bursts of 4×); more are refused and counted.",
)  # fmt: skip
@click.option("--max-connections", default=512, show_default=True, type=click.IntRange(1))
@as_option
@click.pass_context
@handle_errors
def cot_listen(
    context: click.Context,
    tcp: tuple[str, ...],
    tls: tuple[str, ...],
    udp: tuple[str, ...],
    stream: tuple[str, ...],
    source: str,
    marking: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
    releasable_to: str | None,
    rate: float,
    max_connections: int,
    as_user: str | None,
) -> None:
    """Listen for CoT until interrupted; store every event under --source and --marking."""
    ports = Ports(
        tcp=_addresses(tcp, "--tcp"),
        tls=_addresses(tls, "--tls"),
        udp=_addresses(udp, "--udp"),
        stream=_addresses(stream, "--stream"),
        tls_cert=tls_cert,
        tls_key=tls_key,
        client_ca=client_ca,
    )
    if not ports:
        raise click.UsageError("give at least one of --tcp, --tls, --udp, --stream")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls and client_ca is None:
        raise click.UsageError("--tls needs --tls-cert, --tls-key and --client-ca")
    if client_ca is not None and tls_cert is None:
        raise click.UsageError("--client-ca needs --tls-cert and --tls-key")
    channel = Channel(source, parse_marking(marking))
    workspace = open_workspace(context)  # refuses now, with its message, if there is none
    user = workspace.user(as_user).name
    for host, _ in ports.stream:
        if tls_cert is None and host not in _LOOPBACK:
            click.echo(
                f"warning: stream port on {host} without TLS: passwords cross the network "
                "in clear; give --tls-cert and --tls-key",
                err=True,
            )
    server = CotServer(
        context.obj["home"],
        channel,
        user=user,
        limits=Limits(rate=rate, burst=int(rate * 4), max_connections=max_connections),
        releasable_to=parse_nations(releasable_to),
    )
    cot_log_to_stderr()
    asyncio.run(_listen(server, ports))
    totals = server.writer.totals
    click.echo(
        f"stopped: {totals.stored} positions stored, {totals.duplicates} duplicates, "
        f"{totals.failed} failed",
        err=True,
    )


async def _listen(server: CotServer, ports: Ports) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def opened(lines: list[str]) -> None:
        for line in lines:
            click.echo(f"listening: {line}", err=True)

    await serve_until(server, ports, stop, opened)


@cot.command("send")
@click.option("--to", "destination", required=True, metavar="tcp://HOST:PORT")
@click.option(
    "--releasable-to", metavar="CCC[,CCC]",
    help="Send only what is releasable to these nations (and caveat-free).",
)  # fmt: skip
@as_option
@click.pass_context
@handle_errors
def cot_send(
    context: click.Context, destination: str, releasable_to: str | None, as_user: str | None
) -> None:
    """Send the picture once, as CoT XML, to a TAK input (tracks and events from reports)."""
    target = urlsplit(destination)
    if target.scheme != "tcp" or not target.hostname or target.port is None:
        raise click.BadParameter(f"{destination!r}: expected tcp://HOST:PORT", param_hint="--to")
    nations = parse_nations(releasable_to)
    workspace = open_workspace(context)
    user = workspace.user(as_user)
    clearance = user.clearance.for_release_to(nations) if nations else user.clearance
    events = picture_for(workspace, user, clearance, datetime.now(UTC))
    try:
        sent = send_picture(target.hostname, target.port, events)
    except OSError as error:
        raise InvalidInputError(f"{destination}: {error.strerror or error}") from None
    marked = f" (highest marking: {high_water_mark(e.marking for e in events)})" if events else ""
    click.echo(f"sent {sent} events to {target.hostname}:{target.port}{marked}")
