"""Text folding shared by every layer that compares names (pure, no dependencies)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "head_lines"]

_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Case, accents and punctuation folded; single spaces: 'Rēzekne-2' → 'rezekne 2'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", plain).split())


def head_lines(text: str, count: int) -> str:
    """The first `count` lines of `text` (where reports state their date and grade)."""
    end = -1
    for _ in range(count):
        end = text.find("\n", end + 1)
        if end == -1:
            return text
    return text[:end]
