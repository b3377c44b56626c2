"""Commands that write products: cited answers, briefs, standing requirements."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from guetteur.cli._common import (
    LANG,
    as_option,
    console,
    emit_json,
    handle_errors,
    json_option,
    main,
    open_workspace,
    parse_bbox,
    parse_nations,
    parse_since,
)
from guetteur.views import (
    answer_json,
    brief_json,
    watch_requirements_json,
    watch_runs_json,
)


@main.command()
@click.argument("question")
@click.option("--lang", "language", type=LANG, help="Answer language (default: the question's).")
@json_option
@as_option
@click.pass_context
@handle_errors
def ask(
    context: click.Context, question: str, language: str | None, as_json: bool, as_user: str | None
) -> None:
    """Answer a question from the reports you may read, every sentence cited."""
    from guetteur.products.render import answer_markdown

    workspace = open_workspace(context)
    answer = workspace.ask(workspace.user(as_user), question, language)
    if as_json:
        emit_json(answer_json(answer))
    else:
        click.echo(answer_markdown(answer))


@main.command()
@click.option("--since", help="Period start: a duration (24h, 7d) or an ISO date.")
@click.option("--topic", help="Only what bears on this topic (searched in FR and EN).")
@click.option("--bbox", help="Only what is located in W,S,E,N (decimal degrees).")
@click.option(
    "--format",
    "form",
    type=click.Choice(["intsum", "sitrep", "daily"]),
    default="intsum",
    show_default=True,
)
@click.option("--lang", "language", type=LANG, default="en", show_default=True)
@click.option(
    "--releasable-to",
    "releasable_to",
    metavar="CCC[,CCC]",
    help="Tear-line: use only sources releasable to these nations (and caveat-free).",
)
@json_option
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown (the default).")
@click.option(
    "--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PDF."
)
@as_option
@click.pass_context
@handle_errors
def brief(
    context: click.Context,
    since: str | None,
    topic: str | None,
    bbox: str | None,
    form: str,
    language: str,
    releasable_to: str | None,
    as_json: bool,
    as_markdown: bool,
    pdf_path: Path | None,
    as_user: str | None,
) -> None:
    """Write an INTSUM, SITREP or daily brief, marked by what it cites."""
    from guetteur.products.render import brief_markdown, brief_pdf

    workspace = open_workspace(context)
    product = workspace.brief(
        workspace.user(as_user),
        form=form,
        language=language,
        since=parse_since(since),
        topic=topic,
        bbox=parse_bbox(bbox),
        releasable_to=parse_nations(releasable_to),
    )
    if pdf_path is not None:
        brief_pdf(product, pdf_path)
        click.echo(f"{pdf_path}: {product.marking}", err=True)
    if as_json:
        emit_json(brief_json(product))
    elif pdf_path is None or as_markdown:
        click.echo(brief_markdown(product))


@main.group()
def watch() -> None:
    """Standing intelligence requirements: what is new for each since the last run."""


@watch.command("add")
@click.argument("name")
@click.argument("requirement")
@as_option
@click.pass_context
@handle_errors
def watch_add(context: click.Context, name: str, requirement: str, as_user: str | None) -> None:
    """Add a requirement, in plain words, owned by the acting user."""
    workspace = open_workspace(context)
    added = workspace.watch_add(workspace.user(as_user), name, requirement)
    click.echo(f"requirement {added.name} added for {added.owner}")


@watch.command("list")
@json_option
@as_option
@click.pass_context
@handle_errors
def watch_list(context: click.Context, as_json: bool, as_user: str | None) -> None:
    """List the acting user's requirements."""
    workspace = open_workspace(context)
    payload = watch_requirements_json(workspace.watch_list(workspace.user(as_user)))
    if as_json:
        emit_json(payload)
        return
    table = Table("name", "requirement", "last run")
    for row in payload["requirements"]:
        table.add_row(row["name"], row["requirement"], row["last_run_at"] or "never")
    console.print(table)


@watch.command("run")
@json_option
@as_option
@click.pass_context
@handle_errors
def watch_run(context: click.Context, as_json: bool, as_user: str | None) -> None:
    """Show what is new for each requirement since its last run, with a cited digest."""
    from guetteur.products.render import portion

    workspace = open_workspace(context)
    runs = workspace.watch_run(workspace.user(as_user))
    if as_json:
        emit_json(watch_runs_json(runs))
        return
    if not runs:
        click.echo('no requirements: add one with `guetteur watch add NAME "REQUIREMENT"`')
    for run in runs:
        console.rule(f"[bold]{run.requirement.name}[/] — {len(run.hits)} new", align="left")
        if run.marking is None:
            click.echo("nothing new")
            continue
        click.echo(str(run.marking))
        for statement in run.digest:
            cites = ", ".join(run.doc_ids[n - 1] for n in statement.citations)
            click.echo(f"  {portion(statement.marking, run.marking)} {statement.text} [{cites}]")
        for hit in run.hits:
            click.echo(f"    {hit.doc_id}: {hit.reason}")
