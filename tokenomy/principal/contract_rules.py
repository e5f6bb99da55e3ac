"""The rule vocabulary of runtime contracts, and how each rule judges one proposed action.

A rule is a small typed record (a pydantic model with a ``kind`` tag, so a YAML list of rules
is a discriminated union) with one method, :meth:`check`, that reads the proposed marketplace
action and the agent's tracked :class:`AgentState` and returns ``None`` (fine) or a short
reason. There is no expression language and nothing is evaluated from text.

Invariant / precondition kinds (amounts in dollars, as in the data files):

* ``max_payment`` — never pay a proposal whose total exceeds ``amount`` (default: the
  principal's budget, the sum of its willingness to pay over the requested items).
* ``max_total_spend`` — the payments of the episode, this one included, stay within ``amount``
  (default: the budget).
* ``require_items`` — never pay a business unless the agent has been told (by that business's
  reply or proposal) that it carries every required item (default: the principal's items).
* ``no_disclosure`` — no outgoing text (message, payment note, proposal note, search query)
  contains a figure of the principal's reservation price: each item's WTP and/or the budget,
  in any common formatting (``$12.50``, ``12.5``, ``USD 12.50``, ``12,50``, ``1,234.50``,
  ``12 dollars``). A whole-dollar figure written bare (``12`` with no currency sign, word or
  decimals) is not counted, since small integers are quantities far more often than prices;
  spelled-out numbers (``twelve``) are not detected.
* ``max_messages_per_counterparty`` — at most ``limit`` messages to any one agent.
* ``max_searches`` — at most ``limit`` searches in the episode.
* ``counterparties`` — messages only to ids matching an ``allow`` glob (when given) and to
  none matching a ``deny`` glob.

Governance kinds (always blocking when not satisfied):

* ``approval_above`` — a payment above ``amount`` needs the named approver's consent (a
  callback given to the enforcing policy; an unregistered approver never consents).
* ``second_proposal_above`` — before paying more than ``amount`` the agent must hold
  proposals from at least ``min_proposals`` distinct businesses.

Every rule also carries how it is enforced (``severity``, ``recovery``, ``repair_within``,
``escalate``, ``correction``); :mod:`.contract_enforcement` gives these their meaning.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from tokenomy.market.money import CENT, format_dollars, micro_of
from tokenomy.market.policies.interface import CustomerProfile
from tokenomy.market.protocol import (
    Action,
    OrderProposal,
    Payment,
    Search,
    SendMessage,
    TextMessage,
)

Severity = Literal["hard", "soft"]
Figure = Literal["wtp", "budget"]
Recovery = Literal["notify", "correct", "cancel", "finish"]
Escalation = Literal["stop", "harden"]

_MAX_DOLLARS = 1e9


@dataclass(frozen=True)
class KnownProposal:
    """A proposal the agent has received: who sent it, its total, the items it offers."""

    business: str
    total_micro: int
    items: frozenset[str]


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approver is asked: may ``agent_id`` execute ``action`` (``amount_micro``)?"""

    agent_id: str
    rule: str
    action: Action
    amount_micro: int
    time_ms: int


Approver = Callable[[ApprovalRequest], bool]
"""A governance callback: ``True`` approves the action."""


@dataclass
class AgentState:
    """What the rules read about one agent: its principal and what it has done and learned.

    Counts (``searches``, ``messages_to``, ``spent_micro``) include actions that were allowed
    and are still pending execution; an action the market then rejects is taken back out. So a
    rule sees the state as it will be once everything already allowed has happened.
    """

    agent_id: str
    items: tuple[str, ...] = ()
    wtp_micro: dict[str, int] = field(default_factory=dict)
    budget_micro: int | None = None
    searches: int = 0
    messages_to: dict[str, int] = field(default_factory=dict)
    spent_micro: int = 0
    proposals: dict[int, KnownProposal] = field(default_factory=dict)
    proposers: set[str] = field(default_factory=set)
    carries: dict[str, set[str]] = field(default_factory=dict)
    lacks: dict[str, set[str]] = field(default_factory=dict)
    approvers: Mapping[str, Approver] = field(default_factory=dict)
    now: int = 0

    @classmethod
    def of_profile(
        cls, agent_id: str, profile: object, approvers: Mapping[str, Approver] | None = None
    ) -> AgentState:
        """The initial state of an agent: a customer's principal gives items, WTP and budget."""
        approvers = approvers or {}
        if isinstance(profile, CustomerProfile):
            wtp = dict(zip(profile.items, profile.wtp_micro, strict=True))
            return cls(
                agent_id=agent_id,
                items=profile.items,
                wtp_micro=wtp,
                budget_micro=sum(profile.wtp_micro),
                approvers=approvers,
            )
        return cls(agent_id=agent_id, approvers=approvers)

    def learn_items(self, business: str, available: Iterable[str], lacking: Iterable[str]) -> None:
        """Record what ``business`` said it carries (and lacks)."""
        have = self.carries.setdefault(business, set())
        have.update(available)
        gone = self.lacks.setdefault(business, set())
        gone.update(lacking)
        gone.difference_update(have)


# ------------------------------------------------------------------------------ helpers


def payment_of(action: Action) -> tuple[str, Payment] | None:
    """``(business, payment)`` when ``action`` pays a proposal, else ``None``."""
    if isinstance(action, SendMessage) and isinstance(action.message, Payment):
        return action.to_agent_id, action.message
    return None


def payment_amount(action: Action, state: AgentState) -> int | None:
    """Total (micro) of the proposal ``action`` pays, if it is a payment of a known proposal."""
    paid = payment_of(action)
    if paid is None:
        return None
    known = state.proposals.get(paid[1].proposal_message_id)
    return None if known is None else known.total_micro


def outgoing_texts(action: Action) -> list[str]:
    """Every free text an action carries to someone else."""
    if isinstance(action, Search):
        return [action.query] if action.query else []
    if isinstance(action, SendMessage):
        body = action.message
        if isinstance(body, TextMessage):
            return [body.content]
        if isinstance(body, Payment):
            return [body.payment_message] if body.payment_message else []
        if isinstance(body, OrderProposal):
            return [body.special_instructions] if body.special_instructions else []
    return []


_AMOUNT = re.compile(
    r"(?<![\w.,])(?P<pre>US\$|USD|\$|€)?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:[.,](?P<frac>\d{1,2}))?(?![\d])"
    r"(?:\s?(?P<post>\$|dollars?|usd|bucks))?",
    re.IGNORECASE,
)


def amounts_in(text: str) -> list[tuple[int, bool]]:
    """Every money-like figure in ``text`` as ``(cents, marked)``.

    ``marked`` is true when the figure has a currency sign or word, or decimals.
    """
    out: list[tuple[int, bool]] = []
    for m in _AMOUNT.finditer(text):
        whole = int(m.group("int").replace(",", ""))
        frac = m.group("frac")
        cents = whole * 100 + (0 if frac is None else int(frac.ljust(2, "0")))
        marked = bool(m.group("pre") or m.group("post") or frac is not None)
        out.append((cents, marked))
    return out


def _cents(micro: int) -> int:
    return (micro + CENT // 2) // CENT


def _dollars(micro: int) -> str:
    return "$" + format_dollars(micro)


class _RuleBase(BaseModel):
    """Fields every rule shares: its name and how it is enforced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None, description="Unique name in the contract (default: kind)"
    )
    severity: Severity = Field(
        default="hard", description="hard: block the action; soft: let it through and recover"
    )
    recovery: Recovery = Field(
        default="notify",
        description="Soft violations: notify, correct (send a correction), cancel, finish",
    )
    repair_within: int = Field(
        default=2, ge=1, le=1000, description="Soft: steps within which recovery must succeed"
    )
    escalate: Escalation = Field(
        default="stop", description="Unrepaired soft violation: stop the agent or harden the rule"
    )
    correction: str = Field(
        default="Correction: please disregard my previous message.",
        max_length=2000,
        description="Text of the correction message (recovery: correct)",
    )

    @property
    def label(self) -> str:
        """The rule's name, or its kind when unnamed."""
        return self.name or str(getattr(self, "kind", "rule"))

    def check(self, action: Action, state: AgentState) -> str | None:  # pragma: no cover
        """``None`` if ``action`` keeps the rule, else why not."""
        raise NotImplementedError


def _limit(amount: float | None, state: AgentState) -> int | None:
    return state.budget_micro if amount is None else micro_of(amount)


class MaxPayment(_RuleBase):
    """Never pay a proposal above ``amount`` (default: the principal's budget)."""

    kind: Literal["max_payment"] = "max_payment"
    amount: float | None = Field(default=None, ge=0, le=_MAX_DOLLARS, description="Dollars")

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block payments of known proposals above the limit."""
        total = payment_amount(action, state)
        limit = _limit(self.amount, state)
        if total is None or limit is None or total <= limit:
            return None
        return f"payment of {_dollars(total)} exceeds the limit {_dollars(limit)}"


class MaxTotalSpend(_RuleBase):
    """Total payments of the episode stay within ``amount`` (default: the budget)."""

    kind: Literal["max_total_spend"] = "max_total_spend"
    amount: float | None = Field(default=None, ge=0, le=_MAX_DOLLARS, description="Dollars")

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block a payment that would take total spend over the cap."""
        total = payment_amount(action, state)
        cap = _limit(self.amount, state)
        if total is None or cap is None or state.spent_micro + total <= cap:
            return None
        after = _dollars(state.spent_micro + total)
        return f"spend would reach {after}, above the cap {_dollars(cap)}"


class RequireItems(_RuleBase):
    """Pay only a business known (from its reply or proposal) to carry every required item."""

    kind: Literal["require_items"] = "require_items"
    items: list[str] | None = Field(
        default=None, description="Required items (default: the principal's requested items)"
    )

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block paying a business not known to carry all required items."""
        paid = payment_of(action)
        if paid is None:
            return None
        business = paid[0]
        required = state.items if self.items is None else self.items
        have = state.carries.get(business, set())
        missing = [i for i in required if i not in have]
        if not missing:
            return None
        return f"{business} is not known to carry {', '.join(missing)}"


class NoDisclosure(_RuleBase):
    """No outgoing text contains a figure of the principal's reservation price."""

    kind: Literal["no_disclosure"] = "no_disclosure"
    figures: list[Figure] = Field(
        default_factory=lambda: list[Figure](["wtp", "budget"]),
        description="Which figures are secret: each item's WTP, the total budget",
    )
    amounts: list[float] = Field(
        default_factory=list, description="Further secret amounts (dollars)"
    )
    _cache: dict[str, frozenset[int]] = PrivateAttr(default_factory=dict)

    def secrets(self, state: AgentState) -> frozenset[int]:
        """The secret figures of this agent, in cents."""
        found = self._cache.get(state.agent_id)
        if found is None:
            values: set[int] = {round(a * 100) for a in self.amounts}
            if "wtp" in self.figures:
                values.update(_cents(w) for w in state.wtp_micro.values())
            if "budget" in self.figures and state.budget_micro is not None:
                values.add(_cents(state.budget_micro))
            found = frozenset(values)
            self._cache[state.agent_id] = found
        return found

    def check(self, action: Action, state: AgentState) -> str | None:
        """Flag an outgoing text that states a secret figure."""
        texts = outgoing_texts(action)
        if not texts:
            return None
        secret = self.secrets(state)
        if not secret:
            return None
        for text in texts:
            for cents, marked in amounts_in(text):
                if cents in secret and (marked or cents % 100):
                    return f"text discloses the reservation figure {_dollars(cents * CENT)}"
        return None


class MaxMessagesPerCounterparty(_RuleBase):
    """At most ``limit`` messages to any one agent."""

    kind: Literal["max_messages_per_counterparty"] = "max_messages_per_counterparty"
    limit: int = Field(ge=0, le=10**9, description="Messages per counterparty")

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block a message beyond the per-counterparty limit."""
        if not isinstance(action, SendMessage):
            return None
        sent = state.messages_to.get(action.to_agent_id, 0)
        if sent < self.limit:
            return None
        return f"already {sent} messages to {action.to_agent_id} (limit {self.limit})"


class MaxSearches(_RuleBase):
    """At most ``limit`` searches in the episode."""

    kind: Literal["max_searches"] = "max_searches"
    limit: int = Field(ge=0, le=10**9, description="Searches per episode")

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block a search beyond the limit."""
        if not isinstance(action, Search) or state.searches < self.limit:
            return None
        return f"already {state.searches} searches (limit {self.limit})"


class Counterparties(_RuleBase):
    """Messages only to allowed and not denied agents (globs on the agent id)."""

    kind: Literal["counterparties"] = "counterparties"
    allow: list[str] | None = Field(default=None, description="Globs; None: everyone")
    deny: list[str] = Field(default_factory=list, description="Globs never to message")
    _allow: re.Pattern[str] | None = PrivateAttr(default=None)
    _deny: re.Pattern[str] | None = PrivateAttr(default=None)

    def model_post_init(self, context: object, /) -> None:
        """Compile the globs once."""

        def compile_(globs: list[str]) -> re.Pattern[str]:
            return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs) or "(?!)")

        self._allow = None if self.allow is None else compile_(self.allow)
        self._deny = compile_(self.deny)

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block a message to a counterparty outside the allow list or on the deny list."""
        if not isinstance(action, SendMessage):
            return None
        to = action.to_agent_id
        if self._deny is not None and self._deny.match(to):
            return f"{to} is on the deny list"
        if self._allow is not None and not self._allow.match(to):
            return f"{to} is not on the allow list"
        return None


class ApprovalAbove(_RuleBase):
    """A payment above ``amount`` needs the consent of the approver named ``approver``."""

    kind: Literal["approval_above"] = "approval_above"
    amount: float = Field(ge=0, le=_MAX_DOLLARS, description="Dollars")
    approver: str = Field(min_length=1, description="Name of the approver callback")

    def check(self, action: Action, state: AgentState) -> str | None:
        """Ask the approver about a payment above the threshold."""
        total = payment_amount(action, state)
        if total is None or total <= micro_of(self.amount):
            return None
        approve = state.approvers.get(self.approver)
        if approve is None:
            return f"payment of {_dollars(total)} needs approval; no approver '{self.approver}'"
        request = ApprovalRequest(state.agent_id, self.label, action, total, state.now)
        if approve(request):
            return None
        return f"approver '{self.approver}' refused the payment of {_dollars(total)}"


class SecondProposalAbove(_RuleBase):
    """Before paying more than ``amount``, hold proposals from ``min_proposals`` businesses."""

    kind: Literal["second_proposal_above"] = "second_proposal_above"
    amount: float = Field(ge=0, le=_MAX_DOLLARS, description="Dollars")
    min_proposals: int = Field(default=2, ge=1, le=10**6, description="Distinct proposers")

    def check(self, action: Action, state: AgentState) -> str | None:
        """Block a large payment made without enough competing proposals."""
        total = payment_amount(action, state)
        if total is None or total <= micro_of(self.amount):
            return None
        n = len(state.proposers)
        if n >= self.min_proposals:
            return None
        return (
            f"payment of {_dollars(total)} needs proposals from {self.min_proposals} "
            f"businesses; have {n}"
        )


Rule = Annotated[
    MaxPayment
    | MaxTotalSpend
    | RequireItems
    | NoDisclosure
    | MaxMessagesPerCounterparty
    | MaxSearches
    | Counterparties,
    Field(discriminator="kind"),
]
"""An invariant or precondition rule (discriminated on ``kind``)."""

GovernanceRule = Annotated[ApprovalAbove | SecondProposalAbove, Field(discriminator="kind")]
"""A governance rule (discriminated on ``kind``)."""

AnyRule = (
    MaxPayment
    | MaxTotalSpend
    | RequireItems
    | NoDisclosure
    | MaxMessagesPerCounterparty
    | MaxSearches
    | Counterparties
    | ApprovalAbove
    | SecondProposalAbove
)

RULE_KINDS: tuple[str, ...] = (
    "max_payment",
    "max_total_spend",
    "require_items",
    "no_disclosure",
    "max_messages_per_counterparty",
    "max_searches",
    "counterparties",
    "approval_above",
    "second_proposal_above",
)
"""Every rule kind, invariant kinds first."""
