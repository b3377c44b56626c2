"""Who may log in to the server, and how: passwords, sessions, API tokens,
client certificates, and the back-off on failed logins.

The server (api/) calls this through `Workspace.accounts`; the CLI's
`users passwd` and `tokens` commands do too. Every login, failed login,
logout, token use and password change is written to the audit chain here,
whatever face asked. Secrets are made and hashed by security/credentials.py;
only digests reach the store.

What a caller learns from a refusal is the same whatever was wrong (unknown
user, wrong password, expired session, revoked token): `AuthenticationError`
with one message. Failed logins are counted per name — known or not, so a
block says nothing about which names exist — and per client address.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from guetteur._exceptions import (
    AuthenticationError,
    InvalidInputError,
    LoginBlockedError,
    NotFoundError,
    PasswordPolicyError,
    UnknownUserError,
)
from guetteur.ingest._decode import printable
from guetteur.security.credentials import (
    TOKEN_PREFIX,
    check_password_policy,
    digest,
    hash_password,
    needs_rehash,
    new_one_time_password,
    new_secret,
    same_digest,
    verify_password,
)
from guetteur.security.roles import SECURITY_OFFICER, require
from guetteur.store import Session, Store, Token, User

__all__ = [
    "ABSOLUTE_LIMIT",
    "IDLE_TIMEOUT",
    "LOCKOUT_FAILURES",
    "Accounts",
    "Login",
    "SCOPES",
]

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=12)
TOKEN_LONGEST = timedelta(days=365)
SCOPES = ("read", "write")
# Back-off: the third failure in a row blocks for 1 s, then 2, 4, ... up to 15
# minutes. At the tenth the name (or address) is locked out: it stays blocked
# 15 minutes at a time, and security officers are told (audit `login.lockout`,
# `GET /api/admin/lockouts`). A failure an hour after the block ended starts over.
FREE_FAILURES = 2
LONGEST_BLOCK = timedelta(minutes=15)
LOCKOUT_FAILURES = 10
FORGET_AFTER = timedelta(hours=1)
# Under this, `last_seen` is not rewritten on every request: a read stays a read.
_TOUCH_EVERY = timedelta(seconds=60)
REFUSED = "authentication required: wrong or expired credentials"


@dataclass(frozen=True)
class Login:
    """A new browser session: the cookie's value and the CSRF token, shown once."""

    user: User
    session_key: str
    csrf_token: str
    must_change_password: bool


def _now() -> datetime:
    return datetime.now(UTC)


def _name_key(name: str) -> str:
    # "Alice" and "alice" share one counter, as look-alike names cannot both exist.
    return "user:" + unicodedata.normalize("NFKC", name).casefold()[:128]


class Accounts:
    """Credentials of a workspace's users. `clock` is replaceable in tests."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.clock = clock

    # ---------------------------------------------------------------- passwords
    def set_password(self, actor: User, name: str, password: str | None = None) -> str:
        """Give `name` a one-time password (generated unless given); return it.

        Security officers only. The user must change it at first login, and
        every session they had ends.
        """
        require(actor.role, SECURITY_OFFICER, "setting a user's password")
        user = self.store.get_user(name)
        chosen = password if password is not None else new_one_time_password(user.name)
        check_password_policy(user.name, chosen)
        self.store.set_password(user.name, hash_password(chosen), True, self.clock())
        self.store.audit(actor.name, "password.set", {"user": user.name})
        return chosen

    def change_password(self, user: User, old: str, new: str) -> None:
        """The user's own change: the old password must match; every session ends."""
        stored = self.store.get_password(user.name)
        if not verify_password(stored[0] if stored else None, old):
            self.store.audit(user.name, "password.change_failed", {"user": user.name})
            raise AuthenticationError("the current password is wrong")
        check_password_policy(user.name, new)
        if old == new:
            raise PasswordPolicyError("the new password must differ from the current one")
        self.store.set_password(user.name, hash_password(new), False, self.clock())
        self.store.audit(user.name, "password.change", {"user": user.name})

    # ------------------------------------------------------------------- logins
    def login(self, name: str, password: str, client: str) -> Login:
        """A session for `name`, or AuthenticationError (LoginBlockedError when backing off)."""
        at = self.clock()
        keys = (_name_key(name), "address:" + client)
        try:
            self._refuse_if_blocked(keys, at)
        except LoginBlockedError:
            self.store.audit("-", "login.blocked", {"user": printable(name[:64]), "client": client})
            raise
        user = self._known_user(name)
        stored = self.store.get_password(user.name) if user else None
        if user is None or stored is None or not verify_password(stored[0], password):
            # An unknown name pays for a decoy verification inside verify_password.
            if user is None or stored is None:
                verify_password(None, password)
            self._failed(keys, name, client, at)
            raise AuthenticationError(REFUSED)
        if needs_rehash(stored[0]):
            self.store.set_password(user.name, hash_password(password), stored[1], at)
        self.store.clear_login_failures(keys[0])
        # Sessions past their limits are refused when used; forget them too.
        self.store.delete_sessions_before(at - ABSOLUTE_LIMIT, at - IDLE_TIMEOUT)
        return self._open_session(user, "password", client, at, must_change=stored[1])

    def login_certificate(self, subject: str, client: str) -> Login:
        """A session for the user a client certificate's subject is mapped to."""
        user = self.certificate_user(subject)
        return self._open_session(user, "certificate", client, self.clock(), must_change=False)

    def certificate_user(self, subject: str) -> User:
        name = self.store.user_for_certificate(subject)
        if name is None:
            self.store.audit("-", "login.failed", {"certificate": printable(subject[:256])})
            raise AuthenticationError(REFUSED)
        return self.store.get_user(name)

    def _known_user(self, name: str) -> User | None:
        try:
            return self.store.get_user(unicodedata.normalize("NFKC", name))
        except UnknownUserError:
            return None

    def _open_session(
        self, user: User, method: str, client: str, at: datetime, *, must_change: bool
    ) -> Login:
        key, csrf = new_secret(), new_secret()
        self.store.add_session(
            Session(user.name, method, client, at, at), digest(key), digest(csrf)
        )
        self.store.audit(user.name, "login", {"method": method, "client": client})
        return Login(user, key, csrf, must_change)

    def _refuse_if_blocked(self, keys: tuple[str, ...], at: datetime) -> None:
        waits = []
        for key in keys:
            known = self.store.login_failures(key)
            if known and known[1] > at:
                waits.append(known[1] - at)
        if waits:
            seconds = max(1, int(max(waits).total_seconds() + 0.999))
            raise LoginBlockedError(
                f"too many failed logins: try again in {seconds} s", retry_after=seconds
            )

    def _failed(self, keys: tuple[str, ...], name: str, client: str, at: datetime) -> None:
        shown = printable(name[:64])
        self.store.audit("-", "login.failed", {"user": shown, "client": client})
        for key in keys:
            known = self.store.login_failures(key)
            failures = 1
            if known and at - known[1] < FORGET_AFTER:
                failures = known[0] + 1
            block = timedelta(0)
            if failures > FREE_FAILURES:
                block = min(timedelta(seconds=2 ** (failures - FREE_FAILURES - 1)), LONGEST_BLOCK)
            if failures >= LOCKOUT_FAILURES:
                block = LONGEST_BLOCK
            self.store.set_login_failures(key, failures, at, at + block)
            if failures == LOCKOUT_FAILURES:
                what = {"user": shown} if key.startswith("user:") else {"client": client}
                self.store.audit("-", "login.lockout", {**what, "failures": failures})

    def lockouts(self, actor: User) -> list[tuple[str, int, datetime]]:
        """Names and addresses blocked now, for security officers."""
        require(actor.role, SECURITY_OFFICER, "reading login lockouts")
        self.store.audit(actor.name, "lockouts.list", {})
        return self.store.blocked_logins(self.clock())

    # ----------------------------------------------------------------- sessions
    def session(self, key: str) -> tuple[User, Session, str]:
        """The user behind a session cookie, with the session and its CSRF digest."""
        found = self.store.get_session(digest(key)) if key else None
        if found is None:
            raise AuthenticationError(REFUSED)
        session, csrf_hash = found
        at = self.clock()
        if at - session.created_at > ABSOLUTE_LIMIT or at - session.last_seen > IDLE_TIMEOUT:
            self.store.delete_session(digest(key))
            self.store.audit(session.user, "session.expired", {"method": session.method})
            raise AuthenticationError(REFUSED)
        if at - session.last_seen > _TOUCH_EVERY:
            self.store.touch_session(digest(key), at)
        return self.store.get_user(session.user), session, csrf_hash

    @staticmethod
    def csrf_matches(csrf_hash: str, presented: str | None) -> bool:
        return bool(presented) and same_digest(csrf_hash, digest(presented or ""))

    def logout(self, key: str) -> None:
        found = self.store.get_session(digest(key))
        self.store.delete_session(digest(key))
        if found is not None:
            self.store.audit(found[0].user, "logout", {"method": found[0].method})

    # ------------------------------------------------------------------- tokens
    def create_token(
        self, actor: User, name: str, expires: timedelta, scope: str = "read"
    ) -> tuple[Token, str]:
        """A token for `name` (their own, or anyone's for a security officer); its secret once."""
        if name != actor.name:
            require(actor.role, SECURITY_OFFICER, "creating a token for another user")
        user = self.store.get_user(name)
        if scope not in SCOPES:
            raise InvalidInputError(f"scope {scope!r}: not a token scope (use read or write)")
        if not timedelta(0) < expires <= TOKEN_LONGEST:
            raise InvalidInputError("expires: a token lasts between 1 second and 365 days")
        at = self.clock()
        secret = TOKEN_PREFIX + new_secret()
        token = Token(secrets.token_hex(8), user.name, scope, at, at + expires)
        self.store.add_token(token, digest(secret))
        self.store.audit(
            actor.name,
            "token.create",
            {"token": token.id, "user": user.name, "scope": scope, "expires": token.expires_at},
        )
        return token, secret

    def tokens(self, actor: User) -> list[Token]:
        """Every token for a security officer; one's own for others."""
        self.store.audit(actor.name, "tokens.list", {})
        if actor.role == SECURITY_OFFICER:
            return self.store.list_tokens()
        return self.store.list_tokens(actor.name)

    def revoke_token(self, actor: User, token_id: str) -> Token:
        token = self.store.get_token(token_id)
        if token is None or (token.user != actor.name and actor.role != SECURITY_OFFICER):
            raise NotFoundError(f"no token {token_id!r}")
        self.store.revoke_token(token_id, self.clock())
        self.store.audit(actor.name, "token.revoke", {"token": token_id, "user": token.user})
        return token

    def token_user(self, secret: str, method: str, path: str) -> tuple[User, Token]:
        """The user a bearer token acts for; each use is audited."""
        token = self.store.token_by_secret(digest(secret)) if secret else None
        at = self.clock()
        if token is None or token.revoked_at is not None or token.expires_at <= at:
            raise AuthenticationError(REFUSED)
        self.store.touch_token(token.id, at)
        self.store.audit(
            token.user, "token.use", {"token": token.id, "method": method, "path": path}
        )
        return self.store.get_user(token.user), token

    # ----------------------------------------------------- certificate subjects
    def map_certificate(self, actor: User, subject: str, name: str) -> None:
        """Let the client certificate with `subject` (RFC 4514) log in as `name`."""
        require(actor.role, SECURITY_OFFICER, "mapping a certificate to a user")
        user = self.store.get_user(name)
        if not subject.strip() or not subject.isprintable():
            raise InvalidInputError(f"{printable(subject)!r}: not a certificate subject")
        self.store.set_certificate_subject(subject, user.name)
        self.store.audit(actor.name, "certificate.map", {"subject": subject, "user": user.name})
