"""The ingest pipeline: files → parsed documents → marked, graded, chunked, embedded → store.

    parse (ingest/) → decide marking → grade → language → reported time
        → chunk → embed and enrich (batched: entities, places, events)
        → store (one transaction per batch) → audit

Parsing, `prepare` (pure: one RawDocument in, one Document and its chunks
out), the decisions against the store and every write run here, on the
client; embedding and enrichment, the heavy and pure part of a batch, run on
an executor (pipeline/executors.py: this machine's two cores, or a Dask
cluster), a bounded number of batches ahead of the writes. Batches are stored
in order, atomically, and documents are keyed by the SHA-256 of their text: a
run killed at any point and started again stores every document exactly once.
A bad input is recorded in the report with its one-line reason and the run
goes on; nothing already stored is touched.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from guetteur._exceptions import GuetteurError, IngestError, MarkingError, NoMarkingError
from guetteur.enrich.grading import find_grade
from guetteur.enrich.language import detect_languages
from guetteur.enrich.times import find_reported_time
from guetteur.ingest._base import RawDocument
from guetteur.ingest.registry import iter_input_files, parse_file
from guetteur.model import Chunk, Clearance, Document, Grade, Marking
from guetteur.pipeline._batching import batched
from guetteur.pipeline.chunking import chunk_text
from guetteur.pipeline.enrichment import Enricher, enrichment_note
from guetteur.pipeline.executors import BatchWork, Executor, LocalExecutor, Pending
from guetteur.security.markings import high_water_mark, may_read
from guetteur.store.base import NewDocument, Spill, Store

if TYPE_CHECKING:
    from guetteur.pipeline.tracks import CotIngestReport

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
EMBEDDED_CHARS = 2_000  # of each passage, for its vector


@dataclass(frozen=True)
class IngestOptions:
    """What the user said about this run's inputs."""

    source: str
    marking: Marking | None = None  # --marking: a floor, combined with banners
    grade: Grade | None = None  # --grade: used when the text states none
    actor: str = "system"
    # The writer's clearance: duplicates and raises are decided from the copies it
    # may read only (None: a maintenance run that sees every copy).
    clearance: Clearance | None = None
    # --follow-links: follow links out of the named folders (listed as skipped otherwise).
    follow_links: bool = False


@dataclass
class IngestReport:
    ingested: int = 0
    duplicates: int = 0
    raised: int = 0  # copies the writer may read whose marking this run raised
    failed: list[dict[str, str]] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    # CoT files among the inputs: their positions (pipeline/tracks.py); None when none.
    positions: CotIngestReport | None = None

    def fail(self, origin: str, error: str) -> None:
        self.failed.append({"path": origin, "error": error})


@dataclass(frozen=True)
class PreparedDocument:
    """A document decided in every respect but its embeddings."""

    document: Document
    chunks: Sequence[Chunk]


# Characters encoded and hashed at a time (`content_sha256`).
_HASHED_CHARS = 1 << 20


def content_sha256(text: str) -> str:
    """Hash of the text as stored (NFC, so the same words in two encodings match)."""
    digest = hashlib.sha256()
    for start in range(0, len(text), _HASHED_CHARS):  # not a whole copy of a 50 MB text
        digest.update(text[start : start + _HASHED_CHARS].encode("utf-8"))
    return digest.hexdigest()


def decide_marking(
    raw: RawDocument, given: Marking | None, source_default: Marking | None
) -> Marking:
    """The more restrictive of everything that marks this document; refuse if nothing does.

    The banners and portion markings of the text, those of every part the
    parser found (attachments, section headers and footers, titles, marking
    fields: `RawDocument.stated_markings`), and --marking are combined by
    high-water mark: never downgrade. The source's default applies too, as a
    floor, when it is set. A line that looks like a marking but does not parse
    raises MarkingError naming it: the document is refused, not stored lower.
    """
    found = raw.stated_markings()
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
        id="",  # keyed by content and marking when stored (Store.document_id)
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
    paths: Iterable[Path],
    report: IngestReport,
    on_file: Callable[[Path], None],
    follow_links: bool = False,
) -> Iterator[RawDocument]:
    """Every RawDocument of every input; a failing or skipped file is reported, the run
    goes on. A document too long to enrich whole says so in its metadata."""
    for item in iter_input_files(paths, follow_links=follow_links):
        if isinstance(item, IngestError):
            report.fail(item.origin, item.reason)
            on_file(Path(item.origin))
            continue
        try:
            for raw in parse_file(item):
                note = enrichment_note(len(raw.text))
                if note is not None:
                    raw = replace(raw, metadata={**raw.metadata, "enrichment": note})
                yield raw
        except IngestError as error:
            report.fail(error.origin, error.reason)
        except OSError as error:
            report.fail(str(item), f"cannot read: {error.strerror or error}")
        finally:
            on_file(item)


def ingest_paths(
    store: Store,
    paths: Sequence[Path],
    options: IngestOptions,
    enricher: Enricher | None = None,
    on_file: Callable[[Path], None] = lambda path: None,
    executor: Executor | None = None,
) -> IngestReport:
    """Ingest files and folders into `store`; see the module docstring.

    Without an `enricher`, documents are stored searchable but without
    entities and events (`guetteur reindex` adds them later). An `executor`
    (pipeline/executors.py) computes embeddings and enrichment with its own
    Enricher; without one, this process does (`LocalExecutor(enricher)`).
    """
    report = IngestReport()
    # --marking is a floor for this run only: a source's default is set by a
    # security officer with `guetteur sources set`, never as a side effect.
    source_default = store.source_default_marking(options.source)
    batches = batched(_parsed(paths, report, on_file, options.follow_links), BATCH_SIZE)
    with _chosen(executor, enricher) as running:
        _ingest_batches(store, batches, options, source_default, report, running)
    _audit_ingest(store, options, [str(p) for p in paths], report)
    return report


def ingest_raw(
    store: Store,
    raws: Sequence[RawDocument],
    options: IngestOptions,
    enricher: Enricher | None = None,
    executor: Executor | None = None,
) -> IngestReport:
    """Ingest documents another reader already made (e.g. from a STIX bundle)."""
    report = IngestReport()
    source_default = store.source_default_marking(options.source)
    with _chosen(executor, enricher) as running:
        _ingest_batches(
            store, batched(iter(raws), BATCH_SIZE), options, source_default, report, running
        )
    _audit_ingest(store, options, [raw.origin for raw in raws], report)
    return report


@contextmanager
def _chosen(executor: Executor | None, enricher: Enricher | None) -> Iterator[Executor]:
    """The caller's executor (theirs to close), else a local one on `enricher`."""
    if executor is not None:
        if enricher is not None:
            raise ValueError("give an enricher or an executor, not both (an executor has one)")
        yield executor
        return
    with LocalExecutor(enricher) as local:
        yield local


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
            "raised": report.raised,
            "failed": len(report.failed),
        },
    )


@dataclass
class _Decided:
    """One batch decided against the store, its pure part submitted, not yet stored."""

    fresh: list[PreparedDocument]  # new copies, with their ids
    raises: list[tuple[str, Marking]]
    spills: list[Spill]
    answered: list[str]  # ids answered without a write (duplicates, copies held above)
    duplicates: int
    held_above: int
    shas: set[str]  # every content of the batch, whatever was decided for it
    pending: Pending | None = None


def _ingest_batches(
    store: Store,
    batches: Iterator[list[RawDocument]],
    options: IngestOptions,
    source_default: Marking | None,
    report: IngestReport,
    executor: Executor,
) -> None:
    """Decide each batch, submit its pure part, store results in order and once.

    Up to `executor.lookahead` batches are computed ahead of the one being
    stored. A batch is decided from what the store holds, so content still in
    flight (the same text twice in one batch, or in a batch not yet stored)
    waits for that batch to be stored and is then decided like a copy from an
    earlier run: the answers are those of a run storing one batch at a time.
    """
    in_flight: deque[_Decided] = deque()
    for batch in batches:
        now = datetime.now(UTC)
        prepared = _prepared(batch, options, source_default, now, report)
        while prepared:
            first: dict[str, PreparedDocument] = {}
            later: list[PreparedDocument] = []
            for item in prepared:
                if item.document.sha256 in first:
                    later.append(item)
                else:
                    first[item.document.sha256] = item
            while any(sha in decided.shas for decided in in_flight for sha in first):
                _store_batch(store, in_flight.popleft(), options, report)
            decided = _decide(store, list(first.values()), options, now)
            if decided.fresh:
                decided.pending = executor.submit(_work(decided.fresh))
            in_flight.append(decided)
            while len(in_flight) > executor.lookahead:
                _store_batch(store, in_flight.popleft(), options, report)
            prepared = later
    while in_flight:
        _store_batch(store, in_flight.popleft(), options, report)


def _prepared(
    batch: list[RawDocument],
    options: IngestOptions,
    source_default: Marking | None,
    now: datetime,
    report: IngestReport,
) -> list[PreparedDocument]:
    languages = detect_languages([raw.text for raw in batch])
    prepared: list[PreparedDocument] = []
    for raw, language in zip(batch, languages, strict=True):
        try:
            prepared.append(prepare(raw, language, options, source_default, now))
        except IngestError as error:
            report.fail(error.origin, error.reason)
    return prepared


def _decide(
    store: Store, items: list[PreparedDocument], options: IngestOptions, now: datetime
) -> _Decided:
    """Decide, for each document, new copy, duplicate or raise — from what the writer
    may read only. Reads the store, writes nothing (`_store_batch` does).

    Noninterference: the answer the writer gets (ingested, duplicate, raised) must
    not depend on copies they may not read. Content already held at a marking the
    writer may not read is stored again at the writer's marking, reported as new,
    and recorded as a spill for security officers; content whose keyed id (content
    and marking) already exists unreadable to the writer — they wrote above their
    own clearance — is reported as new and not stored twice.
    """
    writer = options.clearance
    held = store.held_copies([item.document.sha256 for item in items])
    decided = _Decided([], [], [], [], 0, 0, {item.document.sha256 for item in items})
    for item in items:
        document = item.document
        copies = held.get(document.sha256, [])
        readable = [(i, m) for i, m in copies if writer is None or may_read(writer, m)]
        if readable:
            same = [i for i, m in readable if high_water_mark([m, document.marking]) == m]
            if same:
                decided.duplicates += 1
                decided.answered.append(same[0])
            else:
                doc_id, marking = readable[0]
                decided.raises.append((doc_id, high_water_mark([marking, document.marking])))
            continue
        doc_id = store.document_id(document.sha256, document.marking)
        lower = [
            (i, m) for i, m in copies if high_water_mark([m, document.marking]) != document.marking
        ]
        if lower:
            decided.spills.append(
                Spill(
                    now,
                    options.actor,
                    document.sha256,
                    doc_id,
                    document.marking,
                    lower,
                    document.origin,
                )
            )
        if any(i == doc_id for i, _ in copies):
            # Already held exactly so, above the writer: nothing to add, and the
            # same answer as if it were new.
            decided.held_above += 1
            decided.answered.append(doc_id)
            continue
        decided.fresh.append(PreparedDocument(replace(document, id=doc_id), item.chunks))
    return decided


def _work(fresh: list[PreparedDocument]) -> BatchWork:
    documents = [item.document for item in fresh]
    return BatchWork(
        # The encoder reads a passage's opening (it averages over its input: a long
        # passage's meaning blurs anyway); a grown passage of a huge document costs
        # one ordinary passage's encoding.
        passages=[c.text[:EMBEDDED_CHARS] for item in fresh for c in item.chunks],
        texts=[d.text for d in documents],
        languages=[d.language for d in documents],
        anchors=[d.reported_at or d.ingested_at for d in documents],
    )


def _store_batch(
    store: Store, decided: _Decided, options: IngestOptions, report: IngestReport
) -> None:
    """Store one decided batch with its audit record in one transaction."""
    to_store = _assembled(decided)
    with store.atomic():
        added = store.add_documents(to_store)
        raised = [store.remark_document(doc_id, marking) for doc_id, marking in decided.raises]
        for spill in decided.spills:
            store.record_spill(spill)
        if added or raised:
            store.audit(
                options.actor,
                "ingest.batch",
                {"source": options.source, "doc_ids": [*added, *raised], "raised": raised},
            )
    report.duplicates += decided.duplicates
    report.ingested += decided.held_above + len(added)
    report.raised += len(raised)
    # A concurrent run may have stored some of them between our check and our write.
    report.duplicates += len(to_store) - len(added)
    report.doc_ids.extend([*decided.answered, *added, *raised])


def _assembled(decided: _Decided) -> list[NewDocument]:
    if decided.pending is None:
        return []
    result = decided.pending.result()
    to_store: list[NewDocument] = []
    offset = 0
    for item, enrichment in zip(decided.fresh, result.enrichments, strict=True):
        count = len(item.chunks)
        to_store.append(
            NewDocument(
                item.document,
                item.chunks,
                result.vectors[offset : offset + count],
                entities=enrichment.entities,
                events=enrichment.events,
            )
        )
        offset += count
    return to_store


def reindex(
    store: Store,
    executor: Executor,
    on_document: Callable[[str], None] = lambda doc_id: None,
) -> int:
    """Re-run enrichment on every stored document (after a model or lexicon change).

    A maintenance pass: it reads every document whatever its marking, writes
    only derived records carrying each document's own marking, and shows
    nothing to anyone. `executor` computes the enrichment (its own Enricher),
    up to `executor.lookahead` batches ahead of the writes. Returns the number
    of documents re-enriched.
    """
    count = 0
    in_flight: deque[tuple[list[Document], Pending]] = deque()

    def store_oldest() -> None:
        documents, pending = in_flight.popleft()
        enrichments = pending.result().enrichments
        for document, enrichment in zip(documents, enrichments, strict=True):
            store.replace_enrichment(document.id, enrichment.entities, enrichment.events)
            on_document(document.id)

    for batch in batched(store.documents_for_maintenance(), BATCH_SIZE):
        work = BatchWork(
            passages=[],
            texts=[d.text for d in batch],
            languages=[d.language for d in batch],
            anchors=[d.reported_at or d.ingested_at for d in batch],
        )
        in_flight.append((batch, executor.submit(work)))
        count += len(batch)
        while len(in_flight) > executor.lookahead:
            store_oldest()
    while in_flight:
        store_oldest()
    return count
