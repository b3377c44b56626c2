"""The web application: its static files and its pages' stable URLs.

The application is built from web/ (esbuild, `make web`) into
src/guetteur/web/static/, which ships inside the package. Every page's URL
(/login, /, /documents/{id}, /ask, ...) answers with the same shell,
index.html, and the script draws the page. None of this is behind
authentication, because none of it holds data: every datum the pages show
comes from /api, under the user's session, with its CSRF token. The
markings vocabulary the pages need to combine and print markings
(/static/markings.json) is built here from guetteur's own tables, so that the
browser's banners print what Python's `high_water_mark` prints. Security
headers (CSP without inline script or style, frame-ancestors 'none', ...)
come from guard.py, like every other response.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, JSONResponse, Response

import guetteur.web
from guetteur.api.problems import Problem
from guetteur.model import Authority, Level, Marking
from guetteur.model._countries import GROUPS
from guetteur.model.marking import LABELS, default_releasability
from guetteur.products.render import portion

__all__ = ["PAGES", "STATIC", "markings_vocabulary", "router"]

router = APIRouter(include_in_schema=False)

STATIC = Path(guetteur.web.__file__).resolve().parent / "static"

# The stable URLs of the application's pages: each answers with index.html.
PAGES = (
    "/",
    "/login",
    "/password",
    "/documents/{doc_id}",
    "/ask",
    "/brief",
    "/watch",
    "/incidents",
    "/incidents/{incident_id}",
    "/entities/{entity_id}",
    "/map",
    "/admin",
)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
# Rebuilt files take effect at once: the browser asks again, and gets 304 if unchanged.
_REVALIDATE = {"Cache-Control": "no-cache"}
_NOT_BUILT = (
    "the web application is not built: run `make web` "
    "(or `cd web && npm ci && npm run build`) in guetteur's source tree"
)


def _file(request: Request, path: Path) -> Response:
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {**_REVALIDATE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    media_type = _TYPES.get(path.suffix, "text/plain; charset=utf-8")
    return FileResponse(path, media_type=media_type, headers=headers)


def shell(request: Request) -> Response:
    """The application's page shell; the script draws the page of this URL."""
    index = STATIC / "index.html"
    if not index.is_file():
        raise Problem(503, _NOT_BUILT)
    return _file(request, index)


for _page in PAGES:
    router.add_api_route(_page, shell, methods=["GET", "HEAD"], include_in_schema=False)


def markings_vocabulary() -> dict[str, Any]:
    """What the browser needs to parse, combine and print canonical markings."""
    labels: dict[str, dict[str, str]] = {}
    portions: dict[str, dict[str, str]] = {}
    for authority in Authority:
        labels[authority.name], portions[authority.name] = {}, {}
        default = default_releasability(authority)
        for level in Level:
            if authority is Authority.PLAIN and level is Level.SECRET:
                continue  # "SECRET" is the French national label (model/marking.py)
            labels[authority.name][level.name] = LABELS[authority][level]
            # A plain label above UNCLASSIFIED always names its nations: any will do here.
            nations = default if default is not None or level is Level.UNCLASSIFIED else {"FRA"}
            marked = Marking(level, authority, None if nations is None else frozenset(nations))
            portions[authority.name][level.name] = portion(marked)[1:-1].split(" ")[0]
    return {
        "levels": [level.name for level in sorted(Level)],
        "authorities": [authority.name for authority in sorted(Authority)],
        "labels": labels,
        "portions": portions,
        "groups": [[name, sorted(members)] for name, members in GROUPS.items()],
        "defaults": {
            authority.name: None if (nations := default_releasability(authority)) is None
            else sorted(nations)
            for authority in Authority
        },
    }  # fmt: skip


_VOCABULARY = markings_vocabulary()


@router.get("/static/markings.json")
def markings_json() -> Response:
    """The markings vocabulary (labels, portion marks, groups of nations)."""
    return JSONResponse(_VOCABULARY, headers=_REVALIDATE)


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static(path: str, request: Request) -> Response:
    """A built file of the application; nothing outside the static folder."""
    if not STATIC.is_dir():
        raise Problem(503, _NOT_BUILT)
    root = STATIC.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Problem(404, f"no file {path!r} in the web application")
    return _file(request, target)
