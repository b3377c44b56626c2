"""The Admiralty grade a report states for itself ("Évaluation : B2").

The pipeline runs this after parsing, next to marking: when the format carried
no grade of its own (`RawDocument.declared_grade`), the grade written in the
report's header becomes `Document.grade`, which search and briefs show beside
every citation. Only labelled forms count — a grade is a claim about a source,
and reading one into "the B2 bomber" or "Route B2" would put a false claim on
a report — so a report with no labelled grade gets None, never a guess.
"""

from __future__ import annotations

import re
import unicodedata

from guetteur._text import head_lines
from guetteur.model.grade import Grade

__all__ = ["find_grade"]

_HEAD_LINES = 40

# The patterns run on text with accents removed ("Évaluation" → "Evaluation",
# "fiabilité" → "fiabilite"), so they spell labels without accents.

# "Évaluation : B2", "Cotation : B-2", "Source grading: C3", "Grading: A-1",
# "Admiralty code = B/2", "Evaluation B2" at the end of a line.
_LABELLED_CODE = re.compile(
    r"""
    (?<!\w)
    (?:
        (?: source \s+ | nato \s+ | otan \s+ )? grading
      | source \s+ grade
      | admiralty \s+ (?: grade | grading | code | rating )
      | code \s+ (?: amiraute | otan | nato | admiralty )
      | (?: evaluation | cotation | notation | cote )
        (?: \s+ (?: de \s+ la \s+ source | du \s+ renseignement | of \s+ (?: the \s+ )? source ) )?
    )
    (?:
        [ \t]* [:=] [ \t]* | [ \t]+ [-–] [ \t]*    # "Label: B2", "Label - B2"
        # "Label B2" without a colon only when the code closes the line or
        # clause, so "evaluation B2 bomber" stays prose.
      | [ \t]+ (?= [A-F] [-/.]? [1-6] [ \t]* (?: $ | [.,;)\]] ) )
    )
    (?P<reliability> [A-F] ) [ \t]* [-/.]? [ \t]* (?P<credibility> [1-6] )
    (?![\w])
    """,
    re.VERBOSE | re.IGNORECASE | re.MULTILINE,
)

# "Source (B2)", "source HUMINT (B2)", "Source : agent ALPHA (C3)": a code in
# brackets within three words after "source", on the same line.
_SOURCE_BRACKETED = re.compile(
    r"""
    (?<!\w) source
    [ \t]* :?
    (?: [ \t]+ [^\W_][\w'’.-]* ){0,3}      # up to three words naming the source
    [ \t]* \( [ \t]*
    (?P<reliability> [A-F] ) [ \t]* [-/.]? [ \t]* (?P<credibility> [1-6] )
    [ \t]* \)
    """,
    re.VERBOSE | re.IGNORECASE,
)

# Reliability and credibility given apart: "fiabilité B, crédibilité 2",
# "Fiabilité de la source : C / Crédibilité de l'information : 3",
# "Source reliability: B" then "Information credibility: 2" on the next line.
_RELIABILITY = re.compile(
    r"""
    (?<!\w) (?: fiabilite | reliability )
    (?: \s+ (?: de \s+ la \s+ source | de \s+ l['’]? \s* informateur
              | of \s+ (?: the \s+ )? source ) )?
    (?:
        \s* [:=] \s* (?P<labelled> [A-F] )
        # Without a colon the letter must be a capital: in "la fiabilité de la
        # source a été établie", "a" is a verb, not grade A.
      | \s+ (?-i: (?P<bare> [A-F] ) )
    )
    (?![\w])
    """,
    re.VERBOSE | re.IGNORECASE,
)
_CREDIBILITY = re.compile(
    r"""
    (?<!\w) (?: credibilite | credibility )
    (?: \s+ (?: de \s+ l['’]? \s* information | of \s+ (?: the \s+ )? information ) )?
    (?: \s* [:=] \s* | \s+ )
    (?P<credibility> [1-6] )
    (?![\w])
    """,
    re.VERBOSE | re.IGNORECASE,
)
# How far after the reliability letter its credibility digit may stand.
_PAIR_WINDOW = 120


def _fold(text: str) -> str:
    """`text` without accents; case is kept (a bare reliability letter needs it)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _candidates(head: str) -> list[tuple[int, Grade]]:
    found: list[tuple[int, Grade]] = []
    for pattern in (_LABELLED_CODE, _SOURCE_BRACKETED):
        match = pattern.search(head)
        if match:
            grade = Grade(match["reliability"].upper(), match["credibility"])
            found.append((match.start(), grade))
    for reliability in _RELIABILITY.finditer(head):
        end = reliability.end()
        credibility = _CREDIBILITY.search(head, end, end + _PAIR_WINDOW)
        if credibility:
            letter = reliability["labelled"] or reliability["bare"]
            found.append((reliability.start(), Grade(letter.upper(), credibility["credibility"])))
            break
    return found


def find_grade(text: str) -> Grade | None:
    """The Admiralty grade the text states in its first 40 lines, or None.

    Only labelled forms count: "Évaluation : B2", "Cotation : B-2", "Source
    grading: C3", "Grading: A-1", "Cotation : fiabilité B, crédibilité 2",
    "Evaluation: reliability B, credibility 2", "Fiabilité de la source : C /
    Crédibilité de l'information : 3", "Source (B2)". Case and accents do not
    matter. When the text states more than one, the first wins.
    """
    candidates = _candidates(_fold(head_lines(text, _HEAD_LINES)))
    if not candidates:
        return None
    return min(candidates, key=lambda candidate: candidate[0])[1]
