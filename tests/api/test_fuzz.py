"""schemathesis fuzzes every operation of the OpenAPI over real HTTP, twice.

The description is the one the server gives a logged-in user
(`GET /api/openapi.json`). Each operation gets generated requests, valid and
invalid, sent to a real uvicorn on loopback:

- as a low user (NATO RESTRICTED, LUX; a bearer token with write scope): no
  5xx; no body or header ever holds the NATO SECRET report's words, its id or
  its digest, unless the request itself sent them (an echo is no leak); and
  every marking an answer states (header, "marking" fields) is one they may
  read;
- as nobody (no credentials): no 5xx, and nothing but a refusal, as a problem
  document, outside health and login.

The server's rate limits are raised for the run, so that a 429 never hides
what an endpoint would have answered.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode, Response

from guetteur.api.guard import Limits
from guetteur.model import Clearance
from guetteur.security.markings import may_read, parse_marking

from api.conftest import REPORTS, serve_ready
from api.server import LiveServer

# Per operation: schemathesis's coverage cases (at most COVERAGE_CASES), then
# EXAMPLES valid and EXAMPLES invalid generated requests.
COVERAGE_CASES = 40
EXAMPLES = 8
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
GENEROUS = Limits(
    rate_per_second=10_000, burst=100_000, anonymous_rate_per_second=10_000,
    anonymous_burst=100_000,
)  # fmt: skip
PROBLEM_KEYS = {"type", "title", "status", "detail"}
# Server-sent events that run until the client leaves: read their opening only.
STREAMS = {"/api/tracks/stream"}
OPEN_PATHS = {"/api/health", "/api/login", "/api/login/certificate"}


@dataclass(frozen=True)
class Fuzzed:
    server: LiveServer
    token: str  # lux_nr's bearer token, scope write
    raw_schema: dict[str, Any]
    secrets: tuple[str, ...]  # what the low user must never be shown
    clearance: Clearance  # the low user's


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Iterator[Fuzzed]:
    home = tmp_path_factory.mktemp("fuzz") / "ws"
    workspace = serve_ready(home, built_gazetteer)
    operator = workspace.operator()
    secret_doc = next(d for d in workspace.store.documents_for_maintenance() if "ORCHID" in d.text)
    low = workspace.store.get_user("lux_nr")
    _, token = workspace.accounts.create_token(operator, low.name, timedelta(days=1), "write")
    workspace.close()
    # Its words, its id and its digest. Its marking, "NATO SECRET", is also the
    # grammar's own example in messages and in the description: markings are
    # checked field by field instead (see _markings).
    secrets = ("ORCHID", "Prigozhinov", secret_doc.id, secret_doc.sha256)
    assert "ORCHID" in REPORTS["ns.txt"]
    with LiveServer(home, limits=GENEROUS) as server:
        with server.client(headers={"Authorization": f"Bearer {token}"}) as client:
            answer = client.get("/api/openapi.json")
        assert answer.status_code == 200, answer.text
        yield Fuzzed(server, token, answer.json(), secrets, low.clearance)


@pytest.fixture(scope="module")
def operations(fuzzed: Fuzzed) -> list[APIOperation]:
    loaded = schemathesis.openapi.from_dict(fuzzed.raw_schema)
    found = [result.ok() for result in loaded.get_all_operations()]
    assert len(found) == sum(len(ops) for ops in fuzzed.raw_schema["paths"].values())
    return found


def _sent(case: Case) -> str:
    """Everything a request carries that the server might echo back."""
    parts = [case.formatted_path, json.dumps(case.query, default=str)]
    parts.append(json.dumps(case.path_parameters, default=str))
    parts.append(json.dumps(case.headers, default=str))
    parts.append(repr(case.body))
    return "\n".join(parts).casefold()


def _markings(value: Any) -> Iterator[str]:
    """Every marking a JSON body states: "marking" fields, and "by_marking" keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "marking" and isinstance(item, str):
                yield item
            elif key == "by_marking" and isinstance(item, dict):
                yield from item
            else:
                yield from _markings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _markings(item)


def _header(response: Response | Opening, name: str) -> str:
    """One header of a schemathesis response (which lists each header's values)."""
    return ", ".join(response.headers.get(name.lower(), []))


def _text(response: Response | Opening) -> str:
    """The body as text: UTF-8 as the server sends it, undecodable bytes shown, not fatal."""
    return response.content.decode("utf-8", errors="backslashreplace")


def _describe(case: Case, response: Response | Opening) -> str:
    return (
        f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r:.300}\n"
        f"-> {response.status_code} {response.headers} {_text(response)[:600]}"
    )


class Opening:
    """The status, headers and first event of a stream, read and then left."""

    def __init__(self, case: Case, base_url: str, headers: dict[str, str]) -> None:
        sent = case.as_transport_kwargs(base_url=base_url, headers=headers)
        with requests.request(**sent, stream=True, timeout=60) as answer:
            self.status_code = answer.status_code
            self.headers = {k.lower(): [v] for k, v in answer.headers.items()}
            self.content = b""
            for chunk in answer.iter_content(chunk_size=None):
                self.content += chunk
                if b"\n\n" in self.content or answer.status_code != 200:
                    break

    def json(self) -> Any:
        return json.loads(self.content)


def call(case: Case, base_url: str, headers: dict[str, str] | None = None) -> Any:
    """Send `case`; a stream's opening only."""
    if case.operation.path in STREAMS and case.method.upper() == "GET":
        return Opening(case, base_url, headers or {})
    return case.call(base_url=base_url, headers=headers, timeout=120)


def fuzz(operations: list[APIOperation], check: Callable[[Case], None]) -> list[str]:
    """Run `check` on generated cases of every operation; what failed, per operation.

    Each operation gets schemathesis's coverage cases (boundaries, missing and
    mistyped parameters and bodies, unexpected methods), then EXAMPLES random
    valid and EXAMPLES random invalid requests through Hypothesis.
    """
    failures = []
    for operation in operations:
        generation = operation.schema.config.generation_for(operation=operation)
        try:
            covered = operation.schema.iter_coverage_cases(
                operation, generation_modes=list(GenerationMode), generation_config=generation
            )
            for case in itertools.islice(covered, COVERAGE_CASES):
                check(case)
            for mode in GenerationMode:

                @SETTINGS
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: Case) -> None:
                    check(case)

                try:
                    run()
                except Unsatisfiable:
                    # Nothing to make invalid (no parameters, no body): only valid cases.
                    assert mode is GenerationMode.NEGATIVE, f"no {mode.value} case"
        except AssertionError as failure:
            failures.append(f"{operation.label}: {failure}")
    return failures


def test_a_low_user_gets_no_server_error_and_nothing_above_them(
    fuzzed: Fuzzed, operations: list[APIOperation]
) -> None:
    def check(case: Case) -> None:
        response = call(case, fuzzed.server.url, {"Authorization": f"Bearer {fuzzed.token}"})
        assert response.status_code < 500, _describe(case, response)
        sent = _sent(case)
        for secret in fuzzed.secrets:
            if secret.casefold() in sent:
                continue  # the request's own words, echoed in an error, are no leak
            assert secret.casefold() not in _text(response).casefold(), _describe(case, response)
            for name, values in response.headers.items():
                assert secret.casefold() not in " ".join(values).casefold(), f"header {name}"
        stated = (
            [_header(response, "x-guetteur-marking")]
            if "x-guetteur-marking" in (response.headers)
            else []
        )
        if _header(response, "content-type").startswith("application/json"):
            stated += _markings(response.json())
        for marking in stated:
            assert may_read(fuzzed.clearance, parse_marking(marking)), _describe(case, response)

    failures = fuzz(operations, check)
    assert not failures, "\n\n".join(failures)


def test_nobody_gets_anything_but_a_refusal(fuzzed: Fuzzed, operations: list[APIOperation]) -> None:
    def check(case: Case) -> None:
        response = call(case, fuzzed.server.url)
        described = _describe(case, response)
        assert response.status_code < 500, described
        path = case.operation.path
        if path == "/api/health" and case.method.upper() == "GET":
            assert response.json() == {"status": "ok"}, described
            return
        if response.status_code == 401:
            assert _header(response, "www-authenticate").startswith("Bearer"), described
        # Refused, or malformed (a method or path that does not exist, a bad body);
        # logins may also back off after many failures.
        allowed = {400, 401, 404, 405, 413, 422} | ({429} if path in OPEN_PATHS else set())
        assert response.status_code in allowed, described
        assert _header(response, "content-type") == "application/problem+json", described
        body = response.json()
        assert set(body) <= PROBLEM_KEYS, described
        assert "x-guetteur-marking" not in response.headers, described
        assert "set-cookie" not in response.headers, described
        sent = _sent(case)
        for secret in (*fuzzed.secrets, "Narva", "Tartu", "BTR-82A", "lux_nr", "deu_nc"):
            if secret.casefold() not in sent:
                assert secret.casefold() not in _text(response).casefold(), described

    failures = fuzz(operations, check)
    assert not failures, "\n\n".join(failures)


# The paths of the contract (issue 10, "The API").
CONTRACT = {
    ("POST", "/api/login"), ("POST", "/api/password"), ("POST", "/api/logout"),
    ("GET", "/api/me"), ("GET", "/api/health"), ("GET", "/api/search"),
    ("GET", "/api/documents/{doc_id}"), ("GET", "/api/stats"), ("GET", "/api/entities"),
    ("GET", "/api/entities/{name_or_id}"), ("GET", "/api/events"), ("GET", "/api/alerts"),
    ("GET", "/api/incidents"), ("GET", "/api/incidents/{incident_id}"), ("GET", "/api/watch"),
    ("POST", "/api/ask"), ("POST", "/api/brief"), ("POST", "/api/ingest"),
    ("POST", "/api/alerts/ingest"), ("POST", "/api/intel/import"), ("POST", "/api/rules"),
    ("POST", "/api/watch"), ("GET", "/api/jobs/{job_id}"), ("DELETE", "/api/jobs/{job_id}"),
}  # fmt: skip


def test_the_fuzzed_description_covers_the_whole_contract(
    fuzzed: Fuzzed, operations: list[APIOperation]
) -> None:
    """The control: what was fuzzed above is the whole API, not a part of it."""
    fuzzed_operations = {(operation.method.upper(), operation.path) for operation in operations}
    assert CONTRACT <= fuzzed_operations, CONTRACT - fuzzed_operations
    with httpx.Client(base_url=fuzzed.server.url) as nobody:
        assert nobody.get("/api/openapi.json").status_code == 401
