"""SIDCs from CoT types and back, checked against the CoT type catalogue (types.txt).

The catalogue is read here, from the shared data, never by guetteur itself.
"""

from __future__ import annotations

import re

import pytest
from cot_samples import COT_SAMPLE

from guetteur._exceptions import InvalidInputError
from guetteur.cop.symbols import cot_type, sidc
from guetteur.model.track import AFFILIATIONS, DIMENSIONS

CATALOGUE = COT_SAMPLE / "cot_types_catalog.txt"


def atoms_branch() -> list[str]:
    """The lines of the catalogue's atom branch: from 'a - Atoms' to 'b - Bits'."""
    lines = CATALOGUE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(r"\ba - Atoms\b", line))
    end = next(i for i, line in enumerate(lines) if re.search(r"\bb - Bits\b", line))
    return lines[start:end]


def catalogue_atoms() -> tuple[dict[str, bool], list[str], list[str], list[str]]:
    """Affiliations (letter → current, not deprecated), dimensions, function examples
    ('U-C-D-M-L-A'), and the specific atom types the catalogue proposes."""
    affiliations: dict[str, bool] = {}
    dimensions: list[str] = []
    functions: list[str] = []
    specific: list[str] = []
    for line in atoms_branch():
        status = line.split(" ", 1)[0]
        content = line[len(status) :].lstrip()
        column = len(line) - len(content)  # the catalogue's depth is its indentation
        if found := re.search(r"(a-[a-z]-[A-Z](?:-[A-Z])+)-<", content):
            specific.append(found.group(1))
        elif column == 12 and (found := re.match(r"([a-z]) - ", content)):
            affiliations[found.group(1)] = status != "NoNoNo"
        elif column == 16 and (found := re.match(r"([A-Z]) - ", content)):
            dimensions.append(found.group(1))
        elif found := re.match(r"([A-Z](?:-[A-Z])+) - ", content):
            functions.append(found.group(1))
    return affiliations, dimensions, functions, specific


def test_the_catalogue_is_read_as_expected() -> None:
    affiliations, dimensions, functions, specific = catalogue_atoms()
    assert set(affiliations) == set(AFFILIATIONS) and not affiliations["x"]
    assert set(dimensions) <= set(DIMENSIONS) and {"P", "A", "G", "S", "U", "X"} <= set(dimensions)
    assert "U-C-D-M-L-A" in functions and "U-C-A-A-A-T" in functions
    assert specific == ["a-h-G-E-W-M-A-S"]


def test_every_catalogue_atom_type_round_trips_through_its_sidc() -> None:
    affiliations, dimensions, functions, _ = catalogue_atoms()
    checked = 0
    for affiliation, current in affiliations.items():
        if not current:
            continue
        for dimension in dimensions:
            for function in ["", *functions]:
                atom = "-".join(filter(None, ["a", affiliation, dimension, function]))
                code = sidc(atom)
                assert code is not None and len(code) == 15, atom
                assert code[0] == "S" and code[1] == affiliation.upper() and code[2] == dimension
                assert code[3] == "P" and code[10:] == "*****"
                assert code[4:10] == function.replace("-", "").ljust(6, "-")
                assert cot_type(code) == atom
                checked += 1
    assert checked == 10 * len(dimensions) * (1 + len(functions))


def test_the_examples_of_the_brief_and_what_a_sidc_cannot_hold() -> None:
    assert sidc("a-h-G-U-C-F") == "SHGPUCF---*****"
    assert cot_type("SHGPUCF---*****") == "a-h-G-U-C-F"
    assert cot_type("SHGPUCF---") == "a-h-G-U-C-F"  # the first ten characters suffice
    # The proposed SAM extension: seeker and missile have no SIDC letter.
    assert sidc("a-h-G-E-W-M-A-S-r-sa6") == "SHGPEWMAS-*****"
    assert cot_type("SHGPEWMAS-*****") == "a-h-G-E-W-M-A-S"
    # Deprecated "other" is drawn as unknown; exercise identities read as the real ones.
    assert sidc("a-x-G") == "SUGP------*****"
    assert cot_type("SDGPUCI---*****") == "a-f-G-U-C-I"
    assert cot_type("SHAAMF----*****") == "a-h-A-M-F"  # anticipated: CoT has no status


@pytest.mark.parametrize("cot", ["b-f-t-r", "u-d-c-c", "t-x-takp-v", "a", "a-h", "a-q-G", "a-h-Q"])
def test_types_that_are_not_known_atoms_have_no_sidc(cot: str) -> None:
    assert sidc(cot) is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("GHGPUCF---*****", "scheme"),
        ("SQGPUCF---*****", "standard identity"),
        ("SHQPUCF---*****", "battle dimension"),
        ("SHGQUCF---*****", "status"),
        ("SHGPU-F---*****", "function"),
        ("SHGP", "15 characters"),
    ],
)
def test_a_bad_sidc_is_refused_naming_it(code: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason) as refused:
        cot_type(code)
    assert code in str(refused.value)
