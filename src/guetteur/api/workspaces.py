"""One workspace connection per request thread, and the locks that order work.

FastAPI runs plain `def` endpoints on a thread pool. Each thread gets its own
SQLite connection (a `Workspace.sibling`), so WAL serves reads side by side
while one write runs; the models are loaded once per process. Writes that run
the enrichment pipeline, and calls to the language model, take `heavy`:
spaCy pipelines and llama.cpp contexts are not shared between threads.
"""

from __future__ import annotations

import threading
from pathlib import Path

from guetteur.workspace import Workspace

__all__ = ["Workspaces"]


class Workspaces:
    """The server's workspace, opened once per thread."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.primary = Workspace.open(home)
        self.heavy = threading.Lock()
        self._local = threading.local()
        self._opened: list[Workspace] = []
        self._opened_lock = threading.Lock()

    def current(self) -> Workspace:
        """This thread's workspace."""
        workspace: Workspace | None = getattr(self._local, "workspace", None)
        if workspace is None:
            workspace = self.primary.sibling()
            self._local.workspace = workspace
            with self._opened_lock:
                self._opened.append(workspace)
        return workspace

    def close(self) -> None:
        with self._opened_lock:
            for workspace in self._opened:
                workspace.store.close()
            self._opened.clear()
        self.primary.close()
