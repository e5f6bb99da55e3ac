"""Budgets: outflow caps per account and per group, per period window (on the caller's clock)."""

from __future__ import annotations

import pytest

from tests.ledger.conftest import make_accounts, snapshot
from tokenomy.ledger import (
    BudgetExceeded,
    InvalidAmount,
    LedgerConfigError,
    Leg,
    UnknownAccount,
    UnknownBudget,
)
from tokenomy.ledger.budgets import period_name, period_seconds, window_bounds, window_of


@pytest.mark.parametrize(
    "period, seconds",
    [("none", 0), ("minute", 60), ("hour", 3600), ("day", 86400), ("week", 604800), (90, 90)],
)
def test_period_seconds(period, seconds):
    assert period_seconds(period) == seconds


@pytest.mark.parametrize("period", ["fortnight", 0, -5, 1.5, True, None])
def test_bad_periods(period):
    with pytest.raises(LedgerConfigError, match="budget period: got"):
        period_seconds(period)


def test_windows():
    assert [window_of(t, 60) for t in (0.0, 59.999, 60.0, 119.0, -0.5)] == [0, 0, 1, 1, -1]
    assert window_of(1e9, 0) == 0
    assert window_bounds(3, 60) == (180.0, 240.0)
    assert window_bounds(0, 0) == (None, None)
    assert (period_name(3600), period_name(90)) == ("hour", "90s")


def test_account_budget_refuses_a_breach_and_resets_with_the_window(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=1_000)
    ledger.set_budget("a-hourly", currency="money", limit=100, period="hour", account="a:money")
    ledger.transfer("a:money", "b:money", 60, at=10.0)
    ledger.transfer("a:money", "b:money", 40, at=3599.0)
    before = snapshot(ledger)
    with pytest.raises(BudgetExceeded) as info:
        ledger.transfer("a:money", "b:money", 1, at=3599.5)
    error = info.value
    assert (error.budget, error.limit, error.spent, error.requested) == ("a-hourly", 100, 100, 1)
    assert (error.window_start, error.window_end) == (0.0, 3600.0)
    assert "budget 'a-hourly' exceeded in the hour window [0 s, 3600 s)" in str(error)
    assert snapshot(ledger) == before
    # Inflows are not capped, and the next window starts from zero.
    ledger.transfer("b:money", "a:money", 500, at=3599.7)
    ledger.transfer("a:money", "b:money", 100, at=3600.0)
    status = ledger.budget_status("a-hourly", at=3600.0)
    assert (status.limit, status.spent, status.remaining) == (100, 100, 0)
    assert (status.window_start, status.window_end) == (3600.0, 7200.0)
    assert ledger.budget_status("a-hourly", at=10.0).spent == 100
    assert ledger.budget_status("a-hourly", at=9000.0).spent == 0
    assert ledger.audit().ok


def test_group_budget_caps_the_group_together(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=1_000, group="team")
    make_accounts(ledger, ["c:money"], fund=1_000)
    make_accounts(ledger, ["t:tokens"], currency="tokens", fund=1_000, group="team")
    ledger.set_budget("team", currency="money", limit=100, period=60, group="team")
    ledger.transfer("a:money", "c:money", 70, at=1.0)
    before = snapshot(ledger)
    with pytest.raises(BudgetExceeded, match="limit 100, spent 70, requested 40"):
        ledger.transfer("b:money", "c:money", 40, at=2.0)
    with pytest.raises(BudgetExceeded):  # two legs of one txn count together
        ledger.post([Leg("a:money", "c:money", 20), Leg("b:money", "c:money", 20)], at=3.0)
    assert snapshot(ledger) == before
    ledger.transfer("b:money", "c:money", 30, at=4.0)
    ledger.transfer("c:money", "a:money", 500, at=5.0)  # outside the group: not capped
    ledger.transfer("t:tokens", "external:tokens", 900, at=6.0)  # other currency
    ledger.transfer("a:money", "c:money", 40, at=60.0)  # next window
    assert ledger.budget_status("team", at=59.0).spent == 100
    assert ledger.budget_status("team", at=60.0).spent == 40
    assert ledger.audit().ok


def test_holds_and_withdrawals_count_and_releases_give_nothing_back(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=1_000)
    ledger.set_budget("a", currency="money", limit=100, account="a:money")
    hold = ledger.hold("a:money", "b:money", 50, at=1.0)
    ledger.release(hold.id, at=2.0)
    ledger.withdraw("a:money", 30, at=3.0)
    status = ledger.budget_status("a", at=4.0)
    assert (status.spent, status.remaining, status.window_start) == (80, 20, None)
    with pytest.raises(BudgetExceeded, match="for all time"):
        ledger.hold("a:money", "b:money", 21, at=5.0)
    ledger.hold("a:money", "b:money", 20, at=5.0)
    assert ledger.audit().ok


def test_setting_a_budget_counts_outflow_already_made(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=1_000)
    ledger.transfer("a:money", "b:money", 70, at=10.0)
    ledger.transfer("a:money", "b:money", 5, at=70.0)
    ledger.set_budget("a", currency="money", limit=80, period="minute", account="a:money")
    assert ledger.budget_status("a", at=10.0).spent == 70
    assert ledger.budget_status("a", at=70.0).spent == 5
    with pytest.raises(BudgetExceeded):
        ledger.transfer("a:money", "b:money", 11, at=20.0)
    # Raising the limit keeps the usage; changing the period recomputes it.
    ledger.set_budget("a", currency="money", limit=90, period="minute", account="a:money")
    ledger.transfer("a:money", "b:money", 11, at=20.0)
    assert ledger.budget_status("a", at=20.0).spent == 81
    ledger.set_budget("a", currency="money", limit=90, period="hour", account="a:money")
    assert ledger.budget_status("a", at=20.0).spent == 86
    assert [b.name for b in ledger.budgets()] == ["a"]
    assert ledger.budget("a").period == "hour" and ledger.budget("a").limit == 90
    assert ledger.audit().ok


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"account": "a:money", "group": "g"}, LedgerConfigError, "exactly one of them"),
        ({}, LedgerConfigError, "exactly one of them"),
        ({"account": "a:money", "limit": 1.5}, InvalidAmount, "budget limit: got 1.5"),
        ({"account": "a:money", "limit": -1}, InvalidAmount, "expected an int >= 0"),
        ({"account": "a:money", "currency": "tokens"}, LedgerConfigError, "holds money"),
        ({"account": "nobody"}, UnknownAccount, "nobody"),
        ({"account": "a:money", "period": "year"}, LedgerConfigError, "budget period"),
    ],
)
def test_bad_budgets(sqlite_ledger, kwargs, error, message):
    make_accounts(sqlite_ledger, ["a:money"])
    settings = {"currency": "money", "limit": 10, **kwargs}
    with pytest.raises(error, match=message):
        sqlite_ledger.set_budget("b", **settings)
    assert sqlite_ledger.budgets() == []


def test_budget_name_is_bound_to_its_target(sqlite_ledger):
    make_accounts(sqlite_ledger, ["a:money", "b:money"])
    sqlite_ledger.set_budget("b", currency="money", limit=10, account="a:money")
    with pytest.raises(LedgerConfigError, match="exists for another"):
        sqlite_ledger.set_budget("b", currency="money", limit=10, account="b:money")
    with pytest.raises(UnknownBudget, match="'nope'"):
        sqlite_ledger.budget_status("nope")
    with pytest.raises(UnknownBudget):
        sqlite_ledger.budget("nope")


def test_zero_limit_freezes_outflow(sqlite_ledger):
    make_accounts(sqlite_ledger, ["a:money", "b:money"], fund=100)
    sqlite_ledger.set_budget("freeze", currency="money", limit=0, account="a:money")
    with pytest.raises(BudgetExceeded, match="limit 0, spent 0, requested 1"):
        sqlite_ledger.transfer("a:money", "b:money", 1)
    sqlite_ledger.transfer("b:money", "a:money", 1)
    assert sqlite_ledger.audit().ok
