"""Enrichment speed: documents per second, against the bare spaCy pipelines, same texts, same run.

    .venv/bin/python benchmarks/enrich_speed.py [--copies 5]

Takes the scenario's reports (each text repeated `--copies` times with a
distinct line, so no cache helps), runs the bare spaCy pipelines guetteur uses
(NER components only) over them, then the whole enrichment stage — entities
with our rules, gazetteer resolution, coordinates, times, resolution, events —
and prints both rates and their ratio: our overhead on top of the model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from guetteur.enrich.language import detect_languages
from guetteur.pipeline.enrichment import Enricher

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenario" / "reports"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5)
    args = parser.parse_args()
    originals = [
        p.read_text(encoding="utf-8")
        for p in sorted(SCENARIO.rglob("*"))
        if p.suffix in {".txt", ".md"}
    ]
    texts = [f"Copy {n}.\n{text}" for n in range(args.copies) for text in originals]
    languages = detect_languages(texts)
    with tempfile.TemporaryDirectory() as home:
        enricher = Enricher(Path(home))
        print(f"gazetteer: {enricher.gazetteer.size} (places, names)")  # built outside the timings
        extractor = enricher._extractor  # noqa: SLF001 - the same pipelines, used bare
        for language in ("fr", "en"):
            extractor.pipeline(language)

        started = time.perf_counter()
        for language in ("fr", "en"):
            chosen = [
                t
                for t, lang in zip(texts, languages, strict=True)
                if (lang == "fr") == (language == "fr")
            ]
            for _ in extractor.pipeline(language).pipe(chosen, batch_size=32):
                pass
        bare = time.perf_counter() - started

        started = time.perf_counter()
        for start in range(0, len(texts), 32):
            enricher.enrich_batch(
                texts[start : start + 32],
                languages[start : start + 32],
                [None] * len(texts[start : start + 32]),
            )
        ours = time.perf_counter() - started
    words = sum(len(t.split()) for t in texts)
    print(f"documents: {len(texts)} ({words} words, {len(set(languages))} languages)")
    print(f"bare spaCy NER      : {len(texts) / bare:7.1f} docs/s ({bare:.1f} s)")
    print(f"guetteur enrichment : {len(texts) / ours:7.1f} docs/s ({ours:.1f} s)")
    print(f"ratio enrichment / bare spaCy time: {ours / bare:.2f}x")


if __name__ == "__main__":
    main()
