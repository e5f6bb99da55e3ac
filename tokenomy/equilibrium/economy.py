"""A compiled economy: goods, firms, the orchestrator, routing — and its demand functions.

Goods are the coefficients of every market's metric trajectories, flattened: market m with
metrics r₁..r_R contributes R·K goods, metric-major. Prices p ≥ 0 live on goods; an agent's
price trajectory p_a(t) is reconstructed from its block.

The orchestrator consumes x ≥ 0. In markets of agents on the DAG its consumption is routed:
x = N·Σ_v φ_v g_v (N tasks, g_v the per-task bundle of agent v, φ the routing's node flows);
elsewhere it is chosen freely. Delivered metrics D = Σ_markets x (per metric) enter welfare.

Demand functions (used by the price loop, the first-order method and the certificates):

* :meth:`Economy.lagrangian_demand` — argmax U(x) + H/β − ⟨p, x⟩ (prices in welfare units);
* :meth:`Economy.walrasian_demand` — argmax U(x) + H/β s.t. ⟨p, x⟩ ≤ income, found as the
  Lagrangian demand at μ·p with μ (the marginal utility of income) making the budget bind.

Supported structures for these: all consumption routed (any welfare), or all consumption free
with each metric sold in one market and welfare ``quadratic`` (any K) or a strictly concave
kind with K = 1. Anything else is still solved by the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from tokenomy.equilibrium import spec as S
from tokenomy.equilibrium import welfare as W
from tokenomy.equilibrium.basis import Basis
from tokenomy.equilibrium.expressions import ExpressionError, compile_expression
from tokenomy.equilibrium.production import (
    ActivitiesBatch,
    BoxBatch,
    EllipsoidBatch,
    PieceBatch,
    PowerBatch,
    QuadraticCostBatch,
    Technology,
)
from tokenomy.equilibrium.routing import DAG, Route
from tokenomy.errors import SolverError, SpecError
from tokenomy.prices import Prices, PriceTable

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Market:
    """A market: its metrics and where its goods start in the flat goods vector."""

    name: str
    metrics: tuple[str, ...]
    offset: int
    K: int

    @property
    def size(self) -> int:
        """Number of goods (metrics × K)."""
        return len(self.metrics) * self.K

    def slot(self, metric: str) -> slice:
        """Goods of one metric in this market."""
        i = self.metrics.index(metric)
        return slice(self.offset + i * self.K, self.offset + (i + 1) * self.K)


@dataclass(frozen=True)
class ConsumerChoice:
    """The orchestrator's consumption and routing."""

    x: FloatArray  # goods consumed
    route: Route | None
    delivered: FloatArray  # D (R·K)
    welfare: float  # cardinal welfare incl. routing entropy (N/β)·H, plus money kept
    mu: float = 1.0  # marginal utility of income (Walrasian demand)
    money: float = 0.0  # income kept as money (economies with a numéraire)


@dataclass(eq=False)
class Economy:
    """A compiled :class:`~tokenomy.equilibrium.spec.EconomySpec`."""

    spec: S.EconomySpec
    basis: Basis
    metrics: list[str]
    markets: dict[str, Market]
    technology: Technology
    firm_names: list[str]
    welfare: W.Welfare
    deliver: sp.csr_matrix  # D = deliver @ x   (R·K × n)
    endowment: FloatArray
    dag: DAG | None = None
    bundles: sp.csc_matrix | None = None  # x_routed = bundles @ φ   (n × nodes)
    beta: float = np.inf  # routing rationality per task
    tasks: float = 1.0
    free: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    money: bool = False  # unspent income kept as money worth 1 welfare unit
    profit_share: float = 1.0

    @property
    def n_goods(self) -> int:
        """Number of goods."""
        return self.technology.n_goods

    @property
    def K(self) -> int:
        """Basis size."""
        return self.basis.size

    # ------------------------------------------------------------------ structure
    @cached_property
    def routed(self) -> bool:
        """Whether tasks are routed along a DAG."""
        return self.dag is not None

    @cached_property
    def mode(self) -> str:
        """``routed`` (all consumption routed), ``free`` (none), or ``mixed``."""
        if self.dag is None:
            return "free"
        return "routed" if not self.free.any() else "mixed"

    def demand_support(self) -> None:
        """Raise :class:`SolverError` if the demand functions do not cover this economy."""
        if self.mode == "mixed":
            raise SolverError(
                "this economy mixes routed and freely consumed markets; only the planner solves "
                "it (--solver planner)"
            )
        if self.mode == "free":
            owner: dict[str, str] = {}
            for m in self.markets.values():
                if not self.free[m.offset : m.offset + m.size].any():
                    continue
                for r in m.metrics:
                    if r in owner:
                        raise SolverError(
                            f"metric '{r}' is consumed from two markets ('{owner[r]}' and "
                            f"'{m.name}'); only the planner solves that (--solver planner)"
                        )
                    owner[r] = m.name
            if self.welfare.linear:
                raise SolverError(
                    "freely consumed goods with linear welfare have no demand function (the "
                    "orchestrator would buy only the best good); use --solver planner"
                )
            if not isinstance(self.welfare, W.QuadraticWelfare) and self.K > 1:
                raise SolverError(
                    f"{self.welfare.kind} welfare over freely consumed trajectories (K = "
                    f"{self.K}) has no demand function; use quadratic welfare, K = 1, a routed "
                    "market, or --solver planner"
                )

    # ------------------------------------------------------------------ accounting
    def income(self, p: FloatArray) -> float:
        """Value of the endowment plus the orchestrator's share of all profits at prices p."""
        profits = float(self.technology.profits(p).sum())
        return float(p @ self.endowment) + self.profit_share * profits

    def price_scale(self) -> float:
        """A typical price, for step sizes: 1 without money, else a typical marginal welfare.

        Without money prices are normalised (Σ p = number of goods). With money they are in
        welfare units, where the numéraire itself costs 1, and a good is worth about what a
        unit of it adds to welfare: the larger of 1 and the mean |∂W/∂x| over the goods that
        matter, at the uniform routing (or at what the agents supply at unit prices, for
        freely consumed goods).
        """
        if not self.money:
            return 1.0
        w = self.welfare
        if self.dag is not None:
            x0 = self._uniform_route_x()
        else:
            x0 = np.maximum(self.endowment + self.technology.supply(np.ones(self.n_goods)), 0.0)
        s0 = w.aggregates(np.asarray(self.deliver @ x0))
        with np.errstate(divide="ignore", invalid="ignore"):
            c0 = w.coefficients() if w.linear else w.grad_s(np.maximum(s0, 1e-9))
        marginal = np.abs(np.asarray(self._goods_marginal @ c0).ravel())
        marginal = marginal[np.isfinite(marginal) & (marginal > 0)]
        return max(1.0, float(np.mean(marginal))) if len(marginal) else 1.0

    def welfare_floor(self) -> float:
        """A welfare every feasible routing attains (routed economies with linear welfare).

        The entropy term is ≥ 0 and a flow's welfare is at least N times its worst path's
        value, which the soft-min DP bounds from below; −∞ where no such bound is cheap. Weak
        duality turns a dual value below it into a proof that no feasible allocation exists.
        """
        if self.mode != "routed" or self.dag is None or self.bundles is None:
            return -np.inf
        if not self.welfare.linear:
            return -np.inf
        marginal = np.asarray(self._goods_marginal @ self.welfare.coefficients()).ravel()
        scores = np.asarray(self.bundles.T @ marginal).ravel() / self.tasks
        return float(self.dag.route(scores, -max(self.beta, 1.0)).value * self.tasks)

    def excess_demand(self, p: FloatArray, x: FloatArray, netputs: list[FloatArray]) -> FloatArray:
        """Z = x − ω − Σ_a y_a."""
        return np.asarray(x - self.endowment - self.technology.total(netputs), np.float64)

    @property
    def entropy_weight(self) -> float:
        """Weight of the routing entropy in welfare: N/β (β is rationality per task)."""
        return self.tasks / self.beta if self.dag is not None else 0.0

    def welfare_of(self, x: FloatArray, route: Route | None) -> float:
        """Cardinal welfare of a consumption (plus N/β times the routing entropy)."""
        value = self.welfare.cardinal(np.asarray(self.deliver @ x))
        if route is not None:
            value += self.entropy_weight * route.entropy
        return value

    def reported_welfare(self, x: FloatArray) -> float:
        """Welfare as the spec defines it (no entropy term)."""
        return self.welfare.value(np.asarray(self.deliver @ x))

    # ------------------------------------------------------------------ demand
    @cached_property
    def _goods_marginal(self) -> sp.csr_matrix:
        """(n × n_agg): marginal welfare of goods per unit of aggregate multiplier."""
        return sp.csr_matrix(self.deliver.T @ sp.csr_matrix(self.welfare.M.T))

    def _routed_choice(self, p: FloatArray, c: FloatArray) -> tuple[Route, FloatArray]:
        assert self.dag is not None
        assert self.bundles is not None
        marginal = np.asarray(self._goods_marginal @ c).ravel() - p
        scores = np.asarray(self.bundles.T @ marginal).ravel()
        # scores are totals over N tasks; rationality β is per task
        route = self.dag.route(scores / self.tasks, self.beta)
        route = Route(
            route.node_flow, route.edge_flow, route.share, route.value * self.tasks, route.entropy
        )
        x = np.asarray(self.bundles @ route.node_flow).ravel()
        return route, x

    def lagrangian_demand(self, p: FloatArray) -> ConsumerChoice:
        """Argmax U(x) + H/β − ⟨p, x⟩ over the orchestrator's choices (prices in welfare units)."""
        self.demand_support()
        w = self.welfare
        if self.mode == "routed":
            if w.linear:
                route, x = self._routed_choice(p, w.coefficients())
            else:
                c = self._solve_aggregate_multipliers(p)
                route, x = self._routed_choice(p, c)
            return ConsumerChoice(x, route, np.asarray(self.deliver @ x), self.welfare_of(x, route))
        x = self._free_demand(p)
        return ConsumerChoice(x, None, np.asarray(self.deliver @ x), self.welfare_of(x, None))

    def _solve_aggregate_multipliers(self, p: FloatArray) -> FloatArray:
        """min_c Ũ*(c) + Φ_β(c; p): the aggregate prices at which routing and welfare agree."""
        from scipy.optimize import minimize

        w = self.welfare
        lower = w.dual_lower()

        def objective(c: FloatArray) -> tuple[float, FloatArray]:
            # Ũ*(c) + Φ_β(c; p); Φ_β is the routing value (its scores include −p), whose
            # gradient in c is the aggregate the routing delivers (envelope theorem)
            conj, s_star = w.conjugate(c)
            route, x = self._routed_choice(p, c)
            s_route = w.aggregates(np.asarray(self.deliver @ x))
            return conj + route.value, s_route - s_star

        start = w.grad_s(w.aggregates(np.asarray(self.deliver @ self._uniform_route_x())))
        start = np.maximum(start, lower if np.isfinite(lower) else -np.inf)
        if np.isfinite(lower):
            start = np.maximum(start, 1e-6)
        bounds = [(lower if np.isfinite(lower) else None, None)] * len(start)
        res = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12},
        )
        return np.asarray(res.x, np.float64)

    def _uniform_route_x(self) -> FloatArray:
        assert self.dag is not None
        assert self.bundles is not None
        route = self.dag.route(np.zeros(self.dag.n_nodes), 1.0)
        return np.asarray(self.bundles @ route.node_flow).ravel()

    def _free_demand(self, p: FloatArray) -> FloatArray:
        """Closed-form Lagrangian demand for freely consumed goods."""
        w = self.welfare
        x = np.zeros(self.n_goods)
        # each metric coefficient is sold in one market: D = deliver @ x is a selection
        sel = self.deliver.tocoo()
        goods_of = np.full(self.deliver.shape[0], -1, np.int64)
        goods_of[sel.row] = sel.col
        if isinstance(w, W.QuadraticWelfare):
            rows = np.flatnonzero(np.asarray(np.abs(w.M).sum(axis=1)).ravel() > 0)
            # M selects coefficients; aggregate j <- D index of its nonzero
            d_index = np.asarray(np.abs(w.M).argmax(axis=1)).ravel()
            g = goods_of[d_index[rows]]
            price = p[g]
            x[g] = np.maximum((w.b[rows] - price) / w.q[rows], 0.0)
            return x
        # strictly concave aggregate kinds with K = 1: s_j = m_j x_g
        d_index = np.asarray(np.abs(w.M).argmax(axis=1)).ravel()
        weights = w.M[np.arange(w.M.shape[0]), d_index]
        g = goods_of[d_index]
        c = np.maximum(p[g] / weights, 1e-300)
        _, s = w.conjugate(c)
        x[g] = s / weights
        return x

    def walrasian_demand(self, p: FloatArray, income: float | None = None) -> ConsumerChoice:
        """Budget-constrained demand: the Lagrangian demand at μ·p with ⟨p, x⟩ ≤ income.

        With money (the numéraire, marginal utility 1) μ = 1 unless the Lagrangian demand costs
        more than the income, in which case μ > 1 makes it affordable; what is not spent is kept
        as money. Without money μ is the root of ⟨p, x(μp)⟩ = income; if no μ > 0 exhausts the
        income (the orchestrator is satiated) the budget stays slack and μ = 0 — Walras' law
        then fails, as it should.
        """
        from scipy.optimize import brentq

        income = self.income(p) if income is None else income
        if not np.any(p > 0) and self.mode == "routed":
            # every good is free: the budget binds trivially (nothing costs anything)
            at_zero = self.lagrangian_demand(p)
            return ConsumerChoice(
                at_zero.x, at_zero.route, at_zero.delivered, at_zero.welfare + income, 1.0, income
            )
        if income < 0 or (income == 0 and not self.money):
            raise SolverError(f"income at these prices is {income:g}; prices must be positive")

        def spend(log_mu: float) -> float:
            choice = self.lagrangian_demand(np.exp(log_mu) * p)
            return float(p @ choice.x) - income

        if self.money:
            at_one = self.lagrangian_demand(p)
            cost = float(p @ at_one.x)
            if cost <= income or income == 0:
                kept = income - cost
                return ConsumerChoice(
                    at_one.x, at_one.route, at_one.delivered, at_one.welfare + kept, 1.0, kept
                )
            lo = 0.0
        else:
            lo = -30.0
        f_lo = spend(lo)
        if f_lo <= 0:  # satiated: nothing it can buy exhausts its income
            choice = self.lagrangian_demand(np.exp(lo) * p)
            return ConsumerChoice(choice.x, choice.route, choice.delivered, choice.welfare, 0.0)
        hi = lo + 30.0
        f_hi = spend(hi)
        while f_hi > 0 and hi < 300:
            hi += 30.0
            f_hi = spend(hi)
        if f_hi > 0:
            raise SolverError(
                f"at these prices the orchestrator cannot afford any routing of the tasks: its "
                f"income ({income:g}) stays below what the cheapest choice costs, however high "
                "its marginal utility of income; income covers a feasible allocation at every "
                "price, so the production sets cannot carry the tasks"
            )
        log_mu = brentq(spend, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
        choice = self.lagrangian_demand(np.exp(log_mu) * p)
        return ConsumerChoice(
            choice.x, choice.route, choice.delivered, choice.welfare, float(np.exp(log_mu))
        )


# ---------------------------------------------------------------------------- compilation


def _coefficients(traj: S.Trajectory, basis: Basis, field: str) -> FloatArray:
    if isinstance(traj, S.Coefficients):
        if len(traj.coefficients) != basis.size:
            raise SpecError(
                f"field '{field}': expected {basis.size} coefficients, got {len(traj.coefficients)}"
            )
        return np.asarray(traj.coefficients, np.float64)
    if isinstance(traj, int | float):
        return basis.constant(float(traj))
    try:
        fn = compile_expression(traj)
        return basis.project(lambda t: fn(t, basis.horizon))
    except ExpressionError as exc:
        raise SpecError(f"field '{field}': {exc}") from None


def _scalar_or_coefficients(traj: S.Trajectory, basis: Basis, field: str, space: str) -> FloatArray:
    """Bounds: values on a piecewise basis, or per-coefficient numbers."""
    if space == "coefficients":
        if isinstance(traj, int | float):
            return np.full(basis.size, float(traj))
        if isinstance(traj, S.Coefficients):
            return _coefficients(traj, basis, field)
        raise SpecError(f"field '{field}': coefficient bounds are numbers or coefficient lists")
    return _coefficients(traj, basis, field)


def compile_economy(spec: S.EconomySpec) -> Economy:
    """Turn a validated spec into arrays the solvers use."""
    basis = Basis(spec.basis.kind, spec.basis.size, spec.horizon)
    K = basis.size
    markets: dict[str, Market] = {}
    offset = 0
    for name, agent in spec.agents.items():
        metrics = tuple(spec.metrics if agent.metrics is None else agent.metrics)
        markets[name] = Market(name, metrics, offset, K)
        offset += len(metrics) * K
    for name, mspec in spec.markets.items():
        markets[name] = Market(name, tuple(mspec.metrics), offset, K)
        offset += len(mspec.metrics) * K
    n = offset
    firm_names = list(spec.agents)
    batches = _compile_pieces(spec, basis, markets, n)
    technology = Technology(batches, len(firm_names), n)

    # delivered metrics: D[r·K + k] = Σ_markets x[market goods of (r, k)]
    R = len(spec.metrics)
    rows: list[int] = []
    cols: list[int] = []
    for m in markets.values():
        for r in m.metrics:
            ri = spec.metrics.index(r)
            sl = m.slot(r)
            rows.extend(range(ri * K, (ri + 1) * K))
            cols.extend(range(sl.start, sl.stop))
    deliver = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(R * K, n))

    welfare = _compile_welfare(spec, basis)
    endowment = np.zeros(n)
    for mname, amounts in spec.consumer.endowment.items():
        m = markets[mname]
        for r, traj in amounts.items():
            endowment[m.slot(r)] += _coefficients(traj, basis, f"consumer.endowment.{mname}.{r}")

    dag = None
    bundles = None
    beta = np.inf
    free = np.ones(n, bool)
    if spec.graph is not None:
        on_graph = {name for edge in spec.graph.edges for name in edge}
        agents_in = [a for a in spec.agents if a in on_graph]
        dag = DAG.from_edges([(u, v) for u, v in spec.graph.edges], list(spec.agents))
        beta = spec.graph.beta
        brow: list[int] = []
        bcol: list[int] = []
        bval: list[float] = []
        for node, name in enumerate(dag.names):
            if name in ("source", "sink"):
                continue
            agent = spec.agents[name]
            assert agent.per_task is not None
            m = markets[name]
            for r, traj in agent.per_task.items():
                coef = spec.graph.tasks * _coefficients(traj, basis, f"agents.{name}.per_task.{r}")
                sl = m.slot(r)
                brow.extend(range(sl.start, sl.stop))
                bcol.extend([node] * K)
                bval.extend(coef.tolist())
        bundles = sp.csc_matrix((bval, (brow, bcol)), shape=(n, dag.n_nodes))
        for a in agents_in:
            m = markets[a]
            free[m.offset : m.offset + m.size] = False
    return Economy(
        spec=spec,
        basis=basis,
        metrics=list(spec.metrics),
        markets=markets,
        technology=technology,
        firm_names=firm_names,
        welfare=welfare,
        deliver=deliver,
        endowment=endowment,
        dag=dag,
        bundles=bundles,
        beta=beta,
        tasks=spec.graph.tasks if spec.graph is not None else 1.0,
        free=free,
        money=_has_money(spec),
        profit_share=spec.consumer.profit_share,
    )


def _has_money(spec: S.EconomySpec) -> bool:
    if spec.consumer.money is not None:
        return spec.consumer.money
    if spec.graph is not None:
        # routing fixes the quantities bought, so only money can absorb the rest of the income
        return True
    return not isinstance(spec.consumer.welfare, S.CobbDouglasWelfare | S.CESWelfare)


def _compile_pieces(
    spec: S.EconomySpec, basis: Basis, markets: dict[str, Market], n: int
) -> list[PieceBatch]:
    K = basis.size
    groups: dict[tuple[str, int], list[dict[str, object]]] = {}

    def add(kind: str, **fields: object) -> None:
        goods = fields["goods"]
        assert isinstance(goods, np.ndarray)
        groups.setdefault((kind, goods.shape[0]), []).append(fields)

    for firm, (aname, agent) in enumerate(spec.agents.items()):
        for j, piece in enumerate(agent.production):
            field = f"agents.{aname}.production.{j}"
            if isinstance(piece, S.BoxPiece):
                m = markets[piece.market or aname]
                metrics = sorted(set(piece.lower) | set(piece.upper), key=m.metrics.index)
                goods: list[int] = []
                lo: list[np.ndarray] = []
                hi: list[np.ndarray] = []
                for r in metrics:
                    sl = m.slot(r)
                    goods.extend(range(sl.start, sl.stop))
                    lo.append(
                        _scalar_or_coefficients(
                            piece.lower[r], basis, f"{field}.lower.{r}", piece.space
                        )
                        if r in piece.lower
                        else np.zeros(K)
                    )
                    hi.append(
                        _scalar_or_coefficients(
                            piece.upper[r], basis, f"{field}.upper.{r}", piece.space
                        )
                        if r in piece.upper
                        else np.zeros(K)
                    )
                lo_a, hi_a = np.concatenate(lo), np.concatenate(hi)
                bad = np.flatnonzero(lo_a > hi_a + 1e-12)
                if len(bad):
                    r = metrics[bad[0] // K]
                    raise SpecError(
                        f"field '{field}.lower.{r}': lower bound exceeds upper bound at "
                        f"coefficient {bad[0] % K} (the production set would be empty)"
                    )
                add("box", firm=firm, goods=np.asarray(goods), lo=lo_a, hi=hi_a)
            elif isinstance(piece, S.EllipsoidPiece):
                m = markets[piece.market or aname]
                metrics = sorted(piece.radii, key=m.metrics.index)
                goods, center, radii = [], [], []
                for r in metrics:
                    sl = m.slot(r)
                    goods.extend(range(sl.start, sl.stop))
                    center.append(
                        _coefficients(piece.center[r], basis, f"{field}.center.{r}")
                        if r in piece.center
                        else np.zeros(K)
                    )
                    rad = piece.radii[r]
                    radii.append(
                        np.asarray(rad, float) if isinstance(rad, list) else np.full(K, float(rad))
                    )
                add(
                    "ellipsoid",
                    firm=firm,
                    goods=np.asarray(goods),
                    center=np.concatenate(center),
                    radii=np.concatenate(radii),
                )
            elif isinstance(piece, S.ActivitiesPiece):
                m = markets[piece.market or aname]
                metrics = sorted(
                    {r for a in piece.activities for r in a.vector}, key=m.metrics.index
                )
                goods = []
                for r in metrics:
                    sl = m.slot(r)
                    goods.extend(range(sl.start, sl.stop))
                vectors = []
                for i, act in enumerate(piece.activities):
                    vec = [
                        _coefficients(act.vector[r], basis, f"{field}.activities.{i}.vector.{r}")
                        if r in act.vector
                        else np.zeros(K)
                        for r in metrics
                    ]
                    vectors.append(np.concatenate(vec))
                add(
                    "activities",
                    firm=firm,
                    goods=np.asarray(goods),
                    vectors=np.asarray(vectors),
                    levels=np.asarray([a.max for a in piece.activities], float),
                )
            elif isinstance(piece, S.QuadraticCostPiece | S.PowerPiece):
                out_m = markets[piece.output.market or aname]
                in_m = markets[piece.input.market or aname]
                o_sl, i_sl = out_m.slot(piece.output.metric), in_m.slot(piece.input.metric)
                piece_goods = np.r_[
                    np.arange(o_sl.start, o_sl.stop), np.arange(i_sl.start, i_sl.stop)
                ]
                if isinstance(piece, S.QuadraticCostPiece):
                    cost = piece.linear * piece.max_output + 0.5 * piece.quadratic * (
                        piece.max_output**2
                    )
                    add(
                        "quadratic_cost",
                        firm=firm,
                        goods=piece_goods,
                        linear=piece.linear,
                        quadratic=piece.quadratic,
                        max_output=piece.max_output,
                        max_input=piece.max_input or cost,
                    )
                else:
                    add(
                        "power",
                        firm=firm,
                        goods=piece_goods,
                        scale=piece.scale,
                        exponent=piece.exponent,
                        max_input=piece.max_input,
                    )
    batches: list[PieceBatch] = []
    for (kind, _), items in groups.items():
        firm_arr = np.asarray([it["firm"] for it in items], np.int64)
        goods_arr = np.asarray([it["goods"] for it in items], np.int64)

        def stack(key: str, items: list[dict[str, object]] = items) -> FloatArray:
            return np.asarray([it[key] for it in items], np.float64)

        if kind == "box":
            batches.append(BoxBatch(firm_arr, goods_arr, stack("lo"), stack("hi")))
        elif kind == "ellipsoid":
            batches.append(EllipsoidBatch(firm_arr, goods_arr, stack("center"), stack("radii")))
        elif kind == "activities":
            batches.append(ActivitiesBatch(firm_arr, goods_arr, stack("vectors"), stack("levels")))
        elif kind == "quadratic_cost":
            batches.append(
                QuadraticCostBatch(
                    firm_arr,
                    goods_arr,
                    stack("linear"),
                    stack("quadratic"),
                    stack("max_output"),
                    stack("max_input"),
                )
            )
        else:
            batches.append(
                PowerBatch(
                    firm_arr, goods_arr, stack("scale"), stack("exponent"), stack("max_input")
                )
            )
    return batches


def _compile_welfare(spec: S.EconomySpec, basis: Basis) -> W.Welfare:
    w = spec.consumer.welfare
    K = basis.size
    R = len(spec.metrics)

    def aggregate_rows(metrics: list[str], weights: S.MetricMap) -> FloatArray:
        M = np.zeros((len(metrics), R * K))
        for j, r in enumerate(metrics):
            ri = spec.metrics.index(r)
            weight = (
                _coefficients(weights[r], basis, f"consumer.welfare.weights.{r}")
                if r in weights
                else basis.integral_weights
            )
            M[j, ri * K : (ri + 1) * K] = weight
        return M

    if isinstance(w, S.LinearWelfare):
        metrics = list(w.coefficients)
        return W.LinearWelfare(
            aggregate_rows(metrics, w.weights),
            metrics,
            np.asarray([w.coefficients[r] for r in metrics], float),
        )
    if isinstance(w, S.QualityMinusCostWelfare):
        prices = Prices(
            value=w.value, latency=w.latency_price, risk=w.risk_price, table=PriceTable.default()
        )
        tp = prices.table[w.model]
        per_unit = w.token_unit * (tp.input_per_million + tp.output_per_million) / 2.0 / 1e6
        roles = [
            ("quality", w.quality),
            ("tokens", w.tokens),
            ("latency", w.latency),
            ("risk", w.risk),
        ]
        metrics, coef = [], []
        for role, r in roles:
            if r is None:
                continue
            unit = {
                "quality": (1.0, 0.0, 0.0, 0.0),
                "tokens": (0.0, per_unit, 0.0, 0.0),
                "latency": (0.0, 0.0, 1.0, 0.0),
                "risk": (0.0, 0.0, 0.0, 1.0),
            }[role]
            metrics.append(r)
            coef.append(float(prices.net_value(*unit)))
        return W.QualityMinusCost(aggregate_rows(metrics, w.weights), metrics, np.asarray(coef))
    if isinstance(w, S.CobbDouglasWelfare):
        metrics = list(w.exponents)
        return W.CobbDouglasWelfare(
            aggregate_rows(metrics, w.weights),
            metrics,
            np.asarray([w.exponents[r] for r in metrics], float),
        )
    if isinstance(w, S.CESWelfare):
        metrics = list(w.shares)
        return W.CESWelfare(
            aggregate_rows(metrics, w.weights),
            metrics,
            np.asarray([w.shares[r] for r in metrics], float),
            w.rho,
        )
    assert isinstance(w, S.QuadraticWelfare)
    metrics = list(w.curvature)
    rows = []
    b, q, labels = [], [], []
    for r in metrics:
        ri = spec.metrics.index(r)
        target = (
            _coefficients(w.target[r], basis, f"consumer.welfare.target.{r}")
            if r in w.target
            else np.zeros(K)
        )
        for k in range(K):
            row = np.zeros(R * K)
            row[ri * K + k] = 1.0
            rows.append(row)
            b.append(target[k])
            q.append(w.curvature[r])
            labels.append(f"{r}[{k}]")
    return W.QuadraticWelfare(np.asarray(rows), labels, np.asarray(b), np.asarray(q))
