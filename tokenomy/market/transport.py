"""How the event engine reaches the market: directly in memory, or through a service.

The engine decides *when* each agent acts (the virtual clock); a :class:`Transport` carries the
action to the market and brings back the result. Three transports exist:

* :class:`MemoryTransport` — the engine owns a :class:`~tokenomy.market.state.MarketState`
  (no database; the default, and the reference semantics);
* :class:`~tokenomy.market.service.ServiceTransport` — the market service with its database
  and ledger, called in-process (``--transport inprocess --db URL``);
* :class:`~tokenomy.market.http_transport.HttpTransport` — every agent is an authenticated HTTP
  client of the protocol server (``--transport http``).

With scripted policies and the same seed all three give the same log, welfare and payments.
"""

from __future__ import annotations

from typing import Protocol

from tokenomy.market.protocol import Action, ActionResult, ReceivedMessage
from tokenomy.market.runlog import RunLog
from tokenomy.market.state import MarketState


class Transport(Protocol):
    """What the event engine needs from the market (agents are global indices)."""

    def execute(self, agent: int, action: Action, now: int) -> ActionResult:
        """Execute ``action`` for ``agent`` at virtual time ``now``."""
        ...

    def delivered(self, agent: int, message_id: int) -> ReceivedMessage:
        """The message ``message_id`` just delivered to ``agent``, as ``agent`` reads it."""
        ...

    def end(self, agent: int, now: int, note: str) -> None:
        """``agent`` has finished its episode."""
        ...

    def meter(
        self, agent: int, model: str, input_tokens: int, output_tokens: int, latency_s: float
    ) -> None:
        """Record one chat-model call made by ``agent`` (and charge for it, where a ledger is)."""
        ...

    def log(self) -> RunLog:
        """The run's log, once the run is over."""
        ...


class MemoryTransport:
    """The market in memory: actions go straight to a :class:`MarketState`; usage is tallied."""

    def __init__(self, state: MarketState) -> None:
        self.state = state
        self.calls: dict[int, list[tuple[str, int, int]]] = {}  # agent -> (model, in, out)

    def execute(self, agent: int, action: Action, now: int) -> ActionResult:
        """Execute directly on the state."""
        return self.state.execute(agent, action, now)

    def delivered(self, agent: int, message_id: int) -> ReceivedMessage:
        """Read the message straight from the state."""
        return self.state.just_delivered(message_id)

    def end(self, agent: int, now: int, note: str) -> None:
        """Record the end of the episode."""
        self.state.end(agent, now, note)

    def meter(
        self, agent: int, model: str, input_tokens: int, output_tokens: int, latency_s: float
    ) -> None:
        """Keep each call per agent (no ledger here)."""
        self.calls.setdefault(agent, []).append((model, input_tokens, output_tokens))

    def log(self) -> RunLog:
        """The state's log."""
        return self.state.log.build()
