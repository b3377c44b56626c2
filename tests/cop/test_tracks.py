"""Tracks: CoT in from files, per-position markings, what each reader sees, and outputs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
from cot_samples import SAMPLE_FOLDERS, T0, capture, event, hostile_capture

from guetteur._exceptions import NotFoundError, PermissionDeniedError
from guetteur.cop.cot import parse_events
from guetteur.cop.picture import distance_km
from guetteur.model import Track
from guetteur.pipeline.tracks import CotIngestReport
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import User
from guetteur.views import (
    NOTHING_MARKED,
    entity_detail_json,
    track_detail_json,
    track_json,
    tracks_geojson,
    tracks_json,
    tracks_kml,
)
from guetteur.workspace import Workspace

from conftest import write

NU = "NATO UNCLASSIFIED"


def store_cot(
    ws: Workspace, actor: User, text: str, marking: str = NU, source: str = "tak"
) -> CotIngestReport:
    """Events parsed as a file's are, stored through the workspace at `marking`."""
    events, refused = parse_events(text.encode(), "test")
    assert not refused, refused
    return ws.ingest_cot(actor, events, source, parse_marking(marking))


# ------------------------------------------------------------------ the sample
def sample_files() -> list[Path]:
    return sorted(p for folder in SAMPLE_FOLDERS for p in folder.iterdir() if p.is_file())


def test_the_atak_sample_parses_whole_and_as_xml_etree_reads_it() -> None:
    files = sample_files()
    assert len(files) == 15
    for path in files:
        events, refused = parse_events(path.read_bytes(), str(path))
        assert refused == [] and len(events) == 1, path
        (parsed,) = events
        root = ElementTree.fromstring(path.read_bytes())
        point = root.find("point")
        assert point is not None
        assert (parsed.uid, parsed.type, parsed.how) == (
            root.get("uid"),
            root.get("type"),
            root.get("how"),
        )
        assert parsed.lat == float(point.get("lat", ""))
        assert parsed.lon == float(point.get("lon", ""))
        contact = root.find("detail/contact")
        assert parsed.callsign == (contact.get("callsign") if contact is not None else None)
        assert parsed.start <= parsed.stale


def test_ingest_reads_the_sample_folders_as_positions(workspace: Workspace) -> None:
    ops = workspace.user()
    report = workspace.ingest(ops, list(SAMPLE_FOLDERS), "atak", parse_marking(NU))
    assert report.failed == [] and report.ingested == 0
    assert report.positions is not None
    assert (report.positions.stored, report.positions.duplicates) == (15, 0)
    uids = {ElementTree.fromstring(p.read_bytes()).get("uid") for p in sample_files()}
    assert {t.uid for t in workspace.tracks(ops)} == uids
    again = workspace.ingest(ops, list(SAMPLE_FOLDERS), "atak", parse_marking(NU))
    assert again.positions is not None
    assert (again.positions.stored, again.positions.duplicates) == (0, 15)


# ------------------------------------------------------------ per-position markings
def test_a_secret_sighting_does_not_make_the_unclassified_positions_secret(
    workspace: Workspace,
) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    store_cot(workspace, ops, capture(event("T-1", 0), event("T-1", 10)))
    store_cot(workspace, ops, capture(event("T-1", 20, access="NATO SECRET")))
    seen_by_ops = workspace.track(ops, "T-1")
    assert [str(p.marking) for p in seen_by_ops.positions] == [NU, NU, "NATO SECRET"]
    seen_by_lux = workspace.track(lux, "T-1")
    assert [str(p.marking) for p in seen_by_lux.positions] == [NU, NU]
    assert tracks_json(workspace.tracks(lux))["marking"] == NU
    assert track_detail_json(seen_by_lux)["marking"] == NU
    assert tracks_json(workspace.tracks(ops))["marking"] == "NATO SECRET"


def test_a_reader_sees_the_type_and_callsign_of_a_position_they_may_read(
    workspace: Workspace,
) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    unknown = dict(cot_type="a-u-G", callsign="BOAR 1", lat=58.0)
    store_cot(workspace, ops, capture(event("T-2", 0, **unknown), event("T-2", 5, **unknown)))
    hostile = dict(cot_type="a-h-G-U-C-F", callsign="VIPER", lat=58.3, access="NATO SECRET")
    store_cot(workspace, ops, capture(event("T-2", 9, **hostile)))
    lux_view = track_json(workspace.track(lux, "T-2"))
    assert lux_view["callsign"] == "BOAR 1" and lux_view["type"] == "a-u-G"
    assert lux_view["sidc"] == "SUGP------*****" and lux_view["affiliation"] == "unknown"
    assert lux_view["lat"] == 58.0 and lux_view["marking"] == NU
    detail = json.dumps(track_detail_json(workspace.track(lux, "T-2")))
    assert "VIPER" not in detail and "SECRET" not in detail and "a-h-G" not in detail
    ops_view = track_json(workspace.track(ops, "T-2"))
    assert (ops_view["callsign"], ops_view["affiliation"], ops_view["sidc"]) == (
        "VIPER",
        "hostile",
        "SHGPUCF---*****",
    )


def test_a_track_above_the_reader_is_not_found_as_if_absent(workspace: Workspace) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    store_cot(workspace, ops, capture(event("HIDDEN", 0, callsign="GHOST")), "NATO SECRET")
    with pytest.raises(NotFoundError) as hidden:
        workspace.track(lux, "HIDDEN")
    with pytest.raises(NotFoundError) as absent:
        workspace.track(lux, "ABSENT")
    assert str(hidden.value) == "no track 'HIDDEN'" and str(absent.value) == "no track 'ABSENT'"
    assert workspace.tracks(lux) == []
    with pytest.raises(NotFoundError):
        workspace.entity(lux, "GHOST")


def test_the_same_report_again_is_a_duplicate_and_at_another_marking_another_row(
    workspace: Workspace,
) -> None:
    ops = workspace.user()
    text = capture(event("T-3", 0), event("T-3", 1))
    first = store_cot(workspace, ops, text)
    assert (first.stored, first.duplicates, first.failed) == (2, 0, [])
    again = store_cot(workspace, ops, text)
    assert (again.stored, again.duplicates) == (0, 2)
    other = store_cot(workspace, ops, capture(event("T-3", 0)), "NATO RESTRICTED")
    assert (other.stored, other.duplicates) == (1, 0)
    markings = [str(p.marking) for p in workspace.track(ops, "T-3").positions]
    assert markings == ["NATO RESTRICTED", NU, NU]
    audited = [r for r in workspace.store.audit_rows() if r.action == "cot.ingest"]
    assert [(r.detail["stored"], r.detail["duplicates"]) for r in audited] == [
        (2, 0),
        (0, 2),
        (1, 0),
    ]


def test_access_raises_a_marking_never_lowers_it_and_a_bad_one_refuses(
    workspace: Workspace,
) -> None:
    ops = workspace.user()
    text = capture(
        event("LOW", 0, access=NU),
        event("HIGH", 0, access="NATO SECRET"),
        event("BAD", 0, access="SEKRIT-ISH"),
    )
    report = store_cot(workspace, ops, text, "NATO CONFIDENTIAL")
    assert report.stored == 2
    assert len(report.failed) == 1 and "uid BAD" in report.failed[0]
    assert "not a marking" in report.failed[0]
    assert str(workspace.track(ops, "LOW").positions[0].marking) == "NATO CONFIDENTIAL"
    assert str(workspace.track(ops, "HIGH").positions[0].marking) == "NATO SECRET"
    with pytest.raises(NotFoundError):
        workspace.track(ops, "BAD")


def test_hostile_events_are_refused_with_reasons_and_the_rest_of_the_file_loads(
    workspace: Workspace, tmp_path: Path
) -> None:
    ops = workspace.user()
    path = write(tmp_path / "in", "capture.cot", hostile_capture())
    report = workspace.ingest(ops, [path], "tak", parse_marking(NU))
    assert report.positions is not None and report.positions.stored == 2
    reasons = [f["error"] for f in report.failed]
    assert all(f["path"] == str(path) for f in report.failed)
    assert len(reasons) == 4
    assert "over the 65536 limit" in reasons[0]
    assert "DOCTYPE or entity declarations are refused" in reasons[1]
    assert "POLE-1" in reasons[2] and "off the globe" in reasons[2]
    assert "STALE-1" in reasons[3] and "stale" in reasons[3] and "before start" in reasons[3]
    assert [t.callsign for t in workspace.tracks(ops)] == ["ALPHA", "BRAVO"]


def test_a_cot_file_without_a_marking_is_refused_like_an_unmarked_document(
    workspace: Workspace, tmp_path: Path
) -> None:
    ops = workspace.user()
    path = write(tmp_path / "in", "feed.xml", capture(event("U-1", 0)))
    report = workspace.ingest(ops, [path], "tak")
    assert report.positions is not None and report.positions.stored == 0
    assert len(report.failed) == 1 and report.failed[0]["error"].startswith("no marking")
    assert workspace.tracks(ops) == []
    workspace.set_source_default(ops, "tak", parse_marking("NATO RESTRICTED"))
    report = workspace.ingest(ops, [path], "tak")
    assert report.failed == [] and report.positions is not None and report.positions.stored == 1
    assert str(workspace.track(ops, "U-1").positions[0].marking) == "NATO RESTRICTED"


def test_a_writer_is_told_stored_for_a_position_above_them_however_often(
    workspace: Workspace,
) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    above = capture(event("UP-1", 0, access="NATO SECRET"))
    store_cot(workspace, ops, above)  # already held above lux
    for _ in range(2):
        told = store_cot(workspace, lux, above)
        assert (told.stored, told.duplicates) == (1, 0)
    assert workspace.tracks(lux) == []


def test_ingest_needs_the_analyst_role(workspace: Workspace) -> None:
    ops = workspace.user()
    workspace.add_user("reader1", parse_clearance(NU, "FRA"), ops, role="reader")
    with pytest.raises(PermissionDeniedError):
        store_cot(workspace, workspace.user("reader1"), capture(event("R-1", 0)))


def test_box_and_period_are_those_of_the_readers_own_positions(workspace: Workspace) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    store_cot(workspace, ops, capture(event("IN", 0, lat=58.0, lon=25.0), event("FAR", 0, lat=40)))
    # Seen by ops last outside the box; lux's last position of it is inside.
    store_cot(workspace, ops, capture(event("IN", 30, lat=45.0, access="NATO SECRET")))
    box = (24.0, 57.0, 26.0, 59.0)
    assert [t.uid for t in workspace.tracks(lux, bbox=box)] == ["IN"]
    assert [t.uid for t in workspace.tracks(ops, bbox=box)] == []
    later = workspace.tracks(ops, since=event_time(10))
    assert [(t.uid, len(t.positions)) for t in later] == [("IN", 1)]
    assert workspace.tracks(lux, since=event_time(10)) == []


def event_time(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ----------------------------------------------------------------------- outputs
def test_geojson_and_kml_place_each_track_at_its_last_readable_position(
    workspace: Workspace,
) -> None:
    ops = workspace.user()
    store_cot(
        workspace,
        ops,
        capture(
            event("G-1", 0, callsign="<R&D> 1", lat=58.1, lon=24.9),
            event("G-1", 2, callsign="<R&D> 1", lat=58.2, lon=24.8, course=90, speed=3),
            event("G-2", 1, cot_type="a-h-A-M-F", lat=57.5, lon=26.5),
        ),
        "NATO RESTRICTED",
    )
    found = workspace.tracks(ops)
    geojson = tracks_geojson(found)
    assert geojson["type"] == "FeatureCollection" and geojson["marking"] == "NATO RESTRICTED"
    first, second = geojson["features"]
    assert first["geometry"] == {"type": "Point", "coordinates": [24.8, 58.2]}
    assert first["properties"]["callsign"] == "<R&D> 1" and first["properties"]["course"] == 90
    assert second["properties"]["sidc"] == "SHAPMF----*****"
    assert second["properties"]["affiliation"] == "hostile"
    kml = tracks_kml(found)
    root = ElementTree.fromstring(kml.encode())
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert "NATO RESTRICTED" in (root.findtext("k:Document/k:name", namespaces=ns) or "")
    placemarks = root.findall("k:Document/k:Placemark", ns)
    assert [p.findtext("k:name", namespaces=ns) for p in placemarks] == ["<R&D> 1", "G-2"]
    coordinates = placemarks[0].findtext("k:Point/k:coordinates", namespaces=ns) or ""
    assert [float(x) for x in coordinates.split(",")[:2]] == [24.8, 58.2]
    assert tracks_json([]) == {"tracks": [], "marking": str(NOTHING_MARKED)}


# ------------------------------------------------------------------------- joins
SPOTREP = """NATO UNCLASSIFIED
SPOTREP 7
DTG: 200630ZNOV26

SIZE: two vehicles.
ACTIVITY: moving north on the coast road, callsign GEMINI in contact.
LOCATION: {lat:.4f}N 0{lon:.4f}E.
UNIT: 3rd reconnaissance company.
TIME: 200615ZNOV26.
EQUIPMENT: 2 x BTR-82A.
NATO UNCLASSIFIED
"""


def test_a_callsign_in_a_report_and_on_a_track_are_one_entity_and_nearby_events_its_history(
    workspace: Workspace, tmp_path: Path
) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    near = write(tmp_path / "in", "near.txt", SPOTREP.format(lat=58.01, lon=25.01))
    far = write(
        tmp_path / "in",
        "far.txt",
        SPOTREP.format(lat=59.5, lon=27.0).replace("callsign GEMINI", "a patrol"),
    )
    workspace.ingest(ops, [near, far], "reports")
    store_cot(workspace, ops, capture(event("GEM", 0, callsign="GEMINI")), NU)
    store_cot(workspace, ops, capture(event("NIT", 0, callsign="NITRATE", lat=50.0)), NU)
    store_cot(workspace, ops, capture(event("SEC", 0, callsign="COBRA")), "NATO SECRET")

    gemini = workspace.entity(ops, "gemini")
    assert gemini.entity.type == "callsign" and gemini.mentions
    assert [t.uid for t in gemini.tracks] == ["GEM"]
    payload = entity_detail_json(gemini)
    assert payload["tracks"][0]["uid"] == "GEM" and payload["marking"] == NU

    nitrate = workspace.entity(ops, "NITRATE")  # named by no report: the track gives it
    assert (nitrate.entity.name, nitrate.entity.mentions, nitrate.mentions) == ("NITRATE", 0, [])
    assert [t.uid for t in nitrate.tracks] == ["NIT"]
    assert workspace.entity(ops, nitrate.entity.id).entity.id == nitrate.entity.id
    assert workspace.entity(ops, "COBRA").tracks[0].uid == "SEC"
    with pytest.raises(NotFoundError) as hidden:
        workspace.entity(lux, "COBRA")
    assert str(hidden.value) == "no entity 'COBRA'"

    track = workspace.track(ops, "GEM")
    history = workspace.track_history(ops, track)
    assert [e.what for e in history] == [
        "moving north on the coast road, callsign GEMINI in contact."
    ]
    assert history[0].lat is not None and history[0].lon is not None
    assert distance_km(58.0, 25.0, history[0].lat, history[0].lon) < 5
    detail = track_detail_json(track, history)
    assert detail["history"][0]["doc_id"] == history[0].doc_id
    assert detail["positions"][0]["source"] == "tak"
    assert workspace.track_history(ops, workspace.track(ops, "NIT")) == []


def test_a_sitrep_lists_the_tracks_in_its_area_that_the_reader_may_read(
    workspace: Workspace,
) -> None:
    ops, lux = workspace.user(), workspace.user("lux_nr")
    store_cot(workspace, ops, capture(event("A-1", 0, callsign="ALPHA", cot_type="a-h-G")))
    store_cot(workspace, ops, capture(event("A-2", 0, callsign="ZULU", lat=40.0)))
    store_cot(workspace, ops, capture(event("A-3", 0, callsign="KILO")), "NATO SECRET")
    box = (24.0, 57.0, 26.0, 59.0)

    def lines(user: User) -> list[str]:
        brief = workspace.brief(user, form="sitrep", bbox=box)
        (section,) = [s for s in brief.sections if s.heading == "Tracks in the area"]
        return [s.text for s in section.statements]

    (alpha,) = lines(lux)
    assert alpha.startswith("ALPHA: track hostile ground (a-h-G), last reported at 58.0000, 25.00")
    assert sorted(line.split(":")[0] for line in lines(ops)) == ["ALPHA", "KILO"]
    french = workspace.brief(lux, form="sitrep", language="fr", bbox=box)
    headings = [s.heading for s in french.sections]
    assert "Pistes dans la zone" in headings
    intsum = workspace.brief(lux, form="intsum", bbox=box)
    assert all("ALPHA" not in s.text for section in intsum.sections for s in section.statements)


def test_a_track_drawn_from_no_position_is_refused_by_the_views() -> None:
    with pytest.raises(ValueError):
        track_json(Track("EMPTY", "a-f-G"))
