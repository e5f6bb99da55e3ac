"""Walras' law as an identity at arbitrary prices, and the economies that break it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.equilibrium.random_specs import free_spec, routed_spec
from tokenomy.equilibrium import compile_economy, parse_spec, solve
from tokenomy.equilibrium.certificates import walras_residual

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _prices(n: int, seed: int, zeros: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.lognormal(0.0, 1.5, n)
    p[rng.random(n) < zeros] = 0.0  # some free goods
    if not p.any():
        p[0] = 1.0
    return p


@SETTINGS
@given(spec_seed=st.integers(0, 10_000), price_seed=st.integers(0, 10_000),
       zeros=st.sampled_from([0.0, 0.3]), money=st.sampled_from([None, True]))  # fmt: skip
def test_walras_law_holds_at_arbitrary_prices_routed(spec_seed, price_seed, zeros, money):
    e = compile_economy(routed_spec(spec_seed, money=money))
    residual, _, _ = walras_residual(e, _prices(e.n_goods, price_seed, zeros))
    assert residual <= 1e-9


@SETTINGS
@given(spec_seed=st.integers(0, 10_000), price_seed=st.integers(0, 10_000))
def test_walras_law_holds_at_arbitrary_prices_free(spec_seed, price_seed):
    e = compile_economy(free_spec(spec_seed))
    residual, _, _ = walras_residual(e, _prices(e.n_goods, price_seed, 0.0))
    assert residual <= 1e-9


def _crusoe(scale: float, exponent: float, share: float) -> dict:
    return {
        "kind": "economy",
        "basis": {"kind": "piecewise", "size": 1},
        "metrics": ["coconuts", "leisure"],
        "markets": {"time": {"metrics": ["leisure"]}},
        "agents": {"island": {"metrics": ["coconuts"], "production": [{"power": {
            "output": {"metric": "coconuts"}, "input": {"market": "time", "metric": "leisure"},
            "scale": scale, "exponent": exponent, "max_input": 1.0}}]}},
        "consumer": {"welfare": {"kind": "cobb_douglas",
                                 "exponents": {"coconuts": share, "leisure": 1 - share}},
                     "endowment": {"time": {"leisure": 1.0}}},
    }  # fmt: skip


@SETTINGS
@given(scale=st.floats(0.5, 4.0), exponent=st.floats(0.2, 0.8), share=st.floats(0.2, 0.8),
       prices=st.lists(st.floats(0.05, 20.0), min_size=2, max_size=2),
       factor=st.floats(0.01, 100.0))  # fmt: skip
def test_excess_demand_is_homogeneous_of_degree_zero(scale, exponent, share, prices, factor):
    """Without money only relative prices matter: z(λp) = z(p), and Walras holds."""
    e = compile_economy(parse_spec(_crusoe(scale, exponent, share), "crusoe"))
    assert not e.money
    p = np.array(prices)
    w1, z1, _ = walras_residual(e, p)
    w2, z2, _ = walras_residual(e, factor * p)
    assert max(w1, w2) <= 1e-9
    np.testing.assert_allclose(z2, z1, rtol=1e-9, atol=1e-12)


def test_walras_fails_when_profits_are_not_paid_out():
    """profit_share = 0.6: 40% of the agents' profits vanish, and Σ⟨p, z(p)⟩ ≠ 0."""
    spec = routed_spec(7)
    data = spec.model_dump(mode="json")
    data["consumer"]["profit_share"] = 0.6
    broken = compile_economy(parse_spec(data, "broken"))
    fine = compile_economy(spec)
    p = _prices(fine.n_goods, 1, 0.0)
    assert walras_residual(fine, p)[0] <= 1e-9
    residual, _, _ = walras_residual(broken, p)
    lost = 0.4 * float(broken.technology.profits(p).sum())
    assert residual == pytest.approx(lost / broken.income(p), rel=1e-9)
    assert residual > 0.1
    # and every solver's certificate shows it
    for solver in ("planner", "first-order"):
        assert solve(broken.spec, solver).certificates.walras > 0.1


def test_walras_fails_for_a_routed_orchestrator_without_money():
    """Routing fixes what it buys: without money its income is not spent away from equilibrium."""
    e = compile_economy(routed_spec(0, money=False))
    fine = compile_economy(routed_spec(0))
    assert fine.money
    p = _prices(e.n_goods, 0, 0.0)
    assert walras_residual(fine, p)[0] <= 1e-9
    residual, z, demand = walras_residual(e, p)
    assert demand.money == 0.0
    assert float(p @ z) < 0
    assert residual > 0.1


def test_walras_fails_when_the_budget_does_not_bind():
    """A satiated orchestrator without money leaves income unspent: Σ⟨p, z(p)⟩ < 0."""
    spec = parse_spec({
        "kind": "economy",
        "basis": {"kind": "piecewise", "size": 2},
        "metrics": ["service"],
        "agents": {"maker": {"production": [{"ellipsoid": {
            "center": {"service": 1.0}, "radii": {"service": 0.5}}}]}},
        "consumer": {"money": False, "welfare": {
            "kind": "quadratic", "target": {"service": 0.2}, "curvature": {"service": 1.0}}},
    }, "satiated")  # fmt: skip
    e = compile_economy(spec)
    p = np.array([1.0, 2.0])
    residual, z, demand = walras_residual(e, p)
    assert demand.money == 0.0
    assert float(p @ z) < 0
    assert residual > 0.1
    assert e.walrasian_demand(p).mu == 0.0  # no marginal utility of income: satiated


def test_certificate_walras_matches_quadrature():
    for seed in range(5):
        result = solve(routed_spec(seed), "first-order")
        c = result.certificates
        assert c.walras <= 1e-9
        assert c.walras_random is not None and c.walras_random <= 1e-9
        assert c.walras_quadrature is not None and c.walras_quadrature <= 1e-9
