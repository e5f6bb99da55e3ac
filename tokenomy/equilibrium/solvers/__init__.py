"""One front door, several methods: ``solve(spec, solver=...)`` returns an EquilibriumResult.

==================== ======================================================================
solver               method
==================== ======================================================================
planner              convex program (cvxpy + Clarabel), prices from its multipliers; for
                     Fisher markets the Eisenberg–Gale program, for exchange economies the
                     Negishi path
price-loop           tâtonnement with softmax routing, as the theory states it
first-order          accelerated proximal gradient on the dual (economies); proportional
                     response (Fisher markets)
closed-form          Cobb–Douglas Fisher and exchange closed forms
proportional-response  (Fisher) alias of first-order
==================== ======================================================================

Every result carries its certificates (see :mod:`tokenomy.equilibrium.certificates`). The spec
is never modified.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tokenomy.equilibrium import classic
from tokenomy.equilibrium.certificates import Certificates, economy_certificates
from tokenomy.equilibrium.economy import ConsumerChoice, Economy, compile_economy
from tokenomy.equilibrium.result import EquilibriumResult
from tokenomy.equilibrium.spec import EconomySpec, ExchangeSpec, FisherSpec
from tokenomy.errors import SolverError, UnknownNameError

SOLVERS = ("planner", "price-loop", "first-order", "closed-form", "proportional-response")
FloatArray = np.ndarray


def solve(
    spec: EconomySpec | FisherSpec | ExchangeSpec | Economy,
    solver: str = "planner",
    *,
    compare_planner: bool = False,
    **options: Any,
) -> EquilibriumResult:
    """Compute an equilibrium and its certificates.

    Args:
        spec: a validated spec (or a compiled economy).
        solver: one of :data:`SOLVERS`.
        compare_planner: also solve the planner and report the exact planner gap (economies).
        **options: passed to the solver (``tol``, ``max_iter``, ``eta``, ...).
    """
    if solver not in SOLVERS:
        raise UnknownNameError("solver", solver, SOLVERS)
    source = spec.spec if isinstance(spec, Economy) else spec
    result = _solve(spec, solver, compare_planner, **options)
    return replace(result, spec=source.model_dump(mode="json"))


def _solve(
    spec: EconomySpec | FisherSpec | ExchangeSpec | Economy,
    solver: str,
    compare_planner: bool,
    **options: Any,
) -> EquilibriumResult:
    if isinstance(spec, FisherSpec | ExchangeSpec):
        return _solve_classic(spec, solver, **options)
    economy = spec if isinstance(spec, Economy) else compile_economy(spec)
    if solver in ("closed-form", "proportional-response"):
        raise SolverError(
            f"'{solver}' applies to Fisher/exchange markets; use planner, price-loop or first-order"
        )
    shortfalls = capacity_shortfalls(economy)
    if shortfalls:
        raise SolverError("no feasible allocation exists; " + "; ".join(shortfalls))
    planner_welfare = None
    if compare_planner and solver != "planner":
        from tokenomy.equilibrium.solvers.planner import solve_planner

        ref = solve_planner(economy)
        if ref.status.startswith("optimal"):
            planner_welfare = economy.welfare_of(ref.consumption, ref.route)
    if solver == "planner":
        return _planner_result(economy)
    if solver == "first-order":
        return _first_order_result(economy, planner_welfare, **options)
    defaults = economy.spec.price_loop
    if defaults is not None:
        options = {"eta": defaults.eta, "max_iter": defaults.max_iter, **options}
    return _price_loop_result(economy, planner_welfare, **options)


# ---------------------------------------------------------------------------- economies


def _prices_by_market(e: Economy, p: FloatArray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in e.markets.values():
        out[m.name] = {r: p[m.slot(r)].tolist() for r in m.metrics}
    return out


def _productions(e: Economy, netputs: list[FloatArray]) -> dict[str, Any]:
    """Per agent, the trajectories it produces (netputs), by market and metric."""
    K = e.K
    firms = np.concatenate([np.repeat(b.firm, b.goods.shape[1]) for b in e.technology.batches])
    goods = np.concatenate([b.goods.ravel() for b in e.technology.batches])
    values = np.concatenate([np.asarray(y).ravel() for y in netputs])
    # one row per (firm, trajectory block of K goods): blocks are market × metric
    n_blocks = e.n_goods // K
    keys, inverse = np.unique(firms * n_blocks + goods // K, return_inverse=True)
    coefs = np.zeros((len(keys), K))
    np.add.at(coefs, (inverse, goods % K), values)
    owners: list[tuple[str, str]] = []
    for m in e.markets.values():
        owners += [(m.name, r) for r in m.metrics]
    out: dict[str, Any] = {name: {} for name in e.firm_names}
    for key, row in zip(keys.tolist(), coefs, strict=True):
        if not np.any(row):
            continue
        firm, block = divmod(key, n_blocks)
        market, metric = owners[block]
        out[e.firm_names[firm]].setdefault(market, {})[metric] = row.tolist()
    return {name: entry for name, entry in out.items() if entry}


def _consumption(e: Economy, x: FloatArray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in e.markets.values():
        block = {r: x[m.slot(r)].tolist() for r in m.metrics if np.any(x[m.slot(r)])}
        if block:
            out[m.name] = block
    return out


def _routing(e: Economy, choice: ConsumerChoice) -> dict[str, Any] | None:
    if e.dag is None or choice.route is None:
        return None
    dag = e.dag
    edges = [
        {"from": dag.names[u], "to": dag.names[v], "flow": float(f), "share": float(s)}
        for u, v, f, s in zip(
            dag.tail, dag.head, choice.route.edge_flow, choice.route.share, strict=True
        )
    ]
    nodes = {dag.names[i]: float(choice.route.node_flow[i]) for i in range(dag.n_nodes)}
    return {
        "edges": edges,
        "nodes": nodes,
        "tasks": e.tasks,
        "beta": e.beta,
        "entropy": choice.route.entropy,
    }


def _result(
    e: Economy,
    solver: str,
    status: str,
    p: FloatArray,
    choice: ConsumerChoice,
    netputs: list[FloatArray],
    certs: Certificates,
    iterations: int,
    wall_s: float,
    trace: dict[str, list[float]] | None = None,
    price_path: np.ndarray | None = None,
    message: str = "",
) -> EquilibriumResult:
    return EquilibriumResult(
        name=e.spec.name,
        kind="economy",
        solver=solver,
        status=status,
        converged=_converged(status, certs),
        iterations=iterations,
        wall_s=wall_s,
        prices=_prices_by_market(e, p),
        productions=_productions(e, netputs),
        routing=_routing(e, choice),
        welfare=float(e.reported_welfare(choice.x)),
        certificates=certs,
        message=message,
        price_vector=p,
        consumption=_consumption(e, choice.x),
        trace=trace or {},
        price_path=price_path,
        basis={"kind": e.basis.kind, "size": e.basis.size, "horizon": e.basis.horizon},
        economy=e,
    )


CONVERGED = 1e-6
"""Largest core certificate that still counts as converged for an ``optimal_inaccurate`` stop."""


def _converged(status: str, certs: Certificates) -> bool:
    """Whether a result counts as converged.

    Yes if the method says optimal, or if it stopped just short of its own (tighter) targets
    and the certificates, computed independently of it, are within :data:`CONVERGED`.
    """
    if status == "optimal":
        return True
    return status == "optimal_inaccurate" and certs.worst() <= CONVERGED


def _planner_result(e: Economy) -> EquilibriumResult:
    from tokenomy.equilibrium.solvers.planner import FALLBACK, solve_planner

    def attempt(tolerances: dict[str, Any] | None) -> tuple[Any, ConsumerChoice, Certificates]:
        sol = solve_planner(e, tolerances=tolerances)
        if sol.status == "infeasible":
            raise SolverError(infeasibility_message(e))
        choice = ConsumerChoice(
            sol.consumption,
            sol.route,
            np.asarray(e.deliver @ sol.consumption),
            e.welfare_of(sol.consumption, sol.route),
        )
        certs = economy_certificates(e, sol.prices, choice, sol.netputs, is_planner=True)
        return sol, choice, certs

    sol, choice, certs = attempt(None)
    if sol.status != "optimal":
        # the tight solve stalled short of its tolerances: try the looser settings and keep
        # whichever solution the certificates (demand evaluated at the prices) prefer
        alt = attempt(FALLBACK)
        if alt[2].worst() < certs.worst():
            sol, choice, certs = alt
    return _result(e, "planner", sol.status, sol.prices, choice, sol.netputs, certs, 1, sol.wall_s)


def capacity_shortfalls(e: Economy) -> list[str]:
    """Agents every task must pass through whose production set cannot carry all the tasks.

    A necessary condition for feasibility that needs no solver: an agent that dominates the
    sink (every source→sink path visits it) carries the whole flow, so its bundle at full flow
    must fit its production set. Each shortfall names the spec field to change.
    """
    if e.dag is None or e.bundles is None:
        return []
    import networkx as nx

    dominators = nx.immediate_dominators(e.dag.graph, "source")
    must = set()
    node = "sink"
    while node != "source":
        node = dominators[node]
        if node != "source":
            must.add(node)
    out = []
    for name in sorted(must):
        i = e.dag.names.index(name)
        need = np.asarray(e.bundles[:, i].todense()).ravel()
        cap = e.technology.supply(np.where(need > 0, 1.0, 0.0))
        over = np.flatnonzero(need > cap + 1e-9)
        if len(over):
            m = e.markets[name]
            r = m.metrics[(over[0] - m.offset) // e.K]
            out.append(
                f"field 'agents.{name}.per_task.{r}': every task passes through '{name}', "
                f"and {e.tasks:g} tasks need more '{r}' than its production set can supply"
            )
    return out


def infeasibility_message(e: Economy) -> str:
    """Explain an infeasible economy: which agent cannot serve the flow it must carry."""
    lines = ["no feasible allocation exists"]
    shortfalls = capacity_shortfalls(e)
    lines += shortfalls
    if not shortfalls and e.dag is not None:
        lines.append(
            "field 'graph.edges': no routing of the tasks fits every agent's production set "
            "(raise capacities, add routes, or lower graph.tasks)"
        )
    return "; ".join(lines)


def _first_order_result(
    e: Economy, planner_welfare: float | None, **options: Any
) -> EquilibriumResult:
    from tokenomy.equilibrium.solvers.first_order import solve_first_order

    sol = solve_first_order(e, **options)
    if sol.status == "infeasible":
        raise SolverError(
            infeasibility_message(e) + f" (certificate: after {sol.iterations} iterations the "
            "dual value fell below the welfare of every routing, which weak duality forbids "
            "for a feasible economy)"
        )
    if sol.status == "diverged":
        raise SolverError(
            infeasibility_message(e).replace(
                "no feasible allocation exists", "no feasible allocation seems to exist", 1
            )
            + f" (prices grew without bound over {sol.iterations} iterations: the dual is "
            "unbounded below, which happens when the economy is infeasible)"
        )
    res = sol.residuals
    rate = None
    if len(res) > 4 and res[-1] > 0 and res[0] > 0:
        rate = float((res[-1] / res[0]) ** (1.0 / max(1, len(res) - 1)))
    certs = economy_certificates(
        e,
        sol.prices,
        sol.choice,
        sol.netputs,
        planner_welfare=planner_welfare,
        convergence_rate=rate,
    )
    trace = {"iteration": [float(i) for i in sol.checked_at], "residual": res}
    return _result(
        e,
        "first-order",
        sol.status,
        sol.prices,
        sol.choice,
        sol.netputs,
        certs,
        sol.iterations,
        sol.wall_s,
        trace,
    )


def _price_loop_result(
    e: Economy,
    planner_welfare: float | None,
    *,
    eta: float = 0.1,
    tol: float = 1e-8,
    max_iter: int = 5000,
    p0: FloatArray | None = None,
    max_seconds: float | None = None,
) -> EquilibriumResult:
    from tokenomy.equilibrium.solvers.price_loop import tatonnement

    e.demand_support()
    n = e.n_goods

    def excess(p: FloatArray) -> tuple[FloatArray, FloatArray]:
        choice = e.walrasian_demand(p)
        return choice.x - e.endowment - e.technology.supply(p), choice.x

    start = np.ones(n) if p0 is None else np.asarray(p0, float)
    # with money the price level is pinned by the numéraire; without, normalise Σ p = n
    level = None if e.money else float(n)
    if level is not None:
        start = start * n / start.sum()
    try:
        loop = tatonnement(
            excess,
            start,
            eta=eta,
            level=level,
            tol=tol,
            max_iter=max_iter,
            max_seconds=max_seconds,
            price_scale=e.price_scale(),
        )
        p = loop.prices
        choice = e.walrasian_demand(p)
    except SolverError as exc:
        raise SolverError(f"{infeasibility_message(e)} ({exc})") from None
    netputs = e.technology.netputs(p)
    message = loop.message
    if loop.status != "optimal" and level is not None:
        z_end = choice.x - e.endowment - e.technology.total(netputs)
        if np.all(z_end <= 1e-9 * max(1.0, float(np.max(np.abs(choice.x), initial=0.0)))):
            message = (
                "every good is in excess supply at the final prices: nothing is scarce, so the "
                "equilibrium prices are all zero, which a price loop normalised to Σ p = "
                f"{n} (no money in this economy) cannot reach; the planner and the first-order "
                "method find it" + (f" ({message})" if message else "")
            )
    contraction = loop.contraction
    # prices in welfare units: the marginal utility of income turns money into welfare
    mu = choice.mu if choice.mu > 0 else 1.0
    p_welfare = p * mu
    choice_w = ConsumerChoice(
        choice.x, choice.route, choice.delivered, choice.welfare, 1.0, choice.money * mu
    )
    certs = economy_certificates(
        e,
        p_welfare,
        choice_w,
        netputs,
        planner_welfare=planner_welfare,
        contraction=contraction,
        convergence_rate=loop.observed_rate,
    )
    trace = {"residual": loop.residuals, "step": [float("nan"), *loop.steps]}
    return _result(
        e,
        "price-loop",
        loop.status,
        p_welfare,
        choice_w,
        netputs,
        certs,
        loop.iterations,
        loop.wall_s,
        trace,
        np.asarray(loop.path) * mu,
        message,
    )


# ---------------------------------------------------------------------------- classic


def _solve_classic(
    spec: FisherSpec | ExchangeSpec, solver: str, **options: Any
) -> EquilibriumResult:
    m = classic.compile_market(spec)
    if solver == "closed-form":
        sol = classic.closed_form(m)
    elif solver == "planner":
        sol = classic.planner(m)
    elif solver in ("first-order", "proportional-response"):
        if m.kind != "fisher":
            raise SolverError(
                "the first-order method for classic markets is proportional response, which "
                "applies to Fisher markets; for exchange economies use planner, price-loop or "
                "closed-form"
            )
        sol = classic.proportional_response(m)
    else:
        loop = spec.price_loop
        if loop is not None:
            defaults: dict[str, Any] = {"eta": loop.eta, "max_iter": loop.max_iter}
            if loop.start is not None:
                defaults["p0"] = np.array([loop.start.get(g, 1.0) for g in m.goods])
            options = {**defaults, **options}
        sol = classic.price_loop(m, **options)
    cert = classic.certificates(m, sol)
    contraction = sol.loop.contraction if sol.loop is not None else None
    rate = sol.loop.observed_rate if sol.loop is not None else None
    certs = Certificates(
        walras=cert["walras"],
        clearing=cert["clearing"],
        complementarity=cert["complementarity"],
        profit_gap=0.0,
        planner_gap=0.0,
        planner_gap_kind="not applicable (several consumers)",
        walras_random=cert["walras_random"],
        contraction=contraction,
        convergence_rate=rate,
        extra={k: v for k, v in cert.items() if k in ("budget_gap", "eisenberg_gale_gap")},
    )
    prices = {g: float(v) for g, v in zip(m.goods, sol.prices, strict=True)}
    consumption = {
        c: {g: float(sol.allocation[i, j]) for j, g in enumerate(m.goods)}
        for i, c in enumerate(m.consumers)
    }
    welfare = float(
        np.sum(m.incomes(sol.prices) * np.log(np.maximum(m.utilities(sol.allocation), 1e-300)))
    )
    trace = {}
    path = None
    if sol.loop is not None:
        trace = {"residual": sol.loop.residuals, "step": [float("nan"), *sol.loop.steps]}
        path = np.asarray(sol.loop.path)
    return EquilibriumResult(
        name=spec.name,
        kind=m.kind,
        solver=solver,
        status=sol.status,
        converged=sol.status == "optimal",
        iterations=sol.iterations,
        wall_s=sol.wall_s,
        prices=prices,
        productions={},
        routing=None,
        welfare=welfare,
        certificates=certs,
        message=sol.message,
        price_vector=sol.prices,
        consumption=consumption,
        trace=trace,
        price_path=path,
        economy=m,
    )
