"""Language of a document: "fr", "en" or "other".

The pipeline calls this right after parsing, before marking, grading and
chunking: the language decides which entity pipeline (French or English) reads
the text later and is stored on every `Document`. It is a pure function over
text, safe to run in batches on a pipeline worker; the only state is the lingua
detector, built lazily once per process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

from lingua import ConfidenceValue, Language, LanguageDetector, LanguageDetectorBuilder

__all__ = ["detect_language", "detect_languages"]

# French and English are what we act on; the others are here so that a German
# or Russian report comes out "other" instead of being forced into fr/en, which
# is what a detector restricted to two languages would do.
_CANDIDATES = (
    Language.FRENCH,
    Language.ENGLISH,
    Language.GERMAN,
    Language.SPANISH,
    Language.ITALIAN,
    Language.RUSSIAN,
    Language.UKRAINIAN,
    Language.POLISH,
    Language.ESTONIAN,
    Language.LATVIAN,
    Language.LITHUANIAN,
    Language.ARABIC,
    Language.DUTCH,
    Language.PORTUGUESE,
)
_CODES = {Language.FRENCH: "fr", Language.ENGLISH: "en"}
OTHER = "other"
# Nearly every report this platform reads is French or English, so a short,
# ambiguous text leans that way: "Convoy seen near Tapa." scores Spanish 0.33,
# English 0.31 on its own (the place name looks Spanish). French and English
# confidences are multiplied by this before the pick; a text that is clearly
# Spanish or German (the usual case past a few words) still comes out "other".
_FR_EN_PRIOR = 2.0

# The detector's cost grows with text length, so a long document is judged on
# a sample: its first lines that carry prose, up to this many characters.
_SAMPLE_CHARS = 2_000
# Lines are scanned lazily and never past this point, so even finding the
# sample stays bounded on a 100 MB log dump with no prose in it.
_SCAN_CHARS = 200_000
# Fewer letters than this (in words made only of letters) and there is nothing
# to judge: "220915ZNOV26", "12 34", "OK".
_MIN_LETTERS = 4
# Below this many letters of mixed-case prose, the capital lines are read too.
_MIN_PROSE_LETTERS = 20

_WORD = re.compile(r"\b[^\W\d_]{2,}\b")  # a word of letters only, no digits
_LINE = re.compile(r"[^\n]*\n?")

_detector: LanguageDetector | None = None
_detector_lock = threading.Lock()


def _get_detector() -> LanguageDetector:
    """The process-wide detector, built on first use.

    Built lazily (not at import) and without preloading: lingua then loads a
    language's models only when a text could be in that language, which keeps
    a worker that never sees Arabic free of the Arabic models.
    """
    global _detector
    if _detector is None:
        # Double-checked so concurrent first calls build one detector, and
        # later calls never touch the lock.
        with _detector_lock:
            if _detector is None:
                _detector = LanguageDetectorBuilder.from_languages(*_CANDIDATES).build()
    return _detector


def _letters(text: str) -> int:
    return sum(len(word) for word in _WORD.findall(text))


def _lines(text: str) -> Iterator[str]:
    for match in _LINE.finditer(text, 0, min(len(text), _SCAN_CHARS)):
        if not match.group():
            return
        yield match.group()


def _is_shouted(line: str) -> bool:
    """A line whose letters are all capitals: banners, headers, set lines."""
    return line.upper() == line


def _sample(text: str) -> str:
    """The part of `text` the detector reads: prose first, banners last.

    Banner-like all-capital lines ("SECRET//REL TO FRA, GBR", "DTG 220915ZNOV26",
    "FROM: 2 RIMA") are mostly acronyms and call signs that would only add
    noise, so they are kept aside and used only when the document has too
    little mixed-case prose (many messages are written all in capitals).
    """
    prose: list[str] = []
    shouted: list[str] = []
    prose_size = shouted_size = 0
    for line in _lines(text):
        if not _WORD.search(line):
            continue
        if _is_shouted(line):
            if shouted_size < _SAMPLE_CHARS:
                shouted.append(line)
                shouted_size += len(line)
        else:
            prose.append(line)
            prose_size += len(line)
            if prose_size >= _SAMPLE_CHARS:
                break
    chosen = "".join(prose)
    if _letters(chosen) < _MIN_PROSE_LETTERS:
        chosen = "".join(prose + shouted)
    if len(chosen) > _SAMPLE_CHARS:
        # Cut at a space so the last word is not a fragment.
        cut = chosen.rfind(" ", 0, _SAMPLE_CHARS)
        chosen = chosen[: cut if cut > 0 else _SAMPLE_CHARS]
    return chosen


def _decide(confidences: Sequence[ConfidenceValue]) -> str:
    """Pick a language from lingua's confidences, with the fr/en prior applied."""
    best, best_score = OTHER, 0.0
    for confidence in confidences:
        code = _CODES.get(confidence.language, OTHER)
        score = confidence.value * (_FR_EN_PRIOR if code != OTHER else 1.0)
        if score > best_score:
            best, best_score = code, score
    return best


def detect_language(text: str) -> str:
    """The language of `text`: "fr", "en" or "other".

    "other" covers any other language and text with too few letters to judge
    (a bare date-time group, numbers, an empty string). Long texts are judged
    on a bounded sample of their prose, so cost does not grow with size.
    """
    sample = _sample(text)
    if _letters(sample) < _MIN_LETTERS:
        return OTHER
    return _decide(_get_detector().compute_language_confidence_values(sample))


def detect_languages(texts: Sequence[str]) -> list[str]:
    """`detect_language` over a batch, in lingua's thread pool.

    Gives the same answer as `detect_language` for every text. The batch call
    is lingua's `compute_language_confidence_values_in_parallel` rather than
    `detect_languages_in_parallel_of`: both run on all cores, but only the
    former returns the confidences the fr/en prior needs.
    """
    samples = [_sample(text) for text in texts]
    judged = [index for index, sample in enumerate(samples) if _letters(sample) >= _MIN_LETTERS]
    results = [OTHER] * len(samples)
    if judged:
        confidences = _get_detector().compute_language_confidence_values_in_parallel(
            [samples[index] for index in judged]
        )
        for index, values in zip(judged, confidences, strict=True):
            results[index] = _decide(values)
    return results
