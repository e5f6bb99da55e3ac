"""Checks of the values a caller hands the ledger (amounts, names, legs, times, accounts)."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import time
from collections.abc import Sequence
from typing import Any

from tokenomy.ledger.errors import (
    InvalidAmount,
    LedgerConfigError,
    UnknownCurrency,
)
from tokenomy.ledger.records import MAX_AMOUNT, MAX_NAME, Leg
from tokenomy.ledger.schema import (
    ACCOUNT_KINDS,
    CURRENCIES,
)


def check_amount(value: object, what: str) -> int:
    """An amount: an int (not a bool, not a float) from 1 to MAX_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidAmount(what, value)
    amount = int(value)
    if amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidAmount(what, value, f"an int from 1 to {MAX_AMOUNT}")
    return amount


def check_legs(legs: Sequence[Leg | tuple[str, str, int]]) -> list[Leg]:
    """A non-empty list of legs, each (debit, credit, amount) with two distinct account names."""
    if isinstance(legs, (str, bytes)) or not isinstance(legs, Sequence) or not legs:
        raise LedgerConfigError(f"legs: got {legs!r}; expected a non-empty list of Leg")
    checked: list[Leg] = []
    for i, leg in enumerate(legs):
        if not isinstance(leg, tuple) or len(leg) != 3:
            raise LedgerConfigError(f"legs[{i}]: got {leg!r}; expected Leg(debit, credit, amount)")
        debit, credit, amount = leg
        for role, account in (("debit", debit), ("credit", credit)):
            if not isinstance(account, str) or not account:
                raise LedgerConfigError(
                    f"legs[{i}].{role}: got {account!r}; expected an account name"
                )
        if debit == credit:
            raise LedgerConfigError(
                f"legs[{i}]: debit and credit are both '{debit}'; expected two accounts"
            )
        checked.append(Leg(debit, credit, check_amount(amount, f"legs[{i}].amount")))
    return checked


def check_name(value: object, what: str) -> str:
    """A non-empty name of at most MAX_NAME characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise LedgerConfigError(
            f"{what}: got {value!r}; expected a non-empty str of at most {MAX_NAME} characters"
        )
    return value


def check_memo(value: object) -> str:
    """A memo: any str."""
    if not isinstance(value, str):
        raise LedgerConfigError(f"memo: got {value!r}; expected a str")
    return value


def check_key(value: object) -> str | None:
    """An idempotency key: None or a non-empty name."""
    if value is None:
        return None
    return check_name(value, "idempotency_key")


def check_at(value: object) -> float:
    """A time in seconds on the caller's clock (default: now); finite."""
    if value is None:
        return time.time()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LedgerConfigError(f"at: got {value!r}; expected seconds as a float")
    moment = float(value)
    if not math.isfinite(moment):
        raise LedgerConfigError(f"at: got {value!r}; expected a finite number of seconds")
    return moment


def check_limit(value: object) -> int:
    """A budget limit: an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LedgerConfigError(f"limit: got {value!r}; expected an int >= 0")
    return value


def check_currency(currency: object) -> str:
    """One of the ledger's currencies (suggests the nearest otherwise)."""
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise UnknownCurrency(str(currency), CURRENCIES)
    return currency


def account_values(
    name: object,
    kind: object,
    currency: object,
    floor: object,
    owner: object,
    group: object,
) -> dict[str, Any]:
    """The row of a new account, checked: name, kind, currency, floor, owner, group."""
    name = check_name(name, "account name")
    if not isinstance(kind, str) or kind not in ACCOUNT_KINDS:
        raise LedgerConfigError(
            f"account '{name}': kind {kind!r}; expected one of {', '.join(ACCOUNT_KINDS)}"
        )
    check_currency(currency)
    if floor is None:
        if kind != "external":
            raise LedgerConfigError(
                f"account '{name}': floor None (unbounded below) is only allowed for external "
                "accounts; give an int floor"
            )
    elif isinstance(floor, bool) or not isinstance(floor, numbers.Integral):
        raise LedgerConfigError(
            f"account '{name}': floor {floor!r} ({type(floor).__name__}); expected an int"
        )
    elif abs(int(floor)) > MAX_AMOUNT:
        raise LedgerConfigError(
            f"account '{name}': floor {floor}; expected at most {MAX_AMOUNT} in magnitude"
        )
    if floor is not None and int(floor) > 0:
        raise LedgerConfigError(
            f"account '{name}': floor {floor}; expected <= 0 (a new account starts at 0)"
        )
    for what, value in (("owner", owner), ("group", group)):
        if value is not None:
            check_name(value, f"account '{name}' {what}")
    return {
        "name": name,
        "kind": kind,
        "currency": currency,
        "floor": None if floor is None else int(floor),
        "owner": owner,
        "group_name": group,
        "balance": 0,
        "created_at": time.time(),
    }


def request_hash(
    kind: str, legs: Sequence[Leg], memo: str, *, extra: dict[str, Any] | None = None
) -> str:
    """What a retry with the same idempotency key must match: kind, legs, memo (and extra)."""
    payload = {
        "kind": kind,
        "legs": [[leg.debit, leg.credit, int(leg.amount)] for leg in legs],
        "memo": memo,
        "extra": extra or {},
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
