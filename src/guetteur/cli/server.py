"""The server and its credentials: `serve`, `users passwd`, `users certificate`,
`tokens create|list|revoke`, `lockouts`.

The CLI acts as the workspace's operator (a security officer); these commands
give the server's users what they log in with. Secrets are printed once and
never stored: the workspace keeps only their hashes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from guetteur._exceptions import InvalidInputError
from guetteur.api.guard import Limits
from guetteur.arguments import parse_duration
from guetteur.cli._common import (
    console,
    emit_json,
    handle_errors,
    json_option,
    main,
    open_workspace,
)
from guetteur.cli.admin import users
from guetteur.cli.cot import cot_log_to_stderr
from guetteur.cop.listener import Background, Channel, CotServer, Ports, addresses
from guetteur.security.markings import parse_marking
from guetteur.views import lockouts_json, token_json, tokens_json

__all__ = ["lockouts", "serve", "tokens"]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Accept client certificates signed by this CA (mutual TLS); map subjects to users "
    "with `guetteur users certificate`.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--max-upload-mb", default=256, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--rate", default=50.0, show_default=True, type=click.FloatRange(0.1),
    help="Requests per second per user (bursts of 4×).",
)  # fmt: skip
@click.option(
    "--cot-tcp", multiple=True, metavar="HOST:PORT",
    help="Also listen for CoT on this plain TCP input (as `cot listen --tcp`).",
)  # fmt: skip
@click.option(
    "--cot-stream", multiple=True, metavar="HOST:PORT",
    help="Also run the TAK stream port (as `cot listen --stream`; TLS with --tls-cert).",
)  # fmt: skip
@click.option("--cot-source", default="tak", show_default=True, help="Source of CoT events.")
@click.option("--cot-marking", help="Marking of CoT events (needed with --cot-tcp/--cot-stream).")
@click.pass_context
@handle_errors
def serve(
    context: click.Context,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
    workers: int,
    max_upload_mb: int,
    rate: float,
    cot_tcp: tuple[str, ...],
    cot_stream: tuple[str, ...],
    cot_source: str,
    cot_marking: str | None,
) -> None:
    """Serve the HTTP API (and TAXII 2.1) to logged-in users; with --cot-*, CoT too."""
    from guetteur.api.server import serve as run

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if client_ca is not None and tls_cert is None:
        raise click.UsageError("--client-ca needs --tls-cert and --tls-key (mutual TLS)")
    if host not in ("127.0.0.1", "::1", "localhost") and tls_cert is None:
        click.echo(
            f"warning: serving on {host} without TLS: passwords and session cookies "
            "cross the network in clear; give --tls-cert and --tls-key",
            err=True,
        )
    open_workspace(context)  # refuses now, with its message, if there is no workspace
    limits = Limits(upload_bytes=max_upload_mb << 20, rate_per_second=rate, burst=int(rate * 4))
    cot = _cot_beside(context, cot_tcp, cot_stream, cot_source, cot_marking, tls_cert, tls_key,
                      client_ca)  # fmt: skip
    try:
        run(
            context.obj["home"],
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            client_ca=client_ca,
            workers=workers,
            limits=limits,
        )
    finally:
        if cot is not None:
            cot.stop()  # stores what the CoT inputs had received


def _cot_beside(
    context: click.Context,
    tcp: tuple[str, ...],
    stream: tuple[str, ...],
    source: str,
    marking: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
) -> Background | None:
    """The CoT listener of `serve --cot-*`, started on a thread of its own."""
    if not tcp and not stream:
        return None
    if marking is None:
        raise click.UsageError("--cot-tcp and --cot-stream need --cot-marking")
    try:
        ports = Ports(
            tcp=tuple(addresses(tcp)),
            stream=tuple(addresses(stream)),
            tls_cert=tls_cert,
            tls_key=tls_key,
            client_ca=client_ca,
        )
    except InvalidInputError as error:
        raise click.BadParameter(str(error), param_hint="--cot-tcp/--cot-stream") from None
    server = CotServer(context.obj["home"], Channel(source, parse_marking(marking)))
    cot_log_to_stderr()
    background = Background(server, ports)
    for line in background.start():
        click.echo(f"listening: {line}", err=True)
    return background


@users.command("passwd")
@click.argument("name")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from stdin.")
@click.pass_context
@handle_errors
def users_passwd(context: click.Context, name: str, from_stdin: bool) -> None:
    """Give NAME a one-time password (printed once); they change it at first login."""
    workspace = open_workspace(context)
    given = sys.stdin.readline().rstrip("\r\n") if from_stdin else None
    password = workspace.accounts.set_password(workspace.operator(), name, given)
    if given is None:
        click.echo(password)
    else:
        click.echo(f"one-time password set for {name}", err=True)


@users.command("certificate")
@click.argument("name")
@click.argument("subject")
@click.pass_context
@handle_errors
def users_certificate(context: click.Context, name: str, subject: str) -> None:
    """Let the client certificate whose subject is SUBJECT (RFC 4514) log in as NAME."""
    workspace = open_workspace(context)
    workspace.accounts.map_certificate(workspace.operator(), subject, name)
    click.echo(f"certificate {subject} → user {name}")


@main.group()
def tokens() -> None:
    """API tokens for scripts: `Authorization: Bearer TOKEN`."""


@tokens.command("create")
@click.argument("name")
@click.option("--expires", default="30d", show_default=True, help="A duration: 12h, 30d, 52w.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
@click.pass_context
@handle_errors
def tokens_create(context: click.Context, name: str, expires: str, scope: str) -> None:
    """Create a token for NAME and print it, once."""
    workspace = open_workspace(context)
    try:
        lasting = parse_duration(expires)
    except Exception as error:
        raise click.BadParameter(str(error), param_hint="--expires") from None
    token, secret = workspace.accounts.create_token(workspace.operator(), name, lasting, scope)
    click.echo(secret)
    click.echo(
        f"token {token.id} for {token.user} ({token.scope}), expires "
        f"{token.expires_at.isoformat(timespec='seconds')}",
        err=True,
    )


@tokens.command("list")
@json_option
@click.pass_context
@handle_errors
def tokens_list(context: click.Context, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    workspace = open_workspace(context)
    listed = workspace.accounts.tokens(workspace.operator())
    if as_json:
        emit_json(tokens_json(listed))
        return
    table = Table("id", "user", "scope", "created", "expires", "state", "last used")
    for token in listed:
        row = token_json(token)
        table.add_row(
            row["id"], row["user"], row["scope"], row["created_at"][:19],
            row["expires_at"][:19], row["state"], (row["last_used"] or "-")[:19],
        )  # fmt: skip
    console.print(table)


@tokens.command("revoke")
@click.argument("token_id")
@click.pass_context
@handle_errors
def tokens_revoke(context: click.Context, token_id: str) -> None:
    """Revoke a token at once."""
    workspace = open_workspace(context)
    token = workspace.accounts.revoke_token(workspace.operator(), token_id)
    click.echo(f"token {token.id} of {token.user} revoked")


@main.command()
@json_option
@click.pass_context
@handle_errors
def lockouts(context: click.Context, as_json: bool) -> None:
    """Names and client addresses blocked now after failed logins."""
    workspace = open_workspace(context)
    payload = lockouts_json(workspace.accounts.lockouts(workspace.operator()))
    if as_json:
        emit_json(payload)
        return
    for entry in payload["lockouts"]:
        click.echo(f"{entry['who']}: {entry['failures']} failures, blocked until {entry['until']}")
    if not payload["lockouts"]:
        click.echo("no login is blocked")
