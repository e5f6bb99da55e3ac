"""Transfers, multi-leg posts, funding and withdrawal; overdrafts refused with nothing changed."""

from __future__ import annotations

import pytest

from tests.ledger.conftest import make_accounts, snapshot
from tokenomy.ledger import InsufficientFunds, Leg, Txn


def test_transfer_moves_the_amount_and_records_one_leg(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=100)
    txn = ledger.transfer("a:money", "b:money", 30, memo="lunch", at=12.5)
    assert isinstance(txn, Txn) and not txn.replayed
    assert (txn.kind, txn.memo, txn.at, txn.legs) == (
        "transfer",
        "lunch",
        12.5,
        (Leg("a:money", "b:money", 30),),
    )
    assert (ledger.balance("a:money"), ledger.balance("b:money")) == (70, 130)
    entries = ledger.journal("a:money")
    assert [(e.debit, e.credit, e.amount, e.kind) for e in entries] == [
        ("external:money", "a:money", 100, "fund"),
        ("a:money", "b:money", 30, "transfer"),
    ]
    assert entries[-1].txn == txn.id and entries[-1].at == 12.5 and entries[-1].memo == "lunch"
    assert ledger.transactions(limit=1) == [txn]
    assert ledger.audit().ok


def test_fund_and_withdraw_go_through_the_external_account(ledger):
    make_accounts(ledger, ["a:tokens"], currency="tokens")
    ledger.fund("a:tokens", 500)
    ledger.withdraw("a:tokens", 120)
    assert ledger.balance("a:tokens") == 380
    assert ledger.balance("external:tokens") == -380
    with pytest.raises(InsufficientFunds):
        ledger.withdraw("a:tokens", 381)
    kinds = [t.kind for t in ledger.transactions()]
    assert kinds == ["fund", "withdraw"]


def test_overdraft_is_refused_and_changes_nothing(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=50)
    ledger.set_budget("cap", currency="money", limit=1_000, account="a:money")
    before = snapshot(ledger)
    with pytest.raises(InsufficientFunds) as info:
        ledger.transfer("a:money", "b:money", 51)
    error = info.value
    assert (error.account, error.balance, error.floor, error.requested) == ("a:money", 50, 0, 51)
    assert "insufficient funds in 'a:money': balance 50, floor 0, requested debit 51" in str(error)
    assert snapshot(ledger) == before


def test_multi_leg_post_is_all_or_nothing(ledger):
    make_accounts(ledger, ["a:money", "b:money", "c:money"], fund=10)
    before = snapshot(ledger)
    with pytest.raises(InsufficientFunds, match="'c:money'"):
        ledger.post([Leg("a:money", "b:money", 5), Leg("c:money", "b:money", 11)])
    assert snapshot(ledger) == before
    txn = ledger.post(
        [Leg("a:money", "b:money", 5), Leg("c:money", "b:money", 10)], kind="split", memo="x"
    )
    assert [ledger.balance(n) for n in ("a:money", "b:money", "c:money")] == [5, 25, 0]
    assert len(txn.legs) == 2 and ledger.transactions(limit=1)[0] == txn


def test_floors_apply_to_the_net_change_of_a_transaction(ledger):
    make_accounts(ledger, ["a:money", "b:money", "c:money"])
    ledger.fund("a:money", 10)
    # b holds nothing, but passes 10 on within the same transaction: net change 0.
    ledger.post([Leg("a:money", "b:money", 10), Leg("b:money", "c:money", 10)])
    assert [ledger.balance(n) for n in ("a:money", "b:money", "c:money")] == [0, 0, 10]


def test_negative_floor_is_a_credit_line(ledger):
    make_accounts(ledger, ["credit:money", "shop:money"], floor=-100)
    ledger.transfer("credit:money", "shop:money", 100)
    assert ledger.balance("credit:money") == -100
    before = snapshot(ledger)
    with pytest.raises(InsufficientFunds, match="floor -100"):
        ledger.transfer("credit:money", "shop:money", 1)
    assert snapshot(ledger) == before
    assert ledger.audit().ok


def test_conservation_after_many_moves(ledger):
    names = [f"acct{i}:money" for i in range(5)]
    make_accounts(ledger, names, fund=1_000)
    for i in range(40):
        ledger.transfer(names[i % 5], names[(i % 5 + 1 + (i // 5) % 4) % 5], 7 + i)
    assert sum(a.balance for a in ledger.accounts(currency="money")) == 0
    report = ledger.audit()
    assert report.ok and report.imbalance == 0 and report.transfers == 45


def test_transactions_and_journal_limits(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=100)
    for amount in (1, 2, 3):
        ledger.transfer("a:money", "b:money", amount)
    assert [t.legs[0].amount for t in ledger.transactions(limit=2)] == [2, 3]
    assert [e.amount for e in ledger.journal(limit=2)] == [2, 3]
    assert [e.amount for e in ledger.journal("b:money")] == [100, 1, 2, 3]
    assert len(ledger.transactions()) == 5


def test_threads_can_share_one_ledger(ledger):
    import threading

    names = [f"t{i}:money" for i in range(6)]
    make_accounts(ledger, names, fund=1_000)
    errors: list[BaseException] = []

    def spin(offset: int) -> None:
        try:
            for i in range(60):
                ledger.transfer(names[(i + offset) % 6], names[(i + offset + 1) % 6], 1 + i % 7)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=spin, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = ledger.audit()
    assert report.ok and report.transfers == 6 + 4 * 60
