"""The cyber ingest pipeline: sensor files → alerts and their context → store.

    detect format → read (streaming) → batch → store alerts / network events /
        Windows events (one transaction per batch) → run the workspace's Sigma
        rules over new Windows events → store the alerts they raise

Alerts, like documents, carry a marking: the one given with --marking, or the
source's default (a CERT's feed is usually RESTRICTED to one nation); with
neither, the run is refused. An alert a rule raises on a Windows event takes
that event's marking. Bad records are reported and skipped; the rest goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from guetteur._exceptions import IngestError, NoMarkingError
from guetteur.cyber.eve import read_eve, read_json_records
from guetteur.cyber.sigma import RuleSet
from guetteur.cyber.winevents import read_windows_events
from guetteur.model import Alert, Marking, NetworkEvent, WindowsEvent
from guetteur.pipeline._batching import batched
from guetteur.store.base import Store

__all__ = ["AlertFormat", "AlertIngestReport", "detect_format", "ingest_alerts", "run_rules"]

AlertFormat = Literal["auto", "eve", "sysmon", "evtx"]
BATCH_SIZE = 5_000
_EVTX_MAGIC = b"ElfFile\x00"


@dataclass
class AlertIngestReport:
    alerts: int = 0
    events: int = 0  # network and Windows events kept as context
    duplicates: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    def fail(self, error: IngestError) -> None:
        self.failed.append({"path": error.origin, "error": error.reason})


def detect_format(path: Path) -> Literal["eve", "sysmon", "evtx"]:
    """EVE or Windows events, from the file's first record (or .evtx magic)."""
    with path.open("rb") as handle:
        if handle.read(8) == _EVTX_MAGIC or path.suffix.lower() == ".evtx":
            return "evtx"
    for _, record in read_json_records(path, on_error=lambda error: None):
        if "event_type" in record:
            return "eve"
        if {"Event", "EventID", "winlog", "Channel", "EventId"} & set(record):
            return "sysmon"
        break
    raise IngestError(
        str(path), "neither Suricata EVE nor Windows events (use --format to say which)"
    )


def ingest_alerts(
    store: Store,
    paths: Sequence[Path],
    source: str,
    marking: Marking | None,
    rules: RuleSet | None,
    fmt: AlertFormat = "auto",
    actor: str = "system",
) -> AlertIngestReport:
    """Read sensor files into the store; see the module docstring."""
    if marking is not None:
        store.set_source_default_marking(source, marking)
    chosen = marking or store.source_default_marking(source)
    if chosen is None:
        raise NoMarkingError(
            ", ".join(str(p) for p in paths),
            "no marking: alerts carry no banner; give --marking (e.g. "
            "'DIFFUSION RESTREINTE') or ingest once with --source NAME --marking …",
        )
    report = AlertIngestReport()
    for path in _files(paths, report):
        try:
            kind = detect_format(path) if fmt == "auto" else fmt
        except IngestError as error:
            report.fail(error)
            continue
        except OSError as error:
            report.fail(IngestError(str(path), f"cannot read: {error.strerror or error}"))
            continue
        if kind == "eve":
            records: Iterable[object] = read_eve(path, on_error=report.fail)
        else:
            records = read_windows_events(path, on_error=report.fail)
        for batch in batched(records, BATCH_SIZE):
            _store_batch(store, batch, chosen, source, rules, report)
    store.audit(
        actor,
        "alerts.ingest",
        {
            "source": source,
            "paths": [str(p) for p in paths],
            "marking": str(chosen),
            "alerts": report.alerts,
            "events": report.events,
            "duplicates": report.duplicates,
            "failed": len(report.failed),
        },
    )
    return report


def _files(paths: Sequence[Path], report: AlertIngestReport) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.suffix.lower() in {".json", ".jsonl", ".ndjson", ".log", ".evtx", ".eve"}
            )
        elif path.is_file():
            yield path
        else:
            report.fail(IngestError(str(path), "no such file or folder"))


def _store_batch(
    store: Store,
    batch: list[object],
    marking: Marking,
    source: str,
    rules: RuleSet | None,
    report: AlertIngestReport,
) -> None:
    alerts = [r for r in batch if isinstance(r, Alert)]
    network = [r for r in batch if isinstance(r, NetworkEvent)]
    windows = [r for r in batch if isinstance(r, WindowsEvent)]
    if windows and rules is not None:
        alerts.extend(rules.alerts(windows))
    added_alerts = store.add_alerts(alerts, marking, source) if alerts else 0
    added_events = 0
    if network:
        added_events += store.add_network_events(network, marking, source)
    if windows:
        added_events += store.add_windows_events(windows, marking, source)
    report.alerts += added_alerts
    report.events += added_events
    report.duplicates += (len(alerts) - added_alerts) + (len(network) + len(windows) - added_events)


def run_rules(store: Store, rules: RuleSet) -> int:
    """Run `rules` over every stored Windows event; store new alerts. Returns how many."""
    added = 0
    by_marking: dict[str, tuple[Marking, str, list[Alert]]] = {}
    for event, marking, source in store.windows_events_for_maintenance():
        alerts = list(rules.alerts([event]))
        if alerts:
            key = json.dumps([str(marking), source])
            by_marking.setdefault(key, (marking, source, []))[2].extend(alerts)
    for marking, source, alerts in by_marking.values():
        added += store.add_alerts(alerts, marking, source)
    return added
