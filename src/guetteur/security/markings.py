"""The markings grammar and the one access rule.

Everything that decides who may read what is here, as pure functions:
`parse_marking` turns a banner or a `--marking` string into a `Marking`,
`high_water_mark` combines markings for anything derived from several records,
`find_banner` reads a document's own banner line, and `may_read` is the only
access rule in guetteur. The store applies `may_read` inside its queries (it
computes the set of markings a reader may read and filters rows on it), so no
record above a reader's clearance ever leaves the store.

Grammar, case- and accent-insensitive on input::

    marking  := label [" SPECIAL FRANCE"] ( " // " segment )*
    segment  := "REL TO " token ("," token)*  |  "SPECIAL FRANCE"  |  caveat
    token    := ISO 3166 alpha-3 code | NATO | EU | FVEY | NONE

Rules (issue 2): a NATO label without REL TO is releasable to NATO nations; a
French national label without REL TO to FRA only; "SPECIAL FRANCE" means REL TO
FRA; a plain-English label other than UNCLASSIFIED must state REL TO (we will
not guess whose secret it is); any other segment is a caveat the reader holds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from guetteur._exceptions import MarkingError
from guetteur.model import Authority, Clearance, Level, Marking
from guetteur.model._countries import GROUPS, ISO_ALPHA3, expand_releasability
from guetteur.model.marking import default_releasability

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

_L = Level
# Normalised (upper case, no accents, single spaces) label → (level, authority).
_LABELS: dict[str, tuple[Level, Authority]] = {
    # NATO, English and French forms, and the usual abbreviations.
    "NATO UNCLASSIFIED": (_L.UNCLASSIFIED, Authority.NATO),
    "NATO NON CLASSIFIE": (_L.UNCLASSIFIED, Authority.NATO),
    "NU": (_L.UNCLASSIFIED, Authority.NATO),
    "NATO RESTRICTED": (_L.RESTRICTED, Authority.NATO),
    "NATO DIFFUSION RESTREINTE": (_L.RESTRICTED, Authority.NATO),
    "NR": (_L.RESTRICTED, Authority.NATO),
    "NATO CONFIDENTIAL": (_L.CONFIDENTIAL, Authority.NATO),
    "NATO CONFIDENTIEL": (_L.CONFIDENTIAL, Authority.NATO),
    "NC": (_L.CONFIDENTIAL, Authority.NATO),
    "NATO SECRET": (_L.SECRET, Authority.NATO),
    "NS": (_L.SECRET, Authority.NATO),
    "COSMIC TOP SECRET": (_L.TOP_SECRET, Authority.NATO),
    "COSMIC TRES SECRET": (_L.TOP_SECRET, Authority.NATO),
    "CTS": (_L.TOP_SECRET, Authority.NATO),
    # French national (IGI 1300; the pre-2021 CONFIDENTIEL DÉFENSE still marks old files).
    "NON PROTEGE": (_L.UNCLASSIFIED, Authority.NATIONAL_FRA),
    "DIFFUSION RESTREINTE": (_L.RESTRICTED, Authority.NATIONAL_FRA),
    "DR": (_L.RESTRICTED, Authority.NATIONAL_FRA),
    "CONFIDENTIEL DEFENSE": (_L.CONFIDENTIAL, Authority.NATIONAL_FRA),
    "CONFIDENTIEL": (_L.CONFIDENTIAL, Authority.NATIONAL_FRA),
    "SECRET": (_L.SECRET, Authority.NATIONAL_FRA),
    "SECRET DEFENSE": (_L.SECRET, Authority.NATIONAL_FRA),
    "TRES SECRET": (_L.TOP_SECRET, Authority.NATIONAL_FRA),
    "TRES SECRET DEFENSE": (_L.TOP_SECRET, Authority.NATIONAL_FRA),
    # Plain English.
    "UNCLASSIFIED": (_L.UNCLASSIFIED, Authority.PLAIN),
    "RESTRICTED": (_L.RESTRICTED, Authority.PLAIN),
    "CONFIDENTIAL": (_L.CONFIDENTIAL, Authority.PLAIN),
    "TOP SECRET": (_L.TOP_SECRET, Authority.PLAIN),
}
_SPECIAL_FRANCE = "SPECIAL FRANCE"
_REL_TO = re.compile(r"^(?:REL(?:EASABLE)?\s+TO|REL)\s+(?P<tokens>.+)$")
# Decorations around banner lines: "*** NATO SECRET ***", "CLASSIFICATION: NS".
_BANNER_PREFIX = re.compile(
    r"^(?:CLASSIFICATION|CLASSIFIED|MARKING|NIVEAU(?: DE (?:PROTECTION|CLASSIFICATION))?"
    r"|PROTECTION)\s*:\s*"
)
_DECORATION = " *=-_#~|[]()"


def _normalise(text: str) -> str:
    """Upper case, accents removed, runs of spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.upper().split())


def _label(segment: str) -> tuple[Level, Authority, bool] | None:
    """A label segment → (level, authority, special_france), or None if it is no label."""
    special = False
    if segment.endswith(" " + _SPECIAL_FRANCE):
        segment, special = segment[: -len(_SPECIAL_FRANCE) - 1], True
    found = _LABELS.get(segment)
    return (*found, special) if found else None


def _releasability(origin: str, tokens_text: str) -> frozenset[str]:
    tokens = {t for t in re.split(r"[\s,;/]+", tokens_text) if t}
    if tokens == {"NONE"}:
        return frozenset()
    unknown = sorted(t for t in tokens if t not in ISO_ALPHA3 and t not in GROUPS)
    if unknown:
        raise MarkingError(
            f"{origin!r}: unknown releasability {', '.join(unknown)} "
            f"(use ISO 3166 alpha-3 codes such as FRA, LUX, or the groups "
            f"{', '.join(GROUPS)})"
        )
    return expand_releasability(tokens)


def parse_marking(text: str) -> Marking:
    """Parse a marking string; raise MarkingError naming it when it is not one."""
    normalised = _normalise(text)
    segments = [s.strip() for s in normalised.split("//")]
    if not normalised or any(not s for s in segments):
        raise MarkingError(f"{text!r}: not a marking (empty segment)")
    head = _label(segments[0])
    if head is None:
        raise MarkingError(
            f"{text!r}: not a marking (expected a label such as 'NATO SECRET', "
            f"'DIFFUSION RESTREINTE' or 'CONFIDENTIAL // REL TO FRA' first)"
        )
    level, authority, special_france = head
    releasable: frozenset[str] | None = None
    caveats: set[str] = set()
    for segment in segments[1:]:
        rel = _REL_TO.match(segment)
        if rel:
            named = _releasability(text, rel.group("tokens"))
            releasable = named if releasable is None else releasable & named
        elif segment == _SPECIAL_FRANCE:
            special_france = True
        elif _label(segment) is not None:
            raise MarkingError(f"{text!r}: two classification labels in one marking")
        else:
            caveats.add(segment)
    if releasable is None:
        if authority is Authority.PLAIN and level is not Level.UNCLASSIFIED:
            raise MarkingError(
                f"{text!r}: a plain-English marking needs REL TO "
                f"(e.g. '{segments[0]} // REL TO FRA'), or use a NATO or national label"
            )
        releasable = default_releasability(authority)
    if special_france:
        releasable = frozenset({"FRA"}) & (releasable if releasable is not None else {"FRA"})
    return Marking(level, authority, releasable, frozenset(caveats))


def parse_level(text: str) -> Level:
    """A clearance level from any label ('NATO SECRET', 'NS', 'Très Secret', 'SECRET')."""
    found = _label(_normalise(text))
    if found is None:
        raise MarkingError(
            f"{text!r}: not a classification level (e.g. 'NATO SECRET', 'DIFFUSION RESTREINTE')"
        )
    return found[0]


def parse_nationality(text: str) -> str:
    code = _normalise(text)
    if code not in ISO_ALPHA3:
        raise MarkingError(f"{text!r}: not an ISO 3166 alpha-3 country code (e.g. FRA, LUX, DEU)")
    return code


def parse_clearance(level: str, nationality: str, caveats: Iterable[str] = ()) -> Clearance:
    """A clearance from its three parts, each validated."""
    return Clearance(
        parse_level(level),
        parse_nationality(nationality),
        frozenset(_normalise(c) for c in caveats if c.strip()),
    )


def may_read(clearance: Clearance, marking: Marking) -> bool:
    """The only access rule: level high enough, nation released to, every caveat held.

    A clearance narrowed for a tear-line (`Clearance.release_to`) also needs
    the marking to be releasable to every partner named, and caveat-free:
    partners hold none of our caveats, so a caveated passage never crosses.
    """
    readable = (
        clearance.level >= marking.level
        and (marking.releasable_to is None or clearance.nationality in marking.releasable_to)
        and marking.caveats <= clearance.caveats
    )
    if readable and clearance.release_to:
        return not marking.caveats and (
            marking.releasable_to is None or clearance.release_to <= marking.releasable_to
        )
    return readable


def high_water_mark(markings: Iterable[Marking]) -> Marking:
    """The marking of anything derived from all of `markings`.

    Highest level, intersection of releasability, union of caveats. The label
    authority is that of the highest (level, authority) input, so the result
    does not depend on the order of the inputs. Fails on an empty input:
    a product that cites nothing has no marking to inherit.
    """
    items = list(markings)
    if not items:
        raise MarkingError("high-water mark of no markings: nothing to inherit a marking from")
    top = max(items, key=lambda m: (m.level, m.authority))
    releasable: frozenset[str] | None = None
    for marking in items:
        if marking.releasable_to is not None:
            releasable = (
                marking.releasable_to if releasable is None else releasable & marking.releasable_to
            )
    caveats = frozenset().union(*(m.caveats for m in items))
    return Marking(top.level, top.authority, releasable, caveats)


def _banner_candidate(line: str) -> str:
    candidate = _normalise(line).strip(_DECORATION)
    return _BANNER_PREFIX.sub("", candidate).strip(_DECORATION)


def is_banner_line(line: str) -> bool:
    """Whether a line is a classification banner (its first segment is a label)."""
    return _label(_banner_candidate(line).split("//")[0].strip()) is not None


def find_banner(text: str) -> Marking | None:
    """The marking of a document's own banner: its first or last non-empty line.

    A line whose first segment is a classification label is a banner; if the
    rest of it does not parse, MarkingError is raised rather than the banner
    being ignored (ignoring it could let a lower --marking win). When both the
    first and the last line are banners, the more restrictive combination wins.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    found: list[Marking] = []
    for line in {lines[0], lines[-1]}:
        if is_banner_line(line):
            found.append(parse_marking(_banner_candidate(line)))
    return high_water_mark(found) if found else None
