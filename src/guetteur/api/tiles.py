"""Map tiles from the user's own MBTiles file, for detail over the offline basemap.

The web map draws coastlines and borders from data bundled with it; for
detail (roads, terrain, imagery) a user copies any MBTiles file to the
workspace as `basemap.mbtiles`. `GET /api/tiles` says whether one is there and
describes it (its MBTiles metadata: name, format, zoom levels, bounds);
`GET /api/tiles/{z}/{x}/{y}` serves one tile (XYZ numbering, as web maps ask
for it; MBTiles stores rows in TMS order, flipped). The file is opened
read-only: guetteur never writes to it. Tiles are map data, the same for
every user, but like everything else they answer only to an authenticated
caller.
"""

from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlean
from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from starlette.responses import JSONResponse, Response

from guetteur._exceptions import NotFoundError
from guetteur.api.auth import caller, workspace
from guetteur.workspace import Workspace

__all__ = ["MBTILES_NAME", "MBTiles", "router"]

MBTILES_NAME = "basemap.mbtiles"
MAX_ZOOM = 30

_MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/x-protobuf",
}
_MAGIC = (
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"RIFF", "webp"),
)
_GZIP = b"\x1f\x8b"

router = APIRouter(prefix="/api/tiles", tags=["map"], dependencies=[Depends(caller)])


class MBTilesError(NotFoundError):
    """The workspace's basemap.mbtiles cannot be read as MBTiles (answered as 404)."""


@dataclass(frozen=True)
class MBTiles:
    """An MBTiles file (a SQLite database with `metadata` and `tiles`), read-only."""

    path: Path
    metadata: dict[str, str]

    @classmethod
    def open(cls, path: Path) -> MBTiles:
        """Read `path`'s metadata; MBTilesError naming the file when it is no MBTiles."""
        try:
            with closing(_connect(path)) as connection:
                tables = {
                    row[0]
                    for row in connection.execute(
                        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                    )
                }
                if "tiles" not in tables:
                    raise MBTilesError(f"{MBTILES_NAME}: not an MBTiles file (no tiles table)")
                metadata: dict[str, str] = {}
                if "metadata" in tables:
                    for name, value in connection.execute("SELECT name, value FROM metadata"):
                        if isinstance(name, str) and isinstance(value, str):
                            metadata[name] = value
        except sqlean.DatabaseError as error:
            raise MBTilesError(f"{MBTILES_NAME}: not an MBTiles file ({error})") from None
        return cls(path, metadata)

    @property
    def format(self) -> str | None:
        found = self.metadata.get("format", "").strip().lower()
        return found or None

    def describe(self) -> dict[str, Any]:
        """What the map needs to lay the tiles: name, format, zoom range, bounds."""
        return {
            "configured": True,
            "name": self.metadata.get("name") or None,
            "format": self.format,
            "minzoom": _integer(self.metadata.get("minzoom")),
            "maxzoom": _integer(self.metadata.get("maxzoom")),
            "bounds": _bounds(self.metadata.get("bounds")),
            "attribution": self.metadata.get("attribution") or None,
        }

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ (z, x, y), or None where the file has none."""
        row = (1 << z) - 1 - y  # MBTiles rows count from the south (TMS)
        try:
            with closing(_connect(self.path)) as connection:
                found = connection.execute(
                    "SELECT tile_data FROM tiles"
                    " WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                    (z, x, row),
                ).fetchone()
        except sqlean.DatabaseError as error:
            raise MBTilesError(f"{MBTILES_NAME}: cannot be read ({error})") from None
        if found is None or found[0] is None:
            return None
        return bytes(found[0])

    def media_type(self, data: bytes) -> tuple[str, dict[str, str]]:
        """The tile's media type (and Content-Encoding for gzipped vector tiles)."""
        kind = self.format
        if kind is None:
            kind = next((name for magic, name in _MAGIC if data.startswith(magic)), "pbf")
        headers = {"Content-Encoding": "gzip"} if kind == "pbf" and data.startswith(_GZIP) else {}
        return _MEDIA_TYPES.get(kind, "application/octet-stream"), headers


def _connect(path: Path) -> Any:
    # Read-only through a URI: a user's file is never written to, and never
    # switched to WAL (as the workspace's own connections are).
    return sqlean.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _bounds(value: str | None) -> list[float] | None:
    try:
        parts = [float(p) for p in (value or "").split(",")]
    except ValueError:
        return None
    return parts if len(parts) == 4 else None


# One description per file version: a tile request reads the format without
# reading the metadata table again, and a replaced file is read anew.
_opened: dict[tuple[str, int, int], MBTiles] = {}
_opened_lock = threading.Lock()


def workspace_tiles(home: Path) -> MBTiles | None:
    """The workspace's MBTiles, None when there is none."""
    path = home / MBTILES_NAME
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _opened_lock:
        found = _opened.get(key)
    if found is None:
        found = MBTiles.open(path)
        with _opened_lock:
            _opened.clear()
            _opened[key] = found
    return found


@router.get("")
def describe(ws: Workspace = Depends(workspace)) -> JSONResponse:
    """Whether the workspace has an MBTiles basemap, and what it holds."""
    try:
        tiles = workspace_tiles(ws.home)
    except MBTilesError as error:
        return JSONResponse({"configured": False, "detail": str(error)})
    if tiles is None:
        return JSONResponse({"configured": False})
    return JSONResponse(tiles.describe())


@router.get("/{z}/{x}/{y}")
def tile(
    z: int = PathParam(..., ge=0, le=MAX_ZOOM),
    x: int = PathParam(..., ge=0),
    y: int = PathParam(..., ge=0),
    ws: Workspace = Depends(workspace),
) -> Response:
    """One tile of the workspace's MBTiles (XYZ numbering); 404 when there is none."""
    if x >= 1 << z or y >= 1 << z:
        last = (1 << z) - 1
        raise NotFoundError(f"no tile {z}/{x}/{y}: x and y run from 0 to {last} at zoom {z}")
    tiles = workspace_tiles(ws.home)
    if tiles is None:
        raise NotFoundError(f"no MBTiles basemap: copy one to the workspace as {MBTILES_NAME}")
    data = tiles.tile(z, x, y)
    if data is None:
        raise NotFoundError(f"no tile {z}/{x}/{y} in {MBTILES_NAME}")
    media_type, headers = tiles.media_type(data)
    return Response(data, media_type=media_type, headers=headers)
