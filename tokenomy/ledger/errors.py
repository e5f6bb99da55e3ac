"""Errors raised by the ledger.

Every one derives from :class:`LedgerError` (itself a :class:`~tokenomy.errors.TokenomyError`), so
the command line turns each into one red line. The tree::

    LedgerError
    ├── LedgerConfigError    bad URL, missing database file, bad account kind/floor, bad period
    │   ├── InvalidAmount    an amount that is not a positive int (floats and bools refused)
    │   └── UnknownCurrency  a currency other than "money" and "tokens"
    ├── UnknownAccount       no account of that name
    ├── UnknownHold          no hold with that id
    ├── UnknownBudget        no budget of that name
    ├── DuplicateAccount     the name is taken (by a different account, for ensure_account)
    ├── CurrencyMismatch     a leg between accounts of two currencies
    ├── InsufficientFunds    a debit would take an account below its floor
    ├── BudgetExceeded       a debit would take a budget's outflow in a window above its limit
    ├── HoldStateError       settling or releasing a hold that is not "held"
    └── IdempotencyConflict  an idempotency key reused for a different request

The names follow the ledger's published API (no ``Error`` suffix), hence the ``noqa: N818``.

Refusals (insufficient funds, budget exceeded, hold state, idempotency conflict) change nothing:
the transaction that raised them is rolled back as a whole.
"""

from __future__ import annotations

from tokenomy.errors import ConfigError, TokenomyError, UnknownNameError


class LedgerError(TokenomyError):
    """Base class of every error the ledger raises on purpose."""


class LedgerConfigError(LedgerError, ConfigError):
    """A setting or argument is invalid: a database URL, an account kind, a floor, a period."""


class InvalidAmount(LedgerConfigError):  # noqa: N818 (names fixed by the API)
    """An amount is not a positive integer (floats, bools, zero and negatives are refused)."""

    def __init__(self, what: str, value: object, expected: str = "a positive int") -> None:
        self.what = what
        self.value = value
        super().__init__(f"{what}: got {value!r} ({type(value).__name__}); expected {expected}.")


class UnknownCurrency(LedgerConfigError, UnknownNameError):  # noqa: N818 (names fixed by the API)
    """A currency is not one of the ledger's currencies."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        UnknownNameError.__init__(self, "currency", name, known)


class UnknownAccount(LedgerError):  # noqa: N818 (names fixed by the API)
    """No account has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown account '{name}'; create it first (create_account).")


class UnknownHold(LedgerError):  # noqa: N818 (names fixed by the API)
    """No hold has this id."""

    def __init__(self, hold_id: object) -> None:
        self.hold_id = hold_id
        super().__init__(f"unknown hold {hold_id!r}.")


class UnknownBudget(LedgerError):  # noqa: N818 (names fixed by the API)
    """No budget has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown budget '{name}'.")


class DuplicateAccount(LedgerError):  # noqa: N818 (names fixed by the API)
    """An account of this name already exists (with different settings, for ensure_account)."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        tail = f": {detail}" if detail else ""
        super().__init__(f"account '{name}' already exists{tail}.")


class CurrencyMismatch(LedgerError):  # noqa: N818 (names fixed by the API)
    """The two accounts of a leg (or an account and a budget) hold different currencies."""

    def __init__(self, debit: str, debit_currency: str, credit: str, credit_currency: str) -> None:
        self.debit = debit
        self.credit = credit
        super().__init__(
            f"cannot move an amount from '{debit}' ({debit_currency}) to '{credit}' "
            f"({credit_currency}): both accounts of a leg must hold the same currency."
        )


class InsufficientFunds(LedgerError):  # noqa: N818 (names fixed by the API)
    """A debit would take an account below its floor; nothing was changed."""

    def __init__(self, account: str, balance: int, floor: int | None, requested: int) -> None:
        self.account = account
        self.balance = balance
        self.floor = floor
        self.requested = requested
        super().__init__(
            f"insufficient funds in '{account}': balance {balance}, floor {floor}, "
            f"requested debit {requested} would leave {balance - requested}."
        )


class BudgetExceeded(LedgerError):  # noqa: N818 (names fixed by the API)
    """A debit would take a budget's outflow in the current window above its limit."""

    def __init__(
        self,
        budget: str,
        limit: int,
        spent: int,
        requested: int,
        period: str,
        window_start: float | None,
        window_end: float | None,
    ) -> None:
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.requested = requested
        self.period = period
        self.window_start = window_start
        self.window_end = window_end
        window = (
            "for all time"
            if window_start is None
            else f"in the {period} window [{window_start:.0f} s, {window_end:.0f} s)"
        )
        super().__init__(
            f"budget '{budget}' exceeded {window}: limit {limit}, spent {spent}, "
            f"requested {requested} (remaining {max(limit - spent, 0)})."
        )


class HoldStateError(LedgerError):
    """A hold is not in the state an operation needs (settling a released hold, ...)."""

    def __init__(self, hold_id: int, status: str, action: str) -> None:
        self.hold_id = hold_id
        self.status = status
        self.action = action
        super().__init__(f"cannot {action} hold {hold_id}: it is already {status}.")


class IdempotencyConflict(LedgerError):  # noqa: N818 (names fixed by the API)
    """An idempotency key was reused with a request different from the one it first named."""

    def __init__(self, key: str, txn_id: int) -> None:
        self.key = key
        self.txn_id = txn_id
        super().__init__(
            f"idempotency key '{key}' was already used by transaction {txn_id} for a different "
            "request; use a new key for a new request."
        )
