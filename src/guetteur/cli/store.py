"""Where a workspace keeps its records: `guetteur init --store URL` and
`guetteur migrate --to URL` (SQLite to PostgreSQL).

The folder stays the workspace (rules, intel, caches, models); only its
records move. A PostgreSQL workspace's folder holds store.toml naming the
database (store/factory.py says how to keep a password out of it).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from guetteur._exceptions import WorkspaceError
from guetteur.cli._common import handle_errors, main
from guetteur.security.markings import parse_clearance
from guetteur.store.factory import DATABASE_NAME, STORE_CONFIG, store_url
from guetteur.workspace import Workspace

# ------------------------------------------------------------------ init --store
_init = main.commands["init"]
_init.params.append(
    click.Option(
        ["--store"],
        metavar="URL",
        help="Keep the records in this PostgreSQL database (postgresql://...) instead of "
        "the SQLite file; the database must hold no other workspace.",
    )
)
_init_callback = _init.callback
assert _init_callback is not None
_init_on_sqlite: Callable[..., Any] = _init_callback


@functools.wraps(_init_on_sqlite)
@handle_errors
def _init_on_store(*args: Any, store: str | None = None, **options: Any) -> None:
    if store is None:
        return _init_on_sqlite(*args, **options)  # type: ignore[no-any-return]
    home = click.get_current_context().obj["home"]
    clearance = parse_clearance(options["clearance"], options["nationality"], options["caveats"])
    workspace = Workspace.create(home, options["user"], clearance, store=store)
    workspace.close()
    click.echo(f"workspace created in {home} on PostgreSQL; default user: {options['user']}")
    return None


_init.callback = _init_on_store


# ---------------------------------------------------------------------- migrate
@main.command()
@click.option("--to", "url", required=True, metavar="URL", help="postgresql://... (empty).")
@click.pass_context
@handle_errors
def migrate(context: click.Context, url: str) -> None:
    """Copy this SQLite workspace whole into an empty PostgreSQL database, then use it.

    Documents, passages and vectors, entities, events, alerts, indicators, users
    and credentials, tracks, settings (ids stay the same) and the audit chain,
    which must still verify. The SQLite file is kept beside, renamed
    guetteur.db.before-postgresql.
    """
    from guetteur.store.postgres.copy import copy_sqlite_store

    home: Path = context.obj["home"]
    database = home / DATABASE_NAME
    if store_url(home) is not None:
        raise WorkspaceError(f"{home}: the workspace is on PostgreSQL already")
    if not database.exists():
        raise WorkspaceError(f"no workspace at {home}: nothing to migrate")
    if not url.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("expected a postgresql:// URL", param_hint="--to")

    def copied(table: str, count: int) -> None:
        if count:
            click.echo(f"  {table}: {count}")

    click.echo(f"copying {database} ...")
    report = copy_sqlite_store(database, url, on_table=copied)
    config = home / STORE_CONFIG
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(f'[store]\nurl = "{_toml_escaped(url)}"\n')
    for suffix in ("", "-wal", "-shm"):
        old = home / f"{DATABASE_NAME}{suffix}"
        if old.exists():
            old.rename(home / f"{DATABASE_NAME}.before-postgresql{suffix}")
    with Workspace.open(home) as workspace:
        operator = workspace.operator()
        workspace.store.audit(
            operator.name,
            "store.migrate",
            {"to": "postgresql", "rows": report.rows, "audit_rows": report.audit_rows},
        )
    click.echo(
        f"workspace {home} now on PostgreSQL; audit chain verified "
        f"({report.audit_rows} rows, head {report.audit_head[:16]}...)"
    )


def _toml_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
