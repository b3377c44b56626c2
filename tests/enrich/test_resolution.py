"""Entity resolution: one entity whatever the document, language or spelling."""

from __future__ import annotations

from guetteur.enrich.resolution import FuzzyIndex, resolution_key, to_ref
from guetteur.model import EntityMention, Place

MOSCOW = Place(524901, "Moscow", 55.75, 37.62, "RU", 10_000_000)


def mention(text: str, kind: str, **extra: str) -> EntityMention:
    return EntityMention(0, len(text), text, kind, **extra)  # type: ignore[arg-type]


def test_exonyms_resolve_to_one_place_through_the_gazetteer() -> None:
    assert to_ref(mention("Moscou", "place"), MOSCOW).entity_id == (
        to_ref(mention("Moscow", "place"), MOSCOW).entity_id
    )
    assert to_ref(mention("Moscou", "place"), MOSCOW).name == "Moscow"


def test_designators_and_observables_normalise() -> None:
    assert resolution_key(mention("apt28", "org")) == resolution_key(mention("APT28", "org"))
    assert resolution_key(mention("2e régiment de hussards", "unit")) == resolution_key(
        mention("2ème Régiment de Hussards", "unit")
    )
    url = resolution_key(mention("hxxp://evil[.]example/a", "observable", subtype="url"))
    assert url == resolution_key(mention("http://evil.example/a", "observable", subtype="url"))
    assert resolution_key(mention("BTR 82A", "equipment", canonical="BTR-82A")) == resolution_key(
        mention("btr-82a", "equipment", canonical="BTR-82A")
    )


def test_types_keep_entities_apart() -> None:
    assert (
        to_ref(mention("Caesar", "equipment")).entity_id
        != to_ref(mention("Caesar", "person")).entity_id
    )


def test_fuzzy_index_merges_transliterations_of_people_not_of_short_codes() -> None:
    index = FuzzyIndex()
    first = index.canonical(to_ref(mention("Yevgeny Prigozhin", "person")))
    second = index.canonical(to_ref(mention("Yevgueni Prigojine", "person")))
    assert second.entity_id != first.entity_id  # too far apart for a safe merge
    third = index.canonical(to_ref(mention("Yevgeniy Prigozhin", "person")))
    assert third.entity_id == first.entity_id
    apt28 = index.canonical(to_ref(mention("APT28", "org")))
    apt29 = index.canonical(to_ref(mention("APT29", "org")))
    assert apt28.entity_id != apt29.entity_id
