"""Fixtures for the ledger tests: a ledger on SQLite (a file) and on PostgreSQL.

PostgreSQL comes from ``tests/postgres.py``: ``TOKENOMY_PG_URL`` or a throwaway local cluster;
without either the PostgreSQL cases are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.postgres import postgres_url
from tokenomy.ledger import Ledger
from tokenomy.ledger.schema import budget_usage, holds, journal, txns

BACKENDS = ["sqlite", "postgresql"]


def sqlite_url(tmp_path: Any, name: str = "ledger.db") -> str:
    return f"sqlite:///{tmp_path / name}"


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Any, tmp_path_factory: Any) -> str:
    """URL of a new, empty database on each backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return postgres_url(tmp_path_factory)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """A new ledger on each backend."""
    with Ledger.open(ledger_url) as opened:
        yield opened


@pytest.fixture
def sqlite_ledger(tmp_path: Any) -> Iterator[Ledger]:
    """A new ledger in a SQLite file (for tests about SQLite itself)."""
    with Ledger.open(sqlite_url(tmp_path)) as opened:
        yield opened


def make_accounts(
    ledger: Ledger,
    names: list[str],
    *,
    currency: str = "money",
    fund: int = 0,
    floor: int = 0,
    group: str | None = None,
    kind: str = "customer",
) -> None:
    """Create accounts (and endow each with ``fund``)."""
    for name in names:
        ledger.create_account(name, kind=kind, currency=currency, floor=floor, group=group)
        if fund:
            ledger.fund(name, fund)


def snapshot(ledger: Ledger) -> dict[str, Any]:
    """Everything a refused operation must leave as it was: balances, rows, usage, holds."""
    with ledger.engine.connect() as conn:
        return {
            "balances": {a.name: a.balance for a in ledger.accounts()},
            "txns": conn.execute(select(func.count()).select_from(txns)).scalar_one(),
            "legs": conn.execute(select(func.count()).select_from(journal)).scalar_one(),
            "usage": sorted(tuple(r) for r in conn.execute(select(budget_usage))),
            "holds": sorted(tuple(r) for r in conn.execute(select(holds))),
        }
