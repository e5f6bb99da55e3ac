"""Four processes hammer one ledger with 10,000 random operations; nothing is lost or doubled.

Operations: transfers, three-leg cycles, holds, settles and releases (of any process's holds,
so processes race to close the same hold), transfers retried under their own idempotency key,
transfers under keys shared by all processes, funding and withdrawals. Accounts start with small
balances and small floors, and half of them share a group budget, so overdrafts and budget
breaches really happen and are refused. Afterwards the audit must pass, and the ledger must hold
exactly the transactions the processes report having applied.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from tests.ledger.conftest import make_accounts
from tests.ledger.workers import open_ledger, random_operations, run_processes
from tokenomy.ledger import Ledger
from tokenomy.ledger.schema import holds, txns

PROCESSES = 4
OPERATIONS = 10_000


def test_random_concurrent_operations_conserve_everything(ledger_url):
    names = [f"acct{i:02d}:money" for i in range(20)]
    with Ledger.open(ledger_url) as ledger:
        make_accounts(ledger, names[:10], fund=150, floor=-20, group="team")
        make_accounts(ledger, names[10:], fund=150, floor=0)
        ledger.set_budget("team", currency="money", limit=1_500, period=40, group="team")
        setup_txns = len(ledger.transactions())
    per_process = OPERATIONS // PROCESSES
    started = time.perf_counter()
    results = run_processes(
        random_operations,
        [(ledger_url, 1_000 + p, per_process, names) for p in range(PROCESSES)],
    )
    elapsed = time.perf_counter() - started
    total = {key: sum(r.get(key, 0) for r in results) for key in set().union(*results)}
    attempted = total["applied"] + sum(
        total.get(k, 0) for k in ("refused_funds", "refused_budget", "hold_race_lost", "no_hold")
    )
    attempted += total.get("shared_replayed", 0)
    assert attempted == OPERATIONS
    # Refusals really happened (the floors and the budget bite).
    assert total["refused_funds"] > 0 and total["refused_budget"] > 0

    with Ledger.open(ledger_url, create=False) as ledger:
        report = ledger.audit()
        assert report.ok, report.violations
        assert report.imbalance == 0
        with ledger.engine.connect() as conn:
            n_txns = conn.execute(select(func.count()).select_from(txns)).scalar_one()
            statuses = dict(
                conn.execute(select(holds.c.status, func.count()).group_by(holds.c.status)).all()
            )
            shared = conn.execute(
                select(func.count())
                .select_from(txns)
                .where(txns.c.idempotency_key.like("shared-%"))
            ).scalar_one()
        # No lost and no duplicated work: every applied operation is one txn, and vice versa.
        assert n_txns == setup_txns + total["applied"]
        assert sum(statuses.values()) == total["hold"]
        assert statuses.get("settled", 0) == total.get("settle", 0)
        assert statuses.get("released", 0) == total.get("release", 0)
        assert shared == total.get("shared_applied", 0)
        assert ledger.balance("escrow:money") == sum(h.amount for h in ledger.holds("held"))
        for account in ledger.accounts():
            assert account.floor is None or account.balance >= account.floor
    print(f"\n{OPERATIONS} operations from {PROCESSES} processes in {elapsed:.1f} s: {total}")


def test_processes_creating_one_ledger_at_once(ledger_url):
    counts = run_processes(open_ledger, [(ledger_url,)] * 3)
    assert counts == [4, 4, 4]
    with Ledger.open(ledger_url, create=False) as ledger:
        assert ledger.audit().ok
