"""ATT&CK mapping quality: TRAM sentences mapped onto the full Enterprise catalogue.

    .venv/bin/python benchmarks/attack_mapping.py [--data DIR] [--catalogue PATH]
    .venv/bin/python benchmarks/attack_mapping.py --signatures

With --signatures it measures instead what triage infers for untagged alerts:
how many distinct signatures of ../shared/data/suricata_eve get a technique at
several score thresholds, then lists every inferred (technique, signature) pair
at the shipped threshold, Tor relay list groups folded into one, for checking
by hand — precision here is an analyst's judgement, there is no gold label.

Each of the 1,031 TRAM sentences (../shared/data/tram_sentences) carries one
technique label; the mapper ranks all 691 techniques of the ATT&CK v18 bundle
(../shared/data/attack), not just the 50 the labels use. Sentences are split
deterministically by the SHA-256 of their text (even first byte: dev, odd:
test), so duplicate sentences never straddle the split. Fusion weights are
chosen by a grid search on the dev half only; every figure printed is on the
test half. In the same run:

- baseline: TF-IDF cosine against technique names + descriptions (numpy only);
- lexical: BM25 + curated cues, weights tuned on dev;
- embeddings: cosine to each technique's name and opening sentences;
- fused: all three, weights tuned on dev (the shipped defaults are printed too).

Reports top-1 and top-3 accuracy (= precision and recall at k for single-label
data), macro-averaged precision and recall over the labelled techniques at top-1,
and the time per sentence.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from guetteur.cyber.attack import Catalogue, FusionWeights, TechniqueMapper, load_catalogue
from guetteur.cyber.eve import read_eve
from guetteur.model import Alert
from guetteur.pipeline.alerts import SIGNATURE_MIN_SCORE, infer_techniques

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# T1574.002 (DLL Side-Loading) was revoked in ATT&CK v17 and merged into
# T1574.001 (DLL); the TRAM labels predate that.
RELABEL = {"T1574.002": "T1574.001"}


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str

    @property
    def is_dev(self) -> bool:
        return hashlib.sha256(self.text.encode("utf-8")).digest()[0] % 2 == 0


def load_sentences(folder: Path) -> list[Sentence]:
    rows = json.loads((folder / "sentences_sample.json").read_text(encoding="utf-8"))
    return [Sentence(row["text"], RELABEL.get(row["label"], row["label"])) for row in rows]


class TfidfBaseline:
    """Plain TF-IDF (log tf, smooth idf, L2) cosine; no stemming, no cues."""

    def __init__(self, catalogue: Catalogue) -> None:
        documents = [self._words(f"{catalogue.full_name(t)} {t.description}") for t in catalogue]
        vocabulary = sorted({w for d in documents for w in d})
        self.index = {w: i for i, w in enumerate(vocabulary)}
        frequency = Counter(w for d in documents for w in set(d))
        self.idf = np.array(
            [math.log((1 + len(documents)) / (1 + frequency[w])) + 1 for w in vocabulary],
            dtype=np.float32,
        )
        self.matrix = self._vectors(documents)

    @staticmethod
    def _words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    def _vectors(self, documents: Sequence[list[str]]) -> npt.NDArray[np.float32]:
        matrix = np.zeros((len(documents), len(self.index)), dtype=np.float32)
        for row, words in enumerate(documents):
            for word, count in Counter(words).items():
                column = self.index.get(word)
                if column is not None:
                    matrix[row, column] = (1 + math.log(count)) * self.idf[column]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms > 0, norms, 1)

    def scores(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._vectors([self._words(t) for t in texts]) @ self.matrix.T


@dataclass(frozen=True)
class Figures:
    top1: float
    top3: float
    macro_precision: float
    macro_recall: float


def evaluate(scores: npt.NDArray[np.float32], gold: Sequence[int]) -> Figures:
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    truth = np.array(gold)
    top1 = ranked[:, 0] == truth
    top3 = (ranked == truth[:, None]).any(axis=1)
    labels = sorted(set(gold))
    predicted = Counter(int(p) for p in ranked[:, 0])
    correct = Counter(int(t) for t, hit in zip(truth, top1, strict=True) if hit)
    expected = Counter(gold)
    precision = [correct[k] / predicted[k] if predicted[k] else 0.0 for k in labels]
    recall = [correct[k] / expected[k] for k in labels]
    return Figures(
        float(top1.mean()),
        float(top3.mean()),
        float(np.mean(precision)),
        float(np.mean(recall)),
    )


def tune(
    signals: tuple[npt.NDArray[np.float32], ...], gold: Sequence[int], use_embedding: bool
) -> FusionWeights:
    """Grid search on dev: best top-1, then top-3 as the tie-break."""
    grid = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0]
    best: tuple[tuple[float, float], FusionWeights] | None = None
    embedding, bm25, cues = signals
    for w_embedding, w_bm25, w_cues in itertools.product(
        grid if use_embedding else [0.0], grid, grid
    ):
        if w_embedding + w_bm25 + w_cues == 0:
            continue
        weights = FusionWeights(w_embedding, w_bm25, w_cues)
        scores = w_embedding * embedding + w_bm25 * bm25 + w_cues * cues
        figures = evaluate(scores, gold)
        key = (figures.top1, figures.top3)
        if best is None or key > best[0]:
            best = (key, weights)
    assert best is not None
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "tram_sentences")
    parser.add_argument("--catalogue", type=Path, default=SHARED / "attack")
    parser.add_argument("--signatures", action="store_true")
    arguments = parser.parse_args()
    if arguments.signatures:
        signatures(load_catalogue(arguments.catalogue))
        return

    catalogue = load_catalogue(arguments.catalogue)
    sentences = load_sentences(arguments.data)
    unknown = {s.label for s in sentences} - set(catalogue.techniques)
    if unknown:
        raise SystemExit(f"labels missing from the catalogue: {sorted(unknown)}")
    dev = [s for s in sentences if s.is_dev]
    test = [s for s in sentences if not s.is_dev]
    position = {t.id: i for i, t in enumerate(catalogue)}
    dev_gold = [position[s.label] for s in dev]
    test_gold = [position[s.label] for s in test]
    print(
        f"{len(sentences)} sentences, {len({s.label for s in sentences})} techniques; "
        f"dev {len(dev)} (tuning) / test {len(test)} (reported); catalogue {len(catalogue)}"
    )

    started = time.perf_counter()
    baseline = TfidfBaseline(catalogue)
    baseline_build = time.perf_counter() - started
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        mapper = TechniqueMapper(catalogue, cache_dir=Path(cache))
    mapper_build = time.perf_counter() - started

    dev_signals = mapper.signals([s.text for s in dev])
    lexical_weights = tune(tuple(dev_signals), dev_gold, use_embedding=False)
    fused_weights = tune(tuple(dev_signals), dev_gold, use_embedding=True)

    test_texts = [s.text for s in test]
    started = time.perf_counter()
    baseline_scores = baseline.scores(test_texts)
    baseline_time = time.perf_counter() - started
    test_signals = mapper.signals(test_texts)
    rows = [
        ("baseline: TF-IDF cosine", baseline_scores),
        ("lexical: BM25 + cues", test_signals.fuse(lexical_weights)),
        ("embeddings alone", test_signals.embedding),
        ("fused, weights tuned on dev", test_signals.fuse(fused_weights)),
        ("fused, shipped defaults", test_signals.fuse(mapper.weights)),
    ]

    # End-to-end time of the public call, on the test half.
    started = time.perf_counter()
    mapped = mapper.map_batch(test_texts, top=3)
    mapper_time = time.perf_counter() - started
    shipped_top1 = np.mean(
        [bool(m) and m[0][0].id == s.label for m, s in zip(mapped, test, strict=True)]
    )

    print(f"lexical weights (dev): {lexical_weights}")
    print(f"fused weights (dev):   {fused_weights}")
    print(f"shipped defaults:      {mapper.weights}\n")
    title = f"test split (n={len(test)})"
    header = f"{title:<30} {'top-1':>6} {'top-3':>6} {'macro P@1':>10} {'macro R@1':>10}"
    print(header)
    print("-" * len(header))
    for name, scores in rows:
        figures = evaluate(scores, test_gold)
        print(
            f"{name:<30} {figures.top1:>6.1%} {figures.top3:>6.1%} "
            f"{figures.macro_precision:>10.1%} {figures.macro_recall:>10.1%}"
        )
    per_baseline = baseline_time / len(test) * 1000
    per_mapper = mapper_time / len(test) * 1000
    print(
        f"\nmap_batch top-1 (shipped defaults): {shipped_top1:.1%}\n"
        f"build: baseline {baseline_build:.1f} s, mapper {mapper_build:.1f} s "
        f"(embedding {len(catalogue)} techniques, cold cache)\n"
        f"time per sentence: baseline {per_baseline:.2f} ms, mapper {per_mapper:.2f} ms "
        f"(ratio {per_mapper / per_baseline:.0f}x)"
    )


def signatures(catalogue: Catalogue) -> None:
    """Techniques inferred from the untagged sample alerts' signature text."""
    untagged = sorted(
        {
            alert.signature
            for path in sorted((SHARED / "suricata_eve").glob("*.json"))
            for alert in read_eve(path)
            if isinstance(alert, Alert) and not alert.techniques
        }
    )
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        mapper = TechniqueMapper(catalogue, cache_dir=Path(cache))
        by_threshold = {
            threshold: infer_techniques(untagged, mapper, catalogue, Path(cache), threshold)
            for threshold in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
        }
        seconds = time.perf_counter() - started
    print(f"{len(untagged)} distinct untagged signatures, mapped in {seconds:.1f} s")
    for threshold, inferred in by_threshold.items():
        shipped = "  (shipped)" if threshold == SIGNATURE_MIN_SCORE else ""
        print(f"  score >= {threshold:.2f}: {len(inferred):>4} get a technique{shipped}")
    names = {t.id: t.name for t in catalogue}
    shown: set[str] = set()
    for signature, techniques in sorted(by_threshold[SIGNATURE_MIN_SCORE].items()):
        kind = re.sub(r"group \d+", "group N", signature)
        if kind not in shown:
            shown.add(kind)
            print(f"  {techniques[0]:<10} {names[techniques[0]][:34]:<34} {kind}")


if __name__ == "__main__":
    main()
