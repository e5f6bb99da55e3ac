"""The ledger's records: legs, accounts, transactions, journal entries, holds, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

MAX_AMOUNT = 10**15
"""Largest amount of one leg ($1 billion in micro-dollars): keeps every balance inside int64."""

MAX_NAME = 200
"""Longest account, budget, owner, group name or idempotency key."""

SYSTEM_OWNER = "ledger"
"""Owner of the external and escrow accounts the ledger creates itself."""


def external_account(currency: str) -> str:
    """Name of a currency's external account (source of endowments, sink of withdrawals)."""
    return f"external:{currency}"


def escrow_account(currency: str) -> str:
    """Name of a currency's escrow account (holds amounts of open holds)."""
    return f"escrow:{currency}"


class Leg(NamedTuple):
    """One movement: ``amount`` leaves ``debit`` and enters ``credit``."""

    debit: str
    credit: str
    amount: int


@dataclass(frozen=True)
class Account:
    """An account and its balance when it was read.

    Attributes:
        id: database id (accounts are locked in id order).
        name: unique name, e.g. ``customer_0001:money``.
        kind: customer, business, platform, provider, escrow or external.
        currency: ``"money"`` (micro-dollars) or ``"tokens"``.
        floor: the lowest allowed balance; None = unbounded below (external accounts).
        owner: who the account belongs to (an agent id), if anyone.
        group: the group, for group budgets.
        balance: the balance when read.
        created_at: wall-clock creation time (seconds since the epoch).
    """

    id: int
    name: str
    kind: str
    currency: str
    floor: int | None
    owner: str | None
    group: str | None
    balance: int
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "name": self.name,
            "kind": self.kind,
            "currency": self.currency,
            "floor": self.floor,
            "owner": self.owner,
            "group": self.group,
            "balance": self.balance,
        }


@dataclass(frozen=True)
class Txn:
    """A transaction: legs applied atomically.

    Attributes:
        id: database id (increasing).
        kind: what it is (``transfer``, ``fund``, ``withdraw``, ``hold``, ``settle``,
            ``release``, or a caller's kind such as ``token_usage``).
        memo: free text.
        at: the caller's clock when it was posted.
        legs: its legs, in the order posted.
        idempotency_key: the key it was posted with, if any.
        replayed: True when this object answers a retry (nothing was applied by that call);
            not part of equality.
    """

    id: int
    kind: str
    memo: str
    at: float
    legs: tuple[Leg, ...]
    idempotency_key: str | None = None
    replayed: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Entry:
    """One journal row (a leg with its transaction's details)."""

    id: int
    txn: int
    debit: str
    credit: str
    amount: int
    currency: str
    kind: str
    memo: str
    at: float
    created_at: float


@dataclass(frozen=True)
class Hold:
    """An escrow hold: ``amount`` moved from ``payer`` to escrow, owed to ``payee``.

    Attributes:
        id: database id.
        payer: account the amount came from (and returns to on release).
        payee: account the amount goes to on settle.
        amount: the amount held.
        currency: its currency.
        status: ``held``, ``settled`` or ``released``.
        hold_txn: the txn that moved the amount into escrow.
        close_txn: the txn that settled or released it (None while held).
        memo: free text.
        at: the caller's clock when it was opened.
        closed_at: the caller's clock when it was closed.
        replayed: True when this object answers a retry of :meth:`Ledger.hold`.
    """

    id: int
    payer: str
    payee: str
    amount: int
    currency: str
    status: str
    hold_txn: int
    close_txn: int | None
    memo: str
    at: float
    closed_at: float | None
    replayed: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "id": self.id,
            "payer": self.payer,
            "payee": self.payee,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "hold_txn": self.hold_txn,
            "close_txn": self.close_txn,
            "memo": self.memo,
            "at": self.at,
            "closed_at": self.closed_at,
        }
