"""The SQLite store's SQL spoken to PostgreSQL (store/postgres/_dialect.py): a
plain INSERT of many rows is a COPY, with the same rows and the same errors."""

from __future__ import annotations

import pytest

from guetteur.store.postgres._dialect import Connection, translate
from guetteur.store.sqlite._connect import IntegrityError

from .conftest import Postgres


def test_only_plain_inserts_become_copies() -> None:
    assert translate("INSERT INTO t(a, b) VALUES (?, ?)").copy == "COPY t (a, b) FROM STDIN"
    assert translate("INSERT INTO chunks(doc_id, idx) VALUES (?, ?)").copy == (
        "COPY chunks (doc_id, idx) FROM STDIN"
    )  # the RETURNING id added for lastrowid does not stop it
    for sql in (
        "INSERT OR IGNORE INTO t(a) VALUES (?)",
        "INSERT INTO t(a, b) VALUES (?, 1)",
        "INSERT INTO t(a) VALUES (?) ON CONFLICT(a) DO UPDATE SET a = excluded.a",
        "INSERT INTO t(a) SELECT value FROM json_each(?)",
        "UPDATE t SET a = ?",
    ):
        assert translate(sql).copy is None, sql


def test_many_rows_inserted_by_copy_are_stored_alike_and_clash_alike(postgres: Postgres) -> None:
    db = Connection(postgres.new_database(template=None))
    try:
        db.execute("CREATE TABLE t (a TEXT PRIMARY KEY, b BIGINT, c BYTEA, d TEXT)")
        rows = [
            (f"k{n}", n, bytes([n % 256, 0, 255]), None if n % 2 else "é\t\\n") for n in range(500)
        ]
        db.executemany("INSERT INTO t(a, b, c, d) VALUES (?, ?, ?, ?)", iter(rows))
        assert db.total_changes == 500
        stored = db.execute("SELECT a, b, c, d FROM t ORDER BY b").fetchall()
        assert [(a, b, bytes(c), d) for a, b, c, d in stored] == rows
        db.execute("BEGIN")
        with pytest.raises(IntegrityError, match="t_pkey"):
            db.executemany(
                "INSERT INTO t(a, b, c, d) VALUES (?, ?, ?, ?)",
                [("new", 1, b"", ""), ("k7", 1, b"", "")],
            )
        db.execute("ROLLBACK")
        assert db.execute("SELECT count(*) FROM t").fetchone() == (500,)
    finally:
        db.close()
