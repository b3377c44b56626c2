"""Positions written in reports: MGRS, UTM, decimal degrees, DMS — and what is not a position."""

from __future__ import annotations

import math

import mgrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from guetteur.enrich.coordinates import (
    find_coordinates,
    format_dms,
    mgrs_to_latlon,
    utm_to_latlon,
)
from guetteur.model.entity import CoordinateMention

# Narva castle, the reference point of most examples below.
NARVA = (59.3772, 28.1903)
MGRS = mgrs.MGRS()


def metres_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


def only(text: str) -> CoordinateMention:
    """The single position found in `text`, its offsets checked."""
    found = find_coordinates(text)
    assert len(found) == 1, found
    mention = found[0]
    assert text[mention.start : mention.end] == mention.text
    return mention


# --- MGRS ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reference", "precision_m"),
    [
        ("BTR-82A x3 at 35VNF6763382659 moving W.", "35VNF6763382659", 0.5),
        ("Grid 35V NF 67633 82659, time 0300Z.", "35V NF 67633 82659", 0.5),
        ("OP at 35VNF 676 826.", "35VNF 676 826", 50.0),
        ("Vic 35VNF67638266", "35VNF67638266", 5.0),
        ("(35VNF6782)", "35VNF6782", 500.0),
        ("area 35VNF68 only", "35VNF68", 5000.0),
    ],
)
def test_mgrs_forms(text: str, reference: str, precision_m: float) -> None:
    mention = only(text)
    assert mention.kind == "mgrs"
    assert mention.text == reference
    assert mention.precision_m == precision_m
    # The centre of the square holding Narva castle: within half its diagonal.
    assert metres_between(*NARVA, mention.lat, mention.lon) <= precision_m * math.sqrt(2) + 1


def test_mgrs_gives_the_centre_of_its_square() -> None:
    # 35VNF 676 826 is the 100 m square whose south-west corner is 35VNF6760082600.
    centre = only("35VNF 676 826")
    corner_lat, corner_lon = MGRS.toLatLon("35VNF6760082600")
    assert 65 < metres_between(corner_lat, corner_lon, centre.lat, centre.lon) < 75  # ~50√2 m


@pytest.mark.parametrize(
    "text",
    [
        "61VNF6763382659",  # zone 61 does not exist
        "00VNF6763382659",  # nor zone 0
        "35INF6763382659",  # I is never a band letter
        "35VOF6763382659",  # nor O a column letter
        "35VNF676338265",  # odd digit count: which half is the easting?
        "35VNF 6763 826",  # split halves of unequal length
        "35VAF6763382659",  # column A is not used in zone 35
        "35UNF6763382659",  # band U: the square lies in band V
        "35CNF6763382659",  # band C is near the South Pole
        "35vnf6763382659",  # lower case: a serial number, not a grid
        "35VNF",  # a 100 km square without digits is not a position
    ],
)
def test_invalid_mgrs_is_ignored_without_crash_or_warning(text: str) -> None:
    # pytest turns warnings into errors: the mgrs C library must not be left to warn.
    assert find_coordinates(f"Reported at {text} by patrol.") == []


def test_mgrs_to_latlon_names_a_bad_reference() -> None:
    with pytest.raises(ValueError, match="35UNF6763382659"):
        mgrs_to_latlon("35UNF6763382659")
    with pytest.raises(ValueError, match="not an MGRS reference"):
        mgrs_to_latlon("hello")


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=-79.9, max_value=83.9),
    lon=st.floats(min_value=-180.0, max_value=179.999),
    digits=st.integers(min_value=1, max_value=5),
    spaced=st.booleans(),
)
def test_mgrs_round_trip(lat: float, lon: float, digits: int, spaced: bool) -> None:
    reference = MGRS.toMGRS(lat, lon, MGRSPrecision=digits)
    if spaced:
        head, tail = reference[: -2 * digits], reference[-2 * digits :]
        reference = f"{head[:-2]} {head[-2:]} {tail[:digits]} {tail[digits:]}"
    mention = only(f"Patrol reports contact at {reference}, two vehicles.")
    assert mention.kind == "mgrs"
    assert mention.text == reference
    half_side = 10.0 ** (5 - digits) / 2
    assert mention.precision_m == half_side
    # Half the square's diagonal, in grid metres; 1% for the UTM scale and our sphere.
    assert metres_between(lat, lon, mention.lat, mention.lon) <= half_side * math.sqrt(2) * 1.01 + 1


# --- UTM ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "35V 567633 6582659",
        "35N 567633E 6582659N",
        "UTM 35V E567633 N6582659",
        "utm 35V 567633mE 6582659mN",
    ],
)
def test_utm_forms(text: str) -> None:
    mention = only(f"Position {text}.")
    assert mention.kind == "utm"
    assert mention.text.lower() == text.lower()
    # The same point as MGRS 35VNF6763382659.
    assert metres_between(*NARVA, mention.lat, mention.lon) < 2


def test_utm_letter_s_is_band_or_hemisphere_by_position() -> None:
    band_s = only("33S 500000 4000000")  # band S: 32-40°N, Sicily channel
    assert band_s.lat == pytest.approx(36.14, abs=0.01)
    southern = only("33S 500000 6000000")  # no point of band S has that northing
    assert southern.lat == pytest.approx(-36.14, abs=0.01)


@pytest.mark.parametrize(
    "text",
    [
        "35V 067633 6582659",  # easting below 100 km
        "35V 567633 9582659",  # band V cannot hold this northing
        "61V 567633 6582659",  # no zone 61
    ],
)
def test_invalid_utm_is_ignored(text: str) -> None:
    assert find_coordinates(text) == []
    with pytest.raises(ValueError):
        zone, letter, easting, northing = text[:2], text[2], text.split()[1], text.split()[2]
        utm_to_latlon(int(zone), letter, float(easting), float(northing))


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(min_value=-79.9, max_value=83.9),
    lon=st.floats(min_value=-180.0, max_value=179.999),
)
def test_utm_round_trip(lat: float, lon: float) -> None:
    # The oracle itself cannot decode what it encodes a hair south of the
    # equator (MGRSToUTM raises on its own "31MAA..."): not our parser's case.
    assume(not -1e-6 < lat < 0)
    reference = MGRS.toMGRS(lat, lon)  # "09NTK..." — the zone may be zero-padded
    zone, _hemisphere, easting, northing = MGRS.MGRSToUTM(reference)
    band = reference.lstrip("0123456789")[0]
    text = f"UTM {zone}{band} {int(easting)} {int(northing)}"
    mention = only(f"Convoy halted at {text} for refuelling.")
    assert mention.kind == "utm"
    assert metres_between(lat, lon, mention.lat, mention.lon) < 3


# --- decimal degrees ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("59.3772, 28.1903", NARVA),
        ("59.3772°N 28.1903°E", NARVA),
        ("59.3772° N, 28.1903° E", NARVA),
        ("N59.3772 E28.1903", NARVA),
        ("N 59.3772, E 28.1903", NARVA),
        ("lat 59.3772 lon 28.1903", NARVA),
        ("Latitude: 59.3772, Longitude: 28.1903", NARVA),
        ("59.3772°, 28.1903°", NARVA),
        ("28.1903°E 59.3772°N", NARVA),  # longitude first, said so by the letters
        ("-33.8688, 151.2093", (-33.8688, 151.2093)),  # signed: Sydney
        ("lat -33.86 lon 151.2", (-33.86, 151.2)),
        ("48,8566° N ; 2,3522° E", (48.8566, 2.3522)),  # French decimal comma
        ("48.8566 N 2.3522 O", (48.8566, -2.3522)),  # O for Ouest
        ("34.6037° S, 58.3816° W", (-34.6037, -58.3816)),  # Buenos Aires
    ],
)
def test_decimal_degrees(text: str, expected: tuple[float, float]) -> None:
    mention = only(f"Position: {text}.")
    assert mention.kind == "decimal"
    assert mention.text == text
    assert (mention.lat, mention.lon) == pytest.approx(expected)
    assert mention.precision_m == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Fuel: 12.5, 40.0 litres per vehicle.",
        "Running version 1.2.3, 4.5.6 in production.",
        "Costs were 12.500, 40.000 € in total.",  # thousands, then a currency
        "Budget €12.500, 40.000 for the quarter.",
        "Readings 1.234, 5.678, 9.123 in the log.",  # a list of numbers, not a pair
        "The two sectors 3 N 4 E were quiet.",  # integers with letters: not enough
        "-33.86, 151.2",  # signed but too few decimals for a bare pair
        "95.1234, 28.1234",  # latitude out of range
        "59.3772 N 28.1903 N",  # two latitudes
        "59.3772 E 28.1903 O",  # two longitudes
        "-59.3772 N 28.1903 E",  # a sign and a hemisphere that may disagree
        "12.5, 40.3 N of the road",  # one letter only
    ],
)
def test_number_pairs_that_are_not_positions(text: str) -> None:
    assert find_coordinates(text) == []


# --- degrees, minutes, seconds --------------------------------------------------------------

NARVA_DMS = (59 + 22 / 60 + 38 / 3600, 28 + 11 / 60 + 25 / 3600)


@pytest.mark.parametrize(
    "text",
    [
        "59°22'38\"N 28°11'25\"E",
        "59° 22′ 38″ N, 28° 11′ 25″ E",
        "59°22'38\" N 28°11'25\" E",
        "lat. 59°22'38'' N, long. 28°11'25'' E",
        "59º22’38” N 28º11’25” E",
        "592238N0281125E",  # the compact military form
        "592238N 0281125E",
    ],
)
def test_degrees_minutes_seconds(text: str) -> None:
    mention = only(f"Point d'observation : {text}.")
    assert mention.kind == "dms"
    assert mention.text == text
    assert (mention.lat, mention.lon) == pytest.approx(NARVA_DMS, abs=1e-6)


def test_degrees_and_decimal_minutes() -> None:
    mention = only("Ship at N 59°22.633' E 028°11.417' heading 270.")
    assert mention.kind == "dms"
    assert (mention.lat, mention.lon) == pytest.approx(
        (59 + 22.633 / 60, 28 + 11.417 / 60), abs=1e-9
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48°51'N 2°21'O", (48.85, -2.35)),  # Paris, west written the French way
        ("48°51'24\"N 2°21'03\"W", (48 + 51 / 60 + 24 / 3600, -(2 + 21 / 60 + 3 / 3600))),
        ("33°52'S 151°12'E", (-(33 + 52 / 60), 151.2)),
        ("5922N02811W", (59 + 22 / 60, -(28 + 11 / 60))),
    ],
)
def test_hemispheres(text: str, expected: tuple[float, float]) -> None:
    mention = only(text)
    assert (mention.lat, mention.lon) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "59°75'00\"N 28°11'25\"E",  # 75 minutes
        "59°22'61\"N 28°11'25\"E",  # 61 seconds
        "95°22'38\"N 28°11'25\"E",  # latitude beyond the pole
        "599238N0281125E",  # compact form with 92 minutes
    ],
)
def test_invalid_dms_is_ignored(text: str) -> None:
    assert find_coordinates(text) == []


def test_format_dms_writes_west_as_o_in_french() -> None:
    assert format_dms(48.8566, -2.3522) == "48°51'24\"N 2°21'08\"W"
    assert format_dms(48.8566, -2.3522, french=True) == "48°51'24\"N 2°21'08\"O"


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=-89.99, max_value=89.99),
    lon=st.floats(min_value=-179.99, max_value=179.99),
    french=st.booleans(),
)
def test_dms_round_trip(lat: float, lon: float, french: bool) -> None:
    text = format_dms(lat, lon, french=french)
    mention = only(f"Observé à {text} ce matin.")
    assert mention.kind == "dms"
    # Whole seconds: within about 22 m of the point.
    assert metres_between(lat, lon, mention.lat, mention.lon) < 25


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    style=st.sampled_from(["letters", "degrees", "signed", "labels", "french"]),
)
def test_decimal_round_trip(lat: float, lon: float, style: str) -> None:
    north, east = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    texts = {
        "letters": f"{abs(lat):.5f}°{north} {abs(lon):.5f}°{east}",
        "degrees": f"{lat:.5f}°, {lon:.5f}°",
        "signed": f"{lat:.5f}, {lon:.5f}",
        "labels": f"lat {lat:.5f} lon {lon:.5f}",
        "french": f"{abs(lat):.5f}".replace(".", ",")
        + f" {north} ; "
        + f"{abs(lon):.5f}".replace(".", ",")
        + (" E" if lon >= 0 else " O"),
    }
    mention = only(f"Reported position {texts[style]} at 0412Z.")
    assert mention.kind == "decimal"
    assert (mention.lat, mention.lon) == pytest.approx((lat, lon), abs=1e-5)


# --- several in one text --------------------------------------------------------------------


def test_several_positions_in_order_with_offsets() -> None:
    text = (
        "SALUTE 1: 2x T-90M at 35VNF6763382659. "
        "SALUTE 2: observation post at 59°22'38\"N 28°11'25\"E; "
        "fuel depot at 59.3772, 28.1903 and "
        "HQ at 35V 567633 6582659."
    )
    found = find_coordinates(text)
    assert [mention.kind for mention in found] == ["mgrs", "dms", "decimal", "utm"]
    for mention in found:
        assert text[mention.start : mention.end] == mention.text
        assert metres_between(*NARVA, mention.lat, mention.lon) < 25


def test_no_positions_in_plain_prose_and_dtgs() -> None:
    text = (
        "220915ZNOV26 — 3rd Battalion moved 12.5 km north; version 2.4.1 of the "
        "software logged 1,024 events at 10.0.0.1 on 2026-11-22."
    )
    assert find_coordinates(text) == []
