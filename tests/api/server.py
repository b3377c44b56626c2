"""A real guetteur server for tests: uvicorn on a loopback port, in a thread.

`LiveServer` serves a workspace exactly as `guetteur serve` does (same app,
same protocol class, TLS and client certificates when given) and stops when
the test is done. Clients are httpx, over real HTTP.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from guetteur.api.app import create_app
from guetteur.api.guard import Limits
from guetteur.api.server import CertificateH11Protocol

__all__ = ["LiveServer", "login"]


class LiveServer:
    def __init__(
        self,
        home: Path,
        *,
        limits: Limits | None = None,
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> None:
        self.app = create_app(home, tls=tls is not None, limits=limits)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        options: dict[str, Any] = {}
        if tls is not None:
            options.update(ssl_certfile=str(tls[0]), ssl_keyfile=str(tls[1]))
            if client_ca is not None:
                options.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_OPTIONAL)
        config = uvicorn.Config(
            self.app, http=CertificateH11Protocol, log_level="warning", lifespan="on", **options
        )
        self.server = uvicorn.Server(config)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **options)


def login(client: httpx.Client, user: str, password: str) -> str:
    """Log `client` in; return the session's CSRF token (also set as its default header)."""
    answer = client.post("/api/login", json={"username": user, "password": password})
    answer.raise_for_status()
    csrf: str = answer.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf
