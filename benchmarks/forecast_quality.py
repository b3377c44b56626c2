"""Forecast accuracy on held-back periods: guetteur's consumption forecasts against
naive and seasonal-naive forecasts, in the same run.

    .venv/bin/python benchmarks/forecast_quality.py [--json]

1. PBS: the intermittent series sktime ships (sktime/datasets/data/PBS_dataset:
   monthly scripts of immune sera and immunoglobulins in Australia, 204 months,
   from Hyndman's fpp3; read as a file, nothing downloaded and sktime not
   imported). Rolling origin: windows of 6 months starting every 6 months from
   month 48 to month 156, each forecast from everything before it (the last
   three years of the series are all zeros, the product gone: no test there).
2. The scenario's consumption table (examples/scenario/logistics, 7 units x
   5 classes, 4 weeks; the tables are the exercise's own, generated with a
   fixed seed): the last 7 days of each series held back.

Scores: MASE and RMSSE (errors scaled by the in-sample one-step naive errors of
the history before the window), averaged over windows or series; lower is
better, 1.0 is the in-sample naive's error. Service level: how often the
held-back total stayed at or under the quantity guetteur would deliver (the
0.9 quantile): what a unit resupplied by that forecast would have lived with.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from guetteur.logistics.forecast import consumption_series, forecast_series  # noqa: E402
from guetteur.logistics.tables import read_tables  # noqa: E402

Forecaster = Callable[[np.ndarray, int], np.ndarray]
QUANTILE = 0.9


def pbs_series() -> np.ndarray:
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("sktime is not installed: pip install sktime==1.2.0 (it ships PBS)")
    path = Path(spec.submodule_search_locations[0]) / "datasets/data/PBS_dataset/PBS_dataset.csv"
    with path.open(encoding="utf-8") as handle:
        return np.array([float(row["Scripts"]) for row in csv.DictReader(handle)])


def scaled_errors(
    history: np.ndarray, actual: np.ndarray, predicted: np.ndarray
) -> tuple[float, float] | None:
    steps = np.diff(history)
    mae_scale, mse_scale = float(np.mean(np.abs(steps))), float(np.mean(steps**2))
    if mae_scale == 0 or mse_scale == 0:
        return None
    error = actual - predicted
    return float(np.mean(np.abs(error)) / mae_scale), float(np.sqrt(np.mean(error**2) / mse_scale))


def naive(history: np.ndarray, h: int) -> np.ndarray:
    return np.full(h, history[-1])


def seasonal_naive(season: int) -> Forecaster:
    def forecast(history: np.ndarray, h: int) -> np.ndarray:
        last = history[-season:]
        return np.array([last[i % season] for i in range(h)])

    return forecast


def guetteur(history: np.ndarray, h: int) -> np.ndarray:
    return forecast_series(history, h, QUANTILE)[2]


def evaluate(
    cases: list[tuple[np.ndarray, np.ndarray]], methods: dict[str, Forecaster]
) -> dict[str, Any]:
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    served, chosen = 0, {}
    for history, actual in cases:
        if scaled_errors(history, actual, actual) is None:
            continue
        for name, method in methods.items():
            found = scaled_errors(history, actual, method(history, len(actual)))
            assert found is not None
            scores[name].append(found)
        method, _, _, _, high = forecast_series(history, len(actual), QUANTILE)
        chosen[method] = chosen.get(method, 0) + 1
        served += int(actual.sum() <= np.ceil(high.sum()))
    counted = len(scores["guetteur"])
    return {
        "cases": counted,
        "mase": {n: round(float(np.mean([s[0] for s in v])), 3) for n, v in scores.items()},
        "rmsse": {n: round(float(np.mean([s[1] for s in v])), 3) for n, v in scores.items()},
        "service_level_q90": round(served / counted, 3) if counted else None,
        "methods_chosen": chosen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pbs = pbs_series()
    h = 6
    pbs_cases = [(pbs[:origin], pbs[origin : origin + h]) for origin in range(48, 157, h)]
    report: dict[str, Any] = {
        "pbs": evaluate(
            pbs_cases, {"guetteur": guetteur, "naive": naive, "seasonal_naive": seasonal_naive(12)}
        ),  # fmt: skip
    }
    tables = read_tables(sorted((REPO / "examples/scenario/logistics").glob("consumption*.csv")),
                         None, None)  # fmt: skip
    scenario_cases = []
    for series in consumption_series(tables.records):
        values = np.array(series.values)
        if len(values) > 14:
            scenario_cases.append((values[:-7], values[-7:]))
    report["scenario"] = evaluate(
        scenario_cases, {"guetteur": guetteur, "naive": naive, "seasonal_naive": seasonal_naive(7)}
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, found in report.items():
        print(f"{name}: {found['cases']} held-back windows")
        for score in ("mase", "rmsse"):
            print(f"  {score.upper():5} " + "  ".join(f"{m} {v}" for m, v in found[score].items()))
        print(f"  service level at q=0.9: {found['service_level_q90']}; "
              f"methods: {found['methods_chosen']}")  # fmt: skip


if __name__ == "__main__":
    main()
