"""Enrichment stages: pure functions the pipeline runs on parsed text.

Language, the report's own time and every time expression, and the Admiralty
grade a report states. No I/O: each takes text (and, for times, an anchor) and
returns values, so the same calls run in-process or on a Dask worker.
"""

from guetteur.enrich.grading import find_grade
from guetteur.enrich.language import detect_language, detect_languages
from guetteur.enrich.times import (
    TimeKind,
    TimeMention,
    find_reported_time,
    find_times,
    format_dtg,
    parse_dtg,
)

__all__ = [
    "TimeKind",
    "TimeMention",
    "detect_language",
    "detect_languages",
    "find_grade",
    "find_reported_time",
    "find_times",
    "format_dtg",
    "parse_dtg",
]
