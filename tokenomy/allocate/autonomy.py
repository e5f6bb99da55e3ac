"""How much autonomy to give an agent, and which actions need whose approval.

**Choosing the autonomy level.** With autonomy ``a ∈ [0, 1]`` (0: a human checks every step,
1: the agent acts alone) the task's net value is

    U(a) = V·p(a) − C(a) − ρ·R(a) − H(a)

with ``p`` the success probability, ``C`` the token cost, ``R`` the risk (probability of a
wrong action × consequence) and ``H`` the oversight cost. It is the allocation rule with
``ΔQ = p(a)``, ``ΔC = C(a) + H(a)``, ``ΔR = R(a)``, evaluated by
:meth:`tokenomy.prices.Prices.net_value`. At an interior optimum the first-order condition

    V·p'(a) = C'(a) + ρ·R'(a) + H'(a)

holds: the last bit of autonomy raises value exactly as much as it raises cost, risk and
oversight. Our parametric family (:class:`AutonomyModel`; the shapes are our choice):

* ``p(a) = p_low + (p_high − p_low)·a^β`` — more autonomy, more done (``β ≤ 1``: diminishing),
* ``R(a) = r·a^γ`` — risk grows faster than linearly (``γ ≥ 1``),
* ``H(a) = h·(1 − a)^η`` — oversight cost falls as autonomy rises (``η ≥ 1``),
* ``C(a) = c₀ + c₁·a`` — an autonomous agent spends more tokens.

With ``β ≤ 1, γ ≥ 1, η ≥ 1`` and ``ρ ≥ 0`` ``U`` is concave, so the grid optimum is near the
unique maximiser; :func:`choose_autonomy` refines an interior grid optimum by solving the
first-order condition. Raising ``ρ`` lowers ``a*``. For ``β = 1, γ = 2, η = 1`` the optimum
is ``a* = (V·(p_high − p_low) − c₁ + h)/(2ρr)`` (clipped to [0, 1]).

**The autonomy schedule.** Some actions are cheap to undo, some are not. The schedule says how
many distinct parties must approve an action class before the agent may take it: ``read`` and
``draft`` are free, ``commit`` needs one confirmation, ``deploy`` and ``transfer`` need at
least two distinct approving parties (:data:`DEFAULT_APPROVALS`, configurable).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.rule import Options, choose, net_values
from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.prices import Prices

__all__ = [
    "DEFAULT_APPROVALS",
    "Authorisation",
    "AutonomyChoice",
    "AutonomyModel",
    "AutonomySchedule",
    "authorise",
    "autonomy_options",
    "autonomy_record",
    "choose_autonomy",
]


@dataclass(frozen=True)
class AutonomyModel:
    """Parametric success, risk, oversight and cost curves over autonomy ``a ∈ [0, 1]``.

    Attributes:
        p_low: success probability at ``a = 0``. p_high: at ``a = 1`` (``>= p_low``).
        p_shape: ``β`` in ``p(a) = p_low + (p_high − p_low)·a^β`` (``> 0``).
        risk_scale: ``r`` in ``R(a) = r·a^γ``. risk_shape: ``γ`` (``> 0``).
        oversight_cost: ``h`` in ``H(a) = h·(1 − a)^η``. oversight_shape: ``η`` (``> 0``).
        cost_base: ``c₀`` in ``C(a) = c₀ + c₁·a``. cost_slope: ``c₁``.
    """

    p_low: float = 0.5
    p_high: float = 0.9
    p_shape: float = 0.5
    risk_scale: float = 1.0
    risk_shape: float = 2.0
    oversight_cost: float = 1.0
    oversight_shape: float = 1.0
    cost_base: float = 0.0
    cost_slope: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise ConfigError(f"AutonomyModel.{f.name} must be a finite number, got {v!r}")
            if v < 0:
                raise ConfigError(f"AutonomyModel.{f.name} must be >= 0, got {v!r}")
        if not self.p_low <= self.p_high <= 1.0:
            raise ConfigError(
                f"AutonomyModel needs 0 <= p_low <= p_high <= 1, got {self.p_low}, {self.p_high}"
            )
        for name in ("p_shape", "risk_shape", "oversight_shape"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"AutonomyModel.{name} must be > 0, got {getattr(self, name)}")

    def success(self, a: ArrayLike) -> NDArray[np.float64]:
        """``p(a)``."""
        x = _levels(a)
        return self.p_low + (self.p_high - self.p_low) * x**self.p_shape

    def risk(self, a: ArrayLike) -> NDArray[np.float64]:
        """``R(a)``."""
        return self.risk_scale * _levels(a) ** self.risk_shape

    def oversight(self, a: ArrayLike) -> NDArray[np.float64]:
        """``H(a)``."""
        return self.oversight_cost * (1.0 - _levels(a)) ** self.oversight_shape

    def cost(self, a: ArrayLike) -> NDArray[np.float64]:
        """``C(a)``."""
        return self.cost_base + self.cost_slope * _levels(a)

    def d_success(self, a: ArrayLike) -> NDArray[np.float64]:
        """``p'(a)`` (infinite at 0 when ``β < 1``)."""
        x = _levels(a)
        with np.errstate(divide="ignore"):
            return (self.p_high - self.p_low) * self.p_shape * x ** (self.p_shape - 1.0)

    def d_risk(self, a: ArrayLike) -> NDArray[np.float64]:
        """``R'(a)``."""
        x = _levels(a)
        with np.errstate(divide="ignore"):
            return self.risk_scale * self.risk_shape * x ** (self.risk_shape - 1.0)

    def d_oversight(self, a: ArrayLike) -> NDArray[np.float64]:
        """``H'(a)`` (negative: more autonomy, less oversight)."""
        x = _levels(a)
        with np.errstate(divide="ignore"):
            return (
                -self.oversight_cost
                * self.oversight_shape
                * (1.0 - x) ** (self.oversight_shape - 1.0)
            )

    def d_cost(self, a: ArrayLike) -> NDArray[np.float64]:
        """``C'(a)``."""
        return np.full(_levels(a).shape, self.cost_slope)

    def utility(self, prices: Prices, a: ArrayLike) -> NDArray[np.float64]:
        """``U(a) = V·p(a) − C(a) − ρ·R(a) − H(a)`` (via :meth:`Prices.net_value`)."""
        return prices.net_value(
            self.success(a), self.cost(a) + self.oversight(a), 0.0, self.risk(a)
        )

    def marginal(self, prices: Prices, a: ArrayLike) -> NDArray[np.float64]:
        """``U'(a) = V·p'(a) − C'(a) − ρ·R'(a) − H'(a)``: zero at an interior optimum."""
        return prices.net_value(
            self.d_success(a), self.d_cost(a) + self.d_oversight(a), 0.0, self.d_risk(a)
        )


def _levels(a: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(a, dtype=np.float64)
    if np.any(~np.isfinite(x)) or np.any(x < 0.0) or np.any(x > 1.0):
        raise ConfigError(f"autonomy levels must lie in [0, 1], got {np.ravel(x)[:5].tolist()}")
    return x


def autonomy_options(model: AutonomyModel, levels: ArrayLike) -> Options:
    """The autonomy levels as options: ``ΔQ = p(a)``, ``ΔC = C(a) + H(a)``, ``ΔR = R(a)``."""
    a = np.atleast_1d(_levels(levels))
    return Options.of(
        dq=model.success(a),
        dc=model.cost(a) + model.oversight(a),
        dl=0.0,
        dr=model.risk(a),
        names=[f"a={x:.4g}" for x in a],
    )


@dataclass(frozen=True)
class AutonomyChoice:
    """The chosen autonomy level and the evidence for it.

    Attributes:
        level: ``a*`` on the grid. utility: ``U(a*)``.
        levels: the grid. utilities: ``U`` on the grid.
        interior: whether ``a*`` is strictly inside the grid.
        foc_level: the root of ``U'(a) = 0`` next to an interior grid optimum (``None`` at a
            corner or where ``U'`` does not change sign there).
        marginal_at_level: ``U'(a*)`` at the grid optimum (small when interior and smooth).
    """

    level: float
    utility: float
    levels: NDArray[np.float64] = field(repr=False)
    utilities: NDArray[np.float64] = field(repr=False)
    interior: bool
    foc_level: float | None
    marginal_at_level: float


def choose_autonomy(prices: Prices, model: AutonomyModel, *, grid: int = 1001) -> AutonomyChoice:
    """Take the autonomy level with the highest ``U(a)`` on an even grid over ``[0, 1]``.

    The grid choice is :func:`tokenomy.allocate.rule.choose` over the levels as options. When
    it is interior, the first-order condition ``U'(a) = 0`` is solved (Brent's method)
    between the grid neighbours, which gives the optimum to solver precision.

    Raises:
        ConfigError: a grid of fewer than 3 points.
    """
    if not isinstance(grid, int) or grid < 3:
        raise ConfigError(f"choose_autonomy: grid must be an integer >= 3, got {grid!r}")
    levels = np.linspace(0.0, 1.0, grid)
    options = autonomy_options(model, levels)
    utilities = net_values(prices, options)
    idx = choose(prices, options)
    level = float(levels[idx])
    interior = 0 < idx < grid - 1
    foc: float | None = None
    if interior:
        lo, hi = float(levels[idx - 1]), float(levels[idx + 1])
        m_lo = float(model.marginal(prices, lo))
        m_hi = float(model.marginal(prices, hi))
        if math.isfinite(m_lo) and math.isfinite(m_hi) and m_lo >= 0.0 >= m_hi:
            foc = float(
                brentq(lambda x: float(model.marginal(prices, x)), lo, hi, xtol=1e-14, rtol=1e-14)
            )
    return AutonomyChoice(
        level=level,
        utility=float(utilities[idx]),
        levels=levels,
        utilities=utilities,
        interior=interior,
        foc_level=foc,
        marginal_at_level=float(model.marginal(prices, level)),
    )


def autonomy_record(
    prices: Prices,
    model: AutonomyModel,
    record_id: str,
    *,
    levels: Sequence[float] | None = None,
    succeeded: bool | None = None,
) -> dict[str, Any]:
    """A decision-log record (layer ``agent``, kind ``autonomy``) of an autonomy choice.

    Args:
        prices: ``V``, ``λ``, ``ρ``.
        model: the curves.
        record_id: the record's id.
        levels: the levels offered (default ``0, 0.1, ..., 1``); each option carries its
            ``level``, ``dq = p(a)``, ``dc = C(a) + H(a)`` and ``dr = R(a)``.
        succeeded: the ex-post outcome, when known (outcome ``{"succeeded": ...}``, else ``{}``).
    """
    grid = np.linspace(0.0, 1.0, 11) if levels is None else np.asarray(levels, dtype=np.float64)
    options = autonomy_options(model, grid)
    chosen = options.names[choose(prices, options)]
    outcome: dict[str, Any] = {} if succeeded is None else {"succeeded": bool(succeeded)}
    return decision_record(
        record_id,
        "agent",
        prices,
        options,
        chosen,
        outcome,
        kind="autonomy",
        levels=[float(x) for x in np.atleast_1d(grid)],
    )


DEFAULT_APPROVALS: Mapping[str, int] = {
    "read": 0,
    "draft": 0,
    "commit": 1,
    "deploy": 2,
    "transfer": 2,
}
"""Distinct approving parties each action class needs (read and draft are free)."""


@dataclass(frozen=True)
class Authorisation:
    """Whether an action may go ahead, and why.

    Attributes:
        allowed: whether it may. reason: one sentence saying why.
        action_class: the class asked about. required: approvals it needs.
        approvals: distinct approving parties counted.
    """

    allowed: bool
    reason: str
    action_class: str
    required: int
    approvals: int


@dataclass(frozen=True)
class AutonomySchedule:
    """How many distinct parties must approve each action class.

    Attributes:
        required: ``{action_class: approvals needed}`` (default :data:`DEFAULT_APPROVALS`).

    Raises:
        ConfigError: an empty schedule or a count that is not an integer >= 0.
    """

    required: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_APPROVALS))

    def __post_init__(self) -> None:
        if not self.required:
            raise ConfigError("AutonomySchedule.required must name at least one action class")
        for name, n in self.required.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ConfigError(
                    f"AutonomySchedule.required[{name!r}] must be an integer >= 0, got {n!r}"
                )

    def authorise(
        self, action_class: str, approvals: Iterable[str] = (), *, actor: str | None = None
    ) -> Authorisation:
        """Whether ``action_class`` may go ahead with these approvals.

        Args:
            action_class: one of the schedule's classes.
            approvals: names of the parties that approved (one name may be given as a plain
                string); a repeated name counts once, a blank one not at all, and the acting
                agent (``actor``) cannot approve its own action.
            actor: the party taking the action.

        Raises:
            ConfigError: an unknown action class (the message lists the classes).
        """
        if action_class not in self.required:
            raise UnknownNameError("action class", action_class, self.required)
        need = self.required[action_class]
        given = [approvals] if isinstance(approvals, str) else list(approvals)
        for p in given:
            if not isinstance(p, str):
                raise ConfigError(f"approvals must be party names (strings), got {p!r}")
        parties = sorted({p.strip() for p in given if p.strip() and p.strip() != actor})
        got = len(parties)
        if need == 0:
            return Authorisation(True, f"{action_class} needs no approval", action_class, 0, got)
        noun = "approving party" if need == 1 else "distinct approving parties"
        who = f" ({', '.join(parties)})" if parties else ""
        if got >= need:
            reason = f"{action_class} needs {need} {noun}; got {got}{who}"
            return Authorisation(True, reason, action_class, need, got)
        reason = f"{action_class} needs {need} {noun}; got {got}{who}"
        if actor is not None and actor in {p.strip() for p in given}:
            reason += f"; {actor}'s own approval does not count"
        return Authorisation(False, reason, action_class, need, got)


def authorise(
    action_class: str,
    approvals: Iterable[str] = (),
    *,
    actor: str | None = None,
    schedule: AutonomySchedule | None = None,
) -> Authorisation:
    """:meth:`AutonomySchedule.authorise` on ``schedule`` (default: the default schedule)."""
    return (schedule or AutonomySchedule()).authorise(action_class, approvals, actor=actor)
