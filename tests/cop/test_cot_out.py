"""CoT out: the picture as Cursor-on-Target events, valid against MITRE's schemas,
each marked in `access` and in its remarks, citing its source; per reader and
per nation. And `guetteur cot send`, which sends it once to a TAK input.

The workspace is real: reports ingested through the pipeline (a SALUTE spot
report, prose reports at other markings) and track positions stored through
Workspace.ingest_cot.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import takproto
import xmlschema

from guetteur.cop.cot import CotEvent, event_marking, parse_event
from guetteur.cop.cot_out import (
    OutEvent,
    event_type,
    picture,
    relayed,
    report_event,
    track_event,
)
from guetteur.cop.stream import picture_for
from guetteur.model import Position, Track
from guetteur.security.markings import may_read, parse_marking
from guetteur.store import User
from guetteur.workspace import Workspace

from conftest import SCENARIO, SHARED_DATA, new_workspace, write

SCHEMAS = SHARED_DATA / "cot_xml" / "schemas_mitre_cot"
SPOTREP = SCENARIO / "reports" / "spotrep" / "SPOTREP-0116-01_btr82a_ivangorod.txt"
NOW = dt.datetime(2026, 11, 16, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def schemas() -> dict[str, xmlschema.XMLSchema]:
    """MITRE's CoT 2.0 event schema, and the sub-schemas of the detail elements we write."""
    files = {
        "event": "Event-PUBLIC.xsd",
        "remarks": "CoT_remarks_.xsd",
        "contact": "CoT_contact_.xsd",
        "track": "CoT_track.xsd",
    }
    return {name: xmlschema.XMLSchema(SCHEMAS / file) for name, file in files.items()}


def cot(uid: str, *, access: str | None = None, cot_type: str = "a-f-G-U-C") -> bytes:
    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stale = (NOW + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    carried = f' access="{access}"' if access else ""
    return (
        f'<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" time="{stamp}" '
        f'start="{stamp}" stale="{stale}"{carried}>'
        '<point lat="59.3772" lon="28.1903" hae="25.0" ce="12.5" le="9999999.0"/>'
        f'<detail><contact callsign="{uid} &amp; co &lt;1&gt;"/><__group name="Red" role="HQ"/>'
        '<track course="270.0" speed="4.2"/><remarks>as seen from OP NARVA</remarks>'
        '<takv device="SM-G" platform="ATAK-CIV" os="29" version="4.10"/></detail></event>'
    ).encode()


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Workspace]:
    """Reports at NR (a spot report), NS REL TO FRA, and NR REL TO FRA, LUX; tracks at NR,
    NS, NS with CRYPTO, NR REL TO FRA; all stored as the operator (ops)."""
    workspace = new_workspace(tmp_path_factory.mktemp("cot-out") / "ws", built_gazetteer)
    folder = tmp_path_factory.mktemp("reports")
    (folder / SPOTREP.name).write_text(SPOTREP.read_text(encoding="utf-8"), encoding="utf-8")
    write(
        folder,
        "fra_only.txt",
        "NATO SECRET // REL TO FRA\n\nLe 16 novembre 2026, le 14e bataillon de chars a été "
        "observé à Narva (35VNF6905181882).\n\nNATO SECRET // REL TO FRA\n",
    )
    write(
        folder,
        "fra_lux.txt",
        "NATO RESTRICTED // REL TO FRA, LUX\n\nOn 16 November 2026 two BTR-82A of the 14th "
        "Guards Motor Rifle Brigade were seen at Tapa.\n\nNATO RESTRICTED // REL TO FRA, LUX\n",
    )
    operator = workspace.operator()
    report = workspace.ingest(operator, [folder], "reports")
    assert not report.failed and report.ingested == 3
    events = [
        parse_event(cot("NR-1")),
        parse_event(cot("NS-1", access="NATO SECRET", cot_type="a-h-G-U-C-A")),
        parse_event(cot("CRYPTO-1", access="NATO SECRET // CRYPTO", cot_type="a-h-A")),
        parse_event(cot("FRA-1", access="NATO RESTRICTED // REL TO FRA", cot_type="a-n-S")),
    ]
    stored = workspace.ingest_cot(operator, events, "tak", parse_marking("NATO RESTRICTED"))
    assert stored.stored == 4
    yield workspace
    workspace.close()


def user(
    workspace: Workspace, name: str, nations: frozenset[str] = frozenset()
) -> tuple[User, Any]:
    found = workspace.store.get_user(name)
    return found, found.clearance.for_release_to(nations) if nations else found.clearance


def everything(workspace: Workspace) -> list[OutEvent]:
    reader, clearance = user(workspace, "ops")
    return picture_for(workspace, reader, clearance, NOW)


def validate(schemas: dict[str, xmlschema.XMLSchema], xml: bytes) -> None:
    schemas["event"].validate(xml)
    root = ElementTree.fromstring(xml)
    for name in ("remarks", "contact", "track"):
        for element in root.iter(name):
            schemas[name].validate(ElementTree.tostring(element))


# ---------------------------------------------------------------- what goes out
def test_every_event_we_send_is_valid_cot(
    staff: Workspace, schemas: dict[str, xmlschema.XMLSchema]
) -> None:
    out = everything(staff)
    uids = {o.uid for o in out}
    assert {"NR-1", "NS-1", "CRYPTO-1", "FRA-1"} <= uids
    reported = [o for o in out if o.uid.startswith("guetteur.event.")]
    assert len(reported) >= 3  # the spot report's SALUTE event, and a sentence of each prose
    for event in out:
        assert event.xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<event ')
        validate(schemas, event.xml)


def test_each_event_is_marked_and_cites_its_source(staff: Workspace) -> None:
    reader, _ = user(staff, "ops")
    documents = {e.id: e for e in staff.events(reader)}
    for event in everything(staff):
        root = ElementTree.fromstring(event.xml)
        access = root.get("access")
        assert access == str(event.marking)
        assert parse_marking(access) == event.marking  # a receiving guetteur reads it back
        remarks = root.findtext("detail/remarks") or ""
        assert remarks.startswith(f"[{event.marking}] ")
        if event.uid.startswith("guetteur.event."):
            row = documents[event.uid.removeprefix("guetteur.event.")]
            assert remarks.endswith(f"Source: document {row.doc_id}.")
            assert root.get("type") == event_type(row)
            assert root.get("how") == "h-t"
        else:
            assert "Position reported by source tak." in remarks
            assert "as seen from OP NARVA" in remarks  # what the device said, kept


def test_types_of_events_from_reports(staff: Workspace) -> None:
    reader, _ = user(staff, "ops")
    kinds = {(row.kind, event_type(row)) for row in staff.events(reader) if row.lat is not None}
    assert ("salute", "a-u-G") in kinds  # BTR-82A and trucks on the ground, affiliation unsaid
    assert ("sentence", "b-m-p-s-p-i") in kinds
    tracks = {o.uid: ElementTree.fromstring(o.xml).get("type") for o in everything(staff)}
    assert tracks["NS-1"] == "a-h-G-U-C-A" and tracks["FRA-1"] == "a-n-S"


def test_our_events_read_back_as_they_were_sent(staff: Workspace) -> None:
    unmarked = parse_marking("UNCLASSIFIED")
    tracks = {t.uid: t for t in staff.tracks(staff.operator())}
    for event in everything(staff):
        parsed = parse_event(event.xml)
        assert parsed.uid == event.uid
        assert event_marking(unmarked, parsed) == event.marking
        if event.uid in tracks:
            last = tracks[event.uid].last
            assert last is not None
            assert (parsed.lat, parsed.lon, parsed.time) == (last.lat, last.lon, last.time)
            assert (parsed.course, parsed.speed, parsed.hae, parsed.ce) == (270.0, 4.2, 25.0, 12.5)
            assert parsed.callsign == f"{event.uid} & co <1>"
        # In TAK protocol version 1 (protobuf, decoded by takproto) it says the same.
        message = takproto.parse_proto(takproto.xml2proto(event.xml, takproto.TAKProtoVer.STREAM))
        assert (message.cotEvent.uid, message.cotEvent.access) == (event.uid, str(event.marking))
        assert round(message.cotEvent.lat, 7) == round(parsed.lat, 7)


# ------------------------------------------------------------------- who gets what
def test_a_reader_never_receives_what_they_may_not_read(staff: Workspace) -> None:
    lux, clearance = user(staff, "lux_nr")
    out = picture_for(staff, lux, clearance, NOW)
    assert {o.uid for o in out if not o.uid.startswith("guetteur.event.")} == {"NR-1"}
    assert all(may_read(clearance, o.marking) for o in out)
    markings = {str(o.marking) for o in out}
    assert markings == {"NATO RESTRICTED", "NATO RESTRICTED // REL TO FRA, LUX"}


def test_a_connection_declared_rel_to_lux_never_receives_what_is_released_to_fra_only(
    staff: Workspace,
) -> None:
    ops, declared = user(staff, "ops", frozenset({"LUX"}))
    out = picture_for(staff, ops, declared, NOW)
    uids = {o.uid for o in out}
    assert "FRA-1" not in uids and "CRYPTO-1" not in uids and {"NR-1", "NS-1"} <= uids
    for event in out:
        assert event.marking.releasable_to is None or "LUX" in event.marking.releasable_to
        assert not event.marking.caveats
    assert len(out) < len(everything(staff))


# ------------------------------------------------------------------ edge cases
def test_hostile_strings_and_odd_types_still_make_valid_cot(
    schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    marking = parse_marking("NATO RESTRICTED")
    nasty = 'ALPHA"</contact></detail></event><event uid="x">&amp;\x01\ud7ff'
    position = Position(
        time=NOW, lat=-89.9999999, lon=179.9999999, marking=marking, source=nasty,
        hae=1e-7, how="", course=None, speed=3.0, remarks=nasty,
    )  # fmt: skip
    track = Track(uid=nasty, type="a.f.G:odd", callsign=nasty, group=nasty, positions=(position,))
    event = track_event(track)
    assert event is not None
    validate(schemas, event.xml)
    root = ElementTree.fromstring(event.xml)
    assert (root.get("type"), root.get("how")) == ("a-u-G", "m-p")  # outside MITRE's grammar
    assert root.find("detail/track") is None  # a speed without a course is no CoT track
    assert root.get("uid") == nasty.replace("\x01", "")
    assert len(root) == 2 and root[0].tag == "point"
    assert track_event(Track(uid="EMPTY", type="a-f-G")) is None


def test_an_event_without_position_or_time_from_a_report(staff: Workspace) -> None:
    reader, _ = user(staff, "ops")
    row = next(r for r in staff.events(reader) if r.lat is not None)
    assert report_event(replace(row, lat=None), NOW) is None
    assert picture([], [replace(row, lon=None)], NOW) == []
    undated = report_event(replace(row, at=None), NOW)
    assert undated is not None
    parsed = parse_event(undated.xml)
    assert parsed.start == NOW and parsed.stale == NOW + dt.timedelta(hours=24)


def test_a_relayed_event_carries_its_raised_marking(
    schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    received: CotEvent = parse_event(
        cot("RELAY-1", access="NATO SECRET").replace(
            NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z").encode(), b"2026-11-16T13:00:00+01:00"
        )
    )
    raised = event_marking(parse_marking("NATO RESTRICTED"), received)
    out = relayed(received, raised)
    root = ElementTree.fromstring(out.xml)
    assert out.marking == raised and root.get("access") == "NATO SECRET"
    assert root.get("time") == "2026-11-16T12:00:00.000Z"  # UTC, as TAK and takproto write it
    assert root.find("detail/takv") is not None  # the rest as the client sent it
    schemas["event"].validate(out.xml)


# -------------------------------------------------------------------- cot send
class Receiver:
    """A TAK input on loopback that keeps what one connection sends."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.data = b""
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.socket.settimeout(120)
        connection, _ = self.socket.accept()
        with connection:
            while chunk := connection.recv(65536):
                self.data += chunk

    def events(self) -> list[bytes]:
        self.thread.join(timeout=120)
        self.socket.close()
        return [part + b"</event>" for part in self.data.split(b"</event>") if part.strip()]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "guetteur", *args], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip


def test_cot_send_sends_the_picture_once_releasable_as_asked(
    staff: Workspace, schemas: dict[str, xmlschema.XMLSchema]
) -> None:
    receiver = Receiver()
    done = cli(staff.home, "cot", "send", "--to", f"tcp://127.0.0.1:{receiver.port}",
               "--releasable-to", "LUX")  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = receiver.events()
    assert done.stdout.strip() == (
        f"sent {len(events)} events to 127.0.0.1:{receiver.port} "
        "(highest marking: NATO SECRET // REL TO FRA, LUX)"
    )
    uids = set()
    for xml in events:
        validate(schemas, xml)
        parsed = parse_event(xml)
        uids.add(parsed.uid)
        marking = parse_marking(parsed.access or "")
        assert marking.releasable_to is None or "LUX" in marking.releasable_to
    assert {"NR-1", "NS-1"} <= uids and not {"FRA-1", "CRYPTO-1"} & uids

    refused = cli(staff.home, "cot", "send", "--to", "http://127.0.0.1:1")
    assert refused.returncode == 2 and "expected tcp://HOST:PORT" in refused.stderr
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    unreachable = cli(staff.home, "cot", "send", "--to", f"tcp://127.0.0.1:{port}")
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert f"tcp://127.0.0.1:{port}" in unreachable.stderr
