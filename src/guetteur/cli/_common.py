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
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from guetteur._exceptions import AuditChainError, GuetteurError
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


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def handle_errors(function: F) -> F:
    """Turn our errors into one clear line on stderr and exit code 1."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except AuditChainError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False)
            sys.exit(EXIT_AUDIT_BROKEN)
        except GuetteurError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False)
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
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)


_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None) -> datetime | None:
    """'24h', '7d', '30m', '2w' before now, or an ISO 8601 date/time (UTC if no zone)."""
    if value is None:
        return None
    duration = _DURATION.match(value)
    if duration:
        amount, unit = int(duration.group(1)), _UNITS[duration.group(2).lower()]
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected a duration (24h, 7d) or an ISO date (2026-11-20T06:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_bbox(value: str | None) -> BBox | None:
    """'W,S,E,N' in decimal degrees."""
    if value is None:
        return None
    try:
        west, south, east, north = (float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected W,S,E,N, e.g. 21.0,55.5,28.5,59.7") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise click.BadParameter(f"{value!r}: W ≤ E within ±180 and S ≤ N within ±90")
    return west, south, east, north


# --------------------------------------------------------------------- products
LANG = click.Choice(["fr", "en"])


def parse_nations(value: str | None) -> frozenset[str]:
    """'DEU,GBR' or 'NATO' → expanded alpha-3 codes, validated."""
    if not value:
        return frozenset()
    from guetteur.model._countries import GROUPS, ISO_ALPHA3

    nations: set[str] = set()
    for token in (t.strip().upper() for t in value.split(",") if t.strip()):
        if token in GROUPS:
            nations |= GROUPS[token]
        elif token in ISO_ALPHA3:
            nations.add(token)
        else:
            raise click.BadParameter(f"{token!r}: not an ISO 3166 alpha-3 code nor NATO/EU/FVEY")
    return frozenset(nations)
