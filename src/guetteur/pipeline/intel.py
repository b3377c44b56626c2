"""The threat-intel pipeline: a partner's STIX bundle or MISP event → indicators and a document.

Indicators go to the store with the file's marking, to be matched against
alerts. The intrusion sets, malware, techniques and indicators the file
describes are also written out as one readable document and ingested like any
report, so that enrichment makes them entities: the GREYFOX of a MISP event,
the GREYFOX of a CERT note and the IP in a Suricata alert are then one picture.

The file is marked once, at the high-water mark of what it states itself (STIX
statement markings, MISP marking tags: `IntelReading.markings`), --marking and
the source's default, plus the caveats TLP adds (TLP:RED); its indicators and
its document both carry that marking. A file whose markings do not parse is
refused before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from guetteur._exceptions import IngestError, NoMarkingError
from guetteur.cyber.intel import IntelReading, load_intel_json, parse_misp, parse_stix
from guetteur.ingest._base import RawDocument
from guetteur.model import Marking
from guetteur.pipeline.enrichment import Enricher
from guetteur.pipeline.ingest import IngestOptions, ingest_raw
from guetteur.security.markings import high_water_mark
from guetteur.store.base import Store

__all__ = ["IntelImportReport", "file_marking", "import_intel", "intel_document", "read_intel"]


@dataclass(frozen=True)
class IntelImportReport:
    format: str  # "stix" or "misp"
    indicators: int  # newly stored
    duplicates: int
    objects: int
    skipped: dict[str, int]
    doc_ids: list[str]


def read_intel(path: Path) -> tuple[str, IntelReading]:
    """STIX bundle or MISP event JSON, told apart by their top-level shape."""
    document = load_intel_json(path)
    if isinstance(document, dict) and document.get("type") == "bundle":
        return "stix", parse_stix(document, str(path))
    if isinstance(document, dict | list):
        return "misp", parse_misp(document, str(path))
    raise IngestError(str(path), "neither a STIX bundle nor MISP event JSON")


def file_marking(
    path: Path, reading: IntelReading, given: Marking | None, source_default: Marking | None
) -> Marking:
    """The marking of everything stored from an intel file; NoMarkingError if nothing sets a level.

    TLP sets no level (see `tlp_caveats`), so a file marked with TLP only
    still needs --marking or a source default.
    """
    levels = [*reading.markings, *(m for m in (given, source_default) if m is not None)]
    if not levels:
        raise NoMarkingError(
            str(path),
            "no marking: the file states no classification (TLP and MISP distribution set "
            "none); give --marking, e.g. --marking 'NATO RESTRICTED // REL TO FRA'",
        )
    marking = high_water_mark(levels)
    return replace(marking, caveats=marking.caveats | reading.caveats)


def intel_document(path: Path, fmt: str, reading: IntelReading) -> RawDocument:
    """The file as prose an analyst (and the entity extractor) can read."""
    lines = [f"Threat intelligence from {path.name} ({fmt.upper()})", ""]
    for item in reading.objects:
        aliases = f" (also known as {', '.join(item.aliases)})" if item.aliases else ""
        ids = f" [{', '.join(item.external_ids)}]" if item.external_ids else ""
        lines.append(f"{item.kind.replace('-', ' ').capitalize()}: {item.name}{aliases}{ids}.")
        if item.description:
            lines.append(" ".join(item.description.split())[:600])
    for indicator in reading.indicators:
        actor = f", attributed to {indicator.intrusion_set}" if indicator.intrusion_set else ""
        label = f" — {indicator.name}" if indicator.name else ""
        lines.append(f"Indicator ({indicator.kind}): {indicator.value}{label}{actor}.")
    return RawDocument(title=f"Threat intel: {path.name}", text="\n".join(lines), origin=str(path))


def import_intel(
    store: Store,
    path: Path,
    source: str,
    marking: Marking | None,
    enricher: Enricher | None,
    actor: str,
) -> IntelImportReport:
    fmt, reading = read_intel(path)
    # --marking is for this run only; a source's default is a security officer's.
    chosen = file_marking(path, reading, marking, store.source_default_marking(source))
    added = store.add_indicators(reading.indicators, chosen, source)
    documents: Sequence[RawDocument] = []
    if reading.objects or reading.indicators:
        documents = [intel_document(path, fmt, reading)]
    report = ingest_raw(
        store, documents, IngestOptions(source=source, marking=chosen, actor=actor), enricher
    )
    store.audit(
        actor,
        "intel.import",
        {"path": str(path), "format": fmt, "indicators": added, "marking": str(chosen)},
    )
    return IntelImportReport(
        format=fmt,
        indicators=added,
        duplicates=len(reading.indicators) - added,
        objects=len(reading.objects),
        skipped=dict(reading.skipped),
        doc_ids=report.doc_ids,
    )
