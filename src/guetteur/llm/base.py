"""What every language model looks like to the rest of guetteur.

Products (ask, brief, watch) hand a model the passages search selected, as a
short list of `Message`s, and get back a `Completion` that records which model
answered and how long it took, so a product can say what produced it. Two
implementations sit behind the `ChatModel` protocol: a client for any
OpenAI-compatible server on the staff network (`openai_compat`) and llama.cpp
running inside the process on a verified GGUF file (`embedded`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ROLES", "ChatModel", "Completion", "Message", "TokenCallback"]

ROLES = ("system", "user", "assistant")

TokenCallback = Callable[[str], None]


@dataclass(frozen=True)
class Message:
    """One turn of a chat: who speaks ("system", "user" or "assistant") and what."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role {self.role!r} is not one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class Completion:
    """A model's answer, with the identity of the model and its timings.

    `model_id` names the server and model ("openai:http://host:8000/v1#mistral-7b")
    or the weights file and the start of its SHA-256
    ("embedded:SmolLM2-135M-Instruct.Q4_1.gguf@sha256:b179c9523d0e"). Token
    counts are None when the server does not report them; `first_token_seconds`
    is None when the answer was not streamed.
    """

    text: str
    model_id: str
    prompt_tokens: int | None
    completion_tokens: int | None
    first_token_seconds: float | None
    total_seconds: float


class ChatModel(Protocol):
    """A chat model: complete a conversation, optionally streaming the tokens."""

    @property
    def model_id(self) -> str:
        """Which model answers, as recorded in products and the audit trail."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Answer the conversation; `on_token` receives each piece of text as it comes."""
        ...

    def close(self) -> None:
        """Release what this client holds (connections); the model may not be used after."""
        ...


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Messages in the OpenAI chat format both implementations speak."""
    return [{"role": m.role, "content": m.content} for m in messages]
