"""An in-process chat model that answers from a rule (a plain function of the request).

For tests, demos and baselines: the same agents that talk to an HTTP model can run on a rule
with no server. Usage is the documented estimate (:func:`~tokenomy.prices.estimate_tokens` of
the prompt — every message — and of the answer); latency is 0.
"""

from __future__ import annotations

from collections.abc import Callable

from tokenomy.llm.protocol import ChatRequest, ChatResponse, estimated_usage

Rule = Callable[[ChatRequest], str]


class ScriptedChat:
    """A :class:`~tokenomy.llm.protocol.ChatModel` answering ``rule(request)``."""

    def __init__(self, rule: Rule, name: str = "scripted") -> None:
        self.rule = rule
        self.name = name

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The rule's answer, with estimated usage and zero latency."""
        text = self.rule(request)
        return ChatResponse(text, estimated_usage(request, text), request.model or self.name, 0.0)
