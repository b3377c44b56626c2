"""Standing intelligence requirements, evaluated on what is new since the last run.

A requirement is a priority intelligence requirement in plain words ("any
Varnian bridging equipment moving towards the Narva river"), owned by the
user who wrote it and always evaluated under that user's clearance. Each run
reads only the passages stored since the previous one (ingest evaluates
every requirement too), keeps those close to the requirement in meaning or
sharing its key words, and records each hit with the reason it matched. A
report (`watch run`) shows the hits found since the owner's last report with
a short cited digest — the best sentences of the hits — marked by the
high-water mark of all the hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guetteur.enrich.embeddings import embed
from guetteur.model import Clearance, Marking
from guetteur.products.ask import Candidate, rank_sentences
from guetteur.products.cited import Statement, product_marking
from guetteur.search import RankedPassage, query_terms
from guetteur.store import Requirement, Store, WatchHit

__all__ = ["WatchRun", "evaluate_requirement", "report_requirement"]

# A passage is a hit when it is this close in meaning to the requirement...
SIMILAR = 0.45
# ...or shares this share of its key words and is at least loosely related.
SHARED_TERMS = 0.5
RELATED = 0.25
DIGEST_SENTENCES = 3


@dataclass(frozen=True)
class WatchRun:
    requirement: Requirement
    hits: tuple[WatchHit, ...]
    digest: tuple[Statement, ...]
    doc_ids: tuple[str, ...]  # the documents the digest cites, by citation number - 1
    marking: Marking | None  # None when nothing new matched


def _reason(similarity: float, shared: Sequence[str]) -> str:
    words = f"; shared words: {', '.join(shared)}" if shared else ""
    return f"similarity {similarity:.2f}{words}"


def evaluate_requirement(
    store: Store,
    requirement: Requirement,
    clearance: Clearance,
    target: npt.NDArray[np.float32] | None = None,
) -> list[WatchHit]:
    """Evaluate `requirement` on the passages stored since it was last evaluated; record hits.

    `target` is the requirement's embedding, when the caller already has it.
    """
    new = store.chunks_after(requirement.last_chunk_id, clearance)
    last_seen = max((hit.chunk_id for hit, _ in new), default=requirement.last_chunk_id)
    terms = query_terms(requirement.text)
    if target is None:
        target = embed([requirement.text])[0]
    hits: list[WatchHit] = []
    for hit, vector in new:
        similarity = float(np.asarray(vector) @ target)
        words = set(query_terms(hit.text))
        shared = [t for t in terms if t in words]
        share = len(shared) / len(terms) if terms else 0.0
        if similarity >= SIMILAR or (share >= SHARED_TERMS and similarity >= RELATED):
            hits.append(
                WatchHit(requirement.id, hit.chunk_id, hit.doc_id, hit.marking,
                         round(similarity + 0.5 * share, 4), _reason(similarity, shared))
            )  # fmt: skip
    store.record_watch_run(requirement.id, hits, last_seen)
    return hits


def report_requirement(store: Store, requirement: Requirement, clearance: Clearance) -> WatchRun:
    """What matched `requirement` since it was last reported, with a cited digest."""
    target = embed([requirement.text])[0]
    evaluate_requirement(store, requirement, clearance, target)
    hits = store.watch_hits(requirement.id, clearance, since=requirement.last_run_at)
    store.mark_reported(requirement.id)
    if not hits:
        return WatchRun(requirement, (), (), (), None)
    scores = {h.chunk_id: h.score for h in hits}
    passages = sorted(
        (
            RankedPassage(hit, scores[hit.chunk_id])
            for hit in store.get_chunks(list(scores), clearance)
        ),
        key=lambda p: -p.score,
    )
    candidates = rank_sentences(requirement.text, passages[:8], target)
    digest: list[Candidate] = []
    for candidate in candidates:
        if len(digest) == DIGEST_SENTENCES:
            break
        if all(c.passage.hit.doc_id != candidate.passage.hit.doc_id for c in digest):
            digest.append(candidate)
    doc_ids = tuple(dict.fromkeys(c.passage.hit.doc_id for c in digest))
    statements = tuple(
        Statement(
            c.span.text,
            (doc_ids.index(c.passage.hit.doc_id) + 1,),
            c.passage.hit.marking,
            (c.passage.hit.grade,) if c.passage.hit.grade else (),
            c.passage.hit.language,
        )
        for c in digest
    )
    # The count and list of hits say something too: mark the run by all of them.
    marking = product_marking((h.marking for h in hits), clearance)
    return WatchRun(requirement, tuple(hits), statements, doc_ids, marking)
