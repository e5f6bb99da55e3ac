"""Accounts, opening a ledger, and bad input: each refused with one clear error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.ledger.conftest import make_accounts, snapshot, sqlite_url
from tokenomy.errors import ConfigError, TokenomyError
from tokenomy.ledger import (
    CURRENCIES,
    MAX_AMOUNT,
    CurrencyMismatch,
    DuplicateAccount,
    InvalidAmount,
    Ledger,
    LedgerConfigError,
    LedgerError,
    Leg,
    UnknownAccount,
    UnknownCurrency,
    escrow_account,
    external_account,
)
from tokenomy.ledger.database import parse_url, public_url


def test_system_accounts_exist_with_their_floors(ledger):
    for currency in CURRENCIES:
        external = ledger.account(external_account(currency))
        escrow = ledger.account(escrow_account(currency))
        assert (external.kind, external.floor, external.balance) == ("external", None, 0)
        assert (escrow.kind, escrow.floor, escrow.balance) == ("escrow", 0, 0)
        assert external.currency == escrow.currency == currency
    assert len(ledger.accounts()) == 2 * len(CURRENCIES)


def test_create_account_and_read_it_back(ledger):
    made = ledger.create_account(
        "alice:money", kind="customer", currency="money", floor=-5, owner="alice", group="g1"
    )
    got = ledger.account("alice:money")
    assert got == made
    assert (got.kind, got.currency, got.floor, got.owner, got.group, got.balance) == (
        "customer",
        "money",
        -5,
        "alice",
        "g1",
        0,
    )
    assert ledger.balance("alice:money") == 0


def test_duplicate_and_ensure_account(ledger):
    ledger.create_account("bob:tokens", kind="business", currency="tokens", owner="bob")
    with pytest.raises(DuplicateAccount, match="bob:tokens"):
        ledger.create_account("bob:tokens", kind="business", currency="tokens", owner="bob")
    again = ledger.ensure_account("bob:tokens", kind="business", currency="tokens", owner="bob")
    assert again == ledger.account("bob:tokens")
    with pytest.raises(DuplicateAccount, match="floor is 0, not -3"):
        ledger.ensure_account(
            "bob:tokens", kind="business", currency="tokens", owner="bob", floor=-3
        )
    created = ledger.ensure_account("carol:money", kind="provider", currency="money")
    assert created.name == "carol:money" and created.kind == "provider"


def test_accounts_filters(ledger):
    make_accounts(ledger, ["a:money", "b:money"])
    ledger.create_account("c:tokens", kind="provider", currency="tokens", owner="c")
    assert [a.name for a in ledger.accounts(kind="customer")] == ["a:money", "b:money"]
    assert [a.name for a in ledger.accounts(currency="tokens", kind="provider")] == ["c:tokens"]
    assert [a.name for a in ledger.accounts(owner="c")] == ["c:tokens"]


def test_unknown_account(ledger):
    with pytest.raises(UnknownAccount, match="'nobody'"):
        ledger.account("nobody")
    with pytest.raises(UnknownAccount, match="'nobody'"):
        ledger.balance("nobody")
    make_accounts(ledger, ["a:money"], fund=10)
    before = snapshot(ledger)
    with pytest.raises(UnknownAccount, match="'nobody'"):
        ledger.transfer("a:money", "nobody", 5)
    assert snapshot(ledger) == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "wizard"}, "kind 'wizard'; expected one of customer"),
        ({"floor": None}, "floor None .* only allowed for external"),
        ({"floor": 1.5}, r"floor 1.5 \(float\); expected an int"),
        ({"floor": True}, r"floor True \(bool\)"),
        ({"floor": 7}, "floor 7; expected <= 0"),
        ({"owner": ""}, "owner: got ''"),
    ],
)
def test_bad_account_settings(sqlite_ledger, kwargs, message):
    settings = {"kind": "customer", "currency": "money", **kwargs}
    with pytest.raises(LedgerConfigError, match=message):
        sqlite_ledger.create_account("x", **settings)
    with pytest.raises(UnknownAccount):
        sqlite_ledger.account("x")


def test_unknown_currency_suggests_the_nearest(sqlite_ledger):
    with pytest.raises(UnknownCurrency, match=r"unknown currency 'mony'.*Did you mean 'money'"):
        sqlite_ledger.create_account("x", kind="customer", currency="mony")
    with pytest.raises(UnknownCurrency):
        sqlite_ledger.set_budget("b", currency="dollars", limit=5, account="escrow:money")
    assert issubclass(UnknownCurrency, ConfigError) and issubclass(UnknownCurrency, LedgerError)


@pytest.mark.parametrize(
    "amount, expected",
    [
        (1.5, r"got 1.5 \(float\); expected a positive int"),
        (2.0, r"got 2.0 \(float\)"),
        (True, r"got True \(bool\)"),
        ("5", r"got '5' \(str\)"),
        (None, r"got None \(NoneType\)"),
        (0, "got 0 .*expected an int from 1"),
        (-5, "got -5 .*expected an int from 1"),
        (MAX_AMOUNT + 1, "expected an int from 1 to"),
    ],
)
def test_bad_amounts_are_refused(ledger, amount, expected):
    make_accounts(ledger, ["a:money", "b:money"], fund=100)
    before = snapshot(ledger)
    with pytest.raises(InvalidAmount, match=expected) as info:
        ledger.transfer("a:money", "b:money", amount)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, TokenomyError)
    with pytest.raises(InvalidAmount):
        ledger.fund("a:money", amount)
    with pytest.raises(InvalidAmount):
        ledger.hold("a:money", "b:money", amount)
    assert snapshot(ledger) == before


def test_numpy_integers_are_amounts(sqlite_ledger):
    make_accounts(sqlite_ledger, ["a:money", "b:money"], fund=100)
    sqlite_ledger.transfer("a:money", "b:money", np.int64(30))
    assert sqlite_ledger.balance("b:money") == 130


def test_currency_mismatch_changes_nothing(ledger):
    make_accounts(ledger, ["a:money"], fund=100)
    make_accounts(ledger, ["a:tokens"], currency="tokens", fund=100)
    before = snapshot(ledger)
    with pytest.raises(CurrencyMismatch, match=r"'a:money' \(money\) to 'a:tokens' \(tokens\)"):
        ledger.transfer("a:money", "a:tokens", 5)
    with pytest.raises(CurrencyMismatch):
        ledger.post([Leg("a:money", "escrow:money", 1), Leg("a:tokens", "a:money", 1)])
    assert snapshot(ledger) == before


@pytest.mark.parametrize(
    "legs, message",
    [
        ([], "expected a non-empty list of Leg"),
        ([("a:money", "a:money", 5)], "debit and credit are both 'a:money'"),
        ([("a:money", "b:money")], r"legs\[0\]: got .*expected Leg"),
        ([("a:money", 7, 5)], r"legs\[0\].credit: got 7"),
        ([Leg("a:money", "b:money", 5), Leg("b:money", "a:money", 0.5)], r"legs\[1\].amount"),
    ],
)
def test_bad_legs(sqlite_ledger, legs, message):
    make_accounts(sqlite_ledger, ["a:money", "b:money"], fund=100)
    before = snapshot(sqlite_ledger)
    with pytest.raises(LedgerConfigError, match=message):
        sqlite_ledger.post(legs)
    assert snapshot(sqlite_ledger) == before


@pytest.mark.parametrize("at", [float("nan"), float("inf"), True, "noon"])
def test_bad_moments(sqlite_ledger, at):
    make_accounts(sqlite_ledger, ["a:money", "b:money"], fund=100)
    with pytest.raises(LedgerConfigError, match="at: got"):
        sqlite_ledger.transfer("a:money", "b:money", 5, at=at)


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://user@host/db", "unsupported scheme 'mysql'"),
        ("http://example.com/ledger", "unsupported scheme 'http'"),
        ("", "expected a file path or a URL"),
        ("sqlite:////definitely/not/here/ledger.db", "folder /definitely/not/here does not exist"),
        ("sqlite:///x.db?journal=off", "unknown option"),
        ("sqlite:///x.db?synchronous=off", "synchronous: got 'off'"),
    ],
)
def test_bad_urls(url, message):
    with pytest.raises(LedgerConfigError, match=message):
        Ledger.open(url)


def test_unreachable_postgres_is_a_clear_error(tmp_path):
    with pytest.raises(LedgerConfigError, match="cannot open ledger database postgresql"):
        Ledger.open(f"postgresql+psycopg://nobody@/nothing?host={tmp_path}&port=1")


def test_public_url_has_no_password():
    url = public_url(parse_url("postgresql://me:s3cret@db.example/ledger"))
    assert "s3cret" not in url and url.startswith("postgresql+psycopg://me@db.example")


def test_open_without_create_refuses_a_missing_file_and_creates_nothing(tmp_path):
    path = tmp_path / "missing.db"
    with pytest.raises(LedgerConfigError, match="does not exist"):
        Ledger.open(path, create=False)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_open_refuses_files_that_are_not_ledgers(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    with pytest.raises(LedgerConfigError, match="not a tokenomy ledger: missing table"):
        Ledger.open(other, create=False)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(LedgerConfigError, match="cannot open ledger database"):
        Ledger.open(garbage)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(LedgerConfigError, match="is a folder"):
        Ledger.open(folder)


def test_reopening_keeps_everything_and_paths_work(tmp_path):
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        make_accounts(ledger, ["a:money"], fund=42)
        assert ledger.url == f"sqlite:///{path}"
    for url in (path, str(path), sqlite_url(tmp_path)):
        with Ledger.open(url, create=False) as again:
            assert again.balance("a:money") == 42
            assert len(again.accounts()) == 2 * len(CURRENCIES) + 1
            assert again.audit().ok


def test_relative_sqlite_url_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Ledger.open("sqlite:///rel.db") as ledger:
        assert Path(ledger.url.removeprefix("sqlite:///")) == tmp_path / "rel.db"
    assert (tmp_path / "rel.db").exists()


def test_closed_ledger_refuses_work(tmp_path):
    ledger = Ledger.open(tmp_path / "l.db")
    ledger.close()
    with pytest.raises(LedgerError, match="is closed"):
        ledger.accounts()


def test_open_without_create_refuses_an_empty_database(ledger_url):
    with pytest.raises(LedgerConfigError, match=r"does not exist|not a tokenomy ledger"):
        Ledger.open(ledger_url, create=False)


def test_create_accounts_is_all_or_nothing(ledger):
    specs = [
        {"name": f"bulk_{i}:money", "kind": "customer", "currency": "money", "owner": f"bulk_{i}"}
        for i in range(50)
    ]
    assert ledger.create_accounts(specs) == 50
    assert len(ledger.accounts(kind="customer")) == 50
    before = snapshot(ledger)
    again = [{"name": "fresh:money", "kind": "customer", "currency": "money"}, specs[7]]
    with pytest.raises(DuplicateAccount, match="bulk_7:money"):
        ledger.create_accounts(again)
    assert snapshot(ledger) == before  # "fresh:money" was not created either
    with pytest.raises(DuplicateAccount, match="twice:money"):
        ledger.create_accounts(
            [{"name": "twice:money", "kind": "customer", "currency": "money"}] * 2
        )
    assert ledger.create_accounts([]) == 0
    assert ledger.audit().ok
