"""`guetteur demo`: the core promise on one screen.

Builds a fresh workspace, adds users of four nations and clearances, ingests
the fictional exercise scenario shipped in examples/, then runs the same
searches as each user: every one sees only what their clearance, nation and
caveats allow, and a French question finds English reports.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from guetteur._exceptions import GuetteurError, NotFoundError
from guetteur.ingest.registry import iter_input_files
from guetteur.model import Level
from guetteur.products.render import answer_markdown, brief_markdown
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

__all__ = ["DEMO_USERS", "run_demo", "scenario_path"]

# name → (clearance, nationality, caveats). The first is the default user.
DEMO_USERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ops": ("NATO SECRET", "FRA", ("CRYPTO",)),
    "deu_nc": ("NATO CONFIDENTIAL", "DEU", ()),
    "lux_nr": ("NATO RESTRICTED", "LUX", ()),
    "usa_ns": ("NATO SECRET", "USA", ()),
}
DEMO_QUERIES = [
    "frappe de drone sur le dépôt de carburant",
    "railway bridge sabotage",
    "hameçonnage réseau logistique du port",
]
HEADINGS = ("user", "#", "doc", "lang", "marking", "title")
# Open-source inputs of the scenario carry no banner: this is their floor.
DEMO_FLOOR_MARKING = "NATO UNCLASSIFIED"


def scenario_path() -> Path:
    """The scenario inside an installed wheel, else in the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "examples" / "scenario", here.parents[1] / "examples" / "scenario"):
        if candidate.is_dir():
            return candidate
    raise GuetteurError("the exercise scenario (examples/scenario) is not installed with guetteur")


def run_demo(
    console: Console, keep: Path | None = None, serve: bool = False, port: int = 8443
) -> None:
    """The demo; with `serve`, then the web application on it until interrupted."""
    scenario = scenario_path()
    with tempfile.TemporaryDirectory(prefix="guetteur-demo-") as scratch:
        home = keep or Path(scratch) / "workspace"
        first, *others = DEMO_USERS.items()
        name, (level, nation, caveats) = first
        with Workspace.create(home, name, parse_clearance(level, nation, caveats)) as workspace:
            for other, (level, nation, caveats) in others:
                workspace.add_user(other, parse_clearance(level, nation, caveats), actor=name)
            _ingest(console, workspace, scenario)
            _visibility(console, workspace)
            for query in DEMO_QUERIES:
                _search(console, workspace, query)
            _denied_show(console, workspace)
            _ask(console, workspace)
            _brief(console, workspace)
            _resupply(console, workspace, scenario)
            rows, head = workspace.verify_audit()
            console.print(
                f"\naudit chain intact: {rows} events, head {head[:16]}…", highlight=False
            )
            passwords = _one_time_passwords(workspace) if serve else {}
        if keep:
            console.print(f"workspace kept in {keep} (GUETTEUR_HOME={keep})", highlight=False)
        if serve:
            _serve(console, home, port, passwords)


def _ingest(console: Console, workspace: Workspace, scenario: Path) -> None:
    console.rule("[bold]1. Ingest the exercise scenario")
    console.print("(the first ingest of a workspace also indexes the gazetteer: a few seconds)")
    files = list(iter_input_files([scenario]))
    with Progress(
        TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("", total=len(files))
        report = workspace.ingest(
            workspace.user(),
            [scenario],
            source="exercise",
            marking=parse_marking(DEMO_FLOOR_MARKING),
            on_file=lambda path: progress.advance(task),
        )
    console.print(
        f"{len(files)} files → {report.ingested} documents stored, "
        f"{report.duplicates} duplicates, {len(report.failed)} failed "
        f"(inputs without a banner are marked at least {DEMO_FLOOR_MARKING})",
        highlight=False,
    )
    for failure in report.failed:
        console.print(f"  failed: {failure['path']}: {failure['error']}", highlight=False)


def _visibility(console: Console, workspace: Workspace) -> None:
    console.rule("[bold]2. Who may read what")
    table = Table("user", "clearance", "nation", "caveats", "documents", "entities", "events")
    for user in workspace.users(workspace.operator()):
        table.add_row(
            user.name,
            user.clearance.level.name.replace("_", " "),
            user.clearance.nationality,
            ", ".join(sorted(user.clearance.caveats)) or "-",
            str(workspace.stats(user).documents),
            str(len(workspace.entities(user))),
            str(len(workspace.events(user))),
        )
    console.print(table)


def _search(console: Console, workspace: Workspace, query: str) -> None:
    console.rule(f"[bold]3. Same search, four readers: « {query} »")
    rows: list[tuple[str, ...]] = []
    for user in workspace.users(workspace.operator()):
        results = workspace.search(user, query, limit=3)
        if not results:
            rows.append((user.name, "-", "-", "-", "-", "(nothing readable matches)"))
        for rank, result in enumerate(results, 1):
            rows.append(
                (
                    user.name if rank == 1 else "",
                    str(rank),
                    result.id[:8],
                    result.language,
                    str(result.marking),
                    result.title,
                )
            )
    # Every column but the title keeps its full width (the marking is the point);
    # titles are cut to what the terminal has left.
    widths = [max(len(heading), *(len(r[i]) for r in rows)) for i, heading in enumerate(HEADINGS)]
    room = max(20, console.width - sum(widths[:-1]) - 3 * len(HEADINGS) - 1)
    table = Table(*HEADINGS)
    for row in rows:
        title = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "…"
        table.add_row(*row[:-1], title)
    console.print(table)


DEMO_QUESTION = "Où la Krasukha-4 a-t-elle été déplacée ?"


def _ask(console: Console, workspace: Workspace) -> None:
    mode = "a model" if workspace.model() is not None else "extractive mode (no model configured)"
    console.rule(f"[bold]5. The same question, two readers — {mode}")
    for name in ("ops", "lux_nr"):
        answer = workspace.ask(workspace.user(name), DEMO_QUESTION)
        console.print(f"[bold]{name}[/] « {DEMO_QUESTION} »", highlight=False)
        console.print(answer_markdown(answer), highlight=False, markup=False)
        console.print()


def _brief(console: Console, workspace: Workspace) -> None:
    console.rule("[bold]6. A tear-line INTSUM for Luxembourg, written by the FRA officer")
    brief = workspace.brief(
        workspace.user("ops"), form="intsum", language="fr", releasable_to=frozenset({"LUX"})
    )
    sentences = sum(len(section.statements) for section in brief.sections)
    console.print(
        f"{brief.documents_read} documents releasable to LUX read, {sentences} sentences "
        f"citing {len(brief.sources)} sources; banner: {brief.marking}",
        highlight=False,
    )
    markdown = brief_markdown(brief).splitlines()
    console.print("\n".join(markdown[:18] + ["…"] + markdown[-1:]), highlight=False, markup=False)


def _one_time_passwords(workspace: Workspace) -> dict[str, str]:
    """A one-time password for each demo user (each changes it at first login)."""
    operator = workspace.operator()
    return {name: workspace.accounts.set_password(operator, name) for name in DEMO_USERS}


def _serve(console: Console, home: Path, port: int, passwords: dict[str, str]) -> None:
    from guetteur.api.server import serve
    from guetteur.api.web import STATIC

    console.rule("[bold]The web application")
    if not (STATIC / "index.html").is_file():
        console.print(
            "the web application is not built: run `make web` first (the API still answers)",
            highlight=False,
        )
    table = Table("user", "clearance", "nation", "one-time password")
    for name, (level, nation, _) in DEMO_USERS.items():
        table.add_row(name, level, nation, passwords[name])
    console.print(table)
    console.print(
        f"open http://127.0.0.1:{port}/ and log in as one of them: each password works once, "
        "then you choose your own. Ctrl-C stops the server (and deletes the demo workspace "
        "unless --keep was given).",
        highlight=False,
    )
    serve(home, host="127.0.0.1", port=port)


def _resupply(console: Console, workspace: Workspace, scenario: Path) -> None:
    """Logistics: the scenario's tables planned as the officer reads them, before and
    after a contact report of an ambush on the E20 comes in."""
    from datetime import UTC, datetime

    from guetteur.views import logistics_plan_json

    console.rule("[bold]Resupply of BG LYNX on 23 November, around a reported ambush")
    ops = workspace.user("ops")
    tables = sorted((scenario / "logistics").glob("*.csv"))
    imported = workspace.logistics_import(ops, tables)
    console.print(
        f"{len(imported.records)} rows of depots, units, vehicles and consumption imported "
        f"from {len(tables)} tables, {len(imported.failed)} refused",
        highlight=False,
    )
    since = datetime(2026, 11, 22, tzinfo=UTC)
    before = workspace.logistics_plan(ops, avoid_threats=True, since=since, time_limit=10)
    report = scenario.parent / "incoming" / "SPOTREP-0123-01_ambush_e20_kivioli.txt"
    workspace.ingest(ops, [report], source="movcon")
    after = workspace.logistics_plan(ops, avoid_threats=True, since=since, time_limit=10)
    lux = workspace.logistics_plan(
        workspace.user("lux_nr"), avoid_threats=True, since=since, time_limit=10
    )
    for title, plan in (("before the contact report", before), ("after it", after)):
        routes = logistics_plan_json(plan)["routes"]
        stops = sum(len(route["stops"]) for route in routes)
        console.print(
            f"ops, {title}: {plan.distance_km:,.1f} km, {len(routes)} routes, {stops} stops, "
            f"{'feasible' if plan.feasible else 'not feasible'}; marking {plan.marking}",
            highlight=False,
        )
    for avoided in after.avoided:
        console.print(f"  shaped by report {avoided.doc_id}: {avoided.reason}", highlight=False)
    extra = after.distance_km - before.distance_km
    console.print(
        f"  avoiding the ambush zone adds {extra:,.1f} km "
        f"({100 * extra / (before.distance_km or 1):.1f} %)",
        highlight=False,
    )
    console.print(
        f"lux_nr plans from what a LUX NATO RESTRICTED reader may read: "
        f"{sum(len(r.stops) for r in lux.routes)} stops, {lux.distance_km:,.1f} km, "
        f"marking {lux.marking}",
        highlight=False,
    )


def _denied_show(console: Console, workspace: Workspace) -> None:
    console.rule("[bold]4. Asking for a document above one's clearance")
    ops, lux = workspace.user("ops"), workspace.user("lux_nr")
    secret = next(
        (
            r
            for r in workspace.search(ops, "NATO SECRET", limit=50)
            if r.marking.level >= Level.SECRET
        ),
        None,
    )
    if secret is None:
        return
    try:
        workspace.show(lux, secret.id)
        console.print("[red]lux_nr could read a SECRET document: this must never happen")
    except NotFoundError as error:
        console.print(
            f"ops reads {secret.id} ({secret.marking}); lux_nr asks for it → « {error} » "
            "(the same answer as for a document that does not exist)",
            highlight=False,
        )
