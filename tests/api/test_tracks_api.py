"""Tracks over HTTP: each reader sees tracks as their readable positions draw them,
and the live stream tells them when one moves."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guetteur.cop.cot import parse_event
from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

from api.conftest import PASSWORDS, serve_ready
from api.server import LiveServer, login


def cot(
    uid: str, lat: float, lon: float, at: datetime, callsign: str, kind: str = "a-h-G-U-C"
) -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stale = (at + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (
        f'<event version="2.0" uid="{uid}" type="{kind}" time="{stamp}" start="{stamp}" '
        f'stale="{stale}" how="h-e"><point lat="{lat}" lon="{lon}" hae="0" ce="10" le="10"/>'
        f'<detail><contact callsign="{callsign}"/></detail></event>'
    ).encode()


def store(home: Path, data: bytes, marking: str) -> None:
    with Workspace.open(home) as workspace:
        report = workspace.ingest_cot(
            workspace.operator(), [parse_event(data)], "tak", parse_marking(marking)
        )
        assert report.stored == 1, report


def test_a_reader_sees_tracks_drawn_by_readable_positions_and_live_moves(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    serve_ready(home, built_gazetteer).close()
    now = datetime.now(UTC).replace(microsecond=0)
    store(
        home,
        cot("HOSTILE-1", 59.37, 28.19, now - timedelta(minutes=30), "RAVEN"),
        "NATO RESTRICTED",
    )
    # A later SECRET sighting of the same unit: the NR reader must not see it move there.
    store(
        home, cot("HOSTILE-1", 59.40, 28.30, now - timedelta(minutes=20), "ORCHIDEE"), "NATO SECRET"
    )
    with LiveServer(home) as server, server.client() as lux, server.client() as ops:
        login(lux, "lux_nr", PASSWORDS["lux_nr"])
        login(ops, "ops", PASSWORDS["ops"])
        seen = lux.get("/api/tracks").json()
        assert [(t["uid"], t["lat"], t["callsign"], t["marking"]) for t in seen["tracks"]] == [
            ("HOSTILE-1", 59.37, "RAVEN", "NATO RESTRICTED")
        ]
        assert seen["marking"] == "NATO RESTRICTED"
        assert seen["tracks"][0]["sidc"].startswith("SHG")
        assert ops.get("/api/tracks").json()["tracks"][0]["callsign"] == "ORCHIDEE"
        detail = lux.get("/api/tracks/HOSTILE-1")
        assert (
            detail.status_code == 200
            and "ORCHIDEE" not in detail.text
            and "59.4" not in detail.text
        )
        geojson = lux.get("/api/tracks", params={"format": "geojson"}).json()
        assert geojson["type"] == "FeatureCollection"
        assert geojson["features"][0]["geometry"]["coordinates"][:2] == [28.19, 59.37]
        kml = lux.get("/api/tracks", params={"format": "kml"})
        assert "RAVEN" in kml.text and kml.headers["x-guetteur-marking"] == "NATO RESTRICTED"

        received: list[str] = []

        def listen() -> None:
            with lux.stream("GET", "/api/tracks/stream", timeout=30) as events:
                for line in events.iter_lines():
                    received.append(line)
                    if line.startswith("data:"):
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(1.5)
        store(home, cot("HOSTILE-2", 59.10, 27.90, now, "WOLF"), "NATO SECRET")  # never shown
        store(home, cot("FRIEND-7", 59.20, 27.70, now, "TIGER", "a-f-G-U-C"), "NATO UNCLASSIFIED")
        listener.join(timeout=20)
        data = [json.loads(line[5:]) for line in received if line.startswith("data:")]
        assert [d["uid"] for d in data] == ["FRIEND-7"]
        assert data[0]["marking"] == "NATO UNCLASSIFIED"


def test_an_absent_and_an_unreadable_track_answer_alike(
    tmp_path: Path, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    serve_ready(home, built_gazetteer).close()
    now = datetime.now(UTC).replace(microsecond=0)
    store(home, cot("SECRET-UNIT", 59.0, 27.0, now, "GHOST"), "NATO SECRET")
    with LiveServer(home) as server, server.client() as lux:
        login(lux, "lux_nr", PASSWORDS["lux_nr"])
        hidden = lux.get("/api/tracks/SECRET-UNIT")
        absent = lux.get("/api/tracks/NO-SUCH-UNIT")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["detail"].replace("SECRET-UNIT", "X") == absent.json()[
            "detail"
        ].replace("NO-SUCH-UNIT", "X")
