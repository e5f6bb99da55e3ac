"""Tokens and money as a unit of account: double-entry accounts, escrow, budgets, audit.

>>> from tokenomy.ledger import Ledger, Leg
>>> with Ledger.open("ledger.db") as ledger:                                # doctest: +SKIP
...     ledger.create_account("a:money", kind="customer", currency="money")
...     ledger.fund("a:money", 1_000_000)
...     ledger.audit().ok

The ledger lives in a SQLite file or a PostgreSQL database; several processes may use one at
once. No transaction creates or destroys value: the balances of each currency sum to zero, which
:meth:`Ledger.audit` checks together with every other derived figure. See
:mod:`tokenomy.ledger.ledger` for how a transaction is applied.
"""

from __future__ import annotations

from tokenomy.ledger.audit import AuditReport
from tokenomy.ledger.budgets import PERIODS, Budget, BudgetStatus
from tokenomy.ledger.errors import (
    BudgetExceeded,
    CurrencyMismatch,
    DuplicateAccount,
    HoldStateError,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerConfigError,
    LedgerError,
    UnknownAccount,
    UnknownBudget,
    UnknownCurrency,
    UnknownHold,
)
from tokenomy.ledger.ledger import Ledger
from tokenomy.ledger.records import (
    MAX_AMOUNT,
    Account,
    Entry,
    Hold,
    Leg,
    Txn,
    escrow_account,
    external_account,
)
from tokenomy.ledger.schema import ACCOUNT_KINDS, CURRENCIES

__all__ = [
    "ACCOUNT_KINDS",
    "CURRENCIES",
    "MAX_AMOUNT",
    "PERIODS",
    "Account",
    "AuditReport",
    "Budget",
    "BudgetExceeded",
    "BudgetStatus",
    "CurrencyMismatch",
    "DuplicateAccount",
    "Entry",
    "Hold",
    "HoldStateError",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidAmount",
    "Ledger",
    "LedgerConfigError",
    "LedgerError",
    "Leg",
    "Txn",
    "UnknownAccount",
    "UnknownBudget",
    "UnknownCurrency",
    "UnknownHold",
    "escrow_account",
    "external_account",
]
