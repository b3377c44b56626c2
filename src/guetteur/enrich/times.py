"""Times stated in a report: NATO date-time groups, ISO 8601, French and English prose.

The pipeline runs this after parsing and language detection. `find_reported_time`
gives `Document.reported_at` when the format itself stated no time (a time the
parser found, such as a mail's Date header, is the better witness and should
win); `find_times` lists every time expression with its character offsets, the
base the event extraction builds on to say *when* something happened.
Everything here is pure: text and an anchor in, timezone-aware UTC datetimes
out, nothing read from the clock unless the caller gives no anchor.

Choices a reader should know:

- Every value returned is aware and in UTC.
- A prose date or ISO time with no zone is taken as UTC. A staff's local zone
  will become a workspace setting; until then UTC is the one reading that is
  the same on every machine of a coalition.
- A date without a time is midnight UTC of that day.
- Incomplete forms (a DTG without year or month, "le 22 novembre") are
  completed from `anchor` — normally the time the document was received —
  choosing the candidate closest to it. Without an anchor, the current time
  is used; pass one for reproducible results.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from guetteur._text import head_lines

__all__ = [
    "TimeKind",
    "TimeMention",
    "find_reported_time",
    "find_times",
    "format_dtg",
    "parse_dtg",
]

TimeKind = Literal["dtg", "iso", "prose_fr", "prose_en"]


@dataclass(frozen=True)
class TimeMention:
    """A time expression in a text: `text == source[start:end]`, `value` in UTC."""

    start: int
    end: int
    text: str
    value: datetime
    kind: TimeKind


# --- months ---------------------------------------------------------------

# Keyed by the first three letters, accents removed, lower case; French and
# English share most keys ("mar", "oct"...). "jui" is ambiguous (juin/juillet)
# and is settled by the fourth letter in `_month_number`.
_MONTH_KEYS = {
    "jan": 1,
    "feb": 2,
    "fev": 2,
    "mar": 3,
    "apr": 4,
    "avr": 4,
    "may": 5,
    "mai": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "aou": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_DTG_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# What a DTG may spell its month as, accents removed: the English codes and the
# French forms staffs write. Full names ("NOVEMBRE") are not DTGs.
_DTG_MONTH_WORDS = frozenset(_DTG_MONTHS) | {"FEV", "AVR", "MAI", "JUIN", "JUIL", "AOU", "SEPT"}


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _month_number(name: str) -> int | None:
    key = _strip_accents(name).lower().rstrip(".")
    if key.startswith("juin"):
        return 6
    if key.startswith("juil"):
        return 7
    return _MONTH_KEYS.get(key[:3]) if len(key) >= 3 else None


# --- shared helpers -------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    """`dt` in UTC; a naive datetime is taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _anchor(anchor: datetime | None) -> datetime:
    return datetime.now(UTC) if anchor is None else _utc(anchor)


def _closest(candidates: Iterable[datetime | None], anchor: datetime) -> datetime | None:
    """The valid candidate nearest to `anchor` (None entries were impossible dates)."""
    valid = [candidate for candidate in candidates if candidate is not None]
    if not valid:
        return None
    return min(valid, key=lambda candidate: abs(candidate - anchor))


def _build(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    offset: timedelta = timedelta(0),
) -> datetime | None:
    """A UTC datetime from local fields and the zone's offset, or None if impossible."""
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        return None
    return local.astimezone(UTC)


def _complete_year(
    month: int, day: int, hour: int, minute: int, offset: timedelta, anchor: datetime
) -> datetime | None:
    """A yearless date in the year that puts it closest to the anchor."""
    return _closest(
        (
            _build(year, month, day, hour, minute, offset=offset)
            for year in (anchor.year - 1, anchor.year, anchor.year + 1)
        ),
        anchor,
    )


def _full_year(digits: str, anchor: datetime | None) -> int:
    """A 2-digit year goes into the century nearest the anchor (2000s without one)."""
    if len(digits) == 4:
        return int(digits)
    short = int(digits)
    if anchor is None:
        return 2000 + short
    century = anchor.year // 100 * 100
    return min(
        (century - 100 + short, century + short, century + 100 + short),
        key=lambda year: abs(year - anchor.year),
    )


# --- NATO date-time groups ------------------------------------------------

# Zone letters: Z is UTC, A..M (no J) are UTC+1..+12, N..Y are UTC-1..-12.
# J ("Juliet", the observer's local time) has no fixed offset.
_ZONE_OFFSETS = {"Z": 0}
_ZONE_OFFSETS.update({letter: hours for hours, letter in enumerate("ABCDEFGHIKLM", start=1)})
_ZONE_OFFSETS.update({letter: -hours for hours, letter in enumerate("NOPQRSTUVWXY", start=1)})

# The month part of a DTG: English 3-letter codes and the French forms staffs
# write (FEV/FÉV, AVR, MAI, JUIN, JUIL, AOU/AOÛ, DÉC), longest first so JUIN
# is not read as JUN plus a stray letter.
_DTG_MONTH = r"""
    (?: JUIN | JUIL | SEPT | F[EÉ]V | AO[UÛ] | D[EÉ]C
      | JAN | FEB | MAR | APR | AVR | MAY | MAI | JUN | JUL | AUG | SEP | OCT | NOV | DEC )
"""

_DTG_FULL = re.compile(
    r"""
    \s*
    (?P<day>\d{2}) (?P<hour>\d{2}) (?P<minute>\d{2})
    \s? (?P<zone>[A-Z])
    (?: \s? (?P<month>[^\W\d_]+) \.?        # any word: an unknown month is an error, not a miss
        (?: \s? (?P<year>\d{4}|\d{2}) )?
    )?
    \s*
    """,
    re.VERBOSE | re.IGNORECASE,
)

# A DTG inside running text. Stricter than `parse_dtg`: without a month only
# the Z form counts ("220915Z"), since six digits and a letter are otherwise
# too common (serial numbers, grid squares); with a month any zone letter.
_DTG_IN_TEXT = re.compile(
    rf"""
    (?<![\w])
    (?P<day>\d{{2}}) (?P<hour>\d{{2}}) (?P<minute>\d{{2}})
    (?:
        \s? (?P<zone>[A-IK-Z]) \s? (?P<month>{_DTG_MONTH})
        (?: \s? (?P<year>\d{{4}}|\d{{2}}) )?
      | (?P<zulu>Z)
    )
    (?![\w])
    """,
    re.VERBOSE | re.IGNORECASE,
)


def _dtg_value(
    day: int,
    hour: int,
    minute: int,
    zone: str,
    month_name: str | None,
    year_digits: str | None,
    anchor: datetime | None,
) -> datetime | None:
    """The UTC instant of a DTG's fields, or None when they make no date."""
    # Unicode case folding lets a few non-ASCII letters (the Kelvin sign "K")
    # through the zone pattern; they are no zone.
    hours_east = _ZONE_OFFSETS.get(zone)
    if hours_east is None or not (0 <= hour <= 23 and 0 <= minute <= 59 and 1 <= day <= 31):
        return None
    offset = timedelta(hours=hours_east)
    if month_name is None:
        # "220915Z": the month and year around the anchor that hold that day.
        base = _anchor(anchor)
        candidates = []
        for shift in (-1, 0, 1):
            month_index = base.year * 12 + base.month - 1 + shift
            year, month_zero = divmod(month_index, 12)
            candidates.append(_build(year, month_zero + 1, day, hour, minute, offset=offset))
        return _closest(candidates, base)
    month = _month_number(month_name)
    if month is None:
        return None
    if year_digits is None:
        return _complete_year(month, day, hour, minute, offset, _anchor(anchor))
    return _build(_full_year(year_digits, anchor), month, day, hour, minute, offset=offset)


def parse_dtg(s: str, anchor: datetime | None = None) -> datetime:
    """A NATO date-time group as an aware UTC datetime.

    `DDHHMMZMONYY`: "220915ZNOV26" is 22 Nov 2026 09:15 UTC. The zone letter is
    converted (Z = UTC, A..M without J = UTC+1..+12, N..Y = UTC-1..-12): "221015A
    NOV26" is the same instant. Months in English (JAN..DEC) or French (FÉV, AVR,
    MAI, JUIN, JUIL, AOÛ, DÉC...), any case; a 4-digit year is accepted too.
    Without year ("220915ZNOV") the year closest to `anchor` is taken; without
    month and year ("220915Z") the month closest to `anchor`. Raises ValueError
    naming the input when it is not a valid DTG.
    """
    match = _DTG_FULL.fullmatch(s)
    if match is None:
        raise ValueError(f"not a date-time group: {s!r} (expected DDHHMMZMONYY, e.g. 220915ZNOV26)")
    zone = match["zone"].upper()
    if zone == "J":
        raise ValueError(
            f"date-time group {s!r} is in local time (zone J), which has no fixed offset to UTC"
        )
    month_word = match["month"]
    if month_word is not None and _strip_accents(month_word).upper() not in _DTG_MONTH_WORDS:
        raise ValueError(f"date-time group {s!r} has an unknown month {match['month']!r}")
    value = _dtg_value(
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        zone,
        match["month"],
        match["year"],
        anchor,
    )
    if value is None:
        raise ValueError(f"date-time group {s!r} is not a valid date and time")
    return value


def format_dtg(dt: datetime) -> str:
    """`dt` as a DTG in UTC, e.g. "220915ZNOV26" (a naive `dt` is taken as UTC)."""
    utc = _utc(dt)
    return (
        f"{utc.day:02d}{utc.hour:02d}{utc.minute:02d}Z"
        f"{_DTG_MONTHS[utc.month - 1]}{utc.year % 100:02d}"
    )


def _dtg_in_text(match: re.Match[str], anchor: datetime | None) -> datetime | None:
    return _dtg_value(
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        (match["zone"] or match["zulu"]).upper(),
        match["month"],
        match["year"],
        anchor,
    )


# --- ISO 8601 ---------------------------------------------------------------

_ISO = re.compile(
    r"""
    (?<![\w-])
    (?P<date> \d{4}-\d{2}-\d{2} )
    (?:
        [T\ ]
        (?P<time> \d{2}:\d{2} (?: :\d{2} (?: [.,]\d{1,9} )? )? )
        (?P<zone> Z | [+-]\d{2}(?::?\d{2})? | \ ?UTC )?
    )?
    (?![\w-])
    """,
    re.VERBOSE,
)


def _iso(match: re.Match[str], anchor: datetime | None) -> datetime | None:
    year, month, day = (int(part) for part in match["date"].split("-"))
    if match["time"] is None:
        return _build(year, month, day)
    hour, minute, *rest = match["time"].replace(",", ".").split(":")
    seconds = float(rest[0]) if rest else 0.0
    zone = (match["zone"] or "Z").strip()
    offset = timedelta(0)
    if zone not in ("Z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if abs(offset) >= timedelta(hours=24):
            return None
    value = _build(year, month, day, int(hour), int(minute), int(seconds), offset)
    if value is None:
        return None
    return value + timedelta(microseconds=round(seconds % 1 * 1_000_000))


# --- prose dates ------------------------------------------------------------

# A time of day after a French date: "à 06h30", "à 6 h 30", "vers 14h", "06:30",
# optionally marked UTC/Z. The "h" or colon makes it unambiguous, so the "à" may
# be missing ("22 novembre 2026 06h30").
_FR_TIME = r"""
    (?: \s*,? \s* (?: (?:à|a|vers) \s+ )?
        (?P<hour>\d{1,2}) \s? (?: heures? | h | : ) \s? (?P<minute>\d{2})?
        (?: \s? (?: Z | UTC ) )?
        (?![\w:])
    )?
"""

_FR_MONTH = r"""
    (?P<month>
        janvier | janv\.? | jan\.?
      | f[ée]vrier | f[ée]vr\.? | f[ée]v\.?
      | mars | mar\.?
      | avril | avr\.?
      | mai
      | juin
      | juillet | juil\.?
      | ao[ûu]t | ao[ûu]\.?
      | septembre | sept\.? | sep\.?
      | octobre | oct\.?
      | novembre | nov\.?
      | d[ée]cembre | d[ée]c\.?
    )
    (?![^\W\d_])  # a whole word: "mar" is not the start of "marché"
"""

_PROSE_FR = re.compile(
    rf"""
    (?<![\w])
    (?: (?: lundi | mardi | mercredi | jeudi | vendredi | samedi | dimanche ) \s+ )?
    (?P<day> \d{{1,2}} ) (?: er | ᵉʳ )?
    \s+ {_FR_MONTH}
    (?: \s+ (?P<year> \d{{4}} ) (?!\d) )?
    {_FR_TIME}
    """,
    re.VERBOSE | re.IGNORECASE,
)

# A time of day after an English date. "06:30" and "6:30 pm" stand alone; four
# digits need a marker ("0630Z", "0630 hrs", "at 0630") so that "21 November
# 2026 1200 rounds" is not read as noon.
_EN_TIME = r"""
    (?: \s*,? \s*
        (?:
            (?: at \s+ )? (?P<hour>\d{1,2}) : (?P<minute>\d{2}) (?: :\d{2} )?
            (?: \s? (?P<ampm> [ap]m | [ap]\.m\. ) )?
            (?: \s? (?: Z | UTC | GMT | hrs | hours ) )?
          | (?: at \s+ )? (?P<hour4>\d{2}) (?P<minute4>\d{2})
            \s? (?: Z | UTC | GMT | hrs | hours | h )
          | at \s+ (?P<hour_at>\d{2}) (?P<minute_at>\d{2})
        )
        (?![\w:])
    )?
"""

_EN_MONTH = r"""
    (?P<month>
        January | Jan\.? | February | Feb\.? | March | Mar\.? | April | Apr\.?
      | (?-i:May|MAY) | June | Jun\.? | July | Jul\.? | August | Aug\.?
      | September | Sept\.? | Sep\.? | October | Oct\.? | November | Nov\.? | December | Dec\.?
    )
    (?![^\W\d_])  # a whole word: "Jan" is not the start of "Janus"
"""

_EN_WEEKDAY = r"""
    (?: (?: Monday | Tuesday | Wednesday | Thursday | Friday | Saturday | Sunday ) ,? \s+ )?
"""

# "21 November 2026", "21st Nov 2026 0630Z", "Monday, 23 November 2026 at 06:30".
_PROSE_EN_DAY_FIRST = re.compile(
    rf"""
    (?<![\w])
    {_EN_WEEKDAY}
    (?P<day> \d{{1,2}} ) (?: st | nd | rd | th )?
    \s+ (?: of \s+ )? {_EN_MONTH}
    (?: ,? \s+ (?P<year> \d{{4}} ) (?!\d) )?
    {_EN_TIME}
    """,
    re.VERBOSE | re.IGNORECASE,
)

# "November 21, 2026", "Nov. 21st 2026 at 6:30 pm". The year is required in
# this order: "March 3" alone is too often something else ("Route March 3").
_PROSE_EN_MONTH_FIRST = re.compile(
    rf"""
    (?<![\w])
    {_EN_WEEKDAY}
    {_EN_MONTH}
    \s+ (?P<day> \d{{1,2}} ) (?: st | nd | rd | th )?
    ,? \s+ (?P<year> \d{{4}} ) (?!\d)
    {_EN_TIME}
    """,
    re.VERBOSE | re.IGNORECASE,
)


_FULL_MONTH_NAMES = frozenset(
    """janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    january february march april may june july august september october november december""".split()
)


def _prose_value(
    match: re.Match[str], hour: int, minute: int, anchor: datetime | None
) -> datetime | None:
    month = _month_number(match["month"])
    if month is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    day = int(match["day"])
    if match["year"] is None:
        # Without a year, a bare abbreviation is too often something else:
        # "1 Mar Div" is a division, "3 Oct" maybe; "3 oct." and "3 mars" are dates.
        word = _strip_accents(match["month"]).lower()
        if not word.endswith(".") and word not in _FULL_MONTH_NAMES:
            return None
        return _complete_year(month, day, hour, minute, timedelta(0), _anchor(anchor))
    return _build(int(match["year"]), month, day, hour, minute)


def _prose_fr(match: re.Match[str], anchor: datetime | None) -> datetime | None:
    hour = int(match["hour"]) if match["hour"] else 0
    minute = int(match["minute"]) if match["minute"] else 0
    return _prose_value(match, hour, minute, anchor)


def _prose_en(match: re.Match[str], anchor: datetime | None) -> datetime | None:
    hour, minute = 0, 0
    if match["hour"]:
        hour, minute = int(match["hour"]), int(match["minute"])
        ampm = (match["ampm"] or "").lower().replace(".", "")
        if ampm and not 1 <= hour <= 12:
            return None
        if ampm == "pm" and hour != 12:
            hour += 12
        elif ampm == "am" and hour == 12:
            hour = 0
    elif match["hour4"]:
        hour, minute = int(match["hour4"]), int(match["minute4"])
    elif match["hour_at"]:
        hour, minute = int(match["hour_at"]), int(match["minute_at"])
    return _prose_value(match, hour, minute, anchor)


# --- finding ----------------------------------------------------------------

_Reader = Callable[[re.Match[str], datetime | None], datetime | None]

# Order matters only for ties (same start, same length): earlier wins.
_PATTERNS: tuple[tuple[TimeKind, re.Pattern[str], _Reader], ...] = (
    ("dtg", _DTG_IN_TEXT, _dtg_in_text),
    ("iso", _ISO, _iso),
    ("prose_fr", _PROSE_FR, _prose_fr),
    ("prose_en", _PROSE_EN_DAY_FIRST, _prose_en),
    ("prose_en", _PROSE_EN_MONTH_FIRST, _prose_en),
)


@dataclass(frozen=True)
class _Found:
    mention: TimeMention
    has_time: bool  # False for a bare date, which is midnight only by convention


def _trimmed_end(text: str, start: int, end: int) -> int:
    # Optional trailing parts of a pattern can leave spaces or a comma behind.
    while end > start and text[end - 1] in " \t,":
        end -= 1
    return end


def _has_time(match: re.Match[str]) -> bool:
    groups = match.groupdict()
    # A DTG always has its time; the others have one when a time group took part.
    return "zulu" in groups or any(
        groups.get(name) for name in ("time", "hour", "hour4", "hour_at")
    )


def _language_hint(kind: TimeKind, match: re.Match[str]) -> int:
    """0 when this reading of a shared month ("21 Nov 2026") fits its capitalisation.

    French writes months in lower case ("22 nov. 2026"), English capitalises
    them, so a date both patterns read the same is French only when lower case.
    """
    if kind not in ("prose_fr", "prose_en"):
        return 0
    looks_french = match["month"][0].islower()
    return 0 if looks_french == (kind == "prose_fr") else 1


def _scan(text: str, anchor: datetime | None) -> list[_Found]:
    candidates: list[tuple[int, _Found]] = []
    for kind, pattern, reader in _PATTERNS:
        for match in pattern.finditer(text):
            value = reader(match, anchor)
            if value is None:
                continue
            end = _trimmed_end(text, match.start(), match.end())
            mention = TimeMention(match.start(), end, text[match.start() : end], value, kind)
            candidates.append((_language_hint(kind, match), _Found(mention, _has_time(match))))
    # Where expressions overlap, the one starting first wins, then the longest
    # ("21 Nov 2026 0630Z" is one mention, not a date plus a stray time), then
    # the language the month's capital letter suggests.
    candidates.sort(key=lambda item: (item[1].mention.start, -len(item[1].mention.text), item[0]))
    kept: list[_Found] = []
    for _, found in candidates:
        if not kept or found.mention.start >= kept[-1].mention.end:
            kept.append(found)
    return kept


def find_times(text: str, anchor: datetime | None = None) -> list[TimeMention]:
    """Every time expression in `text`, in order, with character offsets.

    Kinds: "dtg" (220915ZNOV26, 220915Z), "iso" (2026-11-22T09:15Z, 2026-11-22),
    "prose_fr" (le 22 novembre 2026 à 06h30, 1er déc. 2026) and "prose_en"
    (21 November 2026 at 06:30, November 21, 2026). Values are UTC; see the
    module docstring for zones, missing times and the anchor.
    """
    return [found.mention for found in _scan(text, anchor)]


# --- the report's own time ----------------------------------------------------

_HEAD_LINES = 40

# A line that states the report's time: "DTG: ...", "GDH : ...", "Date :", "Reported:",
# "Time of report", "Heure :", "TIME/...", "HEURE/..." — at the start of a line,
# after an optional bullet or paragraph number.
_LABELLED_LINE = re.compile(
    r"""
    ^ [ \t]* (?: [-*•] | \d{1,2}[.)] )? [ \t]*
    (?P<label>
        DTG | GDH
      | date [ \t]* (?: / | et | and | - ) [ \t]* (?: heure | time )
      | date [ \t]+ (?: du [ \t]+ rapport | de [ \t]+ r[ée]daction | of [ \t]+ report )
      | report [ \t]+ (?: date | time )
      | date
      | reported (?: [ \t]+ (?: at | on ) )?
      | time [ \t]+ of [ \t]+ report
      | heure (?: [ \t]+ du [ \t]+ rapport )?
      | time
    )
    (?: [ \t]* [:/=–-] [ \t]* | [ \t]+ (?=\d) )  # without a colon, a number must follow
    (?P<value> [^\n]* )
    """,
    re.VERBOSE | re.IGNORECASE | re.MULTILINE,
)

# A bare time of day on a "Heure : 06h30" / "TIME/0630Z" line, to complete a
# date given on its own line.
_TIME_OF_DAY = re.compile(
    r"""
    \s* (?P<hour>\d{1,2}) \s? (?: h | : )? \s? (?P<minute>\d{2}) (?: \s? (?: Z | UTC ) )? (?![\w:])
    """,
    re.VERBOSE | re.IGNORECASE,
)


def _from_labels(head: str, anchor: datetime | None) -> datetime | None:
    date_only: datetime | None = None
    time_of_day: tuple[int, int] | None = None
    for line in _LABELLED_LINE.finditer(head):
        found = _scan(line["value"], anchor)
        if found:
            if found[0].has_time:
                return found[0].mention.value
            date_only = date_only or found[0].mention.value
            continue
        clock = _TIME_OF_DAY.match(line["value"])
        if clock and time_of_day is None:
            hour, minute = int(clock["hour"]), int(clock["minute"])
            if hour <= 23 and minute <= 59:
                time_of_day = (hour, minute)
    if date_only is not None and time_of_day is not None:
        return date_only.replace(hour=time_of_day[0], minute=time_of_day[1])
    return date_only


def find_reported_time(text: str, anchor: datetime | None = None) -> datetime | None:
    """The time a report states for itself, in UTC, or None.

    Reads the first 40 lines, in this order of trust: a labelled line (DTG:,
    GDH :, Date :, Reported:, Time of report, Heure :, TIME/, HEURE/), then the
    first DTG, then the first ISO 8601 date or datetime, then the first French
    or English prose date. A "Date :" line and an "Heure :" line are combined.
    Prose dates with no zone are taken as UTC (a staff's local zone will be a
    workspace setting); dates without a time are midnight UTC.
    """
    head = head_lines(text, _HEAD_LINES)
    labelled = _from_labels(head, anchor)
    if labelled is not None:
        return labelled
    found = [item.mention for item in _scan(head, anchor)]
    for kinds in (("dtg",), ("iso",), ("prose_fr", "prose_en")):
        for mention in found:
            if mention.kind in kinds:
                return mention.value
    return None
