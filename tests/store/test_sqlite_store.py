"""The SQLite store: access filtered inside queries, and a tamper-evident audit chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from guetteur import AuditChainError, NotFoundError
from guetteur.enrich.embeddings import embed
from guetteur.model import Alert, Chunk, Document, NetworkEvent, Severity, WindowsEvent
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


# --------------------------------------------------------------------- cyber records


def _alert(n: int, time: datetime | None = None) -> Alert:
    return Alert(
        id=f"alert-{n}",
        time=time or datetime(2017, 3, 24, 16, 0, n % 60, tzinfo=UTC),
        detector="suricata",
        signature="ET SCAN Potential SSH Scan",
        rule_id="2001219",
        severity=Severity.HIGH,
        host="10.1.2.3",
        src="203.0.113.7",
        src_port=40000 + n,
        dst="10.1.2.3",
        dst_port=22,
        flow_id=str(1000 + n),
        techniques=("T1046",),
        raw={"event_type": "alert", "n": n, "é": "ü"},
    )


def test_alerts_count_new_rows_and_round_trip(store: SQLiteStore) -> None:
    marking = parse_marking("NATO RESTRICTED")
    # A time in another zone is stored as UTC, like the others.
    paris = datetime(2017, 3, 24, 18, 0, 59, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    batch = [_alert(0), _alert(1), _alert(1), _alert(59, paris)]
    assert store.add_alerts(batch, marking, "sensor") == 3
    assert store.add_alerts([_alert(1), _alert(2)], marking, "sensor") == 1
    stored = store.list_alerts(FRA_NS)
    # Stored ids are keyed by the workspace secret and the marking: the
    # detector's id, a hash of the record, could be confirmed by a guess.
    keyed = {store.opaque_id("alert", f"alert-{n}", str(marking)): n for n in (0, 1, 2, 59)}
    assert [keyed[s.alert.id] for s in stored] == [0, 1, 2, 59]
    assert replace(stored[0].alert, id="alert-0") == _alert(0)
    assert stored[-1].alert.time == paris and stored[-1].alert.time.tzinfo == UTC
    later = store.list_alerts(FRA_NS, since=datetime(2017, 3, 24, 17, tzinfo=UTC))
    assert [keyed[s.alert.id] for s in later] == [59]
    # The same record held at another marking is another row, not a duplicate.
    assert store.add_alerts([_alert(0)], parse_marking("NATO SECRET"), "sensor") == 1


def test_network_and_windows_events_count_new_rows_once(store: SQLiteStore) -> None:
    marking = parse_marking("NATO RESTRICTED")
    at = datetime(2017, 3, 24, 16, 0, tzinfo=UTC)
    flows = [
        NetworkEvent(at, "flow", "1", "10.0.0.1", "10.0.0.2", {"n": n, "proto": "TCP"})
        for n in (0, 1, 1, 2)
    ]
    assert store.add_network_events(flows, marking, "sensor") == 3
    assert store.add_network_events(flows[:2], marking, "sensor") == 0
    windows = [
        WindowsEvent(at, "Security", "Microsoft-Windows-Security-Auditing", 4624, "ws1",
                     {"TargetUserName": name}, record_id)
        for name, record_id in (("alice", 1), ("bob", 2), ("bob", 2))
    ]  # fmt: skip
    assert store.add_windows_events(windows, marking, "sensor") == 2
    assert store.add_windows_events(windows[1:], marking, "sensor") == 0
    stored = [event for event, _, _ in store.windows_events_for_maintenance()]
    assert [e.data["TargetUserName"] for e in stored] == ["alice", "bob"]


def test_a_failing_alert_batch_stores_nothing_of_itself(store: SQLiteStore) -> None:
    marking = parse_marking("NATO RESTRICTED")
    store.add_alerts([_alert(0)], marking, "sensor")
    # SQLite refuses the third row's port after the first two were inserted.
    unbindable = replace(_alert(3), src_port=object())  # type: ignore[arg-type]
    with pytest.raises(Exception, match="type"):
        store.add_alerts([_alert(1), _alert(2), unbindable], marking, "sensor")
    assert [s.alert.id for s in store.list_alerts(FRA_NS)] == [
        store.opaque_id("alert", "alert-0", str(marking))
    ]
    assert store.add_alerts([_alert(1)], marking, "sensor") == 1
