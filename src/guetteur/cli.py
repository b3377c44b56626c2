"""The `guetteur` command: one click group, shared options, meaningful exit codes.

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
from typing import Any, TypeVar, cast

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from guetteur._exceptions import AuditChainError, GuetteurError
from guetteur.cyber.triage import summarise
from guetteur.model import ENTITY_TYPES, Document, Grade, Severity
from guetteur.pipeline.alerts import AlertFormat
from guetteur.pipeline.enrichment import GAZETTEER_FILE
from guetteur.pipeline.ingest import IngestReport
from guetteur.products import IncidentView
from guetteur.products.incident_synthesis import IncidentSynthesis
from guetteur.security.anchor import create_key_file, fingerprint, public_key_pem
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import BBox, EntitySummary, EventRow, StoredAlert, User
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
        "role": user.role,
        "clearance": user.clearance.level.name.replace("_", " "),
        "nationality": user.clearance.nationality,
        "caveats": sorted(user.clearance.caveats),
    }


_ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(["security-officer", "analyst", "reader"]),
    default="analyst",
    show_default=True,
    help="security-officer: users, markings, spills, audit; analyst: ingest, rules, "
    "intel, watches; reader: reads only.",
)


@users.command("add")
@click.argument("name")
@click.option("--clearance", required=True, help="e.g. 'NATO RESTRICTED'.")
@click.option("--nationality", required=True, help="ISO 3166 alpha-3, e.g. LUX.")
@click.option("--caveat", "caveats", multiple=True, help="A caveat the user holds (repeatable).")
@_ROLE_OPTION
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
    workspace = _workspace(context)
    user = workspace.add_user(
        name, parse_clearance(clearance, nationality, caveats), workspace.operator(), role
    )
    click.echo(
        f"user {user.name}: {user.clearance.level.name} {user.clearance.nationality} ({user.role})"
    )


@users.command("set")
@click.argument("name")
@click.option("--clearance", required=True, help="e.g. 'NATO RESTRICTED'.")
@click.option("--nationality", required=True, help="ISO 3166 alpha-3, e.g. LUX.")
@click.option("--caveat", "caveats", multiple=True, help="A caveat the user holds (repeatable).")
@_ROLE_OPTION
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
    workspace = _workspace(context)
    user = workspace.set_user(
        workspace.operator(), name, parse_clearance(clearance, nationality, caveats), role
    )
    click.echo(
        f"user {user.name}: {user.clearance.level.name} {user.clearance.nationality} ({user.role})"
    )


@users.command("list")
@json_option
@click.pass_context
@handle_errors
def users_list(context: click.Context, as_json: bool) -> None:
    """List users, roles and clearances."""
    workspace = _workspace(context)
    listed = [_user_json(user) for user in workspace.users(workspace.operator())]
    if as_json:
        _emit_json({"users": listed})
        return
    table = Table("name", "role", "clearance", "nationality", "caveats")
    for row in listed:
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
    workspace = _workspace(context)
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
    workspace = _workspace(context)
    new_id = workspace.remark(workspace.user(as_user), doc_id, parse_marking(marking), reason)
    click.echo(f"{doc_id}: now {parse_marking(marking)} (id {new_id})")


@main.command()
@click.argument("doc_id")
@click.option("--reason", required=True, help="Why (kept in the audit).")
@click.pass_context
@handle_errors
def withdraw(context: click.Context, doc_id: str, reason: str) -> None:
    """Remove a document and all derived from it from every index (security officers)."""
    workspace = _workspace(context)
    workspace.withdraw(workspace.operator(), doc_id, reason)
    click.echo(f"{doc_id}: withdrawn")


@main.command()
@json_option
@click.pass_context
@handle_errors
def spills(context: click.Context, as_json: bool) -> None:
    """Content written lower than it was already held (security officers only)."""
    workspace = _workspace(context)
    found = workspace.spills(workspace.operator())
    if as_json:
        _emit_json(
            {
                "spills": [
                    {
                        "at": spill.at.isoformat(),
                        "actor": spill.actor,
                        "doc_id": spill.doc_id,
                        "marking": str(spill.marking),
                        "held": [{"doc_id": d, "marking": str(m)} for d, m in spill.held],
                        "origin": spill.origin,
                    }
                    for spill in found
                ]
            }
        )
        return
    for spill in found:
        held = "; ".join(f"{d} at {m}" for d, m in spill.held)
        click.echo(
            f"{spill.at.isoformat()}  {spill.actor} wrote {spill.origin!r} at {spill.marking} "
            f"(id {spill.doc_id}); already held: {held}"
        )
    if not found:
        click.echo("no spills")


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
    as_json: bool,
    as_user: str | None,
) -> None:
    """Ingest files and folders (txt, md, html, pdf, docx, eml, rss/atom, json/jsonl)."""
    workspace = _workspace(context)
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
    )
    from guetteur.ingest._decode import printable

    # Paths come from the file system: a name holding a newline or an ANSI escape
    # must not fake a line or a colour, in text or JSON (json.dumps leaves C1
    # controls, bidi overrides and undecodable bytes as they are).
    failed = [
        {"path": printable(failure["path"]), "error": printable(failure["error"])}
        for failure in report.failed
    ]
    if as_json:
        _emit_json(
            {
                "ingested": report.ingested,
                "duplicates": report.duplicates,
                "raised": report.raised,
                "failed": failed,
            }
        )
    else:
        counts = (report.ingested, report.duplicates, report.raised, len(report.failed))
        click.echo("ingested {}, duplicates {}, raised {}, failed {}".format(*counts))
        for failure in failed:
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


def _summary_json(entity: EntitySummary) -> dict[str, Any]:
    return {
        "id": entity.id,
        "name": entity.name,
        "type": entity.type,
        "mentions": entity.mentions,
        "documents": entity.documents,
        "lat": entity.lat,
        "lon": entity.lon,
    }


@main.command()
@click.option("--type", "entity_type", type=click.Choice(ENTITY_TYPES), help="Only this type.")
@click.option("--limit", type=click.IntRange(1), help="Show at most N (default: all).")
@json_option
@as_option
@click.pass_context
@handle_errors
def entities(
    context: click.Context,
    entity_type: str | None,
    limit: int | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Entities found in the documents the reader may read, most mentioned first."""
    workspace = _workspace(context)
    found = workspace.entities(workspace.user(as_user), entity_type)[:limit]
    if as_json:
        _emit_json({"entities": [_summary_json(e) for e in found]})
        return
    table = Table("id", "type", "name", "mentions", "documents", "lat, lon")
    for e in found:
        where = f"{e.lat:.4f}, {e.lon:.4f}" if e.lat is not None and e.lon is not None else ""
        table.add_row(e.id, e.type, e.name, str(e.mentions), str(e.documents), where)
    console.print(table)


@main.command()
@click.argument("name_or_id")
@json_option
@as_option
@click.pass_context
@handle_errors
def entity(context: click.Context, name_or_id: str, as_json: bool, as_user: str | None) -> None:
    """One entity: aliases, type, coordinates, mentions and what it appears with."""
    workspace = _workspace(context)
    detail = workspace.entity(workspace.user(as_user), name_or_id)
    payload = {
        **_summary_json(detail.entity),
        "aliases": list(detail.aliases),
        "mentions": [
            {"doc_id": m.doc_id, "text": m.text, "start": m.start, "end": m.end,
             "marking": str(m.marking)}
            for m in detail.mentions
        ],
        "cooccurring": [_summary_json(e) for e in detail.cooccurring],
    }  # fmt: skip
    if as_json:
        _emit_json(payload)
        return
    e = detail.entity
    console.print(f"[bold]{e.name}[/] ({e.type}, {e.id})", highlight=False)
    if e.lat is not None and e.lon is not None:
        click.echo(f"position: {e.lat:.5f}, {e.lon:.5f}")
    click.echo(f"aliases: {', '.join(detail.aliases)}")
    click.echo(f"{e.mentions} mentions in {e.documents} documents:")
    for m in detail.mentions[:50]:
        click.echo(f"  {m.doc_id} [{m.start}:{m.end}] {m.text!r} ({m.marking})")
    if detail.cooccurring:
        click.echo("appears with: " + ", ".join(f"{c.name} ({c.type})" for c in detail.cooccurring))


def _event_json(event: EventRow) -> dict[str, Any]:
    return {
        "id": event.id,
        "doc_id": event.doc_id,
        "kind": event.kind,
        "what": event.what,
        "when": event.at.isoformat() if event.at else None,
        "lat": event.lat,
        "lon": event.lon,
        "place": event.place,
        "who": [{"id": i, "name": n, "type": t} for i, n, t in event.participants],
        "marking": str(event.marking),
        "start": event.start,
        "end": event.end,
        "detail": dict(event.detail),
    }


@main.command()
@click.option("--since", help="Only events at or after: a duration (24h, 7d) or an ISO time.")
@click.option("--bbox", help="Only events inside W,S,E,N (decimal degrees).")
@click.option("--geojson", "as_geojson", is_flag=True, help="Print a GeoJSON FeatureCollection.")
@json_option
@as_option
@click.pass_context
@handle_errors
def events(
    context: click.Context,
    since: str | None,
    bbox: str | None,
    as_geojson: bool,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Events (what, who, where, when) from the documents the reader may read."""
    workspace = _workspace(context)
    found = workspace.events(workspace.user(as_user), parse_since(since), parse_bbox(bbox))
    if as_geojson:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [e.lon, e.lat]},
                "properties": {k: v for k, v in _event_json(e).items() if k not in ("lat", "lon")},
            }
            for e in found
            if e.lat is not None and e.lon is not None
        ]
        _emit_json({"type": "FeatureCollection", "features": features})
        return
    if as_json:
        _emit_json({"events": [_event_json(e) for e in found]})
        return
    table = Table("when", "where", "what", "who", "marking", "doc", show_lines=True)
    for e in found:
        where = e.place or (f"{e.lat:.4f}, {e.lon:.4f}" if e.lat is not None else "")
        table.add_row(
            e.at.strftime("%d%H%MZ%b%y").upper() if e.at else "",
            where or "",
            e.what[:160],
            ", ".join(name for _, name, _ in e.participants),
            str(e.marking),
            e.doc_id,
        )
    console.print(table)


@main.command("reindex")
@as_option
@click.pass_context
@handle_errors
def reindex_command(context: click.Context, as_user: str | None) -> None:
    """Re-run enrichment on every stored document (after a model or lexicon change)."""
    workspace = _workspace(context)
    count = workspace.reindex(workspace.user(as_user))
    click.echo(f"re-enriched {count} documents readable by you")


# ------------------------------------------------------------------------ cyber
def _alert_json(stored: StoredAlert, incident_id: str | None) -> dict[str, Any]:
    a = stored.alert
    return {
        "id": a.id,
        "time": a.time.isoformat(),
        "signature": a.signature,
        "rule_id": a.rule_id,
        "severity": a.severity.name.lower(),
        "host": a.host,
        "src": a.src,
        "dst": a.dst,
        "techniques": list(a.techniques),
        "incident_id": incident_id,
        "detector": a.detector,
        "marking": str(stored.marking),
    }


@main.group(invoke_without_command=True)
@click.option("--since", help="Only alerts at or after: a duration (24h, 7d) or an ISO time.")
@click.option("--rule", "rule_id", help="Only alerts of this rule (Sigma id or Suricata sid).")
@click.option("--limit", type=click.IntRange(1), help="Show at most N (default: all).")
@json_option
@as_option
@click.pass_context
@handle_errors
def alerts(
    context: click.Context,
    since: str | None,
    rule_id: str | None,
    limit: int | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """List alerts the reader may read, oldest first (`alerts ingest` adds them)."""
    if context.invoked_subcommand is not None:
        return
    workspace = _workspace(context)
    found = workspace.alerts(workspace.user(as_user), parse_since(since), rule_id, limit)
    if as_json:
        _emit_json({"alerts": [_alert_json(a, incident) for a, incident in found]})
        return
    table = Table("time", "severity", "signature", "host", "src → dst", "marking")
    for stored, _ in found:
        a = stored.alert
        table.add_row(
            a.time.strftime("%Y-%m-%d %H:%M:%S"),
            a.severity.name.lower(),
            a.signature,
            a.host or "",
            f"{a.src or ''} → {a.dst or ''}",
            str(stored.marking),
        )
    console.print(table)


@alerts.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "eve", "sysmon", "evtx"]),
    default="auto",
    show_default=True,
    help="Input format; auto reads the first record.",
)
@click.option("--source", default="cert", show_default=True, help="Name of the sensor feed.")
@click.option("--marking", help="Marking of these alerts (alerts carry no banner).")
@json_option
@as_option
@click.pass_context
@handle_errors
def alerts_ingest(
    context: click.Context,
    paths: tuple[Path, ...],
    fmt: str,
    source: str,
    marking: str | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Ingest Suricata EVE and Windows event files (JSON, NDJSON, .evtx); runs loaded rules."""
    workspace = _workspace(context)
    report = workspace.ingest_alerts(
        workspace.user(as_user),
        list(paths),
        source,
        parse_marking(marking) if marking else None,
        cast(AlertFormat, fmt),
    )
    payload = {
        "alerts": report.alerts,
        "events": report.events,
        "duplicates": report.duplicates,
        "failed": report.failed,
    }
    if as_json:
        _emit_json(payload)
    else:
        click.echo(
            f"alerts {report.alerts}, context events {report.events}, "
            f"duplicates {report.duplicates}, failed {len(report.failed)}"
        )
        for failure in report.failed:
            click.echo(f"  failed: {failure['path']}: {failure['error']}", err=True)
    if report.failed:
        sys.exit(EXIT_PARTIAL)


def _incident_json(view: IncidentView) -> dict[str, Any]:
    i = view.incident
    return {
        "id": i.id,
        "title": i.title,
        "severity": i.severity.name.lower(),
        "alert_count": i.alert_count,
        "hosts": list(i.hosts),
        "techniques": list(i.techniques),
        "first_seen": i.first_seen.isoformat(),
        "last_seen": i.last_seen.isoformat(),
        "marking": str(view.marking),
    }


_SEVERITIES = [s.name.lower() for s in Severity]


@main.command()
@click.option("--since", help="Only alerts at or after: a duration (24h, 7d) or an ISO time.")
@click.option("--min-severity", type=click.Choice(_SEVERITIES), help="Hide less severe incidents.")
@click.option("--limit", type=click.IntRange(1), help="Show at most N (default: all).")
@json_option
@as_option
@click.pass_context
@handle_errors
def incidents(
    context: click.Context,
    since: str | None,
    min_severity: str | None,
    limit: int | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Alerts grouped into incidents, most severe first, from what the reader may read."""
    workspace = _workspace(context)
    floor = Severity[min_severity.upper()] if min_severity else None
    found = workspace.incidents(workspace.user(as_user), parse_since(since), floor)[:limit]
    if as_json:
        _emit_json({"incidents": [_incident_json(v) for v in found]})
        return
    table = Table()
    for heading in ("id", "severity", "alerts", "first seen", "marking"):
        table.add_column(heading, no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    for view in found:
        i = view.incident
        table.add_row(
            i.id,
            i.severity.name.lower(),
            str(i.alert_count),
            i.first_seen.strftime("%Y-%m-%d %H:%M"),
            str(view.marking),
            i.title,
        )
    console.print(table)


def incident_markdown(view: IncidentView, lang: str, synthesis: IncidentSynthesis) -> str:
    """The incident for a report: banner marking at top and bottom, cited alerts."""
    i = view.incident
    lines = [f"**{view.marking}**", "", f"# {i.title}", "", synthesis.text, ""]
    if synthesis.mode == "model":
        lines += [f"_(written by {synthesis.model_id}, checked against these facts:)_", ""]
        lines += [summarise(i, lang), ""]
    lines += [
        f"- severity: {i.severity.name.lower()} ({'; '.join(i.reasons) or 'highest alert level'})",
        f"- hosts: {', '.join(i.hosts)}",
        f"- techniques: {', '.join(i.techniques) or '-'}",
        f"- first seen {i.first_seen.isoformat()}, last seen {i.last_seen.isoformat()}",
        "",
        "| time | signature | src | dst | marking |",
        "|---|---|---|---|---|",
    ]
    for stored in view.alerts:
        a = stored.alert
        lines.append(
            f"| {a.time.isoformat()} | {a.signature} | {a.src or ''} | {a.dst or ''} "
            f"| {stored.marking} |"
        )
    lines += ["", f"**{view.marking}**"]
    return "\n".join(lines)


@main.command()
@click.argument("incident_id")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print a Markdown report.")
@click.option("--stix", "as_stix", is_flag=True, help="Print a STIX 2.1 bundle (validated).")
@click.option("--lang", type=click.Choice(["en", "fr"]), default="en", show_default=True)
@json_option
@as_option
@click.pass_context
@handle_errors
def incident(
    context: click.Context,
    incident_id: str,
    as_markdown: bool,
    as_stix: bool,
    lang: str,
    as_json: bool,
    as_user: str | None,
) -> None:
    """One incident: synthesis, severity reasons, hosts, techniques and its alerts."""
    workspace = _workspace(context)
    view = workspace.incident(workspace.user(as_user), incident_id)
    if as_stix:
        _emit_json(workspace.incident_stix(view, lang))
        return
    synthesis = workspace.incident_synthesis(workspace.user(as_user), view, lang)
    if as_markdown:
        click.echo(incident_markdown(view, lang, synthesis))
        return
    i = view.incident
    payload = {
        **_incident_json(view),
        "summary": synthesis.text,
        "summary_mode": synthesis.mode,
        "facts": summarise(i, lang),
        "reasons": list(i.reasons),
        "tactics": list(i.tactics),
        "signatures": [{"signature": s, "count": n} for s, n in i.signatures],
        "indicators": [
            {"kind": ind.kind, "value": ind.value, "intrusion_set": ind.intrusion_set,
             "marking": str(m)}
            for ind, m in view.indicators
        ],
        "intrusion_sets": view.intrusion_sets,
        "alerts": [_alert_json(a, i.id) for a in view.alerts],
    }  # fmt: skip
    if as_json:
        _emit_json(payload)
        return
    console.print(f"[bold]{view.marking}[/]", highlight=False)
    console.print(f"[bold]{i.title}[/] ({i.id}, {i.severity.name.lower()})", highlight=False)
    click.echo(synthesis.text)
    for reason in i.reasons:
        click.echo(f"  - {reason}")


@main.group()
def intel() -> None:
    """Threat intelligence from partners: STIX 2.x bundles and MISP events."""


@intel.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default="intel", show_default=True, help="Name of the partner feed.")
@click.option("--marking", help="Marking of this file's content (or the source's default).")
@json_option
@as_option
@click.pass_context
@handle_errors
def intel_import(
    context: click.Context,
    file: Path,
    source: str,
    marking: str | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Store a file's indicators (matched against alerts) and make its actors entities."""
    workspace = _workspace(context)
    report = workspace.import_intel(
        workspace.user(as_user), file, source, parse_marking(marking) if marking else None
    )
    payload = {
        "format": report.format,
        "indicators": report.indicators,
        "duplicates": report.duplicates,
        "objects": report.objects,
        "skipped": report.skipped,
        "doc_ids": report.doc_ids,
    }
    if as_json:
        _emit_json(payload)
        return
    click.echo(
        f"{report.format}: {report.indicators} new indicators ({report.duplicates} known), "
        f"{report.objects} objects; document {', '.join(report.doc_ids) or '(already stored)'}"
    )
    for reason, count in report.skipped.items():
        click.echo(f"  skipped {count}: {reason}")


@main.group()
def rules() -> None:
    """Sigma detection rules."""


@rules.command("load")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--marking",
    help="Marking of these rules (default: the 'sigma' source's); their alerts carry it too.",
)
@json_option
@as_option
@click.pass_context
@handle_errors
def rules_load(
    context: click.Context, folder: Path, marking: str | None, as_json: bool, as_user: str | None
) -> None:
    """Compile a folder of Sigma rules and run them over the stored Windows events."""
    workspace = _workspace(context)
    loaded, raised = workspace.load_rules(
        workspace.user(as_user), folder, parse_marking(marking) if marking else None
    )
    unsupported = [{"path": str(path), "reason": reason} for path, reason in loaded.unsupported]
    if as_json:
        _emit_json({"loaded": len(loaded.rules), "unsupported": unsupported, "alerts": raised})
        return
    click.echo(
        f"loaded {len(loaded.rules)} rules; {raised} new alerts you may read on stored events"
    )
    for item in unsupported:
        click.echo(f"  unsupported: {item['path']}: {item['reason']}")


@main.group()
def attack() -> None:
    """The MITRE ATT&CK catalogue and mapping of text to techniques."""


@attack.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@as_option
@click.pass_context
@handle_errors
def attack_import(context: click.Context, file: Path, as_user: str | None) -> None:
    """Load a techniques/tactics catalogue (STIX bundle, or techniques.csv + tactics.csv)."""
    workspace = _workspace(context)
    catalogue = workspace.import_attack(workspace.user(as_user), file)
    click.echo(f"imported {len(catalogue)} techniques, {len(catalogue.tactics)} tactics")


@attack.command("map")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 50))
@json_option
@click.pass_context
@handle_errors
def attack_map(
    context: click.Context, text: str | None, file: Path | None, top: int, as_json: bool
) -> None:
    """The ATT&CK techniques a text describes (French or English)."""
    if (text is None) == (file is None):
        raise click.UsageError("give the TEXT or --file PATH (one of them)")
    if text is not None:
        content = text
    else:
        assert file is not None  # one of them, checked above
        content = file.read_text(encoding="utf-8")
    mapper = _workspace(context).attack_mapper()
    found = mapper.map_text(content, top=top)
    techniques = [
        {"id": t.id, "name": mapper.catalogue.full_name(t), "score": round(score, 4)}
        for t, score in found
    ]
    if as_json:
        _emit_json({"techniques": techniques})
        return
    for item in techniques:
        click.echo(f"{item['id']:<11} {item['score']:.3f}  {item['name']}")


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
    workspace = _workspace(context)
    pinned = workspace.read_anchor(anchor, public_key) if anchor and public_key else None
    rows, head = workspace.verify_audit(pinned)
    if as_json:
        payload: dict[str, Any] = {"intact": True, "rows": rows, "head": head}
        if pinned is not None:
            payload["anchor"] = {"path": str(anchor), "rows": pinned.rows, "head": pinned.hash}
        _emit_json(payload)
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
    workspace = _workspace(context)
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
    from guetteur.products.render import answer_json, answer_markdown

    workspace = _workspace(context)
    answer = workspace.ask(workspace.user(as_user), question, language)
    if as_json:
        _emit_json(answer_json(answer))
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
    from guetteur.products.render import brief_json, brief_markdown, brief_pdf

    workspace = _workspace(context)
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
        _emit_json(brief_json(product))
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
    workspace = _workspace(context)
    added = workspace.watch_add(workspace.user(as_user), name, requirement)
    click.echo(f"requirement {added.name} added for {added.owner}")


@watch.command("list")
@json_option
@as_option
@click.pass_context
@handle_errors
def watch_list(context: click.Context, as_json: bool, as_user: str | None) -> None:
    """List the acting user's requirements."""
    workspace = _workspace(context)
    listed = workspace.watch_list(workspace.user(as_user))
    rows = [
        {
            "name": r.name,
            "requirement": r.text,
            "created_at": r.created_at.isoformat(),
            "last_run_at": r.last_run_at.isoformat() if r.last_run_at else None,
        }
        for r in listed
    ]
    if as_json:
        _emit_json({"requirements": rows})
        return
    table = Table("name", "requirement", "last run")
    for row in rows:
        table.add_row(row["name"], row["requirement"], row["last_run_at"] or "never")
    console.print(table)


@watch.command("run")
@json_option
@as_option
@click.pass_context
@handle_errors
def watch_run(context: click.Context, as_json: bool, as_user: str | None) -> None:
    """Show what is new for each requirement since its last run, with a cited digest."""
    from guetteur.products.render import portion, watch_json

    workspace = _workspace(context)
    runs = workspace.watch_run(workspace.user(as_user))
    if as_json:
        _emit_json({"requirements": [watch_json(run) for run in runs]})
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
