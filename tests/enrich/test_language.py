"""Language detection on the kinds of text a staff ingests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from guetteur.enrich import detect_language, detect_languages

FRENCH = [
    "Convoi observé près de Tapa.",
    "Les blindés ennemis se replient vers le nord.",
    "Pont détruit.",
    "Tirs d'artillerie signalés au sud de la ville pendant la nuit.",
    "Un convoi de douze véhicules, dont quatre chars T-72B3, a été observé le 22 novembre "
    "à 06h30 sur la route 2 en direction de Rakvere. La source estime que l'unité appartient "
    "à la 6e brigade. Aucun mouvement n'a été constaté depuis.",
    # Many messages are written all in capitals.
    "CONVOI DE CAMIONS OBSERVE PRES DE TAPA EN DIRECTION DU NORD",
]

ENGLISH = [
    "Convoy seen near Tapa.",
    "Enemy armour withdrew north.",
    "Bridge destroyed.",
    "Nothing to report.",
    "A convoy of twelve vehicles, including four T-72B3 tanks, was observed on 21 November "
    "at 06:30 on Route 2 heading towards Rakvere. The source assesses that the unit belongs "
    "to the 6th Brigade. No further movement has been seen since.",
    "CONVOY OF TRUCKS SEEN NEAR TAPA MOVING NORTH",
]

OTHER_LANGUAGES = [
    "Ein Konvoi mit zwölf Fahrzeugen wurde bei Tapa beobachtet.",
    "Kolonne in Bewegung.",
    "Колонна из двенадцати машин замечена возле Тапы.",
    "Se observó un convoy de doce vehículos cerca de Tapa.",
    "Kolonn nähti Tapa lähedal.",
    "Een konvooi van twaalf voertuigen werd gezien bij Tapa.",
]

NOTHING_TO_JUDGE = ["", "   \n\t", "220915ZNOV26", "12 34", "35VLF 1234 5678", "OK", "T-72B3 x4"]


@pytest.mark.parametrize("text", FRENCH)
def test_french_prose_is_fr(text: str) -> None:
    assert detect_language(text) == "fr"


@pytest.mark.parametrize("text", ENGLISH)
def test_english_prose_is_en(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", OTHER_LANGUAGES)
def test_other_languages_are_not_forced_into_french_or_english(text: str) -> None:
    assert detect_language(text) == "other"


@pytest.mark.parametrize("text", NOTHING_TO_JUDGE)
def test_text_with_too_few_letters_is_other(text: str) -> None:
    assert detect_language(text) == "other"


def test_english_banner_lines_do_not_decide_a_french_report() -> None:
    report = (
        "NATO SECRET//REL TO FRA, GBR, USA\n"
        "FROM: HQ MULTINATIONAL DIVISION NORTH\n"
        "TO: ALL UNITS\n"
        "SUBJECT: ENEMY CONVOY MOVEMENT REPORT\n"
        "DTG: 220915ZNOV26\n\n"
        "Convoi observé près de Tapa. Douze véhicules se dirigent vers le nord.\n"
    )
    assert detect_language(report) == "fr"


def test_long_report_is_judged_by_its_opening_not_its_annex() -> None:
    # A French report that quotes a long English annex is a French report.
    opening = " ".join(FRENCH[:5]) + "\n"
    annex = (ENGLISH[4] + "\n") * 5_000  # about 1.2 MB of English
    assert detect_language(opening + annex) == "fr"
    assert detect_language(annex + opening) == "en"


def test_long_all_capitals_message_is_judged() -> None:
    message = "SECRET\n" + (FRENCH[-1] + "\n") * 10_000
    assert detect_language(message) == "fr"


def test_batch_gives_the_same_answers_as_one_by_one() -> None:
    texts = FRENCH + ENGLISH + OTHER_LANGUAGES + NOTHING_TO_JUDGE
    assert detect_languages(texts) == [detect_language(text) for text in texts]


def test_batch_of_nothing_is_empty() -> None:
    assert detect_languages([]) == []
    assert detect_languages(["", "12 34"]) == ["other", "other"]


def test_detector_is_built_on_first_use_not_at_import() -> None:
    # A fresh interpreter, so this test does not depend on what ran before it.
    script = (
        "import guetteur.enrich.language as language\n"
        "assert language._detector is None, 'built at import'\n"
        "assert language.detect_language('Convoy seen near Tapa.') == 'en'\n"
        "first = language._detector\n"
        "assert first is not None\n"
        "language.detect_languages(['Pont détruit.'])\n"
        "assert language._detector is first, 'built twice'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
