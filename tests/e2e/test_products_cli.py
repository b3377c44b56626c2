"""`guetteur ask`, `brief` and `watch` end to end, in real processes, extractive mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import seed_gazetteer, write

GUETTEUR = [sys.executable, "-m", "guetteur"]

SECRET = """NATO SECRET // REL TO FRA

INTREP 021 — Engineer activity at Narva
DTG: 221400ZNOV26
Source grading: B2

SIGINT indicates that the 55th Engineer Brigade moved the pontoon bridge PMP-7 to a forest
clearing 4 km east of Ivangorod on 22 November.

NATO SECRET // REL TO FRA
"""
RESTRICTED = """NATO RESTRICTED

LOGREP 14 — Fuel situation
DTG: 221800ZNOV26
Source grading: A1

A convoy of 45,000 litres of diesel arrived from Paldiski at 1410Z on 22 November.
The fuel depot at Tapa holds 3.1 days of supply of diesel.

NATO RESTRICTED
"""


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUETTEUR_LLM")}
    env["GUETTEUR_HOME"] = str(home)
    done = subprocess.run([*GUETTEUR, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path) -> Path:
    root = tmp_path_factory.mktemp("cli")
    home = root / "ws"
    seed_gazetteer(home, built_gazetteer)
    run(home, "init", "--user", "ops", "--clearance", "NATO SECRET", "--nationality", "FRA")
    run(home, "users", "add", "lux_nr", "--clearance", "NATO RESTRICTED", "--nationality", "LUX")
    write(root / "in", "secret.txt", SECRET)
    write(root / "in", "restricted.txt", RESTRICTED)
    run(home, "ingest", str(root / "in"))
    return home


def test_ask_json_has_the_documented_keys(home: Path) -> None:
    answer = json.loads(run(home, "ask", "How much diesel came from Paldiski?", "--json").stdout)
    assert {"answer", "marking", "citations", "supported"} <= answer.keys()
    assert answer["supported"] and "45,000 litres" in answer["answer"]
    assert answer["marking"] == "NATO RESTRICTED"
    citation = answer["citations"][0]
    assert {"n", "doc_id", "quote", "marking", "grade"} <= citation.keys()
    shown = json.loads(run(home, "show", citation["doc_id"], "--json").stdout)
    assert shown["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_ask_as_a_lesser_reader_and_in_markdown(home: Path) -> None:
    out = run(home, "ask", "Where did the engineer brigade move the pontoon bridge?").stdout
    lines = out.strip().splitlines()
    assert lines[0] == lines[-1] == "**NATO SECRET // REL TO FRA**"
    assert "PMP-7" in out
    lux = run(
        home, "ask", "Where did the engineer brigade move the pontoon bridge?", "--as", "lux_nr"
    )
    assert "PMP-7" not in lux.stdout and "SECRET" not in lux.stdout


def test_brief_json_pdf_and_tear_line(home: Path, tmp_path: Path) -> None:
    brief = json.loads(run(home, "brief", "--format", "sitrep", "--lang", "fr", "--json").stdout)
    assert {"title", "marking", "sections"} <= brief.keys()
    assert brief["marking"] == "NATO SECRET // REL TO FRA"
    for section in brief["sections"]:
        assert {"heading", "sentences"} <= section.keys()
        for sentence in section["sentences"]:
            assert {"text", "marking", "citations"} <= sentence.keys() and sentence["citations"]
    tear = json.loads(run(home, "brief", "--releasable-to", "LUX", "--json").stdout)
    assert tear["marking"] == "NATO RESTRICTED" and tear["releasable_to"] == ["LUX"]
    assert "PMP-7" not in json.dumps(tear)
    pdf = tmp_path / "intsum.pdf"
    done = run(home, "brief", "--pdf", str(pdf))
    assert "NATO SECRET // REL TO FRA" in done.stderr
    assert "NATO SECRET // REL TO FRA" in PdfReader(pdf).pages[0].extract_text()


def test_brief_rejects_an_unknown_nation_by_name(home: Path) -> None:
    done = run(home, "brief", "--releasable-to", "XXX", check=False)
    assert done.returncode == 2 and "'XXX'" in done.stderr


def test_watch_add_list_run(home: Path, tmp_path: Path) -> None:
    run(home, "watch", "add", "PIR-FUEL", "fuel and diesel supply of the battlegroup")
    listed = json.loads(run(home, "watch", "list", "--json").stdout)["requirements"]
    assert [r["name"] for r in listed] == ["PIR-FUEL"]
    first = json.loads(run(home, "watch", "run", "--json").stdout)["requirements"][0]
    assert first["new_hits"] >= 1 and first["digest"] and first["hits"][0]["reason"]
    again = json.loads(run(home, "watch", "run", "--json").stdout)["requirements"][0]
    assert again["new_hits"] == 0 and again["marking"] is None
    assert run(home, "watch", "list", "--as", "lux_nr", "--json").stdout.count("PIR-FUEL") == 0
    rows = run(home, "audit", "verify", "--json")
    assert json.loads(rows.stdout)["intact"]
