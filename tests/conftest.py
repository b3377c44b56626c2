"""Shared fixtures: real workspaces on disk, real users of several nations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guetteur.security.markings import parse_clearance
from guetteur.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "examples" / "scenario"
SHARED_DATA = REPO.parent / "shared" / "data"

USERS = {
    "ops": ("NATO SECRET", "FRA", ("CRYPTO",)),
    "lux_nr": ("NATO RESTRICTED", "LUX", ()),
    "deu_nc": ("NATO CONFIDENTIAL", "DEU", ()),
}


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace with ops (default, FRA NS + CRYPTO), lux_nr (LUX NR), deu_nc (DEU NC)."""
    (name, (level, nation, caveats)), *others = USERS.items()
    ws = Workspace.create(tmp_path / "ws", name, parse_clearance(level, nation, caveats))
    for other, (level, nation, caveats) in others:
        ws.add_user(other, parse_clearance(level, nation, caveats), actor=name)
    yield ws
    ws.close()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
