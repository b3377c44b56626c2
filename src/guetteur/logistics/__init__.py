"""Logistics: supply tables, consumption forecasts and resupply routes around threats.

    CSV/XLSX tables (tables.py) → marked records in the store
        → consumption forecast per unit and class (forecast.py, statsforecast)
        → threat zones from the reader's events (threats.py)
        → a vehicle routing problem solved by PyVRP (routing.py)
        → the plan, marked by every table row and report that shaped it (plan.py)

Every stage below the workspace is pure: records in, records out. The
workspace reads the tables and events a reader may read (narrowed to a
tear-line's nations when asked) and hands them down, so a plan, a forecast
or an import report depends on nothing the reader may not read.
"""

from guetteur.logistics.forecast import Forecast, forecast_consumption
from guetteur.logistics.plan import Plan, PlanOptions, plan_resupply
from guetteur.logistics.tables import (
    SUPPLY_CLASSES,
    ImportReport,
    LogisticsRecord,
    read_tables,
)
from guetteur.logistics.threats import THREAT_KINDS, ThreatZone

__all__ = [
    "SUPPLY_CLASSES",
    "THREAT_KINDS",
    "Forecast",
    "ImportReport",
    "Plan",
    "PlanOptions",
    "LogisticsRecord",
    "ThreatZone",
    "forecast_consumption",
    "plan_resupply",
    "read_tables",
]
