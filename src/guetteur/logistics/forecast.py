"""Consumption forecasts: per unit and supply class, from its daily history.

    consumption rows the reader may read → one daily series per (unit, class)
        → its pattern (smooth, erratic, intermittent, lumpy)
        → a statsforecast model with a prediction interval
        → the quantity to deliver over the horizon at the chosen quantile

Choices a reader should know:

- A day without a row in a series' span consumed nothing: intermittent
  tables list only the days something was drawn. A unit's series run to the
  last day that unit reported anything, so a class it stopped drawing ends
  in zeros rather than being cut short.
- The pattern follows Syntetos, Boylan and Croston: the mean interval
  between demands (ADI, cut at 1.32 days) and the squared coefficient of
  variation of the demand sizes (CV², cut at 0.49). Smooth and erratic
  series get AutoETS (weekly season from three weeks of history), or
  AutoARIMA when it did better on the last week held back (from eight
  weeks, since it costs ten times as much);
  intermittent series Croston (optimised), or TSB when the last demand is
  older than twice the mean interval (demand dying out); lumpy series ADIDA.
  Fewer than seven days or two demands: the history's mean, and its
  empirical quantile as the interval.
- Intervals are the models' own (AutoETS, AutoARIMA) or conformal
  (statsforecast's `ConformalIntervals`) for Croston, TSB and ADIDA, else the
  empirical quantile of the daily history. The demand to deliver is the sum
  over the horizon of each day's forecast at the chosen quantile: an upper
  bound on the quantile of the total (days are taken to move together),
  which errs towards a unit not running dry. Negative bounds are zero.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from guetteur.logistics.tables import CLASS_UNITS, LogisticsRecord, name_key
from guetteur.model import Marking
from guetteur.security.markings import high_water_mark

__all__ = ["Forecast", "Series", "consumption_series", "forecast_consumption", "forecast_series"]

ADI_CUT = 1.32
CV2_CUT = 0.49
MIN_DAYS = 7
ARIMA_FROM_DAYS = 56  # AutoARIMA costs ten times AutoETS: a challenger from 8 weeks
SEASON = 7

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    """One unit's daily consumption of one class, with the markings of its rows."""

    unit: str
    supply_class: str
    first_day: date
    values: tuple[float, ...]
    marking: Marking


@dataclass(frozen=True)
class Forecast:
    unit: str
    supply_class: str
    method: str
    pattern: str
    history_days: int
    last_day: date
    horizon_days: int
    quantile: float
    level: int  # the central interval whose upper (or lower) end is the quantile
    daily_mean: tuple[float, ...]
    daily_low: tuple[float, ...]
    daily_high: tuple[float, ...]
    marking: Marking

    @property
    def total_mean(self) -> float:
        return float(sum(self.daily_mean))

    @property
    def deliver(self) -> int:
        """The quantity to deliver for the horizon, in the class's unit (rounded up)."""
        if self.quantile > 0.5:
            chosen = self.daily_high
        elif self.quantile < 0.5:
            chosen = self.daily_low
        else:
            chosen = self.daily_mean
        return math.ceil(round(sum(chosen), 6))

    @property
    def measure(self) -> str:
        return CLASS_UNITS[self.supply_class]


def consumption_series(records: Sequence[LogisticsRecord]) -> list[Series]:
    """Daily series per (unit, class) from consumption records (one per unit, day, class)."""
    by_series: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
    markings: dict[tuple[str, str], list[Marking]] = defaultdict(list)
    names: dict[str, set[str]] = defaultdict(set)
    last_of_unit: dict[str, date] = {}
    for record in records:
        if record.kind != "consumption":
            continue
        unit = name_key(str(record.data["unit"]))
        day = date.fromisoformat(str(record.data["date"]))
        slot = (unit, str(record.data["class"]))
        by_series[slot][day] = by_series[slot].get(day, 0.0) + float(record.data["quantity"])
        markings[slot].append(record.marking)
        names[unit].add(str(record.data["unit"]).strip())
        last_of_unit[unit] = max(day, last_of_unit.get(unit, day))
    found: list[Series] = []
    for (unit, cls), days in sorted(by_series.items()):
        first, last = min(days), last_of_unit[unit]
        span = (last - first).days + 1
        values = tuple(days.get(first + timedelta(d), 0.0) for d in range(span))
        # The spelling shown: the shortest, then first in order (the same for any reader
        # who reads the same rows).
        shown = min(names[unit], key=lambda n: (len(n), n))
        found.append(Series(shown, cls, first, values, high_water_mark(markings[(unit, cls)])))
    return found


def _pattern(y: Floats) -> str:
    nonzero = y[y > 0]
    if len(nonzero) == 0:
        return "none"
    adi = len(y) / len(nonzero)
    cv2 = float(np.var(nonzero) / np.mean(nonzero) ** 2) if len(nonzero) > 1 else 0.0
    if adi <= ADI_CUT:
        return "smooth" if cv2 < CV2_CUT else "erratic"
    return "intermittent" if cv2 < CV2_CUT else "lumpy"


def _level(quantile: float) -> int:
    return max(1, min(99, round(abs(2 * quantile - 1) * 100)))


def _bounds(result: Mapping[str, Any], level: int, h: int) -> tuple[Floats, Floats, Floats]:
    mean = np.asarray(result["mean"], dtype=float)[:h]
    low = np.asarray(result[f"lo-{level}"], dtype=float)[:h]
    high = np.asarray(result[f"hi-{level}"], dtype=float)[:h]
    return mean, low, high


def _empirical(y: Floats, h: int, quantile: float) -> tuple[Floats, Floats, Floats]:
    mean = np.full(h, float(np.mean(y)) if len(y) else 0.0)
    spread = abs(quantile - 0.5)
    low = np.full(h, float(np.quantile(y, 0.5 - spread)) if len(y) else 0.0)
    high = np.full(h, float(np.quantile(y, 0.5 + spread)) if len(y) else 0.0)
    return mean, low, high


def _mae(actual: Floats, predicted: Floats) -> float:
    return float(np.mean(np.abs(actual - predicted)))


def forecast_series(
    y: Floats, horizon: int, quantile: float
) -> tuple[str, str, Floats, Floats, Floats]:
    """(method, pattern, daily mean, low, high) for one daily series.

    statsforecast's optimiser warns when a fit converges poorly; the fit is
    still used (and judged on held-back days), so its warnings are dropped
    rather than shown to a user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _forecast_series(y, horizon, quantile)


def _forecast_series(
    y: Floats, horizon: int, quantile: float
) -> tuple[str, str, Floats, Floats, Floats]:
    from statsforecast.models import ADIDA, TSB, AutoARIMA, AutoETS, CrostonOptimized
    from statsforecast.utils import ConformalIntervals

    y = np.asarray(y, dtype=float)
    pattern = _pattern(y)
    level = _level(quantile)
    if len(y) < MIN_DAYS or np.count_nonzero(y) < 2 or float(np.ptp(y)) == 0.0:
        mean, low, high = _empirical(y, horizon, quantile)
        return _held("mean", pattern, mean, low, high)
    if pattern in ("smooth", "erratic"):
        season = SEASON if len(y) >= 3 * SEASON else 1
        candidates: list[tuple[str, Any]] = [("AutoETS", lambda: AutoETS(season_length=season))]
        if len(y) >= ARIMA_FROM_DAYS:
            candidates.append(("AutoARIMA", lambda: AutoARIMA(season_length=season)))
        best = candidates[0]
        if len(candidates) > 1:
            held = min(SEASON, horizon)
            scores = []
            for name, make in candidates:
                try:
                    predicted = np.asarray(make().forecast(y=y[:-held], h=held)["mean"], float)
                    scores.append((_mae(y[-held:], predicted), name))
                except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                    continue
            if scores:
                chosen = min(scores)[1]
                best = next(c for c in candidates if c[0] == chosen)
        try:
            mean, low, high = _bounds(best[1]().forecast(y=y, h=horizon, level=[level]), level,
                                      horizon)  # fmt: skip
            method = best[0]
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            mean, low, high = _empirical(y, horizon, quantile)
            method = "mean"
    else:
        nonzero_at = np.flatnonzero(y)
        adi = len(y) / max(1, len(nonzero_at))
        dying = (len(y) - 1 - nonzero_at[-1]) > 2 * adi
        windows = 2
        intervals = ConformalIntervals(h=horizon, n_windows=windows)
        conformal = len(y) > (windows + 1) * horizon
        if pattern == "lumpy":
            method, make = "ADIDA", lambda pi: ADIDA(prediction_intervals=pi)
        elif dying:
            method, make = "TSB", lambda pi: TSB(alpha_d=0.1, alpha_p=0.1, prediction_intervals=pi)
        else:
            method, make = "CrostonOptimized", lambda pi: CrostonOptimized(prediction_intervals=pi)
        if conformal:
            mean, low, high = _bounds(make(intervals).forecast(y=y, h=horizon, level=[level]),
                                      level, horizon)  # fmt: skip
        else:
            mean = np.asarray(make(None).forecast(y=y, h=horizon)["mean"], dtype=float)
            _, low, high = _empirical(y, horizon, quantile)
            high = np.maximum(high, mean)
    return _held(method, pattern, mean, low, high)


def _held(
    method: str, pattern: str, mean: Floats, low: Floats, high: Floats
) -> tuple[str, str, Floats, Floats, Floats]:
    """No negative consumption, and an interval that holds the mean forecast (an
    empirical quantile of mostly-zero days can fall below the mean)."""
    mean = np.clip(np.nan_to_num(mean), 0.0, None)
    low = np.minimum(np.clip(np.nan_to_num(low), 0.0, None), mean)
    high = np.maximum(np.clip(np.nan_to_num(high), 0.0, None), mean)
    return method, pattern, mean, low, high


def forecast_consumption(
    records: Sequence[LogisticsRecord], horizon_days: int, quantile: float
) -> list[Forecast]:
    """A forecast per (unit, class) of the consumption records given, by unit then class."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile {quantile!r}: between 0 and 1 (e.g. 0.9)")
    if horizon_days < 1:
        raise ValueError(f"horizon of {horizon_days} days: at least 1")
    forecasts: list[Forecast] = []
    for series in consumption_series(records):
        y = np.asarray(series.values, dtype=float)
        method, pattern, mean, low, high = forecast_series(y, horizon_days, quantile)
        forecasts.append(
            Forecast(
                unit=series.unit,
                supply_class=series.supply_class,
                method=method,
                pattern=pattern,
                history_days=len(y),
                last_day=series.first_day + timedelta(days=len(y) - 1),
                horizon_days=horizon_days,
                quantile=quantile,
                level=_level(quantile),
                daily_mean=tuple(round(float(v), 3) for v in mean),
                daily_low=tuple(round(float(v), 3) for v in low),
                daily_high=tuple(round(float(v), 3) for v in high),
                marking=series.marking,
            )
        )
    return forecasts
