"""The `guetteur` command: one click group, shared options, meaningful exit codes.

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
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from guetteur._exceptions import AuditChainError, GuetteurError
from guetteur.model import Document, Grade
from guetteur.pipeline.ingest import IngestReport
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import User
from guetteur.workspace import Workspace, resolve_home

__all__ = ["main"]

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


def _emit_json(payload: Any) -> None:
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


def _workspace(context: click.Context) -> Workspace:
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


def _user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "clearance": user.clearance.level.name.replace("_", " "),
        "nationality": user.clearance.nationality,
        "caveats": sorted(user.clearance.caveats),
    }


@users.command("add")
@click.argument("name")
@click.option("--clearance", required=True, help="e.g. 'NATO RESTRICTED'.")
@click.option("--nationality", required=True, help="ISO 3166 alpha-3, e.g. LUX.")
@click.option("--caveat", "caveats", multiple=True, help="A caveat the user holds (repeatable).")
@as_option
@click.pass_context
@handle_errors
def users_add(
    context: click.Context,
    name: str,
    clearance: str,
    nationality: str,
    caveats: tuple[str, ...],
    as_user: str | None,
) -> None:
    """Add a user (or update one's clearance)."""
    workspace = _workspace(context)
    actor = workspace.user(as_user)
    user = workspace.add_user(name, parse_clearance(clearance, nationality, caveats), actor.name)
    click.echo(f"user {user.name}: {user.clearance.level.name} {user.clearance.nationality}")


@users.command("list")
@json_option
@click.pass_context
@handle_errors
def users_list(context: click.Context, as_json: bool) -> None:
    """List users and clearances."""
    workspace = _workspace(context)
    listed = [_user_json(user) for user in workspace.users()]
    if as_json:
        _emit_json({"users": listed})
        return
    table = Table("name", "clearance", "nationality", "caveats")
    for row in listed:
        table.add_row(row["name"], row["clearance"], row["nationality"], ", ".join(row["caveats"]))
    console.print(table)


# ----------------------------------------------------------------------- ingest
def _progress_ingest(
    workspace: Workspace, actor: User, paths: list[Path], show_progress: bool, **options: Any
) -> IngestReport:
    if not show_progress:
        return workspace.ingest(actor, paths, **options)
    from guetteur.ingest.registry import iter_input_files

    total = sum(1 for _ in iter_input_files(paths))
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(path: Path) -> None:
            progress.update(task, advance=1, description=path.name)

        return workspace.ingest(actor, paths, on_file=advance, **options)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--source", default="default", show_default=True, help="Name of the source feeding these files."
)
@click.option("--marking", help="Marking for inputs without a banner; a floor for those with one.")
@click.option("--grade", help="Admiralty grade (e.g. B2) for inputs that state none.")
@json_option
@as_option
@click.pass_context
@handle_errors
def ingest(
    context: click.Context,
    paths: tuple[Path, ...],
    source: str,
    marking: str | None,
    grade: str | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Ingest files and folders (txt, md, html, pdf, docx, eml, rss/atom, json/jsonl)."""
    workspace = _workspace(context)
    actor = workspace.user(as_user)
    report = _progress_ingest(
        workspace,
        actor,
        list(paths),
        show_progress=not as_json and err_console.is_terminal,
        source=source,
        marking=parse_marking(marking) if marking else None,
        grade=Grade.parse(grade) if grade else None,
    )
    if as_json:
        _emit_json(
            {"ingested": report.ingested, "duplicates": report.duplicates, "failed": report.failed}
        )
    else:
        counts = (report.ingested, report.duplicates, len(report.failed))
        click.echo("ingested {}, duplicates {}, failed {}".format(*counts))
        for failure in report.failed:
            click.echo(f"  failed: {failure['path']}: {failure['error']}", err=True)
    if report.failed:
        sys.exit(EXIT_PARTIAL)


# ------------------------------------------------------------------------ reads
@main.command()
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
@json_option
@as_option
@click.pass_context
@handle_errors
def search(
    context: click.Context, query: str, limit: int, as_json: bool, as_user: str | None
) -> None:
    """Search documents (full text and meaning, French and English)."""
    workspace = _workspace(context)
    reader = workspace.user(as_user)
    results = workspace.search(reader, query, limit)
    if as_json:
        _emit_json(
            {
                "results": [
                    {
                        "id": r.id,
                        "title": r.title,
                        "marking": str(r.marking),
                        "grade": r.grade,
                        "source": r.source,
                        "language": r.language,
                        "snippet": r.snippet,
                        "score": r.score,
                    }
                    for r in results
                ]
            }
        )
        return
    if not results:
        click.echo("no results")
        return
    table = Table("id", "marking", "grade", "title / snippet", show_lines=True)
    for r in results:
        table.add_row(r.id, str(r.marking), r.grade or "-", f"[bold]{r.title}[/]\n{r.snippet}")
    console.print(table)


def document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "title": document.title,
        "marking": str(document.marking),
        "grade": str(document.grade) if document.grade else None,
        "language": document.language,
        "source": document.source,
        "origin": document.origin,
        "sha256": document.sha256,
        "ingested_at": document.ingested_at.isoformat(),
        "reported_at": document.reported_at.isoformat() if document.reported_at else None,
        "metadata": dict(document.metadata),
        "text": document.text,
    }


@main.command()
@click.argument("doc_id")
@json_option
@as_option
@click.pass_context
@handle_errors
def show(context: click.Context, doc_id: str, as_json: bool, as_user: str | None) -> None:
    """Show one document, if the reader may read it."""
    workspace = _workspace(context)
    document = workspace.show(workspace.user(as_user), doc_id)
    if as_json:
        _emit_json(document_json(document))
        return
    console.print(f"[bold]{document.marking}[/]", highlight=False)
    console.print(f"[bold]{document.title}[/]  ({document.id})", highlight=False)
    grade = f"{document.grade} ({document.grade.describe()})" if document.grade else "ungraded"
    reported = document.reported_at.isoformat() if document.reported_at else "not stated"
    console.print(
        f"source {document.source} · {document.origin} · language {document.language} · "
        f"grade {grade} · reported {reported}",
        highlight=False,
    )
    click.echo("")
    click.echo(document.text)


@main.command()
@json_option
@as_option
@click.pass_context
@handle_errors
def stats(context: click.Context, as_json: bool, as_user: str | None) -> None:
    """What the store holds, counted as the reader may see it."""
    workspace = _workspace(context)
    reader = workspace.user(as_user)
    counted = workspace.stats(reader)
    payload: dict[str, Any] = {
        "user": reader.name,
        "documents": counted.documents,
        "chunks": counted.chunks,
        "by_marking": dict(counted.by_marking),
        "by_language": dict(counted.by_language),
        "by_source": dict(counted.by_source),
    }
    if as_json:
        _emit_json(payload)
        return
    click.echo(f"{reader.name} may read {counted.documents} documents ({counted.chunks} passages)")
    for heading in ("by_marking", "by_language", "by_source"):
        table = Table(heading.replace("_", " "), "documents")
        for key, count in payload[heading].items():
            table.add_row(str(key), str(count))
        console.print(table)


# ------------------------------------------------------------------------ audit
@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@json_option
@click.pass_context
@handle_errors
def audit_verify(context: click.Context, as_json: bool) -> None:
    """Check every link of the audit chain; exit 4 naming the first broken row."""
    workspace = _workspace(context)
    rows, head = workspace.verify_audit()
    if as_json:
        _emit_json({"intact": True, "rows": rows, "head": head})
    else:
        click.echo(f"audit chain intact: {rows} rows, head {head}")


# ------------------------------------------------------------------------- demo
@main.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the demo workspace here and keep it.",
)
@handle_errors
def demo(keep: Path | None) -> None:
    """Ingest the exercise scenario and show what users of several nations may see."""
    from guetteur.demo import run_demo

    run_demo(console, keep)
