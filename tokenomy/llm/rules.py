"""Registered answer rules: deterministic stand-ins for a model (``ScriptedChat``, test server).

* ``echo`` — answers the last user message back.
* ``market`` — plays the marketplace the way a sensible model would, reading the JSON state
  block of tokenomy's own market prompts (:mod:`tokenomy.market.market_rule`); any other prompt
  is echoed.

The market rule is imported when first used, so this layer does not load the marketplace.
"""

from __future__ import annotations

from collections.abc import Callable

from tokenomy.errors import UnknownNameError
from tokenomy.llm.protocol import ChatRequest

Rule = Callable[[ChatRequest], str]


def echo_rule(request: ChatRequest) -> str:
    """The last user message (or "" if there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content
    return ""


def market_rule(request: ChatRequest) -> str:
    """The marketplace rule for tokenomy's market prompts; an echo for any other prompt."""
    from tokenomy.market.market_rule import answer, is_market_prompt

    if is_market_prompt(request):
        return answer(request)
    return echo_rule(request)


RULES: dict[str, Rule] = {"echo": echo_rule, "market": market_rule}


def get_rule(name: str) -> Rule:
    """The registered rule called ``name``.

    Raises:
        UnknownNameError: no such rule.
    """
    if name not in RULES:
        raise UnknownNameError("answer rule", name, RULES)
    return RULES[name]
