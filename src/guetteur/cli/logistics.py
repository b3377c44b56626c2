"""Commands on logistics: import tables, forecast consumption, plan a resupply."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from guetteur import arguments
from guetteur._exceptions import InvalidInputError
from guetteur.cli._common import (
    EXIT_PARTIAL,
    as_option,
    console,
    emit_json,
    handle_errors,
    json_option,
    main,
    open_workspace,
    parse_nations,
    parse_since,
)
from guetteur.ingest._decode import printable
from guetteur.logistics.render import plan_cot, plan_markdown
from guetteur.logistics.tables import CLASS_UNITS
from guetteur.logistics.threats import THREAT_KINDS
from guetteur.security.markings import parse_marking
from guetteur.views import (
    logistics_forecast_json,
    logistics_import_json,
    logistics_plan_geojson,
    logistics_plan_json,
)


def _days(value: str, option: str) -> int:
    """'7d', '1w', '24h' → whole days."""
    try:
        seconds = arguments.parse_duration(value).total_seconds()
    except InvalidInputError as error:
        raise click.BadParameter(str(error), param_hint=option) from None
    if seconds < 86400 or seconds % 86400:
        raise click.BadParameter(f"{value!r}: whole days (1d, 7d, 2w)", param_hint=option)
    return int(seconds // 86400)


def _seconds(value: str, option: str) -> float:
    try:
        return arguments.parse_duration(value).total_seconds()
    except InvalidInputError as error:
        raise click.BadParameter(str(error), param_hint=option) from None


def _shown(text: str) -> str:
    return escape(printable(text))


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(f"{c} {q:,} {CLASS_UNITS[c]}" for c, q in amounts.items())


@main.group()
def logistics() -> None:
    """Logistics tables, consumption forecasts and resupply plans around threats."""


@logistics.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--marking", help="Floor marking of the tables (raised by their banners).")
@json_option
@as_option
@click.pass_context
@handle_errors
def import_(
    context: click.Context,
    files: tuple[Path, ...],
    marking: str | None,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Import depots, units, vehicles, consumption, windows or a distance matrix (CSV, XLSX)."""
    workspace = open_workspace(context)
    floor = parse_marking(marking) if marking else None
    report = workspace.logistics_import(workspace.user(as_user), list(files), floor)
    payload = logistics_import_json(report)
    if as_json:
        emit_json(payload)
    else:
        for table in payload["tables"]:
            click.echo(
                f"{printable(table['path'])}: {table['kind']} table, {table['rows']} rows "
                f"({table['marking'] or 'marked row by row'})"
            )
        for bad in payload["failed"]:
            where = f"row {bad['row']}" if bad["row"] is not None else "table"
            column = f", column {bad['column']}" if bad["column"] else ""
            click.echo(f"  failed: {bad['path']} {where}{column}: {bad['error']}")
        click.echo(f"{payload['imported']} rows imported, {len(payload['failed'])} failed")
    if payload["failed"]:
        sys.exit(EXIT_PARTIAL)


@logistics.command()
@click.option("--horizon", default="7d", show_default=True, help="Days to forecast (7d, 2w).")
@click.option("--quantile", type=float, default=0.9, show_default=True, help="Quantile to deliver.")
@json_option
@as_option
@click.pass_context
@handle_errors
def forecast(
    context: click.Context, horizon: str, quantile: float, as_json: bool, as_user: str | None
) -> None:
    """Each unit's consumption per supply class over the horizon, with intervals."""
    days = _days(horizon, "--horizon")
    workspace = open_workspace(context)
    found = workspace.logistics_forecast(workspace.user(as_user), days, quantile)
    payload = logistics_forecast_json(found, days, quantile)
    if as_json:
        emit_json(payload)
        return
    if not found:
        click.echo("no consumption history you may read")
        return
    console.print(f"[bold]{payload['marking']}[/]", highlight=False)
    table = Table(
        "unit", "class", "method", "days", f"mean/{days}d", f"q{quantile:g}", "unit of", "marking"
    )
    for item in payload["forecasts"]:
        table.add_row(
            _shown(item["unit"]), item["class"], f"{item['method']} ({item['pattern']})",
            str(item["history_days"]), f"{item['total_mean']:,.0f}", f"{item['deliver']:,}",
            item["measure"], item["marking"],
        )  # fmt: skip
    console.print(table)


def _radius(values: tuple[str, ...]) -> dict[str, float]:
    radii: dict[str, float] = {}
    for value in values:
        kind, _, km = value.partition("=")
        try:
            radii[kind.strip().lower()] = float(km)
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: KIND=KM, e.g. ambush=8", param_hint="--radius"
            ) from None
    return radii


def _kinds(value: str) -> tuple[str, ...]:
    kinds = tuple(k.strip().lower() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in THREAT_KINDS]
    if unknown or not kinds:
        raise click.BadParameter(
            f"{value!r}: one or more of {','.join(THREAT_KINDS)}", param_hint="--threat-kinds"
        )
    return kinds


@logistics.command()
@click.option("--avoid-threats", is_flag=True, help="Route round threat zones from reports.")
@click.option(
    "--threat-penalty", type=float, metavar="KM", help="Charge KM per zone crossed instead."
)
@click.option(
    "--threat-kinds", default=",".join(THREAT_KINDS), show_default=True,
    help="Kinds of reported events that make a zone.",
)  # fmt: skip
@click.option("--radius", multiple=True, metavar="KIND=KM", help="Zone radius of a kind.")
@click.option(
    "--since", default="48h", show_default=True, help="Threats reported since (24h or ISO)."
)
@click.option("--time-limit", default="30s", show_default=True, help="Solver time (30s, 2m).")
@click.option("--horizon", default="1d", show_default=True, help="Forecast demand horizon.")
@click.option("--quantile", type=float, default=0.9, show_default=True, help="Demand quantile.")
@click.option("--day", help="The plan's day (YYYY-MM-DD) when the tables give no date.")
@click.option("--releasable-to", help="Tear-line: only rows and reports releasable to CCC[,CCC].")
@click.option("--geojson", "as_geojson", is_flag=True, help="Print GeoJSON (routes as lines).")
@click.option("--cot", "as_cot", is_flag=True, help="Print the routes as CoT events (b-m-r).")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown.")
@json_option
@as_option
@click.pass_context
@handle_errors
def plan(
    context: click.Context,
    avoid_threats: bool,
    threat_penalty: float | None,
    threat_kinds: str,
    radius: tuple[str, ...],
    since: str,
    time_limit: str,
    horizon: str,
    quantile: float,
    day: str | None,
    releasable_to: str | None,
    as_geojson: bool,
    as_cot: bool,
    as_markdown: bool,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Plan the resupply of the units from the depots, around reported threats."""
    if sum((as_geojson, as_cot, as_markdown, as_json)) > 1:
        raise click.UsageError("choose one of --json, --geojson, --cot, --markdown")
    try:
        chosen_day = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter(f"{day!r}: YYYY-MM-DD", param_hint="--day") from None
    workspace = open_workspace(context)
    reader = workspace.user(as_user)
    found = workspace.logistics_plan(
        reader,
        avoid_threats=avoid_threats,
        since=parse_since(since),
        time_limit=_seconds(time_limit, "--time-limit"),
        releasable_to=parse_nations(releasable_to),
        threat_kinds=_kinds(threat_kinds),
        radius_km=_radius(radius),
        penalty_km=threat_penalty,
        horizon_days=_days(horizon, "--horizon"),
        quantile=quantile,
        day=chosen_day,
    )
    if as_json:
        emit_json(logistics_plan_json(found))
        return
    if as_geojson:
        emit_json(logistics_plan_geojson(found))
        return
    if as_markdown:
        click.echo(plan_markdown(found))
        return
    if as_cot:
        now = datetime.now(UTC)
        events = plan_cot(
            found,
            now,
            lambda route: (
                "guetteur.route."
                + workspace.store.opaque_id("route", found.day.isoformat(), route.vehicle)
            ),
        )
        for event in events:
            click.echo(event.decode())
        return
    payload = logistics_plan_json(found)
    console.print(f"[bold]{payload['marking']}[/]", highlight=False)
    state = "feasible" if found.feasible else "[bold red]not feasible[/]"
    console.print(
        f"plan for {found.day.isoformat()}: {state}, {found.distance_km:,.1f} km, "
        f"{len(found.routes)} routes",
        highlight=False,
    )
    for route in found.routes:
        table = Table(title=_shown(f"{route.vehicle} from {route.depot}, {route.distance_km} km"))
        for heading in ("#", "stop", "arrival", "delivery"):
            table.add_column(heading)
        for number, stop in enumerate(route.stops, start=1):
            table.add_row(
                str(number), _shown(stop.name), stop.arrival.strftime("%d %H:%MZ"),
                _amounts(dict(stop.delivery)),
            )  # fmt: skip
        console.print(table)
    for avoided in found.avoided:
        console.print(f"threat: {_shown(avoided.reason)} (report {avoided.doc_id})")
    for unserved in found.unserved:
        console.print(
            f"[bold]not served[/]: {_shown(unserved.name)} "
            f"({_amounts(dict(unserved.demand))}): {_shown(unserved.reason)}",
            highlight=False,
        )
    for line in found.explanation:
        console.print(f"[bold]why[/]: {_shown(line)}", highlight=False)
