"""Roles, and the names people are known by.

Three roles (issue 9): a security officer manages users, clearances, source
defaults, lowers markings, withdraws documents, reads spills and verifies the
audit; an analyst ingests, loads rules and intelligence, and keeps watches; a
reader reads. A security officer may do what an analyst does. The workspace
layer calls `require` before every action, so every face applies the same
rules. Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from guetteur._exceptions import PermissionDeniedError, UserNameError

__all__ = [
    "ANALYST",
    "READER",
    "ROLES",
    "SECURITY_OFFICER",
    "check_user_name",
    "name_skeleton",
    "parse_role",
    "require",
]

SECURITY_OFFICER = "security_officer"
ANALYST = "analyst"
READER = "reader"
ROLES = (SECURITY_OFFICER, ANALYST, READER)
_RANK = {READER: 0, ANALYST: 1, SECURITY_OFFICER: 2}
_MAX_NAME = 64

# Letters of other scripts drawn like Latin ones: "аdmin" (Cyrillic а) must not
# pass for "admin". Not all of Unicode's confusables, the ones seen in practice.
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "0": "o", "1": "l", "|": "l",
    }
)  # fmt: skip


def parse_role(text: str) -> str:
    """A role from its name ('security-officer', 'analyst', 'reader')."""
    role = text.strip().lower().replace("-", "_").replace(" ", "_")
    if role not in ROLES:
        raise UserNameError(f"{text!r}: not a role (use one of {', '.join(ROLES)})")
    return role


def require(role: str, needed: str, action: str) -> None:
    """Refuse `action` unless `role` is `needed` or above."""
    if _RANK.get(role, -1) < _RANK[needed]:
        raise PermissionDeniedError(
            f"{action} needs the {needed.replace('_', ' ')} role (you are {role.replace('_', ' ')})"
        )


def name_skeleton(name: str) -> str:
    """What a name looks like: case, accents, width and look-alike letters folded."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return folded.translate(_LOOKALIKES).replace("_", "").replace("-", "").replace(".", "")


def check_user_name(name: str, existing: Iterable[str]) -> str:
    """The NFKC form of a new user name; refuse one that is empty, unprintable, or
    that could be mistaken for an existing name."""
    normal = unicodedata.normalize("NFKC", name)
    if not normal or len(normal) > _MAX_NAME:
        raise UserNameError(f"{name!r}: a user name has 1 to {_MAX_NAME} characters")
    for char in normal:
        category = unicodedata.category(char)
        # Control, format (zero-width, bidi), separators and unassigned: unprintable
        # or invisible, they let two different names look the same.
        if category[0] in "CZ":
            raise UserNameError(
                f"{name!r}: a user name cannot hold {unicodedata.name(char, hex(ord(char)))}"
            )
    skeleton = name_skeleton(normal)
    for other in existing:
        if name_skeleton(other) == skeleton:
            raise UserNameError(f"{name!r}: too close to the existing user {other!r}")
    return normal
