"""The markings grammar and the one access rule.

Everything that decides who may read what is here, as pure functions:
`parse_marking` turns a banner or a `--marking` string into a `Marking`,
`high_water_mark` combines markings for anything derived from several records,
`stated_markings` reads every marking a text states about itself (banners near
its edges, portion markings at the start of its paragraphs), `tlp_caveats`
maps a Traffic Light Protocol label, and `may_read` is the only access rule in
guetteur. The store applies `may_read` inside its queries (it computes the set
of markings a reader may read and filters rows on it), so no record above a
reader's clearance ever leaves the store.

Grammar, case- and accent-insensitive on input::

    marking  := label [" SPECIAL FRANCE"] ( sep segment )*
    segment  := "REL TO " token ("," token)*  |  "SPECIAL FRANCE"  |  caveat
    token    := ISO 3166 alpha-3 code | NATO | EU | FVEY | NONE
    sep      := " // "  |  " / "  |  " - " before REL TO  |  " " before REL TO

Accepted variants (issue 9): a hyphen or underscore inside the label
("NATO-SECRET"), one slash for two ("NATO SECRET / REL TO FRA"), a dash or a
plain space before REL TO ("NATO SECRET - REL TO FRA"), codes joined by a
slash ("REL TO FRA/LUX"), a trailing period, and decorations around a banner
("*** NATO SECRET ***", "CLASSIFICATION: NS", "NATO SECRET - page 2 of 3").

Rules (issue 2): a NATO label without REL TO is releasable to NATO nations; a
French national label without REL TO to FRA only; "SPECIAL FRANCE" means REL TO
FRA; a plain-English label other than UNCLASSIFIED must state REL TO (we will
not guess whose secret it is); any other segment is a caveat the reader holds.

Fail closed (issue 9): a line where a banner may stand that reads like a
marking but does not parse ("NATO-SECRETT", "Classification: Secrte") raises
MarkingError naming the line; the pipeline then refuses the document rather
than store it under a lower marking.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator

from guetteur._exceptions import MarkingError
from guetteur.model import Authority, Clearance, Level, Marking
from guetteur.model._countries import GROUPS, ISO_ALPHA3, expand_releasability
from guetteur.model.marking import default_releasability

__all__ = [
    "BANNER_LINES",
    "TLP_RED_CAVEAT",
    "banner_of_line",
    "find_banner",
    "high_water_mark",
    "is_banner_line",
    "may_read",
    "parse_clearance",
    "parse_level",
    "parse_marking",
    "parse_nationality",
    "stated_markings",
    "tlp_caveats",
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
_RELEASE_CODES = ISO_ALPHA3 | GROUPS.keys() | {"NONE"}
# The variants written between segments besides "//" (which is split on first):
# one slash, a dash before REL TO or SPECIAL FRANCE, a plain space before REL TO.
_VARIANT_SEPARATOR = re.compile(
    r"\s*/\s*"
    r"|\s*[-\u2013\u2014]+\s*(?=(?:REL(?:EASABLE)?\s+TO|REL|SPECIAL FRANCE)\b)"
    r"|\s+(?=REL(?:EASABLE)?\s+TO\b)"
)
# "REL TO FRA/LUX": a slash between two codes lists them.
_CODE_SLASH_CODE = re.compile(r"\b([A-Z]{2,4})/(?=([A-Z]{2,4})\b)")
_LABEL_JOINER = re.compile(r"\s*[-_]+\s*")
# Decorations around banner lines: "*** NATO SECRET ***", "CLASSIFICATION: NS".
_BANNER_PREFIX = re.compile(
    r"^(?:(?:SECURITY\s+)?CLASSIFICATION(?:\s+MARKING)?|CLASSIFIED|MARKING|MARQUAGE"
    r"|SECURITY\s+LABEL|NIVEAU(?: DE (?:PROTECTION|CLASSIFICATION))?|PROTECTION)\s*:\s*"
)
_DECORATION = " *=-_#~|[]()<>.\u2013\u2014\u2022\u00b7"
# A page number after a banner in a page header or footer: "NATO SECRET - page 2 of 3".
_PAGE_NUMBER = re.compile(
    r"[\s\-\u2013\u2014|/,]*\b(?:PAGE|P\.)\s*\d+(?:\s*(?:/|OF|SUR|DE)\s*\d+)?\s*$"
    r"|[\s\-\u2013\u2014|,]+\d+\s*/\s*\d+\s*$"
)
# What separates a marking from a title after it on the same line ("NATO SECRET
# - Column near Narva", "[NS] Fuel request"); a dash before REL TO is a separator.
_TITLE_DELIMITER = re.compile(
    r"\s+[-\u2013\u2014|]+\s+(?!(?:REL|RELEASABLE|SPECIAL)\b)|\s*:\s+|\s*[\])]\s*",
    re.IGNORECASE,
)

# How many non-empty lines at each end of a text are banner positions: a banner
# is the first or last line, or sits under a title or above a distribution list.
BANNER_LINES = 3
# A banner is short; longer lines are read only up to this many characters
# (a 50 MB single-line document must not be normalised whole).
_MAX_BANNER_CHARS = 400
# More words than this and a line is prose, not a banner.
_MAX_BANNER_WORDS = 16

# Words that make a line look like a marking, and how far a misspelling may go.
_CLASSIFICATION_WORDS = (
    "SECRET", "CONFIDENTIAL", "CONFIDENTIEL", "RESTRICTED", "RESTREINTE",
    "UNCLASSIFIED", "CLASSIFIED", "PROTEGE", "COSMIC",
)  # fmt: skip
_MARKING_VOCABULARY = frozenset(
    "NATO REL TO RELEASABLE SPECIAL FRANCE DEFENSE DEFENCE TOP TRES NON DIFFUSION "
    "ONLY EYES NIVEAU PROTECTION CLASSIFICATION MARKING NU NR NC NS CTS DR".split()
)
_WORD = re.compile(r"[A-Za-z0-9]+")
# A portion marking opens a paragraph: "(NS) The column…", "- (DR//REL TO FRA, LUX) …".
# Matched after a newline: a pattern opening with a literal lets the regex
# engine skip ahead, where "^" in MULTILINE mode (or an alternation with \A)
# tries every position of a 50 MB line, 17 times slower. The text's opening is
# matched apart (prepending "\n" would copy the whole text).
_PORTION_MARK = r"[ \t]*(?:[-*\u2022>][ \t]*)?[*_]*\((?P<mark>[^()\n]{1,80})\)"
_PORTION = re.compile("\n" + _PORTION_MARK)
_PORTION_OPENING = re.compile(_PORTION_MARK)

# Traffic Light Protocol (FIRST TLP 1.0 and 2.0). TLP says how far a recipient
# may share, not how secret a thing is, so it sets no level: the run's
# --marking or the source's default still has to. CLEAR/WHITE, GREEN and
# AMBER (+STRICT) allow sharing inside the receiving organisation, which a
# workspace is, and add nothing. RED is for the named recipients only: it
# becomes the caveat TLP:RED, which a reader must hold (a security officer
# grants it to the recipients), so TLP:RED never comes out readable by more
# people than the floor marking alone would allow. MISP's "EX:CHR" (Chatham
# House Rule) limits attribution, not reading, and adds nothing either; any
# other colour ("UNCLEAR" included) is refused.
TLP_RED_CAVEAT = "TLP:RED"
_TLP: dict[str, frozenset[str]] = {
    "CLEAR": frozenset(),
    "WHITE": frozenset(),
    "GREEN": frozenset(),
    "AMBER": frozenset(),
    "AMBER+STRICT": frozenset(),
    "EX:CHR": frozenset(),
    "RED": frozenset({TLP_RED_CAVEAT}),
}


def _normalise(text: str) -> str:
    """Upper case, accents removed, runs of spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.upper().split())


def _label(segment: str) -> tuple[Level, Authority, bool] | None:
    """A label segment → (level, authority, special_france), or None if it is no label."""
    segment = _LABEL_JOINER.sub(" ", segment).strip()
    special = False
    if segment.endswith(" " + _SPECIAL_FRANCE):
        segment, special = segment[: -len(_SPECIAL_FRANCE) - 1], True
    found = _LABELS.get(segment)
    return (*found, special) if found else None


def _segments(normalised: str) -> list[str]:
    """A normalised marking cut into its segments, every accepted separator read."""

    def list_codes(match: re.Match[str]) -> str:
        codes = {match.group(1), match.group(2)}
        return f"{match.group(1)}, " if codes <= _RELEASE_CODES else match.group(0)

    normalised = _CODE_SLASH_CODE.sub(list_codes, normalised)
    return [
        piece.strip()
        for segment in normalised.split("//")
        for piece in _VARIANT_SEPARATOR.split(segment.strip())
    ]


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
    normalised = _normalise(text).strip(_DECORATION)
    segments = _segments(normalised)
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
            label = _LABEL_JOINER.sub(" ", segments[0])
            raise MarkingError(
                f"{text!r}: a plain-English marking needs REL TO "
                f"(e.g. '{label} // REL TO FRA'), or use a NATO or national label"
            )
        releasable = default_releasability(authority)
    if special_france:
        releasable = frozenset({"FRA"}) & (releasable if releasable is not None else {"FRA"})
    return Marking(level, authority, releasable, frozenset(caveats))


def parse_level(text: str) -> Level:
    """A clearance level from any label ('NATO SECRET', 'NS', 'Très Secret', 'SECRET')."""
    found = _label(_normalise(text).strip(_DECORATION))
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


def tlp_caveats(label: str) -> frozenset[str]:
    """The caveats a TLP label adds ("TLP:RED", "tlp:amber+strict", "red"); see `_TLP`.

    An unknown TLP label raises MarkingError: a colour we do not know could be
    a stricter one.
    """
    colour = _normalise(label).removeprefix("TLP").strip(" :").replace(" ", "")
    if colour not in _TLP:
        raise MarkingError(f"{label!r}: not a TLP label (CLEAR, WHITE, GREEN, AMBER, RED)")
    return _TLP[colour]


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


# --------------------------------------------------------------------------- banners


def _banner_candidate(line: str) -> str:
    """A line normalised, its decorations, "CLASSIFICATION:" prefix and page number removed."""
    candidate = _normalise(line[:_MAX_BANNER_CHARS]).strip(_DECORATION)
    candidate = _BANNER_PREFIX.sub("", candidate).strip(_DECORATION)
    return _PAGE_NUMBER.sub("", candidate).strip(_DECORATION)


def _opens_with_label(candidate: str) -> bool:
    return bool(candidate) and _label(_segments(candidate)[0]) is not None


def is_banner_line(line: str) -> bool:
    """Whether a line is a classification banner (its first segment is a label)."""
    return _opens_with_label(_banner_candidate(line))


def _is_classification_word(word: str) -> bool:
    """A classification word, or a near miss of one ("SECRETT", "SECERT", "CONFIDENTAIL").

    NATO alone is not one: letterheads ("NATO OTAN") and titles name it.
    """
    for known in _CLASSIFICATION_WORDS:
        if word == known:
            return True
        if len(word) >= 5 and (
            (word.startswith(known) and len(word) <= len(known) + 2) or _one_edit_apart(word, known)
        ):
            return True
    return False


def _one_edit_apart(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns a into b."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    if len(a) == len(b):
        rest_a, rest_b = a[start + 1 :], b[start + 1 :]
        swapped = a[start + 1 : start + 2] + a[start : start + 1] + a[start + 2 :]
        return rest_a == rest_b or swapped == b[start:]
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[start + 1 :] == shorter[start:]


def _looks_like_marking(line: str) -> bool:
    """A short line made mostly of marking words, at least one a classification word.

    Prose that merely mentions NATO or a secret ("SECRET plans of the enemy",
    "Originator: NATO cyber team") has most of its words elsewhere.
    """
    decomposed = unicodedata.normalize("NFKD", line[:_MAX_BANNER_CHARS])
    words = _WORD.findall("".join(c for c in decomposed if not unicodedata.combining(c)))
    if not words or len(words) > _MAX_BANNER_WORDS:
        return False
    classification = vocabulary = 0
    for word in words:
        upper = word.upper()
        if _is_classification_word(upper):
            classification += 1
            vocabulary += 1
        elif upper in _MARKING_VOCABULARY or (word.isupper() and upper in _RELEASE_CODES):
            vocabulary += 1
    return classification > 0 and 2 * vocabulary > len(words)


def _could_be_caveat(tail: str) -> bool:
    """Whether what follows a banner on its line reads like caveats, not a title:
    a few words in capitals, no lower case ("NOFORN", "CRYPTO ATOMAL")."""
    words = tail.split()
    return (
        0 < len(words) <= 3
        and tail == tail.upper()
        and all(any(c.isalpha() for c in word) for word in words)
    )


def banner_of_line(line: str) -> Marking | None:
    """The marking a line in a banner position states, None if it states none.

    A whole-line banner ("*** NATO SECRET - REL TO FRA ***"), or a banner in
    capitals ahead of a title ("NATO SECRET - Column near Narva", "[NS] Fuel").
    Raises MarkingError when the line opens with a label but the rest does not
    parse, or when it reads like a marking without being one (fail closed).
    """
    candidate = _banner_candidate(line)
    whole_line_error: MarkingError | None = None
    if _opens_with_label(candidate):
        try:
            return parse_marking(candidate)
        except MarkingError as error:
            whole_line_error = error  # unless a title follows the banner
    stripped = line[:_MAX_BANNER_CHARS].strip(_DECORATION)
    delimiter = _TITLE_DELIMITER.search(stripped)
    if delimiter is not None:
        head, tail = stripped[: delimiter.start()], stripped[delimiter.end() :].strip()
        # Capitals only: "Secret: how the plan leaked" is a title, not a banner.
        if head == head.upper() and _opens_with_label(_banner_candidate(head)):
            if _could_be_caveat(tail):
                # "NATO SECRET - NOFORN": a title, or a caveat written with the wrong
                # separator? Reading it as a title would drop the caveat: refuse.
                raise MarkingError(
                    f"{line.strip()[:120]!r}: {tail!r} after the marking could be a caveat "
                    f"(write '{_banner_candidate(head)} // {tail}', or put the title on "
                    "its own line)"
                )
            return parse_marking(_banner_candidate(head))
    if whole_line_error is not None:
        raise whole_line_error
    if _BANNER_PREFIX.match(_normalise(stripped)) or _looks_like_marking(line):
        raise MarkingError(
            f"{line.strip()[:120]!r} looks like a marking but does not parse "
            "(write it as e.g. 'NATO SECRET // REL TO FRA')"
        )
    return None


def _edge_lines(text: str, count: int) -> Iterator[tuple[int, str]]:
    """(line number, line) of the first and last `count` non-empty lines, each once.

    Found by scanning from each end, so a huge text costs one count of its newlines.
    """
    first: list[tuple[int, str]] = []
    start, number = 0, 0
    while start <= len(text) and len(first) < count:
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        number += 1
        if text[start : min(end, start + _MAX_BANNER_CHARS)].strip():
            first.append((number, text[start : min(end, start + _MAX_BANNER_CHARS)]))
        start = end + 1
    total = text.count("\n") + 1
    last: list[tuple[int, str]] = []
    end, number = len(text), total
    while end >= 0 and len(last) < count and number > (first[-1][0] if first else 0):
        start = text.rfind("\n", 0, end) + 1
        if text[start : min(end, start + _MAX_BANNER_CHARS)].strip():
            last.append((number, text[start : min(end, start + _MAX_BANNER_CHARS)]))
        end, number = start - 1, number - 1
    yield from first
    yield from reversed(last)


def _banners(text: str, *, every_line: bool) -> Iterator[Marking]:
    lines: Iterable[tuple[int, str]] = (
        enumerate(text.splitlines(), start=1) if every_line else _edge_lines(text, BANNER_LINES)
    )
    for number, line in lines:
        if not line.strip():
            continue
        try:
            marking = banner_of_line(line)
        except MarkingError as error:
            raise MarkingError(f"line {number}: {error}") from None
        if marking is not None:
            yield marking


def _portion_markings(text: str) -> Iterator[Marking]:
    """Markings opening a paragraph: "(NS)", "(DR)", "(NR // REL TO FRA, LUX)".

    Only labels of the grammar count, in capitals: the abbreviations NU, NR, NC,
    NS, CTS and DR, and labels written in full. The one-letter US forms "(U)",
    "(R)", "(C)", "(S)" and "(TS)" are not read: "(C)" is also the copyright
    sign and "(S)" a list item, and plain-English labels need REL TO anyway.
    """
    # Each distinct mark is parsed once: a long report repeats "(NS)" thousands of times.
    first_seen: dict[str, int] = {}
    opening = _PORTION_OPENING.match(text)
    for match in itertools.chain([opening] if opening else [], _PORTION.finditer(text)):
        first_seen.setdefault(match.group("mark"), match.start("mark"))
    for mark, position in first_seen.items():
        if mark != mark.upper() or not _opens_with_label(_normalise(mark).strip(_DECORATION)):
            continue
        try:
            yield parse_marking(mark)
        except MarkingError as error:
            line = text.count("\n", 0, position) + 1
            raise MarkingError(f"line {line}: {error}") from None


def stated_markings(text: str, *, every_line: bool = False) -> list[Marking]:
    """Every marking `text` states about itself, in banners and portion markings.

    Banner positions are the first and last `BANNER_LINES` non-empty lines, or
    every line when `every_line` (a page header or footer). MarkingError names
    the line of a banner that does not parse or of a line that looks like a
    marking but is not one: the caller refuses the document.
    """
    return [*_banners(text, every_line=every_line), *_portion_markings(text)]


def find_banner(text: str) -> Marking | None:
    """The high-water mark of the banners near the edges of `text`, None without one.

    See `banner_of_line`: a banner that does not parse, or a line that looks
    like a marking, raises MarkingError rather than being ignored (ignoring it
    could let a lower --marking win).
    """
    found = list(_banners(text, every_line=False))
    return high_water_mark(found) if found else None
