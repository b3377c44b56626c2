"""Time to first render of the common operational picture: 10,000 symbols against none.

    .venv/bin/python benchmarks/cop_render.py [--tracks 10000] [--repeat 5]

Builds two workspaces: one holding N tracks (one CoT position report each,
ATAK-like types of the four affiliations on land, in the air and at sea,
spread over the Baltic states, all current, NATO RESTRICTED), and one holding
nothing. Each is served by `guetteur serve` in a process of its own, and
Debian's Chromium (headless, --disable-gpu, as on an air-gapped laptop
without WebGL; driven by Playwright, never a downloaded browser) opens /map
on each in turn, `--repeat` times, interleaved, each time in a new browser
context (nothing cached), logged in as the operator, in a 1366×768 window.

Time to first render: from the navigation's start to the moment the COP says
it is ready (`data-ready-at`, the page's own clock: the basemap drawn, every
layer loaded, every symbol handed to the cluster layer and two frames
painted). Also shown: how long the browser waited for /api/tracks (the
server's part). Prints each run, the medians and the ratio full / empty.
The static application must be built first (`cd web && npm ci && npm run build`).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright

from guetteur.api.web import STATIC
from guetteur.cop.cot import parse_event
from guetteur.enrich.places import Gazetteer
from guetteur.pipeline.enrichment import GAZETTEER_FILE
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "Benchmark passphrase for the COP"
MARKING = "NATO RESTRICTED"
# CoT types a picture holds: the four affiliations, on land, in the air, at sea.
TYPES = (
    "a-f-G-U-C-I",  # friendly infantry
    "a-f-G-U-C-A",  # friendly armour
    "a-f-G-E-V",  # friendly ground vehicle
    "a-f-A-M-F",  # friendly fixed-wing
    "a-f-S-X",  # friendly surface vessel
    "a-h-G-U-C-A",  # hostile armour
    "a-h-G-U-C-F",  # hostile artillery
    "a-h-A-M-H",  # hostile rotary wing
    "a-h-A-M-F-Q",  # hostile drone
    "a-h-S-X",  # hostile surface vessel
    "a-n-G",  # neutral ground
    "a-n-S-X",  # neutral vessel
    "a-u-G",  # unknown ground
    "a-u-A",  # unknown air
    "a-s-G-U",  # suspect unit
)
# Estonia, Latvia and Lithuania with their borders and coasts.
WEST, SOUTH, EAST, NORTH = 21.0, 54.0, 28.5, 59.7


def cot_events(count: int, now: datetime) -> list[bytes]:
    """`count` tracks, one current position report each (seeded: the same every run)."""
    rng = random.Random(26)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    events = []
    for n in range(count):
        seen = now - timedelta(seconds=rng.randrange(3600))
        lat, lon = rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST)
        events.append(
            f'<event version="2.0" uid="BENCH-{n:05d}" type="{TYPES[n % len(TYPES)]}" '
            f'how="m-g" time="{seen:{stamp}}" start="{seen:{stamp}}" '
            f'stale="{now + timedelta(days=1):{stamp}}">'
            f'<point lat="{lat:.6f}" lon="{lon:.6f}" hae="50" ce="10" le="10"/>'
            f'<detail><contact callsign="UNIT {n:05d}"/></detail></event>'.encode()
        )
    return events


def build(home: Path, gazetteer: Path, tracks: int) -> None:
    home.mkdir(parents=True)
    shutil.copyfile(gazetteer, home / GAZETTEER_FILE)
    workspace = Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA", ()))
    try:
        one_time = workspace.accounts.set_password(workspace.operator(), "ops")
        workspace.accounts.change_password(workspace.store.get_user("ops"), one_time, PASSWORD)
        if tracks:
            parsed = [parse_event(e) for e in cot_events(tracks, datetime.now(UTC))]
            report = workspace.ingest_cot(
                workspace.operator(), parsed, "benchmark", parse_marking(MARKING)
            )
            assert report.stored == tracks, report
    finally:
        workspace.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`guetteur serve` on a loopback port; its process and URL once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_LLM")}
    command = [sys.executable, "-m", "guetteur", "--home", str(home), "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    sys.exit("the server did not answer within 120 s")


def first_render(browser: Browser, url: str, expected: int) -> tuple[float, float]:
    """(ms to the COP's first render, ms the browser waited for /api/tracks)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        login = {"username": "ops", "password": PASSWORD}
        answer = page.request.post(f"{url}/api/login", data=login)
        if not answer.ok:
            sys.exit(f"login refused: {answer.status} {answer.text()}")
        page.goto(f"{url}/map")
        page.wait_for_selector(".cop[data-ready=true]", timeout=600_000)
        shown = page.get_attribute(".cop", "data-shown")
        if shown != str(expected):
            sys.exit(f"the map shows {shown} symbols, {expected} expected")
        ready = float(page.get_attribute(".cop", "data-ready-at") or "nan")
        tracks = page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter(e => new URL(e.name).pathname === '/api/tracks')"
            ".map(e => e.responseEnd - e.startTime)[0] ?? null"
        )
        return ready, float(tracks) if tracks is not None else float("nan")
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (STATIC / "map.js").is_file():
        sys.exit(f"{STATIC}: the web application is not built (cd web && npm run build)")

    scratch = Path(tempfile.mkdtemp(prefix="cop-render-"))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        gazetteer = scratch / GAZETTEER_FILE
        Gazetteer.open(gazetteer).close()
        build(scratch / "full", gazetteer, args.tracks)
        build(scratch / "empty", gazetteer, 0)
        print(
            f"workspaces: {args.tracks:,} tracks and none, "
            f"built in {time.perf_counter() - started:.1f} s"
        )
        urls = {}
        for name in ("full", "empty"):
            server, urls[name] = serve(scratch / name, scratch / f"{name}.log")
            servers.append(server)
        times: dict[str, list[tuple[float, float]]] = {"full": [], "empty": []}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # One warm-up each (the servers' first requests load their caches).
                first_render(browser, urls["full"], args.tracks)
                first_render(browser, urls["empty"], 0)
                for run in range(1, args.repeat + 1):
                    for name, expected in (("full", args.tracks), ("empty", 0)):
                        ready, tracks = first_render(browser, urls[name], expected)
                        times[name].append((ready, tracks))
                        print(
                            f"run {run} {name:5}: first render {ready:7.0f} ms"
                            f"  (/api/tracks {tracks:6.0f} ms)"
                        )
            finally:
                browser.close()
        full = statistics.median(t for t, _ in times["full"])
        empty = statistics.median(t for t, _ in times["empty"])
        full_api = statistics.median(a for _, a in times["full"])
        empty_api = statistics.median(a for _, a in times["empty"])
        print()
        print(f"{'map':32} {'first render (median)':>22} {'/api/tracks':>12}")
        print(f"{f'{args.tracks:,} symbols':32} {full:19.0f} ms {full_api:9.0f} ms")
        print(f"{'no symbols':32} {empty:19.0f} ms {empty_api:9.0f} ms")
        print(f"ratio: {full / empty:.2f}x the time of the same map with no symbols")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
