"""The server's credentials in SQLite: password hashes, sessions, API tokens,
failed logins and client-certificate subjects.

Only digests are stored (security/credentials.py makes them); the store never
sees a password, a session key or a token. Times are aware UTC datetimes,
stored as ISO 8601 text, which sorts as time does.
"""

from __future__ import annotations

from datetime import datetime

from guetteur.store.base import Session, Token
from guetteur.store.sqlite._common import StoreCore, iso

__all__ = ["CredentialStore"]

_TOKEN_COLUMNS = "id, user, scope, created_at, expires_at, revoked_at, last_used"


class CredentialStore(StoreCore):
    """Credentials, one table each (schema 9)."""

    # ---------------------------------------------------------------- passwords
    def get_password(self, user: str) -> tuple[str, bool] | None:
        """The user's argon2id hash and whether it is a one-time password."""
        row = self._one("SELECT hash, must_change FROM passwords WHERE user = ?", (user,))
        return (row[0], bool(row[1])) if row else None

    def set_password(self, user: str, digest: str, must_change: bool, at: datetime) -> None:
        """Replace the user's password and end every session they had."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO passwords(user, hash, must_change, set_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(user) DO UPDATE SET hash = excluded.hash, "
                "must_change = excluded.must_change, set_at = excluded.set_at",
                (user, digest, int(must_change), iso(at)),
            )
            self._db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    # ----------------------------------------------------------------- sessions
    def add_session(self, session: Session, key_hash: str, csrf_hash: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO sessions(key_hash, user, csrf_hash, method, client, "
                "created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key_hash,
                    session.user,
                    csrf_hash,
                    session.method,
                    session.client,
                    iso(session.created_at),
                    iso(session.last_seen),
                ),
            )

    def get_session(self, key_hash: str) -> tuple[Session, str] | None:
        """The session and its CSRF token's digest."""
        row = self._one(
            "SELECT user, method, client, created_at, last_seen, csrf_hash "
            "FROM sessions WHERE key_hash = ?",
            (key_hash,),
        )
        if row is None:
            return None
        user, method, client, created, seen, csrf_hash = row
        session = Session(
            user, method, client, datetime.fromisoformat(created), datetime.fromisoformat(seen)
        )
        return session, csrf_hash

    def touch_session(self, key_hash: str, at: datetime) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE sessions SET last_seen = ? WHERE key_hash = ?", (iso(at), key_hash)
            )

    def delete_session(self, key_hash: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM sessions WHERE key_hash = ?", (key_hash,))

    def delete_sessions(self, user: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    def delete_sessions_before(self, created_before: datetime, seen_before: datetime) -> int:
        """Forget sessions past their absolute or idle limit; return how many."""
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM sessions WHERE created_at < ? OR last_seen < ?",
                (iso(created_before), iso(seen_before)),
            )
            return int(cursor.rowcount)

    # ------------------------------------------------------------------- tokens
    def add_token(self, token: Token, secret_hash: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO api_tokens(id, user, secret_hash, scope, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    token.user,
                    secret_hash,
                    token.scope,
                    iso(token.created_at),
                    iso(token.expires_at),
                ),
            )

    def token_by_secret(self, secret_hash: str) -> Token | None:
        row = self._one(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE secret_hash = ?", (secret_hash,)
        )
        return _token(row) if row else None

    def get_token(self, token_id: str) -> Token | None:
        row = self._one(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,))
        return _token(row) if row else None

    def list_tokens(self, user: str | None = None) -> list[Token]:
        """Every token (of `user` only, when given), newest first."""
        where, params = ("WHERE user = ?", (user,)) if user else ("", ())
        rows = self._db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens {where} ORDER BY created_at DESC, id",
            params,
        ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str, at: datetime) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (iso(at), token_id),
            )

    def touch_token(self, token_id: str, at: datetime) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE api_tokens SET last_used = ? WHERE id = ?", (iso(at), token_id)
            )

    # ------------------------------------------------------------ failed logins
    def login_failures(self, key: str) -> tuple[int, datetime] | None:
        """How many failures in a row under `key`, and until when it is blocked."""
        row = self._one("SELECT failures, blocked_until FROM login_failures WHERE key = ?", (key,))
        return (int(row[0]), datetime.fromisoformat(row[1])) if row else None

    def set_login_failures(
        self, key: str, failures: int, at: datetime, blocked_until: datetime
    ) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO login_failures(key, failures, last_at, blocked_until) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "failures = excluded.failures, last_at = excluded.last_at, "
                "blocked_until = excluded.blocked_until",
                (key, failures, iso(at), iso(blocked_until)),
            )

    def clear_login_failures(self, key: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    def blocked_logins(self, at: datetime) -> list[tuple[str, int, datetime]]:
        """Keys blocked at `at`: (key, failures, blocked until), longest block first."""
        rows = self._db.execute(
            "SELECT key, failures, blocked_until FROM login_failures "
            "WHERE blocked_until > ? ORDER BY blocked_until DESC, key",
            (iso(at),),
        ).fetchall()
        return [(key, int(n), datetime.fromisoformat(until)) for key, n, until in rows]

    # ----------------------------------------------------- certificate subjects
    def set_certificate_subject(self, subject: str, user: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO certificate_subjects(subject, user) VALUES (?, ?) "
                "ON CONFLICT(subject) DO UPDATE SET user = excluded.user",
                (subject, user),
            )

    def user_for_certificate(self, subject: str) -> str | None:
        row = self._one("SELECT user FROM certificate_subjects WHERE subject = ?", (subject,))
        return row[0] if row else None


def _token(row: tuple[str, str, str, str, str, str | None, str | None]) -> Token:
    token_id, user, scope, created, expires, revoked, used = row
    return Token(
        id=token_id,
        user=user,
        scope=scope,
        created_at=datetime.fromisoformat(created),
        expires_at=datetime.fromisoformat(expires),
        revoked_at=datetime.fromisoformat(revoked) if revoked else None,
        last_used=datetime.fromisoformat(used) if used else None,
    )
