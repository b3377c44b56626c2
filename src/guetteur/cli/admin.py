"""Commands of the workspace's security officers: the workspace itself, users and
roles, source default markings, re-marking and withdrawal, spills, the audit."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from guetteur.cli._common import (
    F,
    as_option,
    console,
    emit_json,
    handle_errors,
    json_option,
    main,
    open_workspace,
)
from guetteur.security.anchor import create_key_file, fingerprint, public_key_pem
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import User
from guetteur.views import audit_verify_json, spills_json, users_json
from guetteur.workspace import Workspace


@main.command()
@click.option("--user", required=True, help="Name of the first user (the default for commands).")
@click.option("--clearance", required=True, help="e.g. 'NATO SECRET', 'DIFFUSION RESTREINTE'.")
@click.option("--nationality", required=True, help="ISO 3166 alpha-3, e.g. FRA.")
@click.option("--caveat", "caveats", multiple=True, help="A caveat the user holds (repeatable).")
@click.pass_context
@handle_errors
def init(
    context: click.Context, user: str, clearance: str, nationality: str, caveats: tuple[str, ...]
) -> None:
    """Create the workspace, with its first (default) user."""
    home = context.obj["home"]
    workspace = Workspace.create(home, user, parse_clearance(clearance, nationality, caveats))
    workspace.close()
    click.echo(f"workspace created in {home}; default user: {user}")


# ------------------------------------------------------------------------ users
@main.group()
def users() -> None:
    """Manage users and their clearances."""


_ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(["security-officer", "analyst", "reader"]),
    default="analyst",
    show_default=True,
    help="security-officer: users, markings, spills, audit; analyst: ingest, rules, "
    "intel, watches; reader: reads only.",
)


def _user_options(function: F) -> F:
    """The options that say who a user is: clearance, nationality, caveats, role."""
    for option in reversed(
        [
            click.option("--clearance", required=True, help="e.g. 'NATO RESTRICTED'."),
            click.option("--nationality", required=True, help="ISO 3166 alpha-3, e.g. LUX."),
            click.option(
                "--caveat", "caveats", multiple=True, help="A caveat the user holds (repeatable)."
            ),
            _ROLE_OPTION,
        ]
    ):
        function = option(function)
    return function


def _said(user: User) -> str:
    return (
        f"user {user.name}: {user.clearance.level.name} {user.clearance.nationality} ({user.role})"
    )


@users.command("add")
@click.argument("name")
@_user_options
@click.pass_context
@handle_errors
def users_add(
    context: click.Context,
    name: str,
    clearance: str,
    nationality: str,
    caveats: tuple[str, ...],
    role: str,
) -> None:
    """Add a user (security officers only)."""
    workspace = open_workspace(context)
    parsed = parse_clearance(clearance, nationality, caveats)
    click.echo(_said(workspace.add_user(name, parsed, workspace.operator(), role)))


@users.command("set")
@click.argument("name")
@_user_options
@click.pass_context
@handle_errors
def users_set(
    context: click.Context,
    name: str,
    clearance: str,
    nationality: str,
    caveats: tuple[str, ...],
    role: str,
) -> None:
    """Change a user's clearance and role (security officers; never their own)."""
    workspace = open_workspace(context)
    parsed = parse_clearance(clearance, nationality, caveats)
    click.echo(_said(workspace.set_user(workspace.operator(), name, parsed, role)))


@users.command("list")
@json_option
@click.pass_context
@handle_errors
def users_list(context: click.Context, as_json: bool) -> None:
    """List users, roles and clearances."""
    workspace = open_workspace(context)
    payload = users_json(workspace.users(workspace.operator()))
    if as_json:
        emit_json(payload)
        return
    table = Table("name", "role", "clearance", "nationality", "caveats")
    for row in payload["users"]:
        table.add_row(
            row["name"],
            row["role"],
            row["clearance"],
            row["nationality"],
            ", ".join(row["caveats"]),
        )
    console.print(table)


# ------------------------------------------------------ markings (security officers)
@main.group()
def sources() -> None:
    """Sources and their default markings."""


@sources.command("set")
@click.argument("name")
@click.option("--marking", required=True, help="Marking of this source's unmarked inputs.")
@click.pass_context
@handle_errors
def sources_set(context: click.Context, name: str, marking: str) -> None:
    """Set the default marking of a source (security officers only)."""
    workspace = open_workspace(context)
    parsed = parse_marking(marking)
    workspace.set_source_default(workspace.operator(), name, parsed)
    click.echo(f"source {name}: default marking {parsed}")


@main.command()
@click.argument("doc_id")
@click.option("--marking", required=True, help="The document's new marking.")
@click.option("--reason", required=True, help="Why (kept in the audit).")
@as_option
@click.pass_context
@handle_errors
def remark(
    context: click.Context, doc_id: str, marking: str, reason: str, as_user: str | None
) -> None:
    """Change a document's marking: raising needs read access, lowering a security officer."""
    workspace = open_workspace(context)
    new_id = workspace.remark(workspace.user(as_user), doc_id, parse_marking(marking), reason)
    click.echo(f"{doc_id}: now {parse_marking(marking)} (id {new_id})")


@main.command()
@click.argument("doc_id")
@click.option("--reason", required=True, help="Why (kept in the audit).")
@click.pass_context
@handle_errors
def withdraw(context: click.Context, doc_id: str, reason: str) -> None:
    """Remove a document and all derived from it from every index (security officers)."""
    workspace = open_workspace(context)
    workspace.withdraw(workspace.operator(), doc_id, reason)
    click.echo(f"{doc_id}: withdrawn")


@main.command()
@json_option
@click.pass_context
@handle_errors
def spills(context: click.Context, as_json: bool) -> None:
    """Content written lower than it was already held (security officers only)."""
    workspace = open_workspace(context)
    found = workspace.spills(workspace.operator())
    if as_json:
        emit_json(spills_json(found))
        return
    for spill in found:
        held = "; ".join(f"{d} at {m}" for d, m in spill.held)
        click.echo(
            f"{spill.at.isoformat()}  {spill.actor} wrote {spill.origin!r} at {spill.marking} "
            f"(id {spill.doc_id}); already held: {held}"
        )
    if not found:
        click.echo("no spills")


# ------------------------------------------------------------------------ audit
@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option(
    "--anchor",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint from `audit anchor`: the chain must still extend it.",
)
@click.option(
    "--public-key",
    metavar="PUBFILE|SHA256:…",
    help="The key the anchor must be signed with: its .pub file, or its fingerprint.",
)
@json_option
@click.pass_context
@handle_errors
def audit_verify(
    context: click.Context, anchor: Path | None, public_key: str | None, as_json: bool
) -> None:
    """Check the audit chain, its append-only protection and that every stored
    document and user has an audit record; exit 4 naming the first problem."""
    if (anchor is None) != (public_key is None):
        # The key inside an anchor proves nothing alone: a forger signs with their own.
        raise click.UsageError("--anchor and --public-key go together")
    workspace = open_workspace(context)
    pinned = workspace.read_anchor(anchor, public_key) if anchor and public_key else None
    rows, head = workspace.verify_audit(pinned)
    if as_json:
        emit_json(audit_verify_json(rows, head, anchor, pinned))
        return
    click.echo(f"audit chain intact: {rows} rows, head {head}")
    if pinned is not None:
        click.echo(f"it extends the anchor {anchor} (row {pinned.rows}, signed)")


@audit.command("anchor")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Ed25519 signing key from `audit keygen`, kept outside the workspace.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the checkpoint here (default: print it).",
)
@as_option
@click.pass_context
@handle_errors
def audit_anchor(
    context: click.Context, key_path: Path, out: Path | None, as_user: str | None
) -> None:
    """Write a signed checkpoint of the chain (rows, head hash, time) to verify against later."""
    workspace = open_workspace(context)
    checkpoint = workspace.anchor_audit(workspace.user(as_user), key_path)
    text = json.dumps(checkpoint, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(
        f"anchor written to {out}: {checkpoint['rows']} rows, head {checkpoint['head']}, "
        f"key {checkpoint['fingerprint']}"
    )


@audit.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (0600), outside the workspace; the public key "
    "goes beside it, with .pub appended.",
)
@click.pass_context
@handle_errors
def audit_keygen(context: click.Context, out: Path) -> None:
    """Create an Ed25519 key to sign audit anchors; print its public half and fingerprint."""
    public = create_key_file(out, context.obj["home"])
    click.echo(public_key_pem(public), nl=False)
    click.echo(f"fingerprint: {fingerprint(public)}")
    click.echo(
        f"private key in {out} (0600): keep it away from the workspace's machine if you can; "
        f"public key in {out}.pub",
        err=True,
    )


# ------------------------------------------------------------------------- demo
@main.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the demo workspace here and keep it.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Then serve the web application on it (loopback), printing the demo users' "
    "one-time passwords, until interrupted.",
)
@click.option("--port", default=8443, show_default=True, help="The port for --serve.")
@handle_errors
def demo(keep: Path | None, serve: bool, port: int) -> None:
    """Ingest the exercise scenario and show what users of several nations may see."""
    from guetteur.demo import run_demo

    run_demo(console, keep, serve=serve, port=port)
