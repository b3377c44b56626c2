"""Language models: an OpenAI-compatible server on the network, or llama.cpp in-process.

`resolve_settings` reads which model to use, `open_model` opens it, and every
model is a `ChatModel` that turns `Message`s into a `Completion`. Weights run
in-process only after `verify_weights` found them in a SHA-256 manifest.
"""

from guetteur.llm.base import ChatModel, Completion, Message
from guetteur.llm.embedded import EmbeddedModel
from guetteur.llm.manifest import SHIPPED_MANIFEST, file_sha256, read_manifest, verify_weights
from guetteur.llm.openai_compat import OpenAICompatibleModel, api_base
from guetteur.llm.settings import ModelSettings, default_test_weights, open_model, resolve_settings

__all__ = [
    "SHIPPED_MANIFEST",
    "ChatModel",
    "Completion",
    "EmbeddedModel",
    "Message",
    "ModelSettings",
    "OpenAICompatibleModel",
    "api_base",
    "default_test_weights",
    "file_sha256",
    "open_model",
    "read_manifest",
    "resolve_settings",
    "verify_weights",
]
