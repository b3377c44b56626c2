"""Shared fixtures: real workspaces on disk, real users of several nations."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from guetteur.enrich.places import Gazetteer
from guetteur.pipeline.enrichment import GAZETTEER_FILE
from guetteur.security.markings import parse_clearance
from guetteur.workspace import Workspace

# The noninterference twin suites' fixtures (pipeline, scratch folder) live in a
# module of their own; the three modules that compare twins (CLI, API,
# PostgreSQL) share them from there.
pytest_plugins = ["noninterference_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "examples" / "scenario"
SHARED_DATA = REPO.parent / "shared" / "data"

USERS = {
    "ops": ("NATO SECRET", "FRA", ("CRYPTO",)),
    "lux_nr": ("NATO RESTRICTED", "LUX", ()),
    "deu_nc": ("NATO CONFIDENTIAL", "DEU", ()),
}


@pytest.fixture(scope="session")
def built_gazetteer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real gazetteer index, built once per test session (it takes seconds)."""
    path = tmp_path_factory.mktemp("gazetteer") / GAZETTEER_FILE
    Gazetteer.open(path).close()
    return path


def seed_gazetteer(home: Path, built: Path) -> None:
    """Give a workspace-to-be the session's gazetteer instead of building its own."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, home / GAZETTEER_FILE)


def new_workspace(home: Path, built: Path) -> Workspace:
    """A workspace with ops (default, FRA NS + CRYPTO), lux_nr (LUX NR), deu_nc (DEU NC)."""
    seed_gazetteer(home, built)
    (name, (level, nation, caveats)), *others = USERS.items()
    ws = Workspace.create(home, name, parse_clearance(level, nation, caveats))
    for other, (level, nation, caveats) in others:
        ws.add_user(other, parse_clearance(level, nation, caveats), actor=name)
    return ws


@pytest.fixture
def workspace(tmp_path: Path, built_gazetteer: Path) -> Iterator[Workspace]:
    """A fresh workspace with the users of USERS."""
    ws = new_workspace(tmp_path / "ws", built_gazetteer)
    yield ws
    ws.close()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
