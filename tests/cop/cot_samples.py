"""CoT events to test with: built as a TAK device writes them, and the ATAK sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

from conftest import SHARED_DATA

COT_SAMPLE = SHARED_DATA / "cot_xml"
SAMPLE_FOLDERS = (COT_SAMPLE / "atak_commo_captures", COT_SAMPLE / "atak_takcot_examples")
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def cot_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def event(
    uid: str,
    minutes: float = 0,
    *,
    cot_type: str = "a-f-G-U-C",
    lat: float = 58.0,
    lon: float = 25.0,
    callsign: str | None = None,
    group: str | None = None,
    access: str | None = None,
    stale_minutes: float = 5,
    remarks: str | None = None,
    course: float | None = None,
    speed: float | None = None,
) -> str:
    """One CoT event, `minutes` after T0."""
    time = T0 + timedelta(minutes=minutes)
    stale = time + timedelta(minutes=stale_minutes)
    detail = ""
    if callsign is not None:
        detail += f'<contact callsign="{escape(callsign)}"/>'
    if group is not None:
        detail += f'<__group name="{escape(group)}" role="Team Member"/>'
    if course is not None or speed is not None:
        detail += f'<track course="{course or 0}" speed="{speed or 0}"/>'
    if remarks is not None:
        detail += f"<remarks>{escape(remarks)}</remarks>"
    marked = f' access="{escape(access)}"' if access is not None else ""
    return (
        f'<event version="2.0" uid="{escape(uid)}" type="{cot_type}" how="m-g"{marked} '
        f'time="{cot_time(time)}" start="{cot_time(time)}" stale="{cot_time(stale)}">'
        f'<point lat="{lat}" lon="{lon}" hae="42.0" ce="9.0" le="9999999.0"/>'
        f"<detail>{detail}</detail></event>"
    )


def capture(*events: str) -> str:
    """Several events in one file, as a capture holds them."""
    return '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + "\n".join(events) + "\n"


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


def hostile_capture() -> str:
    """Two good events around four hostile ones: oversized, DOCTYPE bomb, lat 91,
    stale before start."""
    good_before = event("GOOD-1", 0, callsign="ALPHA")
    oversized = event("BIG-1", 1, remarks="x" * (70 * 1024))
    bomb = BILLION_LAUGHS + event("BOMB-1", 2, remarks="&lol3;").replace("&amp;", "&")
    off_globe = event("POLE-1", 3, lat=91.0)
    stale_first = event("STALE-1", 4, stale_minutes=-10)
    good_after = event("GOOD-2", 5, callsign="BRAVO")
    return capture(good_before, oversized, bomb, off_globe, stale_first, good_after)
