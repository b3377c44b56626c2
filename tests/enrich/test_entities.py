"""Entity extraction: what a staff officer would see in the entity list of a report."""

from __future__ import annotations

import base64
import importlib.resources
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guetteur.enrich import entities
from guetteur.enrich.entities import (
    EntityExtractor,
    LexiconError,
    builtin_lexicon,
    find_observables,
    load_lexicon,
)
from guetteur.model.entity import EntityMention


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor()


def found(mentions: list[EntityMention]) -> set[tuple[str, str]]:
    return {(m.text, m.type) for m in mentions}


def assert_well_formed(text: str, mentions: list[EntityMention]) -> None:
    previous_end = 0
    for mention in mentions:
        assert text[mention.start : mention.end] == mention.text
        assert mention.start >= previous_end, "mentions overlap or are not sorted"
        previous_end = mention.end


# --- what the rules add over the model ---------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Trois BTR-82A ont été vus près de Koupiansk.", "fr"),
        ("Three BTR-82A were seen near Kupiansk.", "en"),
        ("Un BTR 82A a franchi le pont.", "fr"),
    ],
)
def test_btr_82a_is_equipment_not_a_place(
    extractor: EntityExtractor, text: str, language: str
) -> None:
    mentions = extractor.extract(text, language)
    btr = [m for m in mentions if m.text.startswith("BTR")]
    assert len(btr) == 1
    assert (btr[0].type, btr[0].subtype, btr[0].canonical) == ("equipment", "apc", "BTR-82A")
    assert btr[0].source == "rule"


def test_french_units_with_ordinals(extractor: EntityExtractor) -> None:
    text = (
        "Le 2e régiment de hussards relève le 1er régiment d'infanterie ; "
        "la 152e brigade d'artillerie de la Garde tire depuis l'est. Le 2e RH se replie."
    )
    mentions = extractor.extract(text, "fr")
    units = {(m.text, m.canonical) for m in mentions if m.type == "unit"}
    assert units == {
        ("2e régiment de hussards", "2e régiment de hussards"),
        ("1er régiment d'infanterie", "1er régiment d'infanterie"),
        ("152e brigade d'artillerie de la Garde", "152e brigade d'artillerie de la Garde"),
        ("2e RH", "2e régiment de hussards"),  # the lexicon knows the abbreviation
    }


def test_english_units_with_ordinals(extractor: EntityExtractor) -> None:
    text = (
        "The 3rd Battalion of the 152nd Guards Artillery Brigade shelled the 1st Armoured "
        "Brigade, while 16 Air Assault Brigade stood by."
    )
    units = {m.text for m in extractor.extract(text, "en") if m.type == "unit"}
    assert units == {
        "3rd Battalion",
        "152nd Guards Artillery Brigade",
        "1st Armoured Brigade",
        "16 Air Assault Brigade",
    }


def test_task_forces_and_battlegroups_are_units(extractor: EntityExtractor) -> None:
    en = extractor.extract("Task Force ORION joined the eFP Battlegroup Estonia at Tapa.", "en")
    fr = extractor.extract("Le GTIA LYNX et le SGTIA BRAVO franchissent la Meuse.", "fr")
    assert {("Task Force ORION", "unit"), ("eFP Battlegroup Estonia", "unit")} <= found(en)
    assert {("GTIA LYNX", "unit"), ("SGTIA BRAVO", "unit")} <= found(fr)


def test_rank_and_person_are_separate_mentions(extractor: EntityExtractor) -> None:
    fr = extractor.extract("Le général Dupont a reçu le lieutenant-colonel Hervé Lambert.", "fr")
    assert {
        ("général", "rank"),
        ("Dupont", "person"),
        ("lieutenant-colonel", "rank"),
        ("Hervé Lambert", "person"),
    } <= found(fr)
    en = extractor.extract("Gen. Valery Gerasimov met Lt Col Sarah Bennett.", "en")
    assert {
        ("Gen.", "rank"),
        ("Valery Gerasimov", "person"),
        ("Lt Col", "rank"),
        ("Sarah Bennett", "person"),
    } <= found(en)


def test_a_rank_before_a_name_beats_the_equipment_lexicon(extractor: EntityExtractor) -> None:
    mentions = extractor.extract("Le général Leclerc passe en revue des chars Leclerc.", "fr")
    assert [(m.text, m.type) for m in mentions if m.text == "Leclerc"] == [
        ("Leclerc", "person"),
        ("Leclerc", "equipment"),
    ]


def test_caesar_the_howitzer_and_julius_caesar(extractor: EntityExtractor) -> None:
    howitzer = extractor.extract("A Caesar howitzer hit a 2S19 Msta-S.", "en")
    assert {("Caesar", "equipment"), ("2S19 Msta-S", "equipment")} <= found(howitzer)
    roman = extractor.extract("Julius Caesar crossed the Rubicon.", "en")
    assert not [m for m in roman if m.type == "equipment"]


def test_an_operation_named_after_a_vehicle_is_not_the_vehicle(
    extractor: EntityExtractor,
) -> None:
    mentions = extractor.extract("L'opération Serval a débuté au Mali en 2013.", "fr")
    assert not [m for m in mentions if m.type == "equipment"]


def test_callsign_is_found_with_its_cue_and_then_bare(extractor: EntityExtractor) -> None:
    text = "Callsign VIPER 21 reports two Ka-52. VIPER 21 is returning to base."
    mentions = extractor.extract(text, "en")
    assert [m.start for m in mentions if m.type == "callsign"] == [9, 37]
    assert ("Ka-52", "aircraft") in found(mentions)
    assert ("Callsign", "place") not in found(mentions)


def test_vessels_by_name_and_class(extractor: EntityExtractor) -> None:
    en = extractor.extract(
        "HMS Diamond shadowed the Kilo-class submarine Rostov-on-Don and the Admiral Kuznetsov.",
        "en",
    )
    assert {
        ("HMS Diamond", "vessel"),
        ("Kilo-class", "vessel"),
        ("Rostov-on-Don", "vessel"),
        ("Admiral Kuznetsov", "vessel"),
    } <= found(en)
    fr = extractor.extract(
        "Le capitaine de frégate Anne Keraudren commande la frégate Aquitaine.", "fr"
    )
    assert {("Anne Keraudren", "person"), ("Aquitaine", "vessel")} <= found(fr)


def test_organisations_the_model_misses(extractor: EntityExtractor) -> None:
    text = "L'ANSSI attribue la campagne au mode opératoire GREYFOX, proche d'APT28 et de l'OTAN."
    orgs = {(m.text, m.canonical) for m in extractor.extract(text, "fr") if m.type == "org"}
    assert {
        ("ANSSI", "ANSSI"),
        ("GREYFOX", "GREYFOX"),
        ("APT28", "APT28"),
        ("OTAN", "NATO"),
    } <= orgs


def test_a_grid_reference_is_never_an_entity(extractor: EntityExtractor) -> None:
    text = "Contact at grid 35VNF6763382659, callsign HAMMER 6 requests support at 220915ZNOV26."
    mentions = extractor.extract(text, "en")
    grid = text.index("35VNF")
    assert not [m for m in mentions if m.start < grid + 15 and grid < m.end]
    assert not [m for m in mentions if "220915" in m.text]


# --- cyber observables --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "kind", "subtype", "canonical"),
    [
        ("185.220.101.47", "observable", "ipv4", "185.220.101.47"),
        ("91.245.255[.]12", "observable", "ipv4", "91.245.255.12"),
        ("2001:db8:4f2a::17", "observable", "ipv6", "2001:db8:4f2a::17"),
        (
            "hxxps://cdn-files[.]ru/payload.bin",
            "observable",
            "url",
            "https://cdn-files.ru/payload.bin",
        ),
        ("http://45.137.21.9:8080/inv", "observable", "url", "http://45.137.21.9:8080/inv"),
        ("update-service[.]org", "observable", "domain", "update-service.org"),
        ("secure-update.example", "observable", "domain", "secure-update.example"),
        ("mon.gov.pl", "observable", "domain", "mon.gov.pl"),
        ("d41d8cd98f00b204e9800998ecf8427e", "observable", "md5", None),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "observable", "sha1", None),
        (
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "observable",
            "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        ("CVE-2023-23397", "observable", "cve", "CVE-2023-23397"),
        ("T1566", "technique", "attack", "T1566"),
        ("T1566.001", "technique", "attack", "T1566.001"),
    ],
)
def test_observables_by_pattern(
    written: str, kind: str, subtype: str, canonical: str | None
) -> None:
    text = f"Indicateur relevé : {written}. Fin."
    mentions = find_observables(text)
    assert len(mentions) == 1, mentions
    mention = mentions[0]
    assert (mention.text, mention.type, mention.subtype) == (written, kind, subtype)
    assert mention.canonical == (canonical or written.lower())


@pytest.mark.parametrize(
    "text",
    [
        "Le rapport report.pdf et le script setup.ps1 étaient joints.",
        "The dropper wrote svchost.exe and payload.dll next to notes.md and invoice.zip.",
        "Run install.sh, then read README.md and config.json.",
        "At 12:30:45 the MAC 00:1a:2b:3c:4d:5e appeared on version 1.2.3 of the agent.",
        "Les troupes ont quitté Gao.Il faisait nuit.",
    ],
)
def test_file_names_times_and_glued_sentences_are_not_observables(text: str) -> None:
    assert find_observables(text) == []


def test_observables_through_the_extractor_win_over_the_model(
    extractor: EntityExtractor,
) -> None:
    text = "APT28 exploited CVE-2023-38831 and beaconed to hxxp://update-check[.]net/api/v2."
    mentions = extractor.extract(text, "en")
    assert {
        ("APT28", "org"),
        ("CVE-2023-38831", "observable"),
        ("hxxp://update-check[.]net/api/v2", "observable"),
    } == found(mentions)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcdef0123456789.:[]/-hxtpT CVE\n"), max_size=120))
def test_observable_offsets_are_exact_on_any_text(text: str) -> None:
    assert_well_formed(text, find_observables(text))


# --- offsets, batches, long texts ------------------------------------------------

FRAGMENTS = [
    "Le 2e régiment de hussards ",
    "a vu des BTR-82A ",
    "près de Koupiansk. ",
    "The 3rd Battalion ",
    "fired BM-21 Grad rockets ",
    "callsign VIPER 21 ",
    "Gen. Mark Sullivan ",
    "le général Dupont ",
    "hxxp://evil[.]com/x ",
    "T1566.001 ",
    "\n\n",
    "à Paris, ",
    "HMS Diamond ",
    "l'OTAN ",
    "é",
    "  ",
]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
    st.sampled_from(["fr", "en", "other"]),
)
def test_offsets_are_exact_and_mentions_do_not_overlap(
    extractor: EntityExtractor, text: str, language: str
) -> None:
    assert_well_formed(text, extractor.extract(text, language))


def test_batch_gives_the_same_as_one_by_one(extractor: EntityExtractor) -> None:
    texts = [
        "Le 2e RH a observé trois BTR-82A près de Koupiansk.",
        "Task Force ORION reported a T-90M near Bakhmut.",
        "",
        "Der Kommandeur der Panzerbrigade 21 meldet einen T-72B3.",
        "Le colonel Marchand rend compte au CPCO.",
    ]
    languages = ["fr", "en", "fr", "other", "fr"]
    batch = extractor.extract_batch(texts, languages)
    assert batch == [extractor.extract(t, lang) for t, lang in zip(texts, languages, strict=True)]
    assert batch[2] == []
    assert ("T-72B3", "equipment") in found(batch[3])


def test_batch_needs_one_language_per_text(extractor: EntityExtractor) -> None:
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        extractor.extract_batch(["a", "b"], ["fr"])


def test_a_two_megabyte_report_keeps_its_offsets_to_the_end(extractor: EntityExtractor) -> None:
    # A report with a base64 attachment: far beyond spaCy's max_length.
    attachment = base64.encodebytes(random.Random(3).randbytes(1_480_000)).decode()
    head = "Le 2e régiment de hussards signale trois BTR-82A près de Koupiansk.\n\nPJ :\n"
    tail = "\n\nLe colonel Marchand confirme ; indicatif FAUCON 3 ; relais 185.220.101.47."
    text = head + attachment + tail
    assert len(text) > 1_900_000
    mentions = extractor.extract(text, "fr")
    assert_well_formed(text, mentions)
    end = {(m.text, m.type): m.start for m in mentions if m.start > len(head) + len(attachment)}
    assert end == {
        ("colonel", "rank"): text.rindex("colonel"),
        ("Marchand", "person"): text.rindex("Marchand"),
        ("FAUCON 3", "callsign"): text.rindex("FAUCON 3"),
        ("185.220.101.47", "observable"): text.rindex("185"),
    }
    # Nothing is "found" inside the attachment.
    assert not [m for m in mentions if len(head) <= m.start < len(head) + len(attachment)]


def test_long_prose_is_cut_on_paragraphs_without_losing_offsets(
    extractor: EntityExtractor,
) -> None:
    paragraph = "Le 2e régiment de hussards a vu trois BTR-82A près de Koupiansk.\n\n"
    text = paragraph * 700  # ~48,000 characters: several pieces for the model
    mentions = extractor.extract(text, "fr")
    assert_well_formed(text, mentions)
    assert len([m for m in mentions if m.text == "Koupiansk" and m.type == "place"]) == 700


def test_the_model_reads_a_long_text_a_few_pieces_at_a_time(
    extractor: EntityExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model's working memory grows with the characters it reads at once (64
    # pieces of a 50 MB document took 970 MB): a batch holds at most
    # _BATCH_CHARS of them, and offsets still run to the end of the text.
    monkeypatch.setattr(entities, "_BATCH_CHARS", 40_000)
    nlp = extractor.pipeline("fr")
    read_at_once: list[int] = []
    pipe = nlp.pipe

    def recorded_pipe(texts: list[str], **options: object) -> object:
        read_at_once.append(sum(len(text) for text in texts))
        return pipe(texts, **options)

    monkeypatch.setattr(nlp, "pipe", recorded_pipe)
    paragraph = "Le 2e régiment de hussards a vu trois BTR-82A près de Koupiansk.\n\n"
    text = paragraph * 1_500  # ~100,000 characters: five pieces of at most 20,000
    short = "Le colonel Marchand rend compte depuis Koupiansk."
    long_mentions, short_mentions = extractor.extract_batch([text, short], ["fr", "fr"])
    assert len(read_at_once) >= 3 and max(read_at_once) <= 40_000
    assert_well_formed(text, long_mentions)
    assert len([m for m in long_mentions if m.text == "Koupiansk" and m.type == "place"]) == 1_500
    assert ("Marchand", "person") in found(short_mentions)


# --- lexicon ----------------------------------------------------------------------


def test_builtin_lexicon_ships_with_the_package() -> None:
    folder = importlib.resources.files("guetteur.enrich").joinpath("lexicon")
    names = {p.name for p in folder.iterdir()}
    assert {
        "equipment.tsv",
        "aircraft.tsv",
        "vessels.tsv",
        "orgs.tsv",
        "units.tsv",
        "ranks.tsv",
    } <= names
    entries = builtin_lexicon()
    assert len([e for e in entries if e.type == "equipment"]) >= 120
    btr = next(e for e in entries if e.canonical == "BTR-82A")
    assert btr.subtype == "apc" and btr.aliases[0] == "BTR-82A"


def test_a_user_lexicon_adds_an_entry(tmp_path: Path) -> None:
    text = "Un Pegasus-7 a été vu près de la base ; le Sentinelle-X aussi."
    assert not [m for m in EntityExtractor().extract(text, "fr") if m.type == "equipment"]
    lexicon = tmp_path / "lexicon"
    lexicon.mkdir()
    (lexicon / "local.tsv").write_text(
        "# systèmes de l'exercice\n"
        "canonical\ttype\tsubtype\taliases\n"
        "Pegasus-7\tequipment\tuav\tPegasus 7|PGS-7\n"
        "Sentinelle-X\tequipment\tradar\t\n",
        encoding="utf-8",
    )
    mentions = EntityExtractor(extra_lexicon=lexicon).extract(text, "fr")
    assert {(m.text, m.type, m.subtype, m.canonical) for m in mentions if m.source == "rule"} >= {
        ("Pegasus-7", "equipment", "uav", "Pegasus-7"),
        ("Sentinelle-X", "equipment", "radar", "Sentinelle-X"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("BTR-82A\tequipment\tapc\t\n", "first row must be the header"),
        ("canonical\ttype\tsubtype\taliases\nBTR-82A\tvehicle\tapc\t\n", "unknown type 'vehicle'"),
        ("canonical\ttype\tsubtype\taliases\nBTR-82A\n", "expected 4 tab-separated fields"),
    ],
)
def test_a_broken_lexicon_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message) as error:
        load_lexicon(path)
    assert str(path) in str(error.value)


def test_extractor_pickles_without_its_models(extractor: EntityExtractor) -> None:
    # What a Dask worker receives: the rules, not hundreds of MB of model.
    extractor.extract("warm", "en")
    payload = pickle.dumps(extractor)
    assert len(payload) < 2_000_000
    clone = pickle.loads(payload)
    text = "Trois BTR-82A près de Koupiansk."
    assert clone.extract(text, "fr") == extractor.extract(text, "fr")
