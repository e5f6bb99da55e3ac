"""The event engine: a discrete-event simulation of the market on a virtual clock.

Agents act through :class:`~tokenomy.market.state.MarketState` at virtual times their policies
choose. Pending work sits in one heap ordered by

    (time, phase, acting agent, counterparty, scheduling counter)

— phase 0 for actions, 1 for wake-ups (start, timers) — so the run is a pure function of the
data, the policies and the seed: the same inputs give the same event log, byte for byte, on any
machine at any speed. Every scripted action takes at least 1 ms, so an effect never shares a
timestamp with its cause.

This engine runs any policy implementing :class:`~tokenomy.market.policies.interface.AgentPolicy`
(scripted now, LLM-backed later) with one Python step per event. For scripted policies on large
markets, :mod:`tokenomy.market.batch` computes the identical log with array operations.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np

from tokenomy.errors import ConfigError
from tokenomy.market.dataset import Market
from tokenomy.market.policies.interface import (
    Act,
    AgentContext,
    AgentPolicy,
    BusinessProfile,
    CustomerProfile,
    Done,
    PolicyFactory,
    Step,
    Timer,
)
from tokenomy.market.protocol import SendMessage, SendResult
from tokenomy.market.runlog import PHASE_ACTION, PHASE_WAKE, RunLog
from tokenomy.market.search import SearchService
from tokenomy.market.state import MarketState
from tokenomy.market.transport import MemoryTransport, Transport
from tokenomy.rng import standardized_noise, uniform

_START, _TIMER, _ACT = 0, 1, 2


def customer_profile(market: Market, c: int) -> CustomerProfile:
    """Profile handed to customer ``c``'s policy."""
    items, wtp = market.customer_items(c)
    return CustomerProfile(
        id=market.customer_ids[c],
        name=market.customer_names[c],
        request=market.requests[c],
        items=tuple(market.items[i] for i in items),
        wtp_micro=tuple(int(w) for w in wtp),
        amenities=tuple(market.amenities[a] for a in market.customer_amenities(c)),
    )


def business_profile(market: Market, b: int) -> BusinessProfile:
    """Profile handed to business ``b``'s policy."""
    items, prices = market.business_menu(b)
    return BusinessProfile(
        id=market.business_ids[b],
        name=market.business_names[b],
        description=market.descriptions[b],
        menu={market.items[i]: int(p) for i, p in zip(items, prices, strict=True)},
        amenities={a: bool(market.b_amenities[b, k]) for k, a in enumerate(market.amenities)},
        min_price_factor=float(market.min_price_factor[b]),
    )


class EventEngine:
    """Run a market event by event.

    Args:
        market: the data.
        customer_policy: factory building each customer's policy from its context.
        business_policy: factory building each business's policy (created on first message).
        search_algorithm: the algorithm customers search with.
        limit: the consideration-set size (results per search page).
        seed: the run's seed (all randomness is keyed by it).
        arrivals: start time of each customer (ms); default all at 0.
        context_tokens: input tokens charged per action (see :class:`MarketState`).
        max_events: safety stop for policies that never finish.
        search: search service to reuse (indices are cached per market anyway).
        transport: how actions reach the market (default: a :class:`MarketState` in memory;
            see :mod:`tokenomy.market.transport`). ``context_tokens`` and ``search`` configure
            the default only.
    """

    def __init__(
        self,
        market: Market,
        customer_policy: PolicyFactory,
        business_policy: PolicyFactory,
        *,
        search_algorithm: str,
        limit: int,
        seed: int,
        arrivals: np.ndarray | None = None,
        context_tokens: int = 0,
        max_events: int = 50_000_000,
        search: SearchService | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.market = market
        self.seed = seed
        self.search_algorithm = search_algorithm
        self.limit = limit
        self.arrivals = (
            np.zeros(market.n_customers, np.int64) if arrivals is None else np.asarray(arrivals)
        )
        self.max_events = max_events
        if transport is None:
            state = MarketState(market, search or SearchService(market, seed), context_tokens)
            transport = MemoryTransport(state)
        self.transport = transport
        self._factories = (customer_policy, business_policy)
        self._policies: dict[int, AgentPolicy] = {}
        self._done: set[int] = set()
        self._heap: list[tuple[int, int, int, int, int, int, Any]] = []
        self._counter = 0

    # ------------------------------------------------------------------ agents
    def _context(self, g: int) -> AgentContext:
        m, n_c, seed = self.market, self.market.n_customers, self.seed
        profile: CustomerProfile | BusinessProfile = (
            customer_profile(m, g) if g < n_c else business_profile(m, g - n_c)
        )
        index = self.market.agent_index

        def draw(stream: str, other: str | None) -> float:
            if other is None:
                return float(uniform(seed, stream, g)[0])
            return float(uniform(seed, stream, g, index(other))[0])

        def noise(stream: str, other: str) -> float:
            return float(standardized_noise(seed, stream, g, index(other))[0])

        transport = self.transport

        def meter(model: str, tokens_in: int, tokens_out: int, latency_s: float) -> None:
            transport.meter(g, model, tokens_in, tokens_out, latency_s)

        return AgentContext(
            agent_id=self.market.agent_id(g),
            profile=profile,
            search_algorithm=self.search_algorithm,
            limit=self.limit,
            draw=draw,
            noise=noise,
            meter=meter,
        )

    def _policy(self, g: int) -> AgentPolicy:
        policy = self._policies.get(g)
        if policy is None:
            factory = self._factories[0 if g < self.market.n_customers else 1]
            policy = factory(self._context(g))
            self._policies[g] = policy
        return policy

    # ------------------------------------------------------------------ scheduling
    def _push(self, time: int, phase: int, g: int, target: int, kind: int, payload: Any) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (time, phase, g, target, self._counter, kind, payload))

    def _schedule(self, g: int, now: int, steps: list[Step]) -> None:
        for step in steps:
            if isinstance(step, Done):
                if g not in self._done:
                    self._done.add(g)
                    self.transport.end(g, now, step.note)
                return
            if step.delay_ms < 1:
                raise ConfigError(
                    f"policy of {self.market.agent_id(g)} scheduled a step {step.delay_ms} ms "
                    f"ahead; every action takes at least 1 ms of virtual time"
                )
            if isinstance(step, Timer):
                self._push(now + step.delay_ms, PHASE_WAKE, g, -1, _TIMER, step.tag)
            elif isinstance(step, Act):
                target = (
                    self.market.agent_index(step.action.to_agent_id)
                    if isinstance(step.action, SendMessage)
                    else -1
                )
                self._push(now + step.delay_ms, PHASE_ACTION, g, target, _ACT, step.action)

    # ------------------------------------------------------------------ run
    def run(self, progress: Callable[[int], None] | None = None) -> RunLog:
        """Run until no agent has anything left to do; return the log."""
        for c in range(self.market.n_customers):
            self._push(int(self.arrivals[c]), PHASE_WAKE, c, -1, _START, None)
        transport = self.transport
        processed = 0
        while self._heap:
            time, _phase, g, _target, _n, kind, payload = heapq.heappop(self._heap)
            processed += 1
            if processed > self.max_events:
                raise ConfigError(
                    f"run stopped after {self.max_events} events; a policy may never finish"
                )
            if progress is not None and processed % 10_000 == 0:
                progress(processed)
            if g in self._done:
                continue
            if kind == _START:
                self._schedule(g, time, self._policy(g).on_start(time))
            elif kind == _TIMER:
                self._schedule(g, time, self._policy(g).on_timer(time, payload))
            else:
                result = transport.execute(g, payload, time)
                if isinstance(result, SendResult):
                    to = self.market.agent_index(payload.to_agent_id)
                    if to not in self._done:
                        received = transport.delivered(to, result.message_id)
                        self._schedule(to, time, self._policy(to).on_message(time, received))
                self._schedule(g, time, self._policy(g).on_result(time, payload, result))
        return transport.log()
