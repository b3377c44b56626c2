"""Core types of guetteur. Pure values: no I/O, nothing else of ours imported."""

from guetteur.model._countries import GROUPS, expand_releasability
from guetteur.model.alert import Alert, Indicator, NetworkEvent, Severity, WindowsEvent
from guetteur.model.document import Chunk, Document
from guetteur.model.entity import (
    ENTITY_TYPES,
    CoordinateMention,
    Entity,
    EntityMention,
    EntityRef,
    EntityType,
    Place,
)
from guetteur.model.event import Event
from guetteur.model.grade import Grade
from guetteur.model.marking import Authority, Clearance, Level, Marking
from guetteur.model.track import Position, PositionReport, Track, draw_track

__all__ = [
    "Alert",
    "Indicator",
    "NetworkEvent",
    "Severity",
    "WindowsEvent",
    "ENTITY_TYPES",
    "GROUPS",
    "CoordinateMention",
    "Entity",
    "EntityMention",
    "EntityRef",
    "EntityType",
    "Event",
    "Place",
    "Authority",
    "Chunk",
    "Clearance",
    "Document",
    "Grade",
    "Level",
    "Marking",
    "Position",
    "PositionReport",
    "Track",
    "draw_track",
    "expand_releasability",
]
