"""The PostgreSQL store: a staff's server, for many users and millions of passages."""

from guetteur.store.postgres.store import PostgresStore, open_postgres

__all__ = ["PostgresStore", "open_postgres"]
