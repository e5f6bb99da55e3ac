"""The market as a service: protocol rules, identities, a database and the ledger, in one object.

:class:`MarketService` is what the protocol server (:mod:`tokenomy.market.server`) exposes over
HTTP and what ``market run --transport inprocess --db URL`` calls directly. It wraps the one
implementation of the protocol's rules, :class:`~tokenomy.market.state.MarketState`, and adds:

* **identities** — an agent registers once and gets a secret bearer token (only its SHA-256 is
  stored); every action is executed as the agent the token belongs to;
* **money** — every customer, business and model provider has a money account and a token
  account in :class:`~tokenomy.ledger.Ledger`; customers are endowed at the start; a payment
  that passes the protocol's rules moves its proposal's total into escrow (idempotency key = the
  proposal, so it can apply only once), and :meth:`MarketService.finish` settles every hold to
  the business; a customer that cannot afford a payment is refused with the ledger's reason;
* **metering** — each chat-model call an agent reports (:meth:`MarketService.meter`) debits its
  token account by the tokens used and its money account by their cost at
  :class:`~tokenomy.prices.Prices`, crediting the model's provider;
* **a journal** — every action, its result and every end of an episode is written to the
  database (:mod:`tokenomy.market.store`), with the market data itself, so the database alone
  describes the session.

The service is thread-safe (one lock around each operation): FastAPI runs request handlers on
worker threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tokenomy.errors import ConfigError
from tokenomy.ledger import Ledger, LedgerError, Leg, external_account
from tokenomy.market.dataset import Market
from tokenomy.market.money import format_dollars
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    FetchMessages,
    ReceivedMessage,
    Rejected,
)
from tokenomy.market.runlog import RunLog
from tokenomy.market.search import SearchService
from tokenomy.market.state import MarketState
from tokenomy.market.store import MarketStore
from tokenomy.prices import Prices


@dataclass(frozen=True)
class Funding:
    """How agents' accounts are funded when a session opens.

    Attributes:
        endowment_factor: each customer's money account starts with this multiple of its
            value ``2·Σ WTP`` (what the errand is worth to its principal).
        token_allowance: tokens each agent may spend on model calls.
        compute_allowance_micro: extra money (micro-dollars) every agent gets to pay for its
            model calls (businesses have no other money at the start).
    """

    endowment_factor: float = 3.0
    token_allowance: int = 5_000_000
    compute_allowance_micro: int = 1_000_000

    def __post_init__(self) -> None:
        if not self.endowment_factor >= 0:
            raise ConfigError(f"endowment_factor must be >= 0, got {self.endowment_factor}")
        for name in ("token_allowance", "compute_allowance_micro"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class Usage:
    """Model usage metered for one agent."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro: int = 0
    unpaid_calls: int = 0


@dataclass
class _Payment:
    hold_id: int
    proposal: int
    amount: int


def call_cost_micro(
    prices: Prices, model: str, fallback_model: str, input_tokens: int, output_tokens: int
) -> int:
    """Cost of one model call in micro-dollars.

    Priced as ``model`` when the price table has it, else as ``fallback_model`` (the side's
    configured model; e.g. for a local test model).
    """
    price_as = model if model in prices.table else fallback_model
    return round(float(prices.token_cost(price_as, input_tokens, output_tokens)) * 1_000_000)


def money_account(agent_id: str) -> str:
    """Ledger name of an agent's (or provider's) money account."""
    return f"{agent_id}:money"


def token_account(agent_id: str) -> str:
    """Ledger name of an agent's (or provider's) token account."""
    return f"{agent_id}:tokens"


def provider_id(model: str) -> str:
    """Owner id of a model provider's accounts."""
    return f"provider/{model}"


@dataclass
class MarketService:
    """One market session over a database and a ledger.

    Build it with :meth:`open`; the same database can be reopened later (the journal of actions
    is replayed to rebuild the in-memory state, and the ledger's idempotency keys make sure no
    money moves twice).

    Attributes:
        market: the data.
        ledger: the ledger (its database also holds the market journal).
        state: the protocol rules and inboxes.
        prices: token prices for metering.
        customer_model / business_model: the models whose prices an agent's calls cost when the
            model it reports is not in the price table.
    """

    market: Market
    ledger: Ledger
    store: MarketStore
    state: MarketState
    prices: Prices
    customer_model: str
    business_model: str
    funding: Funding
    clock: str = "virtual"
    usage: dict[int, Usage] = field(default_factory=dict)
    payments: dict[int, _Payment] = field(default_factory=dict)  # proposal id -> payment
    finished: bool = False
    _now_ms: int = 0
    _t0: float = field(default_factory=time.monotonic)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _tokens: dict[str, int] = field(default_factory=dict)  # sha256(token) -> agent
    _broke: dict[int, str] = field(default_factory=dict)
    _providers: set[str] = field(default_factory=set)  # provider accounts known to exist
    replayed: int = 0

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        market: Market,
        db_url: str,
        *,
        search: SearchService | None = None,
        seed: int = 0,
        context_tokens: int = 0,
        prices: Prices | None = None,
        customer_model: str = "llama-3.1-8b-instruct",
        business_model: str = "llama-3.1-8b-instruct",
        funding: Funding | None = None,
        clock: str = "virtual",
        settings: dict[str, Any] | None = None,
    ) -> MarketService:
        """Open (create or resume) the session of ``market`` in the database at ``db_url``.

        Args:
            market: the data (stored in the database on first open).
            db_url: ``sqlite:///file.db``, a file path, or a PostgreSQL URL.
            search: search service to reuse (default: a new one seeded with ``seed``).
            seed: the session's seed (search tie-breaks).
            context_tokens: input tokens charged per action (see MarketState).
            prices: token prices for metering (default: the packaged table).
            customer_model: model whose prices apply to a customer's reported calls of a model
                that is not in the price table.
            business_model: likewise for businesses.
            funding: how accounts are funded at creation.
            clock: ``virtual`` (a driver sets the time) or ``wall`` (ms since the session opened).
            settings: run settings to record with the session (must match on reopen).

        Raises:
            ConfigError: the database holds a different market or different settings.
        """
        if clock not in ("virtual", "wall"):
            raise ConfigError(f"clock must be 'virtual' or 'wall', got '{clock}'")
        prices = prices or Prices()
        for model in (customer_model, business_model):
            prices.table[model]  # unknown model -> UnknownNameError with a suggestion
        ledger = Ledger.open(db_url)
        store = MarketStore(ledger.engine)
        meta = {
            "market": market.name,
            "customers": market.n_customers,
            "businesses": market.n_businesses,
            "seed": seed,
            "context_tokens": context_tokens,
            **(settings or {}),
        }
        store.claim(market, meta)
        service = cls(
            market=market,
            ledger=ledger,
            store=store,
            state=MarketState(market, search or SearchService(market, seed), context_tokens),
            prices=prices,
            customer_model=customer_model,
            business_model=business_model,
            funding=funding or Funding(),
            clock=clock,
        )
        service.state.payment_guard = service._take_payment
        service._open_accounts()
        service._resume()
        return service

    def close(self) -> None:
        """Close the database connections."""
        self.ledger.close()

    def _open_accounts(self) -> None:
        """Create every agent's money and token accounts and fund them, in two transactions."""
        m, f, led = self.market, self.funding, self.ledger
        if self.store.get("accounts_opened"):
            return
        specs: list[dict[str, Any]] = [
            {"name": "platform:money", "kind": "platform", "currency": "money", "owner": "platform"}
        ]
        legs: list[Any] = []
        money, tokens = external_account("money"), external_account("tokens")
        for kind, ids in (("customer", m.customer_ids), ("business", m.business_ids)):
            for i, aid in enumerate(ids):
                for cur, name in (("money", money_account(aid)), ("tokens", token_account(aid))):
                    specs.append({"name": name, "kind": kind, "currency": cur, "owner": aid})
                endow = f.compute_allowance_micro
                if kind == "customer":
                    endow += round(f.endowment_factor * int(m.value_micro[i]))
                if endow > 0:
                    legs.append(Leg(money, money_account(aid), endow))
                if f.token_allowance > 0:
                    legs.append(Leg(tokens, token_account(aid), f.token_allowance))
        if not led.accounts(owner="platform"):
            led.create_accounts(specs)
        if legs:
            led.post(legs, kind="fund", memo="endowments and allowances", idempotency_key="open")
        self.store.put("accounts_opened", True)

    def _resume(self) -> None:
        """Rebuild the in-memory state from the journal of a reopened session."""
        index = self.state.agent_index
        self._tokens = {d: index(a) for d, a in self.store.agent_tokens().items()}
        replayed = 0
        for row in self.store.journal():
            g = index(row.agent_id)
            if row.kind == "action" and row.forced_reason is not None:
                self._broke[g] = row.forced_reason
                self.state.refuse(g, row.action, row.time_ms, row.forced_reason)
            elif row.kind == "action":
                self.state.execute(g, row.action, row.time_ms)
            elif row.kind == "end":
                self.state.end(g, row.time_ms, row.note)
            else:
                u = self.usage.setdefault(g, Usage())
                u.calls += 1
                u.input_tokens += row.usage[0]
                u.output_tokens += row.usage[1]
                u.cost_micro += row.usage[2]
            self._now_ms = max(self._now_ms, row.time_ms)
            replayed += 1
        self.finished = bool(self.store.get("finished"))
        self.replayed = replayed
        # a payment whose hold was taken but whose action never reached the journal (the
        # process died in between) did not happen: refund it
        paid = {p.hold_id for p in self.payments.values()}
        for hold in self.ledger.holds(status="held"):
            if hold.id not in paid and hold.memo.startswith("payment for proposal"):
                self.ledger.release(hold.id)

    # ------------------------------------------------------------------ identities and clock
    def register(self, agent_id: str) -> str:
        """Claim ``agent_id`` and return its secret bearer token (once per agent).

        Raises:
            ConfigError: unknown agent id, or the id was already registered.
        """
        with self._lock:
            g = self.state.agent_index(agent_id)
            if g < 0:
                raise ConfigError(f"unknown agent '{agent_id}': not a customer or business here")
            token = self.store.register(
                agent_id, "customer" if g < self.market.n_customers else "business"
            )
            self._tokens[MarketStore.digest(token)] = g
            return token

    def authenticate(self, token: str) -> int | None:
        """Global index of the agent a bearer token belongs to (None if unknown)."""
        return self._tokens.get(MarketStore.digest(token))

    def now(self) -> int:
        """Current time in ms: the virtual clock, or wall milliseconds since opening."""
        if self.clock == "wall":
            return max(self._now_ms, int((time.monotonic() - self._t0) * 1000))
        return self._now_ms

    def set_clock(self, now_ms: int) -> int:
        """Advance the virtual clock (it never goes back).

        Raises:
            ConfigError: the clock is the wall clock, or ``now_ms`` is in the past.
        """
        with self._lock:
            if self.clock != "virtual":
                raise ConfigError("this session runs on the wall clock; it cannot be set")
            if now_ms < self._now_ms:
                raise ConfigError(
                    f"the clock is at {self._now_ms} ms; it cannot go back to {now_ms}"
                )
            self._now_ms = now_ms
            return now_ms

    # ------------------------------------------------------------------ protocol
    def execute(self, agent: int, action: Action, now: int | None = None) -> ActionResult:
        """Execute ``action`` as ``agent`` (global index) and journal it."""
        with self._lock:
            now = self.now() if now is None else now
            self._now_ms = max(self._now_ms, now)
            if self.finished:
                return Rejected(reason="the market session is finished")
            broke = self._broke.get(agent)
            if broke is not None and not isinstance(action, FetchMessages):
                refused = self.state.refuse(agent, action, now, broke)
                aid = self.state.agent_id(agent)
                self.store.journal_action(now, aid, action, refused, forced_reason=broke)
                return refused
            result = self.state.execute(agent, action, now)
            self.store.journal_action(now, self.state.agent_id(agent), action, result)
            return result

    def end(self, agent: int, now: int | None = None, note: str = "done") -> None:
        """Record that ``agent`` finished its episode."""
        with self._lock:
            now = self.now() if now is None else now
            self.state.end(agent, now, note)
            self.store.journal_end(now, self.state.agent_id(agent), note)

    def inbox(
        self, agent: int, after_index: int | None = None, limit: int | None = None
    ) -> tuple[list[ReceivedMessage], bool]:
        """Messages in ``agent``'s inbox after ``after_index`` (a read; not a logged action)."""
        with self._lock:
            return self.state.inbox_page(agent, after_index, limit=limit)

    def _take_payment(
        self, customer: int, business: int, proposal: int, total: int, now: int
    ) -> str | None:
        cid, bid = self.state.agent_id(customer), self.state.agent_id(business)
        try:
            hold = self.ledger.hold(
                money_account(cid),
                money_account(bid),
                total,
                memo=f"payment for proposal {proposal}",
                idempotency_key=f"pay:{proposal}",
                at=now / 1000.0,
            )
        except LedgerError as exc:
            return f"payment refused by the ledger: {exc}"
        self.payments[proposal] = _Payment(hold.id, proposal, total)
        return None

    # ------------------------------------------------------------------ metering
    def meter(
        self, agent: int, model: str, input_tokens: int, output_tokens: int, latency_s: float
    ) -> Usage:
        """Charge one chat-model call to ``agent``: tokens and their cost go to the provider.

        The model is priced by name when the price table has it, else as the side's configured
        model. If the agent cannot pay, the call is recorded as unpaid and the agent is cut off:
        its later actions are refused with the ledger's reason.
        """
        with self._lock:
            aid = self.state.agent_id(agent)
            side = self.customer_model if agent < self.market.n_customers else self.business_model
            cost_micro = call_cost_micro(self.prices, model, side, input_tokens, output_tokens)
            u = self.usage.setdefault(agent, Usage())
            seq = u.calls + u.unpaid_calls
            prov = provider_id(model)
            if prov not in self._providers:  # once per model, not once per call
                for cur, name in (("money", money_account(prov)), ("tokens", token_account(prov))):
                    self.ledger.ensure_account(name, kind="provider", currency=cur, owner=prov)
                self._providers.add(prov)
            legs = []
            if input_tokens + output_tokens > 0:
                legs.append(
                    Leg(token_account(aid), token_account(prov), input_tokens + output_tokens)
                )
            if cost_micro > 0:
                legs.append(Leg(money_account(aid), money_account(prov), cost_micro))
            now = self.now()
            try:
                if legs:
                    self.ledger.post(
                        legs,
                        kind="model_usage",
                        memo=f"{model}: {input_tokens} in + {output_tokens} out",
                        idempotency_key=f"usage:{aid}:{seq}",
                        at=now / 1000.0,
                    )
            except LedgerError as exc:
                u.unpaid_calls += 1
                self._broke[agent] = f"model budget exhausted: {exc}"
                return u
            u.calls += 1
            u.input_tokens += input_tokens
            u.output_tokens += output_tokens
            u.cost_micro += cost_micro
            self.store.journal_usage(
                now, aid, model, input_tokens, output_tokens, cost_micro, latency_s
            )
            return u

    # ------------------------------------------------------------------ the end
    def finish(self) -> dict[str, Any]:
        """Settle every payment held in escrow and close the session to new actions.

        Returns a summary: payments settled, amount, and the ledger's audit.
        """
        with self._lock:
            settled = 0
            amount = 0
            for pay in self.payments.values():
                hold = self.ledger.hold_of(pay.hold_id)
                if hold.status == "held":
                    self.ledger.settle(pay.hold_id, at=self.now() / 1000.0)
                    settled += 1
                    amount += pay.amount
            self.finished = True
            self.store.put("finished", True)
            audit = self.ledger.audit()
            return {
                "settled": settled,
                "settled_amount": format_dollars(amount),
                "audit": audit.to_dict(),
            }

    def log(self) -> RunLog:
        """The session's run log."""
        with self._lock:
            return self.state.log.build()

    def metered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-agent (global index) metered input tokens, output tokens, cost ($) and calls."""
        n = self.market.n_customers + self.market.n_businesses
        tin, tout = np.zeros(n, np.int64), np.zeros(n, np.int64)
        cost, calls = np.zeros(n, np.float64), np.zeros(n, np.int64)
        for g, u in self.usage.items():
            tin[g], tout[g], cost[g], calls[g] = (
                u.input_tokens,
                u.output_tokens,
                u.cost_micro / 1e6,
                u.calls,
            )
        return tin, tout, cost, calls

    def business_receipts(self) -> np.ndarray:
        """Micro-dollars each business received from settled escrow, according to the ledger."""
        index = {money_account(b): i for i, b in enumerate(self.market.business_ids)}
        receipts = np.zeros(self.market.n_businesses, np.int64)
        for hold in self.ledger.holds(status="settled"):
            receipts[index[hold.payee]] += hold.amount
        return receipts


class ServiceTransport:
    """The event engine's transport onto a :class:`MarketService` in the same process."""

    def __init__(self, service: MarketService) -> None:
        self.service = service

    def execute(self, agent: int, action: Action, now: int) -> ActionResult:
        """Execute through the service (journaled, ledger-backed)."""
        return self.service.execute(agent, action, now)

    def delivered(self, agent: int, message_id: int) -> ReceivedMessage:
        """The message just delivered."""
        return self.service.state.just_delivered(message_id)

    def end(self, agent: int, now: int, note: str) -> None:
        """Record the end of the episode."""
        self.service.end(agent, now, note)

    def meter(
        self, agent: int, model: str, input_tokens: int, output_tokens: int, latency_s: float
    ) -> None:
        """Charge the call in the ledger."""
        self.service.meter(agent, model, input_tokens, output_tokens, latency_s)

    def log(self) -> RunLog:
        """The service's log."""
        return self.service.log()
