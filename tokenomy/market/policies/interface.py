"""The contract between the event engine and an agent policy.

A policy is a small state machine driven by four callbacks. Each returns a list of *steps*:

* :class:`Act` — execute ``action`` after ``delay_ms`` of virtual time (the time the agent
  spends thinking or typing; at least 1 ms);
* :class:`Timer` — wake me with ``on_timer(tag)`` after ``delay_ms``;
* :class:`Done` — this agent has finished (its outcome ``note`` is logged).

Callbacks:

* ``on_start(now)`` — a customer's episode begins (businesses are not started);
* ``on_result(now, action, result)`` — an action of mine was executed (or rejected);
* ``on_message(now, message)`` — a message was delivered to me (push delivery; a policy that
  prefers to poll can ignore it and use :class:`~tokenomy.market.protocol.FetchMessages`);
* ``on_timer(now, tag)`` — a timer of mine fired (after all actions of the same millisecond).

Scripted policies implement it in :mod:`.scripted`; an LLM-backed policy implements the same
four methods by asking a chat model what to do. A policy sees only its own profile, what its
actions returned and the messages sent to it — never the market's internal state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tokenomy.market.protocol import Action, ActionResult, ReceivedMessage


@dataclass(frozen=True)
class Act:
    """Execute ``action`` after ``delay_ms`` (>= 1)."""

    delay_ms: int
    action: Action


@dataclass(frozen=True)
class Timer:
    """Call ``on_timer(tag)`` after ``delay_ms`` (>= 1)."""

    delay_ms: int
    tag: str = ""


@dataclass(frozen=True)
class Done:
    """The agent is finished; ``note`` says how (e.g. ``paid``, ``no_acceptable_offer``)."""

    note: str


Step = Act | Timer | Done


@dataclass(frozen=True)
class CustomerProfile:
    """What a customer agent knows about its principal."""

    id: str
    name: str
    request: str
    items: tuple[str, ...]
    wtp_micro: tuple[int, ...]
    amenities: tuple[str, ...]


@dataclass(frozen=True)
class BusinessProfile:
    """What a business agent knows about itself."""

    id: str
    name: str
    description: str
    menu: dict[str, int]  # item -> posted price (micro)
    amenities: dict[str, bool]
    min_price_factor: float


@dataclass(frozen=True)
class AgentContext:
    """Everything a policy is given when it is created.

    ``draw(stream, other_agent_id)`` returns this run's keyed uniform number for
    ``(stream, this agent, other agent)`` — or for ``(stream, this agent)`` when the other id is
    ``None`` — the same number the batch engine uses; ``noise`` likewise returns standardized
    noise. ``meter(model, input_tokens, output_tokens, latency_s)`` is how a policy that calls a
    chat model reports each call's usage: the market records it and debits the agent's token
    and money accounts in the ledger (a no-op default for scripted agents).
    """

    agent_id: str
    profile: CustomerProfile | BusinessProfile
    search_algorithm: str
    limit: int
    draw: Callable[[str, str | None], float]
    noise: Callable[[str, str], float]
    meter: Callable[[str, int, int, float], None] = field(default=lambda *_: None)


class AgentPolicy(Protocol):
    """What the event engine calls."""

    def on_start(self, now: int) -> list[Step]:
        """Start of the agent's episode."""
        ...

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """An action of this agent was executed or rejected."""
        ...

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """A message was delivered to this agent."""
        ...

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """A timer set by this agent fired."""
        ...


PolicyFactory = Callable[[AgentContext], AgentPolicy]
