"""Certificates: evidence that a result is an equilibrium, computed without trusting the solver.

Every number is non-negative and relative (prices scaled to a maximum of 1, quantities divided
by max(1, largest consumption), values by max(1, |income|) or max(1, |welfare|)):

* ``walras`` — |Σ_a ⟨p_a, z_a(p)⟩ + z_money(p)| with the demand and supply *functions* at the
  solution's prices (z_money: income kept as money, where the economy has a numéraire); zero
  at every price when the budget binds and profits are paid out (:func:`walras_residual`);
  again at random prices (``walras_random``) and by quadrature of the reconstructed price and
  excess-demand trajectories (``walras_quadrature``);
* ``clearing`` — largest positive excess demand of the solution;
* ``complementarity`` — ‖min(p̂, −z)‖∞ (a good in excess supply must be free);
* ``profit_gap`` — largest σ_{Y_a}(p) − ⟨p, y_a⟩ over agents (each firm maximises profit);
* ``feasibility`` — largest violation of a production set;
* ``orchestrator_gap`` — welfare of the best affordable choice at p minus the chosen one's;
* ``planner_gap`` — first welfare theorem: |W(planner) − W(equilibrium)| when a planner solution
  is at hand, otherwise the duality bound G(p) − W ≥ W(planner) − W;
* ``supports_planner`` — second welfare theorem, for planner results: the largest profit or
  orchestrator gap of the planner's own allocation at the planner's prices;
* ``contraction`` / ``convergence_rate`` — for iterative methods: the local contraction constant
  of the price map and the observed ratio of successive steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tokenomy.equilibrium.economy import ConsumerChoice, Economy
from tokenomy.errors import SolverError

FloatArray = np.ndarray
CORE = ("walras", "clearing", "complementarity", "profit_gap", "planner_gap")


@dataclass(frozen=True)
class Certificates:
    """Residuals and gaps of a result (all ≥ 0; None where not applicable)."""

    walras: float
    clearing: float
    complementarity: float
    profit_gap: float
    planner_gap: float
    planner_gap_kind: str = "duality"
    walras_random: float | None = None
    walras_quadrature: float | None = None
    feasibility: float | None = None
    orchestrator_gap: float | None = None
    supports_planner: float | None = None
    contraction: float | None = None
    convergence_rate: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the five core certificates first)."""
        data = asdict(self)
        extra = data.pop("extra")
        return {**data, **extra}

    def worst(self) -> float:
        """Largest of the five core certificates."""
        return max(float(getattr(self, k)) for k in CORE)


def price_floor(welfare: float, quantities: FloatArray) -> float:
    """The scale below which prices count as zero (solver noise on free goods).

    A thousandth of the welfare per unit of the largest quantity: even the most-used good at
    this price costs a thousandth of what the allocation is worth. Prices are measured against
    it where all of them are (nearly) zero, so that noise is not mistaken for a price.
    """
    top = float(np.max(np.abs(quantities), initial=0.0))
    return 1e-3 * max(1.0, abs(float(welfare))) / max(1.0, top)


def _rel(value: float, scale: float) -> float:
    return abs(float(value)) / max(1.0, abs(float(scale)))


def economy_certificates(
    e: Economy,
    p: FloatArray,
    choice: ConsumerChoice,
    netputs: list[FloatArray],
    *,
    planner_welfare: float | None = None,
    is_planner: bool = False,
    contraction: float | None = None,
    convergence_rate: float | None = None,
    random_prices: int = 5,
) -> Certificates:
    """Certificates of an economy result at prices p (welfare units)."""
    tech = e.technology
    x = choice.x
    income = e.income(p)
    supported = True
    try:
        e.demand_support()
    except SolverError:
        supported = False
    welfare = e.welfare_of(x, choice.route)
    p_scale = max(float(np.max(p)), price_floor(welfare, x))
    p_hat = p / p_scale
    q_scale = max(1.0, float(np.max(np.abs(x))))
    z = e.excess_demand(p, x, netputs)
    clearing = float(np.max(np.maximum(z, 0.0))) / q_scale
    complementarity = float(np.max(np.abs(np.minimum(p_hat, -z / q_scale))))
    best = tech.profits(p)
    profit_gap = float(np.max(np.maximum(best - tech.profit_of(p, netputs), 0.0)))
    profit_gap /= max(1.0, float(np.max(np.abs(best))))
    feasibility = float(np.max(tech.violations(netputs))) if tech.n_firms else 0.0

    walras_random = None
    walras_quad = None
    orchestrator_gap = None
    if supported:
        walras, z_fn, demand = walras_residual(e, p)
        # the same pairing by quadrature of the reconstructed trajectories (every block of K
        # consecutive goods is one market's trajectory of one metric)
        quad = e.basis.quadrature_inner(p, z_fn) + demand.money
        walras_quad = abs(quad) / max(1.0, abs(income))
        rng = np.random.default_rng(0)
        walras_random = max(
            walras_residual(e, p_scale * rng.lognormal(0.0, 0.5, len(p)) + 1e-9)[0]
            for _ in range(random_prices)
        )
        orchestrator_gap = max(0.0, demand.welfare - welfare) / max(1.0, abs(welfare))
    else:
        walras = _rel(float(p @ z), income)

    if planner_welfare is not None:
        planner_gap = abs(planner_welfare - welfare) / max(1.0, abs(welfare))
        gap_kind = "planner"
    elif is_planner:
        planner_gap, gap_kind = 0.0, "self"
    elif supported:
        from tokenomy.equilibrium.solvers.first_order import dual_value

        bound = dual_value(e, p)
        planner_gap = max(0.0, bound - welfare) / max(1.0, abs(welfare))
        gap_kind = "duality"
    else:
        planner_gap, gap_kind = float("nan"), "unavailable"

    supports = None
    if is_planner:
        supports = max(profit_gap, orchestrator_gap or 0.0)
    return Certificates(
        walras=walras,
        clearing=clearing,
        complementarity=complementarity,
        profit_gap=profit_gap,
        planner_gap=planner_gap,
        planner_gap_kind=gap_kind,
        walras_random=walras_random,
        walras_quadrature=walras_quad,
        feasibility=feasibility,
        orchestrator_gap=orchestrator_gap,
        supports_planner=supports,
        contraction=contraction,
        convergence_rate=convergence_rate,
    )


def walras_residual(e: Economy, p: FloatArray) -> tuple[float, FloatArray, ConsumerChoice]:
    """Walras' law at prices p: |Σ_a ⟨p_a, z_a(p)⟩ + z_money(p)|, relative to income.

    z(p) = d(p) − ω − Σ_a y_a(p) with the orchestrator's budget-constrained demand and the
    firms' profit-maximising supplies; z_money is the income it keeps as money. The sum is
    zero at *every* price because the budget binds and all profits are paid out — it is not an
    equilibrium property. An economy that keeps profits (``profit_share`` < 1) or whose
    orchestrator is satiated (no money, budget slack) breaks it. Returns the residual, z(p) and
    the demand (with the money kept).
    """
    income = e.income(p)
    demand = e.walrasian_demand(p, income)
    z = demand.x - e.endowment - e.technology.supply(p)
    return _rel(float(p @ z) + demand.money, income), z, demand
