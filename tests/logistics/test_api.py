"""The logistics API over real HTTP: the same bodies as the CLI's --json, marked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from logistics_helpers import scenario_tables

from guetteur import views
from guetteur.workspace import Workspace

from api.server import LiveServer, login
from conftest import new_workspace

PASSWORDS = {"ops": "correct horse battery staple", "lux_nr": "Luxembourg-restricted-2026"}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Iterator[tuple[LiveServer, Path]]:
    home = tmp_path_factory.mktemp("logistics-api") / "ws"
    workspace = new_workspace(home, built_gazetteer)
    operator = workspace.operator()
    for name, password in PASSWORDS.items():
        one_time = workspace.accounts.set_password(operator, name)
        workspace.accounts.change_password(workspace.store.get_user(name), one_time, password)
    assert not workspace.logistics_import(operator, scenario_tables()).failed
    workspace.close()
    with LiveServer(home) as server:
        yield server, home


def test_plan_forecast_and_import(served: tuple[LiveServer, Path]) -> None:
    server, home = served
    with server.client() as client:
        login(client, "lux_nr", PASSWORDS["lux_nr"])
        plan = client.post("/api/logistics/plan", json={"time_limit": "2s"})
        assert plan.status_code == 200, plan.text
        body = plan.json()
        assert plan.headers["X-Guetteur-Marking"] == body["marking"]
        assert body["marking"] == "NATO RESTRICTED // REL TO FRA, LUX"
        assert body["feasible"] and "DET FS" not in plan.text
        # The same plan the CLI would print, from the workspace the server serves.
        with Workspace.open(home) as workspace:
            direct = views.logistics_plan_json(
                workspace.logistics_plan(workspace.user("lux_nr"), time_limit=2.0)
            )
        assert body == direct
        geo = client.post("/api/logistics/plan", json={"time_limit": "2s", "format": "geojson"})
        assert geo.json()["type"] == "FeatureCollection"
        markdown = client.post("/api/logistics/plan", json={"format": "markdown",
                                                             "time_limit": "2s"})  # fmt: skip
        assert markdown.text.startswith(f"**{body['marking']}**")
        forecast = client.get("/api/logistics/forecast", params={"horizon": "7d"})
        assert forecast.status_code == 200 and forecast.json()["horizon_days"] == 7
        bad = client.get("/api/logistics/forecast", params={"horizon": "12h"})
        assert bad.status_code in (400, 422)
        imported = client.post(
            "/api/logistics/import",
            files=[("files", ("units.csv", b"NATO RESTRICTED\nname,location,fuel\n"
                              b"LUX OP,58.38 26.72,300\nBad,59.3 26.3,x\n", "text/csv"))],
        )  # fmt: skip
        assert imported.status_code == 200, imported.text
        payload = imported.json()
        assert payload["imported"] == 1
        assert payload["tables"][0]["path"] == "units.csv"
        assert payload["failed"] == [
            {"path": "units.csv", "row": 4, "column": "III", "error": "'x' is not a number"}
        ]
