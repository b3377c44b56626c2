"""Client for an OpenAI-compatible chat server on the staff network.

vLLM, the llama.cpp server and Ollama all speak `POST /v1/chat/completions`;
this client is how products reach them when `GUETTEUR_LLM_URL` is set. The URL
is the API base, like the OpenAI SDK's `base_url`: `http://host:8000/v1`. A
bare `http://host:8000` means the usual `/v1` base, and a URL that already ends
in `/chat/completions` is accepted as is; any other path (`http://gw/llm/v1`)
is used unchanged. That one address is the only one ever contacted: no
redirect is followed and proxy variables of the environment are ignored.
Replies are streamed (server-sent events) so a product can show tokens as they
come; a server that ignores `stream` and sends one JSON reply works too.
Connection failures, timeouts, 429 and 5xx replies are retried with
exponential backoff; a request the server refuses (other 4xx) is not.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from guetteur._exceptions import ModelError
from guetteur.llm.base import Completion, Message, TokenCallback, as_dicts

__all__ = ["API_KEY_VARIABLE", "OpenAICompatibleModel", "api_base"]

API_KEY_VARIABLE = "GUETTEUR_LLM_API_KEY"

# Longest wait a server may ask for with Retry-After before we try again.
_MAX_RETRY_AFTER = 30.0


def api_base(url: str) -> str:
    """The API base a chat request goes under: `http://host:8000` -> `http://host:8000/v1`."""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise ModelError(f"model server URL {url!r}: {exc} (GUETTEUR_LLM_URL)") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ModelError(
            f"model server URL {url!r} is not an http(s) URL, "
            "e.g. http://host:8000/v1 (GUETTEUR_LLM_URL)"
        )
    path = parsed.path.rstrip("/")
    path = path.removesuffix("/chat/completions")
    if not path:
        path = "/v1"
    return str(parsed.copy_with(path=path, query=None, fragment=None))


class _Failure(Exception):
    """One attempt failed; `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class _Answer:
    """What one attempt has received so far."""

    def __init__(self, started: float, on_token: TokenCallback | None) -> None:
        self.started = started
        self.on_token = on_token
        self.pieces: list[str] = []
        self.first_token_seconds: float | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.saw_choices = False

    def add(self, piece: str, *, streamed: bool) -> None:
        if not piece:
            return
        if streamed and self.first_token_seconds is None:
            self.first_token_seconds = time.perf_counter() - self.started
        self.pieces.append(piece)
        if self.on_token is not None:
            self.on_token(piece)

    def usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if isinstance(prompt, int):
                self.prompt_tokens = prompt
            if isinstance(completion, int):
                self.completion_tokens = completion


class OpenAICompatibleModel:
    """A chat model served over HTTP by vLLM, llama.cpp server, Ollama or alike.

    `url` is the API base (see the module docstring); `model` is the name the
    server knows the model by (None sends no name: servers with one model use
    it). `timeout` bounds connecting and each wait for data, in seconds;
    `retries` is how many times a failed attempt is repeated, waiting
    `backoff`, then twice as long, and so on. The API key, if any, comes from
    `api_key` or else the GUETTEUR_LLM_API_KEY environment variable.
    `transport` replaces the network (tests use a local one).
    """

    def __init__(
        self,
        url: str,
        model: str | None,
        timeout: float = 120.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        *,
        api_key: str | None = None,
        backoff: float = 0.5,
    ) -> None:
        if timeout <= 0:
            raise ModelError(f"model server timeout must be positive, not {timeout} s")
        if retries < 0:
            raise ModelError(f"model server retries must be 0 or more, not {retries}")
        self.url = api_base(url)
        self.model = model or None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        key = api_key if api_key is not None else os.environ.get(API_KEY_VARIABLE)
        headers = {"Accept": "text/event-stream, application/json", "User-Agent": "guetteur"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._endpoint = f"{self.url}/chat/completions"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    @property
    def model_id(self) -> str:
        """`openai:<API base>#<model>`, or `openai:<API base>` when no model is named."""
        return f"openai:{self.url}#{self.model}" if self.model else f"openai:{self.url}"

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Ask the server; retry what may pass on a second try; ModelError naming the URL."""
        body: dict[str, Any] = {
            "messages": as_dicts(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.model:
            body["model"] = self.model
        started = time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            answer = _Answer(started, on_token)
            try:
                self._attempt(body, answer)
            except _Failure as failure:
                # Tokens already handed to on_token cannot be taken back: a retry
                # would show them twice, so a stream cut halfway is not retried.
                if failure.retryable and not answer.pieces and attempts <= self.retries:
                    delay = self.backoff * 2 ** (attempts - 1)
                    if failure.retry_after is not None:
                        delay = max(delay, min(failure.retry_after, _MAX_RETRY_AFTER))
                    time.sleep(delay)
                    continue
                suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
                raise ModelError(f"{failure}{suffix}") from failure.__cause__
            return Completion(
                text="".join(answer.pieces),
                model_id=self.model_id,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                first_token_seconds=answer.first_token_seconds,
                total_seconds=time.perf_counter() - started,
            )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _attempt(self, body: dict[str, Any], answer: _Answer) -> None:
        try:
            with self._client.stream("POST", self._endpoint, json=body) as response:
                self._check_status(response)
                content_type = response.headers.get("content-type", "")
                if content_type.startswith("text/event-stream"):
                    for event in _sse_events(response.iter_lines()):
                        self._take_chunk(event, answer)
                else:
                    self._take_reply(response.read(), answer)
        except httpx.TimeoutException as exc:
            raise _Failure(
                f"model server at {self.url} did not answer within {self.timeout:g} s "
                "— is it overloaded? raise GUETTEUR_LLM_TIMEOUT if it is only slow",
                retryable=True,
            ) from exc
        except httpx.ConnectError as exc:
            raise _Failure(
                f"cannot reach model server at {self.url}: {_connect_cause(exc)} "
                "— is it running? (GUETTEUR_LLM_URL)",
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise _Failure(
                f"model server at {self.url} broke the connection: {exc or type(exc).__name__}",
                retryable=True,
            ) from exc
        except httpx.RequestError as exc:
            raise _Failure(
                f"model server at {self.url} sent a reply that cannot be read: {exc}",
                retryable=False,
            ) from exc
        if not answer.saw_choices:
            raise _Failure(
                f"model server at {self.url} sent a reply with no choices", retryable=False
            )

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        if status < 400:
            location = response.headers.get("location", "nowhere")
            raise _Failure(
                f"model server at {self.url} redirected to {location} (HTTP {status}); "
                "guetteur contacts only the configured URL — set GUETTEUR_LLM_URL to the final one",
                retryable=False,
            )
        detail = _error_detail(response.read())
        if status == 429 or status >= 500:
            raise _Failure(
                f"model server at {self.url} failed: HTTP {status}{detail}",
                retryable=True,
                retry_after=_retry_after(response),
            )
        hint = ""
        if status in (401, 403):
            hint = f" — check the API key ({API_KEY_VARIABLE})"
        elif status == 404:
            hint = (
                " — check the URL is the API base, e.g. http://host:8000/v1 (GUETTEUR_LLM_URL), "
                "and the model name (GUETTEUR_LLM_MODEL)"
            )
        raise _Failure(
            f"model server at {self.url} refused the request: HTTP {status}{detail}{hint}",
            retryable=False,
        )

    def _take_chunk(self, data: str, answer: _Answer) -> None:
        chunk = self._parse(data)
        choices = chunk.get("choices")
        answer.usage(chunk.get("usage"))
        if not isinstance(choices, list):
            return
        answer.saw_choices = True
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                answer.add(content, streamed=True)

    def _take_reply(self, raw: bytes, answer: _Answer) -> None:
        reply = self._parse(raw.decode("utf-8", errors="replace"))
        choices = reply.get("choices")
        answer.usage(reply.get("usage"))
        if not isinstance(choices, list) or not choices:
            return
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise _Failure(
                f"model server at {self.url} sent a choice with no message content", retryable=False
            )
        answer.saw_choices = True
        answer.add(content, streamed=False)

    def _parse(self, data: str) -> dict[str, Any]:
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError as exc:
            raise _Failure(
                f"model server at {self.url} sent a reply that is not JSON ({exc}): {data[:120]!r}",
                retryable=False,
            ) from exc
        if not isinstance(parsed, dict):
            raise _Failure(
                f"model server at {self.url} sent JSON that is not an object: {data[:120]!r}",
                retryable=False,
            )
        if parsed.get("error"):
            raise _Failure(
                f"model server at {self.url} reported an error:{_error_detail(data.encode())}",
                retryable=False,
            )
        return parsed


def _sse_events(lines: Iterator[str]) -> Iterator[str]:
    """The data of each server-sent event, up to `data: [DONE]`."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                joined, data = "\n".join(data), []
                if joined.strip() == "[DONE]":
                    return
                yield joined
            continue
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # "event:", "id:", "retry:" and ":" comment lines carry nothing we use.
    if data:
        joined = "\n".join(data)
        if joined.strip() != "[DONE]":
            yield joined


def _connect_cause(exc: httpx.ConnectError) -> str:
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
        return "connection refused"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text or type(exc).__name__


def _error_detail(raw: bytes) -> str:
    """` (<the server's error message>)`, or an empty string when it gave none."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return f" ({text[:200]})"
    error = parsed.get("error", parsed.get("detail")) if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        error = error.get("message", error)
    return f" ({str(error if error is not None else text)[:200]})"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
