"""Budgets through the ledger: reserve the worst case, settle the actual cost, refund the rest.

Accounts (money, micro-dollars):

- ``proxy:key:<account>`` — what the keys of ``<account>`` may spend. With a budget its floor
  is 0 and, at the first request of each budget period, it is *reset to its limit*: one ledger
  transaction sweeps what is left back to ``external:money`` and funds the limit, under the
  idempotency key ``proxy-reset:<account>:<window>`` so that each period is reset exactly once
  however many threads or processes race for it. Without a budget its floor is
  :data:`UNLIMITED_FLOOR` (the account may run a debt that large: metering only).
- ``proxy:pending`` — money reserved for requests in flight (floor 0).
- ``proxy:backend:<name>`` — what each backend (provider) has been paid.

A request first moves its *worst-case* cost (estimated input tokens plus the most output tokens
the backend is allowed to produce, at that backend's prices) from the key's account to
``proxy:pending``. The ledger's conditional update refuses the move when the account would go
below its floor, so concurrent requests can never reserve more than the budget together. After
the call one transaction pays the actual cost to the backend and refunds the rest, atomically;
a failed call refunds everything. Spend in a period is therefore ``limit − balance`` and never
exceeds the limit. (A request still in flight when a period ends is settled into the new
period's account: its refund stays there.)

With ``reservations: memory`` the worst case is reserved in this process instead (a counter per
account under a lock, against the balance read from the ledger), and the call is settled with
one ledger transfer of the actual cost from the key's account to the backend: one write per
request instead of two. It is as safe for one proxy process — concurrent requests still cannot
reserve more than the balance — but several processes sharing a ledger must use ``ledger``
reservations (the floor check then still refuses an overrun, which is logged as unpaid). With
``settlement: batched`` on top, that transfer is queued and written in batches by a background
thread (:mod:`tokenomy.proxy.settlement`): no ledger write at all on a request's path.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass

from tokenomy.errors import TokenomyError
from tokenomy.ledger import Ledger
from tokenomy.ledger.budgets import window_of
from tokenomy.ledger.errors import IdempotencyConflict, InsufficientFunds
from tokenomy.ledger.records import Leg, external_account
from tokenomy.market.money import MICRO
from tokenomy.proxy.config import ProxyConfig
from tokenomy.proxy.settlement import FailureHook, Payment, SettlementBatcher

__all__ = [
    "PENDING",
    "UNLIMITED_FLOOR",
    "BudgetRefusedError",
    "Reservation",
    "Spend",
    "backend_account",
    "key_account",
    "micro_ceil",
]

PENDING = "proxy:pending"
"""The account holding reservations of requests in flight."""

UNLIMITED_FLOOR = -(10**15)
"""Floor of an account without a budget: a billion dollars of debt (metering only)."""


def key_account(account: str) -> str:
    """Ledger account name of a configured account."""
    return f"proxy:key:{account}"


def backend_account(backend: str) -> str:
    """Ledger account name of a backend (provider)."""
    return f"proxy:backend:{backend}"


def micro_ceil(dollars: float) -> int:
    """Dollars to whole micro-dollars, rounded up (a micro-dollar's millionth forgiven)."""
    return max(0, math.ceil(dollars * MICRO - 1e-6))


class BudgetRefusedError(TokenomyError):
    """The account cannot cover a request's worst-case cost."""

    def __init__(self, account: str, needed: int, available: int) -> None:
        self.account = account
        self.needed = needed
        self.available = available
        super().__init__(
            f"budget of account '{account}' exhausted: the request may cost up to "
            f"${needed / MICRO:.6f}, ${max(available, 0) / MICRO:.6f} left in this period"
        )


@dataclass(frozen=True)
class Reservation:
    """Money moved to ``proxy:pending`` for one request (``txn`` None when ``amount`` is 0)."""

    account: str
    amount: int
    txn: int | None


class Spend:
    """The proxy's side of the ledger: accounts, period resets, reservations, settlement.

    Args:
        ledger: an open ledger (the caller closes it).
        config: the proxy configuration (budgets, backends, keys).
    """

    def __init__(
        self, ledger: Ledger, config: ProxyConfig, on_failure: FailureHook | None = None
    ) -> None:
        self.ledger = ledger
        self.config = config
        self._reset_window: dict[str, int] = {}
        self._lock = threading.Lock()
        self.in_memory = config.reservations == "memory"
        self.batcher: SettlementBatcher | None = None
        self._on_failure = on_failure
        if config.settlement == "batched":
            self.batcher = SettlementBatcher(
                ledger, config.settle_interval_ms / 1000, on_failure=self._payment_refused
            )
        self._available: dict[str, int] = {}  # memory mode: balance above the floor
        self._reserved: dict[str, int] = {}  # memory mode: reserved by requests in flight
        self._unwritten: dict[str, int] = {}  # memory mode: paid, ledger write in progress

    def _payment_refused(self, payment: Payment) -> None:
        """A batched payment the ledger refused: another process spent the money first."""
        # Re-read the balance from the ledger on next use. No lock here: a reservation may be
        # waiting for the writer (flush) while it holds the lock.
        self._available.pop(payment.debit.removeprefix("proxy:key:"), None)
        if self._on_failure is not None:
            self._on_failure(payment)

    @property
    def writes_on_settle(self) -> bool:
        """Whether :meth:`settle` writes to the ledger (else it is in memory, safe inline)."""
        return self.batcher is None

    def flush(self) -> None:
        """Wait until every payment decided so far is in the ledger (batched settlement)."""
        if self.batcher is not None:
            self.batcher.flush()

    def close(self) -> None:
        """Write every queued payment (batched settlement) and stop its thread."""
        if self.batcher is not None:
            self.batcher.close()

    def setup(self) -> None:
        """Create the proxy's accounts (idempotent; an existing one must match)."""
        self.ledger.ensure_account(PENDING, kind="platform", currency="money", floor=0)
        for b in self.config.backends:
            self.ledger.ensure_account(
                backend_account(b.name), kind="provider", currency="money", floor=0
            )
        accounts = {k.account for k in self.config.keys} | {b.account for b in self.config.budgets}
        for account in sorted(accounts):
            budgeted = self.config.budget_of(account) is not None
            self.ledger.ensure_account(
                key_account(account),
                kind="customer",
                currency="money",
                floor=0 if budgeted else UNLIMITED_FLOOR,
                owner=account,
            )

    def window(self, account: str, at: float) -> int | None:
        """The budget window of ``account`` containing ``at`` (None: no budget)."""
        budget = self.config.budget_of(account)
        if budget is None:
            return None
        return window_of(at, budget.period_s)

    def reset_due(self, account: str, at: float) -> bool:
        """Whether ``account`` has not been reset in the budget window containing ``at``."""
        window = self.window(account, at)
        with self._lock:
            return window is not None and self._reset_window.get(account) != window

    def reset_if_due(self, account: str, at: float | None = None) -> None:
        """Reset the account to its limit once per budget window (no-op without a budget)."""
        moment = time.time() if at is None else at
        budget = self.config.budget_of(account)
        if budget is None:
            return
        window = window_of(moment, budget.period_s)
        with self._lock:
            if self._reset_window.get(account) == window:
                return
        name = key_account(account)
        limit = micro_ceil(budget.limit) if budget.limit > 0 else 0
        if self.batcher is not None:
            self.batcher.flush()  # the period's last payments belong to the old period
        balance = self.ledger.balance(name)
        legs: list[Leg] = []
        if balance > 0:
            legs.append(Leg(name, external_account("money"), balance))
        if limit > 0:
            legs.append(Leg(external_account("money"), name, limit))
        if legs:
            # IdempotencyConflict: another thread or process reset this window first.
            with contextlib.suppress(IdempotencyConflict):
                self.ledger.post(
                    legs,
                    kind="proxy-reset",
                    memo=f"budget period {window} of {account}",
                    idempotency_key=f"proxy-reset:{account}:{window}",
                    at=moment,
                )
        with self._lock:
            if self._reset_window.get(account) != window:  # the first to finish; a late one
                self._reset_window[account] = window  # must not drop what requests have
                self._available.pop(account, None)  # done since: re-read on next use

    def reserve(self, account: str, amount: int, memo: str = "") -> Reservation:
        """Move ``amount`` micro-dollars from the account to ``proxy:pending``.

        Raises:
            BudgetRefusedError: the account cannot cover it (nothing moved).
        """
        if amount <= 0:
            return Reservation(account, 0, None)
        if self.in_memory:
            return self._reserve_in_memory(account, amount)
        name = key_account(account)
        try:
            txn = self.ledger.transfer(name, PENDING, amount, kind="proxy-reserve", memo=memo)
        except InsufficientFunds as exc:
            raise BudgetRefusedError(account, amount, exc.balance - (exc.floor or 0)) from None
        return Reservation(account, amount, txn.id)

    def _reserve_in_memory(self, account: str, amount: int) -> Reservation:
        with self._lock:
            available = self._available.get(account)
            if available is None:
                # Payments decided in memory but not yet written are taken off the balance (a
                # payment written between the two reads is taken off twice: the safe side).
                unwritten = self._unwritten.get(account, 0)
                available = self._available[account] = self.remaining(account) - unwritten
            free = available - self._reserved.get(account, 0)
            if amount > free:
                raise BudgetRefusedError(account, amount, free)
            self._reserved[account] = self._reserved.get(account, 0) + amount
        return Reservation(account, amount, None)

    def _settle_in_memory(
        self, reservation: Reservation, actual: int, backend: str, memo: str
    ) -> int:
        account = reservation.account
        with self._lock:
            self._reserved[account] = self._reserved.get(account, 0) - reservation.amount
            available = self._available.get(account)
            if available is None:  # a period reset dropped it: the reservation still covers
                paid = min(actual, reservation.amount)
            else:
                free = available - self._reserved[account]
                paid = min(actual, max(free, 0)) if actual > reservation.amount else actual
                self._available[account] = available - paid
            if paid <= 0:
                return 0
            if self.batcher is not None:  # queued under the lock: a re-read flushes it first
                self.batcher.submit(
                    Payment(key_account(account), backend_account(backend), paid, memo)
                )
                return paid
            self._unwritten[account] = self._unwritten.get(account, 0) + paid
        try:
            self.ledger.transfer(
                key_account(account), backend_account(backend), paid, kind="proxy-spend",
                memo=memo,
            )  # fmt: skip
        except InsufficientFunds:
            with self._lock:  # another process spent it: the ledger's floor holds
                self._unwritten[account] -= paid
                self._available.pop(account, None)
            return 0
        with self._lock:
            self._unwritten[account] -= paid
        return paid

    def settle(self, reservation: Reservation, actual: int, backend: str, memo: str = "") -> int:
        """Pay ``actual`` to the backend and refund the rest, in one transaction.

        A backend that reports more usage than was reserved is paid the reservation plus
        whatever the account can still cover; returns the micro-dollars paid.
        """
        actual = max(0, int(actual))
        if self.in_memory:
            return self._settle_in_memory(reservation, actual, backend, memo)
        paid = min(actual, reservation.amount)
        legs: list[Leg] = []
        if paid > 0:
            legs.append(Leg(PENDING, backend_account(backend), paid))
        if reservation.amount > paid:
            legs.append(Leg(PENDING, key_account(reservation.account), reservation.amount - paid))
        if legs:
            self.ledger.post(legs, kind="proxy-settle", memo=memo)
        extra = actual - paid
        if extra > 0:
            try:
                self.ledger.transfer(
                    key_account(reservation.account),
                    backend_account(backend),
                    extra,
                    kind="proxy-overrun",
                    memo=memo,
                )
                paid += extra
            except InsufficientFunds:
                pass  # the budget holds; the overrun stays unpaid (logged by the caller)
        return paid

    def cancel(self, reservation: Reservation, memo: str = "") -> None:
        """Refund a whole reservation (the call failed or was never made)."""
        if self.in_memory:
            with self._lock:
                account = reservation.account
                self._reserved[account] = self._reserved.get(account, 0) - reservation.amount
            return
        if reservation.amount > 0:
            self.ledger.transfer(
                PENDING,
                key_account(reservation.account),
                reservation.amount,
                kind="proxy-refund",
                memo=memo,
            )

    def remaining(self, account: str) -> int:
        """Micro-dollars the account can still spend (its balance above its floor)."""
        if self.batcher is not None:
            self.batcher.flush()
        acct = self.ledger.account(key_account(account))
        floor = acct.floor if acct.floor is not None else 0
        return acct.balance - floor
