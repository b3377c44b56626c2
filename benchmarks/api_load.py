"""The server under load: N analysts searching and asking while an ingest runs.

    .venv/bin/python benchmarks/api_load.py [--users 50] [--searches 10] [--asks 2]
                                            [--seconds 300] [--batch 4]

Builds a workspace with the exercise scenario's first half (examples/scenario,
floor marking NATO UNCLASSIFIED, as `guetteur demo` ingests it), N users of
five clearances and nations with their passwords, and starts a real server
(`guetteur serve`, its own process, uvicorn on a loopback port). Then, over
HTTP with httpx:

1. logins: the N users log in at once (`POST /api/login`; a 429 of the
   per-address limit on logins is waited out as its Retry-After says, and
   counted);
2. load: each user runs `--searches` searches (`GET /api/search`) and `--asks`
   questions (`POST /api/ask`, extractive: no model) one after the other, all
   users at once, while the operator uploads the scenario's second half
   (`POST /api/ingest`, `--batch` files a request); bounded by `--seconds`;
3. the same searches again through the server, without the ingest;
4. the same searches through the Python API (`Workspace.search`), one after
   the other, then from N threads at once (one connection each, as the
   server's threads have).

Prints requests per second and p50/p95 latency (nearest rank) of each, the
errors (any answer but 2xx, or a failed request: must be 0), whether every
write landed (the documents each upload answered `ingested` for, against the
documents the store holds afterwards), and ratios: the server against the
Python API with the same searches and concurrency, which is what HTTP,
authentication, the audit of each request and JSON cost on top of the search.
Exits 1 if any request failed or any write was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from guetteur.ingest.registry import iter_input_files
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import User
from guetteur.workspace import Workspace

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenario"
FLOOR = "NATO UNCLASSIFIED"
OPERATOR = ("ops", "NATO SECRET", "FRA", ("CRYPTO",))
# The users' clearances, in turn: user01 is the first, user06 the first again.
CLEARANCES = (
    ("NATO SECRET", "FRA", ("CRYPTO",)),
    ("NATO RESTRICTED", "LUX", ()),
    ("NATO CONFIDENTIAL", "DEU", ()),
    ("NATO SECRET", "USA", ()),
    ("DIFFUSION RESTREINTE", "FRA", ()),
)
QUERIES = (
    "frappe de drone sur le dépôt de carburant",
    "railway bridge sabotage",
    "hameçonnage réseau logistique du port",
    "Orlan-10 drones near Narva",
    "convoi de carburant vers Tapa",
    "GREYFOX PowerShell loader",
    "S-400 western enclave",
    "guerre électronique Krasukha",
    "engineer bridging assets",
    "rumeurs de mobilisation",
)
QUESTIONS = (
    "What hit the fuel depot at Tapa?",
    "Qui est soupçonné du sabotage du pont ferroviaire de Daugavpils ?",
    "Where were Orlan-10 drones seen?",
    "Quel est le mode d'action du groupe GREYFOX ?",
)
PASSWORD = "a long passphrase for the load run"  # every user's, for the benchmark


@dataclass
class Timed:
    """Latencies of one kind of request, and what went wrong."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def rate(self) -> float:
        wall = self.ended - self.started
        return len(self.seconds) / wall if wall > 0 else 0.0

    def line(self, label: str) -> str:
        if not self.seconds:
            return f"{label:<44} no requests"
        return (
            f"{label:<44} {len(self.seconds):5d} req {self.rate():8.1f} req/s   "
            f"p50 {percentile(self.seconds, 50) * 1000:8.1f} ms   "
            f"p95 {percentile(self.seconds, 95) * 1000:8.1f} ms   errors {len(self.errors)}"
        )


def percentile(values: Sequence[float], rank: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(-(-rank * len(ordered) // 100)) - 1))
    return ordered[index]


# ------------------------------------------------------------------ the workspace
def build_workspace(home: Path, users: int) -> tuple[list[Path], list[str]]:
    """The scenario's first half stored, users with passwords; the second half to upload."""
    files = sorted(iter_input_files([SCENARIO]))
    files = [path for path in files if path.name != "README.md"]
    stored, to_upload = files[0::2], files[1::2]
    name, level, nation, caveats = OPERATOR
    names = [f"user{n:02d}" for n in range(1, users + 1)]
    with Workspace.create(home, name, parse_clearance(level, nation, caveats)) as workspace:
        operator = workspace.operator()
        for number, user in enumerate(names):
            level, nation, caveats = CLEARANCES[number % len(CLEARANCES)]
            workspace.add_user(user, parse_clearance(level, nation, caveats), actor=name)
        for user in [name, *names]:
            one_time = workspace.accounts.set_password(operator, user)
            workspace.accounts.change_password(workspace.store.get_user(user), one_time, PASSWORD)
        report = workspace.ingest(operator, stored, source="exercise", marking=parse_marking(FLOOR))
        if report.failed:
            sys.exit(f"the first half of the scenario did not ingest: {report.failed[:3]}")
    return to_upload, names


def documents_in(home: Path) -> int:
    with Workspace.open(home) as workspace:
        return sum(1 for _ in workspace.store.documents_for_maintenance())


# --------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`guetteur serve` on loopback, extractive products (no language model)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_LLM")}
    command = [sys.executable, "-m", "guetteur", "--home", str(home), "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}); see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    sys.exit("the server did not answer within 120 s")


# ----------------------------------------------------------------------- clients
async def login(client: httpx.AsyncClient, name: str, timed: Timed) -> int:
    """Log in; returns how many 429s (the per-address limit on logins) were waited out."""
    waited = 0
    body = {"username": name, "password": PASSWORD}
    while True:
        started = time.perf_counter()
        answer = await client.post("/api/login", json=body)
        if answer.status_code == 429:
            waited += 1
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
            continue
        timed.add(time.perf_counter() - started)
        if answer.status_code != 200:
            timed.errors.append(f"login {name}: {answer.status_code} {answer.text[:200]}")
            return waited
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return waited


@dataclass
class Load:
    searches: Timed = field(default_factory=Timed)
    asks: Timed = field(default_factory=Timed)
    uploads: Timed = field(default_factory=Timed)
    ingested: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)
    ingest_window: tuple[float, float] = (0.0, 0.0)
    during_ingest: int = 0
    plan: list[tuple[int, str]] = field(default_factory=list)  # (user index, query) searched
    replayed: Timed = field(default_factory=Timed)  # the same searches, without the ingest


async def timed_call(
    timed: Timed, label: str, request: Awaitable[httpx.Response]
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        answer = await request
    except httpx.HTTPError as error:
        timed.errors.append(f"{label}: {type(error).__name__}: {error}")
        return None
    timed.add(time.perf_counter() - started)
    if not answer.is_success:
        timed.errors.append(f"{label}: {answer.status_code} {answer.text[:200]}")
    return answer


async def analyst(
    number: int,
    client: httpx.AsyncClient,
    load: Load,
    searches: int,
    asks: int,
    deadline: float,
    moments: list[float],
) -> None:
    chooser = random.Random(number)
    kinds = ["search"] * searches + ["ask"] * asks
    chooser.shuffle(kinds)
    for kind in kinds:
        if time.perf_counter() > deadline:
            return
        moments.append(time.perf_counter())
        if kind == "search":
            query = chooser.choice(QUERIES)
            load.plan.append((number, query))
            get = client.get("/api/search", params={"q": query, "limit": 10})
            await timed_call(load.searches, f"search {query!r}", get)
        else:
            question = chooser.choice(QUESTIONS)
            post = client.post("/api/ask", json={"question": question})
            await timed_call(load.asks, f"ask {question!r}", post)


async def uploader(client: httpx.AsyncClient, files: list[Path], batch: int, load: Load) -> None:
    started = time.perf_counter()
    for start in range(0, len(files), batch):
        chosen = files[start : start + batch]
        parts = [("files", (path.name, path.read_bytes())) for path in chosen]
        post = client.post(
            "/api/ingest",
            files=parts,
            data={"source": "exercise", "marking": FLOOR, "background": "false"},
        )
        answer = await timed_call(load.uploads, f"ingest {[p.name for p in chosen]}", post)
        if answer is not None and answer.is_success:
            report = answer.json()
            load.ingested += report["ingested"]
            load.duplicates += report["duplicates"]
            load.failed += [f"{f['path']}: {f['error']}" for f in report["failed"]]
    load.ingest_window = (started, time.perf_counter())


async def under_load(
    url: str, names: list[str], to_upload: list[Path], args: argparse.Namespace
) -> tuple[Load, Timed, int, list[httpx.AsyncClient]]:
    logins = Timed()
    clients = [httpx.AsyncClient(base_url=url, timeout=600) for _ in names]
    operator = httpx.AsyncClient(base_url=url, timeout=600)
    logins.started = time.perf_counter()
    waited = await asyncio.gather(
        *(login(c, n, logins) for c, n in zip(clients, names, strict=True)),
        login(operator, OPERATOR[0], logins),
    )
    logins.ended = time.perf_counter()
    # Warm-up, not counted: the server loads its sentence encoder on the first search.
    await operator.get("/api/search", params={"q": "warm-up"})
    await operator.post("/api/ask", json={"question": "warm-up?"})
    load = Load()
    moments: list[float] = []
    started = time.perf_counter()
    deadline = started + args.seconds
    for timed in (load.searches, load.asks, load.uploads):
        timed.started = started
    await asyncio.gather(
        uploader(operator, to_upload, args.batch, load),
        *(
            analyst(n, c, load, args.searches, args.asks, deadline, moments)
            for n, c in enumerate(clients)
        ),
    )
    ended = time.perf_counter()
    for timed in (load.searches, load.asks):
        timed.ended = ended
    load.uploads.ended = load.ingest_window[1]
    low, high = load.ingest_window
    load.during_ingest = sum(1 for moment in moments if low <= moment <= high)
    await operator.aclose()
    return load, logins, sum(waited), clients


async def replay(clients: list[httpx.AsyncClient], plan: list[tuple[int, str]]) -> Timed:
    """The same searches, each user's in order, all users at once, nothing else running."""
    timed = Timed()
    by_user: dict[int, list[str]] = {}
    for number, query in plan:
        by_user.setdefault(number, []).append(query)

    async def one_user(number: int, queries: list[str]) -> None:
        for query in queries:
            get = clients[number].get("/api/search", params={"q": query, "limit": 10})
            await timed_call(timed, f"search {query!r}", get)

    timed.started = time.perf_counter()
    await asyncio.gather(*(one_user(n, q) for n, q in by_user.items()))
    timed.ended = time.perf_counter()
    return timed


# ------------------------------------------------------------- the Python API
def python_sequential(home: Path, names: list[str], plan: list[tuple[int, str]]) -> Timed:
    timed = Timed()
    with Workspace.open(home) as workspace:
        users = [workspace.store.get_user(name) for name in names]
        workspace.search(users[0], "warm-up", 10)  # the encoder, loaded once
        timed.started = time.perf_counter()
        for number, query in plan:
            started = time.perf_counter()
            workspace.search(users[number], query, 10)
            timed.add(time.perf_counter() - started)
        timed.ended = time.perf_counter()
    return timed


def python_concurrent(home: Path, names: list[str], plan: list[tuple[int, str]]) -> Timed:
    """Each user's searches on a thread of their own, with its own connection."""
    timed = Timed()
    lock = threading.Lock()
    with Workspace.open(home) as workspace:
        workspace.search(workspace.operator(), "warm-up", 10)
        by_user: dict[int, list[str]] = {}
        for number, query in plan:
            by_user.setdefault(number, []).append(query)
        siblings = {number: workspace.sibling() for number in by_user}

        def one_user(number: int) -> None:
            sibling = siblings[number]
            user: User = sibling.store.get_user(names[number])
            for query in by_user[number]:
                started = time.perf_counter()
                sibling.search(user, query, 10)
                with lock:
                    timed.add(time.perf_counter() - started)

        timed.started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, len(by_user))) as pool:
            list(pool.map(one_user, by_user))
        timed.ended = time.perf_counter()
        for sibling in siblings.values():
            sibling.store.close()
    return timed


# ---------------------------------------------------------------------- the run
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument("--searches", type=int, default=10, help="searches per user")
    parser.add_argument("--asks", type=int, default=2, help="questions per user")
    parser.add_argument("--seconds", type=float, default=300, help="bound on the load phase")
    parser.add_argument("--batch", type=int, default=4, help="files per ingest upload")
    args = parser.parse_args()
    whole = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="guetteur-api-load-"))
    try:
        failed = run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"whole run: {time.perf_counter() - whole:.0f} s; load average {os.getloadavg()[0]:.1f}")
    if failed:
        sys.exit(1)


def say(line: str) -> None:
    print(line, flush=True)  # each phase as it ends: a run takes minutes


def run(args: argparse.Namespace, scratch: Path) -> bool:
    """The whole measurement; True when a request failed or a write was lost."""
    home = scratch / "ws"
    started = time.perf_counter()
    to_upload, names = build_workspace(home, args.users)
    before = documents_in(home)
    n = len(names)
    say(f"workspace: {before} documents stored, {n} users, {len(to_upload)} files to upload "
        f"during the load; built in {time.perf_counter() - started:.1f} s")  # fmt: skip
    port = free_port()
    server = start_server(home, port, scratch / "server.log")
    url = f"http://127.0.0.1:{port}"
    say(f"server: guetteur serve on {url}; load average {os.getloadavg()[0]:.1f}")
    try:

        async def over_http() -> tuple[Load, list[str]]:
            load, logins, waited, clients = await under_load(url, names, to_upload, args)
            say(logins.line(f"logins ({n + 1} at once)") + f"   429s waited out {waited}")
            say(f"load: {n} users x ({args.searches} searches + {args.asks} asks) while "
                f"{len(to_upload)} files upload in batches of {args.batch}")  # fmt: skip
            say(load.searches.line("  search, during the ingest"))
            say(load.asks.line("  ask (extractive), during the ingest"))
            say(load.uploads.line("  ingest uploads (one after the other)"))
            total = len(load.searches.seconds) + len(load.asks.seconds)
            wall = load.searches.ended - load.searches.started
            say(f"  all user requests: {total} in {wall:.1f} s = {total / wall:.1f} req/s; "
                f"{load.during_ingest} started while the ingest ran "
                f"({load.ingest_window[1] - load.ingest_window[0]:.1f} s)")  # fmt: skip
            again = await replay(clients, load.plan)
            say(again.line(f"search over HTTP, same searches, {n} users, no ingest"))
            load.replayed = again
            for client in clients:
                await client.aclose()
            errors = [*logins.errors, *load.searches.errors, *load.asks.errors,
                      *load.uploads.errors, *again.errors]  # fmt: skip
            return load, errors

        load, errors = asyncio.run(over_http())
    finally:
        server.terminate()
        server.wait(timeout=60)
    after = documents_in(home)
    sequential = python_sequential(home, names, load.plan)
    say(sequential.line("search, Python API, one after the other"))
    concurrent = python_concurrent(home, names, load.plan)
    say(concurrent.line(f"search, Python API, {n} threads"))
    landed = after - before
    say("")
    say(f"errors: {len(errors)}")
    for error in errors[:10]:
        say(f"  {error}")
    say(f"writes: uploads answered {load.ingested} documents ingested, "
        f"{load.duplicates} duplicates, {len(load.failed)} files failed; "
        f"the store holds {landed} more documents ({before} -> {after})")  # fmt: skip
    for failure in load.failed[:5]:
        say(f"  failed: {failure}")
    lost = landed != load.ingested
    say("every write landed" if not lost else "WRITES LOST OR UNACCOUNTED FOR")
    say("")

    def p50(values: Sequence[float]) -> float:
        return percentile(values, 50)

    again = load.replayed
    say(f"ratio server throughput / Python API throughput, {n} at once:   "
        f"{again.rate() / concurrent.rate():.2f}x")  # fmt: skip
    say(f"ratio server p50 / Python API p50, {n} at once:                 "
        f"{p50(again.seconds) / p50(concurrent.seconds):.2f}x")  # fmt: skip
    say(f"ratio server p50 ({n} at once) / Python API p50 (one at a time): "
        f"{p50(again.seconds) / p50(sequential.seconds):.2f}x")  # fmt: skip
    say(f"ratio search p50 during the ingest / without it (server):      "
        f"{p50(load.searches.seconds) / p50(again.seconds):.2f}x")  # fmt: skip
    return bool(errors) or lost


if __name__ == "__main__":
    main()
