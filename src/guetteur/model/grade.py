"""NATO Admiralty grading of a piece of information (STANAG 2511 / AJP-2.1).

Source reliability A (completely reliable) … E (unreliable), F (cannot be
judged); information credibility 1 (confirmed) … 5 (improbable), 6 (cannot be
judged). Printed as the two-character code, e.g. "B2".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guetteur._exceptions import GuetteurError

__all__ = ["CREDIBILITY", "Grade", "RELIABILITY"]

RELIABILITY = {
    "A": "completely reliable",
    "B": "usually reliable",
    "C": "fairly reliable",
    "D": "not usually reliable",
    "E": "unreliable",
    "F": "reliability cannot be judged",
}
CREDIBILITY = {
    "1": "confirmed by other sources",
    "2": "probably true",
    "3": "possibly true",
    "4": "doubtful",
    "5": "improbable",
    "6": "truth cannot be judged",
}

_CODE = re.compile(r"^\s*([A-Fa-f])\s*[-/ ]?\s*([1-6])\s*$")


@dataclass(frozen=True)
class Grade:
    """An Admiralty code: reliability letter and credibility digit."""

    reliability: str
    credibility: str

    def __post_init__(self) -> None:
        if self.reliability not in RELIABILITY or self.credibility not in CREDIBILITY:
            raise GuetteurError(f"not an Admiralty grade: {self.reliability}{self.credibility}")

    @classmethod
    def parse(cls, code: str) -> Grade:
        """'B2', 'b-2', 'B/2' → Grade('B', '2'). Raises GuetteurError naming the input."""
        match = _CODE.match(code)
        if not match:
            raise GuetteurError(
                f"not an Admiralty grade: {code!r} (expected a letter A-F and a digit 1-6, e.g. B2)"
            )
        return cls(match.group(1).upper(), match.group(2))

    def __str__(self) -> str:
        return f"{self.reliability}{self.credibility}"

    def describe(self) -> str:
        return f"{RELIABILITY[self.reliability]}, {CREDIBILITY[self.credibility]}"
