"""The proxy's state: keys, routing table, ledger spend, pacing, metrics and logs.

:func:`open_service` opens the ledger named in the config, creates the proxy's accounts and
yields a :class:`ProxyService`; :func:`tokenomy.proxy.app.create_app` serves it over HTTP.

Prices in force for a request are, field by field, the per-request header
(``X-Tokenomy-Value``, ``X-Tokenomy-Latency-Price``, ``X-Tokenomy-Risk-Price``), else the key's
``prices``, else the config's ``prices``; then, for an account with a paced budget
(``expected_requests`` set), :class:`~tokenomy.allocate.pacing.BudgetPacer` divides ``V, λ, ρ``
by ``1 + μ``, where ``μ``, the price of a budget dollar, rises when the account spends faster
than the even pace ``remaining / remaining requests`` of its period and falls when it lags.
Each period starts a fresh pacer.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from tokenomy.allocate.pacing import BudgetPacer
from tokenomy.ledger import Ledger
from tokenomy.prices import Prices
from tokenomy.proxy.config import ProxyConfig
from tokenomy.proxy.decisions import DecisionLog
from tokenomy.proxy.keys import KeyRing, ProxyKey
from tokenomy.proxy.metrics import ProxyMetrics
from tokenomy.proxy.routing import RoutingTable
from tokenomy.proxy.settlement import Payment
from tokenomy.proxy.spend import Spend

__all__ = ["PRICE_HEADERS", "ProxyService", "open_service"]

PRICE_HEADERS: dict[str, str] = {
    "value": "x-tokenomy-value",
    "latency": "x-tokenomy-latency-price",
    "risk": "x-tokenomy-risk-price",
}
"""Request headers that set ``V``, ``λ`` and ``ρ`` for one request."""


@dataclass
class _Paced:
    window: int
    pacer: BudgetPacer


class ProxyService:
    """Everything a proxy request needs, shared by all requests (thread-safe).

    Args:
        config: the validated configuration.
        ledger: an open ledger (not closed by the service).
        environ: where ``key_env`` and ``api_key_env`` variables are read.
    """

    def __init__(
        self,
        config: ProxyConfig,
        ledger: Ledger,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        import os

        env = os.environ if environ is None else environ
        self.config = config
        self.keys = KeyRing(config, env)
        self.routing = RoutingTable(config)
        self.metrics = ProxyMetrics()
        self.log = DecisionLog(config.decision_log)
        self.spend = Spend(ledger, config, on_failure=self._payment_refused)
        self.spend.setup()
        self.api_keys = {
            b.name: env.get(b.api_key_env, "") if b.api_key_env else "" for b in config.backends
        }
        self._paced: dict[str, _Paced] = {}
        self._lock = threading.Lock()
        self._prefix = uuid.uuid4().hex[:10]
        self._count = 0

    def next_id(self) -> str:
        """A request id unique within this proxy's logs."""
        with self._lock:
            self._count += 1
            return f"px-{self._prefix}-{self._count}"

    def base_prices(self, key: ProxyKey, headers: Mapping[str, str]) -> Prices:
        """``V, λ, ρ`` for a request before pacing (header > key > config).

        Raises:
            ValueError: a price header is not a finite number >= 0 (names the header).
        """
        values: dict[str, float] = {}
        for field, header in PRICE_HEADERS.items():
            raw = headers.get(header)
            if raw is not None:
                try:
                    number = float(raw)
                except ValueError:
                    number = math.nan
                if not math.isfinite(number) or number < 0:
                    raise ValueError(f"header {header}: got {raw!r}; expected a finite number >= 0")
                values[field] = number
                continue
            chosen = getattr(key.config.prices, field)
            if chosen is None:
                chosen = getattr(self.config.prices, field)
            default = 1.0 if field == "value" else 0.0
            values[field] = float(chosen) if chosen is not None else default
        return Prices(values["value"], values["latency"], values["risk"], self.routing.table)

    def prices_in_force(self, account: str, base: Prices, at: float) -> tuple[Prices, float]:
        """The paced prices for ``account`` and the multiplier ``μ`` in force."""
        budget = self.config.budget_of(account)
        if budget is None or budget.expected_requests is None or budget.limit <= 0:
            return base, 0.0
        window = self.spend.window(account, at)
        assert window is not None
        with self._lock:
            paced = self._paced.get(account)
            if paced is None or paced.window != window:
                pacer = BudgetPacer(
                    base, budget.limit, budget.expected_requests, step_size=budget.pacing_step
                )
                paced = self._paced[account] = _Paced(window, pacer)
            paced.pacer.prices = base
            paced.pacer.latency_price = base.latency
            return paced.pacer.prices_in_force(), paced.pacer.mu

    def observe_spend(self, account: str, cost: float, latency: float) -> float | None:
        """Feed a request's realised cost to the account's pacer; returns the new ``μ``."""
        with self._lock:
            paced = self._paced.get(account)
            if paced is None:
                return None
            paced.pacer.observe(cost, latency)
            mu = paced.pacer.mu
        self.metrics.set("budget_price", mu, account=account)
        return mu

    def _payment_refused(self, payment: Payment) -> None:
        """A batched payment the ledger refused (logged; the request stays unpaid)."""
        self.metrics.inc("unpaid_dollars_total", payment.amount / 1e6, account=payment.debit)
        self.log.request({"id": payment.request_id, "settlement": "refused",
                          "unpaid": payment.amount / 1e6})  # fmt: skip

    def close(self) -> None:
        """Write queued payments and close the logs (the ledger belongs to the caller)."""
        try:
            self.spend.close()
        finally:
            self.log.close()


@contextmanager
def open_service(
    config: ProxyConfig, environ: Mapping[str, str] | None = None
) -> Iterator[ProxyService]:
    """Open the config's ledger and yield a ready :class:`ProxyService`; close both after."""
    ledger = Ledger.open(config.ledger_url)
    try:
        service = ProxyService(config, ledger, environ)
        try:
            yield service
        finally:
            service.close()
    finally:
        ledger.close()
