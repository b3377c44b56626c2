"""Every error guetteur raises on purpose.

    GuetteurError                 base: catch this to catch ours
    ├── MarkingError              a marking or clearance string that cannot be parsed
    ├── LexiconError              a user lexicon file that cannot be read; names file and line
    ├── GazetteerError            the gazetteer index cannot be used; names the file
    ├── SigmaRuleError            a file that is not a valid Sigma rule; names the file
    │   └── UnsupportedRule       a valid rule using a feature the matcher lacks; says which
    ├── InvalidStixError          a STIX object we produced does not validate; names it
    ├── IngestError               one input (file, feed entry) could not be read; names it
    │   └── NoMarkingError        an input with no banner, no --marking and no source default
    ├── WorkspaceError            no workspace, or a workspace that is not ours / not initialised
    ├── UnknownUserError          --as names a user the workspace does not know
    ├── UserNameError             a user name or role that is refused; says why
    ├── PermissionDeniedError     the acting user's role does not allow the action; says which
    ├── AuthenticationError       not logged in, or wrong credentials: says nothing more
    │   └── LoginBlockedError     too many failed logins: wait `retry_after` seconds
    ├── PasswordPolicyError       a new password is refused; says why
    ├── InvalidInputError         an argument or request field that is refused; names it
    ├── NotFoundError             a record that does not exist *for this reader*
    ├── AuditChainError           the audit chain was edited or truncated; names the first bad row
    ├── ModelError                the language model failed or is unreachable; names URL or file
    │   └── ModelIntegrityError   weights absent from the SHA-256 manifest, or not matching it
    └── MissingDependencyError    an optional extra is not installed; says which to install

Messages say what went wrong with which input and, where it helps, what to do.
"""

from __future__ import annotations

__all__ = [
    "AuditChainError",
    "AuthenticationError",
    "GazetteerError",
    "GuetteurError",
    "LexiconError",
    "LoginBlockedError",
    "IngestError",
    "InvalidInputError",
    "InvalidStixError",
    "MarkingError",
    "MissingDependencyError",
    "ModelError",
    "ModelIntegrityError",
    "NoMarkingError",
    "NotFoundError",
    "PasswordPolicyError",
    "SigmaRuleError",
    "UnknownUserError",
    "UserNameError",
    "PermissionDeniedError",
    "UnsupportedRule",
    "WorkspaceError",
]


class GuetteurError(Exception):
    """Base of every error guetteur raises on purpose."""


class MarkingError(GuetteurError, ValueError):
    """A marking or clearance string that cannot be parsed."""


class LexiconError(GuetteurError, ValueError):
    """A lexicon file that cannot be read; the message names the file and line."""


class GazetteerError(GuetteurError):
    """The gazetteer file cannot be used; the message names it and says what to do."""


class SigmaRuleError(GuetteurError, ValueError):
    """A file that is not a valid Sigma rule (YAML syntax, schema); names the file."""


class UnsupportedRule(SigmaRuleError):
    """A valid Sigma rule using a feature this matcher does not implement."""


class InvalidStixError(GuetteurError, ValueError):
    """A STIX object guetteur produced does not validate; `object_id` names it."""

    def __init__(self, object_id: str, reason: str) -> None:
        self.object_id = object_id
        self.reason = reason
        super().__init__(f"{object_id}: invalid STIX 2.1 ({reason})")


class IngestError(GuetteurError):
    """One input could not be read. `origin` names it (a path, or path#entry)."""

    def __init__(self, origin: str, reason: str) -> None:
        self.origin = origin
        self.reason = reason
        super().__init__(f"{origin}: {reason}")


class NoMarkingError(IngestError):
    """An input with no banner, no --marking and no default marking for its source."""


class UserNameError(GuetteurError, ValueError):
    """A user name (empty, unprintable, look-alike) or role that is refused."""


class PermissionDeniedError(GuetteurError):
    """The acting user's role does not allow the action; the message says which role does."""


class AuthenticationError(GuetteurError):
    """Not logged in, or credentials that do not match.

    The message is the same whatever was wrong (unknown user, wrong password,
    expired session or token): a caller learns nothing about which names exist.
    """


class LoginBlockedError(AuthenticationError):
    """Too many failed logins for this name or address: retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidInputError(GuetteurError):
    """An argument or request field that is refused; the message names it and says why."""


class PasswordPolicyError(GuetteurError):
    """A new password is refused (too short, the user's name...); the message says why."""


class WorkspaceError(GuetteurError):
    """The workspace is missing, not initialised, or not a guetteur workspace."""


class UnknownUserError(GuetteurError):
    """A user name the workspace does not know."""


class NotFoundError(GuetteurError):
    """A record that does not exist, or that this reader may not know exists."""


class AuditChainError(GuetteurError):
    """The audit chain is broken; `row_id` is the first row that does not verify."""

    def __init__(self, row_id: int, reason: str) -> None:
        self.row_id = row_id
        self.reason = reason
        super().__init__(f"audit chain broken at row {row_id}: {reason}")


class MissingDependencyError(GuetteurError):
    """An optional dependency is missing; the message names the extra to install."""


class ModelError(GuetteurError):
    """The language model could not answer (server down, timeout, bad reply); names URL or file."""


class ModelIntegrityError(ModelError):
    """A weights file absent from the SHA-256 manifest, or whose digest differs; names it."""
