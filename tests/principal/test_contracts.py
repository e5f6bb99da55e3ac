"""Runtime contracts: YAML loading, the rule vocabulary, and enforcement in small markets.

Every rule kind is exercised by :class:`Rogue`, a scripted customer that really tries to break
it (leaks its budget, spams businesses, searches repeatedly, pays every proposal it gets); the
market's own run log is the witness of what was executed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import business, customer, market_of
from tokenomy.errors import DataError
from tokenomy.market.dataset import Market
from tokenomy.market.dialect import render_inquiry
from tokenomy.market.engine import EventEngine
from tokenomy.market.money import MICRO, format_dollars, micro_of
from tokenomy.market.policies.interface import (
    Act,
    AgentContext,
    AgentPolicy,
    CustomerProfile,
    Step,
)
from tokenomy.market.policies.params import business_params, customer_params
from tokenomy.market.policies.scripted import ScriptedBusiness, ScriptedCustomer
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    OrderProposal,
    Payment,
    ReceivedMessage,
    Rejected,
    Search,
    SearchResult,
    SendMessage,
    TextMessage,
)
from tokenomy.market.runlog import A_END, K_TEXT, RunLog
from tokenomy.principal.contract_enforcement import (
    ContractLog,
    contract_for_agents,
    contract_sections,
    contracted_factories,
)
from tokenomy.principal.contract_rules import (
    RULE_KINDS,
    AgentState,
    ApprovalRequest,
    NoDisclosure,
    amounts_in,
)
from tokenomy.principal.contracts import (
    Contract,
    contract_from_dict,
    contract_to_yaml,
    load_contract,
)

# ------------------------------------------------------------------------------ helpers


class Rogue:
    """A customer that tries to break contracts.

    It searches ``searches`` times, sends ``per_business`` inquiries to every business found
    (stating its budget when ``leak``), and pays every proposal as soon as it arrives (with a
    note stating the budget when ``leak_note``). It records every rejection it is told about.
    """

    def __init__(
        self,
        ctx: AgentContext,
        *,
        searches: int = 1,
        per_business: int = 1,
        leak: bool = False,
        leak_note: bool = False,
    ) -> None:
        assert isinstance(ctx.profile, CustomerProfile)
        self.ctx = ctx
        self.profile: CustomerProfile = ctx.profile
        self.searches = searches
        self.per_business = per_business
        self.leak = leak
        self.leak_note = leak_note
        self.budget = sum(self.profile.wtp_micro)
        self.rejections: list[str] = []
        self.contacted = False

    def on_start(self, now: int) -> list[Step]:
        """Search (several times)."""
        query = self.profile.request
        return [
            Act(100 * (k + 1), Search(query=query, limit=self.ctx.limit))
            for k in range(self.searches)
        ]

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        """Message every business found; remember rejections."""
        if isinstance(result, Rejected):
            self.rejections.append(result.reason)
            return []
        if not isinstance(result, SearchResult) or self.contacted:
            return []
        self.contacted = True
        text = render_inquiry(self.profile.items, self.profile.amenities, False)
        if self.leak:
            text += f"\nMy budget is ${format_dollars(self.budget)}, no more."
        steps: list[Step] = []
        delay = 0
        for b in result.businesses:
            for _ in range(self.per_business):
                delay += 10
                message = TextMessage(content=text)
                steps.append(Act(delay, SendMessage(to_agent_id=b.id, message=message)))
        return steps

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        """Pay every proposal at once."""
        if not isinstance(message.message, OrderProposal):
            return []
        note = f"I could pay up to {format_dollars(self.budget)}" if self.leak_note else None
        pay = Payment(proposal_message_id=message.message_id, payment_message=note)
        return [Act(5, SendMessage(to_agent_id=message.from_agent_id, message=pay))]

    def on_timer(self, now: int, tag: str) -> list[Step]:
        """No timers."""
        return []


def run(
    market: Market,
    contract: Contract | None,
    *,
    rogue: dict[str, object] | None = None,
    customer_policy: str | None = None,
    approvers: dict[str, object] | None = None,
) -> tuple[RunLog, ContractLog, dict[str, AgentPolicy]]:
    """Run ``market`` with Rogue (or scripted) customers under ``contract``; keep the policies."""
    policies: dict[str, AgentPolicy] = {}

    def make_customer(ctx: AgentContext) -> AgentPolicy:
        if customer_policy is not None:
            p: AgentPolicy = ScriptedCustomer(ctx, customer_params(customer_policy))
        else:
            p = Rogue(ctx, **(rogue or {}))  # type: ignore[arg-type]
        policies[ctx.agent_id] = p
        return p

    def make_business(ctx: AgentContext) -> AgentPolicy:
        return ScriptedBusiness(ctx, business_params("posted-price"))

    log = ContractLog()
    cf, bf = make_customer, make_business
    if contract is not None:
        cf, bf = contracted_factories(
            cf,
            bf,
            contract_for_agents(contract, "customer_*"),
            log,
            approvers,  # type: ignore[arg-type]
        )
    engine = EventEngine(market, cf, bf, search_algorithm="lexical", limit=10, seed=0)
    return engine.run(), log, policies


def contract(**sections: list[dict[str, object]]) -> Contract:
    """A contract named ``test`` from rule dicts."""
    return contract_from_dict({"name": "test", **sections})


def payments(log: RunLog, market: Market) -> list[tuple[str, str, int]]:
    """Executed payments as (customer id, business id, amount micro)."""
    cust, bus = log.payment_parties()
    return [
        (market.customer_ids[c], market.business_ids[b], int(a))
        for c, b, a in zip(cust, bus, log.pay_amount, strict=True)
    ]


def texts_sent(log: RunLog) -> list[tuple[int, int, str]]:
    """Executed text messages as (sender, recipient, content)."""
    out = []
    for m in np.flatnonzero(log.msg_kind == K_TEXT):
        out.append((int(log.msg_sender[m]), int(log.msg_recipient[m]), log.texts[log.msg_text[m]]))
    return out


def end_notes(log: RunLog) -> dict[int, str]:
    """How each agent's episode ended (agents that ended)."""
    ends = np.flatnonzero(log.ev_action == A_END)
    return {int(log.ev_agent[e]): log.notes[log.ev_note[e]] for e in ends}


def totals(clog: ContractLog) -> dict[str, int]:
    """The summary's totals."""
    out: dict[str, int] = clog.summary()["totals"]
    return out


# ------------------------------------------------------------------------------ loading


def test_yaml_round_trip_and_every_kind(tmp_path: Path) -> None:
    """A contract with every rule kind loads from YAML and writes back to an equal one."""
    text = """
name: careful-shopper
preconditions:
  - {kind: require_items}
invariants:
  - {kind: max_payment}
  - {kind: max_total_spend, amount: 40}
  - {kind: no_disclosure, severity: soft, recovery: correct, repair_within: 2, escalate: harden}
  - {kind: max_messages_per_counterparty, limit: 3}
  - {kind: max_searches, limit: 2}
  - {kind: counterparties, deny: ["business_0007"]}
governance:
  - {kind: approval_above, amount: 40, approver: principal}
  - {kind: second_proposal_above, amount: 20}
"""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    c = load_contract(path)
    assert sorted(r.kind for _, r in c.rules()) == sorted(RULE_KINDS)
    assert len(c) == len(RULE_KINDS)
    again = tmp_path / "again.yaml"
    again.write_text(contract_to_yaml(c))
    assert load_contract(again) == c


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        (
            {"name": "x", "invariants": [{"kind": "max_searches", "limit": -1}]},
            "invariants.0.limit",
            -1,
        ),
        ({"name": "x", "invariants": [{"kind": "max_cash"}]}, "invariants.0", "max_cash"),
        (
            {"name": "x", "preconditions": [{"kind": "require_items", "severity": "soft"}]},
            "preconditions.0.severity",
            "soft",
        ),
        (
            {"name": "x", "invariants": [{"kind": "max_payment"}, {"kind": "max_payment"}]},
            "invariants.1.name",
            "max_payment",
        ),
        ({"name": "x", "governance": [{"kind": "max_payment"}]}, "governance.0", "max_payment"),
        (
            {"name": "x", "invariants": [{"kind": "max_searches", "limit": 1, "oops": 2}]},
            "invariants.0.oops",
            2,
        ),
    ],
)
def test_bad_contracts_name_field_and_value(
    tmp_path: Path, data: dict[str, object], field: str, value: object
) -> None:
    """A malformed contract is one DataError naming the file, the field and the value."""
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError) as err:
        load_contract(path)
    assert err.value.file == str(path)
    assert err.value.field == field
    assert err.value.value == value or (
        isinstance(err.value.value, dict) and value in str(err.value.value)
    )


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    """A missing file or broken YAML is a DataError naming the file."""
    with pytest.raises(DataError, match=r"missing\.yaml"):
        load_contract(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(DataError, match="valid YAML"):
        load_contract(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(DataError, match="a mapping"):
        load_contract(listed)


# ------------------------------------------------------------------------------ disclosure


@pytest.mark.parametrize(
    "text",
    [
        "my budget is $15.50",
        "up to 15.5 total",
        "USD 15.50 max",
        "15,50 at most",
        "I can go to 15.50$",
        "I have 1,234.00 dollars",
        "say $1234",
        "1234 dollars",
    ],
)
def test_disclosure_spots_common_formats(text: str) -> None:
    """The budget figure is found however it is written."""
    state = AgentState(agent_id="c", wtp_micro={"A": 15_500_000, "B": 1_234 * MICRO})
    rule = NoDisclosure()
    action = SendMessage(to_agent_id="b", message=TextMessage(content=text))
    assert rule.check(action, state) is not None


@pytest.mark.parametrize(
    "text",
    ["Taco (1)", "I want 15 tacos", "price 15.49", "$155.00", "1234 tacos", "tacos for 2"],
)
def test_disclosure_ignores_other_numbers(text: str) -> None:
    """Quantities and other amounts are not the secret."""
    state = AgentState(
        agent_id="c", wtp_micro={"A": 15 * MICRO, "B": 1_234 * MICRO, "C": MICRO, "D": 2 * MICRO}
    )
    rule = NoDisclosure(figures=["wtp"])
    action = SendMessage(to_agent_id="b", message=TextMessage(content=text))
    assert rule.check(action, state) is None


def test_amounts_in_reads_cents_and_markers() -> None:
    """Figures parse to cents; a bare integer is unmarked."""
    assert amounts_in("$12.5 and 7 and 1,000.25 USD") == [
        (1250, True),
        (700, False),
        (100025, True),
    ]


# ----------------------------------------------------------------------- hard rules in markets


@pytest.fixture
def priced() -> Market:
    """customer_a wants Taco (WTP 10) + Soup (WTP 5): budget 15.

    business_1 offers both at 16 (over budget), business_2 both at 12, business_3 only Taco (7).
    """
    return market_of(
        [customer("customer_a", {"Taco": 10.0, "Soup": 5.0})],
        [
            business("business_1", {"Taco": 10.0, "Soup": 6.0}),
            business("business_2", {"Taco": 8.0, "Soup": 4.0}),
            business("business_3", {"Taco": 7.0}),
        ],
    )


def test_uncontracted_rogue_breaks_everything(priced: Market) -> None:
    """Without a contract the rogue pays over budget and a business lacking an item."""
    log, clog, _ = run(priced, None, rogue={"leak": True})
    paid = payments(log, priced)
    assert {b for _, b, _ in paid} == {"business_1", "business_2", "business_3"}
    assert max(a for _, _, a in paid) > 15 * MICRO
    assert len(clog) == 0


def test_max_payment_blocks_over_budget(priced: Market) -> None:
    """Never pay more than the budget: the $16 proposal is blocked, the rogue is told why."""
    log, clog, policies = run(priced, contract(invariants=[{"kind": "max_payment"}]))
    paid = payments(log, priced)
    assert all(a <= 15 * MICRO for _, _, a in paid)
    assert {b for _, b, _ in paid} == {"business_2", "business_3"}
    rogue = policies["customer_a"]
    assert isinstance(rogue, Rogue)
    assert len(rogue.rejections) == 1
    assert rogue.rejections[0].startswith("contract test: max_payment: payment of $16.00")
    assert totals(clog)["blocks"] == 1
    row = clog.to_table().to_pylist()[0]
    assert (row["rule"], row["severity"], row["event"], row["outcome"]) == (
        "max_payment",
        "hard",
        "violation",
        "blocked",
    )
    assert (
        row["action"]
        == f"pay business_1 proposal #{row['action'].split('#')[1].split()[0]} ($16.00)"
    )


def test_max_total_spend_caps_the_episode(priced: Market) -> None:
    """A $20 cap lets some payments through and blocks the one that would cross it."""
    log, clog, _ = run(priced, contract(invariants=[{"kind": "max_total_spend", "amount": 20}]))
    spent = sum(a for _, _, a in payments(log, priced))
    assert 0 < spent <= 20 * MICRO
    assert totals(clog)["blocks"] >= 1


def test_require_items_blocks_paying_a_partial_carrier(priced: Market) -> None:
    """business_3 told the rogue it has no Soup: paying it is blocked (a precondition)."""
    log, clog, _ = run(priced, contract(preconditions=[{"kind": "require_items"}]))
    paid = {b for _, b, _ in payments(log, priced)}
    assert paid == {"business_1", "business_2"}
    rows = clog.to_table().to_pylist()
    assert [(r["rule"], r["section"], r["outcome"]) for r in rows] == [
        ("require_items", "precondition", "blocked")
    ]
    assert "business_3 is not known to carry Soup" in rows[0]["detail"]


def test_no_disclosure_hard_keeps_the_budget_secret(priced: Market) -> None:
    """Every leaking inquiry is blocked; no executed text contains the budget."""
    log, clog, _ = run(
        priced, contract(invariants=[{"kind": "no_disclosure"}]), rogue={"leak": True}
    )
    assert totals(clog)["blocks"] == 3
    assert not any("15.00" in t for _, _, t in texts_sent(log))
    assert payments(log, priced) == []  # no inquiry got through, so no proposal came


def test_max_messages_per_counterparty(priced: Market) -> None:
    """Three inquiries per business with a limit of one: two blocked per business."""
    c = contract(invariants=[{"kind": "max_messages_per_counterparty", "limit": 1}])
    log, clog, _ = run(priced, c, rogue={"per_business": 3})
    sent = texts_sent(log)
    from_customer = [r for s, r, _ in sent if s == 0]
    assert sorted(from_customer) == sorted(set(from_customer))  # one per business
    actions = [r["action"] for r in clog.to_table().to_pylist() if r["outcome"] == "blocked"]
    assert sum(a.startswith("text to ") for a in actions) == 6
    # payments count as messages too: the payment of each of the 3 proposals is blocked
    assert sum(a.startswith("pay ") for a in actions) == 3
    assert totals(clog)["blocks"] == 9
    assert payments(log, priced) == []


def test_max_searches(priced: Market) -> None:
    """Three searches with a limit of one: two blocked, one executed."""
    log, clog, _ = run(
        priced, contract(invariants=[{"kind": "max_searches", "limit": 1}]), rogue={"searches": 3}
    )
    assert len(log.s_time) == 1
    assert clog.by_rule()["max_searches"]["blocks"] == 2


def test_counterparties_deny_and_allow(priced: Market) -> None:
    """Denied businesses are never messaged; an allow list admits only its globs."""
    log, clog, _ = run(
        priced, contract(invariants=[{"kind": "counterparties", "deny": ["business_1"]}])
    )
    recipients = {priced.business_ids[r - 1] for s, r, _ in texts_sent(log) if s == 0}
    assert recipients == {"business_2", "business_3"}
    log2, _, _ = run(priced, contract(invariants=[{"kind": "counterparties", "allow": ["*_3"]}]))
    recipients2 = {priced.business_ids[r - 1] for s, r, _ in texts_sent(log2) if s == 0}
    assert recipients2 == {"business_3"}
    assert totals(clog)["blocks"] == 1


def test_approval_above_asks_the_approver(priced: Market) -> None:
    """Payments above $10 go to the approver; refused ones are blocked, small ones not asked."""
    asked: list[ApprovalRequest] = []

    def principal(req: ApprovalRequest) -> bool:
        asked.append(req)
        return req.amount_micro <= 12 * MICRO

    c = contract(governance=[{"kind": "approval_above", "amount": 10, "approver": "principal"}])
    log, clog, _ = run(priced, c, approvers={"principal": principal})
    assert sorted(r.amount_micro for r in asked) == [12 * MICRO, 16 * MICRO]
    assert sorted(a for _, _, a in payments(log, priced)) == [7 * MICRO, 12 * MICRO]
    assert totals(clog)["blocks"] == 1
    # with no approver registered, every payment above the threshold is blocked
    log2, clog2, _ = run(priced, c)
    assert [a for _, _, a in payments(log2, priced)] == [7 * MICRO]
    assert "no approver 'principal'" in clog2.to_table().column("detail")[0].as_py()


def test_second_proposal_above(priced: Market) -> None:
    """A payment above $5 is blocked until proposals from two businesses are in hand."""
    c = contract(governance=[{"kind": "second_proposal_above", "amount": 5}])
    log, clog, _ = run(priced, c)
    assert totals(clog)["blocks"] == 1
    prop_b, _ = log.proposal_parties()
    prop_time = log.msg_time[log.prop_id]
    for t in log.msg_time[log.pay_id]:
        assert len(set(prop_b[prop_time <= t].tolist())) >= 2
    assert len(payments(log, priced)) == 2


# ------------------------------------------------------------------------------ soft rules


def test_soft_disclosure_is_corrected_and_repaired(priced: Market) -> None:
    """A soft leak goes through, a correction follows to the same business, repair is logged."""
    c = contract(
        invariants=[
            {
                "kind": "no_disclosure",
                "severity": "soft",
                "recovery": "correct",
                "correction": "Sorry: ignore my budget.",
            }
        ]
    )
    log, clog, _ = run(priced, c, rogue={"leak": True})
    sent = [(r, t) for s, r, t in texts_sent(log) if s == 0]
    leaks = [r for r, t in sent if "15.00" in t]
    fixes = [r for r, t in sent if t == "Sorry: ignore my budget."]
    assert len(leaks) == 3
    assert sorted(fixes) == sorted(leaks)
    t = totals(clog)
    assert (t["soft"], t["blocks"], t["recoveries"], t["repaired"], t["escalations"]) == (
        3,
        0,
        3,
        3,
        0,
    )


def test_soft_unrepaired_escalates_and_stops(priced: Market) -> None:
    """The correction is itself blocked (one message per business): the leak escalates, stop."""
    c = contract(
        invariants=[
            {
                "kind": "no_disclosure",
                "severity": "soft",
                "recovery": "correct",
                "repair_within": 1,
            },
            {"kind": "max_messages_per_counterparty", "limit": 1},
        ]
    )
    log, clog, _ = run(priced, c, rogue={"leak": True})
    t = totals(clog)
    assert t["escalations"] >= 1
    assert t["repaired"] == 0
    assert end_notes(log)[0] == "contract_escalated:no_disclosure"
    assert payments(log, priced) == []


def test_soft_unrepaired_hardens_the_rule(priced: Market) -> None:
    """With escalate: harden the agent goes on, but once the rule hardens leaks are blocked.

    The rogue's payment notes state its budget. Two messages per business are allowed: the
    inquiry and the payment; so each correction is blocked, the first leak is not repaired by
    the next returned action, the rule hardens and the third payment (leaking) is blocked.
    """
    c = contract(
        invariants=[
            {
                "kind": "no_disclosure",
                "severity": "soft",
                "recovery": "correct",
                "repair_within": 1,
                "escalate": "harden",
            },
            {"kind": "max_messages_per_counterparty", "limit": 2},
        ]
    )
    log, clog, _ = run(priced, c, rogue={"leak_note": True})
    rows = clog.to_table().to_pylist()
    escalations = [r for r in rows if r["event"] == "escalation"]
    assert [r["outcome"] for r in escalations] == ["harden"]
    hardened = [r for r in rows if r["severity"] == "hard" and r["rule"] == "no_disclosure"]
    assert [r["outcome"] for r in hardened] == ["blocked"]
    assert hardened[0]["action"].startswith("pay ")
    assert len(payments(log, priced)) == 2
    assert all(log.msg_time[p] < hardened[0]["time_ms"] for p in log.pay_id)
    assert totals(clog)["repaired"] == 0


def test_soft_cancel_and_finish(priced: Market) -> None:
    """cancel: the over-budget payment is not executed; finish: it is, then the agent stops."""
    cancel = contract(
        invariants=[{"kind": "max_payment", "severity": "soft", "recovery": "cancel"}]
    )
    log, clog, policies = run(priced, cancel)
    assert all(a <= 15 * MICRO for _, _, a in payments(log, priced))
    rogue = policies["customer_a"]
    assert isinstance(rogue, Rogue) and "cancelled" in rogue.rejections[0]
    assert totals(clog)["cancelled"] == 1 and totals(clog)["blocks"] == 0
    finish = contract(
        invariants=[{"kind": "max_payment", "severity": "soft", "recovery": "finish"}]
    )
    log2, clog2, _ = run(priced, finish)
    amounts = [a for _, _, a in payments(log2, priced)]
    assert 16 * MICRO in amounts
    assert end_notes(log2)[0] == "contract_finish:max_payment"
    # nothing was paid after the over-budget payment
    over = int(np.flatnonzero(log2.pay_amount == 16 * MICRO)[0])
    assert log2.msg_time[log2.pay_id].max() == log2.msg_time[log2.pay_id[over]]
    assert totals(clog2)["repaired"] == 1


# ------------------------------------------------------------------------ whole-run properties


def test_contract_that_is_never_broken_changes_nothing(tiny_market: Market) -> None:
    """Rational customers under a generous contract produce the uncontracted log exactly."""
    c = contract(
        preconditions=[{"kind": "require_items"}],
        invariants=[
            {"kind": "max_payment", "amount": 1000},
            {"kind": "max_searches", "limit": 5},
            {"kind": "no_disclosure", "amounts": [999.99]},
        ],
    )
    plain, _, _ = run(tiny_market, None, customer_policy="rational")
    guarded, clog, _ = run(tiny_market, c, customer_policy="rational")
    assert guarded.tables(tiny_market)["events"].equals(plain.tables(tiny_market)["events"])
    t = totals(clog)
    assert t["checks"] > 0 and t["violations"] == 0


def test_same_seed_same_contract_log(priced: Market) -> None:
    """Enforcement is deterministic: two runs give identical contract logs."""
    c = contract(
        invariants=[{"kind": "max_payment"}, {"kind": "no_disclosure", "severity": "soft"}]
    )
    _, a, _ = run(priced, c, rogue={"leak": True})
    _, b, _ = run(priced, c, rogue={"leak": True})
    assert a.to_table().equals(b.to_table())
    assert a.summary() == b.summary()


def test_summary_table_and_report_section(priced: Market) -> None:
    """The summary counts per agent and rule agree with the table; the section renders them."""
    c = contract(
        preconditions=[{"kind": "require_items"}],
        invariants=[{"kind": "max_payment"}, {"kind": "no_disclosure", "severity": "soft"}],
    )
    _, clog, _ = run(priced, c, rogue={"leak": True})
    table = clog.to_table()
    summary = clog.summary()
    violations = [r for r in table.to_pylist() if r["event"] == "violation"]
    assert summary["totals"]["violations"] == len(violations)
    assert summary["by_agent"]["customer_a"]["blocks"] == sum(
        r["outcome"] == "blocked" for r in violations
    )
    for rule, counts in summary["by_rule"].items():
        assert counts["violations"] == sum(r["rule"] == rule for r in violations)
    assert summary["by_rule"]["max_payment"]["checks"] == summary["totals"]["checks"]
    sections = contract_sections(summary, table)
    assert sections[0].title == "Contracts"
    assert "customer_a" in sections[0].tables[0].html
    assert f"{summary['totals']['blocks']:,} blocks" in sections[0].findings[1]
    assert micro_of(0.0) == 0
