"""Cyber commands: alerts, Sigma rules, incidents, partner intelligence, ATT&CK."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click
from rich.table import Table

from guetteur.arguments import MAX_LISTED
from guetteur.cli._common import (
    EXIT_PARTIAL,
    as_option,
    console,
    emit_json,
    handle_errors,
    json_option,
    main,
    open_workspace,
    parse_since,
)
from guetteur.model import Severity
from guetteur.pipeline.alerts import AlertFormat
from guetteur.security.markings import parse_marking
from guetteur.views import (
    alerts_ingest_json,
    alerts_json,
    attack_map_json,
    incident_detail_json,
    incident_markdown,
    incidents_json,
    intel_import_json,
    rules_load_json,
)


@main.group(invoke_without_command=True)
@click.option("--since", help="Only alerts at or after: a duration (24h, 7d) or an ISO time.")
@click.option("--rule", "rule_id", help="Only alerts of this rule (Sigma id or Suricata sid).")
@click.option("--limit", type=click.IntRange(1, MAX_LISTED), help="Show at most N (default: all).")
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
    workspace = open_workspace(context)
    found = workspace.alerts(workspace.user(as_user), parse_since(since), rule_id, limit)
    if as_json:
        emit_json(alerts_json(found))
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
    workspace = open_workspace(context)
    report = workspace.ingest_alerts(
        workspace.user(as_user),
        list(paths),
        source,
        parse_marking(marking) if marking else None,
        cast(AlertFormat, fmt),
    )
    if as_json:
        emit_json(alerts_ingest_json(report))
    else:
        click.echo(
            f"alerts {report.alerts}, context events {report.events}, "
            f"duplicates {report.duplicates}, failed {len(report.failed)}"
        )
        for failure in report.failed:
            click.echo(f"  failed: {failure['path']}: {failure['error']}", err=True)
    if report.failed:
        sys.exit(EXIT_PARTIAL)


_SEVERITIES = [s.name.lower() for s in Severity]


@main.command()
@click.option("--since", help="Only alerts at or after: a duration (24h, 7d) or an ISO time.")
@click.option("--min-severity", type=click.Choice(_SEVERITIES), help="Hide less severe incidents.")
@click.option("--limit", type=click.IntRange(1, MAX_LISTED), help="Show at most N (default: all).")
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
    workspace = open_workspace(context)
    floor = Severity[min_severity.upper()] if min_severity else None
    found = workspace.incidents(workspace.user(as_user), parse_since(since), floor)[:limit]
    if as_json:
        emit_json(incidents_json(found))
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
    workspace = open_workspace(context)
    view = workspace.incident(workspace.user(as_user), incident_id)
    if as_stix:
        emit_json(workspace.incident_stix(view, lang))
        return
    synthesis = workspace.incident_synthesis(workspace.user(as_user), view, lang)
    if as_markdown:
        click.echo(incident_markdown(view, lang, synthesis))
        return
    if as_json:
        emit_json(incident_detail_json(view, synthesis, lang))
        return
    i = view.incident
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
    workspace = open_workspace(context)
    report = workspace.import_intel(
        workspace.user(as_user), file, source, parse_marking(marking) if marking else None
    )
    if as_json:
        emit_json(intel_import_json(report))
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
    workspace = open_workspace(context)
    loaded, raised = workspace.load_rules(
        workspace.user(as_user), folder, parse_marking(marking) if marking else None
    )
    payload = rules_load_json(loaded, raised)
    if as_json:
        emit_json(payload)
        return
    click.echo(
        f"loaded {len(loaded.rules)} rules; {raised} new alerts you may read on stored events"
    )
    for item in payload["unsupported"]:
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
    workspace = open_workspace(context)
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
    mapper = open_workspace(context).attack_mapper()
    found = mapper.map_text(content, top=top)
    payload = attack_map_json(found, mapper.catalogue)
    if as_json:
        emit_json(payload)
        return
    for item in payload["techniques"]:
        click.echo(f"{item['id']:<11} {item['score']:.3f}  {item['name']}")
