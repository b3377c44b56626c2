"""Markings grammar, high-water mark and the access rule, as a staff would meet them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guetteur import MarkingError
from guetteur.model import GROUPS, Authority, Clearance, Level, Marking
from guetteur.security import (
    find_banner,
    high_water_mark,
    may_read,
    parse_clearance,
    parse_marking,
)

NATO = GROUPS["NATO"]


@pytest.mark.parametrize(
    ("text", "level", "authority", "releasable"),
    [
        ("NATO SECRET", Level.SECRET, Authority.NATO, NATO),
        ("ns", Level.SECRET, Authority.NATO, NATO),
        ("NR", Level.RESTRICTED, Authority.NATO, NATO),
        ("Cosmic Top Secret", Level.TOP_SECRET, Authority.NATO, NATO),
        ("NATO UNCLASSIFIED", Level.UNCLASSIFIED, Authority.NATO, NATO),
        ("Diffusion Restreinte", Level.RESTRICTED, Authority.NATIONAL_FRA, {"FRA"}),
        ("NON PROTEGE", Level.UNCLASSIFIED, Authority.NATIONAL_FRA, {"FRA"}),
        ("très secret", Level.TOP_SECRET, Authority.NATIONAL_FRA, {"FRA"}),
        ("CONFIDENTIEL DÉFENSE", Level.CONFIDENTIAL, Authority.NATIONAL_FRA, {"FRA"}),
        ("SECRET // SPÉCIAL FRANCE", Level.SECRET, Authority.NATIONAL_FRA, {"FRA"}),
        ("NATO SECRET // SPECIAL FRANCE", Level.SECRET, Authority.NATO, {"FRA"}),
        ("NATO SECRET // REL TO LUX, FRA", Level.SECRET, Authority.NATO, {"FRA", "LUX"}),
        ("DIFFUSION RESTREINTE // REL TO FRA, LUX", Level.RESTRICTED, 1, {"FRA", "LUX"}),
        ("CONFIDENTIAL // REL TO FVEY", Level.CONFIDENTIAL, Authority.PLAIN, GROUPS["FVEY"]),
        ("UNCLASSIFIED", Level.UNCLASSIFIED, Authority.PLAIN, None),
    ],
)
def test_labels_of_every_authority_parse_to_one_scale(
    text: str, level: Level, authority: Authority, releasable: set[str] | None
) -> None:
    marking = parse_marking(text)
    assert marking.level is level
    assert marking.authority == authority
    assert marking.releasable_to == (None if releasable is None else frozenset(releasable))


def test_canonical_form_sorts_codes_and_puts_caveats_last() -> None:
    marking = parse_marking("nato secret // crypto // rel to lux, fra")
    assert str(marking) == "NATO SECRET // REL TO FRA, LUX // CRYPTO"
    assert str(parse_marking("NATO RESTRICTED // REL TO NATO")) == "NATO RESTRICTED"
    assert str(parse_marking("NS // REL TO EU")) == "NATO SECRET // REL TO EU"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("CONFIDENTIAL", "needs REL TO"),
        ("NATO SECRET // REL TO FRANCE", "unknown releasability FRANCE"),
        ("hello", "not a marking"),
        ("NATO SECRET //", "empty segment"),
        ("NATO SECRET // NATO RESTRICTED", "two classification labels"),
    ],
)
def test_bad_markings_are_refused_with_the_input_named(text: str, says: str) -> None:
    with pytest.raises(MarkingError, match=says) as error:
        parse_marking(text)
    assert repr(text) in str(error.value)


def test_may_read_checks_level_nation_and_caveats() -> None:
    fra_ns = parse_clearance("NATO SECRET", "FRA")
    lux_nr = parse_clearance("NATO RESTRICTED", "LUX")
    deu_nc_crypto = parse_clearance("NC", "DEU", ["crypto"])
    rel_fra_lux = parse_marking("NATO RESTRICTED // REL TO FRA, LUX")
    assert may_read(fra_ns, rel_fra_lux) and may_read(lux_nr, rel_fra_lux)
    assert not may_read(deu_nc_crypto, rel_fra_lux)  # nation
    assert not may_read(lux_nr, parse_marking("NATO CONFIDENTIAL"))  # level
    assert not may_read(fra_ns, parse_marking("DIFFUSION RESTREINTE // CRYPTO"))  # caveat
    assert may_read(deu_nc_crypto, parse_marking("NATO RESTRICTED // CRYPTO"))
    assert not may_read(lux_nr, parse_marking("DIFFUSION RESTREINTE"))  # French national
    assert may_read(lux_nr, parse_marking("UNCLASSIFIED"))


def test_high_water_mark_never_downgrades() -> None:
    combined = high_water_mark(
        [parse_marking("NATO SECRET // REL TO FRA, LUX"), parse_marking("DIFFUSION RESTREINTE")]
    )
    assert str(combined) == "NATO SECRET // REL TO FRA"
    nobody = high_water_mark([parse_marking("NS // REL TO LUX"), parse_marking("DR")])
    assert str(nobody) == "NATO SECRET // REL TO NONE"
    assert parse_marking(str(nobody)) == nobody
    with pytest.raises(MarkingError):
        high_water_mark([])


def test_banner_is_read_from_first_or_last_line() -> None:
    assert str(find_banner("*** NATO SECRET // REL TO FRA ***\nReport text\n")) == (
        "NATO SECRET // REL TO FRA"
    )
    body = "INTREP 12\n\nText.\n\nClassification : Diffusion Restreinte\n"
    assert str(find_banner(body)) == "DIFFUSION RESTREINTE"
    both = "NATO RESTRICTED\ntext\nNATO SECRET // REL TO FRA, DEU"
    assert str(find_banner(both)) == "NATO SECRET // REL TO DEU, FRA"
    assert find_banner("SECRET plans of the enemy, a novel\nby someone") is None
    assert find_banner("") is None
    with pytest.raises(MarkingError, match="FRANCE"):
        find_banner("NATO SECRET // REL TO FRANCE\nbody")


# --- properties over random markings and clearances -------------------------------------

codes = st.sampled_from(sorted(NATO | {"AUS", "NZL", "IRL", "AUT", "UKR", "JPN"}))
releasabilities = st.one_of(st.none(), st.frozensets(codes, max_size=8))
caveat_sets = st.frozensets(st.sampled_from(["CRYPTO", "ATOMAL", "SIGINT", "OPS"]), max_size=3)


@st.composite
def markings(draw: st.DrawFn) -> Marking:
    authority = draw(st.sampled_from(Authority))
    level = draw(st.sampled_from(Level))
    if authority is Authority.PLAIN and level is Level.SECRET:
        authority = Authority.NATIONAL_FRA  # plain SECRET reads as the French label
    releasable = draw(releasabilities)
    if releasable is None and not (authority is Authority.PLAIN and level is Level.UNCLASSIFIED):
        releasable = draw(st.frozensets(codes, max_size=8))
    return Marking(level, authority, releasable, draw(caveat_sets))


clearances = st.builds(Clearance, st.sampled_from(Level), codes, caveat_sets)


def at_least_as_restrictive(a: Marking, b: Marking) -> bool:
    rel_ok = b.releasable_to is None or (
        a.releasable_to is not None and a.releasable_to <= b.releasable_to
    )
    return a.level >= b.level and rel_ok and a.caveats >= b.caveats


@given(markings())
def test_canonical_form_round_trips(marking: Marking) -> None:
    assert parse_marking(str(marking)) == marking


@given(markings(), markings(), markings())
def test_high_water_mark_is_associative_and_commutative(a: Marking, b: Marking, c: Marking) -> None:
    left = high_water_mark([high_water_mark([a, b]), c])
    right = high_water_mark([a, high_water_mark([b, c])])
    assert left == right == high_water_mark([c, b, a])


@given(st.lists(markings(), min_size=1, max_size=5))
def test_high_water_mark_is_never_less_restrictive_than_any_input(parts: list[Marking]) -> None:
    combined = high_water_mark(parts)
    assert all(at_least_as_restrictive(combined, part) for part in parts)


@given(st.lists(markings(), min_size=1, max_size=5), clearances)
def test_reading_a_combination_implies_reading_each_part(
    parts: list[Marking], clearance: Clearance
) -> None:
    if may_read(clearance, high_water_mark(parts)):
        assert all(may_read(clearance, part) for part in parts)


@pytest.mark.parametrize(
    "line", ["NATO SECRET - NOFORN", "NS - CRYPTO ATOMAL", "NATO SECRET: ORCON"]
)
def test_a_caveat_after_the_wrong_separator_is_refused_not_dropped(line: str) -> None:
    # Read as "banner - title", the caveat would be lost: a lower marking.
    with pytest.raises(MarkingError, match="could be a caveat"):
        find_banner(f"{line}\nConvoy seen near Valga at dawn.\n")


def test_a_title_after_the_banner_is_still_a_title() -> None:
    assert str(find_banner("NATO SECRET - Column near Narva\nbody\n")) == "NATO SECRET"
    assert str(find_banner("NATO SECRET - INTREP 041\nbody\n")) == "NATO SECRET"
