"""Events: what happened, who or what took part, where and when.

Found in reports by enrich/events.py (spot reports field by field, prose
sentence by sentence); later also from tracks and alerts. `start`/`end` are
offsets into the document text, so a product can cite the words an event
rests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from guetteur.model.entity import EntityRef

__all__ = ["Event"]


@dataclass(frozen=True)
class Event:
    """One event found in a report: what, who, where, when, and the words it rests on."""

    kind: str  # "salute" or "sentence"
    what: str
    start: int
    end: int
    when: datetime | None
    lat: float | None = None
    lon: float | None = None
    place: EntityRef | None = None
    participants: Sequence[EntityRef] = field(default_factory=tuple)
    detail: dict[str, str] = field(default_factory=dict)
