"""Noninterference through the HTTP API: what a reader gets from the server depends
only on what they may read.

The twins are those of tests/security/twins.py, built the same way through
the real CLI and pipeline: two workspaces with the same records the reader R
may read, in the same order, and in one of them records R may not read as
well. Each workspace is served by its own uvicorn on loopback; R calls both
with a bearer token of their own and every answer — status, the marking
header, the body — must be the same once run times are normalised as the CLI
twin test normalises them. That covers every read (search, stats, entities,
one entity, events as JSON and GeoJSON, alerts, incidents, one incident,
watches, ask, brief, document fetch, including the 404 for an id only the
other twin holds) and the answers to R's own writes (an upload ingested, and
another as a background job, read until it ends; Sigma rules loaded, a watch
added).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from hypothesis import given

# twins: in tests/security, on the path through noninterference_fixtures (tests/conftest.py).
from twins import (
    RESPELLINGS,
    SHARED_DATA,
    TEXTS,
    Doc,
    Output,
    Pipeline,
    Twin,
    TwinRun,
    _discover,
    _mentions,
    build,
    hidden_doc_ids,
    normalise_output,
    readable_markings,
    sigma_rule_file,
    twins,
    write_inputs,
)

from guetteur.api.guard import Limits
from guetteur.workspace import Workspace
from noninterference_fixtures import twin_settings

from api.server import LiveServer

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

# Each example builds two workspaces and serves both: 30 keep the test near two
# minutes on two cores. benchmarks/noninterference.py runs the CLI side longer.
EXAMPLES = 30
# The twins must not meet the rate limit: a 429 in one twin only is no leak.
GENEROUS = Limits(rate_per_second=10_000, burst=100_000)
MARKING_HEADER = "x-guetteur-marking"
JOB_ENDED = ("done", "failed", "cancelled")


class ServedTwin:
    """One workspace of a twin, served, and R's client to it."""

    def __init__(self, home: Path, reader: str, stack: ExitStack) -> None:
        self.home = home
        self.root = home.parent
        with Workspace.open(home) as workspace:
            _, token = workspace.accounts.create_token(
                workspace.operator(), reader, timedelta(days=1), "write"
            )
        self.server = stack.enter_context(LiveServer(home, limits=GENEROUS))
        self.client = stack.enter_context(
            self.server.client(headers={"Authorization": f"Bearer {token}"})
        )

    def call(self, method: str, path: str, **options: Any) -> Output:
        """One request, as an Output: the status, the headers a user sees, the body."""
        answer = self.client.request(method, path, **options)
        seen = f"{answer.headers.get('content-type')} marking={answer.headers.get(MARKING_HEADER)}"
        shown = (method, path, *(f"{k}={v}" for k, v in sorted(options.get("params", {}).items())))
        return Output(shown, answer.status_code, answer.text, seen)


def _job_ended(served: ServedTwin, started: Output) -> Output:
    """A job started by `started` (202), read until it ends; its random id is
    named "<job>" (drawn apart from any record, it differs in every run)."""
    if started.exit_code != 202:
        return started
    job_id = json.loads(started.stdout)["job"]["id"]
    deadline = time.monotonic() + 300
    while True:
        state = served.call("GET", f"/api/jobs/{job_id}")
        if state.exit_code != 200 or json.loads(state.stdout)["job"]["state"] in JOB_ENDED:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end: {state.stdout}")
        time.sleep(0.2)
    return Output(
        ("POST", "/api/ingest", "background=true", "GET /api/jobs/<job>"),
        state.exit_code,
        state.stdout.replace(job_id, "<job>"),
        started.stderr,
    )


def compare_twin_api(twin: Twin, base: Path) -> TwinRun:
    """Build both workspaces of `twin` through the CLI, serve each, call both as R."""
    root = Path(tempfile.mkdtemp(prefix="twin-api-", dir=base))
    try:
        return _compare(twin, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _compare(twin: Twin, root: Path) -> TwinRun:
    runner = CliRunner()
    inputs = root / "inputs"
    write_inputs(twin, inputs)
    now = datetime.now(UTC)
    plain_home = build(twin, root / "a" / "ws", inputs, runner, hidden=False).home
    hidden_home = build(twin, root / "b" / "ws", inputs, runner, hidden=True).home
    run = TwinRun(twin)
    with ExitStack() as stack:
        plain = ServedTwin(plain_home, twin.reader, stack)
        hidden = ServedTwin(hidden_home, twin.reader, stack)

        def both(method: str, path: str, **options: Any) -> tuple[Output, Output]:
            pair = (
                normalise_output(plain.call(method, path, **options), now, [plain.root]),
                normalise_output(hidden.call(method, path, **options), now, [hidden.root]),
            )
            run.outputs.append(pair)
            return pair

        first = [both("GET", "/api/stats")]
        first += [both("GET", "/api/search", params={"q": query}) for query in twin.queries]
        first += [both("GET", "/api/entities"), both("GET", "/api/events")]
        both("GET", "/api/events", params={"format": "geojson"})
        both("GET", "/api/alerts")
        first.append(both("GET", "/api/incidents"))
        seen = [output for pair in first for output in pair]
        doc_ids, entities, incidents = _discover(seen)
        doc_ids |= hidden_doc_ids(hidden_home, plain_home)  # R gets a 404 from both
        entities |= {spelling for spelling in RESPELLINGS.values() if _mentions(twin, spelling)}
        for doc_id in sorted(doc_ids):
            both("GET", f"/api/documents/{doc_id}")
        for name in sorted(entities):
            both("GET", f"/api/entities/{quote(name, safe='')}")
        for incident_id in sorted(incidents):
            both("GET", f"/api/incidents/{incident_id}")
            if twin.full:
                both("GET", f"/api/incidents/{incident_id}", params={"format": "markdown"})
                both("GET", f"/api/incidents/{incident_id}", params={"format": "stix"})
        both("GET", "/api/watch")
        both("POST", "/api/watch/run")
        if twin.full:
            for question in twin.questions:
                both("POST", "/api/ask", json={"question": question})
            both("POST", "/api/brief", json={"format": "json"})
        # R's own writes, last: their answers must not depend on hidden records either.
        own = readable_markings(twin.reader)[0][-1]
        rules = [
            ("files", (sigma_rule_file(index).name, sigma_rule_file(index).read_bytes()))
            for index in twin.own_rules
        ]
        if rules:
            both("POST", "/api/rules", files=rules, data={"marking": own})
        upload = ("own.txt", twin.own_text.encode("utf-8"), "text/plain")
        both("POST", "/api/ingest", files=[("files", upload)], data={"marking": own})
        # The same as a job (background): its record, once ended, answers alike.
        as_job = ("own-job.txt", (twin.own_text + "\n\nRelu.\n").encode("utf-8"), "text/plain")
        started = (
            plain.call("POST", "/api/ingest", files=[("files", as_job)],
                       data={"marking": own, "background": "true"}),
            hidden.call("POST", "/api/ingest", files=[("files", as_job)],
                        data={"marking": own, "background": "true"}),
        )  # fmt: skip
        ended = tuple(
            _job_ended(served, output)
            for served, output in zip((plain, hidden), started, strict=True)
        )
        run.outputs.append(
            (
                normalise_output(ended[0], now, [plain.root]),
                normalise_output(ended[1], now, [hidden.root]),
            )
        )
        both("POST", "/api/watch", json={"name": "from-the-api", "requirement": twin.requirement})
    return run


@twin_settings(EXAMPLES)
@given(twin=twins())
def test_a_reader_gets_the_same_answers_whatever_they_may_not_read(
    twin_pipeline: Pipeline, twin_scratch: Path, twin: Twin
) -> None:
    run = compare_twin_api(twin, twin_scratch)
    assert not run.differences(), run.report()


def test_the_twins_are_compared_on_every_endpoint(
    twin_pipeline: Pipeline, twin_scratch: Path
) -> None:
    """The control: a twin with a hidden SECRET report, an incident and an upload
    held above R is compared on every endpoint, and R's answers differ in nothing."""
    nr, ns = "NATO RESTRICTED", "NATO SECRET"
    twin = Twin(
        "lux_nr",
        (
            (Doc("h1", TEXTS[4].replace("Prigozhinow", "Prigozhinov"), ns, ns, hidden=True),),
            (Doc("v1", TEXTS[11], nr, nr),),
            (Doc("v2", TEXTS[4], nr, nr),),
        ),
        queries=("Narva", "Prigozhinov"),
        questions=("Qui est Yevgeny Prigozhinow ?",),
        own_text=f"{ns}\n\n{TEXTS[8]}\n\n{ns}\n",
        own_rules=(0,),
        full=True,
    )
    run = compare_twin_api(twin, twin_scratch)
    assert not run.differences(), run.report()
    called = {output.command[1].split("/")[2] for output, _ in run.outputs}
    assert called >= {
        "stats", "search", "entities", "events", "alerts", "incidents", "documents", "watch",
        "ask", "brief", "rules", "ingest",
    }  # fmt: skip
    (job,) = [o for o, _ in run.outputs if o.command[-1] == "GET /api/jobs/<job>"]
    assert job.exit_code == 200 and json.loads(job.stdout)["job"]["state"] == "done", job.stdout
    by_path = {output.command[1]: output for output, _ in run.outputs}
    ingested = by_path["/api/ingest"]
    assert ingested.exit_code == 200, ingested.stdout
    # The SECRET report's id, fetched by R: the same 404 from both servers.
    missing = [o for o, _ in run.outputs if o.command[1].startswith("/api/documents/")]
    assert any(o.exit_code == 404 for o in missing)
    assert all("Prigozhinov" not in o.stdout for o, _ in run.outputs if o.exit_code == 200)
