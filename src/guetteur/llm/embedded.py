"""llama.cpp inside the guetteur process, on a GGUF file the manifest lists.

The laptop answer to "no model server on this network": `xllamacpp` (the
optional `embedded` extra) runs the llama.cpp server engine in-process on a
local weights file. The file is checked against the SHA-256 manifests before
llama.cpp ever opens it. Loading takes from a fraction of a second (the 98 MB
SmolLM2 test weights) to minutes, so a loaded model is kept for the life of
the process and shared by every `EmbeddedModel` on the same file and settings.

The engine cannot run without its HTTP listener, so that listener is fenced:
on POSIX it is a Unix socket in a fresh 0700 directory instead of a loopback
port, it requires a random API key that never leaves the process, its web UI
and slot endpoints are off, and its logging is cut to errors.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guetteur._exceptions import MissingDependencyError, ModelError
from guetteur.llm.base import Completion, Message, TokenCallback, as_dicts
from guetteur.llm.manifest import verify_weights

__all__ = ["EmbeddedModel"]

# llama.cpp log levels: 0 output, 1 error, 2 warning, 3 info, 4 debug.
_LOG_ERRORS_ONLY = 1
# A Unix socket path must fit in sockaddr_un (108 bytes on Linux).
_MAX_SOCKET_PATH = 100


class _Runtime:
    """One loaded model: the xllamacpp server, and a lock so one request runs at a time."""

    def __init__(self, server: Any, socket_dir: Path | None, load_seconds: float) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.load_seconds = load_seconds
        if socket_dir is not None:
            weakref.finalize(self, shutil.rmtree, socket_dir, ignore_errors=True)


_runtimes: dict[tuple[str, str, int, int], _Runtime] = {}
_runtimes_lock = threading.Lock()


def _xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise MissingDependencyError(
            "the embedded model needs llama.cpp bindings: pip install 'guetteur[embedded]'"
        ) from exc
    return xllamacpp


def _private_socket_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="guetteur-llm-"))  # mode 0700
    if len(str(directory / "llm.sock")) > _MAX_SOCKET_PATH:
        shutil.rmtree(directory, ignore_errors=True)
        directory = Path(tempfile.mkdtemp(prefix="guetteur-llm-", dir="/tmp"))
    return directory


def _load(xlc: Any, gguf: Path, context: int, threads: int) -> _Runtime:
    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = context
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = _LOG_ERRORS_ONLY
    params.offline = True  # never ask a model hub for anything
    params.api_keys = [secrets.token_urlsafe(32)]
    params.ui = False
    params.endpoint_slots = False
    params.endpoint_props = False
    params.endpoint_metrics = False
    params.n_threads_http = 1
    socket_dir = _private_socket_dir() if os.name == "posix" else None
    if socket_dir is not None:
        params.hostnames = [str(socket_dir / "llm.sock")]
    started = time.perf_counter()
    try:
        server = xlc.Server(params)
    except (RuntimeError, ValueError) as exc:
        if socket_dir is not None:
            shutil.rmtree(socket_dir, ignore_errors=True)
        raise ModelError(f"{gguf}: llama.cpp cannot load these weights ({exc})") from exc
    return _Runtime(server, socket_dir, time.perf_counter() - started)


class EmbeddedModel:
    """A GGUF model run in-process by llama.cpp, after checking it against the manifests.

    `context` is the context window in tokens (prompt plus answer); `threads`
    the CPU threads to use (None: all of them). `manifests` are manifests to
    consult besides the shipped one, typically WORKSPACE/models.sha256.
    """

    def __init__(
        self,
        gguf: Path,
        context: int = 4096,
        threads: int | None = None,
        manifests: Sequence[Path] = (),
    ) -> None:
        if context <= 0:
            raise ModelError(f"{gguf}: context must be a positive number of tokens, not {context}")
        xlc = _xllamacpp()
        self.gguf = Path(gguf)
        self.digest = verify_weights(self.gguf, manifests)
        threads = threads if threads and threads > 0 else (os.cpu_count() or 1)
        key = (str(self.gguf.resolve()), self.digest, context, threads)
        with _runtimes_lock:
            runtime = _runtimes.get(key)
            if runtime is None:
                runtime = _runtimes[key] = _load(xlc, self.gguf, context, threads)
        self._runtime: _Runtime | None = runtime

    @property
    def model_id(self) -> str:
        """`embedded:<file name>@sha256:<first 12 hex digits>`."""
        return f"embedded:{self.gguf.name}@sha256:{self.digest[:12]}"

    @property
    def load_seconds(self) -> float:
        """How long llama.cpp took to load the weights (once per process)."""
        return self._live().load_seconds

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Generate an answer, streaming each piece to `on_token`; ModelError naming the file."""
        runtime = self._live()
        request = {
            "messages": as_dicts(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        pieces: list[str] = []
        errors: list[str] = []
        usage: dict[str, Any] = {}
        first_token: list[float] = []
        raised: list[BaseException] = []
        started = time.perf_counter()

        def take(chunk: Any) -> bool:
            """Handle one streamed chunk; True tells llama.cpp to stop generating."""
            if not isinstance(chunk, dict):
                return False
            if chunk.get("error"):
                errors.append(_error_message(chunk["error"]))
                return True
            if isinstance(chunk.get("usage"), dict):
                usage.update(chunk["usage"])
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") if isinstance(choice, dict) else None
                content = delta.get("content") if isinstance(delta, dict) else None
                if not isinstance(content, str) or not content:
                    continue
                if not first_token:
                    first_token.append(time.perf_counter() - started)
                pieces.append(content)
                if on_token is not None:
                    try:
                        on_token(content)
                    except BaseException as exc:
                        # Never raise into llama.cpp (it would print and carry on):
                        # stop it, and re-raise the caller's exception once it returns.
                        raised.append(exc)
                        return True
            return False

        with runtime.lock:
            try:
                result = runtime.server.handle_chat_completions(request, take)
            except (RuntimeError, ValueError) as exc:
                raise ModelError(f"{self.gguf}: the embedded model failed ({exc})") from exc
        if raised:
            raise raised[0]
        if isinstance(result, dict) and result.get("error"):
            errors.append(_error_message(result["error"]))
        if errors:
            raise ModelError(f"{self.gguf}: the embedded model failed ({errors[0]})")
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Completion(
            text="".join(pieces),
            model_id=self.model_id,
            prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
            completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None,
            first_token_seconds=first_token[0] if first_token else None,
            total_seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        """Stop using the model; the loaded weights stay cached for the rest of the process."""
        self._runtime = None

    def _live(self) -> _Runtime:
        if self._runtime is None:
            raise ModelError(f"{self.gguf}: this embedded model was closed")
        return self._runtime


def _error_message(error: Any) -> str:
    """The message of a llama.cpp server error object, or the object itself."""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return str(error)
