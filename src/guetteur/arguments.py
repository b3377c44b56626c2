"""The arguments every face takes, parsed one way: times, areas, nations, durations.

The CLI's options and the API's query parameters go through these, so
`--since 24h` and `?since=24h` mean the same and are refused with the same
message (`InvalidInputError`, naming the value).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from guetteur._exceptions import InvalidInputError
from guetteur.store import BBox

__all__ = ["MAX_LISTED", "parse_bbox", "parse_duration", "parse_nations", "parse_since"]

# The most any list may be asked for (`--limit`, `?limit=`): past it, the
# stores' integers overflow (2**63 reached SQLite and failed the request).
MAX_LISTED = 1_000_000

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str) -> timedelta:
    """'90s', '30m', '24h', '7d', '2w'."""
    found = _DURATION.match(value)
    if not found:
        raise InvalidInputError(f"{value!r}: expected a duration such as 30m, 24h, 7d or 2w")
    return timedelta(**{_UNITS[found.group(2).lower()]: int(found.group(1))})


def parse_since(value: str | None) -> datetime | None:
    """'24h', '7d', '30m', '2w' before now, or an ISO 8601 date/time (UTC if no zone)."""
    if value is None or not value.strip():
        return None
    if _DURATION.match(value):
        return datetime.now(UTC) - parse_duration(value)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{value!r}: expected a duration (24h, 7d) or an ISO date (2026-11-20T06:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_bbox(value: str | None) -> BBox | None:
    """'W,S,E,N' in decimal degrees."""
    if value is None or not value.strip():
        return None
    try:
        west, south, east, north = (float(part) for part in value.split(","))
    except ValueError:
        raise InvalidInputError(f"{value!r}: expected W,S,E,N, e.g. 21.0,55.5,28.5,59.7") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInputError(f"{value!r}: W ≤ E within ±180 and S ≤ N within ±90")
    return west, south, east, north


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
            raise InvalidInputError(f"{token!r}: not an ISO 3166 alpha-3 code nor NATO/EU/FVEY")
    return frozenset(nations)
