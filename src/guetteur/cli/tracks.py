"""Commands on tracks: the CoT positions a reader may read, as a list, GeoJSON or KML."""

from __future__ import annotations

from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table

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
from guetteur.cop.symbols import sidc
from guetteur.ingest._decode import printable
from guetteur.views import track_detail_json, tracks_geojson, tracks_json, tracks_kml


def _dtg(moment: datetime | None) -> str:
    """A NATO date-time group: 141918ZJAN16."""
    return moment.strftime("%d%H%MZ%b%y").upper() if moment is not None else ""


def _shown(text: str) -> str:
    """Text from a device (uid, callsign, source), safe for the terminal and for rich."""
    return escape(printable(text))


@main.command()
@click.option("--bbox", help="Only tracks last reported inside W,S,E,N (decimal degrees).")
@click.option("--since", help="Only positions at or after: a duration (24h, 7d) or an ISO time.")
@click.option("--geojson", "as_geojson", is_flag=True, help="Print a GeoJSON FeatureCollection.")
@click.option("--kml", "as_kml", is_flag=True, help="Print a KML document.")
@json_option
@as_option
@click.pass_context
@handle_errors
def tracks(
    context: click.Context,
    bbox: str | None,
    since: str | None,
    as_geojson: bool,
    as_kml: bool,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Tracks (CoT uids) where the reader's positions last put them."""
    if sum((as_geojson, as_kml, as_json)) > 1:
        raise click.UsageError("choose one of --json, --geojson, --kml")
    workspace = open_workspace(context)
    found = workspace.tracks(workspace.user(as_user), parse_bbox(bbox), parse_since(since))
    if as_geojson:
        emit_json(tracks_geojson(found))
        return
    if as_kml:
        click.echo(tracks_kml(found))
        return
    if as_json:
        emit_json(tracks_json(found))
        return
    if not found:
        click.echo("no tracks")
        return
    table = Table("uid", "callsign", "type", "symbol", "lat, lon", "time", "marking")
    for track in found:
        last = track.positions[-1]
        table.add_row(
            _shown(track.uid),
            _shown(track.callsign or ""),
            track.type,
            sidc(track.type) or "",
            f"{last.lat:.5f}, {last.lon:.5f}",
            _dtg(last.time),
            str(last.marking),
        )
    console.print(table)


@main.command()
@click.argument("uid")
@json_option
@as_option
@click.pass_context
@handle_errors
def track(context: click.Context, uid: str, as_json: bool, as_user: str | None) -> None:
    """One track: its positions with their markings and sources, and events near it."""
    workspace = open_workspace(context)
    reader = workspace.user(as_user)
    found = workspace.track(reader, uid)
    history = workspace.track_history(reader, found)
    payload = track_detail_json(found, history)
    if as_json:
        emit_json(payload)
        return
    console.print(f"[bold]{payload['marking']}[/]", highlight=False)
    title = _shown(found.callsign or found.uid)
    facts = [found.type, sidc(found.type), found.affiliation, found.dimension, found.group]
    kind = _shown(", ".join(fact for fact in facts if fact))
    console.print(f"[bold]{title}[/] ({kind})  uid {_shown(found.uid)}", highlight=False)
    table = Table("time", "lat, lon", "hae", "course", "speed", "how", "marking", "source")
    for p in found.positions:
        table.add_row(
            _dtg(p.time),
            f"{p.lat:.5f}, {p.lon:.5f}",
            f"{p.hae:.0f}" if p.hae is not None else "",
            f"{p.course:.0f}" if p.course is not None else "",
            f"{p.speed:.1f}" if p.speed is not None else "",
            p.how,
            str(p.marking),
            _shown(p.source),
        )
    console.print(table)
    if history:
        click.echo("events near it or naming it:")
        for event in history:
            what = printable(" ".join(event.what.split())[:120])
            click.echo(f"  {_dtg(event.at)} {what} ({event.marking}, {event.doc_id})")
