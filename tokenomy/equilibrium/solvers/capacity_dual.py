"""The dual of a capacity-limited routed economy, collapsed to one multiplier per agent.

When every production set is a box (capacities) and each routed good belongs to one agent,
supply at any p ≥ 0 is the constant capacity C, and the only thing prices do to the routing is
shift each agent's per-task score by c_a = ⟨g_a, p_a⟩ (g_a: what one task uses of agent a).
For a given shift, the cheapest prices are found by a one-line LP,

    min { ⟨p_a, C_a⟩ : ⟨p_a, g_a⟩ = c_a, p_a ≥ 0 } = c_a · F_a,   F_a = min_i C_ai / g_ai,

all the price on the goods that bind first (the agent's capacity in tasks is F_a). So the dual
over goods, G(p), has the same minimum as

    G(c) = N · V_β(s − c) + Σ_a c_a F_a,   c ≥ 0,

where V_β is the softmax routing value per task and s the agents' per-task scores at zero
prices: one variable per agent instead of one per good (4 metrics × 16 basis functions makes
that 64× fewer), and a far better conditioned problem. Its gradient, F_a − N·flow_a, is the
agent's spare capacity in tasks. Prices are recovered as p_i = c_a / Σ_j g_aj on the binding
goods (one price per unit of use where several bind at once, e.g. a capacity flat in time).

Used by the first-order method when it applies (:meth:`CapacityDual.applies`); the residuals
and certificates are computed on the goods as for any other economy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tokenomy.equilibrium.economy import ConsumerChoice, Economy
from tokenomy.equilibrium.production import BoxBatch
from tokenomy.equilibrium.routing import Route
from tokenomy.equilibrium.solvers.price_loop import kkt_residual

FloatArray = np.ndarray


class CapacityDual:
    """G(c) for a capacity-limited routed economy (see the module docstring)."""

    split = False
    n_c = 0
    smooth = True

    @staticmethod
    def applies(e: Economy) -> bool:
        """Routed, linear welfare, box production only, each good used by one agent."""
        if e.mode != "routed" or e.dag is None or e.bundles is None or not e.welfare.linear:
            return False
        if not all(isinstance(b, BoxBatch) for b in e.technology.batches):
            return False
        usage = sp.csr_matrix(e.bundles)
        if usage.nnz == 0 or usage.data.min() < 0:
            return False
        return bool(np.all(np.diff(usage.indptr) <= 1))  # a good in at most one bundle

    def __init__(self, e: Economy) -> None:
        self.e = e
        assert e.dag is not None
        assert e.bundles is not None
        capacity = e.endowment.copy()
        for b in e.technology.batches:
            assert isinstance(b, BoxBatch)
            np.add.at(capacity, b.goods.ravel(), b.hi.ravel())
        usage = self.usage = sp.csc_matrix(e.bundles / e.tasks)  # goods × nodes, per task
        nodes = e.dag.n_nodes
        self.capacity_tasks = np.full(nodes, np.inf)
        # goods that bind first, per agent; where several tie (a capacity flat over time),
        # the shift is spread as one price per unit of use over all of them
        bind_goods: list[np.ndarray] = []
        bind_node: list[np.ndarray] = []
        bind_weight: list[np.ndarray] = []
        for a in range(nodes):
            lo, hi = usage.indptr[a], usage.indptr[a + 1]
            rows, use = usage.indices[lo:hi], usage.data[lo:hi]
            keep = use > 0
            if not keep.any():
                continue
            rows, use = rows[keep], use[keep]
            ratio = capacity[rows] / use
            first = float(ratio.min())
            self.capacity_tasks[a] = first
            tied = ratio <= first * (1.0 + 1e-9) + 1e-300
            bind_goods.append(rows[tied])
            bind_node.append(np.full(int(tied.sum()), a))
            bind_weight.append(np.full(int(tied.sum()), 1.0 / float(use[tied].sum())))
        self.active = np.flatnonzero(np.isfinite(self.capacity_tasks))
        position = np.full(nodes, -1)
        position[self.active] = np.arange(len(self.active))
        goods = np.concatenate(bind_goods) if bind_goods else np.zeros(0, int)
        cols = position[np.concatenate(bind_node)] if bind_node else np.zeros(0, int)
        weights = np.concatenate(bind_weight) if bind_weight else np.zeros(0)
        # p = P c: goods prices from the shifts
        self.to_prices = sp.csr_matrix(
            (weights, (goods, cols)), shape=(e.n_goods, len(self.active))
        )
        marginal = np.asarray(e._goods_marginal @ e.welfare.coefficients()).ravel()
        self.base = np.asarray(usage.T @ marginal).ravel()  # per-task score at zero prices
        self.n = len(self.active)
        self.size = self.n
        self.welfare_floor = e.welfare_floor()

    # -- the variables and the goods prices they stand for
    def initial(self, p0: FloatArray | None) -> FloatArray:
        """Starting shifts: from goods prices p0 (default all ones)."""
        p = np.ones(self.e.n_goods) if p0 is None else np.asarray(p0, float)
        return np.asarray(self.usage.T @ p).ravel()[self.active]

    def prices(self, v: FloatArray) -> FloatArray:
        """Goods prices: each agent's shift on the good that binds first."""
        return np.asarray(self.to_prices @ np.maximum(v, 0.0), np.float64)

    # -- the pieces the generic loop uses
    def h(self, v: FloatArray) -> float:
        """No non-smooth part."""
        return 0.0

    def prox(self, u: FloatArray, step: float) -> FloatArray:
        """Projection on c ≥ 0."""
        return np.asarray(np.maximum(u, 0.0), np.float64)

    def _route(self, v: FloatArray) -> Route:
        shift = np.zeros(self.e.dag.n_nodes)  # type: ignore[union-attr]
        shift[self.active] = v
        return self.e.dag.route(self.base - shift, self.e.beta)  # type: ignore[union-attr]

    def f(self, v: FloatArray, mu: float) -> tuple[float, FloatArray]:
        """G(c) and its gradient (spare capacity in tasks, negated)."""
        route = self._route(v)
        N = self.e.tasks
        value = N * route.value + float(v @ self.capacity_tasks[self.active])
        grad = self.capacity_tasks[self.active] - N * route.node_flow[self.active]
        return value, grad

    def residual(
        self, v: FloatArray, mu: float, lipschitz: float
    ) -> tuple[float, ConsumerChoice, list[FloatArray]]:
        """Clearing and complementarity on the goods, at the recovered prices."""
        e = self.e
        p = self.prices(v)
        route, x = e._routed_choice(p, e.welfare.coefficients())
        choice = ConsumerChoice(x, route, np.asarray(e.deliver @ x), e.welfare_of(x, route))
        netputs = e.technology.netputs(p)
        z = e.excess_demand(p, x, netputs)
        return kkt_residual(p, z, x), choice, netputs
