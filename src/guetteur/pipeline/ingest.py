"""The ingest pipeline: files → parsed documents → marked, graded, chunked, embedded → store.

    parse (ingest/) → decide marking → grade → language → reported time
        → chunk → embed and enrich (batched: entities, places, events)
        → store (one transaction per batch) → audit

`prepare` is pure (one RawDocument in, one Document and its chunks out), so an
executor other than this loop (Dask, next) can run it unchanged. Batches are
stored atomically and documents are keyed by the SHA-256 of their text: a run
killed at any point and started again stores every document exactly once.
A bad input is recorded in the report with its one-line reason and the run
goes on; nothing already stored is touched.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from guetteur._exceptions import GuetteurError, IngestError, MarkingError, NoMarkingError
from guetteur.enrich.embeddings import embed
from guetteur.enrich.grading import find_grade
from guetteur.enrich.language import detect_languages
from guetteur.enrich.resolution import FuzzyIndex
from guetteur.enrich.times import find_reported_time
from guetteur.ingest._base import RawDocument
from guetteur.ingest.registry import iter_input_files, parse_file
from guetteur.model import Chunk, Document, Grade, Marking
from guetteur.pipeline._batching import batched
from guetteur.pipeline.chunking import chunk_text
from guetteur.pipeline.enrichment import Enricher, Enrichment
from guetteur.security.markings import find_banner, high_water_mark, parse_marking
from guetteur.store.base import NewDocument, Store

__all__ = [
    "IngestOptions",
    "IngestReport",
    "PreparedDocument",
    "ingest_paths",
    "ingest_raw",
    "prepare",
    "reindex",
]

BATCH_SIZE = 32


@dataclass(frozen=True)
class IngestOptions:
    """What the user said about this run's inputs."""

    source: str
    marking: Marking | None = None  # --marking: a floor, combined with banners
    grade: Grade | None = None  # --grade: used when the text states none
    actor: str = "system"


@dataclass
class IngestReport:
    ingested: int = 0
    duplicates: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)

    def fail(self, origin: str, error: str) -> None:
        self.failed.append({"path": origin, "error": error})


@dataclass(frozen=True)
class PreparedDocument:
    """A document decided in every respect but its embeddings."""

    document: Document
    chunks: Sequence[Chunk]


def content_sha256(text: str) -> str:
    """Hash of the text as stored (NFC, so the same words in two encodings match)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decide_marking(
    raw: RawDocument, given: Marking | None, source_default: Marking | None
) -> Marking:
    """The more restrictive of everything that marks this document; refuse if nothing does.

    Banner (first/last line), a marking the format declares, and --marking are
    combined by high-water mark: never downgrade. The source's default applies
    too, as a floor, when it is set.
    """
    found: list[Marking] = []
    banner = find_banner(raw.text)
    if banner is not None:
        found.append(banner)
    if raw.declared_marking:
        found.append(parse_marking(raw.declared_marking))
    found.extend(m for m in (given, source_default) if m is not None)
    if not found:
        raise NoMarkingError(
            raw.origin,
            "no marking: the document has no banner line and none was given "
            "(use --marking, e.g. --marking 'NATO RESTRICTED // REL TO FRA')",
        )
    return high_water_mark(found)


def prepare(
    raw: RawDocument,
    language: str,
    options: IngestOptions,
    source_default: Marking | None,
    now: datetime,
) -> PreparedDocument:
    """Decide marking, grade, time and chunks of one parsed document (pure)."""
    text = unicodedata.normalize("NFC", raw.text).replace("\r\n", "\n")
    raw = RawDocument(**{**raw.__dict__, "text": text})
    try:
        marking = decide_marking(raw, options.marking, source_default)
    except MarkingError as error:
        raise IngestError(raw.origin, str(error)) from error
    grade = find_grade(text)
    if grade is None and raw.declared_grade:
        try:
            grade = Grade.parse(raw.declared_grade)
        except GuetteurError as error:
            raise IngestError(raw.origin, str(error)) from error
    grade = grade or options.grade
    reported_at = raw.reported_at or find_reported_time(text, anchor=now)
    sha = content_sha256(text)
    chunks = chunk_text(text)
    if not chunks:
        raise IngestError(raw.origin, "empty document (no text to store)")
    document = Document(
        id=sha[:16],
        title=(raw.title or Path(raw.origin).stem).strip()[:300],
        text=text,
        language=language,
        marking=marking,
        grade=grade,
        source=options.source,
        origin=raw.origin,
        sha256=sha,
        ingested_at=now,
        reported_at=reported_at,
        metadata=dict(raw.metadata),
    )
    return PreparedDocument(document, chunks)


def _parsed(
    paths: Iterable[Path], report: IngestReport, on_file: Callable[[Path], None]
) -> Iterator[RawDocument]:
    """Every RawDocument of every input; a failing file is reported, the run goes on."""
    for path in iter_input_files(paths):
        try:
            yield from parse_file(path)
        except IngestError as error:
            report.fail(error.origin, error.reason)
        except OSError as error:
            report.fail(str(path), f"cannot read: {error.strerror or error}")
        finally:
            on_file(path)


def ingest_paths(
    store: Store,
    paths: Sequence[Path],
    options: IngestOptions,
    enricher: Enricher | None = None,
    on_file: Callable[[Path], None] = lambda path: None,
) -> IngestReport:
    """Ingest files and folders into `store`; see the module docstring.

    Without an `enricher`, documents are stored searchable but without
    entities and events (`guetteur reindex` adds them later).
    """
    report = IngestReport()
    if options.marking is not None:
        store.set_source_default_marking(options.source, options.marking)
    source_default = store.source_default_marking(options.source)
    known = FuzzyIndex(store.entity_keys())
    for batch in batched(_parsed(paths, report, on_file), BATCH_SIZE):
        _ingest_batch(store, batch, options, source_default, report, enricher, known)
    _audit_ingest(store, options, [str(p) for p in paths], report)
    return report


def ingest_raw(
    store: Store,
    raws: Sequence[RawDocument],
    options: IngestOptions,
    enricher: Enricher | None = None,
) -> IngestReport:
    """Ingest documents another reader already made (e.g. from a STIX bundle)."""
    report = IngestReport()
    source_default = store.source_default_marking(options.source)
    known = FuzzyIndex(store.entity_keys())
    for batch in batched(iter(raws), BATCH_SIZE):
        _ingest_batch(store, batch, options, source_default, report, enricher, known)
    _audit_ingest(store, options, [raw.origin for raw in raws], report)
    return report


def _audit_ingest(
    store: Store, options: IngestOptions, paths: list[str], report: IngestReport
) -> None:
    store.audit(
        options.actor,
        "ingest",
        {
            "source": options.source,
            "paths": paths,
            "marking": str(options.marking) if options.marking else None,
            "ingested": report.ingested,
            "duplicates": report.duplicates,
            "failed": len(report.failed),
            "doc_ids": report.doc_ids,
        },
    )


def _ingest_batch(
    store: Store,
    batch: list[RawDocument],
    options: IngestOptions,
    source_default: Marking | None,
    report: IngestReport,
    enricher: Enricher | None,
    known: FuzzyIndex,
) -> None:
    now = datetime.now(UTC)
    languages = detect_languages([raw.text for raw in batch])
    prepared: list[PreparedDocument] = []
    for raw, language in zip(batch, languages, strict=True):
        try:
            prepared.append(prepare(raw, language, options, source_default, now))
        except IngestError as error:
            report.fail(error.origin, error.reason)
    stored = store.known_hashes([p.document.sha256 for p in prepared])
    fresh: dict[str, PreparedDocument] = {}
    for item in prepared:
        sha = item.document.sha256
        if sha in stored or sha in fresh:
            report.duplicates += 1
        else:
            fresh[sha] = item
    if not fresh:
        return
    documents = [item.document for item in fresh.values()]
    vectors = embed([c.text for item in fresh.values() for c in item.chunks])
    enrichments = _enrich(enricher, documents, known)
    to_store: list[NewDocument] = []
    offset = 0
    for item, enrichment in zip(fresh.values(), enrichments, strict=True):
        count = len(item.chunks)
        to_store.append(
            NewDocument(
                item.document,
                item.chunks,
                vectors[offset : offset + count],
                entities=enrichment.entities,
                events=enrichment.events,
            )
        )
        offset += count
    added = store.add_documents(to_store)
    # A concurrent run may have stored some of them between our check and our write.
    report.duplicates += len(to_store) - len(added)
    report.ingested += len(added)
    report.doc_ids.extend(added)


def _enrich(
    enricher: Enricher | None, documents: Sequence[Document], known: FuzzyIndex
) -> list[Enrichment]:
    if enricher is None:
        return [Enrichment((), ()) for _ in documents]
    return enricher.enrich_batch(
        [d.text for d in documents],
        [d.language for d in documents],
        [d.reported_at or d.ingested_at for d in documents],
        known,
    )


def reindex(
    store: Store, enricher: Enricher, on_document: Callable[[str], None] = lambda doc_id: None
) -> int:
    """Re-run enrichment on every stored document (after a model or lexicon change).

    A maintenance pass: it reads every document whatever its marking, writes
    only derived records carrying each document's own marking, and shows
    nothing to anyone. Returns the number of documents re-enriched.
    """
    count = 0
    # Seeded with the stored keys so that fuzzy merges land on the same entities
    # whatever order the documents come in.
    known = FuzzyIndex(store.entity_keys())
    batch: list[Document] = []

    def flush() -> None:
        for document, enrichment in zip(batch, _enrich(enricher, batch, known), strict=True):
            store.replace_enrichment(document.id, enrichment.entities, enrichment.events)
            on_document(document.id)
        batch.clear()

    for document in store.documents_for_maintenance():
        batch.append(document)
        count += 1
        if len(batch) == BATCH_SIZE:
            flush()
    flush()
    return count
