"""The one protocol every chat-model client speaks.

A :class:`ChatRequest` (messages, sampling settings, an optional JSON schema the answer must
follow, and a *tag* naming who asks) goes in; a :class:`ChatResponse` (text, token usage, model,
wall-clock latency) comes out. Backends — an OpenAI-compatible HTTP server
(:mod:`.openai_backend`), an in-process rule (:mod:`.scripted`), a recorded transcript
(:mod:`.recording`) — all implement :class:`ChatModel`, so an agent does not know which one it
talks to.

``prompt_hash`` is the SHA-256 of a canonical JSON of everything that determines the answer
(messages, model, temperature, max_tokens, seed, json_schema — not the tag); a replay checks it
to prove it answers the same question that was recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tokenomy.prices import estimate_tokens

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        """JSON form: ``{"role": ..., "content": ...}``."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed.

    ``estimated`` is true when the server reported no usage and the counts are
    :func:`~tokenomy.prices.estimate_tokens` of the prompt and the answer.
    """

    input_tokens: int
    output_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class ChatRequest:
    """A request to a chat model.

    Attributes:
        messages: the conversation, oldest first.
        model: the model to ask ("" = the backend's default).
        temperature: sampling temperature.
        max_tokens: cap on the answer's tokens (None = the server's default).
        seed: sampling seed, for servers that honour one.
        json_schema: the JSON schema the answer must follow (structured output), or None.
        tag: who is asking and why (e.g. ``customer_0001``); the key a replay matches on.
    """

    messages: tuple[ChatMessage, ...]
    model: str = ""
    temperature: float = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    json_schema: dict[str, Any] | None = field(default=None, hash=False)
    tag: str = ""

    def hashed_fields(self) -> dict[str, Any]:
        """The fields that determine the answer, as JSON-ready data (everything but the tag)."""
        return {
            "messages": [m.to_dict() for m in self.messages],
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "json_schema": self.json_schema,
        }

    def prompt_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`hashed_fields`."""
        text = json.dumps(
            self.hashed_fields(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the hashed fields plus the tag)."""
        return {**self.hashed_fields(), "tag": self.tag}

    def prompt_text(self) -> str:
        """All message contents joined by newlines (what a token estimate counts)."""
        return "\n".join(m.content for m in self.messages)

    def with_messages(self, messages: tuple[ChatMessage, ...]) -> ChatRequest:
        """A copy with other messages."""
        return ChatRequest(
            messages=messages,
            model=self.model,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=self.seed,
            json_schema=self.json_schema,
            tag=self.tag,
        )


@dataclass(frozen=True)
class ChatResponse:
    """A chat model's answer.

    Attributes:
        text: the answer.
        usage: tokens consumed (from the API's ``usage`` fields where reported).
        model: the model that answered, as the server named it.
        latency_s: wall-clock seconds the call took (0 for in-process backends); for logs and
            cost reports only — virtual time never depends on it.
        finish_reason: ``stop``, ``length``, ... as the server reported.
    """

    text: str
    usage: Usage
    model: str
    latency_s: float
    finish_reason: str = "stop"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "text": self.text,
            "usage": self.usage.to_dict(),
            "latency_s": self.latency_s,
            "finish_reason": self.finish_reason,
            "model": self.model,
        }


class ChatModel(Protocol):
    """What every backend implements."""

    name: str
    """The model name, for pricing and logs."""

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request``."""
        ...


def estimated_usage(request: ChatRequest, answer: str) -> Usage:
    """Usage by the one documented estimate: ``estimate_tokens`` of the prompt and the answer.

    The prompt is every message's content joined by newlines.
    """
    return Usage(estimate_tokens(request.prompt_text()), estimate_tokens(answer), estimated=True)


def close_model(model: object) -> None:
    """Release what a backend holds (HTTP connections), if it holds anything."""
    close = getattr(model, "close", None)
    if callable(close):
        close()
