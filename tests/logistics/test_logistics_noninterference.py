"""Twins: two workspaces that differ only in tables and reports above a reader give
that reader the same plan, forecast and import report, byte for byte."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from logistics_helpers import AMBUSH, scenario_tables

from guetteur import views
from guetteur.workspace import Workspace

from conftest import new_workspace, write

SINCE = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture(scope="module")
def twins(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[tuple[Workspace, Workspace, Path]]:
    root = tmp_path_factory.mktemp("twins")
    secret = secrets.token_hex(32)
    pair = []
    for name in ("plain", "more"):
        workspace = new_workspace(root / name, built_gazetteer)
        workspace.store.set_id_secret(secret)  # type: ignore[attr-defined]
        workspace.logistics_import(workspace.operator(), scenario_tables())
        pair.append(workspace)
    plain, more = pair
    # Above lux_nr and deu_nc: a unit with its history and a vehicle, a new stock
    # figure for a depot they read, and the ambush reported at NATO SECRET.
    above = root / "above"
    write(above, "units.csv", "NATO SECRET\nname,location,fuel (L),window\n"
          "OP Hidden,35VNF4315984505,9000,04:00-06:00\n")  # fmt: skip
    shift = "2026-11-23T02:00Z-2026-11-23T20:00Z"
    write(above, "vehicles.csv", "NATO SECRET\nname,depot,count,fuel (L),shift\n"
          f"Secret tanker,POL ALPHA (Tapa),3,30000,{shift}\n")  # fmt: skip
    write(above, "depots.csv", "NATO SECRET\nname,location,III (L)\n"
          "POL ALPHA (Tapa),35VMF4239268103,1000\n")  # fmt: skip
    write(above, "consumption.csv", "NATO SECRET\nunit,date,class,quantity\n"
          "OP Hidden,2026-11-21,III,800\nLUX RECCE PL,2026-11-22,III,90000\n")  # fmt: skip
    more.logistics_import(more.operator(), sorted(above.glob("*.csv")))
    contact = AMBUSH.read_text(encoding="utf-8").replace("NATO RESTRICTED", "NATO SECRET")
    report = more.ingest(more.operator(), [write(root, "in/contact.txt", contact)], "movcon")
    assert report.ingested == 1
    own = write(root, "own/units.csv", "NATO RESTRICTED\nname,location,fuel\n"
                "LUX OP,58.38 26.72,300\nBad,,1\n")  # fmt: skip
    yield plain, more, own
    plain.close()
    more.close()


def _dump(payload: object) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("reader", ["lux_nr", "deu_nc"])
def test_the_reader_gets_the_same_plan(
    twins: tuple[Workspace, Workspace, Path], reader: str
) -> None:
    plain, more, _ = twins
    plans = []
    for workspace in (plain, more):
        found = workspace.logistics_plan(
            workspace.user(reader), avoid_threats=True, since=SINCE, time_limit=3.0
        )
        plans.append((views.logistics_plan_json(found), views.logistics_plan_geojson(found)))
    assert _dump(plans[0]) == _dump(plans[1])
    # And the twins do differ for someone who may read more.
    ops = [
        views.logistics_plan_json(w.logistics_plan(w.operator(), avoid_threats=True,
                                                   since=SINCE, time_limit=3.0))
        for w in (plain, more)
    ]  # fmt: skip
    assert ops[0] != ops[1] and ops[1]["avoided"] and not ops[0]["avoided"]


@pytest.mark.parametrize("reader", ["lux_nr", "deu_nc"])
def test_the_reader_gets_the_same_forecast(
    twins: tuple[Workspace, Workspace, Path], reader: str
) -> None:
    plain, more, _ = twins
    found = [
        views.logistics_forecast_json(w.logistics_forecast(w.user(reader), 7, 0.9), 7, 0.9)
        for w in (plain, more)
    ]
    assert _dump(found[0]) == _dump(found[1])
    assert found[0]["forecasts"]


def test_the_reader_gets_the_same_answer_to_an_import(
    twins: tuple[Workspace, Workspace, Path],
) -> None:
    plain, more, own = twins
    answers = []
    for workspace in (plain, more):
        lux = workspace.user("lux_nr")  # an analyst
        answers.append(views.logistics_import_json(workspace.logistics_import(lux, [own])))
    assert _dump(answers[0]) == _dump(answers[1])
    assert answers[0]["imported"] == 1 and answers[0]["failed"][0]["row"] == 4
