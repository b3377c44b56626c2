"""The `guetteur` command: one click group, its commands split by concern.

`_common` holds the group and the options every command spells the same way;
each other module registers the commands of one concern on it.
"""

from guetteur.cli import (
    admin,
    cot,
    cyber,
    documents,
    entities,
    intel_pull,
    logistics,
    products,
    server,
    store,
    tracks,
)
from guetteur.cli._common import main

__all__ = ["main"]

# Imported for their commands, which register themselves on `main`.
_COMMANDS = (
    admin,
    cot,
    cyber,
    documents,
    entities,
    intel_pull,
    logistics,
    products,
    server,
    store,
    tracks,
)
