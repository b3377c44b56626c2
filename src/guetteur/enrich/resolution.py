"""Entity resolution: from mentions in one document to the entities a reader sees.

Each mention gets a *resolution key* that is the same whatever the document,
the language or the spelling: a gazetteer id for places ("Moscou" and
"Moscow" are geonames 524901), the lexicon's canonical name for equipment
("BTR 82A" → "btr-82a"), a refanged, lower-cased value for observables, and a
folded name for people, organisations and units. The key is a pure function
of the mention, so the same text always gives the same entities, whatever
else the store holds.

Names the key does not unify (transliterations: "Prigozhin" / "Prigozhine")
are grouped at *read* time by `group_similar_names`, among the keys one
reader may read only: merging at ingest against every stored name would let
a document the reader may not read decide which of their names merge, and
under which spelling (issue 9).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import fuzz, process

from guetteur._text import fold
from guetteur.model import EntityMention, EntityRef, Place

__all__ = ["FUZZY_TYPES", "group_similar_names", "resolution_key", "to_ref"]

# Types whose names vary by transliteration or word order, and so are fuzzy-grouped.
FUZZY_TYPES: frozenset[str] = frozenset({"person", "org", "unit", "vessel"})
FUZZY_THRESHOLD = 90.0
FUZZY_MIN_LENGTH = 6

# Unit designations: "2e", "2ème", "2nd", "2d" all mean the ordinal 2.
_ORDINAL = re.compile(r"\b(\d+)\s*(?:e|eme|er|ere|re|nd|st|rd|th|d)\b")


def _refang(value: str) -> str:
    return (
        value.replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[:]", ":")
        .replace("hxxp", "http")
        .replace("HXXP", "HTTP")
    )


def resolution_key(mention: EntityMention, place: Place | None = None) -> str:
    """The key two mentions share when they name the same thing."""
    if mention.type == "place" and place is not None:
        return f"geonames:{place.geonameid}"
    if mention.type == "observable":
        return f"{mention.subtype or 'value'}:{_refang(mention.text).strip().lower()}"
    if mention.type == "technique":
        # A technique the mapper inferred from prose carries its id as canonical.
        return (mention.canonical or mention.text).strip().upper()
    name = mention.canonical or mention.text
    folded = fold(name)
    if mention.type == "unit":
        folded = _ORDINAL.sub(r"\1", folded)
    return folded


def to_ref(mention: EntityMention, place: Place | None = None) -> EntityRef:
    """A mention resolved to its key.

    `entity_id` is the pipeline's own handle, type and key: it never leaves
    the process, since the store shows only ids keyed with the workspace's
    secret (`StoreCore.opaque_id`), which nobody can compute from a guessed name.
    """
    key = resolution_key(mention, place)
    name = place.name if place else (mention.canonical or " ".join(mention.text.split()))
    return EntityRef(
        entity_id=f"{mention.type}:{key}",
        type=mention.type,
        key=key,
        name=name,
        mention=mention,
        lat=place.lat if place else None,
        lon=place.lon if place else None,
        geonameid=place.geonameid if place else None,
    )


def _may_group(entity_type: str, key: str) -> bool:
    return entity_type in FUZZY_TYPES and len(key) >= FUZZY_MIN_LENGTH


def group_similar_names(
    keys: Iterable[tuple[str, str, int]],
) -> dict[tuple[str, str], tuple[str, str]]:
    """Each (type, key) mapped to the (type, key) of its group's representative.

    `keys` are (type, key, weight) — the weight is how often the reader sees
    the key, so a group is named after its most common spelling. Leader
    clustering in a fixed order (weight descending, then key): a key joins the
    closest earlier leader of its type and initial whose `fuzz.ratio` reaches
    the threshold, else leads a group of its own. Unlike transitive merging,
    no chain of near misses ("Prigozhin" ~ "Prigozhine" ~ "Prigojine") joins
    names that are far apart, and the result depends only on the keys given.
    """
    ordered = sorted(set(keys), key=lambda item: (-item[2], item[0], item[1]))
    leaders: dict[tuple[str, str], list[str]] = {}  # (type, initial) → leader keys
    representative: dict[tuple[str, str], tuple[str, str]] = {}
    for entity_type, key, _ in ordered:
        if (entity_type, key) in representative:
            continue
        if not _may_group(entity_type, key):
            representative[entity_type, key] = (entity_type, key)
            continue
        # Blocking on the initial keeps comparisons few, and a different initial
        # ("Ivanov" / "Yvanov") is too often a different person to merge.
        block = leaders.setdefault((entity_type, key[:1]), [])
        match = process.extractOne(key, block, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD)
        if match is None:
            block.append(key)
            representative[entity_type, key] = (entity_type, key)
        else:
            representative[entity_type, key] = (entity_type, match[0])
    return representative
