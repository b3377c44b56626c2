"""Logging in and out, passwords, and who one is: `/api/login`, `/api/me`, ...

A login answers with the session cookie (HttpOnly, SameSite=Strict, Secure
under TLS) and, in the body, the CSRF token to send with every state-changing
request; both are random, and the server keeps only their digests.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from guetteur.accounts import ABSOLUTE_LIMIT, Login
from guetteur.api.auth import SESSION_COOKIE, Caller, caller, client_address, client_subject
from guetteur.api.auth import workspace as current_workspace
from guetteur.api.problems import Problem
from guetteur.views import user_json
from guetteur.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["session"])


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    old: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


def _opened(request: Request, response: Response, login: Login) -> dict[str, Any]:
    response.set_cookie(
        SESSION_COOKIE,
        login.session_key,
        max_age=int(ABSOLUTE_LIMIT.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return {
        "user": user_json(login.user),
        "csrf_token": login.csrf_token,
        "must_change_password": login.must_change_password,
    }


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness, without authentication; says nothing about the store."""
    return {"status": "ok"}


@router.post("/login")
def login(
    credentials: Credentials,
    request: Request,
    response: Response,
    workspace: Workspace = Depends(current_workspace),
) -> dict[str, Any]:
    """Open a session with a user name and password."""
    opened = workspace.accounts.login(
        credentials.username, credentials.password, client_address(request)
    )
    return _opened(request, response, opened)


@router.post("/login/certificate")
def login_certificate(
    request: Request, response: Response, workspace: Workspace = Depends(current_workspace)
) -> dict[str, Any]:
    """Open a session with the client certificate presented under mutual TLS."""
    subject = client_subject(request)
    if subject is None:
        raise Problem(401, "authentication required: no client certificate was presented")
    return _opened(
        request, response, workspace.accounts.login_certificate(subject, client_address(request))
    )


@router.post("/logout", status_code=204)
def logout(
    response: Response,
    who: Caller = Depends(caller),
    workspace: Workspace = Depends(current_workspace),
) -> Response:
    """End the session on the server, and forget the cookie."""
    if who.session_key:
        workspace.accounts.logout(who.session_key)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/password", status_code=204)
def change_password(
    change: PasswordChange,
    response: Response,
    who: Caller = Depends(caller),
    workspace: Workspace = Depends(current_workspace),
) -> Response:
    """Change one's own password; every session ends, so log in again."""
    workspace.accounts.change_password(who.user, change.old, change.new)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me")
def me(
    who: Caller = Depends(caller), workspace: Workspace = Depends(current_workspace)
) -> dict[str, Any]:
    """The caller: name, role, clearance, nationality, and how they logged in."""
    stored = workspace.store.get_password(who.user.name)
    return {
        "user": user_json(who.user),
        "method": who.method,
        "must_change_password": bool(stored and stored[1]) and who.method == "session",
    }
