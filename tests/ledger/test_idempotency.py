"""Idempotency keys: a retry applies nothing, a different request under a used key is refused,
and two processes posting the same keys at once apply each exactly once."""

from __future__ import annotations

import pytest

from tests.ledger.conftest import make_accounts, snapshot
from tests.ledger.workers import post_keys, run_processes
from tokenomy.ledger import IdempotencyConflict, Leg


def test_retry_with_the_same_key_applies_once(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=100)
    first = ledger.transfer("a:money", "b:money", 30, idempotency_key="k1", at=1.0)
    after_first = snapshot(ledger)
    retry = ledger.transfer("a:money", "b:money", 30, idempotency_key="k1", at=99.0)
    assert retry == first and retry.replayed and not first.replayed
    assert retry.at == 1.0 and retry.idempotency_key == "k1"
    assert snapshot(ledger) == after_first
    assert ledger.balance("a:money") == 70


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 31},
        {"memo": "other"},
        {"kind": "refund"},
        {"credit": "c:money"},
    ],
)
def test_same_key_different_request_is_a_conflict(ledger, change):
    make_accounts(ledger, ["a:money", "b:money", "c:money"], fund=100)
    request = {"debit": "a:money", "credit": "b:money", "amount": 30, "memo": "", "kind": "pay"}
    first = ledger.transfer(**request, idempotency_key="k1")
    before = snapshot(ledger)
    with pytest.raises(
        IdempotencyConflict, match=f"'k1' was already used by transaction {first.id}"
    ):
        ledger.transfer(**{**request, **change}, idempotency_key="k1")
    assert snapshot(ledger) == before


def test_keys_across_operations(ledger):
    make_accounts(ledger, ["a:money", "b:money"], fund=100)
    funded = ledger.fund("a:money", 5, idempotency_key="f")
    assert ledger.fund("a:money", 5, idempotency_key="f") == funded
    hold = ledger.hold("a:money", "b:money", 20, idempotency_key="h", memo="order 1")
    again = ledger.hold("a:money", "b:money", 20, idempotency_key="h", memo="order 1")
    assert again == hold and again.replayed and not hold.replayed
    assert len(ledger.holds()) == 1 and ledger.balance("escrow:money") == 20
    with pytest.raises(IdempotencyConflict):
        ledger.hold("a:money", "b:money", 21, idempotency_key="h", memo="order 1")
    with pytest.raises(IdempotencyConflict):
        ledger.transfer("a:money", "escrow:money", 20, idempotency_key="h", memo="order 1")
    with pytest.raises(IdempotencyConflict):
        ledger.post([Leg("external:money", "a:money", 5)], kind="fund", idempotency_key="h")
    assert ledger.balance("a:money") == 85


def test_concurrent_posts_with_the_same_keys_apply_once(ledger_url):
    from tokenomy.ledger import Ledger

    keys = [f"order-{i}" for i in range(150)]
    with Ledger.open(ledger_url) as ledger:
        make_accounts(ledger, ["a:money", "b:money"], fund=10_000)
    results = run_processes(post_keys, [(ledger_url, keys, ["a:money", "b:money"])] * 2)
    assert sum(r["applied"] for r in results) == len(keys)
    assert sum(r["replayed"] for r in results) == len(keys)
    with Ledger.open(ledger_url) as ledger:
        assert ledger.balance("b:money") == 10_000 + 7 * len(keys)
        keyed = [t for t in ledger.transactions() if t.idempotency_key is not None]
        assert sorted(t.idempotency_key for t in keyed) == sorted(keys)
        assert ledger.audit().ok
