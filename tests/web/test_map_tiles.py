"""Bring your own MBTiles: GET /api/tiles describes the workspace's basemap.mbtiles
and GET /api/tiles/{z}/{x}/{y} serves its tiles, read-only, to authenticated users."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import sqlean

from guetteur.api.tiles import MBTILES_NAME

from api.server import LiveServer, login
from conftest import new_workspace

PASSWORD = "a long passphrase for maps"
# Two tiny images that differ: what the map lays over the basemap.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2b5a0e30000000049454e44ae426082"
)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"


def make_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str) -> None:
    """An MBTiles file as tools write it: rows in TMS order (counted from the south)."""
    with closing(sqlean.connect(str(path))) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute(
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
            " tile_data BLOB)"
        )
        db.executemany(
            "INSERT INTO metadata VALUES (?, ?)",
            [
                ("name", "Narva detail"),
                ("format", fmt),
                ("minzoom", "0"),
                ("maxzoom", "2"),
                ("bounds", "27.9,59.2,28.4,59.5"),
            ],
        )
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()],
        )
        db.commit()


@pytest.fixture(scope="module")
def tiles_server(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[tuple[LiveServer, Path]]:
    home = tmp_path_factory.mktemp("tiles") / "ws"
    workspace = new_workspace(home, built_gazetteer)
    one_time = workspace.accounts.set_password(workspace.operator(), "lux_nr")
    workspace.accounts.change_password(workspace.store.get_user("lux_nr"), one_time, PASSWORD)
    workspace.close()
    with LiveServer(home) as server:
        yield server, home


@pytest.fixture
def client(tiles_server: tuple[LiveServer, Path]) -> Iterator[httpx.Client]:
    server, _ = tiles_server
    with server.client() as session:
        login(session, "lux_nr", PASSWORD)
        yield session


def test_without_a_file_none_is_configured_and_tiles_are_404(
    tiles_server: tuple[LiveServer, Path], client: httpx.Client
) -> None:
    _, home = tiles_server
    (home / MBTILES_NAME).unlink(missing_ok=True)
    assert client.get("/api/tiles").json() == {"configured": False}
    answer = client.get("/api/tiles/0/0/0")
    assert answer.status_code == 404
    assert MBTILES_NAME in answer.json()["detail"]
    assert str(home) not in answer.text  # the server's folder is not the client's business


def test_the_file_is_described_and_its_tiles_served_in_xyz_order(
    tiles_server: tuple[LiveServer, Path], client: httpx.Client
) -> None:
    _, home = tiles_server
    path = home / MBTILES_NAME
    path.unlink(missing_ok=True)
    # At zoom 1, XYZ row 0 is the north: TMS row 1 in the file.
    make_mbtiles(path, {(0, 0, 0): PNG, (1, 1, 0): PNG + b"north"}, "png")
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    assert client.get("/api/tiles").json() == {
        "configured": True,
        "name": "Narva detail",
        "format": "png",
        "minzoom": 0,
        "maxzoom": 2,
        "bounds": [27.9, 59.2, 28.4, 59.5],
        "attribution": None,
    }
    north = client.get("/api/tiles/1/1/0")
    assert north.status_code == 200
    assert north.headers["content-type"] == "image/png"
    assert north.content == PNG + b"north"
    assert client.get("/api/tiles/0/0/0").content == PNG
    assert client.get("/api/tiles/1/1/1").status_code == 404  # the south: no tile there
    out_of_range = client.get("/api/tiles/1/2/0")
    assert out_of_range.status_code == 404
    assert "0 to 1" in out_of_range.json()["detail"]
    assert client.get("/api/tiles/31/0/0").status_code == 422
    # Read-only: the user's file is as it was, and not switched to WAL.
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not path.with_name(MBTILES_NAME + "-wal").exists()


def test_a_replaced_file_is_read_anew(
    tiles_server: tuple[LiveServer, Path], client: httpx.Client
) -> None:
    _, home = tiles_server
    path = home / MBTILES_NAME
    path.unlink(missing_ok=True)
    make_mbtiles(path, {(0, 0, 0): PNG}, "png")
    assert client.get("/api/tiles").json()["format"] == "png"
    path.unlink()
    make_mbtiles(path, {(0, 0, 0): JPEG, (2, 3, 3): JPEG}, "jpg")
    assert client.get("/api/tiles").json()["format"] == "jpg"
    answer = client.get("/api/tiles/2/3/3")
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.content == JPEG


def test_a_file_that_is_no_mbtiles_is_named_not_served(
    tiles_server: tuple[LiveServer, Path], client: httpx.Client
) -> None:
    _, home = tiles_server
    path = home / MBTILES_NAME
    path.unlink(missing_ok=True)
    path.write_bytes(b"this is a text file, not SQLite" * 10)
    described = client.get("/api/tiles").json()
    assert described["configured"] is False
    assert described["detail"].startswith(f"{MBTILES_NAME}: not an MBTiles file")
    answer = client.get("/api/tiles/0/0/0")
    assert answer.status_code == 404
    assert "not an MBTiles file" in answer.json()["detail"]
    path.unlink()


def test_tiles_answer_only_to_an_authenticated_caller(
    tiles_server: tuple[LiveServer, Path],
) -> None:
    server, home = tiles_server
    path = home / MBTILES_NAME
    path.unlink(missing_ok=True)
    make_mbtiles(path, {(0, 0, 0): PNG}, "png")
    with server.client() as anonymous:
        assert anonymous.get("/api/tiles").status_code == 401
        answer = anonymous.get("/api/tiles/0/0/0")
        assert answer.status_code == 401
        assert PNG not in answer.content
