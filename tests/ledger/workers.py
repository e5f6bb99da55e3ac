"""Functions run in child processes (``multiprocessing`` spawn) by the concurrency tests.

Each opens its own :class:`Ledger` on the shared URL, draws its operations from its own seeded
generator, and returns counts of what it applied and what was refused.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from tokenomy.ledger import (
    BudgetExceeded,
    HoldStateError,
    InsufficientFunds,
    Ledger,
    Leg,
)

SHARED_KEYS = 150


def shared_request(key_index: int, names: list[str]) -> tuple[str, str, int]:
    """The one request every process makes under the shared key ``key_index``."""
    rng = random.Random(10_000 + key_index)
    debit, credit = rng.sample(names, 2)
    return debit, credit, rng.randint(1, 40)


def random_operations(
    url: str, seed: int, n_ops: int, names: list[str], start: Any
) -> dict[str, int]:
    """``n_ops`` random operations; returns counts (``applied`` = txns this process created)."""
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    open_holds: list[int] = []
    with Ledger.open(url, create=False) as ledger:
        start.wait()
        for i in range(n_ops):
            at = float(i)
            if i % 25 == 0:
                open_holds = [h.id for h in ledger.holds(status="held")]
            roll = rng.random()
            try:
                if roll < 0.30:
                    debit, credit = rng.sample(names, 2)
                    ledger.transfer(debit, credit, rng.randint(1, 60), at=at)
                    counts["transfer"] += 1
                elif roll < 0.40:
                    a, b, c = rng.sample(names, 3)
                    amount = rng.randint(1, 40)
                    ledger.post(
                        [Leg(a, b, amount), Leg(b, c, amount), Leg(c, a, rng.randint(1, amount))],
                        kind="cycle",
                        at=at,
                    )
                    counts["cycle"] += 1
                elif roll < 0.55:
                    payer, payee = rng.sample(names, 2)
                    hold = ledger.hold(payer, payee, rng.randint(1, 50), at=at)
                    assert not hold.replayed
                    open_holds.append(hold.id)
                    counts["hold"] += 1
                elif roll < 0.72:
                    if not open_holds:
                        counts["no_hold"] += 1
                        continue
                    hold_id = open_holds.pop(rng.randrange(len(open_holds)))
                    if rng.random() < 0.5:
                        ledger.settle(hold_id, at=at)
                        counts["settle"] += 1
                    else:
                        ledger.release(hold_id, at=at)
                        counts["release"] += 1
                elif roll < 0.84:
                    debit, credit = rng.sample(names, 2)
                    key = f"own-{seed}-{i}"
                    amount = rng.randint(1, 30)
                    first = ledger.transfer(debit, credit, amount, idempotency_key=key, at=at)
                    again = ledger.transfer(debit, credit, amount, idempotency_key=key, at=at)
                    assert again == first and again.replayed and not first.replayed
                    counts["keyed"] += 1
                    counts["replayed"] += 1
                elif roll < 0.94:
                    k = rng.randrange(SHARED_KEYS)
                    debit, credit, amount = shared_request(k, names)
                    txn = ledger.transfer(
                        debit, credit, amount, idempotency_key=f"shared-{k}", at=at
                    )
                    counts["shared_replayed" if txn.replayed else "shared_applied"] += 1
                else:
                    name = rng.choice(names)
                    if rng.random() < 0.6:
                        ledger.fund(name, rng.randint(1, 80), at=at)
                        counts["fund"] += 1
                    else:
                        ledger.withdraw(name, rng.randint(1, 40), at=at)
                        counts["withdraw"] += 1
            except InsufficientFunds:
                counts["refused_funds"] += 1
            except BudgetExceeded:
                counts["refused_budget"] += 1
            except HoldStateError:
                counts["hold_race_lost"] += 1
    applied_kinds = (
        "transfer",
        "cycle",
        "hold",
        "settle",
        "release",
        "keyed",
        "shared_applied",
        "fund",
        "withdraw",
    )
    counts["applied"] = sum(counts[k] for k in applied_kinds)
    return dict(counts)


def post_keys(url: str, keys: list[str], names: list[str], start: Any) -> dict[str, int]:
    """Post one transfer per key (same request for a key in every process), all at once."""
    applied = replayed = 0
    with Ledger.open(url, create=False) as ledger:
        start.wait()
        for key in keys:
            txn = ledger.transfer(names[0], names[1], 7, memo=key, idempotency_key=key)
            if txn.replayed:
                replayed += 1
            else:
                applied += 1
    return {"applied": applied, "replayed": replayed}


def close_holds(url: str, hold_ids: list[int], action: str, start: Any) -> list[int]:
    """Settle (or release) every hold it can; returns the ids it closed."""
    closed = []
    with Ledger.open(url, create=False) as ledger:
        start.wait()
        for hold_id in hold_ids:
            try:
                if action == "settle":
                    ledger.settle(hold_id)
                else:
                    ledger.release(hold_id)
                closed.append(hold_id)
            except HoldStateError:
                pass
    return closed


def open_ledger(url: str, start: Any) -> int:
    """Open (and create) the ledger at the same moment as other processes."""
    start.wait()
    with Ledger.open(url) as ledger:
        return len(ledger.accounts())


def _child(queue: Any, index: int, fn: Any, args: tuple[Any, ...]) -> None:
    import traceback

    try:
        queue.put((index, True, fn(*args)))
    except BaseException:
        queue.put((index, False, traceback.format_exc()))


def run_processes(fn: Any, arg_lists: list[tuple[Any, ...]], *, timeout: float = 300) -> list[Any]:
    """Run ``fn(*args, start)`` in one spawned process per ``args``, started together.

    ``start`` is a barrier the functions wait on once their ledger is open, so that they really
    run at the same time. Returns the results in order; a child's exception fails the caller
    with the child's traceback.
    """
    import multiprocessing
    import queue as queue_module

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(len(arg_lists))
    results: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(results, i, fn, (*args, start)))
        for i, args in enumerate(arg_lists)
    ]
    for p in procs:
        p.start()
    out: dict[int, Any] = {}
    errors: list[str] = []
    try:
        for _ in procs:
            try:
                index, ok, value = results.get(timeout=timeout)
            except queue_module.Empty:
                errors.append(f"no result within {timeout} s")
                break
            if ok:
                out[index] = value
            else:
                errors.append(value)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
            p.close()
        results.close()
        results.join_thread()
    if errors:
        raise AssertionError("a child process failed:\n" + "\n".join(errors))
    return [out[i] for i in range(len(arg_lists))]
