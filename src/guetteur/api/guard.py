"""What every request passes through before an endpoint: size and rate limits,
and the security headers every response carries.

An ASGI middleware rather than per-endpoint code, so that nothing — an
unknown path, an error page — escapes it. The rate limit is a token bucket
per credential (a session cookie or token, hashed) or, for requests without
one, per client address: fifty analysts behind one proxy do not share a
bucket, and an unauthenticated flood cannot spend theirs.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTooLargeError", "Guard", "Limits"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")


@dataclass(frozen=True)
class Limits:
    """Request size and rate limits (serve options)."""

    body_bytes: int = 1 << 20  # 1 MiB for JSON requests
    upload_bytes: int = 256 << 20  # uploads: /api/ingest, /api/alerts/ingest, ...
    rate_per_second: float = 50.0  # per credential, sustained
    burst: int = 200
    anonymous_rate_per_second: float = 5.0  # per address, without credentials
    anonymous_burst: int = 30


_UPLOAD_PATHS = ("/api/ingest", "/api/alerts/ingest", "/api/intel/import", "/api/rules")


class _Buckets:
    """Token buckets, the least recently used forgotten past `size`."""

    def __init__(self, size: int = 10_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def take(self, key: str, rate: float, burst: int) -> float:
        """0 when the request may pass, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / rate
            while len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        return wait


def _credential(headers: Headers) -> str | None:
    value = headers.get("authorization") or ""
    if not value:
        for part in headers.get("cookie", "").split(";"):
            name, _, cookie = part.strip().partition("=")
            if name == "guetteur_session" and cookie:
                value = cookie
    return hashlib.sha256(value.encode()).hexdigest() if value else None


class Guard:
    """Limits and security headers around the whole application."""

    def __init__(self, app: ASGIApp, limits: Limits, tls: bool) -> None:
        self.app, self.limits, self.tls = app, limits, tls
        self.buckets = _Buckets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope.get("path", "")
        send = self._with_headers(send, api=path.startswith(("/api/", "/taxii2")))
        if path != "/api/health":
            credential = _credential(headers)
            client = scope.get("client") or ("unknown", 0)
            if credential is None:
                key = "address:" + str(client[0])
                rate, burst = self.limits.anonymous_rate_per_second, self.limits.anonymous_burst
            else:
                key = "credential:" + credential
                rate, burst = self.limits.rate_per_second, self.limits.burst
            wait = self.buckets.take(key, rate, burst)
            if wait > 0:
                seconds = str(max(1, math.ceil(wait)))
                await _problem(
                    send, 429, "rate limit reached: slow down", [(b"retry-after", seconds.encode())]
                )
                return
        limit = self.limits.upload_bytes if path in _UPLOAD_PATHS else self.limits.body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _problem(send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _problem(send, 413, f"request body over the limit of {limit} bytes")
                return
        await self.app(scope, self._counted(receive, limit), send)

    def _with_headers(self, send: Send, api: bool) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = list(_HEADERS)
                if self.tls:
                    extra.append(_HSTS)
                if api:
                    extra.append(_NO_STORE)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        return sending

    @staticmethod
    def _counted(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def receiving() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        return receiving


class BodyTooLargeError(Exception):
    """A body streamed past its limit (without a Content-Length that said so)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over the limit of {limit} bytes")


async def _problem(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    titles = {400: "Bad request", 413: "Request too large", 429: "Too many requests"}
    body: dict[str, Any] = {"type": "about:blank", "title": titles[status], "status": status}
    body["detail"] = detail
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
