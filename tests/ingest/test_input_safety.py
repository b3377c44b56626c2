"""What ingest refuses to open, how it prints what it skipped, and mixed encodings.

Regression tests for issue 9, findings 14 and 16: a FIFO blocked `ingest`
forever, a symlink loop crashed it with a traceback, links were followed out
of the folder a user named, a UTF-8 file with one Latin-1 byte became mojibake
throughout, and a file name holding a newline faked lines in the output. All
go through the real CLI (click's CliRunner) or the real ingest.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guetteur.cli import main
from guetteur.pipeline.chunking import MAX_CHARS, chunk_text
from guetteur.security.markings import parse_marking
from guetteur.workspace import Workspace

MARKING = "NATO UNCLASSIFIED"
REPORT = "Compte rendu\n\nLe convoi logistique a quitté Tapa vers Narva ce matin.\n"


@pytest.fixture
def home(workspace: Workspace) -> Path:
    return workspace.home


def ingest(home: Path, *args: str | Path) -> Result:
    return CliRunner().invoke(
        main,
        ["--home", str(home), "ingest", *map(str, args), "--marking", MARKING],
        catch_exceptions=False,
    )


def ingest_json(home: Path, *args: str | Path) -> tuple[int, dict[str, object]]:
    result = ingest(home, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def failures(report: dict[str, object]) -> dict[str, str]:
    failed = report["failed"]
    assert isinstance(failed, list)
    return {Path(item["path"]).name: item["error"] for item in failed}


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO with no writer; if ingest ever opens it blocking, a helper unblocks it
    after a minute so the test fails instead of hanging the suite."""
    path = tmp_path / "drop" / "pipe.txt"
    path.parent.mkdir()
    os.mkfifo(path)
    done = threading.Event()
    unblocked: list[bool] = []

    def unblock() -> None:
        if not done.wait(60):
            unblocked.append(True)
            with open(path, "wb"):
                pass

    helper = threading.Thread(target=unblock, daemon=True)
    helper.start()
    yield path
    done.set()
    helper.join()
    assert not unblocked, "ingest blocked on the FIFO"


def test_a_fifo_named_directly_is_listed_and_never_opened(home: Path, fifo: Path) -> None:
    code, report = ingest_json(home, fifo)
    assert code == 3
    assert report["ingested"] == 0
    assert "FIFO" in failures(report)["pipe.txt"]


def test_a_fifo_in_a_folder_is_listed_and_the_rest_ingested(home: Path, fifo: Path) -> None:
    (fifo.parent / "report.txt").write_text(REPORT, encoding="utf-8")
    code, report = ingest_json(home, fifo.parent)
    assert code == 3
    assert report["ingested"] == 1
    assert failures(report) == {
        "pipe.txt": "skipped: a FIFO (named pipe); only regular files are read"
    }


def test_symlink_loops_are_listed_not_a_traceback(home: Path, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.txt").symlink_to(drop / "b.txt")
    (drop / "b.txt").symlink_to(drop / "a.txt")
    (drop / "up").symlink_to(drop)
    code, report = ingest_json(home, drop)
    assert code == 3
    assert failures(report) == {
        "a.txt": "symlink loop",
        "b.txt": "symlink loop",
        "up": "symlink loop (leads back to a folder above it)",
    }
    # Named directly, too.
    code, report = ingest_json(home, drop / "a.txt")
    assert code == 3 and failures(report) == {"a.txt": "symlink loop"}


def test_links_out_of_the_folder_are_followed_only_with_follow_links(
    home: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.txt").write_text(REPORT, encoding="utf-8")
    (elsewhere / "sub").mkdir()
    (elsewhere / "sub" / "other.txt").write_text(REPORT + "Deuxième.\n", encoding="utf-8")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "inside.txt").write_text(REPORT + "Troisième.\n", encoding="utf-8")
    (drop / "private.txt").symlink_to(elsewhere / "private.txt")
    (drop / "folder").symlink_to(elsewhere / "sub")
    (drop / "again.txt").symlink_to(drop / "inside.txt")  # inside: followed, stored once

    code, report = ingest_json(home, drop)
    assert code == 3
    assert report["ingested"] == 1
    skipped = failures(report)
    assert set(skipped) == {"private.txt", "folder"}
    assert all("leads outside the given folders" in why for why in skipped.values())
    assert "--follow-links" in skipped["folder"]

    code, report = ingest_json(home, drop, "--follow-links")
    assert code == 0 and report["failed"] == []
    assert (report["ingested"], report["duplicates"]) == (2, 1)


def test_a_newline_in_a_file_name_cannot_fake_a_line(home: Path, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    # Empty, so it fails: its name is printed in the failure line.
    (drop / "x.txt\n  failed: forged.txt: \x1b[31mfake.txt").write_bytes(b"")
    (drop / "report.txt").write_text(REPORT, encoding="utf-8")

    result = ingest(home, drop)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert [line for line in lines if "failed:" in line] == [
        f"  failed: {drop}/x.txt\\x0a  failed: forged.txt: \\x1b[31mfake.txt: empty file"
    ]
    assert "\x1b" not in result.output

    code, report = ingest_json(home, drop)
    assert code == 3
    (failed,) = report["failed"]  # type: ignore[misc]
    assert failed["path"] == f"{drop}/x.txt\\x0a  failed: forged.txt: \\x1b[31mfake.txt"


def test_a_utf8_file_with_one_latin1_byte_keeps_its_utf8_lines(workspace: Workspace) -> None:
    folder = workspace.home.parent / "in"
    folder.mkdir()
    text = (
        "Rapport de situation\n"
        "Le régiment a été déployé près de Võru.\n"
        "Citation : « {bad} »\n"
        "Évaluation : les blindés sont arrivés à Tartu.\n"
    )
    data = text.encode("utf-8").replace(b"{bad}", "café".encode("cp1252"))
    (folder / "mixed.txt").write_bytes(data)
    operator = workspace.user()
    report = workspace.ingest(operator, [folder], source="test", marking=parse_marking(MARKING))
    assert report.failed == [] and report.ingested == 1
    stored = workspace.show(operator, report.doc_ids[0]).text
    assert stored == text.replace("{bad}", "café")


@pytest.mark.parametrize(
    "line",
    [
        "x" * (3 * MAX_CHARS + 17),  # one token, no space, no sentence end
        ("mot " * 200_000).strip(),  # words, no sentence end: 800,000 characters
        "Phrase. " * 100_000,  # sentences, no newline
    ],
    ids=["one-token", "no-sentence-end", "sentences-on-one-line"],
)
def test_a_line_longer_than_a_passage_is_cut_into_bounded_passages(line: str) -> None:
    chunks = chunk_text(line)
    assert len(chunks) > 1
    assert all(0 < len(chunk.text) <= MAX_CHARS for chunk in chunks)
    assert all(chunk.text == line[chunk.start : chunk.end] for chunk in chunks)
    # Nothing is lost: only the whitespace between passages is left out.
    covered = "".join(line[a.end : b.start] for a, b in zip(chunks, chunks[1:], strict=False))
    assert not covered.strip()
    assert chunks[0].start == 0 and chunks[-1].end == len(line.rstrip())
