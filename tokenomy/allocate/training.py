"""Rollouts as capital with depreciation: which traces are worth learning from.

A rollout (an RL trajectory, a trace to fine-tune on) is capital: learning from it buys an
expected capability gain ``g`` for a cost ``c`` (the dollars of the gradient updates; the cost
of generating it is sunk). The policy keeps moving, so an old rollout teaches less: its gain
depreciates at rate ``δ`` per step, and at time ``t`` it is worth

    V_train·g·(1 − δ)^(t − created_at)

where ``V_train`` is the value of one unit of capability. The allocation rule keeps it while
that exceeds its cost — net value ``V_train·ΔQ − ΔC`` with ``ΔQ = g·(1 − δ)^age`` and
``ΔC = c`` (:meth:`tokenomy.prices.Prices.net_value`) — so a rollout is worth keeping until the
threshold age

    t* = ln(c/(V_train·g)) / ln(1 − δ),

after which depreciation has beaten the gain: a *stale* rollout, pure waste to train on.
:class:`RolloutBuffer` offers (:meth:`~RolloutBuffer.offer`), prunes
(:meth:`~RolloutBuffer.prune`) and selects the best set under a training budget
(:meth:`~RolloutBuffer.select`: exact for small buffers, greedy by net value per dollar
otherwise), and logs each keep/drop decision (layer ``training``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.rule import Options
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = ["EXACT_LIMIT", "Rollout", "RolloutBuffer", "Selection", "remaining_gain"]

EXACT_LIMIT = 16
"""Buffers with at most this many candidates are selected exactly (all 2ⁿ subsets)."""


def _number(owner: str, name: str, value: Any, *, positive: bool = False) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{owner}.{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Rollout:
    """One rollout to learn from.

    Attributes:
        id: its name (unique within a buffer).
        gain: expected capability gain when fresh (quality units, ``>= 0``).
        cost: dollars to learn from it (``>= 0``).
        created_at: the step at which it was generated.
    """

    id: str
    gain: float
    cost: float
    created_at: float = 0.0

    def __post_init__(self) -> None:
        _number("Rollout", "gain", self.gain)
        _number("Rollout", "cost", self.cost)
        if not isinstance(self.created_at, int | float) or not math.isfinite(self.created_at):
            raise ConfigError(
                f"Rollout.created_at must be a finite number, got {self.created_at!r}"
            )


def remaining_gain(
    gain: ArrayLike, age: ArrayLike, depreciation_rate: float
) -> NDArray[np.float64]:
    """``g·(1 − δ)^age``: the capability gain left after ``age`` steps (vectorised)."""
    g = np.asarray(gain, dtype=np.float64)
    a = np.asarray(age, dtype=np.float64)
    return g * (1.0 - depreciation_rate) ** a


@dataclass(frozen=True)
class Selection:
    """The rollouts chosen to train on under a budget.

    Attributes:
        rollouts: the chosen rollouts (in buffer order).
        cost: their total cost. net_value: their total net value.
        method: ``"all"`` (no budget), ``"exact"`` or ``"greedy"``.
    """

    rollouts: tuple[Rollout, ...]
    cost: float
    net_value: float
    method: str


class RolloutBuffer:
    """Rollouts kept for training, valued as depreciating capital.

    Args:
        value: ``V_train``, dollars per unit of capability gain.
        depreciation_rate: ``δ ∈ [0, 1)``, the share of a rollout's gain lost per step.
        budget: the default training budget of :meth:`select` (dollars; ``None``: no limit).
        prices: the shared prices to use (their ``value`` is replaced by ``value``); by
            default a fresh :class:`Prices`.

    Raises:
        ConfigError: a negative value or budget, or ``δ`` outside ``[0, 1)``.
    """

    def __init__(
        self,
        value: float,
        depreciation_rate: float,
        budget: float | None = None,
        *,
        prices: Prices | None = None,
    ) -> None:
        v = _number("RolloutBuffer", "value", value)
        d = _number("RolloutBuffer", "depreciation_rate", depreciation_rate)
        if d >= 1.0:
            raise ConfigError(f"RolloutBuffer.depreciation_rate must be < 1, got {d!r}")
        self.budget = None if budget is None else _number("RolloutBuffer", "budget", budget)
        self.depreciation_rate = d
        self.prices = (prices or Prices()).with_(value=v)
        self.rollouts: list[Rollout] = []
        self.records: list[dict[str, Any]] = []

    @property
    def value(self) -> float:
        """``V_train``."""
        return self.prices.value

    def _age(self, rollout: Rollout, now: float) -> float:
        if not math.isfinite(now) or now < rollout.created_at:
            raise ConfigError(
                f"rollout {rollout.id!r}: now={now!r} is before its created_at="
                f"{rollout.created_at!r}"
            )
        return float(now - rollout.created_at)

    def net_value(self, rollout: Rollout, now: float) -> float:
        """``V_train·g·(1 − δ)^age − c``: what learning from ``rollout`` at ``now`` is worth."""
        dq = remaining_gain(rollout.gain, self._age(rollout, now), self.depreciation_rate)
        return float(self.prices.net_value(dq, rollout.cost))

    def threshold_age(self, rollout: Rollout) -> float:
        """``t* = ln(c/(V·g))/ln(1 − δ)``: the rollout is kept while its age is below ``t*``.

        ``0`` when it is not worth its cost even fresh, ``inf`` when it never goes stale
        (``δ = 0`` or a zero cost).
        """
        worth = self.value * rollout.gain
        if worth <= rollout.cost:
            return 0.0
        if rollout.cost == 0.0 or self.depreciation_rate == 0.0:
            return math.inf
        return math.log(rollout.cost / worth) / math.log(1.0 - self.depreciation_rate)

    def _record(self, rollout: Rollout, now: float, keep: bool) -> None:
        age = self._age(rollout, now)
        dq = float(remaining_gain(rollout.gain, age, self.depreciation_rate))
        options = Options.of(dq=[dq, 0.0], dc=[rollout.cost, 0.0], names=["keep", "drop"])
        self.records.append(
            decision_record(
                f"{rollout.id}@{now:g}",
                "training",
                self.prices,
                options,
                "keep" if keep else "drop",
                {"gain": rollout.gain, "age": age, "depreciation_rate": self.depreciation_rate},
            )
        )

    def offer(self, rollout: Rollout, now: float) -> bool:
        """Keep ``rollout`` when its remaining value exceeds its cost; log the decision.

        Raises:
            ConfigError: a rollout with the same id is already kept, or ``now`` is before the
                rollout was created.
        """
        if any(r.id == rollout.id for r in self.rollouts):
            raise ConfigError(f"rollout {rollout.id!r} is already in the buffer")
        keep = self.net_value(rollout, now) > 0.0
        self._record(rollout, now, keep)
        if keep:
            self.rollouts.append(rollout)
        return keep

    def _net_values(self, now: float) -> NDArray[np.float64]:
        if not self.rollouts:
            return np.zeros(0)
        created = np.asarray([r.created_at for r in self.rollouts])
        if np.any(created > now):
            late = self.rollouts[int(np.argmax(created > now))]
            self._age(late, now)  # raises with the rollout's name
        gains = np.asarray([r.gain for r in self.rollouts])
        costs = np.asarray([r.cost for r in self.rollouts])
        dq = remaining_gain(gains, now - created, self.depreciation_rate)
        return self.prices.net_value(dq, costs)

    def prune(self, now: float) -> list[Rollout]:
        """Drop the stale rollouts (depreciation has beaten the gain); return them, logged."""
        net = self._net_values(now)
        stale = [r for r, v in zip(self.rollouts, net.tolist(), strict=True) if v <= 0.0]
        for r in stale:
            self._record(r, now, keep=False)
        self.rollouts = [r for r, v in zip(self.rollouts, net.tolist(), strict=True) if v > 0.0]
        return stale

    def select(self, now: float, budget: float | None = None) -> Selection:
        """The set of rollouts with the highest total net value whose cost fits ``budget``.

        Only rollouts with positive net value are candidates. Up to :data:`EXACT_LIMIT`
        candidates the best subset is found exactly; beyond that greedily by net value per
        dollar (a free rollout first), skipping any that no longer fits.

        Args:
            now: the current step.
            budget: dollars available (default: the buffer's budget; ``None``: all candidates).
        """
        limit = self.budget if budget is None else _number("RolloutBuffer.select", "budget", budget)
        net = self._net_values(now)
        cand = np.flatnonzero(net > 0.0)
        costs = np.asarray([self.rollouts[i].cost for i in cand], dtype=np.float64)
        values = net[cand]
        if limit is None:
            chosen, method = cand, "all"
        elif cand.size <= EXACT_LIMIT:
            masks = (np.arange(2**cand.size)[:, None] >> np.arange(cand.size)[None, :]) & 1
            total_cost = masks @ costs
            total_value = np.where(total_cost <= limit + 1e-12, masks @ values, -np.inf)
            chosen, method = cand[masks[int(np.argmax(total_value))].astype(bool)], "exact"
        else:
            with np.errstate(divide="ignore"):
                ratio = np.where(costs > 0, values / np.where(costs > 0, costs, 1.0), np.inf)
            order = np.argsort(-ratio, kind="stable")
            take = np.zeros(cand.size, dtype=bool)
            spent = 0.0
            for j in order.tolist():
                if spent + costs[j] <= limit + 1e-12:
                    take[j] = True
                    spent += float(costs[j])
            chosen, method = cand[take], "greedy"
        picked = tuple(self.rollouts[i] for i in sorted(chosen.tolist()))
        return Selection(
            rollouts=picked,
            cost=float(sum(r.cost for r in picked)),
            net_value=float(net[np.asarray(sorted(chosen.tolist()), dtype=np.int64)].sum()),
            method=method,
        )
