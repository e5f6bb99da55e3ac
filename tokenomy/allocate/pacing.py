"""Budget pacing: learn the price of budget (and of latency) online from a stream of requests.

Maximising ``Σ_x V·q(x)`` subject to a budget ``Σ_x c(x) ≤ B`` and a latency SLA
``mean l(x) ≤ L`` gives, by KKT, multipliers ``μ`` (price of a budget dollar) and ``λ`` (price
of a second); each request then takes ``argmax_m V·q̂_m − (1 + μ)·c_m − λ·l_m − ρ·r_m``.
Dividing by ``1 + μ`` shows these are just the shared prices with ``V``, ``λ``, ``ρ`` scaled by
``1/(1 + μ)`` — so the pacer hands the router a :class:`~tokenomy.prices.Prices` and nothing
else changes.

:class:`BudgetPacer` learns ``μ`` and ``λ`` by dual (sub)gradient steps while the stream runs:
after each request ``μ`` rises when spending runs ahead of the even pace ``remaining budget /
remaining requests`` and falls (not below 0) when it lags; ``λ`` rises while the running mean
latency exceeds the SLA. A request the remaining budget cannot pay for is sent to the cheapest
model that fits (and refused if none does), so the budget is never exceeded. Every step's
multipliers are logged.

>>> import numpy as np
>>> from tokenomy.prices import Prices
>>> pacer = BudgetPacer(Prices(value=1.0), budget=10.0, requests=100)
>>> q, c = np.array([0.6, 0.9]), np.array([0.01, 0.2])
>>> spent = sum(c[pacer.step(q, c)] for _ in range(100))
>>> bool(spent <= 10.0)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = ["BudgetPacer", "PacingStep", "replay_stream"]


@dataclass(frozen=True)
class PacingStep:
    """One request of the stream: the multipliers in force and what was chosen."""

    index: int
    budget_price: float
    latency_price: float
    choice: int
    cost: float
    latency: float
    spent: float
    remaining: float


@dataclass
class BudgetPacer:
    """Online dual pacing of a budget over a stream of ``requests`` requests.

    Args:
        prices: the base prices (``V``, ``ρ``, token table); ``prices.latency`` is the starting
            latency price.
        budget: dollars to spend over the stream.
        requests: expected number of requests (the horizon of the even pace).
        step_size: dual step for ``μ`` (per unit of relative overspend).
        latency_sla: mean latency target in seconds (``None``: latency priced at
            ``prices.latency`` throughout).
        latency_step: dual step for ``λ`` in $/s per second of excess latency.
    """

    prices: Prices
    budget: float
    requests: int
    step_size: float = 0.05
    latency_sla: float | None = None
    latency_step: float = 0.0
    mu: float = 0.0
    latency_price: float = field(init=False)
    spent: float = 0.0
    seen: int = 0
    latency_total: float = 0.0
    log: list[PacingStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not np.isfinite(self.budget) or self.budget <= 0:
            raise ConfigError(f"BudgetPacer.budget must be > 0, got {self.budget!r}")
        if self.requests < 1:
            raise ConfigError(f"BudgetPacer.requests must be >= 1, got {self.requests!r}")
        if self.step_size <= 0 or self.latency_step < 0:
            raise ConfigError("BudgetPacer step sizes must be > 0 (budget) and >= 0 (latency)")
        if self.latency_sla is not None and self.latency_sla <= 0:
            raise ConfigError(f"BudgetPacer.latency_sla must be > 0, got {self.latency_sla!r}")
        self.latency_price = self.prices.latency

    @property
    def remaining(self) -> float:
        """Dollars left."""
        return self.budget - self.spent

    def prices_in_force(self) -> Prices:
        """The shared prices with the current multipliers: ``V, λ, ρ`` over ``1 + μ``."""
        scale = 1.0 + self.mu
        return self.prices.with_(
            value=self.prices.value / scale,
            latency=self.latency_price / scale,
            risk=self.prices.risk / scale,
        )

    def choose(
        self, quality: ArrayLike, cost: ArrayLike, latency: ArrayLike = 0.0, risk: ArrayLike = 0.0
    ) -> int:
        """Model for the next request at the prices in force, within the remaining budget.

        Returns ``-1`` when no model fits in what is left.
        """
        c = np.asarray(cost, dtype=np.float64)
        net = self.prices_in_force().net_value(quality, c, latency, risk)
        affordable = c <= self.remaining + 1e-15
        if not affordable.any():
            return -1
        return int(np.argmax(np.where(affordable, net, -np.inf)))

    def observe(self, cost: float, latency: float = 0.0) -> None:
        """Record what the last request spent and took, and update the multipliers."""
        planned = self.remaining / max(self.requests - self.seen, 1)  # even pace, before
        self.spent += cost
        self.seen += 1
        self.latency_total += latency
        if planned > 0:
            self.mu = max(0.0, self.mu + self.step_size * (cost - planned) / planned)
        if self.latency_sla is not None and self.latency_step > 0:
            excess = self.latency_total / self.seen - self.latency_sla
            self.latency_price = max(0.0, self.latency_price + self.latency_step * excess)

    def step(
        self,
        quality: ArrayLike,
        cost: ArrayLike,
        latency: ArrayLike = 0.0,
        risk: ArrayLike = 0.0,
    ) -> int:
        """Choose, observe the predicted cost and latency of the choice, log, return the choice."""
        mu, lam = self.mu, self.latency_price
        choice = self.choose(quality, cost, latency, risk)
        c = float(np.asarray(cost, dtype=np.float64)[choice]) if choice >= 0 else 0.0
        lat_arr = np.broadcast_to(np.asarray(latency, dtype=np.float64), np.shape(cost))
        lat = float(lat_arr[choice]) if choice >= 0 else 0.0
        self.observe(c, lat)
        self.log.append(
            PacingStep(self.seen - 1, mu, lam, choice, c, lat, self.spent, self.remaining)
        )
        return choice

    def log_rows(self) -> list[dict[str, Any]]:
        """The multipliers and spend after every request (JSON-ready)."""
        return [step.__dict__ for step in self.log]


def replay_stream(
    quality: NDArray[np.float64],
    cost: NDArray[np.float64],
    budget: float,
    prices: Prices,
    *,
    latency: NDArray[np.float64] | None = None,
    latency_sla: float | None = None,
    step_size: float = 0.05,
    latency_step: float = 0.0,
) -> BudgetPacer:
    """Pace a recorded stream (requests × models predictions) and return the pacer with its log."""
    q = np.asarray(quality, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    if q.shape != c.shape or q.ndim != 2:
        raise ConfigError(f"quality and cost must be requests × models, got {q.shape}, {c.shape}")
    lat = np.zeros_like(c) if latency is None else np.asarray(latency, dtype=np.float64)
    pacer = BudgetPacer(
        prices,
        budget,
        q.shape[0],
        step_size=step_size,
        latency_sla=latency_sla,
        latency_step=latency_step,
    )
    for i in range(q.shape[0]):
        pacer.step(q[i], c[i], lat[i])
    return pacer
