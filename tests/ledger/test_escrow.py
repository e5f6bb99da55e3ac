"""Escrow holds: settle pays the payee, release refunds the payer, each at most once."""

from __future__ import annotations

import pytest

from tests.ledger.conftest import make_accounts, snapshot
from tests.ledger.workers import close_holds, run_processes
from tokenomy.ledger import (
    CurrencyMismatch,
    HoldStateError,
    InsufficientFunds,
    Ledger,
    LedgerConfigError,
    UnknownHold,
)


def test_hold_then_settle_pays_the_payee(ledger):
    make_accounts(ledger, ["buyer:money", "shop:money"], fund=100)
    hold = ledger.hold("buyer:money", "shop:money", 40, memo="order 7", at=5.0)
    assert (hold.status, hold.amount, hold.payer, hold.payee, hold.close_txn) == (
        "held",
        40,
        "buyer:money",
        "shop:money",
        None,
    )
    assert ledger.hold_of(hold.id) == hold
    assert (ledger.balance("buyer:money"), ledger.balance("escrow:money")) == (60, 40)
    assert ledger.balance("shop:money") == 100
    txn = ledger.settle(hold.id, at=6.0)
    assert txn.kind == "settle" and txn.legs[0].credit == "shop:money"
    settled = ledger.hold_of(hold.id)
    assert (settled.status, settled.close_txn, settled.closed_at) == ("settled", txn.id, 6.0)
    assert [ledger.balance(n) for n in ("buyer:money", "shop:money", "escrow:money")] == [
        60,
        140,
        0,
    ]
    assert ledger.audit().ok


def test_hold_then_release_refunds_the_payer(ledger):
    make_accounts(ledger, ["buyer:money", "shop:money"], fund=100)
    hold = ledger.hold("buyer:money", "shop:money", 40)
    txn = ledger.release(hold.id)
    assert txn.kind == "release" and txn.legs[0].credit == "buyer:money"
    assert ledger.hold_of(hold.id).status == "released"
    assert [ledger.balance(n) for n in ("buyer:money", "shop:money", "escrow:money")] == [
        100,
        100,
        0,
    ]
    assert ledger.audit().ok


@pytest.mark.parametrize(
    "first, second, status",
    [
        ("settle", "settle", "settled"),
        ("settle", "release", "settled"),
        ("release", "settle", "released"),
        ("release", "release", "released"),
    ],
)
def test_a_hold_closes_once(ledger, first, second, status):
    make_accounts(ledger, ["buyer:money", "shop:money"], fund=100)
    hold = ledger.hold("buyer:money", "shop:money", 40)
    getattr(ledger, first)(hold.id)
    before = snapshot(ledger)
    with pytest.raises(
        HoldStateError, match=f"cannot {second} hold {hold.id}: it is already {status}"
    ):
        getattr(ledger, second)(hold.id)
    assert snapshot(ledger) == before


def test_escrow_balance_equals_open_holds(ledger):
    make_accounts(ledger, ["a:money", "b:money", "c:money"], fund=1_000)
    made = [ledger.hold("a:money", "b:money", 10 * (i + 1)) for i in range(6)]
    ledger.settle(made[0].id)
    ledger.release(made[3].id)
    open_holds = ledger.holds(status="held")
    assert [h.id for h in open_holds] == [made[i].id for i in (1, 2, 4, 5)]
    assert ledger.balance("escrow:money") == sum(h.amount for h in open_holds) == 20 + 30 + 50 + 60
    assert [h.status for h in ledger.holds()] == [
        "settled",
        "held",
        "held",
        "released",
        "held",
        "held",
    ]
    assert ledger.summary()["currencies"]["money"]["held"] == 160
    assert ledger.audit().ok


def test_refused_holds_leave_nothing(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=50)
    make_accounts(ledger, ["t:tokens"], currency="tokens", fund=50)
    before = snapshot(ledger)
    with pytest.raises(InsufficientFunds, match="'a:money'"):
        ledger.hold("a:money", "b:money", 51)
    with pytest.raises(CurrencyMismatch):
        ledger.hold("a:money", "t:tokens", 5)
    with pytest.raises(LedgerConfigError, match="payer and payee are both"):
        ledger.hold("a:money", "a:money", 5)
    assert snapshot(ledger) == before
    assert ledger.holds() == []


def test_unknown_hold(ledger):
    with pytest.raises(UnknownHold, match="unknown hold 99"):
        ledger.settle(99)
    with pytest.raises(UnknownHold):
        ledger.hold_of(99)
    with pytest.raises(LedgerConfigError, match="hold id"):
        ledger.release("1")
    with pytest.raises(LedgerConfigError, match="hold status"):
        ledger.holds(status="open")


def test_settle_and_release_racing_from_two_processes_close_each_hold_once(ledger_url):
    with Ledger.open(ledger_url) as ledger:
        make_accounts(ledger, ["buyer:money", "shop:money"], fund=10_000)
        ids = [ledger.hold("buyer:money", "shop:money", 10 + i).id for i in range(120)]
    settled, released = run_processes(
        close_holds, [(ledger_url, ids, "settle"), (ledger_url, ids, "release")]
    )
    assert not set(settled) & set(released)
    assert sorted(settled + released) == ids
    with Ledger.open(ledger_url) as ledger:
        statuses = {h.id: h.status for h in ledger.holds()}
        assert all(statuses[i] == "settled" for i in settled)
        assert all(statuses[i] == "released" for i in released)
        amounts = {h.id: h.amount for h in ledger.holds()}
        assert ledger.balance("shop:money") == 10_000 + sum(amounts[i] for i in settled)
        assert ledger.balance("escrow:money") == 0
        assert ledger.audit().ok
