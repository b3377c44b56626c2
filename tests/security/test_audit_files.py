"""The workspace's files are the operator's alone, whatever the umask (finding 12)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from guetteur.cli import main
from guetteur.pipeline.enrichment import GAZETTEER_FILE
from guetteur.security.markings import parse_clearance
from guetteur.workspace import DATABASE_NAME, Workspace

from conftest import seed_gazetteer


def new_workspace(home: Path) -> Workspace:
    return Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA", ()))


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_a_new_workspace_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "ws"
    with new_workspace(home) as workspace:
        workspace.store.audit("ops", "test", {})  # a write: the -wal and -shm exist now
        wal, shm = home / f"{DATABASE_NAME}-wal", home / f"{DATABASE_NAME}-shm"
        assert wal.exists() and shm.exists()
        assert {name.name: mode(name) for name in (wal, shm)} == {
            wal.name: 0o600,
            shm.name: 0o600,
        }
    assert mode(home) == 0o700
    assert mode(home / DATABASE_NAME) == 0o600
    assert mode(home / "cache") == 0o700
    # What the finding was about: another account cannot list nor open anything.
    assert not any(mode(p) & 0o077 for p in [home, *home.rglob("*")])


def test_a_gazetteer_placed_beforehand_becomes_private(
    tmp_path: Path, built_gazetteer: Path, umask: int
) -> None:
    home = tmp_path / "ws"
    seed_gazetteer(home, built_gazetteer)
    (home / GAZETTEER_FILE).chmod(0o644)
    new_workspace(home).close()
    assert mode(home / GAZETTEER_FILE) == 0o600


def test_opening_a_workspace_others_can_read_warns_and_still_works(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    new_workspace(home).close()
    private = CliRunner().invoke(main, ["--home", str(home), "audit", "verify"])
    assert private.exit_code == 0 and private.stderr == ""
    home.chmod(0o755)
    (home / DATABASE_NAME).chmod(0o644)
    exposed = CliRunner().invoke(main, ["--home", str(home), "audit", "verify"])
    assert exposed.exit_code == 0 and "audit chain intact" in exposed.stdout
    assert f"can read the workspace {home}" in exposed.stderr
    assert "0755" in exposed.stderr and f"{DATABASE_NAME} is 0644" in exposed.stderr
    assert f"chmod -R go-rwx {home}" in exposed.stderr


def test_a_folder_closed_to_others_hides_files_whatever_their_modes(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    new_workspace(home).close()
    (home / DATABASE_NAME).chmod(0o644)  # unreachable through a 0700 folder
    done = CliRunner().invoke(main, ["--home", str(home), "audit", "verify"])
    assert done.exit_code == 0 and done.stderr == ""
