"""Signed anchors: `audit keygen`, `audit anchor`, `audit verify --anchor`, as typed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_audit_integrity import (
    Row,
    audit_triggers,
    ingest,
    new_workspace,
    rewrite_chain,
    without,
)

from guetteur._exceptions import AuditChainError
from guetteur.cli import main
from guetteur.store.sqlite._connect import connect
from guetteur.workspace import DATABASE_NAME, Workspace


def guetteur(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def said(result: Result) -> str:
    """stderr as one line: the console wraps long messages to the terminal's width."""
    return " ".join(result.stderr.split())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    with new_workspace(home) as workspace:
        ingest(workspace, tmp_path / "in", "s.txt", "NATO SECRET\nBrigade at Tapa.\n")
    return home


@pytest.fixture
def key(tmp_path: Path, home: Path) -> Path:
    """The officer's signing key, outside the workspace."""
    path = tmp_path / "officer" / "anchor.key"
    path.parent.mkdir()
    done = guetteur(home, "audit", "keygen", "--out", str(path))
    assert done.exit_code == 0, done.output
    return path


def test_keygen_writes_a_private_key_for_its_owner_only_and_prints_the_public_one(
    home: Path, key: Path
) -> None:
    assert key.stat().st_mode & 0o777 == 0o600
    public = Path(f"{key}.pub").read_text()
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    before = key.read_bytes()
    again = guetteur(home, "audit", "keygen", "--out", str(key))
    assert again.exit_code == 1 and "refusing to overwrite" in said(again)
    assert key.read_bytes() == before


def test_keygen_and_anchor_refuse_a_key_inside_the_workspace(home: Path, key: Path) -> None:
    inside = guetteur(home, "audit", "keygen", "--out", str(home / "anchor.key"))
    assert inside.exit_code == 1 and "inside the workspace" in said(inside)
    assert not (home / "anchor.key").exists()
    shutil.copy2(key, home / "copied.key")
    refused = guetteur(home, "audit", "anchor", "--key", str(home / "copied.key"))
    assert refused.exit_code == 1 and "inside the workspace" in said(refused)


def test_anchor_refuses_a_key_other_accounts_can_read(home: Path, key: Path) -> None:
    key.chmod(0o644)
    refused = guetteur(home, "audit", "anchor", "--key", str(key))
    assert refused.exit_code == 1 and "chmod 600" in said(refused)


def test_the_chain_extends_its_anchor_as_the_workspace_grows(
    home: Path, key: Path, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.json"
    made = guetteur(home, "audit", "anchor", "--key", str(key), "--out", str(anchor))
    assert made.exit_code == 0, made.output
    checkpoint = json.loads(anchor.read_text())
    with Workspace.open(home) as workspace:
        ingest(workspace, tmp_path / "in", "r.txt", "NATO RESTRICTED\nConvoy near Narva.\n")
    by_file = guetteur(
        home, "audit", "verify", "--anchor", str(anchor), "--public-key", f"{key}.pub", "--json"
    )
    assert by_file.exit_code == 0, by_file.output
    verified = json.loads(by_file.stdout)
    assert verified["rows"] > checkpoint["rows"]
    assert verified["anchor"]["head"] == checkpoint["head"]
    by_fingerprint = guetteur(
        home, "audit", "verify", "--anchor", str(anchor), "--public-key", checkpoint["fingerprint"]
    )
    assert by_fingerprint.exit_code == 0 and "extends the anchor" in by_fingerprint.stdout


def stored_ids(home: Path) -> list[str]:
    connection = connect(home / DATABASE_NAME)
    try:
        return [doc_id for (doc_id,) in connection.execute("SELECT id FROM documents")]
    finally:
        connection.close()


def test_a_chain_forged_from_scratch_passes_alone_but_fails_against_an_earlier_anchor(
    home: Path, key: Path, tmp_path: Path
) -> None:
    (secret,) = stored_ids(home)
    with Workspace.open(home) as workspace:
        workspace.show(workspace.user(), secret)
    anchor = tmp_path / "anchor.json"
    assert guetteur(home, "audit", "anchor", "--key", str(key), "--out", str(anchor)).exit_code == 0
    with Workspace.open(home) as workspace:
        ingest(workspace, tmp_path / "in", "r.txt", "NATO RESTRICTED\nConvoy near Narva.\n")
    # The forger erases ops's read of the SECRET report, rewrites the chain and
    # its head consistently, and puts the triggers back exactly as they were.
    database = home / DATABASE_NAME
    rewrite_chain(database, without("show"), audit_triggers(database))
    alone = guetteur(home, "audit", "verify")
    assert alone.exit_code == 0  # what no chain can prove about itself: hence anchors
    against = guetteur(
        home, "audit", "verify", "--anchor", str(anchor), "--public-key", f"{key}.pub"
    )
    assert against.exit_code == 4
    assert "does not extend the anchor" in said(against)


def test_a_rewritten_anchored_row_is_named(home: Path, key: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.json"
    assert guetteur(home, "audit", "anchor", "--key", str(key), "--out", str(anchor)).exit_code == 0
    anchored_rows = json.loads(anchor.read_text())["rows"]

    def lower_the_first_user(rows: list[Row]) -> list[Row]:
        at, actor, action, detail = rows[0]
        return [(at, actor, action, {**detail, "level": "NATO_UNCLASSIFIED"}), *rows[1:]]

    database = home / DATABASE_NAME
    rewrite_chain(database, lower_the_first_user, audit_triggers(database))
    with Workspace.open(home) as workspace:
        pinned = workspace.read_anchor(anchor, f"{key}.pub")
        with pytest.raises(AuditChainError) as error:
            workspace.verify_audit(pinned)
    assert error.value.row_id == anchored_rows
    assert "rewritten since" in str(error.value)


def test_an_anchor_signed_by_another_key_or_edited_fails(
    home: Path, key: Path, tmp_path: Path
) -> None:
    anchor = tmp_path / "anchor.json"
    assert guetteur(home, "audit", "anchor", "--key", str(key), "--out", str(anchor)).exit_code == 0
    # A forger signs their own anchor with their own key: it carries that key,
    # which is exactly why the verifier names the key it trusts.
    forger_key = tmp_path / "forger.key"
    assert guetteur(home, "audit", "keygen", "--out", str(forger_key)).exit_code == 0
    forged = tmp_path / "forged.json"
    made = guetteur(home, "audit", "anchor", "--key", str(forger_key), "--out", str(forged))
    assert made.exit_code == 0
    refused = guetteur(
        home, "audit", "verify", "--anchor", str(forged), "--public-key", f"{key}.pub"
    )
    assert refused.exit_code == 4 and "not by the trusted" in said(refused)
    # The officer's own anchor, its count edited after signing.
    checkpoint = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**checkpoint, "rows": 1}))
    edited = guetteur(
        home, "audit", "verify", "--anchor", str(anchor), "--public-key", f"{key}.pub"
    )
    assert edited.exit_code == 4 and "signature does not match" in said(edited)


def test_verify_needs_the_trusted_key_with_an_anchor(home: Path, key: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.json"
    assert guetteur(home, "audit", "anchor", "--key", str(key), "--out", str(anchor)).exit_code == 0
    alone = guetteur(home, "audit", "verify", "--anchor", str(anchor))
    assert alone.exit_code == 2 and "--public-key" in said(alone)
    not_anchor = guetteur(
        home, "audit", "verify", "--anchor", str(key), "--public-key", f"{key}.pub"
    )
    assert not_anchor.exit_code == 1 and str(key) in said(not_anchor)
