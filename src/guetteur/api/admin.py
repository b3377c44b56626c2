"""Users, passwords, tokens, certificates, markings and the audit: `/api/admin/...`
and `/api/tokens`.

The role checks are the workspace's (security officers for users, source
defaults, lowering and withdrawal, spills, lockouts and the audit); these
endpoints only translate requests. A user may list, create and revoke their
own API tokens; a security officer, anyone's.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.responses import Response

from guetteur import arguments, views
from guetteur.api.auth import Caller, caller, workspace
from guetteur.api.records import marked
from guetteur.security.markings import parse_clearance, parse_marking
from guetteur.security.roles import SECURITY_OFFICER, require
from guetteur.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["administration"])


# -------------------------------------------------------------------- users
class UserFields(BaseModel):
    clearance: str = Field(min_length=1, max_length=200, examples=["NATO SECRET"])
    nationality: str = Field(min_length=3, max_length=3, examples=["FRA"])
    caveats: list[str] = Field(default_factory=list, max_length=50)
    role: Literal["security_officer", "analyst", "reader"] = "analyst"


class NewUser(UserFields):
    name: str = Field(min_length=1, max_length=64)


@router.get("/admin/users")
def users(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """Every user (security officers), or oneself."""
    return marked(views.users_json(ws.users(who.user)))


@router.post("/admin/users", status_code=201)
def add_user(
    added: NewUser, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """Add a user (security officers); give them a password next."""
    clearance = parse_clearance(added.clearance, added.nationality, added.caveats)
    user = ws.add_user(added.name, clearance, who.user, added.role)
    return marked({"user": views.user_json(user)}, status=201)


@router.put("/admin/users/{name}")
def set_user(
    name: str, fields: UserFields, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """Change a user's clearance and role (security officers; never their own)."""
    clearance = parse_clearance(fields.clearance, fields.nationality, fields.caveats)
    return marked({"user": views.user_json(ws.set_user(who.user, name, clearance, fields.role))})


@router.post("/admin/users/{name}/password")
def set_password(
    name: str, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """A generated one-time password for `name`, shown once; they change it at first login."""
    password = ws.accounts.set_password(who.user, name)
    return marked({"user": name, "password": password, "must_change_password": True})


class CertificateMapping(BaseModel):
    subject: str = Field(min_length=1, max_length=1000, examples=["CN=alice,O=FRA,C=FR"])
    user: str = Field(min_length=1, max_length=64)


@router.post("/admin/certificates", status_code=201)
def map_certificate(
    mapping: CertificateMapping, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """Let the client certificate with this subject (RFC 4514) log in as the user."""
    ws.accounts.map_certificate(who.user, mapping.subject, mapping.user)
    return marked({"subject": mapping.subject, "user": mapping.user}, status=201)


@router.get("/admin/lockouts")
def lockouts(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """Names and addresses blocked now after failed logins (security officers)."""
    return marked(views.lockouts_json(ws.accounts.lockouts(who.user)))


# ------------------------------------------------------------------- tokens
class NewToken(BaseModel):
    user: str | None = Field(None, max_length=64, description="Default: the caller.")
    expires: str = Field("30d", max_length=16, description="A duration: 12h, 30d, 52w.")
    scope: Literal["read", "write"] = "read"


@router.get("/tokens")
def tokens(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """API tokens: one's own, or every one for a security officer. Never their secrets."""
    return marked(views.tokens_json(ws.accounts.tokens(who.user)))


@router.post("/tokens", status_code=201)
def create_token(
    asked: NewToken, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """A new API token; its secret is in this answer only. Send it as `Authorization: Bearer`."""
    token, secret = ws.accounts.create_token(
        who.user, asked.user or who.user.name, arguments.parse_duration(asked.expires), asked.scope
    )
    return marked({"token": views.token_json(token), "secret": secret}, status=201)


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: str, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """Revoke a token at once."""
    return marked({"token": views.token_json(ws.accounts.revoke_token(who.user, token_id))})


# ------------------------------------------------------- markings and audit
class SourceDefault(BaseModel):
    marking: str = Field(min_length=1, max_length=500)


@router.put("/admin/sources/{name}")
def set_source_default(
    name: str,
    fields: SourceDefault,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """The marking a source's unmarked inputs get (security officers)."""
    marking = parse_marking(fields.marking)
    ws.set_source_default(who.user, name, marking)
    return marked({"source": name, "default_marking": str(marking)})


class Remark(BaseModel):
    marking: str = Field(min_length=1, max_length=500)
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/admin/documents/{doc_id}/remark")
def remark(
    doc_id: str, fields: Remark, who: Caller = Depends(caller), ws: Workspace = Depends(workspace)
) -> Response:
    """Raise a document's marking (analysts who read it), or lower it (security officers)."""
    marking = parse_marking(fields.marking)
    new_id = ws.remark(who.user, doc_id, marking, fields.reason)
    return marked({"id": new_id, "marking": str(marking)})


class Withdrawal(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/admin/documents/{doc_id}/withdraw")
def withdraw(
    doc_id: str,
    fields: Withdrawal,
    who: Caller = Depends(caller),
    ws: Workspace = Depends(workspace),
) -> Response:
    """Remove a document and everything derived from it (security officers)."""
    ws.withdraw(who.user, doc_id, fields.reason)
    return marked({"withdrawn": doc_id})


@router.get("/admin/spills")
def spills(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """Content written lower than it was already held (security officers)."""
    return marked(views.spills_json(ws.spills(who.user)))


@router.get("/admin/audit/verify")
def audit_verify(who: Caller = Depends(caller), ws: Workspace = Depends(workspace)) -> Response:
    """Check the audit chain end to end (security officers)."""
    require(who.user.role, SECURITY_OFFICER, "verifying the audit")
    rows, head = ws.verify_audit()
    payload: dict[str, Any] = views.audit_verify_json(rows, head)
    ws.store.audit(who.user.name, "audit.verify", {"rows": rows})
    return marked(payload)
