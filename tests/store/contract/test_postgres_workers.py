"""`guetteur serve --workers 2` on one PostgreSQL store, over real HTTP on loopback.

Uvicorn's worker processes share one listening socket: the kernel gives each
new connection to whichever worker accepts it first. The test opens
connections until one lands on the worker it wants, and checks which worker
served each request (the process holding the server end of the connection,
read from /proc), so that every step below is known to have crossed from one
worker to the other: a session opened through one is honoured by the other
and ended through it, a document ingested through one is found through the
other, a watch added through one is listed by the other, and each reader sees
only what they may read whichever worker answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from guetteur.security.markings import parse_clearance
from guetteur.workspace import Workspace

from .conftest import Postgres
from conftest import seed_gazetteer

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc to tell workers apart"
)

PASSWORDS = {"ops": "correct horse battery staple", "lux_nr": "Lux-2026-pass"}
REPORTS = {
    "nr.txt": "NATO RESTRICTED\nLe convoi de camions-citernes a franchi le pont de Narva. "
    "Les équipements BTR-82A sont au point 35VNF6763382659.\nNATO RESTRICTED",
    "ns.txt": "NATO SECRET\nSource ORCHID reports the brigade commander will inspect the "
    "Narva bridge convoy.\nNATO SECRET",
}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    folder = Path(f"/proc/{pid}/fd")
    for fd in folder.iterdir() if folder.exists() else ():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_inode(local_port: int, remote_port: int | None) -> str | None:
    """The inode of the loopback TCP socket bound to local_port (connected to
    remote_port; None: the listening one)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if int(local.split(":")[1], 16) != local_port:
            continue
        if remote_port is None and state == "0A":  # LISTEN
            return inode
        if remote_port is not None and int(remote.split(":")[1], 16) == remote_port:
            return inode
    return None


class Served:
    """`guetteur serve --workers 2` in a child process, and its two workers."""

    def __init__(self, home: Path) -> None:
        self.log = (home.parent / "serve.log").open("w")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "GUETTEUR_HOME"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "guetteur", "--home", str(home), "serve", "--workers", "2",
             "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log,
        )  # fmt: skip
        self.workers = self._wait_for_workers()

    def _wait_for_workers(self) -> list[int]:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"guetteur serve exited: {self.log.name}")
            listening = _tcp_inode(self.port, None)
            workers = [
                pid
                for pid in _children(self.process.pid)
                if listening is not None and listening in _socket_inodes(pid)
            ]
            if len(workers) == 2:
                try:
                    if httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200:
                        return sorted(workers)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError("guetteur serve --workers 2 did not start two workers")

    def worker_of(self, response: httpx.Response) -> int:
        """The worker that served `response` (its connection is still open: keep-alive)."""
        stream = response.extensions["network_stream"]
        client_port = stream.get_extra_info("client_addr")[1]
        inode = _tcp_inode(self.port, client_port)
        for pid in self.workers:
            if inode is not None and inode in _socket_inodes(pid):
                return pid
        raise AssertionError(f"no worker holds the connection from port {client_port}")

    def on(self, worker: int, method: str, path: str, **options: Any) -> httpx.Response:
        """Send one request through `worker`: connect until that worker accepts, then ask."""
        if worker not in _children(self.process.pid):
            self.log.flush()
            log = Path(self.log.name).read_text()
            raise AssertionError(f"worker {worker} is gone (replaced by uvicorn?):\n{log}")
        for _ in range(200):
            client = httpx.Client(base_url=self.url, timeout=300)
            try:
                if self.worker_of(client.get("/api/health")) != worker:
                    continue
                response = client.request(method, path, **options)
                assert self.worker_of(response) == worker
                response.read()
                return response
            finally:
                client.close()
        raise AssertionError(f"no connection reached worker {worker} in 200 attempts")

    def stop(self) -> None:
        """SIGTERM to the server; its processes killed if they are still there a minute on."""
        processes = [*_children(self.process.pid), self.process.pid]
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in processes:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()
        self.log.close()


@pytest.fixture
def served(tmp_path: Path, postgres: Postgres, built_gazetteer: Path) -> Iterator[Served]:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    workspace = Workspace.create(
        home, "ops", parse_clearance("NATO SECRET", "FRA"), store=postgres.new_database()
    )
    workspace.add_user("lux_nr", parse_clearance("NATO RESTRICTED", "LUX"), actor="ops")
    for name, password in PASSWORDS.items():
        one_time = workspace.accounts.set_password(workspace.operator(), name)
        workspace.accounts.change_password(workspace.store.get_user(name), one_time, password)
    workspace.close()
    server = Served(home)
    try:
        yield server
    finally:
        server.stop()


def _login(served: Served, worker: int, user: str) -> dict[str, Any]:
    """A session opened through `worker`: its cookie and CSRF header, for any worker."""
    answer = served.on(
        worker, "POST", "/api/login", json={"username": user, "password": PASSWORDS[user]}
    )
    assert answer.status_code == 200, answer.text
    cookie = "; ".join(f"{name}={value}" for name, value in answer.cookies.items())
    return {"headers": {"Cookie": cookie, "X-CSRF-Token": answer.json()["csrf_token"]}}


def test_two_workers_share_sessions_reads_and_writes_on_postgresql(served: Served) -> None:
    first, second = served.workers
    ops = _login(served, first, "ops")
    me = served.on(second, "GET", "/api/me", **ops)
    assert me.status_code == 200 and me.json()["user"]["name"] == "ops"

    # Written through the first worker, read through the second.
    for name, text in REPORTS.items():
        files = [("files", (name, text.encode(), "text/plain"))]
        done = served.on(first, "POST", "/api/ingest", files=files, **ops)
        assert done.status_code == 200, done.text
        assert done.json()["ingested"] == 1
    found = served.on(second, "GET", "/api/search", params={"q": "Narva bridge convoy"}, **ops)
    assert {r["marking"] for r in found.json()["results"]} == {"NATO RESTRICTED", "NATO SECRET"}
    stats = served.on(second, "GET", "/api/stats", **ops).json()
    assert stats["documents"] == 2

    # Written through the second, read through the first.
    added = served.on(
        second, "POST", "/api/watch",
        json={"name": "bridges", "requirement": "bridges over the Narva"}, **ops,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    listed = served.on(first, "GET", "/api/watch", **ops).json()
    assert [r["name"] for r in listed["requirements"]] == ["bridges"]

    # A reader sees what they may read, through either worker.
    lux = _login(served, second, "lux_nr")
    for worker in (first, second):
        seen = served.on(worker, "GET", "/api/search", params={"q": "Narva convoy"}, **lux)
        assert [r["marking"] for r in seen.json()["results"]] == ["NATO RESTRICTED"]
        assert served.on(worker, "GET", "/api/stats", **lux).json()["documents"] == 1

    # A session ended through one worker is refused by the other.
    assert served.on(second, "POST", "/api/logout", **ops).status_code == 204
    refused = served.on(first, "GET", "/api/me", **ops)
    assert refused.status_code == 401
    assert served.on(first, "GET", "/api/me", **lux).status_code == 200
