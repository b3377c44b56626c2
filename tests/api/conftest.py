"""A served workspace: users of three nations with passwords, reports at three markings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from guetteur.workspace import Workspace

from api.server import LiveServer, login
from conftest import new_workspace, write

PASSWORDS = {
    "ops": "correct horse battery staple",
    "lux_nr": "Luxembourg-restricted-2026",
    "deu_nc": "Deutschland-confidential-26",
}

REPORTS = {
    "nu.txt": "NATO UNCLASSIFIED\nThe 3rd Mechanised Brigade moved a convoy of BTR-82A "
    "near Narva on 2026-11-20 at 0600Z. Narva bridge is open.\nNATO UNCLASSIFIED",
    "nr.txt": "NATO RESTRICTED\nA checkpoint was set up near Tartu. Convoy of fuel trucks "
    "observed heading to Narva.\nNATO RESTRICTED",
    "ns.txt": "NATO SECRET\nSource ORCHID reports the brigade commander Yevgeny Prigozhinov "
    "will inspect the Narva bridge convoy.\nNATO SECRET",
}


def serve_ready(home: Path, built_gazetteer: Path) -> Workspace:
    """A workspace with USERS, their passwords already changed, and REPORTS ingested."""
    workspace = new_workspace(home, built_gazetteer)
    operator = workspace.operator()
    for name, password in PASSWORDS.items():
        one_time = workspace.accounts.set_password(operator, name)
        workspace.accounts.change_password(workspace.store.get_user(name), one_time, password)
    folder = home.parent / "reports"
    paths = [write(folder, name, text) for name, text in REPORTS.items()]
    report = workspace.ingest(operator, paths, source="reports")
    assert report.ingested == 3, report.failed
    return workspace


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("served") / "ws"
    serve_ready(home, built_gazetteer).close()
    with LiveServer(home) as server:
        yield server


@pytest.fixture
def as_user(served: LiveServer) -> Iterator[dict[str, httpx.Client]]:
    """One logged-in client per user (sessions, with their CSRF tokens)."""
    clients = {}
    for name, password in PASSWORDS.items():
        client = served.client()
        login(client, name, password)
        clients[name] = client
    yield clients
    for client in clients.values():
        client.close()
