"""Who, what and where: entity mentions found in text, places, and resolved entities.

Extraction (enrich/) yields `EntityMention`s — spans of a document's text
with a type. Resolution turns them into canonical `Entity`s shared across
documents and languages ("Moscou" and "Moscow" are one place, "APT28" in
ten reports is one organisation). Places carry coordinates from the gazetteer
or from a grid reference written in the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ENTITY_TYPES",
    "CoordinateMention",
    "Entity",
    "EntityMention",
    "EntityRef",
    "EntityType",
    "Place",
]

EntityType = Literal[
    "person",
    "org",  # organisations, armed groups, intrusion sets (APT28)
    "unit",  # military units and formations, task forces
    "equipment",  # weapon systems, vehicles, sensors (BTR-82A, S-400)
    "vessel",  # ships and boats, by name or class
    "aircraft",  # aircraft and UAV types (Su-34, Orlan-10)
    "place",
    "observable",  # cyber observables: IP, domain, URL, hash, CVE
    "technique",  # ATT&CK technique ids (T1566.001)
    "rank",
    "callsign",
]
ENTITY_TYPES: tuple[str, ...] = EntityType.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EntityMention:
    """A typed span of a text: `text == document_text[start:end]`."""

    start: int
    end: int
    text: str
    type: EntityType
    # Finer kind where it helps resolution and display: "ipv4", "domain",
    # "sha256", "cve" for observables; "tank", "air_defence" for equipment.
    subtype: str | None = None
    # What found it: "model" (spaCy NER) or "rule" (our lexicon and patterns).
    source: str = "model"
    # A canonical name the rule knows ("BTR-82A" for "BTR 82A", "btr-82a").
    canonical: str | None = None


@dataclass(frozen=True)
class Place:
    """A gazetteer entry."""

    geonameid: int
    name: str
    lat: float
    lon: float
    country: str  # ISO 3166 alpha-2, as GeoNames gives it
    population: int = 0
    feature: str = "city"  # "city", "country", "admin1"


@dataclass(frozen=True)
class CoordinateMention:
    """A position written in the text: decimal degrees, DMS, MGRS or UTM."""

    start: int
    end: int
    text: str
    lat: float
    lon: float
    kind: Literal["decimal", "dms", "mgrs", "utm"]
    # Half the side of the square an MGRS reference designates, in metres
    # (0.5 m for 10 digits, 500 m for 4 digits); 0 for point coordinates.
    precision_m: float = 0.0


@dataclass(frozen=True)
class Entity:
    """A canonical entity, shared by every mention that resolves to it."""

    id: str
    name: str
    type: EntityType
    aliases: frozenset[str] = field(default_factory=frozenset)
    lat: float | None = None
    lon: float | None = None
    geonameid: int | None = None


@dataclass(frozen=True)
class EntityRef:
    """A mention resolved to its entity (what the store records)."""

    entity_id: str
    type: EntityType
    key: str
    name: str  # canonical display name when one is known, else the surface form
    mention: EntityMention
    lat: float | None = None
    lon: float | None = None
    geonameid: int | None = None

    @property
    def start(self) -> int:
        return self.mention.start

    @property
    def end(self) -> int:
        return self.mention.end
