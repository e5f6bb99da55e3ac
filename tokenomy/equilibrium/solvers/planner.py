"""The planner: the reference answer, by convex optimisation (cvxpy with Clarabel).

With one consumer, the equilibrium allocation solves

    max  U(D) + H(f)/β
    s.t. x ≤ ω + Σ_a y_a          (market clearing; multipliers = prices)
         y_a ∈ Y_a                (each agent's production set)
         x = N·Σ_v φ_v(f) g_v     (routed markets; f in the DAG flow polytope)
         x ≥ 0                    (freely consumed markets)

and the equilibrium prices are the clearing multipliers (in welfare units: the marginal utility
of income is 1). Every catalogue piece is a cvxpy constraint (boxes and activities are linear,
ellipsoids second-order cones, quadratic costs and power technologies convex), the routing
entropy is a sum of relative entropies (exponential cones) — so Clarabel solves it to about
1e-8.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from tokenomy.equilibrium.economy import Economy
from tokenomy.equilibrium.routing import Route
from tokenomy.errors import SolverError

FloatArray = np.ndarray

TOLERANCES = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "max_iter": 400}
"""Clarabel tolerances of the reference solve: tight, since the duals (the prices) are about
a thousand times less accurate than the gap (Clarabel's 1e-8 defaults leave prices off by
~1e-5)."""
FALLBACK = {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9, "max_iter": 400}
"""Tried when the tight solve stalls short of its tolerances (``optimal_inaccurate``); the
caller keeps whichever solution has the better certificates."""


@dataclass
class PlannerSolution:
    """What the planner found."""

    status: str
    prices: FloatArray
    consumption: FloatArray
    netputs: list[FloatArray]
    route: Route | None
    welfare: float
    wall_s: float


def solve_planner(
    economy: Economy, *, verbose: bool = False, tolerances: dict[str, Any] | None = None
) -> PlannerSolution:
    """Solve the planner problem; prices are the clearing constraints' multipliers.

    Args:
        economy: the compiled economy.
        verbose: print Clarabel's log.
        tolerances: Clarabel settings (default :data:`TOLERANCES`).
    """
    import cvxpy as cp

    started = time.perf_counter()
    tech = economy.technology
    n = economy.n_goods
    constraints: list[Any] = []
    variables = []
    supply: Any = 0
    for b in tech.batches:
        y = cp.Variable(b.goods.shape, name=f"y_{b.kind}")
        variables.append(y)
        constraints += b.cvxpy_constraints(y)
        scatter = sp.csr_matrix(
            (np.ones(b.goods.size), (b.goods.ravel(), np.arange(b.goods.size))),
            shape=(n, b.goods.size),
        )
        supply = supply + scatter @ cp.vec(y, order="C")
    consumption: Any = 0
    free_idx = np.flatnonzero(economy.free)
    x_free = None
    if len(free_idx):
        x_free = cp.Variable(len(free_idx), nonneg=True, name="x_free")
        place = sp.csr_matrix(
            (np.ones(len(free_idx)), (free_idx, np.arange(len(free_idx)))),
            shape=(n, len(free_idx)),
        )
        consumption = consumption + place @ x_free
    objective_extra: Any = 0
    f = None
    if economy.dag is not None:
        dag = economy.dag
        assert economy.bundles is not None
        f = cp.Variable(dag.n_edges, nonneg=True, name="edge_flow")
        incoming = sp.csr_matrix(
            (np.ones(dag.n_edges), (dag.head, np.arange(dag.n_edges))),
            shape=(dag.n_nodes, dag.n_edges),
        )
        outgoing = sp.csr_matrix(
            (np.ones(dag.n_edges), (dag.tail, np.arange(dag.n_edges))),
            shape=(dag.n_nodes, dag.n_edges),
        )
        inner = np.arange(1, dag.n_nodes - 1)
        constraints += [outgoing[0] @ f == 1.0]
        if len(inner):
            constraints += [incoming[inner] @ f == outgoing[inner] @ f]
        node_flow = incoming @ f + sp.csr_matrix(([1.0], ([0], [0])), shape=(dag.n_nodes, 1)) @ (
            np.ones(1)
        )
        consumption = consumption + economy.bundles @ node_flow
        out_of_tail = outgoing.T @ (outgoing @ f)  # per edge: outflow of its tail node
        entropy = -cp.sum(cp.rel_entr(f, out_of_tail))
        objective_extra = economy.entropy_weight * entropy
    clearing = consumption <= economy.endowment + supply
    constraints.append(clearing)
    delivered = economy.deliver @ consumption
    welfare = economy.welfare.cvx(economy.welfare.M @ delivered)
    problem = cp.Problem(cp.Maximize(welfare + objective_extra), constraints)
    try:
        with warnings.catch_warnings():  # inaccuracy shows in the status
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL, verbose=verbose, **(tolerances or TOLERANCES))
    except cp.error.SolverError as exc:
        raise SolverError(f"the planner's solver failed: {exc}") from None
    status = str(problem.status)
    if status in ("infeasible", "infeasible_inaccurate"):
        return PlannerSolution(
            "infeasible",
            np.full(n, np.nan),
            np.full(n, np.nan),
            [],
            None,
            -np.inf,
            time.perf_counter() - started,
        )
    if status not in ("optimal", "optimal_inaccurate"):
        raise SolverError(f"the planner ended with status '{status}'")
    prices = np.maximum(np.asarray(clearing.dual_value, np.float64).ravel(), 0.0)
    netputs = [np.asarray(v.value, np.float64) for v in variables]
    x = np.zeros(n)
    if x_free is not None:
        x[free_idx] = np.maximum(np.asarray(x_free.value).ravel(), 0.0)
    route = None
    if f is not None and economy.dag is not None:
        assert economy.bundles is not None
        flows = np.maximum(np.asarray(f.value).ravel(), 0.0)
        dag = economy.dag
        node = dag.node_flow(flows)
        out = np.zeros(dag.n_nodes)
        np.add.at(out, dag.tail, flows)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(out[dag.tail] > 0, flows / out[dag.tail], 0.0)
        route = Route(node, flows, share, float("nan"), dag.entropy(flows))
        x += np.asarray(economy.bundles @ node).ravel()
    return PlannerSolution(
        "optimal" if status == "optimal" else "optimal_inaccurate",
        prices,
        x,
        netputs,
        route,
        float(problem.value),
        time.perf_counter() - started,
    )
