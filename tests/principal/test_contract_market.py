"""Contracts in a real market: mexican_10_30 with contracted customers.

The market's run log is the witness: with the contract, no executed payment exceeds the
customer's budget or goes to a business lacking a requested item, and no executed text states
the budget — while the contract did block actions. Without it, the same agents do all three.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.principal.test_contracts import Rogue
from tokenomy.market.dataset import Market
from tokenomy.market.engine import EventEngine
from tokenomy.market.io import load_market
from tokenomy.market.money import format_dollars
from tokenomy.market.policies.interface import AgentContext, AgentPolicy
from tokenomy.market.policies.params import business_params, customer_params
from tokenomy.market.policies.scripted import ScriptedBusiness, ScriptedCustomer
from tokenomy.market.runlog import K_TEXT, RunLog
from tokenomy.principal.contract_enforcement import (
    ContractLog,
    contract_for_agents,
    contracted_factories,
)
from tokenomy.principal.contracts import Contract, contract_from_dict

CONTRACT = {
    "name": "shopper",
    "preconditions": [{"kind": "require_items"}],
    "invariants": [
        {"kind": "max_payment"},
        {"kind": "no_disclosure"},
        {"kind": "max_messages_per_counterparty", "limit": 3},
    ],
}


@pytest.fixture(scope="module")
def market(magentic: Path) -> Market:
    """The 10 × 30 Mexican-restaurant market."""
    folder = magentic / "mexican_10_30"
    if not folder.is_dir():
        pytest.skip(reason=f"data set not found at {folder}")
    return load_market(folder)


def run(market: Market, contract: Contract | None) -> tuple[RunLog, ContractLog]:
    """Even customers are rogues that pay every proposal (every other one also states its budget
    in its inquiries); odd ones are rational; businesses post prices."""

    def make_customer(ctx: AgentContext) -> AgentPolicy:
        c = market.customer_index[ctx.agent_id]
        if c % 2 == 0:
            return Rogue(ctx, leak=c % 4 == 2)
        return ScriptedCustomer(ctx, customer_params("rational"))

    def make_business(ctx: AgentContext) -> AgentPolicy:
        return ScriptedBusiness(ctx, business_params("posted-price"))

    log = ContractLog()
    cf, bf = make_customer, make_business
    if contract is not None:
        cf, bf = contracted_factories(cf, bf, contract_for_agents(contract, "customer_*"), log)
    engine = EventEngine(market, cf, bf, search_algorithm="lexical", limit=10, seed=0)
    return engine.run(), log


def breaches(market: Market, log: RunLog) -> dict[str, int]:
    """Executed hard violations, counted from the run log alone."""
    over_budget = lacking = 0
    cust, bus = log.payment_parties()
    for c, b, amount in zip(cust, bus, log.pay_amount, strict=True):
        items, wtp = market.customer_items(int(c))
        over_budget += int(amount) > int(wtp.sum())
        menu, _ = market.business_menu(int(b))
        lacking += not set(items.tolist()) <= set(menu.tolist())
    leaked = 0
    budgets = [
        "$" + format_dollars(int(market.customer_items(c)[1].sum()))
        for c in range(market.n_customers)
    ]
    for m in np.flatnonzero(log.msg_kind == K_TEXT):
        sender = int(log.msg_sender[m])
        if sender < market.n_customers:
            leaked += budgets[sender] in log.texts[log.msg_text[m]]
    return {"over_budget": over_budget, "lacking": lacking, "leaked": leaked}


def test_contract_prevents_every_hard_violation(market: Market) -> None:
    """Zero hard violations executed with the contract; some without; blocks did happen."""
    plain, _ = run(market, None)
    before = breaches(market, plain)
    assert before["over_budget"] > 0 and before["lacking"] > 0 and before["leaked"] > 0

    contract = contract_from_dict(CONTRACT, "test")
    guarded, clog = run(market, contract)
    assert breaches(market, guarded) == {"over_budget": 0, "lacking": 0, "leaked": 0}
    summary = clog.summary()
    assert summary["agents"] == market.n_customers
    totals = summary["totals"]
    assert totals["blocks"] > 0
    assert totals["violations"] == totals["hard"] == totals["blocks"]
    by_rule = summary["by_rule"]
    assert by_rule["require_items"]["blocks"] > 0
    assert by_rule["no_disclosure"]["blocks"] > 0
    # payments still happen: the contract blocks violations, not trade
    assert len(guarded.pay_id) > 0
