"""Products, uploads and jobs over real HTTP, and the limits around them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from guetteur.api.guard import Limits

from api.conftest import PASSWORDS, serve_ready
from api.server import LiveServer, login


def test_an_uploaded_report_is_ingested_and_found(
    served: LiveServer, as_user: dict[str, httpx.Client]
) -> None:
    lux = as_user["lux_nr"]
    text = "NATO RESTRICTED\nA pontoon bridge was laid across the Emajõgi.\nNATO RESTRICTED"
    answer = lux.post(
        "/api/ingest",
        files=[("files", ("pontoon.txt", text.encode(), "text/plain"))],
        data={"source": "lux-patrol"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["ingested"] == 1
    found = lux.get("/api/search", params={"q": "pontoon bridge Emajõgi"}).json()["results"]
    assert found and found[0]["title"].startswith("A pontoon bridge")
    assert found[0]["marking"] == "NATO RESTRICTED"


def test_a_bad_upload_is_named_as_uploaded_and_the_rest_is_kept(
    served: LiveServer, as_user: dict[str, httpx.Client]
) -> None:
    ops = as_user["ops"]
    good = "NATO UNCLASSIFIED\nFerry traffic at Paldiski resumed at dawn.\nNATO UNCLASSIFIED"
    answer = ops.post(
        "/api/ingest",
        files=[
            ("files", ("broken.pdf", b"PK\x03\x04 not a pdf", "application/pdf")),
            ("files", ("ferry.txt", good.encode(), "text/plain")),
        ],
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ingested"] == 1
    assert [f["path"] for f in body["failed"]] == ["broken.pdf"]
    assert "uploads" not in json.dumps(body)  # the server's folders are not shown


def test_a_reader_may_not_ingest(served: LiveServer) -> None:
    # lux_nr is an analyst; a reader made for this test is refused with the role named.
    with served.client() as ops:
        login(ops, "ops", PASSWORDS["ops"])
        ops.post(
            "/api/admin/users",
            json={"name": "est_reader", "clearance": "NATO RESTRICTED", "nationality": "EST",
                  "role": "reader"},
        ).raise_for_status()  # fmt: skip
        one_time = ops.post("/api/admin/users/est_reader/password").json()["password"]
    with served.client() as reader:
        login(reader, "est_reader", one_time)
        reader.post("/api/password", json={"old": one_time, "new": "Tallinn reader 2026!"})
        login(reader, "est_reader", "Tallinn reader 2026!")
        refused = reader.post(
            "/api/ingest", files=[("files", ("x.txt", b"NATO UNCLASSIFIED\nx\nNATO UNCLASSIFIED"))]
        )
    assert refused.status_code == 403
    assert "analyst" in refused.json()["detail"]


def test_a_background_ingest_is_a_job_followed_to_its_end(
    served: LiveServer, as_user: dict[str, httpx.Client]
) -> None:
    ops = as_user["ops"]
    files = [
        ("files", (f"note-{i}.txt", f"NATO UNCLASSIFIED\nPatrol {i} saw nothing near Valga.\n"
                   "NATO UNCLASSIFIED".encode(), "text/plain"))
        for i in range(3)
    ]  # fmt: skip
    started = ops.post("/api/ingest", files=files, data={"background": "true"})
    assert started.status_code == 202, started.text
    job = started.json()["job"]
    assert started.headers["location"] == f"/api/jobs/{job['id']}"
    with ops.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        events = [line for line in stream.iter_lines() if line.startswith("event:")]
    assert events[-1] == "event: done"
    final = ops.get(f"/api/jobs/{job['id']}").json()["job"]
    assert final["state"] == "done"
    assert final["result"]["ingested"] == 3
    assert final["progress"] == {"done": 3, "total": 3}
    # A job is its owner's: anyone else is told it does not exist.
    other = as_user["lux_nr"].get(f"/api/jobs/{job['id']}")
    assert other.status_code == 404


def test_ask_and_brief_answer_marked_by_what_they_cite(
    served: LiveServer, as_user: dict[str, httpx.Client]
) -> None:
    lux = as_user["lux_nr"]
    answer = lux.post("/api/ask", json={"question": "What is near Narva?", "lang": "en"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-guetteur-marking"] == answer.json()["marking"]
    assert "SECRET" not in answer.text
    markdown = lux.post("/api/brief", json={"kind": "intsum", "format": "markdown"})
    assert markdown.status_code == 200, markdown.text
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "SECRET" not in markdown.text and "Prigozhinov" not in markdown.text
    pdf = lux.post("/api/brief", json={"kind": "sitrep", "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["x-guetteur-marking"] in ("NATO RESTRICTED", "NATO UNCLASSIFIED")


def test_bad_requests_are_problems_naming_the_input(
    served: LiveServer, as_user: dict[str, httpx.Client]
) -> None:
    lux = as_user["lux_nr"]
    bbox = lux.get("/api/events", params={"bbox": "west,south"})
    assert bbox.status_code == 422
    assert bbox.headers["content-type"] == "application/problem+json"
    assert "'west,south'" in bbox.json()["detail"]
    missing = lux.get("/api/documents/0123456789abcdef0123")
    assert missing.status_code == 404
    assert "Traceback" not in missing.text
    marking = lux.post(
        "/api/ingest",
        files=[("files", ("a.txt", b"some text", "text/plain"))],
        data={"marking": "TOP SEKRIT"},
    )
    assert marking.status_code == 422 and "SEKRIT" in marking.json()["detail"]


def test_limits_refuse_floods_and_oversized_bodies(tmp_path: Path, built_gazetteer: Path) -> None:
    serve_ready(tmp_path / "ws", built_gazetteer).close()
    limits = Limits(body_bytes=4096, rate_per_second=1.0, burst=5, anonymous_burst=3)
    with LiveServer(tmp_path / "ws", limits=limits) as server, server.client() as client:
        login(client, "lux_nr", PASSWORDS["lux_nr"])
        big = client.post("/api/ask", json={"question": "x" * 10_000})
        assert big.status_code == 413
        codes = [client.get("/api/me").status_code for _ in range(8)]
        assert 429 in codes
        refused = next(r for r in [client.get("/api/me")] if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        # A flood without credentials spends its own bucket, not the user's.
        with server.client() as stranger:
            anonymous = [stranger.get("/api/stats").status_code for _ in range(5)]
        assert anonymous[:3] == [401, 401, 401] and anonymous[-1] == 429
        time.sleep(1.1)
        assert client.get("/api/me").status_code == 200
