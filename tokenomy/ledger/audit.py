"""The audit: recompute the ledger from its journal and list every inconsistency.

The journal is the record; everything else (cached balances, hold states, budget usage) is
derived from it and must agree with it. :func:`audit_connection` reads one consistent snapshot
and checks:

- every account's cached ``balance`` equals its credits minus its debits in the journal;
- per currency, the recomputed balances sum to 0 (conservation: no money or token created or
  lost), and so do the cached ones;
- every recomputed balance is at or above the account's floor;
- every leg moves a positive amount between two different accounts of the leg's currency;
- no transaction is without legs;
- each currency's escrow account holds exactly the amounts of the holds still ``held``;
- every hold was opened by a txn with the leg payer → escrow, and every settled (released) hold
  was closed by a txn with the leg escrow → payee (payer); an open hold has no closing txn;
- every budget's usage rows equal the outflow recomputed from the journal, in every window.

Each violation is one readable sentence naming the account, hold, txn or budget.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, exists, func, select

from tokenomy.ledger.budgets import usage_from_journal
from tokenomy.ledger.schema import (
    CURRENCIES,
    HOLD_STATUSES,
    accounts,
    budget_usage,
    budgets,
    holds,
    journal,
    txns,
)

MAX_PER_CHECK = 50
"""Violations listed per check; further ones are counted in one closing line."""


@dataclass(frozen=True)
class AuditReport:
    """The outcome of an audit.

    Attributes:
        ok: True when there is no violation.
        accounts: number of accounts.
        transfers: number of journal legs.
        imbalance: max over currencies of |sum of balances recomputed from the journal|.
        violations: one sentence per inconsistency found.
    """

    ok: bool
    accounts: int
    transfers: int
    imbalance: int
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "accounts", "transfers", "imbalance", "violations"}``."""
        return {
            "ok": self.ok,
            "accounts": self.accounts,
            "transfers": self.transfers,
            "imbalance": self.imbalance,
            "violations": list(self.violations),
        }


class _Violations:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, check: str, line: str) -> None:
        self.counts[check] += 1
        if self.counts[check] <= MAX_PER_CHECK:
            self.lines.append(line)

    def finish(self) -> list[str]:
        for check, count in self.counts.items():
            if count > MAX_PER_CHECK:
                self.lines.append(f"... and {count - MAX_PER_CHECK} more {check} violations")
        return self.lines


def audit_connection(conn: Connection) -> AuditReport:
    """Audit the ledger through ``conn`` (which should hold a consistent snapshot)."""
    found = _Violations()
    rows = conn.execute(
        select(
            accounts.c.id,
            accounts.c.name,
            accounts.c.currency,
            accounts.c.floor,
            accounts.c.balance,
        ).order_by(accounts.c.id)
    ).all()
    name = {r.id: r.name for r in rows}
    currency_of = {r.id: r.currency for r in rows}

    recomputed = _recomputed_balances(conn)
    sums: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
    cached_sums: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
    for r in rows:
        balance = recomputed.get(r.id, 0)
        sums[r.currency] = sums.get(r.currency, 0) + balance
        cached_sums[r.currency] = cached_sums.get(r.currency, 0) + int(r.balance)
        if int(r.balance) != balance:
            found.add(
                "balance",
                f"account '{r.name}': cached balance {int(r.balance)} differs from "
                f"{balance} recomputed from the journal",
            )
        if r.floor is not None and balance < int(r.floor):
            found.add(
                "floor",
                f"account '{r.name}': balance {balance} is below its floor {int(r.floor)}",
            )
    for currency, total in sums.items():
        if total != 0:
            found.add(
                "conservation",
                f"currency '{currency}': balances recomputed from the journal sum to {total}, "
                "expected 0",
            )
    for currency, total in cached_sums.items():
        if total != 0:
            found.add(
                "conservation",
                f"currency '{currency}': cached balances sum to {total}, expected 0",
            )
    imbalance = max((abs(total) for total in sums.values()), default=0)

    _check_legs(conn, name, currency_of, found)
    _check_holds(conn, name, recomputed, found)
    _check_budgets(conn, found)

    transfers = int(conn.execute(select(func.count()).select_from(journal)).scalar_one())
    violations = found.finish()
    return AuditReport(
        ok=not violations,
        accounts=len(rows),
        transfers=transfers,
        imbalance=imbalance,
        violations=violations,
    )


def _recomputed_balances(conn: Connection) -> dict[int, int]:
    balance: dict[int, int] = defaultdict(int)
    credit_sums = select(journal.c.credit_account, func.sum(journal.c.amount)).group_by(
        journal.c.credit_account
    )
    for account, total in conn.execute(credit_sums):
        balance[int(account)] += int(total)
    debit_sums = select(journal.c.debit_account, func.sum(journal.c.amount)).group_by(
        journal.c.debit_account
    )
    for account, total in conn.execute(debit_sums):
        balance[int(account)] -= int(total)
    return dict(balance)


def _check_legs(
    conn: Connection, name: dict[int, str], currency_of: dict[int, str], found: _Violations
) -> None:
    debit, credit = accounts.alias("debit"), accounts.alias("credit")
    bad_legs = (
        select(
            journal.c.id,
            journal.c.txn,
            journal.c.debit_account,
            journal.c.credit_account,
            journal.c.amount,
            journal.c.currency,
        )
        .join(debit, debit.c.id == journal.c.debit_account)
        .join(credit, credit.c.id == journal.c.credit_account)
        .where(
            (journal.c.amount <= 0)
            | (journal.c.debit_account == journal.c.credit_account)
            | (debit.c.currency != journal.c.currency)
            | (credit.c.currency != journal.c.currency)
        )
        .order_by(journal.c.id)
    )
    for leg in conn.execute(bad_legs):
        source = name.get(leg.debit_account, f"#{leg.debit_account}")
        target = name.get(leg.credit_account, f"#{leg.credit_account}")
        found.add(
            "leg",
            f"journal leg {leg.id} of txn {leg.txn}: {leg.amount} {leg.currency} from "
            f"'{source}' ({currency_of.get(leg.debit_account)}) to '{target}' "
            f"({currency_of.get(leg.credit_account)}) is not a positive amount between two "
            "different accounts of its currency",
        )
    empty = select(txns.c.id).where(~exists().where(journal.c.txn == txns.c.id))
    for (txn_id,) in conn.execute(empty.order_by(txns.c.id)):
        found.add("txn", f"txn {txn_id} has no legs in the journal")


def _check_holds(
    conn: Connection, name: dict[int, str], recomputed: dict[int, int], found: _Violations
) -> None:
    escrow_ids = {
        r.currency: r.id
        for r in conn.execute(
            select(accounts.c.id, accounts.c.currency).where(
                accounts.c.name.in_([f"escrow:{c}" for c in CURRENCIES])
            )
        )
    }
    held: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
    legs: dict[int, set[tuple[int, int, int]]] = defaultdict(set)
    hold_rows = conn.execute(select(holds).order_by(holds.c.id)).all()
    txn_ids = {r.hold_txn for r in hold_rows} | {
        r.close_txn for r in hold_rows if r.close_txn is not None
    }
    if txn_ids:
        leg_rows = conn.execute(
            select(
                journal.c.txn, journal.c.debit_account, journal.c.credit_account, journal.c.amount
            ).where(journal.c.txn.in_(sorted(txn_ids)))
        )
        for leg in leg_rows:
            legs[int(leg.txn)].add(
                (int(leg.debit_account), int(leg.credit_account), int(leg.amount))
            )
    for h in hold_rows:
        escrow = escrow_ids.get(h.currency)
        amount = int(h.amount)
        if h.status not in HOLD_STATUSES:
            found.add("hold", f"hold {h.id}: unknown status '{h.status}'")
            continue
        if (h.payer, escrow, amount) not in legs.get(h.hold_txn, set()):
            found.add(
                "hold",
                f"hold {h.id}: its txn {h.hold_txn} has no leg of {amount} from "
                f"'{name.get(h.payer)}' to escrow",
            )
        if h.status == "held":
            held[h.currency] = held.get(h.currency, 0) + amount
            if h.close_txn is not None:
                found.add("hold", f"hold {h.id} is held but has a closing txn {h.close_txn}")
            continue
        target = h.payee if h.status == "settled" else h.payer
        if h.close_txn is None:
            found.add("hold", f"hold {h.id} is {h.status} but has no closing txn")
        elif (escrow, target, amount) not in legs.get(h.close_txn, set()):
            found.add(
                "hold",
                f"hold {h.id} is {h.status} but its closing txn {h.close_txn} has no leg of "
                f"{amount} from escrow to '{name.get(target)}'",
            )
    for currency, escrow in escrow_ids.items():
        balance = recomputed.get(escrow, 0)
        if balance != held.get(currency, 0):
            found.add(
                "escrow",
                f"account 'escrow:{currency}': balance {balance} differs from the "
                f"{held.get(currency, 0)} of open holds in {currency}",
            )


def _check_budgets(conn: Connection, found: _Violations) -> None:
    stored: dict[int, dict[int, int]] = defaultdict(dict)
    for row in conn.execute(select(budget_usage)):
        if int(row.spent) != 0:
            stored[int(row.budget)][int(row.window_index)] = int(row.spent)
    for budget in conn.execute(select(budgets).order_by(budgets.c.id)).all():
        expected = usage_from_journal(conn, budget)
        have = stored.get(int(budget.id), {})
        for window in sorted(set(expected) | set(have)):
            if expected.get(window, 0) != have.get(window, 0):
                found.add(
                    "budget",
                    f"budget '{budget.name}': usage {have.get(window, 0)} in window {window} "
                    f"differs from {expected.get(window, 0)} recomputed from the journal",
                )
