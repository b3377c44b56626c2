"""Text folding shared by every layer that compares names (pure, no dependencies)."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["fold", "fold_marks", "head_lines"]

_NON_WORD = re.compile(r"[^\w]+")
# Combining marks left by decomposition ("é" → "e" + U+0301).
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold_marks(text: str, form: Literal["NFD", "NFKD"] = "NFKD") -> str:
    """`text` lower-cased, decomposed (`form`) and stripped of combining marks, in a
    few C-level passes: passages of huge documents are tens of kilobytes."""
    return _COMBINING.sub("", unicodedata.normalize(form, text.lower()))


def fold(text: str) -> str:
    """Case, accents and punctuation folded; single spaces: 'Rēzekne-2' → 'rezekne 2'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", plain).split())


# A report's header is never longer than this: a 50 MB single-line document is
# not read whole for its date and grade.
HEAD_CHARS = 20_000


def head_lines(text: str, count: int) -> str:
    """The first `count` lines of `text` (where reports state their date and grade),
    at most HEAD_CHARS characters."""
    end = -1
    for _ in range(count):
        end = text.find("\n", end + 1, HEAD_CHARS)
        if end == -1:
            return text[:HEAD_CHARS]
    return text[:end]
