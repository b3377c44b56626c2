"""Noninterference on PostgreSQL: the twin workspaces of tests/security (twins.py),
built through the real CLI and pipeline, with their records in PostgreSQL.

Each twin's two workspaces get a database of their own on the contract suite's
throwaway server; every command the reader R can run must print the same in
both, byte for byte once run times are normalised. Fewer random twins than on
SQLite (the twin suite there draws 300): the rules are the same code, and what
PostgreSQL does on its own — full-text statistics, one vector index per
marking, the dialect's rewrites — is what these exercise. The findings of
issue 9 run here too, as fixed twins.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from psycopg.conninfo import conninfo_to_dict

# Both in tests/security, on the path through noninterference_fixtures (tests/conftest.py).
from test_noninterference import FINDINGS
from twins import SHARED_DATA, Pipeline, Twin, compare_twin, twins

from noninterference_fixtures import twin_settings

from .conftest import Postgres

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

EXAMPLES = 30


class Databases:
    """A new database per workspace, dropped once the twin has been compared."""

    def __init__(self, postgres: Postgres) -> None:
        self.postgres = postgres
        self.made: list[str] = []

    def __call__(self) -> str:
        url = self.postgres.new_database()
        self.made.append(str(conninfo_to_dict(url)["dbname"]))
        return url

    def drop(self) -> None:
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as admin:
            for name in self.made:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.made.clear()


@pytest.fixture(scope="module")
def databases(postgres: Postgres) -> Iterator[Databases]:
    made = Databases(postgres)
    yield made
    made.drop()


def compare_on_postgresql(twin: Twin, base: Path, databases: Databases) -> None:
    try:
        run = compare_twin(twin, base, stores=databases)
        assert not run.differences(), run.report()
    finally:
        databases.drop()


@twin_settings(EXAMPLES)
@given(twin=twins())
def test_a_reader_sees_the_same_on_postgresql_whatever_they_may_not_read(
    twin_pipeline: Pipeline, twin_scratch: Path, databases: Databases, twin: Twin
) -> None:
    compare_on_postgresql(twin, twin_scratch, databases)


@pytest.mark.parametrize("twin", FINDINGS.values(), ids=FINDINGS.keys())
def test_a_finding_of_issue_9_shows_no_difference_on_postgresql(
    twin_pipeline: Pipeline, twin_scratch: Path, databases: Databases, twin: Twin
) -> None:
    compare_on_postgresql(twin, twin_scratch, databases)


def test_twin_workspaces_are_on_postgresql(
    twin_pipeline: Pipeline, twin_scratch: Path, databases: Databases
) -> None:
    """The control: the twins above really kept their records in PostgreSQL."""
    twin = FINDINGS["7-search-scores-from-hidden-statistics"]
    run = compare_twin(twin, twin_scratch, stores=databases)
    try:
        assert not run.differences(), run.report()
        held = []
        for name in databases.made:
            with psycopg.connect(databases.postgres.url(name), autocommit=True) as db:
                held.append(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
        plain, hidden = held
        assert 0 < plain < hidden
    finally:
        databases.drop()
