"""Behaviour of each scripted policy, on markets small enough to check by hand."""

from __future__ import annotations

import pytest

from tests.conftest import business, customer, market_of
from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.market.engine import EventEngine
from tokenomy.market.policies import business_params, customer_params
from tokenomy.market.policies.interface import Act, AgentContext, Done, Timer
from tokenomy.market.policies.persuasion import persuasion_score
from tokenomy.market.protocol import (
    OrderItem,
    OrderProposal,
    Payment,
    Search,
    SendMessage,
    SendResult,
    TextMessage,
)
from tokenomy.market.runner import RunConfig, run_market


def run(market, engine="batch", **kw):
    return run_market(market, RunConfig(engine=engine, **kw))


def paid(result) -> dict[str, str]:
    """customer id -> business id it paid."""
    pay_c, pay_b = result.log.payment_parties()
    m = result.market
    return {m.customer_ids[c]: m.business_ids[b] for c, b in zip(pay_c, pay_b, strict=True)}


@pytest.fixture
def three_offers():
    """One customer (value 2·10 = 20), three carriers: cheap but no amenity, mid, expensive."""
    return market_of(
        [customer("customer_1", {"Taco": 10.0}, ["Patio"])],
        [
            business("business_1", {"Taco": 7.0}, {"Patio": False}),
            business("business_2", {"Taco": 9.0}, {"Patio": True}),
            business("business_3", {"Taco": 8.0}, {"Patio": True}),
        ],
    )


@pytest.mark.parametrize("engine", ["batch", "event"])
def test_rational_pays_the_best_offer_that_meets_its_needs(three_offers, engine):
    r = run(three_offers, engine=engine, search="optimal")
    assert paid(r) == {"customer_1": "business_3"}  # 20 - 8 = 12 beats 20 - 9 = 11
    assert r.summary["metrics"]["welfare"] == pytest.approx(12.0)


@pytest.mark.parametrize("engine", ["batch", "event"])
def test_first_proposal_pays_the_first_acceptable_arrival(three_offers, engine):
    # business_1 answers first but lacks the amenity; business_2 arrives next and is paid
    r = run(three_offers, engine=engine, search="optimal", customer_policy="first-proposal")
    assert paid(r) == {"customer_1": "business_2"}
    assert r.summary["metrics"]["welfare"] == pytest.approx(11.0)
    assert r.outcomes.paid_first.tolist() == [0]  # the first to arrive was business_1's


def test_rational_breaks_exact_ties_at_random_by_seed():
    twins = market_of(
        [customer("customer_1", {"Taco": 10.0})],
        [business(f"business_{i}", {"Taco": 8.0}) for i in range(1, 4)],
    )
    picks = [paid(run(twins, search="optimal", seed=s))["customer_1"] for s in range(30)]
    assert picks == [paid(run(twins, search="optimal", seed=s))["customer_1"] for s in range(30)]
    counts = {b: picks.count(b) for b in set(picks)}
    assert len(counts) == 3 and min(counts.values()) >= 3


def test_bounded_asks_only_its_contacts_and_gives_up_after_its_patience(three_offers):
    r = run(
        three_offers,
        search="optimal",
        customer_policy="bounded",
        customer_params={"contacts": 2, "noise": 0.0, "first_bias": 0.0, "credulity": 0.0},
    )
    assert r.outcomes.n_contacted.tolist() == [2]
    assert paid(r) == {"customer_1": "business_2"}  # business_3 was never asked
    slow = run(
        three_offers,
        search="optimal",
        customer_policy="bounded",
        customer_params={"patience_ms": 50},
        business_params={"response_ms": 3000},
    )
    assert slow.summary["metrics"]["payments"] == 0
    assert slow.outcomes.end_note == ["no_acceptable_offer"]
    assert slow.outcomes.end_ms.tolist() == [1000 + 3 * 200 + 50]


def test_bounded_first_bias_one_behaves_like_first_proposal(three_offers):
    r = run(
        three_offers,
        search="optimal",
        customer_policy="bounded",
        customer_params={"first_bias": 1.0, "noise": 0.0, "credulity": 0.0},
    )
    assert paid(r) == {"customer_1": "business_2"}


def test_credulous_customers_are_swayed_by_persuasive_descriptions():
    pitch = "Award-winning, certified, featured in every guide! 5-star reviews, #1 top rated."
    assert persuasion_score(pitch) == 1.0
    market = market_of(
        [customer("customer_1", {"Taco": 10.0})],
        [
            business("business_1", {"Taco": 9.0}, description=pitch),
            business("business_2", {"Taco": 8.0}, description="Tacos."),
        ],
    )
    immune = run(
        market,
        search="optimal",
        customer_policy="bounded",
        customer_params={"credulity": 0.0, "noise": 0.0, "first_bias": 0.0},
    )
    swayed = run(
        market,
        search="optimal",
        customer_policy="bounded",
        customer_params={"credulity": 0.5, "noise": 0.0, "first_bias": 0.0},
    )
    assert paid(immune) == {"customer_1": "business_2"}
    assert paid(swayed) == {"customer_1": "business_1"}  # perceived 11 + 0.5·1·10 = 16 > 12
    assert swayed.summary["metrics"]["welfare"] < immune.summary["metrics"]["welfare"]


def test_valuation_noise_misjudges_offers_and_depends_on_the_seed():
    market = market_of(
        [customer(f"customer_{i:02d}", {"Taco": 10.0}) for i in range(40)],
        [business("business_1", {"Taco": 8.0}), business("business_2", {"Taco": 8.5})],
    )
    exact = {"noise": 0.0, "first_bias": 0.0, "credulity": 0.0}
    noisy = {**exact, "noise": 0.5}
    clean = run(market, search="optimal", customer_policy="bounded", customer_params=exact)
    assert set(paid(clean).values()) == {"business_1"}
    a = run(market, search="optimal", customer_policy="bounded", customer_params=noisy, seed=1)
    b = run(market, search="optimal", customer_policy="bounded", customer_params=noisy, seed=2)
    dearer = [sum(v == "business_2" for v in paid(r).values()) for r in (a, b)]
    assert 0 < dearer[0] < 40 and 0 < dearer[1] < 40  # each offer is valued with its own noise
    assert paid(a) != paid(b)
    assert a.summary["metrics"]["welfare"] < clean.summary["metrics"]["welfare"]


def test_posted_price_and_discounting_businesses(three_offers):
    posted = run(three_offers, search="optimal", business_policy="discounting")
    assert posted.log.prop_unit.tolist() == [7_000_000, 9_000_000, 8_000_000]  # nobody asked
    asked = run(
        three_offers,
        search="optimal",
        business_policy="discounting",
        customer_params={"ask_discount": True},
    )
    assert asked.log.prop_unit.tolist() == [5_600_000, 7_200_000, 6_400_000]  # x 0.8
    half = run(
        three_offers,
        search="optimal",
        business_policy="discounting",
        customer_params={"ask_discount": True},
        business_params={"concession": 0.5},
    )
    assert half.log.prop_unit.tolist() == [6_300_000, 8_100_000, 7_200_000]  # x 0.9
    assert half.summary["metrics"]["welfare"] == pytest.approx(20 - 7.2)


def test_expiring_offers_are_not_paid_by_slow_customers(three_offers):
    fast = run(three_offers, search="optimal", business_params={"ttl_ms": 1000})
    slow = run(
        three_offers,
        search="optimal",
        business_params={"ttl_ms": 1000},
        customer_params={"decide_ms": 2000},
    )
    assert fast.summary["metrics"]["payments"] == 1
    assert slow.summary["metrics"]["payments"] == 0
    assert slow.summary["metrics"]["rejected_actions"] == 0  # it checked before paying


def test_policy_parameters_are_validated():
    with pytest.raises(UnknownNameError, match="Did you mean 'bounded'"):
        customer_params("bounde")
    with pytest.raises(ConfigError, match="'first_bias' = 2"):
        customer_params("bounded", {"first_bias": 2})
    with pytest.raises(ConfigError, match="'shoe'"):
        business_params("posted-price", {"shoe": 1})


class Haggler:
    """A non-scripted customer written against the policy interface: it searches, asks
    business_1 for a proposal, pays it twice (the second is refused) and tries a bad search."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.proposal = -1

    def on_start(self, now):
        return [Act(10, Search(query="Taco", search_algorithm="lexical", limit=3))]

    def on_result(self, now, action, result):
        if isinstance(action, Search) and action.search_algorithm == "lexical":
            return [
                Act(
                    5, SendMessage(to_agent_id="business_1", message=TextMessage(content="offer?"))
                ),
                Act(6, Search(search_algorithm="telepathy")),
            ]
        if isinstance(action, SendMessage) and isinstance(action.message, Payment):
            if isinstance(result, SendResult):
                return [Act(1, action)]  # pay again: must be refused
            return [Done("tested")]
        return []

    def on_message(self, now, message):
        if isinstance(message.message, OrderProposal):
            pay = Payment(proposal_message_id=message.message_id)
            return [Act(3, SendMessage(to_agent_id=message.from_agent_id, message=pay))]
        return []

    def on_timer(self, now, tag):
        return []


class Seller:
    """A business that answers any text with a proposal, then an invalid one."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    def on_start(self, now):
        return []

    def on_result(self, now, action, result):
        return []

    def on_message(self, now, message):
        if not isinstance(message.message, TextMessage):
            return []
        good = OrderProposal(items=[OrderItem(item_name="Taco", unit_price=7.0)], total_price=7.0)
        bad = OrderProposal(items=[OrderItem(item_name="Caviar", unit_price=1.0)], total_price=1.0)
        to = message.from_agent_id
        return [
            Act(100, SendMessage(to_agent_id=to, message=good)),
            Act(101, SendMessage(to_agent_id=to, message=bad)),
            Timer(500, "nothing"),
        ]

    def on_timer(self, now, tag):
        return []


def test_any_policy_runs_on_the_event_engine_and_invalid_actions_are_recorded(three_offers):
    log = EventEngine(
        three_offers, Haggler, Seller, search_algorithm="lexical", limit=3, seed=0
    ).run()
    notes = [log.notes[i] for i in log.ev_note[~log.ev_ok]]
    assert len(notes) == 3
    assert any("already paid" in n for n in notes)
    assert any("unknown item 'Caviar'" in n for n in notes)
    assert any("unknown search algorithm 'telepathy'" in n for n in notes)
    assert log.pay_amount.tolist() == [7_000_000]


def test_a_policy_that_takes_no_time_is_an_error(three_offers):
    class Instant(Haggler):
        def on_start(self, now):
            return [Act(0, Search(query="Taco"))]

    with pytest.raises(ConfigError, match="at least 1 ms"):
        EventEngine(
            three_offers, Instant, Seller, search_algorithm="lexical", limit=3, seed=0
        ).run()
