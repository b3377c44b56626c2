"""The HTTP application: FastAPI, every capability of the CLI, under each
user's own authenticated identity.

`create_app` assembles the routers (session, reads, writes, admin, jobs,
TAXII), the error handlers (problems.py) and the guard (limits and security
headers). Endpoints are plain functions run on the thread pool, each on its
thread's own connection to the workspace (workspaces.py); they call
`workspace.py` exactly as the CLI does, and shape their bodies with
`views.py`, so a body is the CLI's `--json` output for the same query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from guetteur import __version__
from guetteur.api import (
    admin,
    jobs,
    logistics,
    records,
    session,
    taxii,
    tiles,
    tracks,
    web,
    writes,
)
from guetteur.api.auth import caller
from guetteur.api.guard import Guard, Limits
from guetteur.api.problems import install_problem_handlers
from guetteur.api.workspaces import Workspaces

__all__ = ["create_app"]


def create_app(home: Path, *, tls: bool = False, limits: Limits | None = None) -> FastAPI:
    """The application serving the workspace at `home`."""
    workspaces = Workspaces(home)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.jobs.shutdown()
        workspaces.close()

    app = FastAPI(
        title="guetteur",
        version=__version__,
        summary="Markings-aware intelligence fusion: the HTTP API",
        # Served behind authentication below; no documentation UI (it would
        # load scripts from a CDN, and nothing here is fetched from outside).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.workspaces = workspaces
    app.state.jobs = jobs.Jobs(workspaces)
    install_problem_handlers(app)
    for module in (session, records, tracks, logistics, writes, admin, jobs, taxii, tiles, web):
        app.include_router(module.router)

    @app.get("/api/openapi.json", tags=["session"], dependencies=[Depends(caller)])
    def openapi() -> dict[str, Any]:
        """This API's OpenAPI description (authenticated, like everything else)."""
        return app.openapi()

    app.add_middleware(Guard, limits=limits or Limits(), tls=tls)
    return app
