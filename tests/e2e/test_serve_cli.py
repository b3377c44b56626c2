"""`guetteur serve`, `users passwd` and `tokens` as an operator types them (real processes)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import seed_gazetteer

GUETTEUR = [sys.executable, "-m", "guetteur"]


def run(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    done = subprocess.run(
        [*GUETTEUR, *args], capture_output=True, text=True, env=env, timeout=300, input=stdin
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(home: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """`guetteur serve` on a free loopback port, once its health answers; and its URL."""
    port = free_port()
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    server = subprocess.Popen(
        [*GUETTEUR, "serve", "--port", str(port), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"serve did not start: {server.communicate()[0]}")
        time.sleep(0.2)


@pytest.fixture
def home(tmp_path: Path, built_gazetteer: Path) -> Path:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    run(home, "init", "--user", "ops", "--clearance", "NATO SECRET", "--nationality", "FRA")
    run(home, "users", "add", "lux_nr", "--clearance", "NATO RESTRICTED", "--nationality", "LUX")
    return home


def test_serve_users_passwd_and_tokens_end_to_end(home: Path) -> None:
    one_time = run(home, "users", "passwd", "lux_nr").stdout.strip()
    assert len(one_time) >= 12
    secret = run(home, "tokens", "create", "lux_nr", "--expires", "2d").stdout.strip()
    assert secret.startswith("gtr_")
    listed = json.loads(run(home, "tokens", "list", "--json").stdout)["tokens"]
    assert [(t["user"], t["scope"], t["state"]) for t in listed] == [("lux_nr", "read", "active")]
    assert secret not in json.dumps(listed)
    server, url = start_serve(home)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as script:
            assert script.get("/api/me").json()["user"]["name"] == "lux_nr"
        with httpx.Client(base_url=url) as browser:
            body = browser.post(
                "/api/login", json={"username": "lux_nr", "password": one_time}
            ).json()
            assert body["must_change_password"] is True
        run(home, "tokens", "revoke", listed[0]["id"])
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as script:
            assert script.get("/api/me").status_code == 401
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert one_time not in output and secret not in output  # secrets are never logged
    audit = run(home, "audit", "verify", "--json").stdout
    assert json.loads(audit)["intact"] is True


def test_passwd_from_stdin_is_checked_against_the_policy(home: Path) -> None:
    env = {**os.environ, "GUETTEUR_HOME": str(home)}
    short = subprocess.run(
        [*GUETTEUR, "users", "passwd", "lux_nr", "--stdin"],
        input="short\n", capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert short.returncode == 1 and "too short" in short.stderr
    done = run(home, "users", "passwd", "lux_nr", "--stdin", stdin="a long enough passphrase\n")
    assert done.stdout == ""


def test_serve_with_workers_keeps_the_limits_it_was_given(home: Path) -> None:
    """Every worker process of `serve --workers 2` refuses what --max-upload-mb refuses."""
    secret = run(home, "tokens", "create", "ops", "--scope", "write").stdout.strip()
    server, url = start_serve(home, "--workers", "2", "--max-upload-mb", "1")
    try:
        too_big = "NATO UNCLASSIFIED\n" + "x" * (2 << 20)
        headers = {"Authorization": f"Bearer {secret}"}
        # Each request on a new connection: uvicorn's workers share the socket, so
        # over a dozen connections both workers answer.
        for _ in range(12):
            refused = httpx.post(
                f"{url}/api/ingest",
                headers=headers,
                files={"files": ("big.txt", too_big.encode(), "text/plain")},
                timeout=120,
            )
            assert refused.status_code == 413, refused.text
            assert "1048576 bytes" in refused.json()["detail"]
    finally:
        server.terminate()
        server.communicate(timeout=60)
