"""Metrics against hand-computed cases and against the published baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import MAIN_SETS, business, customer, market_of
from tokenomy.market.engine import EventEngine
from tokenomy.market.io import load_market
from tokenomy.market.metrics import baselines, customer_outcomes, summarize
from tokenomy.market.policies.interface import Act, Done
from tokenomy.market.protocol import OrderItem, OrderProposal, Payment, SendMessage, TextMessage
from tokenomy.market.runner import RunConfig, run_market
from tokenomy.prices import Prices, PriceTable


def test_baselines_of_the_hand_made_market(tiny_market):
    base = baselines(tiny_market)
    assert base.optimal == pytest.approx(20.0)  # 15 + 5
    assert base.pick_cheapest == pytest.approx(-7.0)  # -12 + 5
    assert base.optimal_micro.tolist() == [15_000_000, 5_000_000]


@pytest.mark.parametrize("name", MAIN_SETS)
def test_baselines_equal_the_shipped_constants(magentic, name):
    shipped = json.loads((magentic / name / "baseline_utilities.json").read_text())
    base = baselines(load_market(magentic / name))
    assert base.optimal == pytest.approx(shipped["pick_optimal_baseline"]["constant"], abs=1e-6)
    assert base.pick_cheapest == pytest.approx(
        shipped["pick_cheapest_baseline"]["constant"], abs=1e-6
    )


@pytest.mark.parametrize("name", MAIN_SETS)
def test_optimal_search_with_rational_customers_reaches_the_optimum(magentic, name):
    market = load_market(magentic / name)
    result = run_market(
        market,
        RunConfig(search="optimal", customer_policy="rational", business_policy="posted-price"),
    )
    m = result.summary["metrics"]
    assert m["welfare"] == pytest.approx(m["optimal_welfare"], abs=1e-6)
    assert m["needs_met_rate"] == 1.0 and m["payments"] == market.n_customers


class Scripted:
    """A customer that asks three businesses and pays the ones named in ``pay``."""

    pay: frozenset[str] = frozenset()

    def __init__(self, ctx):
        self.ctx = ctx
        self.proposals: list[tuple[str, int]] = []

    def on_start(self, now):
        return [
            Act(1, SendMessage(to_agent_id=b, message=TextMessage(content="offer?")))
            for b in ("business_1", "business_2", "business_3")
        ]

    def on_result(self, now, action, result):
        return []

    def on_message(self, now, message):
        if isinstance(message.message, OrderProposal):
            self.proposals.append((message.from_agent_id, message.message_id))
            if len(self.proposals) == 3:
                steps = [
                    Act(10 + i, SendMessage(to_agent_id=b, message=Payment(proposal_message_id=m)))
                    for i, (b, m) in enumerate(self.proposals)
                    if b in type(self).pay
                ]
                return steps
        return []

    def on_timer(self, now, tag):
        return [Done("timer")]


class Offers:
    """Each business offers the items of the requested customer it carries, at menu prices;
    business_2 offers only Taco (a partial order)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_start(self, now):
        return []

    def on_result(self, now, action, result):
        return []

    def on_message(self, now, message):
        if not isinstance(message.message, TextMessage):
            return []
        menu = self.ctx.profile.menu
        items = (
            ["Taco"]
            if self.ctx.agent_id == "business_2"
            else [i for i in ("Taco", "Soup") if i in menu]
        )
        lines = [OrderItem(item_name=i, unit_price=menu[i] / 1e6) for i in items]
        total = sum(menu[i] for i in items) / 1e6
        return [
            Act(
                100,
                SendMessage(
                    to_agent_id=message.from_agent_id,
                    message=OrderProposal(items=lines, total_price=total),
                ),
            )
        ]

    def on_timer(self, now, tag):
        return []


def outcomes_for(pay_to: set[str]):
    market = market_of(
        [customer("customer_a", {"Taco": 10.0, "Soup": 5.0}, ["Patio"])],
        [
            business("business_1", {"Taco": 9.0, "Soup": 6.0}, {"Patio": True}),
            business("business_2", {"Taco": 8.0, "Soup": 4.0}, {"Patio": True}),
            business("business_3", {"Taco": 7.0, "Soup": 1.0}, {"Patio": False}),
        ],
    )
    Scripted.pay = frozenset(pay_to)
    log = EventEngine(market, Scripted, Offers, search_algorithm="lexical", limit=3, seed=0).run()
    prices = Prices(table=PriceTable.from_mapping({"m": {"input": 1e6, "output": 0.0}}))
    out = customer_outcomes(market, log, prices, "m", "m")
    return market, log, out


def test_needs_met_requires_every_item_and_every_amenity():
    # value = 2 * 15 = 30
    _, _, full = outcomes_for({"business_1"})
    assert full.needs_met.tolist() == [True] and full.utility.tolist() == [15_000_000]
    _, _, partial = outcomes_for({"business_2"})  # Taco only: needs not met
    assert partial.needs_met.tolist() == [False] and partial.utility.tolist() == [-8_000_000]
    _, _, no_patio = outcomes_for({"business_3"})  # all items, but no Patio
    assert no_patio.needs_met.tolist() == [False] and no_patio.utility.tolist() == [-8_000_000]


def test_value_counts_once_and_every_payment_counts():
    _market, _log, out = outcomes_for({"business_1", "business_2", "business_3"})
    assert out.payments.tolist() == [3]
    assert out.spent.tolist() == [(15 + 8 + 8) * 1_000_000]
    assert out.utility.tolist() == [(30 - 31) * 1_000_000]
    # three proposals arrived (business_1 first: ties at equal time go to the lower index)
    assert out.n_proposals.tolist() == [3] and out.paid_first.tolist() == [1]


def test_token_cost_and_token_aware_welfare():
    market, log, out = outcomes_for({"business_1"})
    # the price table charges $1 per input token: cost = tokens read
    assert out.token_cost.tolist() == [float(out.tokens_in[0])]
    read = int(log.msg_tokens[log.msg_recipient == 0].sum()) + int(
        log.ev_tokens_in[log.ev_agent == 0].sum()
    )
    assert out.tokens_in.tolist() == [read] and read > 0
    summary = summarize(market, log, out, baselines(market))
    assert summary["token_aware_welfare"] == pytest.approx(15.0 - read)


def test_first_proposal_share_and_chance(magentic):
    market = load_market(magentic / "position_bias/contractors_first")
    first = run_market(market, RunConfig(customer_policy="first-proposal")).summary["metrics"]
    assert first["first_proposal_share"] == 1.0 and first["first_proposal_chance"] == pytest.approx(
        1 / 3
    )
    shares = [
        run_market(market, RunConfig(seed=s)).summary["metrics"]["first_proposal_share"]
        for s in range(60)
    ]
    assert 0.15 < float(np.mean(shares)) < 0.52  # 1/3 ± 3 sd of a mean of 60 Bernoullis


def test_latency_is_priced_into_net_welfare(magentic):
    market = load_market(magentic / "mexican_3_9")
    free = run_market(market, RunConfig()).summary["metrics"]
    priced = run_market(market, RunConfig(), prices=Prices(latency=0.01)).summary["metrics"]
    assert free["net_welfare"] == pytest.approx(free["token_aware_welfare"])
    expected = free["token_aware_welfare"] - 0.01 * free["mean_decision_time_s"] * 3
    assert priced["net_welfare"] == pytest.approx(expected)
