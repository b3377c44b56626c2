"""Symbol codes: MIL-STD-2525C / APP-6 letter SIDCs from CoT types, and back.

The map draws a track with the symbol its CoT type names. An atom type
carries the same three choices as a warfighting SIDC — standard identity,
battle dimension, function — one CoT atom per SIDC letter:

    a-h-G-U-C-F   ↔   S H G P UCF--- *****
                      │ │ │ │ │      └ modifiers, country, order of battle: unset
                      │ │ │ │ └ function: the upper-case atoms after the dimension
                      │ │ │ └ status: present
                      │ │ └ battle dimension (P A G S U F X Z)
                      │ └ standard identity (P U A F N S H J K O)
                      └ coding scheme: warfighting

The CoT type catalogue (takcot/mitre/types.txt) defines the atoms this way;
it is read by the tests, never at run time. What a SIDC says and CoT does not
(status, exercise identities, modifiers) is dropped on the way back; what
CoT says and a SIDC cannot hold (function atoms that are not single
capitals, more than six of them) is dropped on the way there. Types that are
not atoms (bits `b-`, drawings `u-`, tasking `t-`) have no SIDC.
"""

from __future__ import annotations

import re

from guetteur._exceptions import InvalidInputError

__all__ = ["SIDC_LENGTH", "cot_type", "sidc"]

SIDC_LENGTH = 15
FUNCTION_LENGTH = 6

# CoT affiliation atom → SIDC standard identity. CoT's deprecated "x" (other)
# has no identity of its own: drawn as unknown.
_IDENTITY = {
    "p": "P",
    "u": "U",
    "a": "A",
    "f": "F",
    "n": "N",
    "s": "S",
    "h": "H",
    "j": "J",
    "k": "K",
    "o": "O",
    "x": "U",
}
# SIDC standard identity → CoT affiliation; the exercise identities map to the
# real ones they mirror (exercise friend D → f), since CoT has no exercise flag.
_AFFILIATION = {
    "P": "p",
    "U": "u",
    "A": "a",
    "F": "f",
    "N": "n",
    "S": "s",
    "H": "h",
    "J": "j",
    "K": "k",
    "O": "o",
    "G": "p",
    "W": "u",
    "M": "a",
    "D": "f",
    "L": "n",
}
_DIMENSIONS = frozenset("PAGSUFXZ")
# Present, anticipated/planned, and 2525C's capabilities (fully capable, damaged,
# destroyed, full to capacity): none has a CoT atom.
_STATUS = frozenset("PACDXF")
_FUNCTION = re.compile(r"^[A-Z]{0,6}$")


def sidc(cot: str) -> str | None:
    """The 15-letter SIDC of a CoT atom type ('a-h-G-U-C-F' → 'SHGPUCF---*****'),
    None for a type that is not an atom or names no known identity and dimension."""
    atoms = cot.strip().split("-")
    if len(atoms) < 3 or atoms[0] != "a":
        return None
    identity = _IDENTITY.get(atoms[1])
    dimension = atoms[2]
    if identity is None or len(dimension) != 1 or dimension not in _DIMENSIONS:
        return None
    function = ""
    for atom in atoms[3:]:
        if len(atom) != 1 or not ("A" <= atom <= "Z"):
            break  # e.g. a-h-G-E-W-M-A-S-e-sa6: the seeker and missile have no letter
        function += atom
    function = function[:FUNCTION_LENGTH]
    return f"S{identity}{dimension}P{function.ljust(FUNCTION_LENGTH, '-')}*****"


def cot_type(code: str) -> str:
    """The CoT atom type of a warfighting SIDC ('SHGPUCF---*****' → 'a-h-G-U-C-F').

    Accepts the 15 letters, or the first 10 (scheme to function); '-' and '*'
    both mean unset. Raises InvalidInputError naming the code otherwise.
    """
    text = code.strip().upper()
    if len(text) not in (10, SIDC_LENGTH) or not text.isascii():
        raise InvalidInputError(f"{code!r}: a SIDC has 15 characters (or its first 10)")
    scheme, identity, dimension, status, function = (
        text[0], text[1], text[2], text[3], text[4:10].rstrip("-*"),
    )  # fmt: skip
    if scheme != "S":
        raise InvalidInputError(
            f"{code!r}: only warfighting symbols (scheme S) have a CoT atom type, "
            f"not scheme {scheme!r}"
        )
    if identity not in _AFFILIATION:
        raise InvalidInputError(f"{code!r}: {identity!r} is not a standard identity")
    if dimension not in _DIMENSIONS:
        raise InvalidInputError(f"{code!r}: {dimension!r} is not a battle dimension")
    if status not in _STATUS and status not in "-*":
        raise InvalidInputError(f"{code!r}: {status!r} is not a status")
    if not _FUNCTION.match(function):
        raise InvalidInputError(f"{code!r}: {text[4:10]!r} is not a function code")
    return "-".join(["a", _AFFILIATION[identity], dimension, *function])
