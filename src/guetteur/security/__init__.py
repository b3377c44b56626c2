"""Security rules: markings grammar, the access rule, the audit chain. Pure, no I/O."""

from guetteur.security.markings import (
    find_banner,
    high_water_mark,
    is_banner_line,
    may_read,
    parse_clearance,
    parse_level,
    parse_marking,
    parse_nationality,
)

__all__ = [
    "find_banner",
    "high_water_mark",
    "is_banner_line",
    "may_read",
    "parse_clearance",
    "parse_level",
    "parse_marking",
    "parse_nationality",
]
