"""Cost of checking one action against a runtime contract (``tokenomy.principal``).

A contract of 10 rules (every kind once, plus a second message cap) is checked by
:meth:`ContractedPolicy.violations` against realistic agent state: a customer with 3 requested
items, replies and proposals from 10 businesses, 2 messages already sent to each. The actions
checked cycle through a 230-character inquiry text, a payment of a known proposal (which asks
an approver) and a search. Each check is timed alone with ``time.perf_counter_ns`` after a
warm-up; p50 and p99 are printed in µs, overall and per action type. Target: under 1 ms.

    python benchmarks/contract_check.py            # 30,000 checks
    python benchmarks/contract_check.py --quick    # 3,000 checks
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from tokenomy.market.dialect import render_inquiry, render_reply
from tokenomy.market.policies.interface import AgentContext, CustomerProfile, Step
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    OrderItem,
    OrderProposal,
    Payment,
    ReceivedMessage,
    Search,
    SendMessage,
    TextMessage,
)
from tokenomy.principal.contract_enforcement import ContractedPolicy, ContractLog
from tokenomy.principal.contract_rules import ApprovalRequest
from tokenomy.principal.contracts import contract_from_dict

CONTRACT = {
    "name": "bench",
    "preconditions": [{"kind": "require_items"}],
    "invariants": [
        {"kind": "max_payment"},
        {"kind": "max_total_spend", "amount": 100},
        {"kind": "no_disclosure"},
        {"kind": "max_messages_per_counterparty", "limit": 50},
        {"kind": "max_messages_per_counterparty", "name": "tight_cap", "limit": 40},
        {"kind": "max_searches", "limit": 1000},
        {"kind": "counterparties", "deny": ["evil_*", "business_99*"]},
    ],
    "governance": [
        {"kind": "approval_above", "amount": 1, "approver": "principal"},
        {"kind": "second_proposal_above", "amount": 1},
    ],
}


class _Idle:
    def on_start(self, now: int) -> list[Step]:
        return []

    def on_result(self, now: int, action: Action, result: ActionResult) -> list[Step]:
        return []

    def on_message(self, now: int, message: ReceivedMessage) -> list[Step]:
        return []

    def on_timer(self, now: int, tag: str) -> list[Step]:
        return []


def _policy() -> ContractedPolicy:
    items = ("Savory Pumpkin Empanadas", "Chicken Tinga Tacos", "Horchata")
    profile = CustomerProfile(
        id="customer_0001",
        name="Customer",
        request="Please find a place that serves empanadas, tacos and horchata.",
        items=items,
        wtp_micro=(12_500_000, 9_750_000, 3_000_000),
        amenities=("Outdoor Seating",),
    )
    ctx = AgentContext(
        agent_id=profile.id,
        profile=profile,
        search_algorithm="lexical",
        limit=10,
        draw=lambda *_: 0.5,
        noise=lambda *_: 0.0,
    )

    def approve(req: ApprovalRequest) -> bool:
        return req.amount_micro < 50_000_000

    policy = ContractedPolicy(
        _Idle(), contract_from_dict(CONTRACT), ctx, ContractLog(), {"principal": approve}
    )
    mid = 0
    for b in range(10):
        bid = f"business_{b:04d}"
        reply = render_reply([(i, True) for i in items], [("Outdoor Seating", True)], True)
        proposal = OrderProposal(
            items=[OrderItem(item_name=i, unit_price=5.0 + b) for i in items],
            total_price=3 * (5.0 + b),
        )
        for body in (TextMessage(content=reply), proposal):
            policy.on_message(
                mid,
                ReceivedMessage(
                    index=mid,
                    message_id=mid,
                    from_agent_id=bid,
                    to_agent_id=profile.id,
                    time_ms=mid,
                    message=body,
                ),
            )
            mid += 1
        policy.state.messages_to[bid] = 2
    policy.state.searches = 1
    return policy


def main() -> None:
    """Time the checks and print the percentiles."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3,000 checks instead of 30,000")
    args = parser.parse_args()
    n = 3_000 if args.quick else 30_000
    policy = _policy()
    inquiry = render_inquiry(policy.state.items, ("Outdoor Seating",), True)
    inquiry += " We are 4 people, arriving around 7:30; my card ends in 1234."
    actions: list[tuple[str, Action]] = [
        ("text", SendMessage(to_agent_id="business_0003", message=TextMessage(content=inquiry))),
        (
            "payment",
            SendMessage(to_agent_id="business_0002", message=Payment(proposal_message_id=5)),
        ),
        ("search", Search(query="empanadas tacos horchata")),
    ]
    for k in range(1_000):  # warm-up
        policy.violations(k, actions[k % 3][1])
    times: dict[str, list[int]] = {name: [] for name, _ in actions}
    found = 0
    for k in range(n):
        name, action = actions[k % 3]
        t0 = time.perf_counter_ns()
        v = policy.violations(k, action)
        times[name].append(time.perf_counter_ns() - t0)
        found += len(v)
    all_us = np.concatenate([np.asarray(t) for t in times.values()]) / 1_000
    print(f"contract check: {len(contract_from_dict(CONTRACT))} rules, {n:,} checks")
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print(f"violations found: {found} (expected 0)")
    p50, p99 = np.percentile(all_us, [50, 99])
    print(f"all       p50 {p50:7.1f} µs   p99 {p99:7.1f} µs")
    for name, t in times.items():
        us = np.asarray(t) / 1_000
        print(
            f"{name:9s} p50 {np.percentile(us, 50):7.1f} µs   p99 {np.percentile(us, 99):7.1f} µs"
        )


if __name__ == "__main__":
    main()
