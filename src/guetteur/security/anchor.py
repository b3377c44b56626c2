"""Signed checkpoints of the audit chain, with a key kept outside the workspace.

The hash chain (`guetteur.security.audit`) shows edits to a log but cannot
stop someone who holds the database file from rewriting the whole chain
consistently. A checkpoint ("anchor") pins the chain: the number of rows and
the head hash at a moment, signed with Ed25519 by a key that never lives in
the workspace. Later, `guetteur audit verify --anchor FILE --public-key KEY`
proves that row N of today's chain still has the signed hash, i.e. that the
chain was only appended to since. The verifier names the key it trusts
(a public key file or its fingerprint): a key carried by the checkpoint alone
proves nothing, since a forger would sign with their own.

Pure functions build and check checkpoints; the few functions at the end
read and write key files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from guetteur._exceptions import GuetteurError
from guetteur.security.audit import AuditIntegrityError, ChainHead

__all__ = [
    "ANCHOR_FORMAT",
    "AnchorError",
    "checked_checkpoint",
    "create_key_file",
    "fingerprint",
    "public_key_pem",
    "read_key_file",
    "read_trusted_key",
    "refuse_inside",
    "signed_checkpoint",
]

ANCHOR_FORMAT = "guetteur-audit-anchor/1"
_FINGERPRINT = re.compile(r"SHA256:[0-9a-f]{64}")


class AnchorError(GuetteurError):
    """A key or anchor file that cannot be used; the message names the file."""


# ----------------------------------------------------------------- pure rules
def fingerprint(key: Ed25519PublicKey) -> str:
    """'SHA256:' and the hex SHA-256 of the raw 32-byte public key: short enough to write down."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _signed_bytes(rows: int, head: str, at: str) -> bytes:
    return json.dumps([ANCHOR_FORMAT, rows, head, at], separators=(",", ":")).encode("utf-8")


def signed_checkpoint(key: Ed25519PrivateKey, head: ChainHead, at: datetime) -> dict[str, Any]:
    """The checkpoint of `head`, signed: what `guetteur audit anchor` writes."""
    when = at.astimezone(UTC).isoformat()
    signature = key.sign(_signed_bytes(head.rows, head.hash, when))
    public = key.public_key()
    return {
        "format": ANCHOR_FORMAT,
        "rows": head.rows,
        "head": head.hash,
        "at": when,
        "public_key": base64.b64encode(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ).decode("ascii"),
        "fingerprint": fingerprint(public),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def checked_checkpoint(
    checkpoint: Mapping[str, Any], trusted: Ed25519PublicKey | str, origin: str
) -> ChainHead:
    """The chain point a checkpoint pins, once its signature verifies with the trusted key.

    `trusted` is the verifier's own public key, or its fingerprint ('SHA256:...').
    A malformed checkpoint raises AnchorError; one signed by another key, or
    whose fields were changed after signing, raises AuditIntegrityError.
    """
    try:
        if checkpoint.get("format") != ANCHOR_FORMAT:
            raise ValueError(f"format is not {ANCHOR_FORMAT!r}")
        rows, head, at = checkpoint["rows"], checkpoint["head"], checkpoint["at"]
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise ValueError("'rows' is not a count")
        if not isinstance(head, str) or not re.fullmatch(r"[0-9a-f]{64}", head):
            raise ValueError("'head' is not a SHA-256 hex digest")
        if not isinstance(at, str):
            raise ValueError("'at' is not a time")
        carried = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(checkpoint["public_key"]), validate=True)
        )
        signature = base64.b64decode(str(checkpoint["signature"]), validate=True)
    except (KeyError, ValueError, binascii.Error) as error:
        raise AnchorError(f"{origin}: not a guetteur audit anchor ({error})") from None
    if isinstance(trusted, str):
        if fingerprint(carried) != trusted:
            raise AuditIntegrityError(
                f"{origin}: signed by key {fingerprint(carried)}, not by the trusted {trusted}"
            )
        trusted = carried
    elif fingerprint(carried) != fingerprint(trusted):
        raise AuditIntegrityError(
            f"{origin}: signed by key {fingerprint(carried)}, "
            f"not by the trusted {fingerprint(trusted)}"
        )
    try:
        trusted.verify(signature, _signed_bytes(rows, head, at))
    except InvalidSignature:
        raise AuditIntegrityError(
            f"{origin}: the signature does not match the checkpoint (altered after signing)"
        ) from None
    return ChainHead(rows, head)


def refuse_inside(path: Path, folder: Path) -> None:
    """Refuse a signing key in (or linked into) the workspace: whoever holds the
    workspace files could then sign a forged chain."""
    resolved, home = path.expanduser().resolve(), folder.expanduser().resolve()
    if resolved == home or resolved.is_relative_to(home):
        raise AnchorError(
            f"{path}: inside the workspace {folder}; keep the anchor key outside it "
            "(another account, a removable medium), or whoever holds the workspace "
            "files can sign a forged chain"
        )


# ---------------------------------------------------------------- key files
def create_key_file(path: Path, workspace: Path) -> Ed25519PublicKey:
    """A new Ed25519 key at `path` (0600) and its public half at `path`.pub; never overwrites."""
    refuse_inside(path, workspace)
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists() or target.is_symlink():
            raise AnchorError(f"{target}: already exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(path, private, 0o600)
    _write_new(public_path, public_key_pem(key.public_key()).encode("ascii"), 0o644)
    return key.public_key()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never follow a planted link nor overwrite; fchmod: the umask may
    # have masked `mode`, and a wider one must not leave the key readable.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise AnchorError(f"{path}: already exists; refusing to overwrite a key") from None
    except OSError as error:
        raise AnchorError(f"{path}: cannot create ({error.strerror})") from None
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_key_file(path: Path, workspace: Path) -> Ed25519PrivateKey:
    """The signing key at `path`: outside the workspace, readable by its owner only."""
    refuse_inside(path, workspace)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as error:
        raise AnchorError(f"{path}: cannot read the key ({error.strerror})") from None
    if mode & 0o077:
        raise AnchorError(
            f"{path}: other accounts can read this signing key (mode {mode & 0o777:04o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise AnchorError(f"{path}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorError(f"{path}: not an Ed25519 key (make one with `guetteur audit keygen`)")
    return key


def read_trusted_key(spec: str) -> Ed25519PublicKey | str:
    """`--public-key`: a fingerprint 'SHA256:<hex>' as printed by keygen, else a PEM file."""
    if _FINGERPRINT.fullmatch(spec.strip()):
        return spec.strip()
    path = Path(spec).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AnchorError(
            f"{spec}: neither a public key file ({error.strerror}) nor a 'SHA256:' fingerprint"
        ) from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as error:
        raise AnchorError(f"{path}: not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorError(f"{path}: not an Ed25519 public key")
    return key
