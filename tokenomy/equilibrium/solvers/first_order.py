"""A first-order method for scale: accelerated proximal gradient on the planner's dual.

The planner's Lagrangian dual in the prices p ≥ 0 (welfare units) is

    G(p) = max_x [U(x) + (N/β)H − ⟨p, x⟩] + ⟨p, ω⟩ + Σ_a σ_{Y_a}(p),

a convex function whose gradient is minus the excess demand, −(x(p) − ω − Σ_a y_a(p)):
gradient descent on G *is* tâtonnement in welfare units, and its minimiser is the equilibrium
(strong duality holds for these convex economies). Every term is evaluated in closed form and
vectorised over agents — the orchestrator's routing by the softmax DP on the DAG, each firm's
profit by its pieces' support functions — so no general-purpose solver is involved.

For routed economies with a non-linear welfare, the orchestrator's term is split with
multipliers c on the welfare aggregates: max_s [Ũ(s) − ⟨c, s⟩] + max_f [⟨c, s(f)⟩ − ⟨p, x(f)⟩ +
(N/β)H] = Ũ*(c) + Φ_β(c; p), and (p, c) are optimised together.

Non-smooth parts:

* an ellipsoid's support ⟨c, p⟩ + ‖r ⊙ p‖ has a kink where the agent's prices vanish (an
  uncongested agent). The norm is kept out of the smooth part and handled, together with
  p ≥ 0, by its proximal operator (a one-dimensional secular equation per agent), so slack
  agents get exactly zero prices; the prox step's optimality condition gives the supply that
  covers demand (any point of the set is a profit maximiser at zero prices);
* activities (linear technologies) are smoothed, σ_μ(p) = max ⟨p, y⟩ − μ/2‖u − u_mid‖², with μ
  divided by ten per stage (continuation);
* a box's support is linear on p ≥ 0: nothing to do.

Algorithm: FISTA (Beck and Teboulle, 2009) with backtracking on the Lipschitz constant (tested
on gradients, ⟨∇f(x⁺) − ∇f(y), x⁺ − y⟩ ≤ L‖x⁺ − y‖², which unlike the function-value test does
not drown in rounding once steps are small) and function-value restarts (O'Donoghue and
Candès, 2015). The method stops when the clearing and
complementarity residuals are below the tolerance.

Capacity-limited routed economies (box production sets, linear welfare, each good used by one
agent) are solved on an equivalent dual with one variable per agent instead of one per good
(:mod:`~tokenomy.equilibrium.solvers.capacity_dual`); ``dual="goods"`` forces the general one.

Infeasible economies have an unbounded dual: the prices run away while G falls. For routed
economies with linear welfare G(p) below the least welfare any routing attains proves
infeasibility (weak duality) and the status is ``infeasible``; otherwise prices beyond 10¹²
times the start end the run as ``diverged``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tokenomy.equilibrium.economy import ConsumerChoice, Economy
from tokenomy.equilibrium.production import EllipsoidBatch, PieceBatch
from tokenomy.equilibrium.solvers.capacity_dual import CapacityDual
from tokenomy.equilibrium.solvers.price_loop import kkt_residual
from tokenomy.errors import SolverError

FloatArray = np.ndarray


@dataclass
class FirstOrderSolution:
    """Outcome of the first-order method."""

    status: str
    prices: FloatArray
    choice: ConsumerChoice
    netputs: list[FloatArray]
    iterations: int
    wall_s: float
    residuals: list[float] = field(default_factory=list)
    checked_at: list[int] = field(default_factory=list)
    dual_values: list[float] = field(default_factory=list)
    smoothing: float = 0.0


def ellipsoid_prox(u: FloatArray, radii: FloatArray, step: float) -> FloatArray:
    """argmin_q ½‖q − u‖² + step·‖r ⊙ q‖ subject to q ≥ 0, for each row.

    Negative coordinates go to 0; the rest shrink as q_i = u_i / (1 + step r_i²/t), where
    t = ‖r q‖ solves Σ a_i² / (t + step r_i²)² = 1 (a = r u⁺), unless ‖u⁺/r‖ ≤ step (q = 0).
    The root is found by safeguarded Newton steps, vectorised over rows.
    """
    up = np.maximum(u, 0.0)
    a2 = (radii * up) ** 2
    zero = np.sqrt(np.sum((up / radii) ** 2, axis=1)) <= step
    lam_r2 = step * radii**2
    lo = np.zeros(len(u))
    hi = np.sqrt(a2.sum(axis=1))
    t = 0.5 * hi
    for _ in range(100):
        denom = t[:, None] + lam_r2
        psi = np.sum(a2 / denom**2, axis=1) - 1.0
        dpsi = -2.0 * np.sum(a2 / denom**3, axis=1)
        lo = np.where(psi > 0, t, lo)
        hi = np.where(psi <= 0, t, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = t - psi / dpsi
        inside = (newton > lo) & (newton < hi) & np.isfinite(newton)
        t_new = np.where(inside, newton, 0.5 * (lo + hi))
        if np.all(np.abs(t_new - t) <= 1e-15 * np.maximum(1.0, t)):
            t = t_new
            break
        t = t_new
    q = up / (1.0 + lam_r2 / np.maximum(t, 1e-300)[:, None])
    return np.where(zero[:, None], 0.0, q)


class _Dual:
    """The dual G = f + h for one economy: f smooth, h the ellipsoid norms and p ≥ 0."""

    def __init__(self, economy: Economy) -> None:
        economy.demand_support()
        self.e = economy
        self.n = economy.n_goods
        w = economy.welfare
        self.split = economy.mode == "routed" and not w.linear
        self.n_c = w.M.shape[0] if self.split else 0
        lower = w.dual_lower() if self.split else -np.inf
        self.c_lower = max(lower, 1e-12) if np.isfinite(lower) else -np.inf
        batches = economy.technology.batches
        ells = [b for b in batches if isinstance(b, EllipsoidBatch)]
        goods = np.concatenate([b.goods.ravel() for b in ells]) if ells else np.zeros(0, int)
        # the prox needs each good in at most one ellipsoid
        self.prox_ells: list[EllipsoidBatch] = ells if len(np.unique(goods)) == len(goods) else []
        self.others: list[PieceBatch] = [b for b in batches if b not in self.prox_ells]
        self.welfare_floor = economy.welfare_floor()
        # ellipsoids that share goods (no prox) are smoothed like activities
        self.smooth = all(b.smooth for b in self.others)

    def initial(self, p0: FloatArray | None) -> FloatArray:
        """Starting point: prices p0 (default all ones) and, if split, aggregate prices."""
        e = self.e
        v = np.zeros(self.n + self.n_c)
        v[: self.n] = 1.0 if p0 is None else p0
        if self.split:
            w = e.welfare
            start_route = e._uniform_route_x()
            v[self.n :] = w.grad_s(w.aggregates(np.asarray(e.deliver @ start_route)))
        return v

    def prices(self, v: FloatArray) -> FloatArray:
        """The goods prices in v."""
        return np.asarray(v[: self.n], np.float64).copy()

    # -- pieces of G
    def h(self, v: FloatArray) -> float:
        p = v[: self.n]
        return float(
            sum(np.linalg.norm(b.radii * b.local(p), axis=1).sum() for b in self.prox_ells)
        )

    def prox(self, u: FloatArray, step: float) -> FloatArray:
        """Prox of step·h plus the constraints (p ≥ 0, c in its domain)."""
        out = u.copy()
        out[: self.n] = np.maximum(out[: self.n], 0.0)
        for b in self.prox_ells:
            out[b.goods] = ellipsoid_prox(u[b.goods], b.radii, step)
        if self.split and np.isfinite(self.c_lower):
            out[self.n :] = np.maximum(out[self.n :], self.c_lower)
        return out

    def consumer(self, v: FloatArray) -> tuple[float, FloatArray, ConsumerChoice]:
        """max_x U − ⟨p, x⟩ (value), its gradient part in v, and the choice."""
        e = self.e
        p = v[: self.n]
        w = e.welfare
        grad = np.zeros_like(v)
        if e.mode == "routed":
            c = v[self.n :] if self.split else w.coefficients()
            route, x = e._routed_choice(p, c)
            delivered = np.asarray(e.deliver @ x)
            value = route.value
            if self.split:
                conj, s_star = w.conjugate(c)
                value += conj
                grad[self.n :] = w.aggregates(delivered) - s_star
            grad[: self.n] = -x
            return value, grad, ConsumerChoice(x, route, delivered, e.welfare_of(x, route))
        x = e._free_demand(p)
        delivered = np.asarray(e.deliver @ x)
        value = e.welfare.cardinal(delivered) - float(p @ x)
        grad[: self.n] = -x
        return value, grad, ConsumerChoice(x, None, delivered, e.welfare_of(x, None))

    def f(self, v: FloatArray, mu: float) -> tuple[float, FloatArray]:
        """The smooth part of G and its gradient."""
        value, grad, _ = self.consumer(v)
        p = v[: self.n]
        value += float(p @ self.e.endowment)
        grad[: self.n] += self.e.endowment
        for b in self.others:
            if b.smooth or mu <= 0:
                val, y = b.support(p), b.argmax(p)
            else:
                val, y = b.smoothed(p, mu)
            value += float(val.sum())
            np.add.at(grad, b.goods.ravel(), y.ravel())
        for b in self.prox_ells:  # the linear part ⟨c, p⟩
            value += float(np.sum(b.center * b.local(p)))
            np.add.at(grad, b.goods.ravel(), b.center.ravel())
        return value, grad

    def netputs(self, v: FloatArray, mu: float, lipschitz: float) -> list[FloatArray]:
        """Supplies at v: maximisers, with the ellipsoids' recovered from a prox step."""
        p = v[: self.n]
        out: dict[int, FloatArray] = {}
        for b in self.others:
            out[id(b)] = b.smoothed(p, mu)[1] if (not b.smooth and mu > 0) else b.argmax(p)
        if self.prox_ells:
            _, grad = self.f(v, mu)
            u = v - grad / lipschitz
            for b in self.prox_ells:
                q = v[b.goods]
                norm = np.linalg.norm(b.radii * q, axis=1)
                safe = np.where(norm > 0, norm, 1.0)[:, None]
                active = b.center + b.radii**2 * q / safe
                # at zero prices: the subgradient the prox step implies, L·u⁺ (inside the set)
                slack = b.center + np.maximum(lipschitz * u[b.goods], 0.0)
                slack = _into_ellipsoid(slack, b)
                out[id(b)] = np.where((norm > 0)[:, None], active, slack)
        return [out[id(b)] for b in self.e.technology.batches]

    def residual(
        self, v: FloatArray, mu: float, lipschitz: float
    ) -> tuple[float, ConsumerChoice, list[FloatArray]]:
        """Clearing and complementarity residual (relative) with the supplies above."""
        _, _, choice = self.consumer(v)
        p = v[: self.n]
        netputs = self.netputs(v, mu, lipschitz)
        z = self.e.excess_demand(p, choice.x, netputs)
        return kkt_residual(p, z, choice.x), choice, netputs


def _into_ellipsoid(y: FloatArray, b: EllipsoidBatch) -> FloatArray:
    """Scale y − c back onto the ellipsoid where rounding put it a hair outside."""
    norm = np.linalg.norm((y - b.center) / b.radii, axis=1)
    scale = np.where(norm > 1.0, 1.0 / np.maximum(norm, 1e-300), 1.0)
    return np.asarray(b.center + (y - b.center) * scale[:, None], np.float64)


def solve_first_order(
    economy: Economy,
    *,
    tol: float = 1e-7,
    max_iter: int = 50_000,
    p0: FloatArray | None = None,
    max_seconds: float | None = None,
    mu0: float = 1e-1,
    mu_floor: float = 1e-8,
    dual: str = "auto",
) -> FirstOrderSolution:
    """Minimise the dual by accelerated proximal gradient; see the module docstring.

    Args:
        economy: a compiled economy whose demand functions exist (routed or free mode).
        tol: target for the clearing and complementarity residuals (relative).
        max_iter: iteration cap over all smoothing stages.
        p0: starting prices (default all ones).
        max_seconds: wall-clock cap.
        mu0: first smoothing parameter for activities (divided by ten per stage).
        mu_floor: last smoothing parameter.
        dual: ``auto`` (the per-agent capacity dual where it applies, see
            :mod:`~tokenomy.equilibrium.solvers.capacity_dual`) or ``goods`` (always the dual
            over all goods).
    """
    started = time.perf_counter()
    if dual not in ("auto", "goods"):
        raise SolverError(f"dual must be 'auto' or 'goods', got {dual!r}")
    reduced = dual == "auto" and CapacityDual.applies(economy)
    problem: _Dual | CapacityDual = CapacityDual(economy) if reduced else _Dual(economy)
    n = problem.n
    v = problem.prox(problem.initial(p0), 0.0)
    price_ceiling = 1e12 * max(1.0, float(np.max(v[:n], initial=0.0)))
    if problem.smooth:
        stages = [0.0]
    else:
        stages = []
        mu = mu0
        while mu > mu_floor:
            stages.append(mu)
            mu /= 10.0
        stages.append(mu_floor)
    residuals: list[float] = []
    checked_at: list[int] = []
    values: list[float] = []
    status = "max_iterations"
    it = 0
    lipschitz = 1.0
    mu = stages[0]
    for stage, mu in enumerate(stages):
        final = stage == len(stages) - 1
        stage_tol = tol if final else max(tol, 10.0 * mu)
        f_v, _ = problem.f(v, mu)
        value_v = f_v + problem.h(v)
        y = v.copy()
        t = 1.0
        from_v = True
        reached = False
        while it < max_iter:
            it += 1
            _, grad_y = problem.f(y, mu)
            for _ in range(200):
                cand = problem.prox(y - grad_y / lipschitz, 1.0 / lipschitz)
                f_c, grad_c = problem.f(cand, mu)
                diff = cand - y
                # curvature test on gradients: robust where function values lose precision
                curvature = float((grad_c - grad_y) @ diff)
                if not np.isfinite(curvature):
                    raise SolverError(
                        "the first-order method met non-finite demand or supply at prices "
                        f"{np.array2string(cand[:n], precision=3, threshold=8)}; use --solver "
                        "planner"
                    )
                if curvature <= lipschitz * float(diff @ diff) * (1.0 + 1e-12):
                    break
                # jump to the observed curvature, but at most 64× per test: a trial point on
                # the edge of the domain (a zero price facing a Cobb–Douglas demand) reports
                # an astronomically large curvature that says nothing about the minimiser
                observed = curvature / max(float(diff @ diff), 1e-300)
                lipschitz = min(max(2.0 * lipschitz, observed), 64.0 * lipschitz)
            else:
                raise SolverError(
                    "the first-order method found no step size that decreases the dual: its "
                    "gradient jumps near these prices (a production set whose support function "
                    "has a kink there); use --solver planner"
                )
            value_c = f_c + problem.h(cand)
            rounding = 1e-13 * max(1.0, abs(value_v))
            if value_c > value_v + rounding and not from_v:
                # momentum overshot: restart from the last iterate (a plain step from v is a
                # descent step, so it is accepted even where rounding says otherwise)
                t = 1.0
                y = v.copy()
                from_v = True
                continue
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            # the extrapolated point is kept in the domain (p ≥ 0, aggregate prices above
            # their floor): the gradient is evaluated there
            y = problem.prox(cand + ((t - 1.0) / t_next) * (cand - v), 0.0)
            v, value_v, t = cand, value_c, t_next
            from_v = False
            if value_v < problem.welfare_floor - 1e-9 * max(1.0, abs(problem.welfare_floor)):
                status = "infeasible"
                break
            if float(np.max(v[:n])) > price_ceiling:
                status = "diverged"
                break
            lipschitz *= 0.9
            values.append(value_v)
            if it % 10 == 0:
                res, _, _ = problem.residual(v, mu, lipschitz)
                residuals.append(res)
                checked_at.append(it)
                if res <= stage_tol:
                    reached = True
                    break
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                status = "time_limit"
                break
        if status in ("time_limit", "infeasible", "diverged") or it >= max_iter:
            break
        if final and reached:
            status = "optimal"
    res, choice, netputs = problem.residual(v, mu, lipschitz)
    if status in ("max_iterations", "time_limit") and res <= 10 * tol:
        status = "optimal_inaccurate"
    return FirstOrderSolution(
        status=status,
        prices=problem.prices(v),
        choice=choice,
        netputs=netputs,
        iterations=it,
        wall_s=time.perf_counter() - started,
        residuals=residuals,
        checked_at=checked_at,
        dual_values=values,
        smoothing=mu,
    )


def dual_value(economy: Economy, p: FloatArray) -> float:
    """G(p) at prices in welfare units: an upper bound on the planner's welfare (weak duality)."""
    dual = _Dual(economy)
    if dual.split:
        from scipy.optimize import minimize

        lower = dual.c_lower

        def obj(c: FloatArray) -> tuple[float, FloatArray]:
            value, grad, _ = dual.consumer(np.r_[p, c])
            return value, grad[dual.n :]

        start = economy._solve_aggregate_multipliers(p)
        res = minimize(
            obj,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(lower if np.isfinite(lower) else None, None)] * len(start),
            options={"ftol": 1e-15, "gtol": 1e-12},
        )
        consumer_value = float(res.fun)
    else:
        consumer_value = dual.consumer(np.asarray(p, float))[0]
    firms = float(economy.technology.profits(p).sum())
    return consumer_value + float(p @ economy.endowment) + firms
