"""Logistics tables: what loads, what is refused (row, column, reason), and markings."""

from __future__ import annotations

from pathlib import Path

import pytest
from logistics_helpers import scenario_tables
from openpyxl import Workbook

from guetteur._exceptions import PermissionDeniedError
from guetteur.logistics.tables import parse_span, read_tables
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

from conftest import write

NR = parse_marking("NATO RESTRICTED")


def _failed(report: object) -> list[tuple[str, int | None, str | None, str]]:
    return [(Path(b.path).name, b.row, b.column, b.reason) for b in report.failed]  # type: ignore[attr-defined]


def test_bad_rows_are_listed_and_the_rest_loads(workspace: Workspace, tmp_path: Path) -> None:
    units = write(
        tmp_path,
        "units.csv",
        "NATO RESTRICTED\n"
        "name,location,fuel (L),rations,window,marking\n"
        "Alpha,35VMF6336278802,2000,40,06:00-10:00,\n"
        "Bravo,Jõhvi,1 500,30,,\n"  # a place name, thousands with a space
        ",Rakvere,100,,,\n"  # no name
        "Charlie,59.36 27.41,lots,,,\n"  # not a number
        "Delta,Nowherecity Xyz,100,,,\n"  # no such place
        "Echo,35VMF63362788,-5,,,\n"  # negative
        "Foxtrot,59.30,26.10,,06:00-10:00,\n"  # lat and lon split by the comma
        "Golf,58.38 26.72,100,,,NATO SECRETT\n"  # a marking that does not parse
        "NATO RESTRICTED\n",
    )
    report = workspace.logistics_import(workspace.operator(), [units])
    loaded = {r.data["name"] for r in report.records}
    assert loaded == {"Alpha", "Bravo"}
    failed = _failed(report)
    assert ("units.csv", 5, "name", "empty") in failed
    assert any(f[1:3] == (6, "III") and "'lots' is not a number" in f[3] for f in failed)
    assert any(f[1:3] == (7, "location") and "no such place" in f[3] for f in failed)
    assert any(f[1:3] == (8, "III") and "negative" in f[3] for f in failed)
    assert any(f[1] == 10 and f[2] == "marking" and "NATO SECRETT" in f[3] for f in failed)
    assert any(f[1:3] == (9, "location") and "neither MGRS nor degrees" in f[3] for f in failed)
    assert len(failed) == 6, failed
    # The good rows are stored, at the table's marking, and the reader gets them back.
    stored = workspace.store.list_logistics_records(workspace.operator().clearance, ["unit"])
    assert {r.data["name"] for r in stored} == {"Alpha", "Bravo"}
    assert all(r.marking == NR for r in stored)
    bravo = next(r for r in stored if r.data["name"] == "Bravo")
    assert bravo.data["demand"] == {"III": 1500.0, "I": 30.0}
    assert abs(bravo.data["lat"] - 59.359) < 0.02 and abs(bravo.data["lon"] - 27.42) < 0.03


def test_whole_tables_refused_with_their_reason(workspace: Workspace, tmp_path: Path) -> None:
    unmarked = write(tmp_path, "depots.csv", "name,location,fuel\nA,59.3 26.3,10\n")
    strange = write(tmp_path, "notes.csv", "NATO RESTRICTED\ncolour,flavour\nred,sweet\n")
    badbanner = write(tmp_path, "vehicles.csv", "NATO SECRETT\nname,depot,fuel\nT,A,10\n")
    wrong = write(tmp_path, "units.txt", "hello")
    missing = tmp_path / "nothere.csv"
    report = workspace.logistics_import(
        workspace.operator(), [unmarked, strange, badbanner, wrong, missing]
    )
    reasons = {Path(b.path).name: b.reason for b in report.failed}
    assert "no marking" in reasons["depots.csv"]
    assert "cannot tell which table" in reasons["notes.csv"]
    assert reasons["vehicles.csv"].startswith("banner:")
    assert "unsupported file type" in reasons["units.txt"]
    assert reasons["nothere.csv"] == "no such file"
    assert not report.records
    # --marking marks an unbannered table; its banner would have raised it.
    again = workspace.logistics_import(workspace.operator(), [unmarked], NR)
    assert [r.marking for r in again.records] == [NR]


def test_semicolons_decimal_commas_and_xlsx(workspace: Workspace, tmp_path: Path) -> None:
    french = write(
        tmp_path,
        "depots.csv",
        "DIFFUSION RESTREINTE\nnom;lieu;carburant (m3);munitions (t)\n"
        "Dépôt Tapa;35VMF4239268103;12,5;1,2\n",
    )
    book = Workbook()
    sheet = book.active
    sheet.title = "vehicles"
    sheet.append(["NATO RESTRICTED"])
    sheet.append(["name", "depot", "count", "fuel", "speed", "shift"])
    sheet.append(["Tanker", "Dépôt Tapa", 2, 17000, 60, "05:00-17:00"])
    sheet.append(["Broken", "Dépôt Tapa", 1.5, 100, 60, ""])
    windows = book.create_sheet("windows")
    windows.append(["NATO RESTRICTED"])
    windows.append(["unit", "open", "close"])
    windows.append(["Alpha", "2026-11-23T06:00Z", "2026-11-23T08:00Z"])
    windows.append(["Alpha", "231400ZNOV26", "231600ZNOV26"])
    path = tmp_path / "fleet.xlsx"
    book.save(path)
    report = workspace.logistics_import(workspace.operator(), [french, path])
    depot = next(r for r in report.records if r.kind == "depot")
    assert depot.data["stock"] == {"III": 12500.0, "V": 1200.0}
    assert str(depot.marking) == "DIFFUSION RESTREINTE"
    vehicle = next(r for r in report.records if r.kind == "vehicle")
    assert vehicle.data["count"] == 2 and vehicle.data["shifts"] == [["T05:00", "T17:00"]]
    window = next(r for r in report.records if r.kind == "window")
    assert len(window.data["windows"]) == 2  # two rows, one record for the unit
    assert [(Path(b.path).name, b.row, b.column) for b in report.failed] == [
        ("fleet.xlsx#vehicles", 4, "count")
    ]


def test_windows_and_spans() -> None:
    assert parse_span("06:00-10:00; 14h00-16h00") == [["T06:00", "T10:00"], ["T14:00", "T16:00"]]
    assert parse_span("2026-11-23T06:00Z-2026-11-23T08:00Z") == [
        ["2026-11-23T06:00:00+00:00", "2026-11-23T08:00:00+00:00"]
    ]
    with pytest.raises(ValueError, match="not a window"):
        parse_span("morning")


def test_rows_marked_one_by_one_and_read_by_clearance(workspace: Workspace, tmp_path: Path) -> None:
    workspace.logistics_import(workspace.operator(), scenario_tables())
    lux = workspace.user("lux_nr")
    ops = workspace.operator()
    store = workspace.store
    names = {r.data["name"] for r in store.list_logistics_records(ops.clearance, ["unit"])}
    seen = {r.data["name"] for r in store.list_logistics_records(lux.clearance, ["unit"])}
    assert "DET FS Kohtla" in names and "DET FS Kohtla" not in seen
    assert "2e RH 1st troop" in names and "2e RH 1st troop" not in seen  # NATO CONFIDENTIAL
    assert {"LUX RECCE PL", "2e RH squadron CP"} <= seen
    # The same row imported again at a marking the reader may read is the one they get.
    update = write(
        tmp_path,
        "units.csv",
        "NATO RESTRICTED\nname,location,fuel\n2e RH squadron CP,Jõhvi,9999\n",
    )
    workspace.logistics_import(ops, [update])
    rows = workspace.store.list_logistics_records(lux.clearance, ["unit"])
    squadron = next(r for r in rows if r.data["name"] == "2e RH squadron CP")
    assert squadron.data["demand"] == {"III": 9999.0}


def test_readers_may_not_import(workspace: Workspace, tmp_path: Path) -> None:
    workspace.add_user(
        "reader1", parse_clearance("NATO SECRET", "FRA"), workspace.operator(), role="reader"
    )
    with pytest.raises(PermissionDeniedError):
        workspace.logistics_import(workspace.store.get_user("reader1"), scenario_tables())


def test_read_tables_is_a_function_of_the_files(tmp_path: Path) -> None:
    units = write(tmp_path, "units.csv", "NATO RESTRICTED\nname,location\nA,59.3 26.3\n")
    first = read_tables([units], None, None)
    second = read_tables([units], None, None)
    assert first == second and len(first.records) == 1
