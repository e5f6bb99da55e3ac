"""The three general solvers agree; prices converge as the basis grows; dynamics are honest."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import yaml

from tests.equilibrium.random_specs import free_spec, routed_spec
from tokenomy.equilibrium import compile_economy, parse_spec, solve
from tokenomy.equilibrium.basis import Basis
from tokenomy.equilibrium.compare import compare_solvers
from tokenomy.equilibrium.examples import example, example_yaml

SOLVERS = ("planner", "price-loop", "first-order")


RANDOM = [routed_spec(s) for s in range(8)] + [free_spec(s) for s in range(6)]


@pytest.mark.parametrize("spec", RANDOM, ids=lambda s: s.name)
def test_three_solvers_agree(spec):
    """Prices to 1e-5 of the largest (interior-point duals are ~1e-7 accurate; the iterative
    methods stop at a 1e-7 residual), welfare to 1e-6."""
    comp = compare_solvers(spec, SOLVERS)
    assert not comp.errors
    for solver, result in comp.results.items():
        assert result.status in ("optimal", "optimal_inaccurate"), (solver, result.message)
    for solver, gap in comp.agreement().items():
        assert gap["price_gap"] <= 1e-5, (solver, gap)
        assert gap["welfare_gap"] <= 1e-6, (solver, gap)


def test_compare_planner_reports_the_exact_gap():
    spec = routed_spec(1)
    result = solve(spec, "first-order", compare_planner=True)
    assert result.certificates.planner_gap_kind == "planner"
    assert result.certificates.planner_gap <= 1e-6
    # without the planner, the duality bound G(p) − W is an upper bound on the same gap
    bound = solve(spec, "first-order").certificates
    assert bound.planner_gap_kind == "duality"
    # (up to the planner's own accuracy, about 1e-8 here)
    assert bound.planner_gap >= result.certificates.planner_gap - 1e-8


def _lq(kind: str, K: int) -> tuple[np.ndarray, np.ndarray]:
    """First-order prices of the linear-quadratic example on a basis, and the limit p(t)."""
    data = yaml.safe_load(example_yaml("linear-quadratic"))
    data["basis"] = {"kind": kind, "size": K}
    spec = parse_spec(data, "lq")
    result = solve(spec, "first-order", tol=1e-12)
    assert result.converged
    radius = data["agents"]["provider"]["production"][0]["ellipsoid"]["radii"]["service"]
    norm_b = np.sqrt((np.e**2 - 1) / 2)  # ‖exp‖ on [0, 1]
    basis = Basis(kind, K, 1.0)
    t = basis.grid(20_001)
    exact = np.exp(t) * (1 - radius / norm_b)
    return basis.reconstruct(result.price_vector, t), exact


def _l2(f: np.ndarray) -> float:
    return float(np.sqrt(np.mean(f**2)))


def test_prices_converge_spectrally_on_legendre():
    errors = [_l2(np.subtract(*_lq("legendre", K))) for K in (1, 2, 3, 4, 6)]
    assert all(b < a / 5 for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 1e-6


def test_prices_converge_as_one_over_k_on_piecewise():
    Ks = (4, 8, 16, 32, 64)
    errors = [_l2(np.subtract(*_lq("piecewise", K))) for K in Ks]
    ratios = [b / a for a, b in itertools.pairwise(errors)]
    assert all(0.45 < r < 0.55 for r in ratios), ratios  # halving the step halves the error
    assert errors[-1] < 0.01


def test_planner_agrees_with_the_functional_limit():
    """Clarabel stalls near 1e-5 here (the high Legendre coefficients of the consumption sit
    next to its x ≥ 0 bound), against 1e-9 for the first-order method at K = 8."""
    got, exact = _lq("legendre", 8)
    assert _l2(got - exact) < 1e-8
    data = yaml.safe_load(example_yaml("linear-quadratic"))
    planner = solve(parse_spec(data, "lq"), "planner")
    basis = Basis("legendre", 8, 1.0)
    t = basis.grid(20_001)
    assert _l2(basis.reconstruct(planner.price_vector, t) - exact) < 1e-4


# ------------------------------------------------------------------------------ dynamics


def test_scarf_price_loop_cycles_while_the_planner_finds_p_star():
    planner = solve(example("scarf"), "planner")
    assert planner.converged
    np.testing.assert_allclose(list(planner.prices.values()), [1.0, 1.0, 1.0], atol=1e-8)
    loop = solve(example("scarf"), "price-loop")
    assert not loop.converged
    assert loop.status == "cycling"
    assert "revisits" in loop.message
    # tâtonnement conserves Σ p² in continuous time: the discrete path does not approach p*
    path = loop.price_path
    distance = np.linalg.norm(path - 1.0, axis=1)
    assert distance[-1] >= 0.9 * distance[0]
    assert loop.certificates.clearing > 0.05


def test_scarf_price_loop_cycles_from_any_start():
    spec = example("scarf")
    rng = np.random.default_rng(5)
    for _ in range(3):
        start = rng.uniform(0.5, 1.5, 3)
        assert solve(spec, "price-loop", p0=start).status == "cycling"


def test_tree_converges_and_entangled_oscillates_at_the_same_step():
    tree, entangled = example("dag-tree"), example("dag-entangled")
    assert tree.price_loop == entangled.price_loop
    t = solve(tree, "price-loop")
    e = solve(entangled, "price-loop")
    assert t.converged
    assert t.certificates.contraction is not None and t.certificates.contraction < 1
    assert not e.converged and e.status == "cycling"
    assert e.certificates.contraction is not None and e.certificates.contraction >= 0.99
    # the entangled economy has an equilibrium all the same
    for solver in ("planner", "first-order"):
        assert solve(entangled, solver).converged
    # a smaller step makes the entangled loop converge to the planner's prices
    small = solve(entangled, "price-loop", eta=0.2)
    assert small.converged
    np.testing.assert_allclose(small.price_vector, solve(entangled, "planner").price_vector,
                               atol=1e-6)  # fmt: skip


def test_tree_price_loop_converges_to_the_same_point_from_any_start():
    """A contraction has one fixed point: every start reaches it (uniqueness)."""
    e = compile_economy(example("dag-tree"))
    reference = solve(e, "planner").price_vector
    rng = np.random.default_rng(0)
    for _ in range(5):
        result = solve(e, "price-loop", p0=rng.uniform(0.1, 3.0, e.n_goods))
        assert result.converged
        np.testing.assert_allclose(result.price_vector, reference, atol=1e-6)


def test_agent_dag_congestion_prices():
    """Prices are positive exactly where capacity binds: strong coder early, fast at midday."""
    result = solve(example("agent-dag"), "planner")
    top = max(max(v) for block in result.prices.values() for v in block.values())
    positive = {(m, r): [k for k, v in enumerate(coefs) if v > 1e-6 * top]
                for m, block in result.prices.items() for r, coefs in block.items()}  # fmt: skip
    busy = {key: ks for key, ks in positive.items() if ks}
    assert set(busy) == {("coder_strong", "tokens"), ("coder_fast", "tokens")}
    assert busy[("coder_strong", "tokens")] == [0]  # the rate limit grows through the day
    assert busy[("coder_fast", "tokens")] == [3, 4]  # the dip around midday
    edges = {(e["from"], e["to"]): e["flow"] for e in result.routing["edges"]}
    assert sum(v for (a, _), v in edges.items() if a == "planner") == pytest.approx(1.0)
    assert all(v > 0.05 for (a, _), v in edges.items() if a == "planner")  # every coder used


def test_infeasible_economy_names_the_field():
    data = yaml.safe_load(example_yaml("agent-dag"))
    data["agents"]["verifier"]["production"][0]["box"]["upper"]["latency"] = 5
    spec = parse_spec(data, "x")
    for solver in SOLVERS:
        with pytest.raises(Exception, match=r"agents\.verifier\.per_task\.latency"):
            solve(spec, solver)


def test_infeasible_routing_is_proven_by_the_first_order_method():
    data = yaml.safe_load(example_yaml("agent-dag"))
    data["agents"]["coder_backup"]["production"][0]["box"]["upper"]["tokens"] = 100
    spec = parse_spec(data, "x")
    with pytest.raises(Exception, match="weak duality"):
        solve(spec, "first-order")
    with pytest.raises(Exception, match="no feasible allocation"):
        solve(spec, "planner")


@pytest.mark.parametrize("seed", [1, 3, 5, 7])
def test_capacity_dual_matches_the_goods_dual(seed):
    """The per-agent dual is an exact reduction: same prices, same welfare."""
    from tokenomy.equilibrium.solvers.capacity_dual import CapacityDual
    from tokenomy.equilibrium.solvers.first_order import solve_first_order

    e = compile_economy(routed_spec(seed, welfare="linear"))
    assert CapacityDual.applies(e)
    reduced = solve_first_order(e, tol=1e-9)
    full = solve_first_order(e, tol=1e-9, dual="goods")
    assert reduced.status == full.status == "optimal"
    np.testing.assert_allclose(reduced.prices, full.prices, atol=1e-5 * max(1, full.prices.max()))
    assert reduced.choice.welfare == pytest.approx(full.choice.welfare, rel=1e-7)


def test_capacity_dual_only_where_it_is_exact():
    from tokenomy.equilibrium.solvers.capacity_dual import CapacityDual

    assert CapacityDual.applies(compile_economy(example("agent-dag")))
    assert not CapacityDual.applies(compile_economy(routed_spec(0, welfare="cobb_douglas")))
    assert not CapacityDual.applies(compile_economy(example("crusoe")))
    assert not CapacityDual.applies(compile_economy(free_spec(1)))


def test_synthetic_pipeline_first_order_agrees_with_the_planner():
    from tokenomy.equilibrium.synthetic import layered_economy

    spec = layered_economy(40, basis_size=4, seed=2)
    comp = compare_solvers(spec, ["planner", "first-order"])
    assert comp.results["first-order"].converged
    gap = comp.agreement()["first-order"]
    assert gap["price_gap"] <= 1e-5 and gap["welfare_gap"] <= 1e-6
    assert layered_economy(40, basis_size=4, seed=2) == spec  # deterministic
    with pytest.raises(ValueError, match="at least"):
        layered_economy(2)
