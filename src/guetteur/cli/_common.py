"""What every `guetteur` command shares: the click group, the options spelled
the same everywhere (`--json`, `--as`, `--home`), error handling and exit codes.

Exit codes: 0 done; 1 error (bad input, not found, no workspace); 2 usage
(click); 3 ingest finished but some inputs failed; 4 audit chain broken.
Every read command takes `--json` (stable keys, markings in canonical form)
and `--as USER`; `--home DIR` or GUETTEUR_HOME picks the workspace.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from guetteur import arguments
from guetteur._exceptions import AuditChainError, GuetteurError, InvalidInputError
from guetteur.store import BBox
from guetteur.workspace import Workspace, resolve_home

EXIT_ERROR, EXIT_PARTIAL, EXIT_AUDIT_BROKEN = 1, 3, 4


F = TypeVar("F", bound=Callable[..., Any])


console = Console()


err_console = Console(stderr=True)


# ---------------------------------------------------------------- shared options
def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def as_option(function: F) -> F:
    return click.option(
        "--as",
        "as_user",
        metavar="USER",
        help="Act under this user's clearance (default: the workspace's default user).",
    )(function)


def executor_option(function: F) -> F:
    return click.option(
        "--executor",
        default="local",
        show_default=True,
        metavar="local|dask[://HOST:PORT]",
        help="Where embeddings and entities are computed: this machine (local), a Dask "
        "cluster started here on every core (dask), or a Dask scheduler (dask://host:port).",
    )(function)


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def handle_errors(function: F) -> F:
    """Turn our errors into one clear line on stderr and exit code 1."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except AuditChainError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            sys.exit(EXIT_AUDIT_BROKEN)
        except GuetteurError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def open_workspace(context: click.Context) -> Workspace:
    workspace = Workspace.open(context.obj["home"])
    context.call_on_close(workspace.close)
    return workspace


# ------------------------------------------------------------------------ group
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder (default: $GUETTEUR_HOME, else ./.guetteur).",
)
@click.version_option(package_name="guetteur")
@click.pass_context
def main(context: click.Context, home: Path | None) -> None:
    """guetteur: fuse reports, alerts and tracks; search and synthesise them under markings."""
    context.ensure_object(dict)
    context.obj["home"] = resolve_home(home)


# ------------------------------------------------------------- entities/events
# The parsers live in guetteur.arguments, shared with the API; here their
# refusals become click's usage errors (exit 2, naming the option's value).
def _as_usage_error(parse: Callable[[str | None], Any]) -> Callable[[str | None], Any]:
    @functools.wraps(parse)
    def parsed(value: str | None) -> Any:
        try:
            return parse(value)
        except InvalidInputError as error:
            raise click.BadParameter(str(error)) from None

    return parsed


def parse_since(value: str | None) -> datetime | None:
    """'24h', '7d', '30m', '2w' before now, or an ISO 8601 date/time (UTC if no zone)."""
    return _as_usage_error(arguments.parse_since)(value)  # type: ignore[no-any-return]


def parse_bbox(value: str | None) -> BBox | None:
    """'W,S,E,N' in decimal degrees."""
    return _as_usage_error(arguments.parse_bbox)(value)  # type: ignore[no-any-return]


# --------------------------------------------------------------------- products
LANG = click.Choice(["fr", "en"])


def parse_nations(value: str | None) -> frozenset[str]:
    """'DEU,GBR' or 'NATO' → expanded alpha-3 codes, validated."""
    return _as_usage_error(arguments.parse_nations)(value)  # type: ignore[no-any-return]
