"""Which store a workspace folder holds, and opening it.

A workspace is a folder. Its records are either in the SQLite file
`guetteur.db` inside it (the default), or in a PostgreSQL database named by
the folder's `store.toml`:

    [store]
    url = "postgresql://guetteur@db.staff.lan/guetteur"

The file is the operator's (0600), like the SQLite file. A password written
in the URL is kept there; to keep it out of the folder, leave it out of the
URL and give it the way every PostgreSQL client takes one — PGPASSWORD, or
a ~/.pgpass file (PGPASSFILE) — which libpq reads when it connects.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from guetteur._exceptions import WorkspaceError
from guetteur.store.base import Store

__all__ = [
    "DATABASE_NAME",
    "STORE_CONFIG",
    "create_store",
    "open_store",
    "store_exists",
    "store_url",
]

DATABASE_NAME = "guetteur.db"
STORE_CONFIG = "store.toml"
_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str) -> bool:
    return url.startswith(_SCHEMES)


def store_url(home: Path) -> str | None:
    """The PostgreSQL URL the workspace's store.toml names, or None (SQLite)."""
    path = home / STORE_CONFIG
    if not path.is_file():
        return None
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
        url = config["store"]["url"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise WorkspaceError(
            f'{path}: expected [store] url = "postgresql://..." ({error})'
        ) from error
    if not isinstance(url, str) or not is_postgres_url(url):
        raise WorkspaceError(f"{path}: [store] url must be a postgresql:// URL")
    return url


def store_exists(home: Path) -> bool:
    return (home / DATABASE_NAME).exists() or (home / STORE_CONFIG).exists()


def open_store(home: Path) -> Store:
    """The store of the workspace at `home` (SQLite, or PostgreSQL by store.toml)."""
    url = store_url(home)
    if url is not None:
        from guetteur.store.postgres import open_postgres

        return open_postgres(url)
    from guetteur.store.sqlite import open_store as open_sqlite

    return open_sqlite(home / DATABASE_NAME)


def create_store(home: Path, url: str | None) -> Store:
    """Make the new workspace's store file (SQLite) or config (PostgreSQL), private.

    A PostgreSQL database that already holds a workspace is refused: two
    workspaces would otherwise share users, records and one audit chain.
    """
    name = DATABASE_NAME if url is None else STORE_CONFIG
    target = home / name
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise WorkspaceError(f"{home}: a workspace already exists here") from None
    os.chmod(target, 0o600)
    if url is None:
        from guetteur.store.sqlite import open_store as open_sqlite

        return open_sqlite(target)
    from guetteur.store.postgres import open_postgres

    try:
        if not is_postgres_url(url):
            raise WorkspaceError("--store: expected a postgresql:// URL")
        store = open_postgres(url)
        if store.list_users():
            store.close()
            raise WorkspaceError(
                "the PostgreSQL database already holds a guetteur workspace: "
                "give each workspace its own database"
            )
    except BaseException:
        target.unlink()
        raise
    # json.dumps writes a valid TOML basic string (the same escapes).
    target.write_text(f"[store]\nurl = {json.dumps(url)}\n", encoding="utf-8")
    return store
