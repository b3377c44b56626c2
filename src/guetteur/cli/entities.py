"""Commands on what enrichment found: entities and events, as each reader may know them."""

from __future__ import annotations

import click
from rich.table import Table

from guetteur.arguments import MAX_LISTED
from guetteur.cli._common import (
    as_option,
    console,
    emit_json,
    handle_errors,
    json_option,
    main,
    open_workspace,
    parse_bbox,
    parse_since,
)
from guetteur.model import ENTITY_TYPES
from guetteur.views import entities_json, entity_detail_json, events_geojson, events_json


@main.command()
@click.option("--type", "entity_type", type=click.Choice(ENTITY_TYPES), help="Only this type.")
@click.option("--limit", type=click.IntRange(1, MAX_LISTED), help="Show at most N (default: all).")
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
    workspace = open_workspace(context)
    found = workspace.entities(workspace.user(as_user), entity_type)[:limit]
    if as_json:
        emit_json(entities_json(found))
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
    workspace = open_workspace(context)
    detail = workspace.entity(workspace.user(as_user), name_or_id)
    if as_json:
        emit_json(entity_detail_json(detail))
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
    for track in detail.tracks:
        last = track.positions[-1]
        click.echo(
            f"track {track.uid} ({track.type}): {last.lat:.5f}, {last.lon:.5f} at "
            f"{last.time.isoformat()} ({last.marking})"
        )


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
    workspace = open_workspace(context)
    found = workspace.events(workspace.user(as_user), parse_since(since), parse_bbox(bbox))
    if as_geojson:
        emit_json(events_geojson(found))
        return
    if as_json:
        emit_json(events_json(found))
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
