"""A pool of workspace connections, one checked out per request, and the locks
that order work.

FastAPI runs plain `def` endpoints and their dependencies on a thread pool,
not always on the same thread, so a connection belongs to a request, not to a
thread: `checkout` hands one out (a `Workspace.sibling`, made when the pool
is empty) and takes it back when the request ends. SQLite (WAL) then serves
reads side by side while one write runs; the models are loaded once per process. Writes that run
the enrichment pipeline, and calls to the language model, take `heavy`:
spaCy pipelines and llama.cpp contexts are not shared between threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from guetteur.workspace import Workspace

__all__ = ["Workspaces"]


class Workspaces:
    """The server's workspace, opened once per thread."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.primary = Workspace.open(home)
        self.heavy = threading.Lock()
        self._idle: queue.SimpleQueue[Workspace] = queue.SimpleQueue()
        self._opened: list[Workspace] = []
        self._opened_lock = threading.Lock()

    @contextmanager
    def checkout(self) -> Iterator[Workspace]:
        """A connection of this request's own, returned to the pool afterwards."""
        try:
            workspace = self._idle.get_nowait()
        except queue.Empty:
            workspace = self.primary.sibling()
            with self._opened_lock:
                self._opened.append(workspace)
        try:
            yield workspace
        finally:
            self._idle.put(workspace)

    def close(self) -> None:
        with self._opened_lock:
            for workspace in self._opened:
                workspace.store.close()
            self._opened.clear()
        self.primary.close()
