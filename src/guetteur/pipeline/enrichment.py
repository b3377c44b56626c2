"""The enrichment stage: who, what, where and when for a batch of documents.

    entities (spaCy + our rules) → places resolved in the gazetteer
        → coordinates and times found in the text → entity resolution
        → events (SALUTE fields, or sentence by sentence)

`Enricher` holds the heavy resources (spaCy pipelines, the gazetteer index),
loaded once; `enrich_batch` is otherwise a pure function of the texts, so the
same stage runs during ingest, during `guetteur reindex`, and later on Dask
workers. Nothing here looks at what the store already holds: spellings of
one name are grouped when a reader reads them (store/sqlite/entities.py), so
the same text always gives the same entities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from guetteur.cyber.attack import CYBER_PROSE, TechniqueMapper, infer_prose_techniques
from guetteur.enrich.coordinates import find_coordinates
from guetteur.enrich.entities import EntityExtractor
from guetteur.enrich.events import extract_events
from guetteur.enrich.places import (
    GAZETTEER_FILE_NAME,
    Gazetteer,
    distance_km,
    normalize_place_name,
)
from guetteur.enrich.resolution import to_ref
from guetteur.enrich.times import find_times
from guetteur.model import EntityMention, EntityRef, Event, Place

__all__ = [
    "ENRICH_MAX_CHARS",
    "Enricher",
    "Enrichment",
    "GAZETTEER_FILE",
    "LEXICON_DIR",
    "enrichment_note",
]

GAZETTEER_FILE = GAZETTEER_FILE_NAME
LEXICON_DIR = "lexicon"  # user additions to the equipment/unit lexicon, in the workspace
# A model's person/org guess is retyped as a place only for towns at least this big:
# small hamlets share names with too many surnames.
RETYPE_MIN_POPULATION = 1_000
STRAY_MAX_POPULATION = 20_000
STRAY_DISTANCE_KM = 500.0
# Entities, places, times and events are read from at most this many characters
# of a document (about 300 pages). NER costs about a second per 10,000 words:
# a 50 MB dump read whole would hold an ingest for most of an hour and fill
# the entity tables with its repetitions. The whole text is still stored,
# searchable and citable; the document's metadata says where reading stopped.
ENRICH_MAX_CHARS = 1_000_000


def enrichment_note(length: int) -> str | None:
    """What a document of `length` characters records when it is enriched in part."""
    if length <= ENRICH_MAX_CHARS:
        return None
    return (
        f"entities, places and events read from the first {ENRICH_MAX_CHARS:,} of "
        f"{length:,} characters (the whole text is stored and searchable)"
    )


def _enriched_part(text: str) -> str:
    """The prefix of `text` that enrichment reads, cut at a space so no word is split.

    A prefix keeps every offset found in it valid in the whole text."""
    if len(text) <= ENRICH_MAX_CHARS:
        return text
    cut = text.rfind(" ", ENRICH_MAX_CHARS - 1_000, ENRICH_MAX_CHARS)
    return text[: cut if cut > 0 else ENRICH_MAX_CHARS]


@dataclass(frozen=True)
class Enrichment:
    """What enrichment found in one document."""

    entities: Sequence[EntityRef]
    events: Sequence[Event]


def _drop_stray_villages(places: list[Place | None]) -> list[Place | None]:
    """Unresolve small places far from every other place the same text names.

    "SEVERNY VAL" is an exercise name, not the Hungarian village of Vál: a
    village 500 km from everything else in a report is far more often a word
    the model mistook for a name than a real location.
    """
    located = [p for p in places if p is not None]
    if len(located) < 3:
        return places
    kept: list[Place | None] = []
    for place in places:
        if (
            place is not None
            and place.population < STRAY_MAX_POPULATION
            and place.feature == "city"
        ):
            distances = [
                distance_km(place.lat, place.lon, other.lat, other.lon)
                for other in located
                if other.geonameid != place.geonameid
            ]
            # The same village named several times, and nothing else: keep it.
            if distances and min(distances) > STRAY_DISTANCE_KM:
                place = None
        kept.append(place)
    return kept


class Enricher:
    """Entity extraction, geoparsing, resolution and events, with resources loaded once."""

    def __init__(
        self, home: Path, techniques: Callable[[], TechniqueMapper | None] | None = None
    ) -> None:
        lexicon = home / LEXICON_DIR
        self._extractor = EntityExtractor(extra_lexicon=lexicon if lexicon.exists() else None)
        self._gazetteer_path = home / GAZETTEER_FILE
        self._gazetteer: Gazetteer | None = None
        # The ATT&CK mapper is built (seconds) only when a cyber report needs it.
        self._techniques = techniques
        self._mapper: TechniqueMapper | None = None

    @property
    def gazetteer(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = Gazetteer.open(self._gazetteer_path)
        return self._gazetteer

    def enrich_batch(
        self,
        texts: Sequence[str],
        languages: Sequence[str],
        anchors: Sequence[datetime | None],
    ) -> list[Enrichment]:
        texts = [_enriched_part(text) for text in texts]
        mentions_per_text = self._extractor.extract_batch(texts, languages)
        results: list[Enrichment] = []
        for text, found, anchor in zip(texts, mentions_per_text, anchors, strict=True):
            mentions = [self._retype_places(m) for m in found]
            place_mentions = [m for m in mentions if m.type == "place"]
            places = _drop_stray_villages(self.gazetteer.resolve(place_mentions, context=text))
            place_of = {id(m): p for m, p in zip(place_mentions, places, strict=True)}
            refs = [to_ref(m, place_of.get(id(m))) for m in mentions]
            refs += self._inferred_techniques(text)
            events = extract_events(
                text, refs, find_coordinates(text), find_times(text, anchor=anchor), anchor
            )
            results.append(Enrichment(refs, events))
        return results

    def _inferred_techniques(self, text: str) -> list[EntityRef]:
        """ATT&CK techniques the prose mapper reads in a cyber report, marked as inferred."""
        if self._techniques is None or len(CYBER_PROSE.findall(text)) < 2:
            return []
        if self._mapper is None:
            self._mapper = self._techniques()
            if self._mapper is None:
                self._techniques = None  # no catalogue in this workspace
                return []
        refs = []
        for start, end, technique, score in infer_prose_techniques(text, self._mapper):
            mention = EntityMention(
                start, end, text[start:end], "technique", subtype="inferred",
                source=f"attack-mapper {score:.2f}", canonical=technique.id,
            )  # fmt: skip
            refs.append(to_ref(mention))
        return refs

    def _retype_places(self, mention: EntityMention) -> EntityMention:
        """A town the statistical model called a person or an organisation is a place.

        The small English model reads "Tapa" as a person and "Narva" as an
        organisation. A model-only guess of one or two words whose exact name is
        a gazetteer town of some size is retyped; lexicon and pattern hits are
        never touched, so "NATO" or "Wagner" stay organisations.
        """
        if (
            mention.source != "model"
            or mention.type not in ("person", "org")
            or len(mention.text.split()) > 2
        ):
            return mention
        name = normalize_place_name(mention.text)
        if any(
            normalize_place_name(place.name) == name
            and (place.population >= RETYPE_MIN_POPULATION or place.feature != "city")
            for place in self.gazetteer.candidates(mention.text)
        ):
            return replace(mention, type="place")
        return mention
