"""Secrets people log in with: password hashing and policy, random keys, digests.

Passwords are hashed with argon2id (argon2-cffi, RFC 9106's second recommended
parameter set: 64 MiB, 3 passes); session keys, CSRF tokens and API tokens are
random 256-bit values, so a SHA-256 digest is enough to store them: nobody
can search that space. Pure functions; accounts.py stores and audits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from guetteur._exceptions import PasswordPolicyError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "check_password_policy",
    "digest",
    "hash_password",
    "new_one_time_password",
    "new_secret",
    "needs_rehash",
    "same_digest",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "gtr_"  # so a leaked token is recognisable by secret scanners

_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
# Verified against when the user does not exist, so that an unknown name costs
# what a known one does: timing must not tell which names exist.
_DECOY = _HASHER.hash(secrets.token_urlsafe(16))


def _normalised(password: str) -> bytes:
    # The same password typed on two keyboards may arrive composed or decomposed.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def check_password_policy(user: str, password: str) -> None:
    """Refuse a password too short, or one built on the user's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"the new password is too short: at least {MIN_PASSWORD_LENGTH} characters"
        )
    if any(unicodedata.category(c) == "Cc" for c in password):
        raise PasswordPolicyError("the new password holds control characters")
    folded = unicodedata.normalize("NFKC", password).casefold()
    name = unicodedata.normalize("NFKC", user).casefold()
    if name and (name in folded or folded in name or name[::-1] in folded):
        raise PasswordPolicyError("the new password must not contain the user's name")
    if len(set(folded)) < 4:
        raise PasswordPolicyError("the new password repeats too few different characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(_normalised(password))


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; a missing hash costs a decoy check."""
    try:
        return _HASHER.verify(stored or _DECOY, _normalised(password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def new_secret() -> str:
    """A random 256-bit value, URL-safe: session keys, CSRF tokens, token secrets."""
    return secrets.token_urlsafe(32)


def new_one_time_password(user: str) -> str:
    """A password the security officer hands over; it must be changed at first login.

    Drawn again until it meets the policy: a random draw can hold a short
    user name ("ops" turns up in about one draw in a thousand).
    """
    while True:
        password = secrets.token_urlsafe(15)  # 20 characters, 120 bits
        try:
            check_password_policy(user, password)
        except PasswordPolicyError:
            continue
        return password


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
