"""Commands on documents: ingest, search, show, stats, reindex."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from guetteur.cli._common import (
    EXIT_PARTIAL,
    as_option,
    console,
    emit_json,
    err_console,
    executor_option,
    handle_errors,
    json_option,
    main,
    open_workspace,
)
from guetteur.model import Grade
from guetteur.pipeline.enrichment import GAZETTEER_FILE
from guetteur.pipeline.ingest import IngestReport
from guetteur.security.markings import parse_marking
from guetteur.store import User
from guetteur.views import document_json, ingest_json, search_json, stats_json
from guetteur.workspace import Workspace


# ----------------------------------------------------------------------- ingest
def _progress_ingest(
    workspace: Workspace, actor: User, paths: list[Path], show_progress: bool, **options: Any
) -> IngestReport:
    if not show_progress:
        return workspace.ingest(actor, paths, **options)
    from rich.markup import escape

    from guetteur.ingest._decode import printable
    from guetteur.ingest.registry import iter_input_files

    follow_links = bool(options.get("follow_links"))
    total = sum(1 for _ in iter_input_files(paths, follow_links=follow_links))
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
            # Escaped twice: for the terminal (control characters) and for rich,
            # which would read "[red]" in a file name as markup.
            progress.update(task, advance=1, description=escape(printable(path.name)))

        return workspace.ingest(actor, paths, on_file=advance, **options)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--source", default="default", show_default=True, help="Name of the source feeding these files."
)
@click.option("--marking", help="Marking for inputs without a banner; a floor for those with one.")
@click.option("--grade", help="Admiralty grade (e.g. B2) for inputs that state none.")
@click.option(
    "--follow-links",
    is_flag=True,
    help="Follow links that lead outside the named folders (listed as skipped otherwise).",
)
@executor_option
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
    follow_links: bool,
    executor: str,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Ingest files and folders (txt, md, html, pdf, docx, eml, rss/atom, json/jsonl)."""
    workspace = open_workspace(context)
    actor = workspace.user(as_user)
    if not as_json and not (workspace.home / GAZETTEER_FILE).exists():
        err_console.print("building the gazetteer index (once per workspace, a few seconds)…")
    report = _progress_ingest(
        workspace,
        actor,
        list(paths),
        show_progress=not as_json and err_console.is_terminal,
        source=source,
        marking=parse_marking(marking) if marking else None,
        grade=Grade.parse(grade) if grade else None,
        follow_links=follow_links,
        executor=executor,
    )
    payload = ingest_json(report)  # file names made printable, for the text lines too
    if as_json:
        emit_json(payload)
    else:
        counts = (report.ingested, report.duplicates, report.raised, len(report.failed))
        click.echo("ingested {}, duplicates {}, raised {}, failed {}".format(*counts))
        if report.positions is not None:
            positions = (report.positions.stored, report.positions.duplicates)
            click.echo("track positions stored {}, duplicates {}".format(*positions))
        for failure in payload["failed"]:
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
    workspace = open_workspace(context)
    reader = workspace.user(as_user)
    results = workspace.search(reader, query, limit)
    if as_json:
        emit_json(search_json(results))
        return
    if not results:
        click.echo("no results")
        return
    table = Table("id", "marking", "grade", "title / snippet", show_lines=True)
    for r in results:
        table.add_row(r.id, str(r.marking), r.grade or "-", f"[bold]{r.title}[/]\n{r.snippet}")
    console.print(table)


@main.command()
@click.argument("doc_id")
@json_option
@as_option
@click.pass_context
@handle_errors
def show(context: click.Context, doc_id: str, as_json: bool, as_user: str | None) -> None:
    """Show one document, if the reader may read it."""
    workspace = open_workspace(context)
    document = workspace.show(workspace.user(as_user), doc_id)
    if as_json:
        emit_json(document_json(document))
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
    workspace = open_workspace(context)
    reader = workspace.user(as_user)
    counted = workspace.stats(reader)
    payload = stats_json(reader, counted)
    if as_json:
        emit_json(payload)
        return
    click.echo(f"{reader.name} may read {counted.documents} documents ({counted.chunks} passages)")
    for heading in ("by_marking", "by_language", "by_source"):
        table = Table(heading.replace("_", " "), "documents")
        for key, count in payload[heading].items():
            table.add_row(str(key), str(count))
        console.print(table)


@main.command("reindex")
@executor_option
@as_option
@click.pass_context
@handle_errors
def reindex_command(context: click.Context, executor: str, as_user: str | None) -> None:
    """Re-run enrichment on every stored document (after a model or lexicon change)."""
    workspace = open_workspace(context)
    count = workspace.reindex(workspace.user(as_user), executor=executor)
    click.echo(f"re-enriched {count} documents readable by you")
