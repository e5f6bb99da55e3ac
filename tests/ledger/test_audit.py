"""The audit passes on honest ledgers and catches tampering done with raw SQL."""

from __future__ import annotations

import json

from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from tests.ledger.conftest import make_accounts
from tokenomy.cli_ledger import ledger_app
from tokenomy.ledger import Leg
from tokenomy.ledger.schema import accounts, budget_usage, holds, journal, txns


def _busy_ledger(ledger):
    make_accounts(ledger, ["a:money", "b:money", "c:money"], fund=1_000, group="g")
    ledger.set_budget("g", currency="money", limit=10_000, period="hour", group="g")
    ledger.post([Leg("a:money", "b:money", 10), Leg("b:money", "c:money", 4)], at=1.0)
    ledger.transfer("c:money", "a:money", 3, at=2.0)
    held = ledger.hold("a:money", "c:money", 25, at=3.0)
    settled = ledger.hold("b:money", "c:money", 15, at=4.0)
    ledger.settle(settled.id, at=5.0)
    return held


def _tamper(ledger, statement):
    with ledger.engine.begin() as conn:
        conn.execute(statement)


def test_honest_ledger_passes(ledger):
    _busy_ledger(ledger)
    report = ledger.audit()
    assert report.to_dict() == {
        "ok": True,
        "accounts": 7,
        "transfers": 3 + 2 + 1 + 2 + 1,
        "imbalance": 0,
        "violations": [],
    }


def test_changed_balance_is_caught(ledger):
    _busy_ledger(ledger)
    _tamper(ledger, update(accounts).where(accounts.c.name == "b:money").values(balance=5_000))
    report = ledger.audit()
    assert not report.ok
    assert any("'b:money'" in v and "cached balance 5000" in v for v in report.violations)
    assert any("cached balances sum to" in v for v in report.violations)
    assert report.imbalance == 0  # the journal itself still balances


def test_deleted_leg_is_caught(ledger):
    _busy_ledger(ledger)
    with ledger.engine.connect() as conn:
        multi = conn.execute(select(journal.c.id, journal.c.txn).where(journal.c.amount == 4)).one()
    _tamper(ledger, delete(journal).where(journal.c.id == multi.id))
    report = ledger.audit()
    assert not report.ok
    assert any("'b:money'" in v and "differs from" in v for v in report.violations)
    assert any("'c:money'" in v and "differs from" in v for v in report.violations)


def test_txn_without_legs_is_caught(ledger):
    _busy_ledger(ledger)
    with ledger.engine.connect() as conn:
        single = conn.execute(
            select(journal.c.id, journal.c.txn).where(journal.c.amount == 3)
        ).one()
    _tamper(ledger, delete(journal).where(journal.c.id == single.id))
    report = ledger.audit()
    assert f"txn {single.txn} has no legs in the journal" in report.violations


def test_hold_state_tampering_is_caught(ledger):
    held = _busy_ledger(ledger)
    _tamper(ledger, update(holds).where(holds.c.id == held.id).values(status="settled"))
    report = ledger.audit()
    assert not report.ok
    assert f"hold {held.id} is settled but has no closing txn" in report.violations
    assert any("'escrow:money'" in v and "of open holds" in v for v in report.violations)


def test_budget_usage_tampering_is_caught(ledger):
    _busy_ledger(ledger)
    _tamper(ledger, update(budget_usage).values(spent=1))
    report = ledger.audit()
    assert not report.ok
    assert any(v.startswith("budget 'g': usage 1 in window 0") for v in report.violations)


def test_cross_currency_leg_is_caught(ledger):
    _busy_ledger(ledger)
    make_accounts(ledger, ["t:tokens"], currency="tokens")
    with ledger.engine.begin() as conn:
        ids = dict(conn.execute(select(accounts.c.name, accounts.c.id)).all())
        txn_id = conn.execute(
            insert(txns).values(kind="forged", memo="", at=0.0, request_hash="x", created_at=0.0)
        ).inserted_primary_key[0]
        conn.execute(
            insert(journal).values(
                txn=txn_id,
                debit_account=ids["a:money"],
                credit_account=ids["t:tokens"],
                amount=9,
                currency="money",
                kind="forged",
                memo="",
                at=0.0,
                created_at=0.0,
            )
        )
    report = ledger.audit()
    assert report.imbalance == 9
    assert any("'t:tokens' (tokens)" in v for v in report.violations)
    assert any("currency 'tokens': balances recomputed" in v for v in report.violations)


def test_cli_audit_exit_status_follows_the_report(ledger, ledger_url):
    _busy_ledger(ledger)
    runner = CliRunner()
    done = runner.invoke(ledger_app, ["audit", ledger_url, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == ledger.audit().to_dict()
    _tamper(ledger, update(accounts).where(accounts.c.name == "a:money").values(balance=1))
    done = runner.invoke(ledger_app, ["audit", ledger_url, "--json"])
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and any("'a:money'" in v for v in report["violations"])
    done = runner.invoke(ledger_app, ["audit", ledger_url])
    assert done.exit_code == 1 and "audit failed" in done.stdout and "'a:money'" in done.stdout


def test_long_violation_lists_are_capped(sqlite_ledger):
    names = [f"x{i}:money" for i in range(60)]
    make_accounts(sqlite_ledger, names, fund=10)
    _tamper(sqlite_ledger, update(accounts).where(accounts.c.name.in_(names)).values(balance=11))
    report = sqlite_ledger.audit()
    assert len(report.violations) == 50 + 1 + 1
    assert report.violations[-2] == "currency 'money': cached balances sum to 60, expected 0"
    assert report.violations[-1] == "... and 10 more balance violations"
