"""Scripted customers and businesses for the event engine.

These are the reference semantics of the scripted policies; the batch engine
(:mod:`tokenomy.market.batch`) computes the same run in closed form for whole markets at once,
and the test suite checks that both produce byte-identical logs. Valuation and choice go through
:mod:`.choice`, so the two engines share one implementation of them.

Customer episode: search → ask the first ``contacts`` results (one inquiry every
``message_ms``) → collect replies and proposals until every contacted business has answered or
``patience_ms`` has passed since the last inquiry → pay one proposal (``decide_ms`` later) or
none. In ``first`` mode the customer pays the first acceptable proposal as soon as it arrives.
"""

from __future__ import annotations

import numpy as np

from tokenomy.market.dialect import parse_inquiry, parse_reply, render_inquiry, render_reply
from tokenomy.market.money import CENT, dollars_of, micro_of
from tokenomy.market.policies import choice
from tokenomy.market.policies.interface import (
    Act,
    AgentContext,
    BusinessProfile,
    CustomerProfile,
    Done,
    Step,
    Timer,
)
from tokenomy.market.policies.params import BusinessParams, CustomerParams
from tokenomy.market.policies.persuasion import persuasion_score
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
    TextMessage,
)


def offer_prices(
    posted: np.ndarray, min_price_factor: np.ndarray, concession: float, discount: np.ndarray
) -> np.ndarray:
    """Unit prices a scripted business offers (micro).

    The posted price, or — where ``discount`` — ``concession`` of the way down to
    ``min_price_factor × posted``, rounded to cents.
    """
    posted = np.asarray(posted, np.int64)
    factor = 1.0 - concession * (1.0 - np.asarray(min_price_factor, np.float64))
    cut = (np.rint(posted.astype(np.float64) * factor / CENT) * CENT).astype(np.int64)
    return np.where(np.asarray(discount, bool), np.minimum(cut, posted), posted)


def customer_query(profile: CustomerProfile, params: CustomerParams, algorithm: str) -> str:
    """The query a scripted customer types."""
    if algorithm == "filtered":
        return ""
    return profile.request if params.query == "request" else ", ".join(profile.items)


class ScriptedCustomer:
    """A scripted customer (rational, first-proposal or bounded, by its parameters)."""

    def __init__(self, ctx: AgentContext, params: CustomerParams) -> None:
        assert isinstance(ctx.profile, CustomerProfile)
        self.ctx = ctx
        self.profile: CustomerProfile = ctx.profile
        self.p = params
        self.value = 2 * sum(self.profile.wtp_micro)
        self.first_mode = params.mode == "first" or ctx.draw("customer/first_bias", None) < (
            params.first_bias
        )
        self.contacted: list[str] = []
        self.persuasion: dict[str, float] = {}
        self.answered: set[str] = set()
        self.amenities_ok: dict[str, bool] = {}
        self.offers: list[
            tuple[str, int, int, int, bool]
        ] = []  # (business, msg, total, expiry, met)
        self.decided = False

    # -------------------------------------------------------------- callbacks
    def on_start(self, now: int) -> list[Step]:
        """Search."""
        algo = self.ctx.search_algorithm
        constraints = None
        if algo == "filtered":
            constraints = SearchConstraints(
                menu_items=list(self.profile.items), amenity_features=list(self.profile.amenities)
            )
        query = customer_query(self.profile, self.p, algo)
        search = Search(
            query=query, search_algorithm=algo, limit=self.ctx.limit, constraints=constraints
        )
        return [Act(self.p.search_ms, search)]

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """Contact businesses after a search; finish after paying."""
        if isinstance(action, Search):
            if not isinstance(result, SearchResult) or not result.businesses:
                self.decided = True
                return [Done("no_results")]
            k = len(result.businesses) if self.p.contacts is None else self.p.contacts
            chosen = result.businesses[:k]
            text = render_inquiry(self.profile.items, self.profile.amenities, self.p.ask_discount)
            steps: list[Step] = []
            for j, b in enumerate(chosen):
                self.contacted.append(b.id)
                self.persuasion[b.id] = persuasion_score(b.description)
                steps.append(
                    Act(
                        (j + 1) * self.p.message_ms,
                        SendMessage(to_agent_id=b.id, message=TextMessage(content=text)),
                    )
                )
            steps.append(Timer(len(chosen) * self.p.message_ms + self.p.patience_ms, "deadline"))
            return steps
        if isinstance(action, SendMessage) and isinstance(action.message, Payment):
            return [Done("payment_rejected" if isinstance(result, Rejected) else "paid")]
        return []

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """Read replies and proposals from contacted businesses."""
        sender = message.from_agent_id
        if self.decided or sender not in self.persuasion:
            return []
        body = message.message
        if isinstance(body, TextMessage):
            reply = parse_reply(body.content)
            if reply is None:
                return []
            self.amenities_ok[sender] = all(
                reply.amenities.get(a, False) for a in self.profile.amenities
            )
            if not reply.proposal_follows:
                self.answered.add(sender)
        elif isinstance(body, OrderProposal):
            self.answered.add(sender)
            offered = {line.item_name for line in body.items}
            met = set(self.profile.items) <= offered and self.amenities_ok.get(sender, False)
            expiry = -1 if body.expiry_ms is None else body.expiry_ms
            self.offers.append(
                (sender, message.message_id, micro_of(body.total_price), expiry, met)
            )
            if self.first_mode:
                row = len(self.offers) - 1
                if self._payable([row], now + self.p.decide_ms)[0]:
                    return self._pay(row)
        else:
            return []
        if len(self.answered) == len(self.contacted):
            return self._decide(now)
        return []

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """Patience ran out: decide with what has arrived."""
        return [] if self.decided else self._decide(now)

    # -------------------------------------------------------------- decisions
    def _scores(self, rows: list[int]) -> np.ndarray:
        offers = [self.offers[r] for r in rows]
        z = [self.ctx.noise("customer/noise", o[0]) for o in offers]
        return choice.perceived(
            np.full(len(rows), self.value),
            [o[2] for o in offers],
            [o[4] for o in offers],
            z,
            self.p.noise,
            [self.persuasion[o[0]] for o in offers],
            self.p.credulity,
        )

    def _payable(self, rows: list[int], pay_time: int) -> np.ndarray:
        offers = [self.offers[r] for r in rows]
        return choice.payable(
            [o[4] for o in offers], self._scores(rows), [o[3] for o in offers], pay_time
        )

    def _pay(self, row: int) -> list[Step]:
        self.decided = True
        business, mid = self.offers[row][0], self.offers[row][1]
        payment = SendMessage(to_agent_id=business, message=Payment(proposal_message_id=mid))
        return [Act(self.p.decide_ms, payment)]

    def _decide(self, now: int) -> list[Step]:
        self.decided = True
        if self.first_mode or not self.offers:
            return [Done("no_acceptable_offer")]
        rows = list(range(len(self.offers)))
        ok = self._payable(rows, now + self.p.decide_ms)
        ties = [self.ctx.draw("customer/tiebreak", o[0]) for o in self.offers]
        best = choice.pick_best(np.zeros(len(rows), np.int64), self._scores(rows), ties, ok, 1)[0]
        if best < 0:
            return [Done("no_acceptable_offer")]
        self.decided = False
        return self._pay(int(best))


class ScriptedBusiness:
    """A scripted business: answers inquiries truthfully, then proposes what it carries."""

    def __init__(self, ctx: AgentContext, params: BusinessParams) -> None:
        assert isinstance(ctx.profile, BusinessProfile)
        self.ctx = ctx
        self.profile: BusinessProfile = ctx.profile
        self.p = params

    def on_start(self, now: int) -> list[Step]:
        """Businesses wait for customers."""
        return []

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """Nothing to do after sending."""
        return []

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """Businesses set no timers."""
        return []

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """Answer an inquiry: a reply text, then a proposal if any requested item is carried."""
        body = message.message
        if not isinstance(body, TextMessage):
            return []
        inquiry = parse_inquiry(body.content)
        if inquiry is None:
            return []
        menu, amen = self.profile.menu, self.profile.amenities
        carried = [(name, name in menu) for name in inquiry.items]
        have = [name for name, ok in carried if ok]
        customer = message.from_agent_id
        delay = self.p.response_ms
        if self.p.jitter_ms:
            delay += int(self.ctx.draw("business/jitter", customer) * (self.p.jitter_ms + 1))
        reply = render_reply(
            carried, [(a, amen.get(a, False)) for a in inquiry.amenities], bool(have)
        )
        steps: list[Step] = [
            Act(delay, SendMessage(to_agent_id=customer, message=TextMessage(content=reply)))
        ]
        if have:
            posted = np.asarray([menu[name] for name in have], np.int64)
            units = offer_prices(
                posted,
                np.full(len(have), self.profile.min_price_factor),
                self.p.concession,
                np.full(len(have), self.p.discount and inquiry.ask_discount),
            )
            total = int(units.sum())
            at = now + delay + self.p.proposal_ms
            proposal = OrderProposal(
                id=f"offer-{customer}",
                items=[
                    OrderItem(id=name, item_name=name, quantity=1, unit_price=dollars_of(u))
                    for name, u in zip(have, units.tolist(), strict=True)
                ],
                total_price=dollars_of(total),
                expiry_ms=None if self.p.ttl_ms is None else at + self.p.ttl_ms,
            )
            steps.append(
                Act(delay + self.p.proposal_ms, SendMessage(to_agent_id=customer, message=proposal))
            )
        return steps
