"""The SQLite store: access filtered inside queries, and a tamper-evident audit chain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from guetteur import AuditChainError, NotFoundError
from guetteur.enrich.embeddings import embed
from guetteur.model import Chunk, Document
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.store import NewDocument
from guetteur.store.sqlite import SQLiteStore
from guetteur.store.sqlite._connect import connect
from guetteur.store.sqlite.schema import MIGRATIONS

FRA_NS = parse_clearance("NATO SECRET", "FRA")
LUX_NR = parse_clearance("NATO RESTRICTED", "LUX")


def make(doc_id: str, text: str, marking: str) -> NewDocument:
    document = Document(
        id=doc_id,
        title=doc_id,
        text=text,
        language="en",
        marking=parse_marking(marking),
        grade=None,
        source="test",
        origin=f"{doc_id}.txt",
        sha256=doc_id * 4,
        ingested_at=datetime.now(UTC),
    )
    chunks = [Chunk(0, 0, len(text), text)]
    return NewDocument(document, chunks, embed([text]))


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "g.db")


def test_reads_return_only_what_the_reader_may_read(store: SQLiteStore) -> None:
    # 60 SECRET documents that match better than the one RESTRICTED document:
    # if filtering happened after ranking and limit, LUX would see nothing.
    batch = [
        make(f"s{i:02}", f"fuel depot fuel depot strike {i}", "NATO SECRET") for i in range(60)
    ]
    batch.append(make("r", "a fuel depot report", "NATO RESTRICTED // REL TO FRA, LUX"))
    store.add_documents(batch)
    text_hits = store.search_text('"fuel" OR "depot"', LUX_NR, limit=5)
    vector_hits = store.search_vector(embed(["fuel depot"])[0], LUX_NR, limit=5)
    assert [h.doc_id for h in text_hits] == ["r"] == [h.doc_id for h in vector_hits]
    assert len(store.search_text('"fuel"', FRA_NS, limit=100)) == 61
    assert store.get_document("r", LUX_NR).id == "r"
    with pytest.raises(NotFoundError):
        store.get_document("s01", LUX_NR)
    assert store.stats(LUX_NR).documents == 1 and store.stats(FRA_NS).documents == 61


def test_caveats_are_required(store: SQLiteStore) -> None:
    store.add_documents([make("c", "key material handover", "NATO SECRET // REL TO FRA // CRYPTO")])
    assert store.search_text('"key"', FRA_NS, 5) == []
    crypto = parse_clearance("NATO SECRET", "FRA", ["CRYPTO"])
    assert [h.doc_id for h in store.search_text('"key"', crypto, 5)] == ["c"]


def test_schema_is_versioned_and_reopens(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "g.db").close()
    connection = connect(tmp_path / "g.db")
    assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    connection.close()
    SQLiteStore(tmp_path / "g.db").close()


def _tamper(path: Path, sql: str) -> None:
    connection = connect(path)
    connection.execute("DROP TRIGGER IF EXISTS audit_no_update")
    connection.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    connection.execute(sql)
    connection.close()


def test_audit_chain_detects_an_edited_row(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    for n in range(5):
        store.audit("ops", "search", {"query": f"q{n}"})
    assert store.verify_audit()[0] == 5
    store.close()
    _tamper(tmp_path / "g.db", 'UPDATE audit SET detail = \'{"query":"other"}\' WHERE id = 3')
    with pytest.raises(AuditChainError) as error:
        SQLiteStore(tmp_path / "g.db").verify_audit()
    assert error.value.row_id == 3


def test_audit_chain_detects_deleted_rows_in_the_middle_and_at_the_end(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    for n in range(5):
        store.audit("ops", "show", {"doc_id": str(n)})
    store.close()
    _tamper(tmp_path / "g.db", "DELETE FROM audit WHERE id = 5")
    with pytest.raises(AuditChainError, match="4 rows but 5"):
        SQLiteStore(tmp_path / "g.db").verify_audit()
    _tamper(tmp_path / "g.db", "DELETE FROM audit WHERE id = 2")
    with pytest.raises(AuditChainError) as error:
        SQLiteStore(tmp_path / "g.db").verify_audit()
    assert error.value.row_id == 2


def test_audit_log_refuses_updates_through_sql(store: SQLiteStore) -> None:
    store.audit("ops", "search", {"query": "x"})
    with pytest.raises(Exception, match="append-only"):
        store._db.execute("UPDATE audit SET actor = 'someone else'")


def test_a_version_1_workspace_is_migrated_without_losing_documents(tmp_path: Path) -> None:
    from guetteur.store.sqlite.schema import _statements

    connection = connect(tmp_path / "old.db")
    for statement in _statements(MIGRATIONS[0]):
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.execute("INSERT INTO markings(id, canonical) VALUES (1, 'NATO RESTRICTED')")
    connection.execute(
        "INSERT INTO documents VALUES ('r', 'abc', 'Old report', 'fuel depot at Tapa', 'en', 1, "
        "NULL, 'old', 'r.txt', '2026-11-01T00:00:00+00:00', NULL, '{}')"
    )
    connection.close()
    store = SQLiteStore(tmp_path / "old.db")
    assert store.get_document("r", FRA_NS).title == "Old report"
    assert store.list_entities(FRA_NS) == []
    store.close()
