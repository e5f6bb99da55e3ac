"""Property test: random sequences of operations against a plain-Python model of the ledger.

After every step the ledger must agree with the model (which operations were refused and why,
every balance, every hold's status) and pass its audit: balances sum to zero per currency,
escrow equals the open holds, budget usage matches the journal. SQLite only, small.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tokenomy.ledger import (
    BudgetExceeded,
    CurrencyMismatch,
    HoldStateError,
    InsufficientFunds,
    Ledger,
    LedgerConfigError,
    Leg,
)

ACCOUNTS = {  # name: (currency, floor, group)
    "a:money": ("money", 0, "g"),
    "b:money": ("money", -10, "g"),
    "c:money": ("money", 0, None),
    "d:money": ("money", 0, None),
    "t:tokens": ("tokens", 0, None),
}
START = 100  # every account is funded with this much first
NAMES = sorted(ACCOUNTS)
BUDGET_LIMIT, BUDGET_PERIOD = 150, 10

name = st.sampled_from(NAMES)
money = st.sampled_from([n for n in NAMES if n.endswith(":money")])
amount = st.integers(1, 120)
operation = st.one_of(
    st.tuples(st.just("fund"), name, amount),
    st.tuples(st.just("withdraw"), name, amount),
    st.tuples(st.just("transfer"), name, name, amount),
    st.tuples(st.just("transfer"), money, money, amount),
    st.tuples(st.just("post2"), money, money, name, amount, amount),
    st.tuples(st.just("hold"), money, name, amount),
    st.tuples(st.just("settle"), st.integers(0, 1)),
    st.tuples(st.just("release"), st.integers(0, 1)),
)


class Model:
    """What the ledger should do, written as directly as possible."""

    def __init__(self) -> None:
        self.balance: dict[str, int] = defaultdict(int)
        self.holds: list[dict[str, object]] = []
        self.usage: dict[int, int] = defaultdict(int)  # group budget usage per window

    def currency(self, account: str) -> str:
        if ":" in account and account.split(":")[0] in ("external", "escrow"):
            return account.split(":")[1]
        return ACCOUNTS[account][0]

    def floor(self, account: str) -> int | None:
        if account.startswith("external:"):
            return None
        if account.startswith("escrow:"):
            return 0
        return ACCOUNTS[account][1]

    def apply(self, legs: list[tuple[str, str, int]], at: float) -> str | None:
        """The error class name the ledger should raise, or None after applying the legs."""
        if any(debit == credit for debit, credit, _ in legs):
            return "LedgerConfigError"
        if any(self.currency(debit) != self.currency(credit) for debit, credit, _ in legs):
            return "CurrencyMismatch"
        delta: dict[str, int] = defaultdict(int)
        outflow = 0
        for debit, credit, value in legs:
            delta[debit] -= value
            delta[credit] += value
            if debit in ACCOUNTS and ACCOUNTS[debit][2] == "g":
                outflow += value
        for account, change in delta.items():
            floor = self.floor(account)
            if change < 0 and floor is not None and self.balance[account] + change < floor:
                return "InsufficientFunds"
        window = int(at // BUDGET_PERIOD)
        if outflow and self.usage[window] + outflow > BUDGET_LIMIT:
            return "BudgetExceeded"
        self.usage[window] += outflow
        for account, change in delta.items():
            self.balance[account] += change
        return None


def _run(ledger: Ledger, model: Model, op: tuple, at: float) -> tuple[str | None, str | None]:
    """(expected error, actual error) of one operation."""
    kind = op[0]
    expected: str | None
    try:
        if kind in ("fund", "withdraw"):
            _, account, value = op
            external = f"external:{model.currency(account)}"
            legs = [(external, account, value)] if kind == "fund" else [(account, external, value)]
            expected = model.apply(legs, at)
            getattr(ledger, kind)(account, value, at=at)
        elif kind == "transfer":
            _, debit, credit, value = op
            expected = model.apply([(debit, credit, value)], at)
            ledger.transfer(debit, credit, value, at=at)
        elif kind == "post2":
            _, x, y, z, v1, v2 = op
            expected = model.apply([(x, y, v1), (y, z, v2)], at)
            ledger.post([Leg(x, y, v1), Leg(y, z, v2)], at=at)
        elif kind == "hold":
            _, payer, payee, value = op
            if payer == payee:
                expected = "LedgerConfigError"
            elif model.currency(payer) != model.currency(payee):
                expected = "CurrencyMismatch"
            else:
                escrow = f"escrow:{model.currency(payer)}"
                expected = model.apply([(payer, escrow, value)], at)
            hold = ledger.hold(payer, payee, value, at=at)
            model.holds.append({"id": hold.id, "payer": payer, "payee": payee, "amount": value})
            model.holds[-1]["status"] = "held"
        else:
            _, index = op
            if index >= len(model.holds):
                return "no hold", "no hold"
            hold = model.holds[index]
            escrow = f"escrow:{model.currency(str(hold['payer']))}"
            target = hold["payee"] if kind == "settle" else hold["payer"]
            if hold["status"] != "held":
                expected = "HoldStateError"
            else:
                expected = model.apply([(escrow, str(target), int(hold["amount"]))], at)
            getattr(ledger, kind)(hold["id"], at=at)
            hold["status"] = "settled" if kind == "settle" else "released"
    except (
        BudgetExceeded,
        CurrencyMismatch,
        HoldStateError,
        InsufficientFunds,
        LedgerConfigError,
    ) as exc:
        return expected, type(exc).__name__
    return expected, None


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=20))
def test_random_operations_keep_the_invariants(operations):
    with tempfile.TemporaryDirectory() as folder, Ledger.open(Path(folder) / "l.db") as ledger:
        for account, (currency, floor, group) in ACCOUNTS.items():
            ledger.create_account(
                account, kind="customer", currency=currency, floor=floor, group=group
            )
        model = Model()
        for account in ACCOUNTS:
            ledger.fund(account, START, at=-1.0)
            model.balance[account] += START
            model.balance[f"external:{model.currency(account)}"] -= START
        ledger.set_budget(
            "g", currency="money", limit=BUDGET_LIMIT, period=BUDGET_PERIOD, group="g"
        )
        for step, op in enumerate(operations):
            at = 3.0 * step
            expected, actual = _run(ledger, model, op, at)
            assert actual == expected, (step, op)
            event(f"{op[0]}: {actual or 'applied'}")
            balances = {a.name: a.balance for a in ledger.accounts()}
            for account, balance in balances.items():
                assert balance == model.balance[account], (step, op, account)
            statuses = [h.status for h in ledger.holds()]
            assert statuses == [h["status"] for h in model.holds]
            report = ledger.audit()
            assert report.ok and report.imbalance == 0, report.violations
            for currency in ("money", "tokens"):
                assert sum(v for k, v in balances.items() if k.endswith(currency)) == 0
