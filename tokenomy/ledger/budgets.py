"""Budget periods: names, lengths in seconds, and the window a moment falls in.

A budget caps an account's (or a group's) outflow within a *window*. Windows are the intervals
``[k·p, (k+1)·p)`` of the caller's clock for a period of ``p`` seconds, numbered ``k =
floor(at / p)``; the period ``"none"`` (stored as 0 seconds) has one window, number 0, for all
time. The same function numbers windows when a post is checked, when a budget is backfilled from
the journal, and when the audit recomputes usage, so the three always agree.

>>> period_seconds("hour"), window_of(7300.0, 3600), window_bounds(2, 3600)
(3600, 2, (7200.0, 10800.0))
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, select

from tokenomy.ledger.errors import LedgerConfigError
from tokenomy.ledger.schema import accounts, journal

PERIODS: dict[str, int] = {
    "none": 0,
    "minute": 60,
    "hour": 3_600,
    "day": 86_400,
    "week": 604_800,
}
"""Named periods and their length in seconds (0: a single window for all time)."""


def period_seconds(period: str | int) -> int:
    """Length of a period in seconds (0 for ``"none"``).

    Args:
        period: ``"none"``, ``"minute"``, ``"hour"``, ``"day"``, ``"week"``, or a whole number of
            seconds > 0.

    Raises:
        LedgerConfigError: an unknown name, a non-positive number, a float or a bool.
    """
    if isinstance(period, bool):
        raise LedgerConfigError(f"budget period: got {period!r}; expected a name or seconds > 0")
    if isinstance(period, str):
        try:
            return PERIODS[period]
        except KeyError:
            raise LedgerConfigError(
                f"budget period: got '{period}'; expected one of {', '.join(PERIODS)} "
                "or a whole number of seconds > 0"
            ) from None
    if isinstance(period, int) and period > 0:
        return period
    raise LedgerConfigError(
        f"budget period: got {period!r} ({type(period).__name__}); "
        "expected a name or a whole number of seconds > 0"
    )


def period_name(seconds: int) -> str:
    """The name of a period length (``"hour"``), or ``"<n>s"`` for other lengths."""
    for name, length in PERIODS.items():
        if length == seconds:
            return name
    return f"{seconds}s"


def window_of(at: float, seconds: int) -> int:
    """Number of the window that the moment ``at`` falls in (always 0 for period ``none``)."""
    if seconds == 0:
        return 0
    return math.floor(at / seconds)


def window_bounds(window: int, seconds: int) -> tuple[float | None, float | None]:
    """``[start, end)`` of a window in seconds; ``(None, None)`` for the period ``none``."""
    if seconds == 0:
        return None, None
    return float(window * seconds), float((window + 1) * seconds)


@dataclass(frozen=True)
class Budget:
    """A cap on the outflow of one account, or of all accounts of a group, per period window.

    Attributes:
        name: unique name.
        currency: ``"money"`` or ``"tokens"``; a group budget covers the group's accounts of
            this currency.
        limit: the most that may flow out (debits, holds included) within one window.
        period_s: window length in seconds; 0 for a single window for all time.
        account: the account capped (None for a group budget).
        group: the group capped (None for an account budget).
    """

    name: str
    currency: str
    limit: int
    period_s: int
    account: str | None
    group: str | None

    @property
    def period(self) -> str:
        """The period's name (``"hour"``) or ``"<n>s"``."""
        return period_name(self.period_s)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "name": self.name,
            "currency": self.currency,
            "limit": self.limit,
            "period": self.period,
            "period_s": self.period_s,
            "account": self.account,
            "group": self.group,
        }


@dataclass(frozen=True)
class BudgetStatus:
    """Where a budget stands in the window containing a moment.

    Attributes:
        name: the budget's name.
        limit: its limit.
        spent: outflow already counted in this window.
        remaining: ``max(limit - spent, 0)``.
        window_start: start of the window in seconds (None for period ``none``).
        window_end: end of the window, exclusive (None for period ``none``).
    """

    name: str
    limit: int
    spent: int
    remaining: int
    window_start: float | None
    window_end: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "name": self.name,
            "limit": self.limit,
            "spent": self.spent,
            "remaining": self.remaining,
            "window_start": self.window_start,
            "window_end": self.window_end,
        }


def covered_accounts(budget: Row[Any]) -> Select[Any]:
    """SELECT of the ids of the accounts a ``ledger_budgets`` row caps."""
    if budget.account is not None:
        return select(accounts.c.id).where(accounts.c.id == budget.account)
    return select(accounts.c.id).where(
        and_(accounts.c.group_name == budget.group_name, accounts.c.currency == budget.currency)
    )


def usage_from_journal(conn: Connection, budget: Row[Any]) -> dict[int, int]:
    """Outflow per window of the accounts a budget caps, recomputed from the journal.

    Every leg debiting a covered account counts (transfers, withdrawals, holds); windows with
    no outflow are absent.
    """
    seconds = int(budget.period_s)
    spent: dict[int, int] = defaultdict(int)
    rows = conn.execute(
        select(journal.c.at, journal.c.amount).where(
            journal.c.debit_account.in_(covered_accounts(budget))
        )
    )
    for at, amount in rows:
        spent[window_of(float(at), seconds)] += int(amount)
    return dict(spent)
