"""EVE alert parsing speed: `read_eve` building Alerts, against bare orjson, same file, same run.

    .venv/bin/python benchmarks/alerts_speed.py [--alerts 200000] [--triage 1000000]

Replays the 548 real Suricata alerts of ../shared/data/suricata_eve, mutating
each copy (timestamps shifted, flow ids renumbered, source addresses and ports
varied, so no cache or dedup helps), up to `--alerts` records written to a
temporary directory twice: as NDJSON (what Suricata writes) and as one JSON
array (what many exporters write). On one core it then times

- the baseline: plain ``orjson.loads`` of every record (NDJSON line by line;
  the array in one call, which holds it all in memory — the thing we avoid);
- guetteur: ``read_eve`` streaming the same file into `Alert`s (parse,
  normalise, UTC times, host choice, stable ids);

- guetteur storing: the alerts pipeline reading the NDJSON file into a fresh
  workspace (parse, normalise, SQLite in one transaction per 20,000 alerts);

and prints alerts per second for each and the ratio to the bare parse. Then it
times triage (clustering into incidents) on `--triage` alerts built from the
parsed ones, shifted by whole weeks so they do not merge by accident.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from guetteur.cyber.eve import read_eve
from guetteur.cyber.triage import triage
from guetteur.model import Alert
from guetteur.pipeline.alerts import ingest_alerts
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "suricata_eve"


def replayed_alerts(count: int) -> list[dict[str, Any]]:
    """`count` alerts: the real samples replayed, each copy with its own time, flow and source."""
    originals = [r for p in sorted(SAMPLES.glob("*.json")) for r in json.loads(p.read_text())]
    if not originals:
        raise SystemExit(f"no EVE samples in {SAMPLES}")
    records = []
    for n in range(count):
        record = json.loads(json.dumps(originals[n % len(originals)]))
        copy = n // len(originals)
        stamp = datetime.fromisoformat(record["timestamp"]) + timedelta(seconds=copy * 7 + n % 60)
        record["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + (
            stamp.strftime("%z") if stamp.tzinfo else ""
        )
        record["flow_id"] = 10**15 + n
        try:
            src = ipaddress.ip_address(record["src_ip"])
            record["src_ip"] = str(ipaddress.ip_address(int(src) ^ (copy % 251 + 1)))
        except (KeyError, ValueError):
            pass
        if isinstance(record.get("src_port"), int):
            record["src_port"] = 1024 + (record["src_port"] + copy) % 64000
        records.append(record)
    return records


def timed(label: str, count: int, run: Callable[[], int]) -> float:
    started = time.perf_counter()
    seen = run()
    elapsed = time.perf_counter() - started
    if seen != count:
        raise SystemExit(f"{label}: read {seen} records, expected {count}")
    rate = count / elapsed
    print(f"  {label:<34} {elapsed:7.2f} s  {rate:>11,.0f} alerts/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--triage", type=int, default=1_000_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as issue 5 asks
    records = replayed_alerts(args.alerts)
    with tempfile.TemporaryDirectory() as tmp:
        ndjson = Path(tmp) / "eve.json"
        ndjson.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        array = Path(tmp) / "alerts.json"
        array.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
        del records
        size_mb = ndjson.stat().st_size / 1e6
        print(f"{args.alerts:,} alerts replayed from {SAMPLES} ({size_mb:.0f} MB as NDJSON)")

        def bare_ndjson() -> int:
            with ndjson.open("rb") as lines:
                return sum(1 for line in lines if orjson.loads(line))

        def bare_array() -> int:
            return len(orjson.loads(array.read_bytes()))

        def ours(path: Path) -> Callable[[], int]:
            return lambda: sum(1 for _ in read_eve(path))

        for label, path, bare in (("NDJSON", ndjson, bare_ndjson), ("array", array, bare_array)):
            print(f"{label}:")
            baseline = timed("orjson.loads (baseline)", args.alerts, bare)
            parsed = timed("read_eve -> Alert", args.alerts, ours(path))
            print(f"  ratio: read_eve costs {baseline / parsed:.1f}x the bare parse")
            if label == "NDJSON":
                stored = timed("parse + store in SQLite", args.alerts, store_into(tmp, ndjson))
                print(f"  ratio: parse + store costs {baseline / stored:.1f}x the bare parse")
        parsed_alerts = [a for a in read_eve(ndjson) if isinstance(a, Alert)]
    alerts = [
        replace(a, id=f"{a.id}-{week}", time=a.time + timedelta(weeks=week))
        for week in range(-(-args.triage // len(parsed_alerts)))
        for a in parsed_alerts
    ][: args.triage]
    started = time.perf_counter()
    incidents = triage(alerts)
    seconds = time.perf_counter() - started
    print(f"triage of {len(alerts):,} alerts: {seconds:.1f} s -> {len(incidents):,} incidents")
    sizes = sorted(i.alert_count for i in incidents)
    hosts = sorted(len(i.hosts) for i in incidents)
    longest = max(i.last_seen - i.first_seen for i in incidents)
    print(
        f"  alerts per incident: median {statistics.median(sizes):,.0f}, "
        f"90th percentile {sizes[len(sizes) * 9 // 10]:,}, max {sizes[-1]:,}; "
        f"hosts per incident: median {statistics.median(hosts):,.0f}, max {hosts[-1]:,}; "
        f"longest incident {longest}"
    )


def store_into(tmp: str, path: Path) -> Callable[[], int]:
    def run() -> int:
        home = Path(tmp) / "ws"
        workspace = Workspace.create(home, "cert", parse_clearance("NR", "FRA"))
        with workspace:
            report = ingest_alerts(
                workspace.store, [path], "bench", parse_marking("DIFFUSION RESTREINTE"), []
            )
        return report.alerts

    return run


if __name__ == "__main__":
    main()
