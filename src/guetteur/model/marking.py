"""Classification markings and clearances, as values.

A `Marking` is what travels with every record and every derived product: a
level on one ordered scale, the authority whose labels print it (NATO, French
national, or plain English), the set of nations it is releasable to, and the
caveats a reader must hold. Parsing and the access rule live in
`guetteur.security.markings`; this module only holds the values and their
canonical printed form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from guetteur.model._countries import GROUPS

__all__ = ["Authority", "Clearance", "Level", "Marking", "default_releasability"]


class Level(enum.IntEnum):
    """The one ordered scale every label maps onto."""

    UNCLASSIFIED = 0
    RESTRICTED = 1
    CONFIDENTIAL = 2
    SECRET = 3
    TOP_SECRET = 4


class Authority(enum.IntEnum):
    """Whose labels print a marking. Ordered so that combining picks one deterministically."""

    PLAIN = 0  # plain English labels, releasability stated explicitly
    NATIONAL_FRA = 1  # French national labels (IGI 1300)
    NATO = 2


LABELS: dict[Authority, dict[Level, str]] = {
    Authority.NATO: {
        Level.UNCLASSIFIED: "NATO UNCLASSIFIED",
        Level.RESTRICTED: "NATO RESTRICTED",
        Level.CONFIDENTIAL: "NATO CONFIDENTIAL",
        Level.SECRET: "NATO SECRET",
        Level.TOP_SECRET: "COSMIC TOP SECRET",
    },
    Authority.NATIONAL_FRA: {
        Level.UNCLASSIFIED: "NON PROTÉGÉ",
        Level.RESTRICTED: "DIFFUSION RESTREINTE",
        Level.CONFIDENTIAL: "CONFIDENTIEL DÉFENSE",
        Level.SECRET: "SECRET",
        Level.TOP_SECRET: "TRÈS SECRET",
    },
    Authority.PLAIN: {
        Level.UNCLASSIFIED: "UNCLASSIFIED",
        Level.RESTRICTED: "RESTRICTED",
        Level.CONFIDENTIAL: "CONFIDENTIAL",
        # "SECRET" is read as the French national label (the same word); a plain
        # SECRET therefore does not exist and the parser never builds one.
        Level.SECRET: "SECRET",
        Level.TOP_SECRET: "TOP SECRET",
    },
}


def default_releasability(authority: Authority) -> frozenset[str] | None:
    """What a label implies when no REL TO is written (None: unrestricted)."""
    if authority is Authority.NATO:
        return GROUPS["NATO"]
    if authority is Authority.NATIONAL_FRA:
        return frozenset({"FRA"})
    return None


@dataclass(frozen=True)
class Marking:
    """A classification marking.

    `releasable_to` is the *expanded* set of ISO 3166 alpha-3 codes; `None`
    means no restriction at all (plain UNCLASSIFIED only). An empty set means
    releasable to nobody — what an impossible combination yields, never less.
    """

    level: Level
    authority: Authority
    releasable_to: frozenset[str] | None
    caveats: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # The states no parser or combination can produce; refusing them here
        # keeps a hand-built Marking from meaning "readable by everyone".
        if self.releasable_to is None and (
            self.authority is not Authority.PLAIN or self.level is not Level.UNCLASSIFIED
        ):
            raise ValueError(f"{self.level.name} needs an explicit releasability")
        if self.authority is Authority.PLAIN and self.level is Level.SECRET:
            raise ValueError("plain SECRET is the French national label: use NATIONAL_FRA")

    @property
    def label(self) -> str:
        return LABELS[self.authority][self.level]

    def default_releasability(self) -> frozenset[str] | None:
        """What this marking's label implies when no REL TO is written."""
        return default_releasability(self.authority)

    def releasability_tokens(self) -> list[str]:
        """REL TO as printed: whole groups folded into their names, then codes, sorted."""
        assert self.releasable_to is not None
        remaining = set(self.releasable_to)
        tokens: list[str] = []
        for name, members in GROUPS.items():
            if members <= remaining:
                tokens.append(name)
                remaining -= members
        return tokens + sorted(remaining)

    def __str__(self) -> str:
        parts = [self.label]
        if self.releasable_to != self.default_releasability():
            tokens = self.releasability_tokens() if self.releasable_to is not None else []
            parts.append("REL TO " + (", ".join(tokens) if tokens else "NONE"))
        parts.extend(sorted(self.caveats))
        return " // ".join(parts)


@dataclass(frozen=True)
class Clearance:
    """What a user may read: level, nationality (alpha-3), caveats held.

    `release_to` narrows a reader to what may also be handed to partner
    nations (a tear-line product): only records releasable to every one of
    them, and carrying no caveat, pass. Empty for ordinary reads.
    """

    level: Level
    nationality: str
    caveats: frozenset[str] = frozenset()
    release_to: frozenset[str] = frozenset()

    def for_release_to(self, nations: frozenset[str]) -> Clearance:
        """This reader, restricted to what is releasable to `nations` too."""
        return Clearance(self.level, self.nationality, self.caveats, self.release_to | nations)
