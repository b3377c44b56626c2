"""Who is calling: a session cookie, a bearer token, or a client certificate.

`caller` is the dependency every endpoint but login and health takes. It
refuses with the same 401 whatever was wrong. A session's state-changing
requests must carry its CSRF token (`X-CSRF-Token`): the cookie alone, which
a browser attaches to any site's request, never suffices. A bearer token is
not sent by browsers on their own, so it needs no CSRF token, but a `read`
token may only read. A client certificate (mutual TLS) authenticates reads on
its own; to change anything, its holder opens a session
(`POST /api/login/certificate`) and uses that session's CSRF token, because a
browser presents its certificate to any site's request too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request

from guetteur._exceptions import AuthenticationError, PermissionDeniedError
from guetteur.api.workspaces import Workspaces
from guetteur.store import Token, User
from guetteur.workspace import Workspace

__all__ = [
    "CSRF_HEADER",
    "Caller",
    "SESSION_COOKIE",
    "caller",
    "client_address",
    "client_subject",
    "workspace",
]

SESSION_COOKIE = "guetteur_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a user holding a one-time password may do before changing it.
_BEFORE_CHANGE = frozenset({"/api/password", "/api/logout", "/api/me"})
# Products that read and write nothing but the audit: open to `read` tokens.
_READ_POSTS = frozenset({"/api/ask", "/api/brief", "/api/logistics/plan"})


@dataclass(frozen=True)
class Caller:
    """The authenticated user of one request, and how they authenticated."""

    user: User
    method: str  # session | token | certificate
    session_key: str | None = None
    token: Token | None = None


def workspaces(request: Request) -> Workspaces:
    found: Workspaces = request.app.state.workspaces
    return found


def workspace(request: Request) -> Iterator[Workspace]:
    """The request's own connection to the workspace (one per request, pooled)."""
    with workspaces(request).checkout() as checked_out:
        yield checked_out


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def client_subject(request: Request) -> str | None:
    """The verified client certificate's subject (RFC 4514), under mutual TLS."""
    tls = request.scope.get("extensions", {}).get("tls", {})
    subject = tls.get("client_subject")
    return subject if isinstance(subject, str) else None


def caller(request: Request, ws: Workspace = Depends(workspace)) -> Caller:
    """The request's user, or AuthenticationError (401)."""
    accounts = ws.accounts
    path, method = request.url.path, request.method
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationError("authentication required: wrong or expired credentials")
        user, token = accounts.token_user(secret.strip(), method, path)
        if token.scope != "write" and method not in SAFE_METHODS and path not in _READ_POSTS:
            raise PermissionDeniedError(f"this token may only read (scope {token.scope!r})")
        return Caller(user, "token", token=token)
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        user, session, csrf_hash = accounts.session(key)
        if method not in SAFE_METHODS and not accounts.csrf_matches(
            csrf_hash, request.headers.get(CSRF_HEADER)
        ):
            raise PermissionDeniedError(
                "missing or wrong CSRF token: send the X-CSRF-Token header given at login"
            )
        if session.method == "password" and path not in _BEFORE_CHANGE:
            stored = ws.store.get_password(user.name)
            if stored is None or stored[1]:
                raise PermissionDeniedError(
                    "change your one-time password first (POST /api/password)"
                )
        return Caller(user, "session", session_key=key)
    subject = client_subject(request)
    if subject is not None:
        user = accounts.certificate_user(subject)
        if method not in SAFE_METHODS:
            raise PermissionDeniedError(
                "to change anything with a certificate, open a session first "
                "(POST /api/login/certificate) and send its CSRF token"
            )
        return Caller(user, "certificate")
    raise AuthenticationError("authentication required: wrong or expired credentials")
