"""The marketplace service: validates and applies actions, keeps inboxes, logs everything.

:class:`MarketState` is what an agent talks to. ``execute(agent, action, now)`` checks the
action against the protocol's rules and either applies it (returning a result) or refuses it
(returning :class:`~tokenomy.market.protocol.Rejected` with the reason). Either way one event is
logged. Rules enforced here, which the peer did not enforce:

* the sender is the agent executing the action (a different ``from_agent_id`` is refused);
* customers talk to businesses and businesses to customers, never to themselves;
* a proposal lists items from the sender's menu, at no more than the posted price, with a total
  equal to the sum, and expires in the future if it expires at all;
* a payment references a proposal addressed to the payer, is sent to the business that made
  it, before it expires, and only once;
* search algorithms must exist; ``optimal`` needs a customer (it reads the searcher's needs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tokenomy.market.dataset import Market, _ptr
from tokenomy.market.dialect import render_payment, render_proposal, render_search_line
from tokenomy.market.money import format_dollars, micro_of
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    BusinessSummary,
    FetchMessages,
    FetchResult,
    OrderProposal,
    Payment,
    ReceivedMessage,
    Rejected,
    Search,
    SearchResult,
    SendMessage,
    SendResult,
    TextMessage,
)
from tokenomy.market.runlog import (
    A_END,
    A_FETCH,
    A_PAYMENT,
    A_PROPOSAL,
    A_SEARCH,
    A_TEXT,
    K_PAYMENT,
    K_PROPOSAL,
    K_TEXT,
    PHASE_ACTION,
    PHASE_END,
    RunLog,
)
from tokenomy.market.search import ALGORITHMS, Constraints, SearchService
from tokenomy.prices import estimate_tokens

MAX_MESSAGE_CHARS = 20_000
"""Longest text message accepted (characters)."""

PaymentGuard = Callable[[int, int, int, int, int], str | None]
"""``guard(customer, business, proposal_message_id, total_micro, now)`` — called for a payment
that passed every protocol rule, just before it is delivered; returns ``None`` to let it through
(having taken the money, e.g. into escrow) or the reason it is refused (e.g. insufficient funds).
"""


_MESSAGE_CODES = {TextMessage: A_TEXT, OrderProposal: A_PROPOSAL, Payment: A_PAYMENT}


def action_code(action: Action) -> int:
    """The run log's action code of a protocol action."""
    if isinstance(action, Search):
        return A_SEARCH
    if isinstance(action, SendMessage):
        return _MESSAGE_CODES[type(action.message)]
    return A_FETCH


@dataclass
class _Proposal:
    business: int  # global index
    customer: int  # global index
    total: int
    expiry: int  # −1 = none
    paid_by: int = -1  # payment message id


@dataclass
class LogBuilder:
    """Accumulates a run's records in Python lists (the event engine's path)."""

    n_customers: int
    n_businesses: int
    ev: list[tuple[int, int, int, int, int, int, int, bool, int, int, int]] = field(
        default_factory=list
    )
    notes: dict[str, int] = field(default_factory=dict)
    msg: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    texts: dict[str, int] = field(default_factory=dict)
    props: list[tuple[int, int, int, list[int], list[int], list[int]]] = field(default_factory=list)
    pays: list[tuple[int, int, int]] = field(default_factory=list)
    searches: list[tuple[int, int, str, int, int, int, int, list[int]]] = field(
        default_factory=list
    )
    counters: dict[int, int] = field(default_factory=dict)

    def note(self, text: str | None) -> int:
        """Code of a note string (−1 for none)."""
        return -1 if text is None else self.notes.setdefault(text, len(self.notes))

    def text(self, content: str) -> int:
        """Code of a text (deduplicated)."""
        return self.texts.setdefault(content, len(self.texts))

    def event(
        self,
        time: int,
        phase: int,
        agent: int,
        target: int,
        action: int,
        message: int = -1,
        ok: bool = True,
        note: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        """Record one event (the agent's action counter is the final tie-break)."""
        seq = self.counters.get(agent, 0)
        self.counters[agent] = seq + 1
        self.ev.append(
            (
                time,
                phase,
                agent,
                target,
                seq,
                action,
                message,
                ok,
                self.note(note),
                tokens_in,
                tokens_out,
            )
        )

    def build(self) -> RunLog:
        """Freeze into a :class:`RunLog` with events in canonical order."""
        ev = sorted(self.ev, key=lambda e: e[:5])
        cols = list(zip(*ev, strict=True)) if ev else [()] * 11
        arr = [np.asarray(c, dtype=np.int64) for c in cols]
        msg_cols = list(zip(*self.msg, strict=True)) if self.msg else [()] * 6
        m = [np.asarray(c, dtype=np.int64) for c in msg_cols]
        props = self.props
        pays = self.pays
        s = self.searches
        return RunLog(
            n_customers=self.n_customers,
            n_businesses=self.n_businesses,
            ev_time=arr[0],
            ev_phase=arr[1],
            ev_agent=arr[2],
            ev_target=arr[3],
            ev_action=arr[5],
            ev_message=arr[6],
            ev_ok=arr[7].astype(bool),
            ev_note=arr[8],
            ev_tokens_in=arr[9],
            ev_tokens_out=arr[10],
            notes=list(self.notes),
            msg_time=m[0],
            msg_sender=m[1],
            msg_recipient=m[2],
            msg_kind=m[3],
            msg_text=m[4],
            msg_tokens=m[5],
            texts=list(self.texts),
            prop_id=np.asarray([p[0] for p in props], np.int64),
            prop_total=np.asarray([p[1] for p in props], np.int64),
            prop_expiry=np.asarray([p[2] for p in props], np.int64),
            prop_item_ptr=_ptr([len(p[3]) for p in props]),
            prop_items=np.asarray([i for p in props for i in p[3]], np.int64),
            prop_qty=np.asarray([q for p in props for q in p[4]], np.int64),
            prop_unit=np.asarray([u for p in props for u in p[5]], np.int64),
            pay_id=np.asarray([p[0] for p in pays], np.int64),
            pay_proposal=np.asarray([p[1] for p in pays], np.int64),
            pay_amount=np.asarray([p[2] for p in pays], np.int64),
            s_time=np.asarray([x[0] for x in s], np.int64),
            s_agent=np.asarray([x[1] for x in s], np.int64),
            s_algorithm=[x[2] for x in s],
            s_limit=np.asarray([x[3] for x in s], np.int64),
            s_page=np.asarray([x[4] for x in s], np.int64),
            s_query=np.asarray([x[5] for x in s], np.int64),
            s_total=np.asarray([x[6] for x in s], np.int64),
            s_ptr=_ptr([len(x[7]) for x in s]),
            s_results=np.asarray([b for x in s for b in x[7]], np.int64),
        )


class MarketState:
    """The marketplace as a service: one instance per run.

    Args:
        market: the data.
        search: the search service (indices are shared across runs of the same market).
        context_tokens: input tokens charged to every action on top of what it reads (models a
            system prompt an LLM agent re-reads on each call; 0 for scripted agents).
        payment_guard: called for every valid payment before delivery (see
            :data:`PaymentGuard`); the market service uses it to move the money in the ledger.
    """

    def __init__(
        self,
        market: Market,
        search: SearchService,
        context_tokens: int = 0,
        payment_guard: PaymentGuard | None = None,
    ) -> None:
        self.market = market
        self.payment_guard = payment_guard
        self.search_service = search
        self.context_tokens = context_tokens
        self.n_c = market.n_customers
        self.log = LogBuilder(market.n_customers, market.n_businesses)
        self.inbox: dict[int, list[int]] = {}
        self.stored: list[tuple[int, int, int, TextMessage | OrderProposal | Payment]] = []
        self.proposals: dict[int, _Proposal] = {}
        self._menus: dict[int, dict[str, int]] = {}

    # ------------------------------------------------------------------ identities
    def agent_index(self, agent_id: str) -> int:
        """Global index of an agent id, or −1 if unknown (see :meth:`Market.agent_index`)."""
        return self.market.agent_index(agent_id)

    def agent_id(self, g: int) -> str:
        """Agent id of a global index."""
        return self.market.agent_id(g)

    def is_customer(self, g: int) -> bool:
        """Whether global index ``g`` is a customer."""
        return 0 <= g < self.n_c

    def menu(self, g: int) -> dict[str, int]:
        """Menu of business ``g`` (global index): item name -> posted price (micro)."""
        if g not in self._menus:
            items, prices = self.market.business_menu(g - self.n_c)
            self._menus[g] = {
                self.market.items[i]: int(p) for i, p in zip(items, prices, strict=True)
            }
        return self._menus[g]

    # ------------------------------------------------------------------ execution
    def execute(self, agent: int, action: Action, now: int) -> ActionResult:
        """Validate and apply ``action`` by agent ``agent`` (global index) at time ``now``."""
        if isinstance(action, Search):
            return self._search(agent, action, now)
        if isinstance(action, SendMessage):
            return self._send(agent, action, now)
        if isinstance(action, FetchMessages):
            return self._fetch(agent, action, now)
        raise TypeError(f"not a protocol action: {action!r}")

    def refuse(self, agent: int, action: Action, now: int, reason: str) -> Rejected:
        """Refuse ``action`` for a reason outside the protocol's rules (recorded like any other).

        The market service uses it for an agent cut off by its model budget.
        """
        return self._reject(agent, now, action_code(action), -1, reason)

    def end(self, agent: int, now: int, note: str) -> None:
        """Record that an agent has finished."""
        self.log.event(now, PHASE_END, agent, -1, A_END, note=note)

    def _reject(self, agent: int, now: int, action: int, target: int, reason: str) -> Rejected:
        self.log.event(
            now,
            PHASE_ACTION,
            agent,
            target,
            action,
            ok=False,
            note=reason,
            tokens_in=self.context_tokens,
        )
        return Rejected(reason=reason)

    def _search(self, agent: int, action: Search, now: int) -> ActionResult:
        algo = action.search_algorithm
        if algo not in ALGORITHMS:
            return self._reject(
                agent,
                now,
                A_SEARCH,
                -1,
                f"unknown search algorithm '{algo}'; expected one of {', '.join(ALGORITHMS)}",
            )
        if algo in ("optimal", "random") and not self.is_customer(agent):
            return self._reject(agent, now, A_SEARCH, -1, f"'{algo}' search is for customers")
        constraints = None
        if action.constraints is not None:
            k = action.constraints
            constraints = Constraints(
                rating_threshold=k.rating_threshold,
                amenities=tuple(k.amenity_features or ()),
                menu_items=tuple(k.menu_items or ()),
            )
        page = self.search_service.search(
            algo,
            action.query,
            limit=action.limit,
            page=action.page,
            customer=agent if self.is_customer(agent) else None,
            constraints=constraints,
        )
        m = self.market
        start = (action.page - 1) * action.limit
        chars = 0
        summaries = []
        for j, b in enumerate(page.businesses.tolist()):
            chars += len(
                render_search_line(
                    start + j + 1,
                    m.business_ids[b],
                    m.business_names[b],
                    float(m.ratings[b]),
                    m.descriptions[b],
                )
            )
            summaries.append(
                BusinessSummary(
                    id=m.business_ids[b],
                    name=m.business_names[b],
                    description=m.descriptions[b],
                    rating=float(m.ratings[b]),
                )
            )
        self.log.event(
            now,
            PHASE_ACTION,
            agent,
            -1,
            A_SEARCH,
            tokens_in=-(-chars // 4) + self.context_tokens,
            tokens_out=estimate_tokens(action.query),
        )
        self.log.searches.append(
            (
                now,
                agent,
                algo,
                action.limit,
                action.page,
                self.log.text(action.query),
                page.total,
                page.businesses.tolist(),
            )
        )
        return SearchResult(businesses=summaries, total=page.total, pages=page.pages)

    def _send(self, agent: int, action: SendMessage, now: int) -> ActionResult:
        msg = action.message
        kind = action_code(action)
        me = self.agent_id(agent)
        if action.from_agent_id is not None and action.from_agent_id != me:
            return self._reject(
                agent,
                now,
                kind,
                -1,
                f"sender mismatch: authenticated as '{me}' but from_agent_id is "
                f"'{action.from_agent_id}'",
            )
        to = self.agent_index(action.to_agent_id)
        if to < 0:
            return self._reject(agent, now, kind, -1, f"unknown recipient '{action.to_agent_id}'")
        if to == agent:
            return self._reject(agent, now, kind, to, "an agent cannot message itself")
        if self.is_customer(agent) == self.is_customer(to):
            side = "customers" if self.is_customer(agent) else "businesses"
            return self._reject(
                agent,
                now,
                kind,
                to,
                f"{side} may only message the other side of the market",
            )
        if isinstance(msg, TextMessage):
            if len(msg.content) > MAX_MESSAGE_CHARS:
                return self._reject(
                    agent,
                    now,
                    kind,
                    to,
                    f"message too long: {len(msg.content)} characters (max {MAX_MESSAGE_CHARS})",
                )
            text = msg.content
            code = self.log.text(text)
            return self._deliver(agent, to, now, msg, K_TEXT, kind, code, estimate_tokens(text))
        if isinstance(msg, OrderProposal):
            return self._propose(agent, to, now, msg)
        return self._pay(agent, to, now, msg)

    def _propose(self, agent: int, to: int, now: int, msg: OrderProposal) -> ActionResult:
        if self.is_customer(agent):
            return self._reject(agent, now, A_PROPOSAL, to, "only businesses may send proposals")
        menu = self.menu(agent)
        items, qty, unit = [], [], []
        expected = 0
        for line in msg.items:
            posted = menu.get(line.item_name)
            if posted is None:
                return self._reject(
                    agent,
                    now,
                    A_PROPOSAL,
                    to,
                    f"unknown item '{line.item_name}': not on the menu of {self.agent_id(agent)}",
                )
            price = micro_of(line.unit_price)
            if price > posted:
                return self._reject(
                    agent,
                    now,
                    A_PROPOSAL,
                    to,
                    f"unit price {format_dollars(price)} of '{line.item_name}' is above the "
                    f"posted price {format_dollars(posted)}",
                )
            items.append(self.market.item_index[line.item_name])
            qty.append(line.quantity)
            unit.append(price)
            expected += line.quantity * price
        total = micro_of(msg.total_price)
        if total != expected:
            return self._reject(
                agent,
                now,
                A_PROPOSAL,
                to,
                f"wrong total: items sum to {format_dollars(expected)} but total_price is "
                f"{format_dollars(total)}",
            )
        if msg.expiry_ms is not None and msg.expiry_ms <= now:
            return self._reject(
                agent, now, A_PROPOSAL, to, f"expiry {msg.expiry_ms} ms is not in the future"
            )
        names = [self.market.items[i] for i in items]
        tokens = estimate_tokens(render_proposal(list(zip(names, qty, unit, strict=True)), total))
        result = self._deliver(agent, to, now, msg, K_PROPOSAL, A_PROPOSAL, -1, tokens)
        mid = result.message_id
        expiry = -1 if msg.expiry_ms is None else msg.expiry_ms
        self.proposals[mid] = _Proposal(agent, to, total, expiry)
        self.log.props.append((mid, total, expiry, items, qty, unit))
        return result

    def _pay(self, agent: int, to: int, now: int, msg: Payment) -> ActionResult:
        if not self.is_customer(agent):
            return self._reject(agent, now, A_PAYMENT, to, "only customers may pay")
        pid = msg.proposal_message_id
        prop = self.proposals.get(pid)
        if prop is None:
            return self._reject(agent, now, A_PAYMENT, to, f"message {pid} is not a proposal")
        if prop.customer != agent:
            return self._reject(
                agent,
                now,
                A_PAYMENT,
                to,
                f"proposal {pid} is addressed to {self.agent_id(prop.customer)}, not to "
                f"{self.agent_id(agent)}",
            )
        if prop.business != to:
            return self._reject(
                agent,
                now,
                A_PAYMENT,
                to,
                f"proposal {pid} was made by {self.agent_id(prop.business)}; pay that business",
            )
        if prop.paid_by >= 0:
            return self._reject(
                agent,
                now,
                A_PAYMENT,
                to,
                f"proposal {pid} was already paid (payment message {prop.paid_by})",
            )
        if 0 <= prop.expiry < now:
            return self._reject(
                agent, now, A_PAYMENT, to, f"proposal {pid} expired at {prop.expiry} ms"
            )
        if self.payment_guard is not None:
            refused = self.payment_guard(agent, to, pid, prop.total, now)
            if refused is not None:
                return self._reject(agent, now, A_PAYMENT, to, refused)
        tokens = estimate_tokens(render_payment(pid))
        result = self._deliver(agent, to, now, msg, K_PAYMENT, A_PAYMENT, -1, tokens)
        prop.paid_by = result.message_id
        self.log.pays.append((result.message_id, pid, prop.total))
        return result

    def _deliver(
        self,
        agent: int,
        to: int,
        now: int,
        msg: TextMessage | OrderProposal | Payment,
        kind: int,
        action: int,
        text_code: int,
        tokens: int,
    ) -> SendResult:
        mid = len(self.stored)
        self.stored.append((now, agent, to, msg))
        self.inbox.setdefault(to, []).append(mid)
        self.log.msg.append((now, agent, to, kind, text_code, tokens))
        self.log.event(
            now,
            PHASE_ACTION,
            agent,
            to,
            action,
            message=mid,
            tokens_in=self.context_tokens,
            tokens_out=tokens,
        )
        return SendResult(message_id=mid)

    def just_delivered(self, message_id: int) -> ReceivedMessage:
        """The message ``message_id``, delivered a moment ago, as its recipient sees it."""
        now, sender, to, msg = self.stored[message_id]
        return ReceivedMessage(
            index=len(self.inbox[to]) - 1,
            message_id=message_id,
            from_agent_id=self.agent_id(sender),
            to_agent_id=self.agent_id(to),
            time_ms=now,
            message=msg,
        )

    def inbox_page(
        self, agent: int, after_index: int | None, offset: int = 0, limit: int | None = None
    ) -> tuple[list[ReceivedMessage], bool]:
        """A page of ``agent``'s inbox, and whether more messages remain (nothing is logged).

        The page holds the messages with index above ``after_index``, skipping ``offset`` of
        them, at most ``limit``.
        """
        box = self.inbox.get(agent, [])
        start = (0 if after_index is None else max(after_index + 1, 0)) + offset
        end = len(box) if limit is None else min(len(box), start + limit)
        out = []
        for i in range(start, end):
            t, sender, to, msg = self.stored[box[i]]
            out.append(
                ReceivedMessage(
                    index=i,
                    message_id=box[i],
                    from_agent_id=self.agent_id(sender),
                    to_agent_id=self.agent_id(to),
                    time_ms=t,
                    message=msg,
                )
            )
        return out, end < len(box)

    def _fetch(self, agent: int, action: FetchMessages, now: int) -> ActionResult:
        out, more = self.inbox_page(agent, action.after_index, action.offset, action.limit)
        chars = sum(len(m.message.content) for m in out if isinstance(m.message, TextMessage))
        self.log.event(
            now, PHASE_ACTION, agent, -1, A_FETCH, tokens_in=-(-chars // 4) + self.context_tokens
        )
        return FetchResult(messages=out, has_more=more)
