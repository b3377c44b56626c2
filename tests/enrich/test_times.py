"""Times in reports: DTGs, ISO 8601, French and English prose; the report's own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guetteur.enrich import TimeMention, find_reported_time, find_times, format_dtg, parse_dtg

ANCHOR = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


# --- parse_dtg ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtg", "expected"),
    [
        ("220915ZNOV26", utc(2026, 11, 22, 9, 15)),
        ("010000ZJAN27", utc(2027, 1, 1, 0, 0)),
        ("312359ZDEC99", utc(2099, 12, 31, 23, 59)),
        ("290600ZFEB28", utc(2028, 2, 29, 6, 0)),  # leap year
        ("220915znov26", utc(2026, 11, 22, 9, 15)),  # any case
        ("220915Z NOV 26", utc(2026, 11, 22, 9, 15)),  # spaced as some messages are
        (" 220915ZNOV26\n", utc(2026, 11, 22, 9, 15)),
        ("220915ZNOV2026", utc(2026, 11, 22, 9, 15)),  # four-digit year
    ],
)
def test_parse_dtg(dtg: str, expected: datetime) -> None:
    value = parse_dtg(dtg)
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    ("dtg", "month"),
    [
        ("220915ZJAN26", 1),
        ("220915ZFEV26", 2),
        ("220915ZFÉV26", 2),
        ("220915Zfév26", 2),
        ("220915ZMAR26", 3),
        ("220915ZAVR26", 4),
        ("220915ZMAI26", 5),
        ("220915ZMAY26", 5),
        ("220915ZJUN26", 6),
        ("220915ZJUIN26", 6),
        ("220915ZJUL26", 7),
        ("220915ZJUIL26", 7),
        ("220915ZAOU26", 8),
        ("220915ZAOÛ26", 8),
        ("220915ZAUG26", 8),
        ("220915ZSEP26", 9),
        ("220915ZOCT26", 10),
        ("220915ZNOV26", 11),
        ("220915ZDEC26", 12),
        ("220915ZDÉC26", 12),
    ],
)
def test_parse_dtg_months_in_english_and_french(dtg: str, month: int) -> None:
    assert parse_dtg(dtg) == utc(2026, month, 22, 9, 15)


@pytest.mark.parametrize(
    ("letter", "hours_east"),
    [
        ("Z", 0),
        ("A", 1),
        ("B", 2),
        ("I", 9),
        ("K", 10),
        ("M", 12),
        ("N", -1),
        ("R", -5),
        ("Y", -12),
    ],
)
def test_parse_dtg_converts_zone_letters_to_utc(letter: str, hours_east: int) -> None:
    local = datetime(2026, 11, 22, 9, 15)
    dtg = f"{local:%d%H%M}{letter}NOV26"
    assert parse_dtg(dtg) == (local - timedelta(hours=hours_east)).replace(tzinfo=UTC)


def test_parse_dtg_zone_letter_can_cross_midnight_and_year() -> None:
    assert parse_dtg("010030AJAN27") == utc(2026, 12, 31, 23, 30)
    assert parse_dtg("312330NDEC26") == utc(2027, 1, 1, 0, 30)


def test_parse_dtg_without_year_takes_the_year_closest_to_the_anchor() -> None:
    assert parse_dtg("220915ZNOV", ANCHOR) == utc(2026, 11, 22, 9, 15)
    # Written in late December, read in early January: last year.
    assert parse_dtg("302200ZDEC", utc(2027, 1, 2)) == utc(2026, 12, 30, 22, 0)
    # Written for early January, read in late December: next year.
    assert parse_dtg("020600ZJAN", utc(2026, 12, 30)) == utc(2027, 1, 2, 6, 0)


def test_parse_dtg_without_month_takes_the_month_closest_to_the_anchor() -> None:
    assert parse_dtg("220915Z", ANCHOR) == utc(2026, 11, 22, 9, 15)
    assert parse_dtg("300600Z", utc(2026, 12, 2)) == utc(2026, 11, 30, 6, 0)
    assert parse_dtg("010600Z", utc(2026, 12, 30)) == utc(2027, 1, 1, 6, 0)
    # No 31 November: the nearest month that has a 31st.
    assert parse_dtg("310600Z", utc(2026, 11, 20)) == utc(2026, 10, 31, 6, 0)


@pytest.mark.parametrize(
    "bad",
    [
        "320915ZNOV26",  # day 32
        "312359ZNOV26",  # 31 November
        "290600ZFEB26",  # 29 February in a common year
        "222515ZNOV26",  # hour 25
        "220960ZNOV26",  # minute 60
        "000915ZNOV26",  # day 0
        "220915ZXYZ26",  # unknown month
        "220915ZNOVEMBRE26",
        "220915JNOV26",  # J: local time, no fixed offset
        "220915",  # no zone
        "22091ZNOV26",
        "220915ZNOV261",
        "hello",
        "",
    ],
)
def test_parse_dtg_rejects_bad_groups_naming_the_input(bad: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_dtg(bad)
    assert repr(bad) in str(raised.value)


def test_format_dtg() -> None:
    assert format_dtg(utc(2026, 11, 22, 9, 15)) == "220915ZNOV26"
    assert format_dtg(utc(2027, 1, 1, 0, 0)) == "010000ZJAN27"
    # Converted to UTC first.
    plus_one = timezone(timedelta(hours=1))
    assert format_dtg(datetime(2026, 11, 22, 10, 15, tzinfo=plus_one)) == "220915ZNOV26"


# Instants that stay within 2000-2099 in UTC whatever the offset.
_ZONES = st.integers(min_value=-14 * 60 + 1, max_value=14 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=_ZONES
).map(lambda dt: dt.replace(second=0, microsecond=0))


@given(_INSTANTS)
def test_format_then_parse_dtg_gives_the_same_instant(instant: datetime) -> None:
    parsed = parse_dtg(format_dtg(instant))
    assert parsed == instant
    assert parsed.tzinfo is UTC


@given(_INSTANTS, st.integers(min_value=-170, max_value=170))
def test_dtg_without_year_is_completed_from_a_nearby_anchor(instant: datetime, days: int) -> None:
    yearless = format_dtg(instant)[:-2]
    assert parse_dtg(yearless, instant + timedelta(days=days)) == instant


_LETTERS = [
    ("Z", 0),
    *zip("ABCDEFGHIKLM", range(1, 13), strict=True),
    *zip("NOPQRSTUVWXY", range(-1, -13, -1), strict=True),
]


@given(_INSTANTS, st.sampled_from(_LETTERS))
def test_dtg_in_any_zone_letter_parses_to_the_same_instant(
    instant: datetime, letter_offset: tuple[str, int]
) -> None:
    letter, hours = letter_offset
    local = instant.astimezone(timezone(timedelta(hours=hours)))
    months = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
    dtg = f"{local:%d%H%M}{letter}{months[local.month - 1]}{local:%y}"
    assert parse_dtg(dtg) == instant


# --- find_times --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found", "expected"),
    [
        # French prose
        ("le 22 novembre 2026 à 06h30", "22 novembre 2026 à 06h30", utc(2026, 11, 22, 6, 30)),
        (
            "lundi 23 novembre 2026 à 6 h 30",
            "lundi 23 novembre 2026 à 6 h 30",
            utc(2026, 11, 23, 6, 30),
        ),
        ("Le 1er décembre 2026, calme.", "1er décembre 2026", utc(2026, 12, 1)),
        ("vu le 22 nov. 2026 au soir", "22 nov. 2026", utc(2026, 11, 22)),
        ("22 févr. 2026", "22 févr. 2026", utc(2026, 2, 22)),
        ("3 fevrier 2026", "3 fevrier 2026", utc(2026, 2, 3)),
        ("14 juillet 2026 vers 14h", "14 juillet 2026 vers 14h", utc(2026, 7, 14, 14, 0)),
        ("15 août 2026 à 22:45", "15 août 2026 à 22:45", utc(2026, 8, 15, 22, 45)),
        ("15 aout 2026", "15 aout 2026", utc(2026, 8, 15)),
        ("le 2 juin 2026 06h30Z", "2 juin 2026 06h30Z", utc(2026, 6, 2, 6, 30)),
        ("Le 22 NOVEMBRE 2026", "22 NOVEMBRE 2026", utc(2026, 11, 22)),
        ("le 22 novembre à 10h", "22 novembre à 10h", utc(2026, 11, 22, 10, 0)),
        # English prose
        ("on 21 November 2026 at 06:30", "21 November 2026 at 06:30", utc(2026, 11, 21, 6, 30)),
        ("November 21, 2026", "November 21, 2026", utc(2026, 11, 21)),
        ("21 Nov 2026 0630Z", "21 Nov 2026 0630Z", utc(2026, 11, 21, 6, 30)),
        ("21st November 2026 at 0630", "21st November 2026 at 0630", utc(2026, 11, 21, 6, 30)),
        ("21 Nov 2026 0630 hrs", "21 Nov 2026 0630 hrs", utc(2026, 11, 21, 6, 30)),
        (
            "Monday, 23 November 2026 at 6:30 pm.",
            "Monday, 23 November 2026 at 6:30 pm",
            utc(2026, 11, 23, 18, 30),
        ),
        ("Nov. 3rd 2026 at 12:15 a.m.", "Nov. 3rd 2026 at 12:15 a.m.", utc(2026, 11, 3, 0, 15)),
        ("on 2 May 2026", "2 May 2026", utc(2026, 5, 2)),
        ("by 21 November, withdraw", "21 November", utc(2026, 11, 21)),
        # ISO 8601
        ("2026-11-22T09:15:00Z", "2026-11-22T09:15:00Z", utc(2026, 11, 22, 9, 15)),
        ("at 2026-11-22 09:15 UTC", "2026-11-22 09:15 UTC", utc(2026, 11, 22, 9, 15)),
        ("2026-11-22T10:15+01:00", "2026-11-22T10:15+01:00", utc(2026, 11, 22, 9, 15)),
        ("2026-11-22T04:15:30-0500", "2026-11-22T04:15:30-0500", utc(2026, 11, 22, 9, 15, 30)),
        ("logged 2026-11-22.", "2026-11-22", utc(2026, 11, 22)),
        # DTG
        ("DTG 220915ZNOV26.", "220915ZNOV26", utc(2026, 11, 22, 9, 15)),
        ("at 221015A NOV 26", "221015A NOV 26", utc(2026, 11, 22, 9, 15)),
        ("contact 230600Z", "230600Z", utc(2026, 11, 23, 6, 0)),
    ],
)
def test_find_times_reads_each_form(text: str, found: str, expected: datetime) -> None:
    mentions = find_times(text, ANCHOR)
    assert [(mention.text, mention.value) for mention in mentions] == [(found, expected)]
    assert text[mentions[0].start : mentions[0].end] == found


@pytest.mark.parametrize(
    "text",
    [
        "1 Mar Div crossed the river",  # a division, not 1 March
        "units 2 may be present",
        "Route March 3 is closed",
        "serial 123456A",  # six digits and a letter, no month: not a DTG
        "220915JNOV26",  # local time has no fixed offset
        "2026-13-45",
        "35VLF 1234 5678",
        "T-72B3 x4",
        "le 32 novembre 2026",
        "12 heures de marche",
    ],
)
def test_find_times_ignores_what_is_not_a_time(text: str) -> None:
    assert find_times(text, ANCHOR) == []


def test_find_times_gives_kinds_and_offsets_in_order() -> None:
    text = (
        "DTG: 220915ZNOV26\n"
        "Le 22 novembre 2026 à 06h30, convoi observé. Confirmé le 2026-11-23.\n"
        "On 21 Nov 2026 0630Z a patrol reported 1200 rounds fired on November 24, 2026.\n"
    )
    mentions = find_times(text, ANCHOR)
    assert [(mention.kind, mention.text) for mention in mentions] == [
        ("dtg", "220915ZNOV26"),
        ("prose_fr", "22 novembre 2026 à 06h30"),
        ("iso", "2026-11-23"),
        ("prose_en", "21 Nov 2026 0630Z"),
        ("prose_en", "November 24, 2026"),
    ]
    for mention in mentions:
        assert text[mention.start : mention.end] == mention.text
        assert mention.value.tzinfo is UTC


def test_shared_abbreviation_reads_as_the_language_its_case_suggests() -> None:
    assert [m.kind for m in find_times("le 22 nov. 2026 ; on 22 Nov 2026")] == [
        "prose_fr",
        "prose_en",
    ]


def test_four_digits_after_a_date_are_not_a_time_without_a_marker() -> None:
    (mention,) = find_times("21 November 2026 1200 rounds fired", ANCHOR)
    assert mention.text == "21 November 2026"
    assert mention.value == utc(2026, 11, 21)


def test_yearless_prose_date_takes_the_year_closest_to_the_anchor() -> None:
    (mention,) = find_times("le 3 janvier", utc(2026, 12, 20))
    assert mention.value == utc(2027, 1, 3)


def test_time_mention_is_frozen() -> None:
    mention = TimeMention(0, 1, "x", ANCHOR, "dtg")
    with pytest.raises(AttributeError):
        mention.start = 2  # type: ignore[misc]


# --- find_reported_time ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DTG: 220915ZNOV26\nConvoi observé.", utc(2026, 11, 22, 9, 15)),
        ("GDH : 221015ANOV26\n", utc(2026, 11, 22, 9, 15)),
        ("Date: 2026-11-21T06:30Z\n", utc(2026, 11, 21, 6, 30)),
        ("Date : 22 novembre 2026 à 06h30\n", utc(2026, 11, 22, 6, 30)),
        ("Reported: 21 Nov 2026 0630Z\n", utc(2026, 11, 21, 6, 30)),
        ("Time of report 21 November 2026 at 06:30\n", utc(2026, 11, 21, 6, 30)),
        ("Heure : 22 nov. 2026 06h30\n", utc(2026, 11, 22, 6, 30)),
        ("TIME/220915ZNOV26//\n", utc(2026, 11, 22, 9, 15)),
        ("HEURE/220915ZNOV26\n", utc(2026, 11, 22, 9, 15)),
        ("1. DTG 220915ZNOV26\n", utc(2026, 11, 22, 9, 15)),
        # A date line and an hour line make one time.
        ("Date : 22 novembre 2026\nHeure : 06h30\n", utc(2026, 11, 22, 6, 30)),
        ("Date: 21 November 2026\nTime: 0630Z\n", utc(2026, 11, 21, 6, 30)),
        # A date alone is midnight UTC.
        ("Date : 22 novembre 2026\n", utc(2026, 11, 22)),
        # Unlabelled: DTG, then ISO, then prose.
        ("Texte du 2026-11-20, relu 210600ZNOV26.", utc(2026, 11, 21, 6, 0)),
        ("Le 22 novembre 2026, vu le 2026-11-20.", utc(2026, 11, 20)),
        ("Le 22 novembre 2026 à 06h30, convoi observé.", utc(2026, 11, 22, 6, 30)),
        ("Patrol report, 21 November 2026.", utc(2026, 11, 21)),
    ],
)
def test_find_reported_time(text: str, expected: datetime) -> None:
    value = find_reported_time(text, ANCHOR)
    assert value == expected
    assert value is not None and value.tzinfo is UTC


def test_labelled_time_wins_over_an_earlier_unlabelled_one() -> None:
    text = "Suite au rapport du 220600ZNOV26.\nDTG: 230915ZNOV26\n"
    assert find_reported_time(text, ANCHOR) == utc(2026, 11, 23, 9, 15)


def test_labelled_datetime_wins_over_a_labelled_bare_date() -> None:
    text = "Date : 22 novembre 2026\nDTG : 221015ZNOV26\n"
    assert find_reported_time(text, ANCHOR) == utc(2026, 11, 22, 10, 15)


def test_label_with_a_different_meaning_is_not_taken() -> None:
    text = "Date de naissance du chef : inconnue\nLe 22 novembre 2026, convoi observé."
    assert find_reported_time(text, ANCHOR) == utc(2026, 11, 22)


def test_reported_time_is_read_in_the_first_forty_lines_only() -> None:
    text = "Rien.\n" * 45 + "DTG: 220915ZNOV26\n"
    assert find_reported_time(text, ANCHOR) is None
    assert find_times(text, ANCHOR)[0].value == utc(2026, 11, 22, 9, 15)


@pytest.mark.parametrize("text", ["", "Convoi observé près de Tapa.", "T-72B3 x4 at 35VLF123456"])
def test_no_time_is_none(text: str) -> None:
    assert find_reported_time(text, ANCHOR) is None


# --- hostile input -------------------------------------------------------------


@given(st.text())
def test_any_text_gives_mentions_or_nothing_never_an_error(text: str) -> None:
    for mention in find_times(text, ANCHOR):
        assert text[mention.start : mention.end] == mention.text
        assert mention.value.tzinfo is UTC
    find_reported_time(text, ANCHOR)


@given(st.from_regex(r"\A\d{6}\s?.\s?\w{0,5}\s?\d{0,4}\Z"))
def test_parse_dtg_fails_only_with_value_error(candidate: str) -> None:
    try:
        value = parse_dtg(candidate, ANCHOR)
    except ValueError as error:
        assert repr(candidate) in str(error)
    else:
        assert value.tzinfo is UTC
