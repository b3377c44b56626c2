"""The cyber ingest pipeline: sensor files → alerts and their context → store.

    detect format → read (streaming) → batch → store alerts / network events /
        Windows events (one transaction per batch) → run the workspace's Sigma
        rules over new Windows events → store the alerts they raise

Most Suricata alerts carry no ATT&CK tag; `infer_techniques` guesses techniques
from their signature text with the workspace's `TechniqueMapper`, once per
distinct signature (cached on disk, since one signature repeats thousands of
times), keeping only confident guesses. Triage uses them for untagged alerts
and marks them inferred; the stored alerts are left as the sensor said.

Alerts, like documents, carry a marking: the one given with --marking, or the
source's default (a CERT's feed is usually RESTRICTED to one nation); with
neither, the run is refused. An alert a rule raises on a Windows event takes
the high-water mark of that event's marking and the rule's (a rule shows what
its author looks for, and may itself be classified). Bad records are
reported and skipped; the rest goes on.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from guetteur._exceptions import IngestError, NoMarkingError
from guetteur.cyber.attack import Catalogue, TechniqueMapper
from guetteur.cyber.eve import read_eve, read_json_records
from guetteur.cyber.sigma import RuleSet
from guetteur.cyber.winevents import read_windows_events
from guetteur.model import Alert, Clearance, Marking, NetworkEvent, WindowsEvent
from guetteur.pipeline._batching import batched
from guetteur.security.markings import high_water_mark, may_read
from guetteur.store.base import Store

__all__ = [
    "AlertFormat",
    "AlertIngestReport",
    "RuleGroup",
    "detect_format",
    "infer_techniques",
    "ingest_alerts",
    "run_rules",
    "signature_text",
]

AlertFormat = Literal["auto", "eve", "sysmon", "evtx"]
# Sigma rules of one marking: the alerts they raise carry it too.
RuleGroup = tuple[RuleSet, Marking]
# Records per transaction. Alert ids are hashes, so every batch rewrites pages
# all over the primary-key index; 20,000 rather than 5,000 amortises that over
# more rows (200,000 alerts: 14% faster, 800 -> 575 MB written) for ~60 MB of
# parsed records held per batch — constant whatever the file size.
BATCH_SIZE = 20_000
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
    rules: Sequence[RuleGroup],
    fmt: AlertFormat = "auto",
    actor: str = "system",
    writer: Clearance | None = None,
) -> AlertIngestReport:
    """Read sensor files into the store; see the module docstring.

    `writer` is the clearance of who runs it: the counts it gets back cover only
    what it may read (an alert a classified rule raises is not counted for a
    writer who may not read it), so they never depend on records above it.
    """
    # --marking is for this run only; a source's default is a security officer's.
    chosen = marking or store.source_default_marking(source)
    if chosen is None:
        raise NoMarkingError(
            ", ".join(str(p) for p in paths),
            "no marking: alerts carry no banner; give --marking (e.g. "
            "'DIFFUSION RESTREINTE'), or have a security officer set the source's "
            "default with `guetteur sources set NAME --marking …`",
        )
    report = AlertIngestReport()
    _ingest_files(store, paths, chosen, source, rules, fmt, report, writer, actor)
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


def _ingest_files(
    store: Store,
    paths: Sequence[Path],
    marking: Marking,
    source: str,
    rules: Sequence[RuleGroup],
    fmt: AlertFormat,
    report: AlertIngestReport,
    writer: Clearance | None,
    actor: str,
) -> None:
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
            with _collector_paused():
                for batch in batched(read_eve(path, on_error=report.fail), BATCH_SIZE):
                    _store_batch(store, batch, marking, source, rules, report, writer, actor)
        else:
            for events in batched(read_windows_events(path, on_error=report.fail), BATCH_SIZE):
                _store_batch(store, events, marking, source, rules, report, writer, actor)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while EVE records stream through.

    A batch keeps thousands of parsed records (dicts in dicts) alive, and the
    collector rescans them as they pile up: an eighth of the read time for
    nothing, since parsed JSON holds no reference cycles. Cycles made meanwhile
    (there should be none) are collected when it resumes.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


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
    batch: Sequence[object],
    marking: Marking,
    source: str,
    rules: Sequence[RuleGroup],
    report: AlertIngestReport,
    writer: Clearance | None,
    actor: str,
) -> None:
    alerts = [r for r in batch if isinstance(r, Alert)]
    network = [r for r in batch if isinstance(r, NetworkEvent)]
    windows = [r for r in batch if isinstance(r, WindowsEvent)]
    with store.atomic():
        added_alerts = store.add_alerts(alerts, marking, source) if alerts else 0
        added_events = 0
        if network:
            added_events += store.add_network_events(network, marking, source)
        if windows:
            added_events += store.add_windows_events(windows, marking, source)
        # The batch's audit record commits with it: a run killed midway leaves
        # nothing stored without a trace.
        store.audit(
            actor,
            "alerts.batch",
            {
                "source": source,
                "marking": str(marking),
                "alerts": added_alerts,
                "events": added_events,
                "alert_ids_sha256": hashlib.sha256(
                    "\n".join(a.id for a in alerts).encode()
                ).hexdigest(),
            },
        )
    if writer is None or may_read(writer, marking):
        report.alerts += added_alerts
        report.events += added_events
        report.duplicates += (len(alerts) - added_alerts) + (
            len(network) + len(windows) - added_events
        )
    else:
        # Written above the writer's own clearance: whatever is already held
        # there is not theirs to know of, so everything counts as new.
        report.alerts += len(alerts)
        report.events += len(network) + len(windows)
    for ruleset, rule_marking in rules if windows else ():
        raised = list(ruleset.alerts(windows))
        if not raised:
            continue
        # An alert says the event happened and that someone looks for it: it
        # carries both the event's and the rule's marking.
        alert_marking = high_water_mark([marking, rule_marking])
        added = store.add_alerts(raised, alert_marking, source)
        if writer is None or may_read(writer, alert_marking):
            report.alerts += added
            report.duplicates += len(raised) - added


def run_rules(
    store: Store, rules: RuleSet, rule_marking: Marking, reader: Clearance | None = None
) -> int:
    """Run `rules` over every stored Windows event; store new alerts, each marked by
    its event and the rules' marking. Returns how many new alerts `reader` may read."""
    added = 0
    by_marking: dict[str, tuple[Marking, str, list[Alert]]] = {}
    for event, marking, source in store.windows_events_for_maintenance():
        alerts = list(rules.alerts([event]))
        if alerts:
            alert_marking = high_water_mark([marking, rule_marking])
            key = json.dumps([str(alert_marking), source])
            by_marking.setdefault(key, (alert_marking, source, []))[2].extend(alerts)
    for marking, source, alerts in by_marking.values():
        stored = store.add_alerts(alerts, marking, source)
        if reader is None or may_read(reader, marking):
            added += stored
    return added


# Fused mapper score from which a technique guessed from signature text is
# kept. On the 412 distinct untagged signatures of ../shared/data/suricata_eve,
# 0.45 gives a technique to 88-92 of them (56 are Tor relay list groups); by
# hand, 16 of 20 drawn at random were right, and 34 of the 38 distinct kinds
# (Tor groups counted once). Wrong ones: an SSH scan read as SSH use, an
# external-IP check as victim reconnaissance. At 0.35-0.40 wrong guesses
# multiply ("SQL injection" → process injection). See
# `benchmarks/attack_mapping.py --signatures`.
SIGNATURE_MIN_SCORE = 0.45
_SIGNATURE_CACHE_VERSION = 1
# Engine events (malformed protocol, "SURICATA HTTP …") and reputation lists
# ("ET CINS … Poor Reputation IP", "ET DROP …") say what the traffic looked
# like or who sent it, never what the attacker did: nothing to map.
_NOT_BEHAVIOUR = re.compile(
    r"^(SURICATA|ET (CINS|DROP|COMPROMISED|DSHIELD))\b|Poor Reputation", re.IGNORECASE
)
_VENDOR = re.compile(r"^(ET|ETPRO|GPL)\s+")
_LIST_GROUP = re.compile(r"\bgroup \d+\b")
# A signature names the protocol it watches ("… in HTTP POST", "DNS Query …"):
# that is the sensor's vantage point, not command and control, unless the
# signature says so.
_PROTOCOL_TECHNIQUES = ("T1071",)
_COMMAND_AND_CONTROL = re.compile(r"\b(cnc|c2|beacon|check-?in|callback|reverse)\b", re.I)


def signature_text(signature: str) -> str | None:
    """The part of an alert signature worth mapping to ATT&CK, or None if it names no behaviour."""
    if _NOT_BEHAVIOUR.search(signature):
        return None
    text = _LIST_GROUP.sub("", _VENDOR.sub("", signature)).replace("_", " ")
    return " ".join(text.split()) or None


def infer_techniques(
    signatures: Iterable[str],
    mapper: TechniqueMapper | Callable[[], TechniqueMapper],
    catalogue: Catalogue,
    cache_dir: Path | None = None,
    min_score: float = SIGNATURE_MIN_SCORE,
) -> dict[str, tuple[str, ...]]:
    """signature → techniques guessed from its text with a score of at least `min_score`.

    Give the signatures of alerts no rule tagged. Each distinct signature is
    mapped once; with `cache_dir`, the scores are kept in a JSON file named by
    the catalogue's digest, so a later run maps only signatures it has not
    seen (and builds the mapper — `mapper` may be a factory — only then).
    Signatures that name no behaviour (see `signature_text`) get nothing.
    """
    wanted = {s for s in set(signatures) if signature_text(s) is not None}
    cache = (
        None
        if cache_dir is None
        else cache_dir / f"alert-techniques-{_SIGNATURE_CACHE_VERSION}-{catalogue.digest}.json"
    )
    scores: dict[str, list[tuple[str, float]]] = _read_cache(cache)
    missing = sorted(wanted - scores.keys())
    if missing:
        built = mapper if isinstance(mapper, TechniqueMapper) else mapper()
        texts = [signature_text(s) or "" for s in missing]
        for signature, ranked in zip(missing, built.map_batch(texts, top=10), strict=True):
            scores[signature] = [
                (technique.id, score)
                for technique, score in ranked
                if "resource-development" not in technique.tactics
            ][:3]
        if cache is not None:
            _write_cache(cache, scores)
    inferred: dict[str, tuple[str, ...]] = {}
    for signature in wanted:
        kept = tuple(
            technique
            for technique, score in scores[signature][:1]
            if score >= min_score and _plausible(technique, signature)
        )
        if kept:
            inferred[signature] = kept
    return inferred


def _plausible(technique: str, signature: str) -> bool:
    # Resource development (acquiring or writing exploits) happens off the
    # network and is filtered before; here a protocol named in the signature is
    # not taken for C2 unless the signature speaks of C2.
    if technique.split(".")[0] in _PROTOCOL_TECHNIQUES:
        return _COMMAND_AND_CONTROL.search(signature) is not None
    return True


def _read_cache(cache: Path | None) -> dict[str, list[tuple[str, float]]]:
    if cache is None or not cache.is_file():
        return {}
    try:
        loaded = json.loads(cache.read_text(encoding="utf-8"))
        return {
            str(signature): [(str(t), float(score)) for t, score in ranked]
            for signature, ranked in loaded.items()
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # a damaged cache is recomputed, not trusted


def _write_cache(cache: Path, scores: dict[str, list[tuple[str, float]]]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=cache.parent, suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(scores, out, ensure_ascii=False, sort_keys=True)
    os.replace(temporary, cache)  # readers never see a half-written file
