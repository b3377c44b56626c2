"""Windows event reader: every real event file, each export shape, and hostile input."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guetteur._exceptions import IngestError, MissingDependencyError
from guetteur.cyber.winevents import read_windows_events, windows_event_from_record
from guetteur.model.alert import WindowsEvent

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SIGMA_EVENTS = SHARED_DATA / "sigma_regression_events"
OTRF = SHARED_DATA / "sysmon_otrf"

needs_data = pytest.mark.skipif(
    not (SIGMA_EVENTS.is_dir() and OTRF.is_dir()), reason="no ../shared/data event folders"
)


def _collect(path: Path) -> tuple[list[WindowsEvent], list[IngestError]]:
    errors: list[IngestError] = []
    return list(read_windows_events(path, on_error=errors.append)), errors


def _labelled_counts(folder: Path, count_column: str) -> dict[str, int]:
    with (folder / "labels.csv").open(newline="") as handle:
        return {row["events_file"]: int(row[count_column]) for row in csv.DictReader(handle)}


def _evtx_dump_event(event_id: int = 1, **event_data: Any) -> dict[str, Any]:
    return {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": event_id,
                "TimeCreated": {"#attributes": {"SystemTime": "2025-10-25T17:02:36.900637Z"}},
                "EventRecordID": 42,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "dc1.example.local",
            },
            "EventData": event_data or {"Image": "C:\\Windows\\System32\\cmd.exe"},
        }
    }


# --------------------------------------------------------------------------- real data


@needs_data
@pytest.mark.parametrize(
    ("folder", "count_column"), [(SIGMA_EVENTS, "n_events"), (OTRF, "event_count")]
)
def test_every_real_event_file_parses_to_its_labelled_count(
    folder: Path, count_column: str
) -> None:
    expected = _labelled_counts(folder, count_column)
    files = sorted((folder / "events").glob("*.json"))
    assert len(files) == len(expected)
    for path in files:
        events, errors = _collect(path)
        assert errors == [], path.name
        assert len(events) == expected[f"events/{path.name}"] >= 1, path.name
        for event in events:
            assert event.event_id > 0 and event.channel and event.computer
            assert event.time.utcoffset() == timedelta(0)
            assert event.data


@needs_data
def test_concatenated_pretty_printed_objects_are_all_read() -> None:
    name = "proc_creation_win_reg_system_restore_modification__7c06ab9b-b1d2-4ba9-b06e-09491ded20d9"
    events, errors = _collect(SIGMA_EVENTS / "events" / f"{name}.json")
    assert errors == [] and len(events) == 4
    assert {e.event_id for e in events} == {1}
    assert all("CommandLine" in e.data for e in events)


@needs_data
def test_otrf_flat_records_take_sysmon_utc_time_and_hostname() -> None:
    path = next((OTRF / "events").glob("SDWIN-200806015757__*.json"))
    first = next(iter(read_windows_events(path)))
    assert first.event_id == 13
    assert first.channel == "Microsoft-Windows-Sysmon/Operational"
    assert first.provider == "Microsoft-Windows-Sysmon"
    assert first.computer == "WORKSTATION5.theshire.local"
    assert first.record_id == 3518579
    # UtcTime, not the collector's local EventTime (four hours behind).
    assert first.time == datetime(2020, 9, 22, 18, 53, 1, 266000, tzinfo=UTC)
    assert first.data["TargetObject"].startswith("HKU\\")


@needs_data
def test_an_array_of_real_events_reads_like_the_original(tmp_path: Path) -> None:
    source = SIGMA_EVENTS / "events"
    originals = [e for p in sorted(source.glob("registry_set_*.json")) for e in _collect(p)[0]]
    decoder = json.JSONDecoder()
    objects = []
    for path in sorted(source.glob("registry_set_*.json")):
        text, index = path.read_text(), 0
        while index < len(text.rstrip()):
            value, index = decoder.raw_decode(text, index)
            objects.append(value)
            while index < len(text) and text[index].isspace():
                index += 1
    array = tmp_path / "events.json"
    array.write_text(json.dumps(objects))
    assert _collect(array) == (originals, [])


# --------------------------------------------------------------------------- shapes


def test_evtx_dump_variants_named_data_user_data_and_event_id_text() -> None:
    named = _evtx_dump_event()
    named["Event"]["System"]["EventID"] = {"#text": 4688, "#attributes": {"Qualifiers": ""}}
    named["Event"]["EventData"] = {
        "Data": [
            {"#attributes": {"Name": "NewProcessName"}, "#text": "C:\\x.exe"},
            {"#attributes": {"Name": "SubjectUserName"}, "#text": "bob"},
        ]
    }
    event = windows_event_from_record(named)
    assert event.event_id == 4688
    assert event.data == {"NewProcessName": "C:\\x.exe", "SubjectUserName": "bob"}
    assert event.record_id == 42 and event.computer == "dc1.example.local"

    cleared = _evtx_dump_event(1102)
    del cleared["Event"]["EventData"]
    cleared["Event"]["UserData"] = {
        "LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "alice"}
    }
    assert windows_event_from_record(cleared).data == {"SubjectUserName": "alice"}


def test_winlogbeat_record() -> None:
    record = {
        "@timestamp": "2024-05-01T10:00:00.500Z",
        "event": {"code": "4625"},
        "host": {"name": "ws1"},
        "winlog": {
            "channel": "Security",
            "provider_name": "Microsoft-Windows-Security-Auditing",
            "event_id": "4625",
            "computer_name": "ws1.corp.local",
            "record_id": "9001",
            "event_data": {"TargetUserName": "admin", "LogonType": "3"},
        },
    }
    event = windows_event_from_record(record)
    assert (event.channel, event.event_id, event.computer, event.record_id) == (
        "Security",
        4625,
        "ws1.corp.local",
        9001,
    )
    assert event.time == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert event.data == {"TargetUserName": "admin", "LogonType": "3"}


def test_records_missing_event_id_or_time_are_errors(tmp_path: Path) -> None:
    no_id = _evtx_dump_event()
    del no_id["Event"]["System"]["EventID"]
    no_time = _evtx_dump_event()
    del no_time["Event"]["System"]["TimeCreated"]
    path = tmp_path / "events.json"
    lines = [_evtx_dump_event(), no_id, no_time, {"hello": "world"}, _evtx_dump_event(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    events, errors = _collect(path)
    assert [e.event_id for e in events] == [1, 3]
    assert [e.origin for e in errors] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "EventID" in errors[0].reason and "time" in errors[1].reason
    assert "not a Windows event" in errors[2].reason


# --------------------------------------------------------------------------- hostile input


def test_truncated_concatenated_stream_keeps_whole_objects(tmp_path: Path) -> None:
    text = "".join(json.dumps(_evtx_dump_event(i), indent=2) + "\n" for i in (1, 2, 3))
    path = tmp_path / "events.json"
    path.write_text(text[: len(text) - 40])
    events, errors = _collect(path)
    assert [e.event_id for e in events] == [1, 2]
    assert len(errors) == 1 and errors[0].origin == str(path)
    assert "after object 2" in errors[0].reason


def test_bad_utf8_line_is_reported_and_skipped(tmp_path: Path) -> None:
    good = json.dumps(_evtx_dump_event()).encode()
    bad = good.replace(b"cmd.exe", b"cmd\xc3\x28.exe")
    path = tmp_path / "events.json"
    path.write_bytes(b"\n".join([good, bad, good]) + b"\n")
    events, errors = _collect(path)
    assert len(events) == 2
    assert [e.origin for e in errors] == [f"{path}:2"]


def test_empty_and_non_json_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert _collect(empty) == ([], [])
    text = tmp_path / "notes.json"
    text.write_text("Event log exported on Monday\n")
    events, errors = _collect(text)
    assert events == [] and len(errors) == 1 and "not JSON" in errors[0].reason


def test_random_bytes_evtx_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "Security.evtx"
    path.write_bytes(os.urandom(70_000))
    events, errors = _collect(path)
    assert events == []
    assert len(errors) == 1 and errors[0].origin == str(path)
    assert "not a readable EVTX file" in errors[0].reason
    with pytest.raises(IngestError, match="Security.evtx: not a readable EVTX file"):
        list(read_windows_events(path))


def test_evtx_magic_with_a_garbage_body_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "dump.bin"  # detected by its magic, not its name
    path.write_bytes(b"ElfFile\x00" + os.urandom(70_000))
    events, errors = _collect(path)
    assert events == [] and len(errors) == 1 and "EVTX" in errors[0].reason


def test_missing_evtx_package_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "Security.evtx"
    path.write_bytes(b"ElfFile\x00")
    monkeypatch.setitem(sys.modules, "evtx", None)  # makes `import evtx` fail
    with pytest.raises(MissingDependencyError, match="evtx"):
        list(read_windows_events(path))
