"""The one allocation rule, applied to a set of options.

Every layer of the allocator (router, agent controller, serving admission, training and caches)
faces the same choice: among the options in play, take the one with the highest net marginal
value ``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR`` (:meth:`tokenomy.prices.Prices.net_value`), and do nothing
when no option's net value is positive. This module holds that choice, vectorised over many
decisions at once, plus the two closed forms the position paper works through: the crossover
value ``V*`` at which a stronger option starts to pay, and the Cobb–Douglas token split.

>>> from tokenomy.prices import Prices
>>> options = Options.of(dq=[0.7, 0.9], dc=[1.0, 5.0], names=["cheap", "frontier"])
>>> options.names[choose(Prices(value=10.0), options)]
'cheap'
>>> options.names[choose(Prices(value=100.0), options)]
'frontier'
>>> round(crossover_value(Prices(), low=(0.7, 1.0), high=(0.9, 5.0)), 9)
20.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = [
    "Options",
    "choose",
    "cobb_douglas_split",
    "crossover_value",
    "net_values",
]


def _column(values: ArrayLike, n: int, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ConfigError(f"Options.{name} must have one entry per option ({n}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"Options.{name} must be finite, got {arr.tolist()}")
    return arr


@dataclass(frozen=True)
class Options:
    """The marginal effects of each option in play (one entry per option).

    Attributes:
        names: option names (models, agent actions, admission decisions, ...).
        dq: quality gained ``ΔQ``.
        dc: cost in dollars ``ΔC``.
        dl: latency added in seconds ``ΔL``.
        dr: risk added ``ΔR`` (probability of a wrong action × its consequence).
    """

    names: tuple[str, ...]
    dq: NDArray[np.float64]
    dc: NDArray[np.float64]
    dl: NDArray[np.float64]
    dr: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        dq: ArrayLike,
        dc: ArrayLike,
        dl: ArrayLike = 0.0,
        dr: ArrayLike = 0.0,
        names: Sequence[str] | None = None,
    ) -> Options:
        """Options from per-option sequences (a scalar ``dl``/``dr`` applies to every option)."""
        q = np.atleast_1d(np.asarray(dq, dtype=np.float64))
        n = q.shape[0]
        labels = tuple(names) if names is not None else tuple(f"option-{i}" for i in range(n))
        if len(labels) != n:
            raise ConfigError(f"Options.names must have {n} entries, got {len(labels)}")
        return cls(
            names=labels,
            dq=_column(q, n, "dq"),
            dc=_column(dc, n, "dc"),
            dl=_column(dl, n, "dl"),
            dr=_column(dr, n, "dr"),
        )

    def __len__(self) -> int:
        return len(self.names)


def net_values(prices: Prices, options: Options) -> NDArray[np.float64]:
    """Net marginal value of every option at ``prices``."""
    return prices.net_value(options.dq, options.dc, options.dl, options.dr)


def choose(prices: Prices, options: Options, *, allow_none: bool = False) -> int:
    """Index of the option with the highest net value (ties go to the earlier option).

    With ``allow_none`` the answer is ``-1`` when no option has a positive net value: doing
    nothing (stopping, refusing, not keeping) is then the best use of the next token.
    """
    net = net_values(prices, options)
    best = int(np.argmax(net))
    if allow_none and net[best] <= 0.0:
        return -1
    return best


def crossover_value(
    prices: Prices,
    low: tuple[float, float] | tuple[float, float, float] | tuple[float, float, float, float],
    high: tuple[float, float] | tuple[float, float, float] | tuple[float, float, float, float],
) -> float:
    """The task value ``V*`` above which the higher-quality option has the higher net value.

    ``low`` and ``high`` are ``(q, c[, r[, l]])``: quality, cost, risk and latency of each
    option. Solving ``V·q_h − c_h − ρ r_h − λ l_h = V·q_l − c_l − ρ r_l − λ l_l`` gives

        V* = (Δc + ρ·Δr + λ·Δl) / Δq.

    The position paper's numbers: ``(0.7, 1)`` vs ``(0.9, 5)`` cross at ``V* = 20``; with risk
    ``0.05`` vs ``0.01`` priced at ``ρ = 50`` they cross at ``V* = 10``.
    """
    ql, cl, rl, ll = (*low, 0.0, 0.0)[:4]
    qh, ch, rh, lh = (*high, 0.0, 0.0)[:4]
    dq = qh - ql
    if dq <= 0:
        raise ConfigError(f"crossover_value needs high quality > low quality, got {qh} <= {ql}")
    return float(((ch - cl) + prices.risk * (rh - rl) + prices.latency * (lh - ll)) / dq)


def cobb_douglas_split(
    alpha: ArrayLike, budget: float, full_prices: ArrayLike
) -> NDArray[np.float64]:
    """Token split that maximises ``Q(t) = A·Π t_i^α_i`` subject to ``Σ p_i t_i ≤ B``.

    ``full_prices`` are the full prices ``p_i = ΔC_i + λ·ΔL_i + ρ·ΔR_i`` of one token of each
    use (:meth:`Prices.full_price`). The optimum spends the share ``α_i/Σα`` of the budget on
    use ``i``: ``t_i* = (α_i/Σα)·B/p_i``.
    """
    a = np.asarray(alpha, dtype=np.float64)
    p = np.asarray(full_prices, dtype=np.float64)
    if a.shape != p.shape or a.ndim != 1:
        raise ConfigError(f"alpha and full_prices must be 1-D of equal length, got {a.shape}")
    if np.any(a <= 0) or np.any(p <= 0) or budget <= 0:
        raise ConfigError("cobb_douglas_split needs alpha > 0, full prices > 0 and a budget > 0")
    split: NDArray[np.float64] = (a / a.sum()) * budget / p
    return split
