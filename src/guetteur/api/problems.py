"""Errors as RFC 9457 problem details (`application/problem+json`).

Every refusal the API gives is one of these, with a title, the status and a
`detail` that names the input; no stack trace ever reaches a client. Our own
errors map onto statuses here, in one table, so every endpoint answers the
same error the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from guetteur._exceptions import (
    AuthenticationError,
    GuetteurError,
    IngestError,
    InvalidInputError,
    LoginBlockedError,
    MarkingError,
    NotFoundError,
    PasswordPolicyError,
    PermissionDeniedError,
    UnknownUserError,
    UserNameError,
)
from guetteur.api.guard import BodyTooLargeError

__all__ = ["Problem", "install_problem_handlers", "problem_response"]

log = logging.getLogger("guetteur.api")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

# Most specific first: LoginBlockedError is an AuthenticationError.
_STATUS: tuple[tuple[type[GuetteurError], int], ...] = (
    (LoginBlockedError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (UnknownUserError, 404),
    (PasswordPolicyError, 422),
    (UserNameError, 422),
    (MarkingError, 422),
    (InvalidInputError, 422),
    (IngestError, 422),
)


class Problem(Exception):
    """Raise to answer with a problem: `Problem(404, "no document 'x'")`."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def problem_response(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _validation_detail(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        headers = dict(error.headers)
        if error.status == 401:  # RFC 9110: a 401 names the scheme to authenticate with
            headers.setdefault("WWW-Authenticate", 'Bearer realm="guetteur"')
        return problem_response(error.status, error.detail, headers)

    @app.exception_handler(GuetteurError)
    async def _ours(request: Request, error: GuetteurError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
        headers = {}
        if isinstance(error, LoginBlockedError):
            headers["Retry-After"] = str(error.retry_after)
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="guetteur"'
        return problem_response(status, str(error), headers)

    @app.exception_handler(BodyTooLargeError)
    async def _too_large(request: Request, error: BodyTooLargeError) -> JSONResponse:
        return problem_response(413, str(error))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(422, _validation_detail(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code)
        return problem_response(error.status_code, detail or "error", dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # Logged on the server with its trace; the client gets no internals.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "the server failed on this request; it has been logged")
