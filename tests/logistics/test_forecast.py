"""Consumption forecasts: the model each pattern gets, intervals, the quantity to deliver."""

from __future__ import annotations

import numpy as np
import pytest

from guetteur.logistics.forecast import consumption_series, forecast_consumption, forecast_series
from guetteur.security.markings import parse_marking
from guetteur.store.base import LogisticsRecord

NR = parse_marking("NATO RESTRICTED")
NS = parse_marking("NATO SECRET")


def _rows(unit: str, cls: str, values: list[float], marking=NR) -> list[LogisticsRecord]:  # type: ignore[no-untyped-def]
    return [
        LogisticsRecord("consumption", f"{unit}|{day}|{cls}", marking,
                        {"unit": unit, "date": f"2026-11-{day:02d}", "class": cls,
                         "quantity": value}, "t.csv:1")
        for day, value in enumerate(values, start=1) if value
    ]  # fmt: skip


def test_a_regular_series_gets_ets_and_an_interval_round_its_level() -> None:
    rng = np.random.default_rng(1)
    y = 1000 + 50 * rng.standard_normal(28)
    method, pattern, mean, low, high = forecast_series(y, 7, 0.9)
    assert (method, pattern) == ("AutoETS", "smooth")
    assert np.all(low <= mean) and np.all(mean <= high)
    assert 900 < mean.mean() < 1100 and np.all(high - mean < 300)


def test_intermittent_and_lumpy_series() -> None:
    steady = np.zeros(40)
    steady[::4] = 10.0 + np.arange(10) % 2  # every fourth day, sizes alike
    method, pattern, mean, _, high = forecast_series(steady, 7, 0.9)
    assert (method, pattern) == ("CrostonOptimized", "intermittent")
    assert 1.5 < mean.mean() < 4 and high.sum() >= mean.sum()
    lumpy = np.zeros(40)
    lumpy[[2, 9, 15, 22, 30, 37]] = [1, 40, 3, 60, 2, 50]
    assert forecast_series(lumpy, 7, 0.9)[:2] == ("ADIDA", "lumpy")
    dying = np.zeros(40)
    dying[[1, 4, 7, 10, 13]] = 5
    assert forecast_series(dying, 7, 0.9)[:2] == ("TSB", "intermittent")
    short = np.array([0.0, 3.0, 0.0, 5.0])
    assert forecast_series(short, 7, 0.9)[0] == "mean"


def test_deliver_grows_with_the_quantile_and_series_from_rows() -> None:
    rng = np.random.default_rng(2)
    values = list(np.round(500 + 80 * rng.standard_normal(21)))
    rows = _rows("Alpha", "III", values) + _rows("Alpha", "I", [40.0] * 3 + [0.0] * 18)
    series = {(s.unit, s.supply_class): s for s in consumption_series(rows)}
    # Alpha's ration series runs to Alpha's last day: three days, then zeros.
    assert len(series[("Alpha", "I")].values) == 21 and series[("Alpha", "I")].values[5] == 0
    low, high = ({f.supply_class: f for f in forecast_consumption(rows, 7, q)} for q in (0.6, 0.95))
    assert high["III"].deliver > low["III"].deliver >= round(low["III"].total_mean) - 1
    assert high["III"].marking == NR
    with pytest.raises(ValueError, match="quantile"):
        forecast_consumption(rows, 7, 1.0)


def test_a_series_is_marked_by_its_rows() -> None:
    rows = _rows("Bravo", "water", [100.0] * 10) + _rows("Bravo", "water", [0.0] * 10 + [120.0],
                                                           marking=NS)  # fmt: skip
    (found,) = forecast_consumption(rows, 3, 0.9)
    assert found.marking == NS and found.history_days == 11
