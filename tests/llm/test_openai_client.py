"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from guetteur._exceptions import ModelError
from guetteur.llm import Message, OpenAICompatibleModel, api_base

QUESTION = [Message("system", "Answer briefly."), Message("user", "Where is 2 REP?")]

Reply = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ChatServer:
    """A local chat server: each request takes the next scripted reply (the last one repeats)."""

    url: str
    replies: list[Reply] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def sse(*tokens: str, usage: dict[str, int] | None = None) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        first = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}
        events = [first] + [{"choices": [{"index": 0, "delta": {"content": t}}]} for t in tokens]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage is not None:
            events.append({"choices": [], "usage": usage})
        for event in events:
            handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            handler.wfile.flush()
        handler.wfile.write(b": keep-alive comment\n\ndata: [DONE]\n\n")

    return reply


def plain(status: int, body: bytes, content_type: str = "application/json") -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def completion(text: str) -> Reply:
    reply = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    return plain(200, json.dumps(reply).encode())


def hang(server: ChatServer) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        server.release.wait(10)

    return reply


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    state: dict[str, ChatServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            server = state["server"]
            server.seen.append(Seen(self.path, dict(self.headers.items()), body))
            server.next_reply()(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up (timeout test) is expected here

    httpd = Quiet(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    state["server"] = ChatServer(url=f"http://127.0.0.1:{port}/v1")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        state["server"].release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUETTEUR_LLM_API_KEY", raising=False)


def client(url: str, **options: Any) -> OpenAICompatibleModel:
    options.setdefault("timeout", 5.0)
    options.setdefault("retries", 2)
    options.setdefault("backoff", 0.01)
    return OpenAICompatibleModel(url, "mistral-7b", **options)


def test_streamed_tokens_arrive_in_order_and_fill_the_completion(chat_server: ChatServer) -> None:
    chat_server.replies = [
        sse("2 REP", " is at", " Calvi.", usage={"prompt_tokens": 20, "completion_tokens": 4})
    ]
    model = client(chat_server.url)
    received: list[str] = []
    try:
        answer = model.complete(QUESTION, max_tokens=64, temperature=0.2, on_token=received.append)
    finally:
        model.close()
    assert received == ["2 REP", " is at", " Calvi."]
    assert answer.text == "2 REP is at Calvi."
    assert answer.model_id == f"openai:{chat_server.url}#mistral-7b"
    assert (answer.prompt_tokens, answer.completion_tokens) == (20, 4)
    assert answer.first_token_seconds is not None
    assert 0 <= answer.first_token_seconds <= answer.total_seconds
    [request] = chat_server.seen
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "mistral-7b"
    assert request.body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Where is 2 REP?"},
    ]
    assert request.body["stream"] is True
    assert (request.body["max_tokens"], request.body["temperature"]) == (64, 0.2)
    assert "Authorization" not in request.headers


def test_a_server_that_ignores_stream_still_answers(chat_server: ChatServer) -> None:
    chat_server.replies = [completion("Calvi.")]
    model = client(chat_server.url)
    received: list[str] = []
    try:
        answer = model.complete(QUESTION, on_token=received.append)
    finally:
        model.close()
    assert answer.text == "Calvi."
    assert received == ["Calvi."]
    assert (answer.prompt_tokens, answer.completion_tokens) == (12, 3)
    assert answer.first_token_seconds is None


def test_api_key_from_the_environment_is_sent_as_bearer(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUETTEUR_LLM_API_KEY", "s3cret")
    chat_server.replies = [sse("ok")]
    model = client(chat_server.url)
    try:
        model.complete(QUESTION)
    finally:
        model.close()
    assert chat_server.seen[0].headers["Authorization"] == "Bearer s3cret"


def test_proxy_variables_do_not_divert_requests(
    chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:1")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    chat_server.replies = [sse("direct")]
    model = client(chat_server.url)
    try:
        assert model.complete(QUESTION).text == "direct"
    finally:
        model.close()


def test_a_server_error_then_success_is_retried(chat_server: ChatServer) -> None:
    chat_server.replies = [plain(500, b'{"error": {"message": "CUDA out of memory"}}'), sse("ok")]
    model = client(chat_server.url)
    try:
        assert model.complete(QUESTION).text == "ok"
    finally:
        model.close()
    assert len(chat_server.seen) == 2


def test_a_server_that_keeps_failing_is_reported_with_its_last_cause(
    chat_server: ChatServer,
) -> None:
    chat_server.replies = [plain(503, b'{"error": {"message": "loading model"}}')]
    model = client(chat_server.url, retries=1)
    try:
        with pytest.raises(ModelError) as caught:
            model.complete(QUESTION)
    finally:
        model.close()
    message = str(caught.value)
    assert chat_server.url in message
    assert "HTTP 503" in message and "loading model" in message
    assert "after 2 attempts" in message
    assert len(chat_server.seen) == 2


def test_a_refused_request_is_not_retried(chat_server: ChatServer) -> None:
    chat_server.replies = [plain(404, b'{"error": {"message": "model mistral-7b not found"}}')]
    model = client(chat_server.url)
    try:
        with pytest.raises(ModelError, match="HTTP 404.*mistral-7b not found"):
            model.complete(QUESTION)
    finally:
        model.close()
    assert len(chat_server.seen) == 1


def test_a_slow_server_times_out_naming_the_url(chat_server: ChatServer) -> None:
    chat_server.replies = [hang(chat_server)]
    model = client(chat_server.url, timeout=0.5, retries=0)
    started = time.perf_counter()
    try:
        with pytest.raises(ModelError, match="did not answer within 0.5 s") as caught:
            model.complete(QUESTION)
    finally:
        model.close()
    assert chat_server.url in str(caught.value)
    assert time.perf_counter() - started < 5


def test_a_refused_connection_names_the_url() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    model = client(url, retries=1)
    try:
        with pytest.raises(ModelError) as caught:
            model.complete(QUESTION)
    finally:
        model.close()
    message = str(caught.value)
    assert message.startswith(f"cannot reach model server at {url}: connection refused")
    assert "GUETTEUR_LLM_URL" in message and "after 2 attempts" in message


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (plain(200, b"<html>gateway login</html>"), "not JSON"),
        (plain(200, b'{"id": "x", "choices": []}'), "no choices"),
        (plain(200, b"data: {broken\n\n", "text/event-stream"), "not JSON"),
        (
            plain(200, b'data: {"error": {"message": "prompt too long"}}\n\n', "text/event-stream"),
            "prompt too long",
        ),
    ],
)
def test_a_bad_reply_is_a_model_error_naming_the_url(
    chat_server: ChatServer, reply: Reply, expected: str
) -> None:
    chat_server.replies = [reply]
    model = client(chat_server.url)
    try:
        with pytest.raises(ModelError, match=expected) as caught:
            model.complete(QUESTION)
    finally:
        model.close()
    assert chat_server.url in str(caught.value)
    assert len(chat_server.seen) == 1


def test_a_redirect_is_not_followed(chat_server: ChatServer) -> None:
    redirect = b""

    def elsewhere(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(307)
        handler.send_header("Location", "http://203.0.113.7/v1/chat/completions")
        handler.send_header("Content-Length", str(len(redirect)))
        handler.end_headers()

    chat_server.replies = [elsewhere]
    model = client(chat_server.url)
    try:
        with pytest.raises(ModelError, match="redirected to http://203.0.113.7"):
            model.complete(QUESTION)
    finally:
        model.close()
    assert len(chat_server.seen) == 1


def test_a_swapped_transport_carries_the_requests() -> None:
    asked: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        reply = {"choices": [{"message": {"role": "assistant", "content": "from transport"}}]}
        return httpx.Response(200, json=reply)

    model = OpenAICompatibleModel(
        "http://llm.staff.example:8000", None, 5.0, 0, transport=httpx.MockTransport(handle)
    )
    try:
        answer = model.complete(QUESTION)
    finally:
        model.close()
    assert answer.text == "from transport"
    assert answer.model_id == "openai:http://llm.staff.example:8000/v1"
    assert str(asked[0].url) == "http://llm.staff.example:8000/v1/chat/completions"
    assert "model" not in json.loads(asked[0].content)


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://host:8000", "http://host:8000/v1"),
        ("http://host:8000/", "http://host:8000/v1"),
        ("http://host:8000/v1/", "http://host:8000/v1"),
        ("http://host:11434/v1/chat/completions", "http://host:11434/v1"),
        ("https://gw.staff/llm/v1", "https://gw.staff/llm/v1"),
    ],
)
def test_the_url_is_the_api_base(given: str, base: str) -> None:
    assert api_base(given) == base


@pytest.mark.parametrize("given", ["ftp://host/v1", "host:8000", "/v1"])
def test_a_url_that_is_not_http_is_refused(given: str) -> None:
    with pytest.raises(ModelError, match="GUETTEUR_LLM_URL"):
        api_base(given)
