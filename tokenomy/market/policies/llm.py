"""Customers and businesses driven by a chat model (any :class:`~tokenomy.llm.ChatModel`).

Both implement :class:`~tokenomy.market.policies.interface.AgentPolicy`, so the event engine
runs them like the scripted agents, and mixes them freely (:mod:`tokenomy.market.population`).

**Virtual time.** An action decided by the model is scheduled ``think_ms_base +
think_ms_per_output_token × output_tokens`` ms after the event that prompted it, from the token
counts the API reported — never from wall-clock latency — so the order of events does not
depend on how fast the API was, and a replay reproduces the timeline exactly.

**Metering.** After every chat call, failed structured attempts included, the policy calls
``ctx.meter(model.name, input_tokens, output_tokens, latency_s)``.

**Customer.** The model is asked at start, after each search result, when every business it
messaged has answered (``settle_ms`` after the last first answer, so a reply and the proposal
that follows it are both seen) or its patience runs out, after a ``wait`` when a new message
arrives, and after a rejected action (the rejection is shown). It may search, message
businesses, pay one proposal (a successful payment ends the episode: ``paid``), wait or finish
(``no_acceptable_offer``). After ``max_calls`` model calls it finishes with ``call_budget``; a
model that cannot produce a valid decision ends with ``invalid_output``.

**Business.** One model call per incoming text message (payments and proposals get none). The
model writes a reply and lists items and quantities; the policy fills unit prices (the posted
price, or the model's lower price clamped to ``[min_price_factor × posted, posted]`` and rounded
to cents) and the exact total, so proposals are valid by construction. Items not on the menu are
dropped and mentioned in the reply. The reply is sent first, the proposal 1 ms later.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tokenomy.llm.errors import StructuredOutputError
from tokenomy.llm.protocol import ChatMessage, ChatModel, ChatRequest, ChatResponse
from tokenomy.llm.structured import StructuredResult, complete_structured
from tokenomy.market.money import CENT, dollars_of, micro_of
from tokenomy.market.policies.interface import (
    Act,
    AgentContext,
    BusinessProfile,
    CustomerProfile,
    Done,
    Step,
    Timer,
)
from tokenomy.market.policies.prompts import (
    BUSINESS_SYSTEM,
    CUSTOMER_SYSTEM,
    BusinessDecision,
    CustomerDecision,
    business_prompt,
    customer_prompt,
)
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    OrderItem,
    OrderProposal,
    Payment,
    ReceivedMessage,
    Rejected,
    Search,
    SearchConstraints,
    SearchResult,
    SendMessage,
    SendResult,
    TextMessage,
)

SEED_RANGE = 2**31
"""Per-agent request seeds are drawn from ``[0, SEED_RANGE)``."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.0, ge=0.0, description="Sampling temperature")
    max_tokens: int | None = Field(default=512, ge=1, description="Cap on each answer's tokens")
    think_ms_base: int = Field(default=1000, ge=1, description="Virtual ms per decision")
    think_ms_per_output_token: float = Field(
        default=20.0, ge=0.0, description="Virtual ms per output token of the decision"
    )
    repair_attempts: int = Field(default=2, ge=0, description="Re-asks after an invalid answer")

    def think_ms(self, output_tokens: int) -> int:
        """Virtual time a decision of ``output_tokens`` tokens takes (at least 1 ms)."""
        return max(1, self.think_ms_base + round(self.think_ms_per_output_token * output_tokens))


class LLMCustomerParams(_Params):
    """Behaviour of an LLM customer."""

    max_calls: int = Field(default=12, ge=1, description="Hard cap on model calls per agent")
    patience_ms: int = Field(
        default=60_000, ge=1, description="Wait at most this long for answers after messaging"
    )
    settle_ms: int = Field(
        default=500, ge=1, description="Wait after the last first answer (follow-ups arrive)"
    )
    contacts: int = Field(default=3, ge=1, description="Suggested number of businesses to ask")


class LLMBusinessParams(_Params):
    """Behaviour of an LLM business."""

    max_calls: int = Field(
        default=1000, ge=1, description="Hard cap on model calls per agent (then it goes silent)"
    )


def _request_seed(ctx: AgentContext) -> int:
    return int(ctx.draw("llm/seed", None) * SEED_RANGE)


def _meter(ctx: AgentContext, model: ChatModel, responses: list[ChatResponse]) -> None:
    for r in responses:
        ctx.meter(model.name, r.usage.input_tokens, r.usage.output_tokens, r.latency_s)


def _proposal_record(body: OrderProposal) -> dict[str, Any]:
    return {
        "items": [
            {"name": i.item_name, "quantity": i.quantity, "unit_price": i.unit_price}
            for i in body.items
        ],
        "total": body.total_price,
        "expiry_ms": body.expiry_ms,
    }


def _entry(message_id: int, sender: str, time_ms: int, body: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"message_id": message_id, "from": sender, "time_ms": time_ms}
    if isinstance(body, TextMessage):
        entry["text"] = body.content
    elif isinstance(body, OrderProposal):
        entry["proposal"] = _proposal_record(body)
    elif isinstance(body, Payment):
        entry["payment"] = {"proposal_id": body.proposal_message_id}
    return entry


class LLMCustomer:
    """A customer assistant that asks a chat model what to do."""

    def __init__(self, ctx: AgentContext, model: ChatModel, params: LLMCustomerParams) -> None:
        assert isinstance(ctx.profile, CustomerProfile)
        self.ctx = ctx
        self.profile: CustomerProfile = ctx.profile
        self.model = model
        self.p = params
        self.seed = _request_seed(ctx)
        self.calls = 0
        self.round = 0
        self.finished = False
        self.wake_on_any = False
        self.awaiting: set[str] = set()
        self.searches: list[dict[str, Any]] = []
        self.businesses: dict[str, dict[str, Any]] = {}
        self.messaged: list[str] = []
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self.proposals: dict[int, dict[str, Any]] = {}
        self.rejected: list[dict[str, Any]] = []

    # -------------------------------------------------------------- state and prompt
    def state(self, now: int) -> dict[str, Any]:
        """Everything the customer has seen, as the prompt's JSON state."""
        prof = self.profile
        answered = {
            b for b, conv in self.conversations.items() if any(m["from"] != "you" for m in conv)
        }
        return {
            "role": "customer",
            "customer_id": prof.id,
            "principal": prof.name,
            "request": prof.request,
            "items": [
                {"name": name, "willingness_to_pay": dollars_of(w)}
                for name, w in zip(prof.items, prof.wtp_micro, strict=True)
            ],
            "amenities": list(prof.amenities),
            "value_if_needs_met": dollars_of(2 * sum(prof.wtp_micro)),
            "contacts": self.p.contacts,
            "calls_left": self.p.max_calls - self.calls,
            "now_ms": now,
            "searches": self.searches,
            "businesses": list(self.businesses.values()),
            "messaged": self.messaged,
            "no_answer_yet": [b for b in self.messaged if b not in answered],
            "conversations": [
                {"business_id": b, "messages": conv} for b, conv in self.conversations.items()
            ],
            "proposals": [{"proposal_id": mid, **p} for mid, p in sorted(self.proposals.items())],
            "rejected": self.rejected,
        }

    def request(self, now: int) -> ChatRequest:
        """The chat request of a decision at ``now``."""
        return ChatRequest(
            messages=(
                ChatMessage("system", CUSTOMER_SYSTEM),
                ChatMessage("user", customer_prompt(self.state(now))),
            ),
            temperature=self.p.temperature,
            max_tokens=self.p.max_tokens,
            seed=self.seed,
            tag=self.profile.id,
        )

    # -------------------------------------------------------------- decisions
    def _finish(self, note: str) -> list[Step]:
        self.finished = True
        return [Done(note)]

    def _wake(self, delay: int) -> list[Step]:
        return [Timer(delay, f"wake:{self.round}")]

    def _decide(self, now: int) -> list[Step]:
        if self.calls >= self.p.max_calls:
            return self._finish("call_budget")
        self.round += 1
        self.awaiting.clear()
        self.wake_on_any = False
        result: StructuredResult[CustomerDecision]
        try:
            result = complete_structured(
                self.model,
                self.request(now),
                CustomerDecision,
                repair_attempts=self.p.repair_attempts,
            )
        except StructuredOutputError as exc:
            self.calls += len(exc.responses)
            _meter(self.ctx, self.model, exc.responses)
            return self._finish("invalid_output")
        self.calls += len(result.responses)
        _meter(self.ctx, self.model, result.responses)
        return self._apply(result.value, now, self.p.think_ms(result.output_tokens))

    def _apply(self, d: CustomerDecision, now: int, delay: int) -> list[Step]:
        if d.action == "finish":
            return self._finish("no_acceptable_offer")
        if d.action == "search":
            return [Act(delay, self._search(d.query.strip() or self.profile.request))]
        if d.action == "message":
            ids = list(dict.fromkeys(i.strip() for i in d.business_ids if i.strip()))
            text = d.message.strip()
            if not ids or not text:
                what = "business_ids" if not ids else "message"
                self.rejected.append(
                    {"action": "message", "reason": f"'{what}' is empty", "time_ms": now}
                )
                return self._wake(delay)
            steps: list[Step] = []
            for j, business in enumerate(ids):
                self.awaiting.add(business)
                if business not in self.messaged:
                    self.messaged.append(business)
                action = SendMessage(to_agent_id=business, message=TextMessage(content=text))
                steps.append(Act(delay + j, action))
            return [*steps, *self._wake(delay + len(ids) + self.p.patience_ms)]
        if d.action == "pay":
            proposal = None if d.proposal_id is None else self.proposals.get(d.proposal_id)
            if proposal is None:
                self.rejected.append(
                    {
                        "action": "pay",
                        "proposal_id": d.proposal_id,
                        "reason": "not the message id of an order proposal you received",
                        "time_ms": now,
                    }
                )
                return self._wake(delay)
            assert d.proposal_id is not None
            payment = Payment(proposal_message_id=d.proposal_id)
            return [Act(delay, SendMessage(to_agent_id=proposal["business_id"], message=payment))]
        # wait: for any new message, or patience
        self.wake_on_any = True
        return self._wake(delay + self.p.patience_ms)

    def _search(self, query: str) -> Search:
        constraints = None
        if self.ctx.search_algorithm == "filtered":
            constraints = SearchConstraints(
                menu_items=list(self.profile.items), amenity_features=list(self.profile.amenities)
            )
        return Search(
            query=query,
            search_algorithm=self.ctx.search_algorithm,
            limit=self.ctx.limit,
            constraints=constraints,
        )

    # -------------------------------------------------------------- callbacks
    def on_start(self, now: int) -> list[Step]:
        """Ask the model for the first action."""
        return self._decide(now)

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """Record what an action returned; decide again where the episode calls for it."""
        if self.finished:
            return []
        if isinstance(action, Search):
            if isinstance(result, SearchResult):
                self.searches.append(
                    {"query": action.query, "results": [b.id for b in result.businesses]}
                )
                for b in result.businesses:
                    self.businesses.setdefault(b.id, b.model_dump(exclude={"type"}))
            else:
                reason = result.reason if isinstance(result, Rejected) else type(result).__name__
                self.rejected.append(
                    {"action": "search", "query": action.query, "reason": reason, "time_ms": now}
                )
            return self._decide(now)
        if not isinstance(action, SendMessage):
            return []
        to = action.to_agent_id
        if isinstance(action.message, Payment):
            if isinstance(result, SendResult):
                return self._finish("paid")
            reason = result.reason if isinstance(result, Rejected) else type(result).__name__
            self.rejected.append(
                {
                    "action": "pay",
                    "proposal_id": action.message.proposal_message_id,
                    "reason": reason,
                    "time_ms": now,
                }
            )
            return self._decide(now)
        if isinstance(result, SendResult):
            self.conversations.setdefault(to, []).append(
                _entry(result.message_id, "you", now, action.message)
            )
            return []
        reason = result.reason if isinstance(result, Rejected) else type(result).__name__
        self.rejected.append(
            {"action": "message", "business_id": to, "reason": reason, "time_ms": now}
        )
        if to in self.awaiting:
            self.awaiting.discard(to)
            if not self.awaiting:
                return self._wake(self.p.settle_ms)
        return []

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """Record a business's message; wake when every contacted business has answered."""
        sender, body = message.from_agent_id, message.message
        self.conversations.setdefault(sender, []).append(
            _entry(message.message_id, "business", message.time_ms, body)
        )
        if isinstance(body, OrderProposal):
            self.proposals[message.message_id] = {
                "business_id": sender,
                **_proposal_record(body),
            }
        if self.finished:
            return []
        if sender in self.awaiting:
            self.awaiting.discard(sender)
            if not self.awaiting:
                return self._wake(self.p.settle_ms)
        elif self.wake_on_any:
            self.wake_on_any = False
            return self._wake(self.p.settle_ms)
        return []

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """The current round's wake-up: decide with what has arrived (older timers are stale)."""
        if self.finished or tag != f"wake:{self.round}":
            return []
        return self._decide(now)


class LLMBusiness:
    """A business assistant that asks a chat model how to answer each customer message."""

    def __init__(self, ctx: AgentContext, model: ChatModel, params: LLMBusinessParams) -> None:
        assert isinstance(ctx.profile, BusinessProfile)
        self.ctx = ctx
        self.profile: BusinessProfile = ctx.profile
        self.model = model
        self.p = params
        self.seed = _request_seed(ctx)
        self.calls = 0
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self.notes: dict[str, list[str]] = {}
        self.proposals_sent = 0

    def state(self, customer: str, now: int) -> dict[str, Any]:
        """What the business knows, and its conversation with ``customer``, as JSON state."""
        prof = self.profile
        return {
            "role": "business",
            "business_id": prof.id,
            "name": prof.name,
            "description": prof.description,
            "menu": [{"item": name, "price": dollars_of(p)} for name, p in prof.menu.items()],
            "amenities": dict(prof.amenities),
            "min_price_factor": prof.min_price_factor,
            "customer_id": customer,
            "now_ms": now,
            "conversation": self.conversations.get(customer, []),
            "notes": self.notes.get(customer, []),
        }

    def request(self, customer: str, now: int) -> ChatRequest:
        """The chat request answering ``customer`` at ``now``."""
        return ChatRequest(
            messages=(
                ChatMessage("system", BUSINESS_SYSTEM),
                ChatMessage("user", business_prompt(self.state(customer, now))),
            ),
            temperature=self.p.temperature,
            max_tokens=self.p.max_tokens,
            seed=self.seed,
            tag=f"{self.profile.id}/{customer}",
        )

    def unit_price(self, item: str, asked: float | None) -> int:
        """Unit price (micro) for ``item``: posted, or ``asked`` clamped to the allowed range."""
        posted = self.profile.menu[item]
        if asked is None:
            return posted
        floor = -(-round(posted * self.profile.min_price_factor) // CENT) * CENT
        cents = round(micro_of(asked) / CENT) * CENT
        return min(posted, max(min(floor, posted), cents))

    def _lines(self, decision: BusinessDecision) -> tuple[list[tuple[str, int, int]], list[str]]:
        by_lower = {name.lower(): name for name in self.profile.menu}
        lines: dict[str, tuple[int, int]] = {}
        dropped: list[str] = []
        for p in decision.propose:
            name = p.item if p.item in self.profile.menu else by_lower.get(p.item.strip().lower())
            if name is None:
                if p.item not in dropped:
                    dropped.append(p.item)
                continue
            qty, unit = lines.get(name, (0, self.unit_price(name, p.unit_price)))
            lines[name] = (qty + p.quantity, unit)
        return [(name, q, u) for name, (q, u) in lines.items()], dropped

    def _answer(self, customer: str, now: int) -> list[Step]:
        try:
            result = complete_structured(
                self.model,
                self.request(customer, now),
                BusinessDecision,
                repair_attempts=self.p.repair_attempts,
            )
        except StructuredOutputError as exc:
            self.calls += len(exc.responses)
            _meter(self.ctx, self.model, exc.responses)
            self.notes.setdefault(customer, []).append(
                f"At {now} ms your answer could not be read: {exc.error}."
            )
            return []
        self.calls += len(result.responses)
        _meter(self.ctx, self.model, result.responses)
        delay = self.p.think_ms(result.output_tokens)
        lines, dropped = self._lines(result.value)
        text = result.value.reply.strip()
        if dropped:
            note = f"(Not on our menu, so not in the proposal: {', '.join(dropped)}.)"
            text = f"{text}\n{note}" if text else note
        steps: list[Step] = []
        if text:
            message = TextMessage(content=text)
            steps.append(Act(delay, SendMessage(to_agent_id=customer, message=message)))
        if lines:
            self.proposals_sent += 1
            total = sum(q * u for _, q, u in lines)
            proposal = OrderProposal(
                id=f"{self.profile.id}-{self.proposals_sent}",
                items=[
                    OrderItem(id=name, item_name=name, quantity=q, unit_price=dollars_of(u))
                    for name, q, u in lines
                ],
                total_price=dollars_of(total),
            )
            steps.append(Act(delay + 1, SendMessage(to_agent_id=customer, message=proposal)))
        return steps

    # -------------------------------------------------------------- callbacks
    def on_start(self, now: int) -> list[Step]:
        """Businesses wait for customers."""
        return []

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """Businesses set no timers."""
        return []

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """Record what was sent (or why it was rejected) in the conversation."""
        if not isinstance(action, SendMessage):
            return []
        customer = action.to_agent_id
        if isinstance(result, SendResult):
            self.conversations.setdefault(customer, []).append(
                _entry(result.message_id, "you", now, action.message)
            )
        elif isinstance(result, Rejected):
            self.notes.setdefault(customer, []).append(
                f"At {now} ms the market rejected your {action.message.type}: {result.reason}."
            )
        return []

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """Record the message; answer a text with one model call (payments get none)."""
        customer, body = message.from_agent_id, message.message
        self.conversations.setdefault(customer, []).append(
            _entry(message.message_id, "customer", message.time_ms, body)
        )
        if not isinstance(body, TextMessage) or self.calls >= self.p.max_calls:
            return []
        return self._answer(customer, now)
