"""Positions written in a report: MGRS, UTM, decimal degrees, degrees-minutes-seconds.

The pipeline runs `find_coordinates` beside the place-name stage: a grid
reference in a spot report ("BTR-82A x3 at 35VNF6763382659") is a better
witness of *where* than any place name, and it becomes an event's location
directly; `places.nearest_place` then labels it for a reader ("12 km NE of
Narva"). Everything here is pure — text in, `CoordinateMention`s out, each
with exact character offsets (`text[start:end] == mention.text`) — so it runs
in-process or on a Dask worker unchanged.

Choices a reader should know:

- MGRS and UTM give the *centre* of the square they designate; `precision_m`
  is half its side (0.5 m for 10 digits, 5 km for 2). UTM in whole metres is
  a 1 m square. Polar (UPS) references are not read.
- MGRS letters must be upper case: lower-case runs of digits and letters are
  too often serial numbers. A band letter that does not match the latitude the
  rest of the reference gives is rejected, not "corrected": a wrong band is a
  transcription error and we do not know which part is wrong.
- The conversion (transverse Mercator, WGS 84) is the `mgrs` package's. We
  decode the 100 km square letters to UTM ourselves and check the latitude
  against the band: the package's own decoder reports an inconsistent band
  only as a `RuntimeWarning`, which we could catch only by changing the
  process-wide warning filters, unsafe on a threaded executor.
- Degrees need evidence that they *are* coordinates, since reports are full
  of number pairs ("12.5, 40.0 litres"): a hemisphere letter on both values
  (N/S, E/W — and O for the French *Ouest*), a degree sign on both, a lat/lon
  label, or else a bare comma pair with at least three decimals each, in
  range, not part of a longer list of numbers and not next to a currency sign.
- The compact military form `592238N0281125E` (DDMM[SS]N DDDMM[SS]E) is read
  as degrees-minutes-seconds.
- Overlapping readings keep the longest; at equal length the first kind tried
  wins (MGRS, UTM, compact, degrees).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

import mgrs
from mgrs.core import MGRSError

from guetteur.model.entity import CoordinateMention

__all__ = ["find_coordinates", "format_dms", "mgrs_to_latlon", "utm_to_latlon"]

_MGRS = mgrs.MGRS()

# Latitude bands, 8° each from 80°S (X is 12°, up to 84°N). I and O are never used.
_BANDS = "CDEFGHJKLMNPQRSTUVWX"
# Column letters of a 100 km square repeat every three zones; rows every two.
_COLUMN_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"


def _band_south_edge(band: str) -> float:
    return -80.0 + 8.0 * _BANDS.index(band)


def _northing_at_central_meridian(lat: float) -> float:
    """UTM northing of a latitude on a zone's central meridian, from `mgrs` itself."""
    _zone, _hemisphere, _easting, northing = _MGRS.MGRSToUTM(_MGRS.toMGRS(lat, 3.0))
    return float(northing)


# The lowest northing each band can hold, rounded down to 100 km. A square's row
# letter fixes the northing modulo 2000 km; the band picks the cycle. Computed
# once with the package's own projection so both always agree.
_BAND_MIN_NORTHING = {
    band: math.floor(_northing_at_central_meridian(_band_south_edge(band) + 1e-7) / 100_000)
    * 100_000.0
    for band in _BANDS
}


# --- MGRS -------------------------------------------------------------------

_MGRS_IN_TEXT = re.compile(
    r"""
    (?<![\w.])
    (?P<zone>\d{1,2}) \s? (?P<band>[C-HJ-NP-X]) \s?
    (?P<square>[A-HJ-NP-Z]{2}) \s?
    (?: (?P<east>\d{1,5}) \s (?P<north>\d{1,5})   # split digits: "676 826"
      | (?P<digits>\d{2,10}) )                     # run of digits: "676826"
    (?!\w|\.\d)
    """,
    re.VERBOSE,
)


def mgrs_to_latlon(reference: str) -> tuple[float, float, float]:
    """(lat, lon, precision_m) of the centre of the square an MGRS reference names.

    Spaces are ignored. Raises `ValueError` naming the reference when it is not
    a valid MGRS reference (zone, letters, digit count, band off its latitude).
    """
    compact = re.sub(r"\s+", "", reference)
    match = re.fullmatch(r"(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z])([A-HJ-NP-V])(\d{2,10})", compact)
    if match is None or len(match.group(5)) % 2:
        raise ValueError(f"{reference!r}: not an MGRS reference")
    zone, band, column, row, digits = (
        int(match.group(1)),
        match.group(2),
        match.group(3),
        match.group(4),
        match.group(5),
    )
    if not 1 <= zone <= 60:
        raise ValueError(f"{reference!r}: UTM zone {zone} is outside 1-60")
    columns = _COLUMN_SETS[(zone - 1) % 3]
    if column not in columns:
        raise ValueError(f"{reference!r}: column letter {column} is not used in zone {zone}")
    half = len(digits) // 2
    square_side = 10.0 ** (5 - half)
    easting = (columns.index(column) + 1) * 100_000.0 + int(digits[:half]) * square_side
    # Even zones shift the row lettering by five (the "AA" scheme of WGS 84).
    row_offset = 0 if zone % 2 else 5
    northing = ((_ROW_LETTERS.index(row) - row_offset) % 20) * 100_000.0
    northing += int(digits[half:]) * square_side
    while northing < _BAND_MIN_NORTHING[band]:
        northing += 2_000_000.0
    # The centre of a square on a band edge may lie just across it.
    slack_degrees = square_side / 111_000
    lat, lon = _utm_to_latlon_in_band(
        reference, zone, band, easting + square_side / 2, northing + square_side / 2, slack_degrees
    )
    return lat, lon, square_side / 2


def _utm_to_latlon_in_band(
    label: str, zone: int, band: str, easting: float, northing: float, slack_degrees: float = 0.0
) -> tuple[float, float]:
    """Lat/lon of a UTM point, checking that its latitude lies in `band`."""
    hemisphere = "N" if band >= "N" else "S"
    if hemisphere == "S" and northing >= 10_000_000:
        # The centre of a band M square that touches the equator lies north of it.
        hemisphere, northing = "N", northing - 10_000_000
    try:
        canonical = _MGRS.UTMToMGRS(zone, hemisphere, easting, northing, 5)
        lat, lon = _MGRS.toLatLon(canonical)
    except MGRSError as error:
        raise ValueError(f"{label!r}: not a valid UTM position ({error})") from None
    south = _band_south_edge(band)
    north = 84.0 if band == "X" else south + 8.0
    # A point on a band edge may be lettered with either band by other tools.
    slack_degrees += 0.01
    if not south - slack_degrees <= lat <= north + slack_degrees:
        raise ValueError(f"{label!r}: latitude {lat:.3f} is not in band {band}")
    return float(lat), float(lon)


def _find_mgrs(text: str) -> Iterator[CoordinateMention]:
    for match in _MGRS_IN_TEXT.finditer(text):
        if match.group("digits") is not None:
            digits = match.group("digits")
        else:
            east, north = match.group("east"), match.group("north")
            if len(east) != len(north):
                continue
            digits = east + north
        reference = f"{match.group('zone')}{match.group('band')}{match.group('square')}{digits}"
        try:
            lat, lon, precision = mgrs_to_latlon(reference)
        except ValueError:
            continue
        yield CoordinateMention(
            match.start(), match.end(), match.group(), lat, lon, "mgrs", precision
        )


# --- UTM --------------------------------------------------------------------

_UTM_IN_TEXT = re.compile(
    r"""
    (?<![\w.])
    (?: (?i: UTM ) \s* (?: (?i: zone ) \s* )? )?
    (?P<zone>\d{1,2}) \s? (?P<letter>[C-HJ-NP-X]) ,? \s+
    (?: E \s? )? (?P<easting>\d{6}(?:\.\d+)?) (?: \s? m?E | \s?m )? ,? \s+
    (?: N \s? )? (?P<northing>\d{1,7}(?:\.\d+)?) (?: \s? m?N | \s?m )?
    (?!\w|\.\d)
    """,
    re.VERBOSE,
)


def utm_to_latlon(zone: int, letter: str, easting: float, northing: float) -> tuple[float, float]:
    """Lat/lon of a UTM position; `letter` is a latitude band, or N/S for the hemisphere.

    "35N" is ambiguous in the wild: band N (0-8°N) or "northern hemisphere".
    Both readings agree on the hemisphere, so we take whichever band the
    position falls in. "33S" may be band S (32-40°N) or the southern
    hemisphere: the band reading wins when the point lies in band S, the
    hemisphere reading otherwise. Raises `ValueError` when nothing fits.
    """
    label = f"{zone}{letter} {easting:.0f} {northing:.0f}"
    if not 1 <= zone <= 60:
        raise ValueError(f"{label!r}: UTM zone {zone} is outside 1-60")
    if not 100_000 <= easting <= 900_000 or not 0 <= northing <= 10_000_000:
        raise ValueError(f"{label!r}: easting or northing out of range")
    try:
        return _utm_to_latlon_in_band(label, zone, letter, easting, northing)
    except ValueError:
        if letter not in ("N", "S"):
            raise
    try:
        lat, lon = _MGRS.toLatLon(_MGRS.UTMToMGRS(zone, letter, easting, northing, 5))
    except MGRSError as error:
        raise ValueError(f"{label!r}: not a valid UTM position ({error})") from None
    if (letter == "N") != (lat >= 0):
        raise ValueError(f"{label!r}: not a valid UTM position")
    return float(lat), float(lon)


def _find_utm(text: str) -> Iterator[CoordinateMention]:
    for match in _UTM_IN_TEXT.finditer(text):
        try:
            lat, lon = utm_to_latlon(
                int(match.group("zone")),
                match.group("letter"),
                float(match.group("easting")),
                float(match.group("northing")),
            )
        except ValueError:
            continue
        # Whole metres name a 1 m square; decimals name a point.
        precision = 0.5 if "." not in match.group("easting") + match.group("northing") else 0.0
        yield CoordinateMention(
            match.start(), match.end(), match.group(), lat, lon, "utm", precision
        )


# --- compact military DMS: 592238N0281125E ------------------------------------

_COMPACT_DMS = re.compile(
    r"""
    (?<![\w.])
    (?P<lat>\d{4}(?:\d{2}(?:\.\d+)?)?) (?P<ns>[NS]) \s? [-/]? \s?
    (?P<lon>\d{5}(?:\d{2}(?:\.\d+)?)?) (?P<ew>[EWO])
    (?!\w|\.\d)
    """,
    re.VERBOSE,
)


def _compact_value(digits: str, degree_digits: int) -> float | None:
    degrees = int(digits[:degree_digits])
    minutes = int(digits[degree_digits : degree_digits + 2])
    seconds = float(digits[degree_digits + 2 :] or 0)
    if minutes >= 60 or seconds >= 60:
        return None
    return degrees + minutes / 60 + seconds / 3600


def _find_compact_dms(text: str) -> Iterator[CoordinateMention]:
    for match in _COMPACT_DMS.finditer(text):
        lat = _compact_value(match.group("lat"), 2)
        lon = _compact_value(match.group("lon"), 3)
        if lat is None or lon is None:
            continue
        lat = -lat if match.group("ns") == "S" else lat
        lon = -lon if match.group("ew") in "WO" else lon
        if abs(lat) > 90 or abs(lon) > 180:
            continue
        yield CoordinateMention(match.start(), match.end(), match.group(), lat, lon, "dms")


# --- degrees: decimal and DMS -------------------------------------------------

_DEGREE_SIGNS = "°º˚"
_MINUTE_MARKS = "'′’´"
_SECOND_MARKS = r"(?:''|′′|’’|[\"″”“ʺ])"


def _component(p: str) -> str:
    """One coordinate: optional hemisphere before, number, °, minutes, seconds, hemisphere after."""
    return rf"""
    (?<![\w.,°'′’+\-\u2212])
    (?: (?P<{p}pre>[NSEWO]) \s? )?
    (?P<{p}sign>[-+\u2212])?
    (?<![\d.,])(?P<{p}deg>\d{{1,3}}(?:[.,]\d+)?)(?![\d])
    (?: \s? (?P<{p}dsign>[{_DEGREE_SIGNS}])
        (?: \s? (?P<{p}min>\d{{1,2}}(?:[.,]\d+)?) \s? [{_MINUTE_MARKS}] (?![{_MINUTE_MARKS}])
            (?: \s? (?P<{p}sec>\d{{1,2}}(?:[.,]\d+)?) \s? {_SECOND_MARKS} )?
        )?
    )?
    (?({p}pre) | (?: \s? (?P<{p}post>[NSEWO]) (?![^\W\d_]) )? )
    """


# Labels in any case; hemisphere letters only in capitals ("59.3 n" is prose).
_LAT_LABEL = r"(?i:lat(?:itude)?\.?\s*[:=]?\s*)"
_LON_LABEL = r"(?i:lon(?:g(?:itude)?)?\.?\s*[:=]?\s*)"
_DEGREE_PAIR = re.compile(
    rf"""
    (?P<label1>(?<![\w]){_LAT_LABEL})?
    {_component("a_")}
    (?P<sep> \s* [,;/] \s* | \s+ (?:et|and) \s+ | \s* )
    (?P<label2>{_LON_LABEL})?
    {_component("b_")}
    """,
    re.VERBOSE,
)
_CURRENCY = re.compile(r"[€$£¥]\s*$")
_CURRENCY_AFTER = re.compile(r"\s*(?:[€$£¥%]|EUR|USD|GBP)")
_MORE_NUMBERS_AFTER = re.compile(r"\s*[,;]\s*[-+]?\d")
_MORE_NUMBERS_BEFORE = re.compile(r"\d\s*[,;]\s*$")


def _number(value: str) -> float:
    return float(value.replace(",", "."))


def _degrees(match: re.Match[str], p: str) -> tuple[float, str | None] | None:
    """Absolute value of one component and its hemisphere letter, or None if malformed."""
    degrees, minutes, seconds = (
        match.group(p + "deg"),
        match.group(p + "min"),
        match.group(p + "sec"),
    )
    value = _number(degrees)
    if minutes is not None:
        if not degrees.isdigit():  # 59.5°30' means nothing
            return None
        if seconds is not None and not minutes.isdigit():
            return None
        minute_value, second_value = _number(minutes), _number(seconds) if seconds else 0.0
        if minute_value >= 60 or second_value >= 60:
            return None
        value += minute_value / 60 + second_value / 3600
    elif match.group(p + "dsign") is None and not re.search(r"[.,]", degrees):
        return None  # "3 N 4 E" is more likely a grid of boxes than a position
    return value, match.group(p + "pre") or match.group(p + "post")


_LATITUDE_LETTERS = frozenset("NS")
_LONGITUDE_LETTERS = frozenset("EWO")


def _read_degree_pair(text: str, match: re.Match[str]) -> CoordinateMention | None:
    first, second = _degrees(match, "a_"), _degrees(match, "b_")
    if first is None or second is None:
        return None
    (lat, lat_letter), (lon, lon_letter) = first, second
    lat_sign, lon_sign = match.group("a_sign"), match.group("b_sign")
    if lat_letter is not None and lon_letter is not None:
        if lat_letter in _LONGITUDE_LETTERS and lon_letter in _LATITUDE_LETTERS:
            lat, lon, lat_letter, lon_letter = lon, lat, lon_letter, lat_letter  # lon written first
        if lat_letter not in _LATITUDE_LETTERS or lon_letter not in _LONGITUDE_LETTERS:
            return None
        if lat_sign or lon_sign:
            return None  # "-59.3 N": which one is meant?
    elif lat_letter is not None or lon_letter is not None:
        return None  # "12.5, 40.3 N": one letter is probably a word, not a hemisphere
    else:
        labelled = match.group("label1") is not None and match.group("label2") is not None
        degree_signs = match.group("a_dsign") is not None and match.group("b_dsign") is not None
        if not (labelled or degree_signs or _is_bare_pair(text, match)):
            return None
    if lat_letter == "S" or lat_sign in ("-", "\u2212"):
        lat = -lat
    if lon_letter in ("W", "O") or lon_sign in ("-", "\u2212"):
        lon = -lon
    if abs(lat) > 90 or abs(lon) > 180:
        return None
    start, end = match.start(), match.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    if match.group("a_min") or match.group("b_min"):
        return CoordinateMention(start, end, text[start:end], lat, lon, "dms")
    return CoordinateMention(start, end, text[start:end], lat, lon, "decimal")


def _is_bare_pair(text: str, match: re.Match[str]) -> bool:
    """A pair with no letter, sign or label: strict, since number pairs abound in reports."""
    a, b = match.group("a_deg"), match.group("b_deg")
    if match.group("sep").strip() != ",":
        return False
    for value in (a, b):
        if "." not in value or len(value.split(".")[1]) < 3:
            return False
    before, after = text[: match.start()], text[match.end() :]
    return not (
        _CURRENCY.search(before)
        or _CURRENCY_AFTER.match(after)
        or _MORE_NUMBERS_AFTER.match(after)
        or _MORE_NUMBERS_BEFORE.search(before)
    )


def _find_degrees(text: str) -> Iterator[CoordinateMention]:
    # Not finditer: a failed reading ("12.5, 59.3772°N") must not swallow the
    # first half of a real pair that starts inside it.
    position = 0
    while (match := _DEGREE_PAIR.search(text, position)) is not None:
        mention = _read_degree_pair(text, match)
        if mention is None:
            position = match.start() + 1
            continue
        yield mention
        position = match.end()


# --- all of them ----------------------------------------------------------------

_FINDERS: tuple[Callable[[str], Iterator[CoordinateMention]], ...] = (
    _find_mgrs,
    _find_utm,
    _find_compact_dms,
    _find_degrees,
)


def find_coordinates(text: str) -> list[CoordinateMention]:
    """Every position written in `text`, in text order, overlapping readings resolved."""
    found = [(mention, rank) for rank, finder in enumerate(_FINDERS) for mention in finder(text)]
    found.sort(key=lambda item: (-(item[0].end - item[0].start), item[1], item[0].start))
    kept: list[CoordinateMention] = []
    for mention, _rank in found:
        if all(mention.end <= other.start or mention.start >= other.end for other in kept):
            kept.append(mention)
    return sorted(kept, key=lambda mention: mention.start)


def format_dms(lat: float, lon: float, *, french: bool = False) -> str:
    """`59°22'38"N 28°11'25"E` (O for west when `french`): for display and tests."""

    def one(value: float, positive: str, negative: str) -> str:
        total = round(abs(value) * 3600)
        degrees, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{degrees}°{minutes:02d}'{seconds:02d}\"{positive if value >= 0 else negative}"

    return f"{one(lat, 'N', 'S')} {one(lon, 'E', 'O' if french else 'W')}"
