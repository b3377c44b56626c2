"""Entity resolution: from mentions in one document to canonical entities across all.

Each mention gets a *resolution key* that is the same whatever the document,
the language or the spelling: a gazetteer id for places ("Moscou" and
"Moscow" are geonames 524901), the lexicon's canonical name for equipment
("BTR 82A" → "btr-82a"), a refanged, lower-cased value for observables, and a
folded name for people, organisations and units. Names the key does not unify
(transliterations: "Prigozhin" / "Prigojine") are merged by fuzzy matching
against the names already known for that type (`FuzzyIndex`). Pure apart from
the index the caller keeps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from rapidfuzz import fuzz, process

from guetteur._text import fold
from guetteur.model import EntityMention, EntityRef, Place

__all__ = ["FuzzyIndex", "entity_id", "resolution_key", "to_ref"]

# Types whose names vary by transliteration or word order, and so are fuzzy-merged.
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
        return mention.text.strip().upper()
    name = mention.canonical or mention.text
    folded = fold(name)
    if mention.type == "unit":
        folded = _ORDINAL.sub(r"\1", folded)
    return folded


def entity_id(entity_type: str, key: str) -> str:
    """Stable id of the entity a key designates (the same in every workspace)."""
    return "E" + hashlib.sha256(f"{entity_type}|{key}".encode()).hexdigest()[:15]


def to_ref(mention: EntityMention, place: Place | None = None) -> EntityRef:
    key = resolution_key(mention, place)
    name = place.name if place else (mention.canonical or " ".join(mention.text.split()))
    return EntityRef(
        entity_id=entity_id(mention.type, key),
        type=mention.type,
        key=key,
        name=name,
        mention=mention,
        lat=place.lat if place else None,
        lon=place.lon if place else None,
        geonameid=place.geonameid if place else None,
    )


class FuzzyIndex:
    """Known keys per type, to merge near-identical names ("Prigozhin"/"Prigojine")."""

    def __init__(self, known: Iterable[tuple[str, str]] = ()) -> None:
        self._keys: dict[str, list[str]] = {}
        for entity_type, key in known:
            self._keys.setdefault(entity_type, []).append(key)

    def canonical(self, ref: EntityRef) -> EntityRef:
        """`ref`, re-keyed onto a known entity of its type if one is close enough."""
        known = self._keys.setdefault(ref.type, [])
        if ref.type not in FUZZY_TYPES or len(ref.key) < FUZZY_MIN_LENGTH or ref.key in known:
            if ref.key not in known:
                known.append(ref.key)
            return ref
        match = process.extractOne(ref.key, known, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD)
        if match is None or match[0][:1] != ref.key[:1]:
            known.append(ref.key)
            return ref
        key = match[0]
        return EntityRef(
            entity_id(ref.type, key), ref.type, key, ref.name, ref.mention, ref.lat, ref.lon,
            ref.geonameid,
        )  # fmt: skip
