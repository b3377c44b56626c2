"""Sentences of sources, and whether a written sentence is supported by what it cites.

Every product is built from source sentences: extractive products quote them,
model products must be backed by them. `split_sentences` cuts a report into
sentences with character offsets (so a citation points at exact words),
skipping banners, headings and header labels. `check_support` is the citation
check run on every sentence a model writes: the sentence must share its
content words or its meaning with the passages it cites, and every number,
designator and proper name it states must appear in one of them — a model may
rephrase, never add a figure or a name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guetteur._text import fold
from guetteur.search.hybrid import query_terms, term_share
from guetteur.security.markings import is_banner_line

__all__ = [
    "SentenceSpan",
    "Support",
    "check_support",
    "critical_tokens",
    "identifiers",
    "split_sentences",
]

# A sentence must share this share of its content words with what it cites...
LEXICAL_SUPPORT = 0.8  # measured: benchmarks/citation_precision.py
# ...or be this close in meaning (cosine of multilingual embeddings, which
# carries support across French and English).
SEMANTIC_SUPPORT = 0.6
MIN_SENTENCE_CHARS = 25
MAX_SENTENCE_CHARS = 600

# Abbreviations after which a full stop does not end a sentence (FR and EN).
_ABBREVIATIONS = frozenset(
    "approx env cf etc no nr st lt col gen gal cne cdt adj sgt cpl mr mrs dr m mme fig p pp vol"
    " capt maj brig ltn cmdt réf ref art".split()
)
_HEADER_LABEL = re.compile(r"^\s*(?:\*\*)?[\w/ .'’-]{1,30}(?:\*\*)?\s*:\s*(?:\*\*)?\s*\S{0,40}$")
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|[A-Z0-9À-Ý][A-Z0-9À-Ý ,.'’/()-]{2,80}$)")
# A short line with no closing punctuation is a title or a header field.
_SHORT_LINE = 80
_CLOSING = tuple('.!?…»”")')
# The fields that open a message (FR and EN), whatever follows them on the line.
_MESSAGE_FIELD = re.compile(
    r"^\W{0,3}(?:from|to|info|cc|subject|subj|ref|refs|dtg|date|originator|source grading|"
    r"classification|priority|precedence|de|à|a|objet|réf|références|émetteur|emetteur|"
    r"destinataires?|cotation|priorité|sujet)\W{0,3}\s*:",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)]|[a-z][.)])\s+")
_BREAK = re.compile(r"[.!?…]+[\"»”’)]*\s+(?=[\"«“(]?[A-ZÀ-ÖØ-Þ0-9])")
_MARKUP = re.compile(r"\*\*|__|`")
_NUMBER = re.compile(r"\d[\d\s.,]*\d|\d")
_DESIGNATOR = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w][\w-]*\b")
_CAPITALISED = re.compile(r"(?<![\w.])([A-ZÀ-ÖØ-Þ][\w'’-]{2,})")


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a text: `text` is the cleaned sentence, offsets are into the source."""

    start: int
    end: int
    text: str
    table_row: bool = False  # a row of a table: a fact, but not prose to quote in a brief


def _clean(raw: str) -> str:
    # Table rows ("| 23 | BTR company pulls back |") read as cells joined by dashes.
    cells = [cell.strip() for cell in raw.strip().strip("|").split("|")]
    raw = " — ".join(cell for cell in cells if cell) if raw.lstrip().startswith("|") else raw
    return " ".join(_MARKUP.sub("", _BULLET.sub("", raw)).split())


def _opens_prose(line: str) -> bool:
    """Whether a line can open a paragraph of claims (not a banner, heading, title or field)."""
    stripped = line.strip()
    if not stripped or is_banner_line(stripped):
        return False
    if stripped.startswith("|"):  # a table row: a claim when its cells say something
        return any(c.isalpha() for c in stripped) and len(_clean(stripped)) >= MIN_SENTENCE_CHARS
    if _HEADING.match(stripped) and not _BULLET.match(stripped):
        return False
    # "**DTG:** 222000ZNOV26", "From: ... · To: ...": header fields, not claims.
    if _HEADER_LABEL.match(stripped) or _MESSAGE_FIELD.match(stripped):
        return False
    return len(stripped) >= _SHORT_LINE or _MARKUP.sub("", stripped).endswith(_CLOSING)


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph of prose: hard-wrapped lines joined, bullets apart."""
    paragraphs: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    position = 0
    for line in text.splitlines(keepends=True):
        start, end = position, position + len(line.rstrip("\r\n"))
        position += len(line)
        stripped = line.strip()
        continues = (
            current is not None
            and stripped
            and not _BULLET.match(stripped)
            and not stripped.startswith("|")
            and not is_banner_line(stripped)
            and not stripped.startswith("#")
            and not _HEADER_LABEL.match(stripped)
            and not _MESSAGE_FIELD.match(stripped)
        )
        if continues:
            assert current is not None
            current = (current[0], end)
            continue
        if current is not None:
            paragraphs.append(current)
            current = None
        if _opens_prose(line):
            current = (start, end)
            if stripped.startswith("|"):  # a table row stands alone
                paragraphs.append(current)
                current = None
    if current is not None:
        paragraphs.append(current)
    return paragraphs


def split_sentences(text: str, offset: int = 0) -> list[SentenceSpan]:
    """The prose sentences of `text`, offsets shifted by `offset`."""
    spans: list[SentenceSpan] = []
    for start, end in _paragraphs(text):
        body = text[start:end]
        cursor = 0
        for match in _BREAK.finditer(body):
            before = body[: match.start()].split()
            if before and before[-1].rstrip(".").casefold() in _ABBREVIATIONS:
                continue
            spans.extend(_span(body, cursor, match.end(), start + offset))
            cursor = match.end()
        spans.extend(_span(body, cursor, len(body), start + offset))
    return spans


def _span(body: str, start: int, end: int, base: int) -> list[SentenceSpan]:
    raw = body[start:end]
    cleaned = _clean(raw)
    if len(cleaned) < MIN_SENTENCE_CHARS or not any(c.isalpha() for c in cleaned):
        return []
    lead = len(raw) - len(raw.lstrip())
    trail = len(raw.rstrip())
    table_row = raw.lstrip().startswith("|")
    return [
        SentenceSpan(
            base + start + lead, base + start + trail, cleaned[:MAX_SENTENCE_CHARS], table_row
        )
    ]


_CODENAME = re.compile(r"\b[A-Z][A-Z-]{2,}\b")


def identifiers(text: str) -> list[str]:
    """Designators and code names ("Krasukha-4", "T-90M", "GREYFOX"), folded.

    What crosses languages unchanged, so a question and a sentence naming the
    same ones are about the same thing whatever language each is in.
    """
    found = [m.group() for m in _DESIGNATOR.finditer(text)]
    found += [m.group() for m in _CODENAME.finditer(text)]
    return list(dict.fromkeys(fold(name) for name in found if fold(name)))


def _number_key(token: str) -> str:
    return re.sub(r"[\s.,]", "", token)


# Small numbers written as words (EN, FR): "five drones" states a number as much as "5".
_NUMBER_WORDS = {
    fold(word): str(value)
    for value, words in enumerate(
        [
            (), ("one", "un", "une"), ("two", "deux"), ("three", "trois"), ("four", "quatre"),
            ("five", "cinq"), ("six",), ("seven", "sept"), ("eight", "huit"), ("nine", "neuf"),
            ("ten", "dix"), ("eleven", "onze"), ("twelve", "douze"), ("thirteen", "treize"),
            ("fourteen", "quatorze"), ("fifteen", "quinze"), ("sixteen", "seize"),
            ("seventeen", "dix-sept"), ("eighteen", "dix-huit"), ("nineteen", "dix-neuf"),
            ("twenty", "vingt"),
        ]
    )
    for word in words
}  # fmt: skip
# "One" and "un(e)" are as often articles as numbers: they are read as numbers
# only in evidence, never required of a claim.
_ARTICLES = frozenset({"one", "un", "une"})
_WORD = re.compile(r"[\w-]+")


def _numbers(text: str, *, articles: bool) -> list[str]:
    found = [_number_key(m.group()) for m in _NUMBER.finditer(text)]
    for match in _WORD.finditer(text):
        word = fold(match.group())
        if word in _NUMBER_WORDS and (articles or word not in _ARTICLES):
            found.append(_NUMBER_WORDS[word])
    return found


def critical_tokens(sentence: str) -> list[str]:
    """What a sentence states that its sources must contain: numbers, designators, names."""
    tokens: list[str] = _numbers(sentence, articles=False)
    for match in _DESIGNATOR.finditer(sentence):
        tokens.append(fold(match.group()))
    words = sentence.split()
    first = words[0] if words else ""
    for match in _CAPITALISED.finditer(sentence):
        word = match.group(1)
        if word == first.strip('«"“(*') or fold(word) in _COMMON_CAPITALISED:
            continue
        tokens.append(fold(word))
    return list(dict.fromkeys(t for t in tokens if t))


# Capitalised words that are not names (sentence openers, months, days, units).
_COMMON_CAPITALISED = frozenset(
    fold(w)
    for w in """
    The This That These Those There They Their It Its We Our He She His Her A An In On At By For
    From With Without After Before During Since Until According However Although While When
    Where Which Who What Le La Les Un Une Des Du De Au Aux Ce Cette Ces Il Elle Ils Elles On Nous
    Selon Depuis Pendant Après Avant Lors Dans Sur Sous Par Pour Avec Sans Mais Donc Ainsi Enfin
    January February March April May June July August September October November December
    Janvier Février Mars Avril Mai Juin Juillet Août Septembre Octobre Novembre Décembre
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday Lundi Mardi Mercredi Jeudi Vendredi
    Samedi Dimanche Source Sources Assessment Évaluation Answer Réponse Note
    """.split()
)


_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th|er|re|e|eme|ème)\b")


def _contains(haystack_folded: str, haystack_numbers: set[str], token: str) -> bool:
    if token.isdigit():
        return token in haystack_numbers
    if f" {token} " in haystack_folded or f" {token}" in haystack_folded:
        return True
    # "7th" and "7e" are the same ordinal; "Estonia" and "Estonie" the same name in
    # two languages: a one-word name of six letters or more may differ after five.
    plain = _ORDINAL.sub(r"\1", token)
    if plain != token:
        return f" {plain} " in _ORDINAL.sub(r"\1", haystack_folded)
    if " " not in token and len(token) >= 6 and not any(c.isdigit() for c in token):
        return f" {token[:5]}" in haystack_folded
    return False


_CERTAIN = re.compile(
    r"\b(will|certainly|definitely|undoubtedly|confirmed|confirms|certain|certainement|"
    r"assur[ée]ment|sans aucun doute|confirm[ée]e?s?|confirme|va|vont)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Support:
    """How well a sentence is backed by the passages it cites."""

    supported: bool
    lexical: float  # share of its content words found in the cited passages
    semantic: float  # best cosine against the cited passages' sentences
    missing: tuple[str, ...]  # numbers, designators, names absent from every cited passage


def check_support(
    claim: str,
    evidence: Sequence[str],
    claim_vector: npt.NDArray[np.float32] | None = None,
    evidence_vectors: npt.NDArray[np.float32] | None = None,
) -> Support:
    """Whether `claim` is supported by `evidence` (the text of the passages it cites).

    Vectors are optional (L2-normalised embeddings of the claim and of the
    evidence sentences); without them only the lexical test applies.
    """
    if not evidence:
        return Support(False, 0.0, 0.0, tuple(critical_tokens(claim)))
    joined = " " + fold(" ".join(evidence)) + " "
    numbers = {n for text in evidence for n in _numbers(text, articles=True)}
    missing = tuple(t for t in critical_tokens(claim) if not _contains(joined, numbers, t))
    # Certainty the sources do not state ("will attack" where they say "could").
    if _CERTAIN.search(claim) and not _CERTAIN.search(joined):
        missing += ("certainty not in the source",)
    terms = query_terms(claim)
    lexical = term_share(terms, joined, stems=True) if terms else 0.0
    semantic = 0.0
    if claim_vector is not None and evidence_vectors is not None and len(evidence_vectors):
        semantic = float(np.max(evidence_vectors @ claim_vector))
    supported = not missing and (lexical >= LEXICAL_SUPPORT or semantic >= SEMANTIC_SUPPORT)
    return Support(supported, round(lexical, 3), round(semantic, 3), missing)
