"""Classic economies with several consumers: Fisher markets and exchange economies.

**Fisher market.** Buyers i with budgets B_i buy goods j in supply s_j. Utilities: Cobb–Douglas
(exponents a_ij, normalised per buyer), linear (values v_ij) or Leontief (needs n_ij). Demands at
prices p: Cobb–Douglas x_ij = â_ij B_i / p_j; Leontief x_ij = n_ij B_i / Σ_k n_ik p_k; linear:
spend B_i on the goods of best value per price. Algorithms:

* ``closed-form`` (Cobb–Douglas): p_j = Σ_i B_i â_ij / s_j;
* ``planner``: the Eisenberg–Gale program max Σ_i B_i log u_i(x_i) s.t. Σ_i x_ij ≤ s_j, whose
  multipliers are the equilibrium prices (cvxpy with Clarabel);
* ``first-order``: proportional response dynamics (bids b_ij ← B_i v_ij x_ij / u_i), which is
  mirror descent on Shmyrev's convex program (Birnbaum, Devanur and Xiao, 2011);
* ``price-loop``: tâtonnement p⁺ = [p + η z(p)]₊.

For linear utilities the Eisenberg–Gale duality gap certifies an ε-equilibrium: primal
Σ B_i log u_i; dual Σ_j s_j p_j − Σ_i B_i log β_i + Σ B_i log B_i − Σ B_i with β_i = min_j p_j/v_ij.

**Exchange economy.** Consumers own endowments e_i and spend their value p·e_i. Algorithms:

* ``closed-form`` (Cobb–Douglas): with supplies normalised to 1, p is the Perron eigenvector of
  AᵀE (A: exponents, E: endowments);
* ``planner``: the Negishi path — budgets w for the Eisenberg–Gale program such that incomes
  at its prices equal the budgets (a root of w ↦ p(w)·E − w, Powell's hybrid method);
* ``price-loop``: tâtonnement on the price simplex (Scarf's economy cycles, as it must).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenomy.equilibrium.solvers.price_loop import LoopPath, kkt_residual, tatonnement
from tokenomy.equilibrium.spec import ExchangeSpec, FisherSpec
from tokenomy.errors import SolverError

FloatArray = np.ndarray

TIGHT = {"tol_gap_abs": 1e-14, "tol_gap_rel": 1e-14, "tol_feas": 1e-12, "max_iter": 500}
"""Clarabel tolerances for the reference solves (closed forms are checked to 1e-8)."""


@dataclass(eq=False)
class GoodsMarket:
    """A compiled Fisher market or exchange economy (goods, consumers, utilities)."""

    kind: str  # "fisher" | "exchange"
    name: str
    goods: list[str]
    consumers: list[str]
    utility: str  # "cobb_douglas" | "linear" | "leontief" (one kind per market)
    weights: FloatArray  # (consumers × goods); Cobb–Douglas rows normalised to 1
    supply: FloatArray  # (goods,) total supply
    budgets: FloatArray | None = None  # Fisher
    endowments: FloatArray | None = None  # exchange (consumers × goods)

    @property
    def n_goods(self) -> int:
        """Number of goods."""
        return len(self.goods)

    def incomes(self, p: FloatArray) -> FloatArray:
        """Budgets (Fisher) or values of endowments (exchange)."""
        if self.kind == "fisher":
            assert self.budgets is not None
            return self.budgets
        assert self.endowments is not None
        return np.asarray(self.endowments @ p, np.float64)

    def demand(self, p: FloatArray, incomes: FloatArray | None = None) -> FloatArray:
        """Each consumer's demand (consumers × goods) at prices p."""
        B = self.incomes(p) if incomes is None else incomes
        W = self.weights
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.utility == "cobb_douglas":
                return np.asarray(W * B[:, None] / p[None, :], np.float64)
            if self.utility == "leontief":
                cost = W @ p
                return np.asarray(W * (B / cost)[:, None], np.float64)
            bang = np.where(W > 0, W / p[None, :], 0.0)
            best = bang.max(axis=1, keepdims=True)
            chosen = np.isclose(bang, best, rtol=1e-12, atol=0.0) & (W > 0)
            share = chosen / chosen.sum(axis=1, keepdims=True)
            return np.asarray(share * B[:, None] / p[None, :], np.float64)

    def excess(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Aggregate excess demand and aggregate demand."""
        x = self.demand(p).sum(axis=0)
        return x - self.supply, x

    def utilities(self, x: FloatArray) -> FloatArray:
        """Each consumer's utility of an allocation (consumers × goods)."""
        W = self.weights
        if self.utility == "cobb_douglas":
            with np.errstate(divide="ignore"):
                return np.asarray(np.exp(np.sum(W * np.log(np.maximum(x, 1e-300)), axis=1)))
        if self.utility == "leontief":
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(W > 0, x / W, np.inf)
            return np.asarray(ratio.min(axis=1), np.float64)
        return np.asarray(np.sum(W * x, axis=1), np.float64)


def compile_market(spec: FisherSpec | ExchangeSpec) -> GoodsMarket:
    """Arrays of a Fisher or exchange spec (one utility kind per market)."""
    if isinstance(spec, FisherSpec):
        goods = list(spec.goods)
        people = list(spec.buyers)
        utils = [spec.buyers[b].utility for b in people]
    else:
        goods = list(spec.goods)
        people = list(spec.consumers)
        utils = [spec.consumers[c].utility for c in people]
    kinds = {u.kind for u in utils}
    if len(kinds) != 1:
        raise SolverError(
            f"all consumers of a {spec.kind} market need the same utility kind, got {sorted(kinds)}"
        )
    kind = kinds.pop()
    W = np.zeros((len(people), len(goods)))
    for i, u in enumerate(utils):
        for g, w in u.weights.items():
            W[i, goods.index(g)] = w
    if kind == "cobb_douglas":
        W = W / W.sum(axis=1, keepdims=True)
    if isinstance(spec, FisherSpec):
        budgets = np.asarray([spec.buyers[b].budget for b in people], np.float64)
        supply = np.asarray([spec.goods[g] for g in goods], np.float64)
        return GoodsMarket("fisher", spec.name, goods, people, kind, W, supply, budgets=budgets)
    E = np.zeros((len(people), len(goods)))
    for i, c in enumerate(people):
        for g, amount in spec.consumers[c].endowment.items():
            E[i, goods.index(g)] = amount
    return GoodsMarket("exchange", spec.name, goods, people, kind, W, E.sum(axis=0), endowments=E)


# ---------------------------------------------------------------------------- algorithms


@dataclass
class MarketSolution:
    """Prices and allocation of a classic market."""

    status: str
    prices: FloatArray
    allocation: FloatArray  # consumers × goods
    iterations: int
    wall_s: float
    loop: LoopPath | None = None
    message: str = ""


def closed_form(m: GoodsMarket) -> MarketSolution:
    """Cobb–Douglas closed forms (Fisher: p = Σ B â / s; exchange: Perron eigenvector)."""
    started = time.perf_counter()
    if m.utility != "cobb_douglas":
        raise SolverError("closed forms exist for Cobb–Douglas utilities only")
    if m.kind == "fisher":
        assert m.budgets is not None
        p = (m.budgets @ m.weights) / m.supply
    else:
        assert m.endowments is not None
        # normalise each good's total supply to 1, take the Perron vector of AᵀE
        E = m.endowments / m.supply[None, :]
        M = m.weights.T @ E
        vals, vecs = np.linalg.eig(M)
        k = int(np.argmin(np.abs(vals - 1.0)))
        v = np.abs(np.real(vecs[:, k]))
        p = v / m.supply  # undo the unit change
        p = p * m.n_goods / p.sum()
    return MarketSolution("optimal", p, m.demand(p), 0, time.perf_counter() - started)


def eisenberg_gale(
    m: GoodsMarket, budgets: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Solve max Σ B_i log u_i s.t. Σ_i x_ij ≤ s_j; return (prices, allocation)."""
    import cvxpy as cp

    B = m.incomes(np.ones(m.n_goods)) if budgets is None else budgets
    n_c, n_g = m.weights.shape
    x = cp.Variable((n_c, n_g), nonneg=True)
    W = m.weights
    if m.utility == "cobb_douglas":
        log_u = [cp.sum(cp.multiply(W[i], cp.log(x[i]))) for i in range(n_c)]
    elif m.utility == "linear":
        log_u = [cp.log(W[i] @ x[i]) for i in range(n_c)]
    else:
        t = cp.Variable(n_c)
        log_u = [cp.log(t[i]) for i in range(n_c)]
    cons = [cp.sum(x, axis=0) <= m.supply]
    if m.utility == "leontief":
        cons += [x[i] >= W[i] * t[i] for i in range(n_c)]
    problem = cp.Problem(cp.Maximize(sum(B[i] * log_u[i] for i in range(n_c))), cons)
    with warnings.catch_warnings():  # inaccuracy shows in the status, checked below
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver=cp.CLARABEL, **TIGHT)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise SolverError(f"the Eisenberg–Gale program ended with status '{problem.status}'")
    return np.asarray(cons[0].dual_value, np.float64), np.asarray(x.value, np.float64)


def planner(m: GoodsMarket, *, tol: float = 1e-10) -> MarketSolution:
    """Fisher: the Eisenberg–Gale program. Exchange: the Negishi path.

    The Negishi path looks for budgets w (welfare weights) such that the Eisenberg–Gale
    program with budgets w has prices p(w) at which every consumer's income equals its budget,
    p(w)·e_i = w_i: a root of w ↦ p(w)·E − w on the simplex, found by Powell's hybrid method
    from equal budgets. Unlike tâtonnement it does not follow the excess demand, so it is not
    trapped by Scarf's cycles.
    """
    started = time.perf_counter()
    if m.kind == "fisher":
        p, x = eisenberg_gale(m)
        return MarketSolution("optimal", p, x, 1, time.perf_counter() - started)
    from scipy.optimize import root

    assert m.endowments is not None
    E = m.endowments
    n = len(m.consumers)
    evaluations = 0
    last: dict[str, FloatArray] = {}

    def weights(theta: FloatArray) -> FloatArray:
        return np.asarray(np.r_[theta, 1.0 - theta.sum()], np.float64)

    def gap(theta: FloatArray) -> FloatArray:
        nonlocal evaluations
        evaluations += 1
        w = np.maximum(weights(theta), 1e-12)
        p, x = eisenberg_gale(m, w / w.sum())
        incomes = E @ np.maximum(p, 0.0)
        last.update(p=p, x=x)
        return np.asarray((incomes / incomes.sum() - w / w.sum())[:-1], np.float64)

    # forward differences over steps of 1e-4 (relative) stay clear of the interior-point noise
    sol = root(gap, np.full(n - 1, 1.0 / n), method="hybr", options={"xtol": 1e-13, "eps": 1e-4})
    residual = float(np.max(np.abs(gap(sol.x)))) if n > 1 else 0.0
    status = "optimal" if residual <= max(tol, 1e-9) else "optimal_inaccurate"
    p = np.maximum(last["p"], 0.0)
    p = p * m.n_goods / p.sum()
    message = "" if status == "optimal" else f"Negishi residual {residual:.2e}"
    return MarketSolution(
        status, p, last["x"], evaluations, time.perf_counter() - started, message=message
    )


def proportional_response(
    m: GoodsMarket, *, tol: float = 1e-10, max_iter: int = 100_000
) -> MarketSolution:
    """Proportional response dynamics for Fisher markets (Cobb–Douglas or linear)."""
    started = time.perf_counter()
    if m.kind != "fisher":
        raise SolverError("proportional response applies to Fisher markets")
    if m.utility == "leontief":
        raise SolverError(
            "proportional response does not apply to Leontief utilities; use --solver planner"
        )
    assert m.budgets is not None
    B, W = m.budgets, m.weights
    bids = B[:, None] * (W > 0) / np.maximum((W > 0).sum(axis=1, keepdims=True), 1)
    status = "max_iterations"
    it = 0
    p = bids.sum(axis=0)
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        p = bids.sum(axis=0) / m.supply  # price: spending per unit of supply
        x = bids / p[None, :]
        if m.utility == "cobb_douglas":
            new = B[:, None] * W
        else:
            gain = W * x
            new = B[:, None] * gain / gain.sum(axis=1, keepdims=True)
        if float(np.max(np.abs(new - bids))) <= tol * float(B.max()):
            bids = new
            status = "optimal"
            break
        bids = new
    p = bids.sum(axis=0) / m.supply
    x = bids / p[None, :]
    return MarketSolution(status, p, x, it, time.perf_counter() - started)


def price_loop(
    m: GoodsMarket,
    *,
    eta: float = 0.1,
    tol: float = 1e-9,
    max_iter: int = 20_000,
    p0: FloatArray | None = None,
) -> MarketSolution:
    """Tâtonnement (Fisher: on levels; exchange: on the simplex Σ p = number of goods)."""
    started = time.perf_counter()
    level = None if m.kind == "fisher" else float(m.n_goods)
    start = np.ones(m.n_goods) if p0 is None else np.asarray(p0, float)
    # typical price: money per unit of supply (Fisher), 1 on the normalised simplex (exchange)
    scale = float(np.sum(m.budgets) / np.sum(m.supply)) if m.budgets is not None else 1.0
    loop = tatonnement(
        m.excess, start, eta=eta, level=level, tol=tol, max_iter=max_iter, price_scale=scale
    )
    p = loop.prices
    return MarketSolution(
        loop.status,
        p,
        m.demand(p),
        loop.iterations,
        time.perf_counter() - started,
        loop,
        loop.message,
    )


# ---------------------------------------------------------------------------- certificates


def walras_residual(m: GoodsMarket, p: FloatArray) -> float:
    """|Σ_i p·x_i(p) − Σ_i income_i(p)| / income: the budgets bind, at any prices.

    For an exchange economy this is Walras' law p·z(p) = 0; in a Fisher market money comes from
    outside, so p·z(p) = Σ B − p·s away from equilibrium, and the identity is the budgets'.
    """
    d = m.demand(p)
    income = float(m.incomes(p).sum())
    return abs(float(np.sum(d @ p)) - income) / max(1.0, income)


def certificates(m: GoodsMarket, sol: MarketSolution) -> dict[str, Any]:
    """Walras, clearing, complementarity, budgets (and the EG duality gap for linear Fisher)."""
    p = sol.prices
    x = sol.allocation
    z = x.sum(axis=0) - m.supply
    incomes = m.incomes(p)
    scale = max(1.0, float(incomes.sum()))
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {
        "walras": walras_residual(m, p),
        "walras_random": max(
            walras_residual(m, rng.lognormal(0.0, 1.0, m.n_goods)) for _ in range(8)
        ),
        "clearing": float(np.max(np.maximum(z, 0.0))) / max(1.0, float(m.supply.max())),
        "complementarity": kkt_residual(p, z, m.supply),
        "budget_gap": float(np.max(np.abs(x @ p - incomes))) / scale,
        "profit_gap": 0.0,  # no firms
    }
    if m.kind == "fisher" and m.utility == "linear":
        assert m.budgets is not None
        u = m.utilities(x)
        B = m.budgets
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = np.min(np.where(m.weights > 0, p[None, :] / m.weights, np.inf), axis=1)
        primal = float(np.sum(B * np.log(u)))
        dual = float(m.supply @ p - np.sum(B * np.log(beta)) + np.sum(B * np.log(B)) - B.sum())
        out["eisenberg_gale_gap"] = max(0.0, dual - primal)
    return out
