"""Suricata EVE reader: the real samples, and every kind of bad input we can think of."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guetteur._exceptions import IngestError
from guetteur.cyber.eve import read_eve
from guetteur.model.alert import Alert, NetworkEvent, Severity

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EVE_DIR = SHARED_DATA / "suricata_eve"
EXPECTED_ALERTS = {
    "hassanabad_first-org-conf-2015_alerts.json": 136,
    "hassanabad_honeypot-2018_alerts.json": 44,
    "hassanabad_wrccdc-2017_alerts.json": 161,
    "hassanabad_wrccdc-2018_alerts.json": 207,
}

needs_data = pytest.mark.skipif(not EVE_DIR.is_dir(), reason="no ../shared/data/suricata_eve")


def _alert(n: int = 0, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp": f"2017-03-24T16:00:{n % 60:02d}.123456+0100",
        "flow_id": 1000 + n,
        "event_type": "alert",
        "src_ip": "203.0.113.7",
        "src_port": 40000 + n,
        "dest_ip": "10.1.2.3",
        "dest_port": 445,
        "proto": "TCP",
        "alert": {
            "signature_id": 2001219,
            "signature": "ET SCAN Potential SSH Scan",
            "category": "Attempted Information Leak",
            "severity": 1,
        },
    }
    record.update(overrides)
    return record


def _ndjson(path: Path, records: list[Any]) -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return path


def _collect(path: Path) -> tuple[list[Alert | NetworkEvent], list[IngestError]]:
    errors: list[IngestError] = []
    return list(read_eve(path, on_error=errors.append)), errors


# --------------------------------------------------------------------------- real data


@needs_data
@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_every_sample_alert_is_read(name: str) -> None:
    path = EVE_DIR / name
    raw = json.loads(path.read_text())
    events, errors = _collect(path)
    assert errors == []
    assert len(events) == EXPECTED_ALERTS[name]
    assert all(isinstance(e, Alert) for e in events)
    for event, record in zip(events, raw, strict=True):
        assert isinstance(event, Alert)
        assert event.time.utcoffset() == timedelta(0)
        stamped = datetime.fromisoformat(record["timestamp"])
        # The honeypot sensor wrote no offset: read as UTC; the others carry -0600 etc.
        assert event.time == (stamped if stamped.tzinfo else stamped.replace(tzinfo=UTC))
        assert event.flow_id == str(record["flow_id"])
        assert event.rule_id == str(record["alert"]["signature_id"])
        assert event.detector == "suricata"
        assert event.severity == Severity.from_suricata(record["alert"]["severity"])
        assert event.host in (event.src, event.dst)


@needs_data
def test_sample_total_is_548_with_distinct_ids() -> None:
    alerts = [a for name in EXPECTED_ALERTS for a in read_eve(EVE_DIR / name)]
    assert len(alerts) == 548
    assert len({a.id for a in alerts}) == 548


@needs_data
def test_same_record_gets_same_id_as_ndjson_or_array(tmp_path: Path) -> None:
    path = EVE_DIR / "hassanabad_honeypot-2018_alerts.json"
    ndjson = _ndjson(tmp_path / "eve.json", json.loads(path.read_text()))
    assert [a.id for a in read_eve(path)] == [a.id for a in read_eve(ndjson)]


# --------------------------------------------------------------------------- mapping


def test_record_types_times_hosts_and_techniques(tmp_path: Path) -> None:
    tagged = _alert(1)
    tagged["alert"]["metadata"] = {"mitre_technique_id": ["T1046", "t1595.001"]}
    records = [
        tagged,
        {"timestamp": "2017-03-24T16:00:01+0000", "event_type": "flow", "flow_id": 1001},
        {"timestamp": "2017-03-24T16:00:01+0000", "event_type": "dns", "flow_id": 1001},
        {"timestamp": "2017-03-24T16:00:02+0000", "event_type": "stats", "stats": {}},
        _alert(2, src_ip="192.168.1.5", dest_ip="198.51.100.9"),
        _alert(3, src_ip="198.51.100.1", dest_ip="198.51.100.9"),
        _alert(4, src_ip="fd00::5", dest_ip="2001:db8::1"),
    ]
    events, errors = _collect(_ndjson(tmp_path / "eve.json", records))
    assert errors == []
    assert [type(e).__name__ for e in events] == [
        "Alert",
        "NetworkEvent",
        "NetworkEvent",
        "Alert",
        "Alert",
        "Alert",
    ]
    first = events[0]
    assert isinstance(first, Alert)
    assert first.time == datetime(2017, 3, 24, 15, 0, 1, 123456, tzinfo=UTC)
    assert first.techniques == ("T1046", "T1595.001")
    assert first.severity is Severity.HIGH
    assert first.host == "10.1.2.3"  # the private side, here the destination
    assert first.flow_id == "1001"
    assert first.src_port == 40001 and first.dst_port == 445 and first.protocol == "TCP"
    assert events[1].flow_id == "1001"  # context links to its alert by flow
    hosts = [e.host for e in events[3:] if isinstance(e, Alert)]
    assert hosts == ["192.168.1.5", "198.51.100.9", "fd00::5"]


def test_record_without_timestamp_or_signature_is_an_error(tmp_path: Path) -> None:
    no_time = _alert(1)
    del no_time["timestamp"]
    no_sid = _alert(2)
    del no_sid["alert"]["signature_id"]
    path = _ndjson(tmp_path / "eve.json", [_alert(0), no_time, no_sid, _alert(3)])
    events, errors = _collect(path)
    assert len(events) == 2
    assert [e.origin for e in errors] == [f"{path}:2", f"{path}:3"]
    assert "timestamp" in errors[0].reason and "signature_id" in errors[1].reason


# --------------------------------------------------------------------------- hostile input


def test_truncated_array_keeps_good_items_and_reports_the_tail(tmp_path: Path) -> None:
    text = json.dumps([_alert(0), _alert(1), _alert(2)], indent=2)
    path = tmp_path / "eve.json"
    path.write_text(text[: text.rindex('"signature"')])  # cut inside the third item
    events, errors = _collect(path)
    assert len(events) == 2
    assert len(errors) == 1
    assert errors[0].origin == str(path)
    assert "after item 2" in errors[0].reason and "byte" in errors[0].reason


def test_truncated_ndjson_keeps_good_lines(tmp_path: Path) -> None:
    path = _ndjson(tmp_path / "eve.json", [_alert(0), _alert(1), _alert(2)])
    path.write_bytes(path.read_bytes() + json.dumps(_alert(3)).encode()[:50])
    events, errors = _collect(path)
    assert len(events) == 3
    assert [e.origin for e in errors] == [f"{path}:4"]
    assert "invalid JSON" in errors[0].reason


def test_blank_lines_between_records_are_no_errors_and_keep_line_numbers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "eve.json"
    lines = [json.dumps(_alert(0)), "", "  \t", json.dumps(_alert(1)), "[1]", "{bad"]
    path.write_text("\r\n".join(lines) + "\n")
    events, errors = _collect(path)
    assert [e.src_port for e in events if isinstance(e, Alert)] == [40000, 40001]
    assert [e.origin for e in errors] == [f"{path}:5", f"{path}:6"]
    assert "not an object" in errors[0].reason and "invalid JSON" in errors[1].reason


def test_100_mb_line_is_rejected_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    with path.open("wb") as out:
        out.write(json.dumps(_alert(0)).encode() + b"\n")
        out.write(b'{"timestamp": "2017-03-24T16:00:00+0000", "event_type": "alert", "x": "')
        block = b"A" * (1024 * 1024)
        for _ in range(100):
            out.write(block)
        out.write(b'"}\n')
        out.write(json.dumps(_alert(2)).encode() + b"\n")
    tracemalloc.start()
    try:
        events, errors = _collect(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 2
    assert [e.origin for e in errors] == [f"{path}:2"]
    assert "longer than" in errors[0].reason
    assert peak < 40 * 1024 * 1024


def test_oversized_array_item_is_rejected_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    with path.open("wb") as out:
        out.write(b"[" + json.dumps(_alert(0)).encode() + b',{"event_type": "alert", "x": "')
        for _ in range(20):
            out.write(b"B" * (1024 * 1024))
        out.write(b'"}]')
    tracemalloc.start()
    try:
        events, errors = _collect(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 1
    assert len(errors) == 1 and "item 2" in errors[0].reason
    assert "larger than" in errors[0].reason
    # tracemalloc does not see yajl's own C buffer; measured RSS stays ~16 MB above baseline too.
    assert peak < 40 * 1024 * 1024


def test_bad_utf8_line_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    good = json.dumps(_alert(0)).encode()
    bad = json.dumps(_alert(1)).encode().replace(b"SSH", b"S\xff\xfeH")
    path.write_bytes(good + b"\n" + bad + b"\n" + good + b"\n")
    events, errors = _collect(path)
    assert len(events) == 2
    assert [e.origin for e in errors] == [f"{path}:2"]
    assert "UTF-8" in errors[0].reason


def test_empty_and_blank_files_hold_no_records(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.json"
    blank.write_bytes(b"\n  \r\n\t")
    assert _collect(empty) == ([], [])
    assert _collect(blank) == ([], [])


def test_non_json_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_bytes(b"PK\x03\x04 this is a zip, not EVE")
    events, errors = _collect(path)
    assert events == []
    assert len(errors) == 1 and errors[0].origin == str(path)
    assert "not JSON" in errors[0].reason and "PK" in errors[0].reason


def test_non_object_items_are_errors_and_objects_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_text(json.dumps([_alert(0), 42, ["x"], None, _alert(1)]))
    events, errors = _collect(path)
    assert len(events) == 2
    assert [e.origin for e in errors] == [f"{path}#item2", f"{path}#item3", f"{path}#item4"]


def test_without_a_handler_the_first_error_raises_after_the_good_records(tmp_path: Path) -> None:
    path = _ndjson(tmp_path / "eve.json", [_alert(0), "not an object", _alert(1)])
    seen: list[Alert | NetworkEvent] = []
    with pytest.raises(IngestError, match=r"eve\.json:2: a JSON string, not an object"):
        for event in read_eve(path):
            seen.append(event)
    assert len(seen) == 1
