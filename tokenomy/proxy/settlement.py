"""Batched settlement: the proxy's spend written to the ledger by one background thread.

With ``reservations: memory`` the proxy already decides in memory what each request pays
(against the balance it read from the ledger, minus what requests in flight hold), so the
ledger write of the payment need not hold up the answer. With ``settlement: batched`` each
payment is queued here, and every ``settle_interval_ms`` the queue is written as one ledger
transfer per (account, backend) pair, its memo naming how many requests it covers and the
first and last request ids (each request's own cost is in the request log under its id).

What this trades: spend reaches the ledger up to one interval late, and a proxy killed before a
flush loses that interval's records from the ledger (a clean shutdown flushes everything;
reading an account's balance through the proxy flushes first). Money is still never created or
lost — an unwritten payment simply never left the account — but a restarted proxy would let
that interval's spend be spent again. ``settlement: immediate`` (the default) writes each
payment before the answer is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from tokenomy.ledger import Ledger
from tokenomy.ledger.errors import InsufficientFunds

__all__ = ["Payment", "SettlementBatcher"]


@dataclass(frozen=True)
class Payment:
    """One request's payment waiting to be written."""

    debit: str
    credit: str
    amount: int
    request_id: str


FailureHook = Callable[[Payment], None]


class SettlementBatcher:
    """Queue payments and write them to the ledger in batches from a daemon thread.

    Args:
        ledger: the open ledger (closed by its owner, after :meth:`close`).
        interval_s: how long the writer waits after the first queued payment before writing
            (more payments per transaction under load; at most this much delay).
        on_failure: told about a payment the ledger refused (its account went below its floor
            because another process spent it); the payment is not retried.
    """

    def __init__(
        self, ledger: Ledger, interval_s: float, on_failure: FailureHook | None = None
    ) -> None:
        self.ledger = ledger
        self.interval_s = interval_s
        self.on_failure = on_failure
        self._pending: list[Payment] = []
        self._submitted = 0
        self._written = 0
        self._flush_now = False
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="proxy-settlement", daemon=True)
        self._thread.start()

    def submit(self, payment: Payment) -> None:
        """Queue one payment (returns at once)."""
        if payment.amount <= 0:
            return
        with self._cond:
            if self._closed:
                raise RuntimeError("the settlement writer is closed")
            self._pending.append(payment)
            self._submitted += 1
            if len(self._pending) == 1:  # the writer sleeps until a batch starts
                self._cond.notify_all()

    def flush(self) -> None:
        """Block until every payment queued before this call is in the ledger.

        Raises:
            RuntimeError: the writer stopped on a database error (re-raised from it).
        """
        with self._cond:
            target = self._submitted
            self._flush_now = True
            self._cond.notify_all()
            while self._written < target and self._error is None:
                self._cond.wait(timeout=1.0)
            if self._error is not None:
                raise RuntimeError(f"batched settlement failed: {self._error!r}") from self._error

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"batched settlement failed: {self._error!r}") from self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                if not self._flush_now and not self._closed:
                    self._cond.wait(timeout=self.interval_s)  # let the batch fill
                batch, self._pending = self._pending, []
                self._flush_now = False
            try:
                self._write(batch)
            except BaseException as exc:  # a database error: stop, and say so on flush/close
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._written += len(batch)
                self._cond.notify_all()

    def _write(self, batch: list[Payment]) -> None:
        groups: dict[tuple[str, str], list[Payment]] = {}
        for payment in batch:
            groups.setdefault((payment.debit, payment.credit), []).append(payment)
        for (debit, credit), payments in groups.items():
            total = sum(p.amount for p in payments)
            memo = (
                f"{len(payments)} requests: {payments[0].request_id} .. {payments[-1].request_id}"
            )
            try:
                self.ledger.transfer(debit, credit, total, kind="proxy-spend", memo=memo)
            except InsufficientFunds:
                self._one_by_one(payments)

    def _one_by_one(self, payments: list[Payment]) -> None:
        for p in payments:
            try:
                self.ledger.transfer(
                    p.debit, p.credit, p.amount, kind="proxy-spend", memo=p.request_id
                )
            except InsufficientFunds:
                if self.on_failure is not None:
                    self.on_failure(p)
