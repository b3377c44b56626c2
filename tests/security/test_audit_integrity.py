"""`audit verify` fails when the log lost its protection or does not account for a record.

Each test tampers as someone holding the workspace file would (plain SQL on the
database, the way `sqlite3` would), on a workspace built through the real code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from guetteur._exceptions import AuditChainError
from guetteur.pipeline.ingest import IngestOptions, ingest_paths
from guetteur.security.audit import GENESIS, AuditIntegrityError, chain_hash
from guetteur.security.markings import parse_clearance
from guetteur.store.sqlite._connect import connect
from guetteur.workspace import DATABASE_NAME, Workspace

from conftest import write

Row = tuple[str, str, str, dict[str, object]]  # at, actor, action, detail


def new_workspace(home: Path) -> Workspace:
    return Workspace.create(home, "ops", parse_clearance("NATO SECRET", "FRA", ()))


def ingest(workspace: Workspace, folder: Path, name: str, text: str) -> list[str]:
    path = write(folder, name, text)
    options = IngestOptions(source="reports", actor="ops", clearance=workspace.user().clearance)
    report = ingest_paths(workspace.store, [path], options, enricher=None)
    assert report.ingested == 1, report
    return report.doc_ids


def audit_triggers(database: Path) -> list[str]:
    connection = connect(database)
    try:
        rows = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
        ).fetchall()
    finally:
        connection.close()
    return [sql for (sql,) in rows]


def rewrite_chain(
    database: Path, edit: Callable[[list[Row]], list[Row]], triggers: list[str] | None
) -> None:
    """What a forger holding the file does: drop the triggers, rewrite every row and
    the head consistently, and (with `triggers`) put the triggers back as they were."""
    connection = connect(database)
    try:
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
        ).fetchall():
            connection.execute(f"DROP TRIGGER {name}")
        rows: list[Row] = [
            (at, actor, action, json.loads(detail))
            for at, actor, action, detail in connection.execute(
                "SELECT at, actor, action, detail FROM audit ORDER BY id"
            ).fetchall()
        ]
        rows = edit(rows)
        connection.execute("DELETE FROM audit")
        previous = GENESIS
        for row_id, (at, actor, action, detail) in enumerate(rows, start=1):
            digest = chain_hash(previous, row_id, at, actor, action, detail)
            connection.execute(
                "INSERT INTO audit(id, at, actor, action, detail, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row_id, at, actor, action, json.dumps(detail, sort_keys=True), previous, digest),
            )
            previous = digest
        for key, value in (("audit_head_count", str(len(rows))), ("audit_head_hash", previous)):
            connection.execute("UPDATE settings SET value = ? WHERE key = ?", (value, key))
        for sql in triggers or []:
            connection.execute(sql)
    finally:
        connection.close()


def without(action: str) -> Callable[[list[Row]], list[Row]]:
    return lambda rows: [row for row in rows if row[2] != action]


def hiding(doc_id: str) -> Callable[[list[Row]], list[Row]]:
    """Drop every audit row that mentions `doc_id`."""
    return lambda rows: [row for row in rows if doc_id not in json.dumps(row[3])]


def verify(home: Path) -> tuple[int, str]:
    with Workspace.open(home) as workspace:
        return workspace.verify_audit()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace where ops stored a SECRET report and read it."""
    home = tmp_path / "ws"
    with new_workspace(home) as workspace:
        (doc_id,) = ingest(workspace, tmp_path / "in", "s.txt", "NATO SECRET\nBrigade at Tapa.\n")
        workspace.show(workspace.user(), doc_id)
        assert workspace.verify_audit()[0] >= 3
    return home


def test_a_consistent_rewrite_fails_because_the_triggers_are_gone(home: Path) -> None:
    rewrite_chain(home / DATABASE_NAME, without("show"), triggers=None)
    with pytest.raises(AuditIntegrityError, match="'audit_no_update' is missing") as error:
        verify(home)
    assert "'audit_no_delete' is missing" in str(error.value)


def test_an_altered_trigger_fails(home: Path) -> None:
    connection = connect(home / DATABASE_NAME)
    connection.execute("DROP TRIGGER audit_no_delete")
    # Looks the same to a casual reader, but never fires.
    connection.execute(
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN 0 "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    connection.close()
    with pytest.raises(AuditIntegrityError, match="'audit_no_delete' differs"):
        verify(home)


def test_a_trigger_added_on_the_audit_table_fails(home: Path) -> None:
    connection = connect(home / DATABASE_NAME)
    connection.execute("CREATE TRIGGER audit_scrub AFTER INSERT ON audit BEGIN SELECT 1; END")
    connection.close()
    with pytest.raises(AuditIntegrityError, match="unexpected trigger 'audit_scrub'"):
        verify(home)


def test_a_chain_shorter_than_its_head_fails_even_with_the_triggers_put_back(
    home: Path,
) -> None:
    triggers = audit_triggers(home / DATABASE_NAME)
    connection = connect(home / DATABASE_NAME)
    for sql in ("DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"):
        connection.execute(sql)
    connection.execute("DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)")
    for sql in triggers:
        connection.execute(sql)
    connection.close()
    with pytest.raises(AuditChainError, match="shorter than its recorded head"):
        verify(home)


def test_deleted_head_settings_fail_while_rows_exist(home: Path) -> None:
    connection = connect(home / DATABASE_NAME)
    connection.execute("DELETE FROM settings WHERE key LIKE 'audit_head_%'")
    connection.close()
    with pytest.raises(AuditChainError, match="recorded head is missing"):
        verify(home)


def test_a_dropped_audit_table_and_head_fail_while_documents_exist(home: Path) -> None:
    connection = connect(home / DATABASE_NAME)
    connection.execute("DROP TABLE audit")
    connection.execute("DELETE FROM settings WHERE key LIKE 'audit_head_%'")
    connection.close()
    with pytest.raises(AuditIntegrityError, match="audit table is missing"):
        verify(home)


def test_an_emptied_audit_log_with_its_triggers_fails_naming_the_records(home: Path) -> None:
    # The forger keeps the table and its triggers exactly as the schema makes
    # them, but empties it and deletes its head: an empty, "intact" chain.
    rewrite_chain(home / DATABASE_NAME, lambda rows: [], audit_triggers(home / DATABASE_NAME))
    connection = connect(home / DATABASE_NAME)
    connection.execute("DELETE FROM settings WHERE key LIKE 'audit_head_%'")
    (doc_id,) = connection.execute("SELECT id FROM documents").fetchone()
    connection.close()
    with pytest.raises(AuditIntegrityError) as error:
        verify(home)
    assert f"1 document stored with no audit record ('{doc_id}')" in str(error.value)
    assert "1 user stored with no audit record ('ops')" in str(error.value)


def test_a_document_whose_ingest_was_hidden_fails_even_once_read(
    home: Path, tmp_path: Path
) -> None:
    with Workspace.open(home) as workspace:
        (planted,) = ingest(workspace, tmp_path / "in", "p.txt", "NATO SECRET\nPlanted.\n")
    rewrite_chain(home / DATABASE_NAME, hiding(planted), audit_triggers(home / DATABASE_NAME))
    with Workspace.open(home) as workspace:
        with pytest.raises(AuditIntegrityError, match=f"no audit record \\('{planted}'\\)"):
            workspace.verify_audit()
        # Reading it lists its id in the audit, but a read is no trace of a write:
        # otherwise one search would launder any planted document.
        workspace.show(workspace.user(), planted)
        with pytest.raises(AuditIntegrityError, match=planted):
            workspace.verify_audit()


def test_a_user_added_behind_the_audit_fails(home: Path) -> None:
    with Workspace.open(home) as workspace:
        workspace.store.add_user(
            "mallory", parse_clearance("COSMIC TOP SECRET", "FRA", ()), "security_officer"
        )
        with pytest.raises(AuditIntegrityError, match="1 user stored with no audit record"):
            workspace.verify_audit()


def test_an_intact_workspace_verifies_with_every_record_traced(home: Path, tmp_path: Path) -> None:
    with Workspace.open(home) as workspace:
        ingest(workspace, tmp_path / "in", "r.txt", "NATO RESTRICTED\nConvoy near Narva.\n")
        workspace.add_user("lux_nr", parse_clearance("NATO RESTRICTED", "LUX", ()), "ops")
        rows, head = workspace.verify_audit()
    assert rows >= 5 and len(head) == 64
