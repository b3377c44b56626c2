"""A whole workspace on PostgreSQL: `guetteur init --store`, `guetteur migrate --to`
from SQLite (ids, records and the audit chain kept), and `guetteur serve`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from guetteur.cli import main
from guetteur.security.markings import parse_clearance
from guetteur.store.factory import DATABASE_NAME, STORE_CONFIG, store_url
from guetteur.store.postgres import PostgresStore
from guetteur.workspace import Workspace

from .conftest import Postgres
from api.server import LiveServer, login
from conftest import new_workspace, seed_gazetteer, write

REPORTS = {
    "nr.txt": "NATO RESTRICTED\nLe convoi de camions-citernes a franchi le pont de Narva. "
    "Les équipements BTR-82A sont au point 35VNF6763382659.\nNATO RESTRICTED",
    "ns.txt": "NATO SECRET\nSource ORCHID reports the brigade commander will inspect the "
    "Narva bridge convoy.\nNATO SECRET",
}


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guetteur", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_init_on_postgresql_names_the_database_in_a_private_file(
    tmp_path: Path, postgres: Postgres, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    url = postgres.new_database(template=None)
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "init", "--user", "ops", "--clearance", "NATO SECRET",
         "--nationality", "FRA", "--store", url],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "on PostgreSQL" in result.output
    assert not (home / DATABASE_NAME).exists()
    assert stat.S_IMODE(os.stat(home / STORE_CONFIG).st_mode) == 0o600
    assert store_url(home) == url
    with Workspace.open(home) as workspace:
        assert isinstance(workspace.store, PostgresStore)
        assert workspace.operator().name == "ops"
        assert workspace.verify_audit()[0] >= 1
    again = CliRunner().invoke(
        main,
        ["--home", str(tmp_path / "other"), "init", "--user", "x", "--clearance", "NATO SECRET",
         "--nationality", "FRA", "--store", url],
    )  # fmt: skip
    assert again.exit_code == 1
    assert "already holds a guetteur workspace" in again.output
    assert not (tmp_path / "other" / STORE_CONFIG).exists()


def test_migrate_copies_a_workspace_whole_and_its_chain_still_verifies(
    tmp_path: Path, postgres: Postgres, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    workspace = new_workspace(home, built_gazetteer)
    operator = workspace.operator()
    paths = [write(tmp_path / "in", name, text) for name, text in REPORTS.items()]
    assert workspace.ingest(operator, paths, source="reports").ingested == 2
    lux = workspace.store.get_user("lux_nr")
    before = {
        "search": [(r.id, r.title) for r in workspace.search(lux, "convoi équipements", 10)],
        "entities": sorted((e.id, e.name) for e in workspace.store.list_entities(lux.clearance)),
        "events": [e.id for e in workspace.store.list_events(operator.clearance)],
        "users": workspace.store.list_users(),
        "audit": [r.hash for r in workspace.store.audit_rows()],
    }
    workspace.close()
    url = postgres.new_database(template=None)
    result = run(home, "migrate", "--to", url)
    assert result.returncode == 0, result.stderr
    assert "audit chain verified" in result.stdout
    assert (home / f"{DATABASE_NAME}.before-postgresql").exists()
    with Workspace.open(home) as moved:
        assert isinstance(moved.store, PostgresStore)
        lux = moved.store.get_user("lux_nr")
        found = [(r.id, r.title) for r in moved.search(lux, "convoi équipements", 10)]
        assert found == before["search"] and found
        assert (
            sorted((e.id, e.name) for e in moved.store.list_entities(lux.clearance))
            == (before["entities"])
        )
        assert [e.id for e in moved.store.list_events(operator.clearance)] == before["events"]
        assert moved.store.list_users() == before["users"]
        hashes = [r.hash for r in moved.store.audit_rows()]
        assert hashes[: len(before["audit"])] == before["audit"]
        # The copy's own record follows the copied chain (the search above came after).
        assert [r.action for r in moved.store.audit_rows()][len(hashes) - 2 :] == [
            "store.migrate",
            "search",
        ]
        assert len(hashes) == len(before["audit"]) + 2
    verified = run(home, "audit", "verify")
    assert verified.returncode == 0, verified.stderr


def test_serve_runs_on_postgresql(
    tmp_path: Path, postgres: Postgres, built_gazetteer: Path
) -> None:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    url = postgres.new_database()
    ops = parse_clearance("NATO SECRET", "FRA")
    workspace = Workspace.create(home, "ops", ops, store=url)
    workspace.add_user("lux_nr", parse_clearance("NATO RESTRICTED", "LUX"), actor="ops")
    for name, password in (("ops", "correct horse battery staple"), ("lux_nr", "Lux-2026-pass")):
        one_time = workspace.accounts.set_password(workspace.operator(), name)
        workspace.accounts.change_password(workspace.store.get_user(name), one_time, password)
    workspace.close()
    with LiveServer(home) as server, server.client() as client, server.client() as lux:
        login(client, "ops", "correct horse battery staple")
        for name, text in REPORTS.items():
            answer = client.post(
                "/api/ingest", files=[("files", (name, text.encode(), "text/plain"))]
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["ingested"] == 1
        found = client.get("/api/search", params={"q": "Narva bridge convoy"}).json()["results"]
        assert {r["marking"] for r in found} == {"NATO RESTRICTED", "NATO SECRET"}
        login(lux, "lux_nr", "Lux-2026-pass")
        seen = lux.get("/api/search", params={"q": "Narva bridge convoy"}).json()["results"]
        assert [r["marking"] for r in seen] == ["NATO RESTRICTED"]
        designator = lux.get("/api/search", params={"q": "BTR-82A"}).json()["results"]
        assert designator and designator[0]["marking"] == "NATO RESTRICTED"


@pytest.fixture(autouse=True)
def _no_home_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUETTEUR_HOME", raising=False)
