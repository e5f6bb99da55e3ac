"""Batched settlement: payments decided in memory, written by the settlement thread in batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import KEY, STRONG, backend_entry, config_dict, running_proxy, spend_mode
from tokenomy.errors import DataError
from tokenomy.ledger import Ledger
from tokenomy.proxy import parse_config
from tokenomy.proxy.settlement import Payment
from tokenomy.proxy.spend import BudgetRefusedError, Spend, backend_account, key_account


def _config(tmp_path: Path, limit: float, **extra: Any) -> Any:
    data = config_dict(
        tmp_path,
        [backend_entry("strong", "http://127.0.0.1:9/v1", **STRONG)],
        budgets=[{"account": "team-a", "limit": limit}],
        **extra,
    )
    return parse_config(data, "test.yaml")


def test_payments_are_written_in_batches_and_flushed_on_close(tmp_path: Path) -> None:
    config = _config(tmp_path, 1.0, settle_interval_ms=200, **spend_mode("batched"))
    n = 60
    with Ledger.open(config.ledger_url) as ledger:
        spend = Spend(ledger, config)
        spend.setup()
        spend.reset_if_due("team-a")
        for i in range(n):
            reservation = spend.reserve("team-a", 2_000)
            assert spend.settle(reservation, 1_000 + i, "strong", f"r{i}") == 1_000 + i
        spend.close()  # nothing was flushed by hand: close writes what is queued
        paid = sum(1_000 + i for i in range(n))
        assert ledger.balance(backend_account("strong")) == paid
        assert ledger.balance(key_account("team-a")) == 1_000_000 - paid
        writes = [t for t in ledger.transactions() if t.kind == "proxy-spend"]
        assert 1 <= len(writes) < n  # grouped: one transfer per batch, not per request
        assert sum(leg.amount for t in writes for leg in t.legs) == paid
        assert sum(int(t.memo.split()[0]) for t in writes) == n  # "<count> requests: a .. b"
        assert ledger.audit().ok


def test_a_payment_another_process_spent_first_is_refused_and_reported(tmp_path: Path) -> None:
    config = _config(tmp_path, 0.01, **spend_mode("batched"))
    other = _config(tmp_path, 0.01, **spend_mode("ledger"))
    refused: list[Payment] = []
    with Ledger.open(config.ledger_url) as ledger:
        mine = Spend(ledger, config, on_failure=refused.append)
        mine.setup()
        mine.reset_if_due("team-a")
        theirs = Spend(ledger, other)
        reservation = mine.reserve("team-a", 8_000)  # in memory: the ledger does not see it
        theirs.settle(theirs.reserve("team-a", 9_000), 9_000, "strong")  # spends it first
        assert mine.settle(reservation, 8_000, "strong", "r1") == 8_000  # decided in memory
        mine.flush()
        assert [p.request_id for p in refused] == ["r1"]
        assert ledger.balance(key_account("team-a")) == 1_000  # never below its floor
        assert ledger.balance(backend_account("strong")) == 9_000
        # the balance is re-read from the ledger: the next request sees what is really left
        with pytest.raises(BudgetRefusedError, match="exhausted"):
            mine.reserve("team-a", 2_000)
        mine.close()
        assert ledger.audit().ok


def test_batched_settlement_needs_memory_reservations(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        _config(tmp_path, 1.0, reservations="ledger", settlement="batched")
    assert err.value.field == "settlement"
    assert "memory" in str(err.value)


def test_wrong_method_and_oversized_body(tmp_path: Path, backends: dict[str, str]) -> None:
    data = config_dict(tmp_path, [backend_entry("strong", backends["strong"], **STRONG)])
    with running_proxy(data) as (url, _service):
        auth = {"authorization": f"Bearer {KEY}"}
        got = httpx.get(url + "/v1/chat/completions", headers=auth)
        assert got.status_code == 405
        assert got.json()["error"]["code"] == "method_not_allowed"
        big = {"model": "tokenomy-auto", "messages": [{"role": "user", "content": "x" * 9_000_000}]}
        posted = httpx.post(url + "/v1/chat/completions", headers=auth, json=big, timeout=30)
        assert posted.status_code == 413
        assert "request body over" in posted.json()["error"]["message"]
        bad = httpx.post(url + "/v1/chat/completions", headers=auth, content=b"{not json")
        assert bad.status_code == 400
