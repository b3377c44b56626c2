"""Running the application on uvicorn: TLS, mutual TLS and workers.

Uvicorn verifies client certificates against `--client-ca` but does not hand
them to the application; `CertificateH11Protocol` adds the verified subject
to each request's scope (`extensions.tls.client_subject`, RFC 4514), which is
where api/auth.py reads it. Without a verified certificate nothing is added.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from guetteur.api.app import create_app
from guetteur.api.guard import Limits
from guetteur.workspace import resolve_home

__all__ = ["CertificateH11Protocol", "app_from_environment", "serve"]

_ENV_TLS = "GUETTEUR_SERVE_TLS"
_ENV_LIMITS = "GUETTEUR_SERVE_LIMITS"  # JSON of one worker's Limits


class _WithSubject:
    def __init__(self, app: ASGIApp, subject: str) -> None:
        self.app, self.subject = app, subject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = dict(scope.get("extensions") or {})
        extensions["tls"] = {**extensions.get("tls", {}), "client_subject": self.subject}
        scope["extensions"] = extensions
        await self.app(scope, receive, send)


class CertificateH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, passing the verified client certificate's subject on."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = transport.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls is not None else None
        if der:
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            self.app = _WithSubject(self.app, subject)


def app_from_environment() -> FastAPI:
    """The application of one worker process (uvicorn `--workers` imports this)."""
    limits = os.environ.get(_ENV_LIMITS)
    return create_app(
        resolve_home(None),
        tls=os.environ.get(_ENV_TLS) == "1",
        limits=Limits(**json.loads(limits)) if limits else None,
    )


def worker_limits(limits: Limits, workers: int) -> Limits:
    """One worker's share of the limits: each worker process keeps its own rate
    buckets and a client's requests spread over the workers, so rates and bursts
    are divided among them (the server as a whole allows what was asked)."""
    return replace(
        limits,
        rate_per_second=limits.rate_per_second / workers,
        burst=max(1, limits.burst // workers),
        anonymous_rate_per_second=limits.anonymous_rate_per_second / workers,
        anonymous_burst=max(1, limits.anonymous_burst // workers),
    )


# How long a worker may take to answer the supervisor's ping before it is replaced.
WORKER_HEALTHCHECK_SECONDS = 120


def serve(
    home: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    client_ca: Path | None = None,
    workers: int = 1,
    limits: Limits | None = None,
) -> None:
    """Serve the workspace at `home` until interrupted."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": CertificateH11Protocol,
        "proxy_headers": False,  # the client address is the peer's: never a header's claim
        "server_header": False,
        "log_level": "info",
        "timeout_graceful_shutdown": 10,
    }
    if tls_cert is not None:
        options.update(ssl_certfile=str(tls_cert), ssl_keyfile=str(tls_key) if tls_key else None)
        if client_ca is not None:
            options.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_OPTIONAL)
    if workers > 1:
        # Each worker process builds its own application from the environment.
        os.environ["GUETTEUR_HOME"] = str(home)
        os.environ[_ENV_TLS] = "1" if tls_cert is not None else "0"
        os.environ[_ENV_LIMITS] = json.dumps(asdict(worker_limits(limits or Limits(), workers)))
        uvicorn.run(
            "guetteur.api.server:app_from_environment",
            factory=True,
            workers=workers,
            # uvicorn's supervisor restarts a worker that does not answer its ping
            # within 5 s; a worker loading its models (spaCy, the encoder: seconds
            # holding the GIL) or answering a brief on a busy machine does not,
            # and its requests in flight were cut. A hung worker is still replaced.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **options,
        )
        return
    uvicorn.run(create_app(home, tls=tls_cert is not None, limits=limits), **options)
