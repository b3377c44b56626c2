"""A plan for people and for TAK: Markdown, and Cursor-on-Target routes.

Markdown opens and closes with the plan's marking, like a brief. CoT: each
route is one `b-m-r` event (a route, as ATAK draws it) whose `<link>`
elements are its points in order — the depot (`b-m-p-w`, a waypoint), each
stop (`b-m-p-c`, a checkpoint, its callsign the unit's name), the detour
points round threat zones (waypoints) and the depot again — with ATAK's
`link_attr` (driving, primary route). The event carries the plan's marking
in `access` and at the head of its remarks, as guetteur's other CoT out
does (cop/cot_out.py), so whoever sends it checks it against the connection
once more. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from guetteur.cop.tak import cot_time
from guetteur.logistics.plan import Plan, RoutePlan
from guetteur.logistics.tables import CLASS_UNITS

__all__ = ["plan_cot", "plan_markdown", "route_cot"]

ROUTE_STALE = timedelta(hours=24)


def _delivery(delivery: dict[str, int] | object) -> str:
    items = dict(delivery) if isinstance(delivery, dict) else {}
    return ", ".join(f"{cls} {qty:,} {CLASS_UNITS[cls]}" for cls, qty in items.items())


def _hm(moment: datetime) -> str:
    return moment.strftime("%d %H:%MZ")


def plan_markdown(plan: Plan) -> str:
    """The plan as a Markdown page, marked at top and bottom."""
    marking = str(plan.marking)
    lines = [f"**{marking}**", "", f"# Resupply plan — {plan.day.isoformat()}", ""]
    state = "feasible" if plan.feasible else "**not feasible** (see below)"
    lines.append(
        f"{state} · {plan.distance_km:,.1f} km · {len(plan.routes)} route(s) · "
        f"{sum(len(r.stops) for r in plan.routes)} stop(s)"
    )
    for route in plan.routes:
        lines += [
            "",
            f"## {route.vehicle} — from {route.depot}, {_hm(route.start)} to {_hm(route.end)}, "
            f"{route.distance_km:,.1f} km",
            "",
            "| # | stop | arrival | delivery |",
            "|---|---|---|---|",
        ]
        for number, stop in enumerate(route.stops, start=1):
            delivered = _delivery(dict(stop.delivery))
            lines.append(f"| {number} | {stop.name} | {_hm(stop.arrival)} | {delivered} |")
    if plan.avoided:
        lines += ["", "## Threats that shaped the plan", ""]
        lines += [f"- {a.reason} — report `{a.doc_id}` ({a.marking})" for a in plan.avoided]
    if plan.unserved:
        lines += ["", "## Not served", ""]
        lines += [
            f"- **{u.name}** ({_delivery(dict(u.demand))}): {u.reason}" for u in plan.unserved
        ]
    if plan.explanation:
        lines += ["", "## Why the plan is not feasible", ""]
        lines += [f"- {line}" for line in plan.explanation]
    lines += ["", f"**{marking}**", ""]
    return "\n".join(lines)


def route_cot(route: RoutePlan, plan: Plan, uid: str, now: datetime) -> bytes:
    """One route as a CoT `b-m-r` event with its points as links."""
    marking = str(plan.marking)
    first_lat, first_lon = route.path[0]
    stop_at = {(round(s.lat, 6), round(s.lon, 6)): s for s in route.stops}
    links = []
    for index, (lat, lon) in enumerate(route.path):
        stop = stop_at.get((round(lat, 6), round(lon, 6)))
        is_end = index in (0, len(route.path) - 1)
        if stop is not None and not is_end:
            kind, name = "b-m-p-c", stop.name
            remarks = f"arrival {_hm(stop.arrival)}; {_delivery(dict(stop.delivery))}"
        else:
            kind, name, remarks = "b-m-p-w", route.depot if is_end else f"detour {index}", ""
        links.append(
            f"<link uid={quoteattr(f'{uid}.{index}')} callsign={quoteattr(name)} "
            f'type="{kind}" point="{lat:.7f},{lon:.7f}" remarks={quoteattr(remarks)} '
            'relation="c"/>'
        )
    stale = max(route.end, now) + ROUTE_STALE
    remarks = (
        f"[{marking}] Resupply route of {route.vehicle} from {route.depot}, "
        f"{_hm(route.start)} to {_hm(route.end)}, {route.distance_km:,.1f} km, "
        f"{len(route.stops)} stop(s)."
    )
    if plan.avoided:
        remarks += " Shaped by reports " + ", ".join(sorted({a.doc_id for a in plan.avoided}))
        remarks += "."
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<event version="2.0" uid={quoteattr(uid)} type="b-m-r" how="h-e" '
        f'time="{cot_time(now)}" start="{cot_time(route.start)}" stale="{cot_time(stale)}" '
        f"access={quoteattr(marking)}>"
        f'<point lat="{first_lat:.7f}" lon="{first_lon:.7f}" hae="9999999.0" ce="9999999.0" '
        'le="9999999.0"/>'
        f"<detail>{''.join(links)}"
        '<link_attr color="-1" method="Driving" prefix="CP" type="Vehicle" '
        'order="Ascending Check Points" direction="Infil" routetype="Primary" '
        'planningmethod="Infil"/>'
        f"<contact callsign={quoteattr(route.vehicle)}/>"
        f'<remarks source="guetteur" time="{cot_time(now)}">{escape(remarks)}</remarks>'
        "<__routeinfo><__navcues/></__routeinfo>"
        "</detail></event>"
    ).encode()


def plan_cot(plan: Plan, now: datetime, uid: Callable[[RoutePlan], str]) -> list[bytes]:
    """Every route of the plan as a CoT event; `uid` names each route's event."""
    return [route_cot(route, plan, uid(route), now) for route in plan.routes]
