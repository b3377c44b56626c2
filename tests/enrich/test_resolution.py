"""Entity resolution: one entity whatever the document, language or spelling."""

from __future__ import annotations

from guetteur.enrich.resolution import group_similar_names, resolution_key, to_ref
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


def test_spellings_group_by_transliteration_but_short_codes_stay_apart() -> None:
    keys = [
        ("person", "yevgeny prigozhin", 3),
        ("person", "yevgueni prigojine", 1),  # too far apart for a safe merge
        ("person", "yevgeniy prigozhin", 1),
        ("org", "apt28", 2),
        ("org", "apt29", 2),
        ("equipment", "t 90m", 1),
        ("equipment", "t 90ms", 1),  # only names of people, groups, units and ships
    ]
    leader = group_similar_names(keys)
    assert leader["person", "yevgeniy prigozhin"] == ("person", "yevgeny prigozhin")
    assert leader["person", "yevgueni prigojine"] == ("person", "yevgueni prigojine")
    assert leader["org", "apt28"] != leader["org", "apt29"]
    assert leader["equipment", "t 90m"] != leader["equipment", "t 90ms"]


def test_a_group_is_led_by_its_most_seen_spelling_whatever_the_input_order() -> None:
    keys = [("person", "yevgeny prigozhinov", 1), ("person", "yevgeny prigozhinow", 4)]
    for ordered in (keys, keys[::-1]):
        leader = group_similar_names(ordered)
        assert set(leader.values()) == {("person", "yevgeny prigozhinow")}


def test_a_chain_of_near_misses_does_not_join_far_apart_names() -> None:
    # b is close to a and to c, but a and c are not close: c must not follow b into a.
    a, b, c = "andrei serdyukov", "andrey serdyukov", "andrey serdiukov"
    leader = group_similar_names([("person", a, 3), ("person", b, 2), ("person", c, 1)])
    assert leader["person", b] == ("person", a)
    assert leader["person", c] == ("person", c)
