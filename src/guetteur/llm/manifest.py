"""SHA-256 manifests of model weights: nothing is loaded unless it is listed.

A weights file is code in disguise (its tokenizer template, its behaviour), so
guetteur loads only files whose SHA-256 appears, under the file's name, in a
manifest: the one shipped with the package (`models.sha256`, the test weights)
or the workspace's own `WORKSPACE/models.sha256`, where a staff lists the
weights it brings after checking their digest against their source. Manifests
use the `sha256sum` format (`<64 hex>  <file name>`, `#` comments), so
`sha256sum model.gguf >> WORKSPACE/models.sha256` adds an entry. Only the base
name of each listed path counts, which is what `sha256sum /models/x.gguf`
writes with a directory in front.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from guetteur._exceptions import ModelError, ModelIntegrityError

__all__ = ["SHIPPED_MANIFEST", "file_sha256", "read_manifest", "verify_weights"]

SHIPPED_MANIFEST = Path(__file__).with_name("models.sha256")

_BLOCK = 1024 * 1024
_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")

# Hashing 100 MB to 10 GB of weights takes seconds to minutes; a file whose
# path, size and modification time are unchanged has not been replaced.
_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def read_manifest(path: Path) -> dict[str, set[str]]:
    """File name -> the SHA-256 digests listed for it; a missing manifest lists nothing."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read model manifest ({exc})") from exc
    listed: dict[str, set[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ModelError(
                f"{path}:{number}: not a sha256sum line ({line[:80]!r}); "
                "expected '<64 hex digits>  <file name>'"
            )
        name = Path(match["name"].strip()).name
        listed.setdefault(name, set()).add(match["digest"].lower())
    return listed


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks; remembered while the file is unchanged."""
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: no such weights file") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read weights file ({exc})") from exc
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        known = _digests.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read weights file ({exc})") from exc
    hexdigest = digest.hexdigest()
    with _digests_lock:
        _digests[key] = hexdigest
    return hexdigest


def verify_weights(path: Path, manifests: Sequence[Path] = ()) -> str:
    """The file's SHA-256 if the shipped or a given manifest lists it; else ModelIntegrityError."""
    digest = file_sha256(path)
    listed: set[str] = set()
    for manifest in (SHIPPED_MANIFEST, *manifests):
        listed |= read_manifest(manifest).get(path.name, set())
    if digest in listed:
        return digest
    if listed:
        expected = ", ".join(sorted(listed))
        raise ModelIntegrityError(
            f"{path}: SHA-256 is {digest} but the model manifest lists {expected}; "
            "the file is damaged or not the one that was checked — refusing to load it"
        )
    target = manifests[0] if manifests else Path("WORKSPACE/models.sha256")
    raise ModelIntegrityError(
        f"{path}: not listed in any model manifest, refusing to load it. "
        f"Check its SHA-256 ({digest}) against the source you got it from, then add it: "
        f"sha256sum {path} >> {target}"
    )
