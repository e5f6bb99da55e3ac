"""Closed forms of the theory, reproduced from the spec data (never typed in as answers)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tokenomy.equilibrium import parse_spec, solve
from tokenomy.equilibrium.examples import example, example_yaml


def _fisher_closed_form(name: str) -> dict[str, float]:
    """p_j = Σ_i B_i a_ij / s_j computed from the spec."""
    spec = example(name)
    prices = {}
    for good, supply in spec.goods.items():
        prices[good] = sum(b.budget * b.utility.weights.get(good, 0.0)
                           for b in spec.buyers.values()) / supply  # fmt: skip
    return prices


@pytest.mark.parametrize("solver", ["closed-form", "planner", "proportional-response"])
def test_fisher_cobb_douglas_prices(solver):
    expected = _fisher_closed_form("fisher-cobb-douglas")
    result = solve(example("fisher-cobb-douglas"), solver)
    assert result.converged
    for good, price in expected.items():
        assert result.prices[good] == pytest.approx(price, abs=1e-8), good  # 1e-8: the bar


def test_fisher_price_loop_reaches_closed_form():
    expected = _fisher_closed_form("fisher-cobb-douglas")
    result = solve(example("fisher-cobb-douglas"), "price-loop", tol=1e-12, max_iter=50_000)
    assert result.converged
    for good, price in expected.items():
        assert result.prices[good] == pytest.approx(price, abs=1e-8)


def _perron_prices() -> np.ndarray:
    """Perron eigenvector of AᵀE with supplies normalised to one, scaled to mean 1."""
    spec = example("exchange-cobb-douglas")
    goods = spec.goods
    E = np.array([[c.endowment.get(g, 0.0) for g in goods] for c in spec.consumers.values()])
    A = np.array([[c.utility.weights.get(g, 0.0) for g in goods] for c in spec.consumers.values()])
    E_hat = E / E.sum(axis=0)
    values, vectors = np.linalg.eig(A.T @ E_hat)
    v = np.abs(np.real(vectors[:, np.argmax(np.real(values))]))
    q = v / E.sum(axis=0)  # back to the original units of each good
    return q * len(goods) / q.sum()


@pytest.mark.parametrize("solver", ["closed-form", "planner"])
def test_exchange_prices_are_the_perron_vector(solver):
    expected = _perron_prices()
    result = solve(example("exchange-cobb-douglas"), solver)
    got = np.array(list(result.prices.values()))
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_exchange_price_loop_agrees():
    result = solve(example("exchange-cobb-douglas"), "price-loop", tol=1e-12, max_iter=50_000)
    assert result.converged
    np.testing.assert_allclose(np.array(list(result.prices.values())), _perron_prices(), atol=1e-8)


def _crusoe() -> tuple[float, float, np.ndarray]:
    data = yaml.safe_load(example_yaml("crusoe"))
    piece = data["agents"]["island"]["production"][0]["power"]
    A, alpha = piece["scale"], piece["exponent"]
    a_c, a_l = data["consumer"]["welfare"]["exponents"].values()
    labour = a_c * alpha / (a_c * alpha + a_l)
    coconuts = A * labour**alpha
    # welfare-unit prices are marginal utilities: a_c / c and a_l / leisure
    return labour, A * alpha * labour ** (alpha - 1), np.array([a_c / coconuts, a_l / (1 - labour)])


@pytest.mark.parametrize(("solver", "tol"), [("first-order", 1e-8), ("price-loop", 1e-8),
                                             ("planner", 1e-6)])  # fmt: skip
def test_crusoe(solver, tol):
    """Interior-point duals are about 1e-7 accurate here; the iterative methods reach 1e-8."""
    labour, wage_over_price, prices = _crusoe()
    result = solve(example("crusoe"), solver, **({} if solver == "planner" else {"tol": 1e-10}))
    p = result.price_vector
    np.testing.assert_allclose(p, prices, atol=tol)
    assert p[1] / p[0] == pytest.approx(wage_over_price, abs=10 * tol)
    used = -result.productions["island"]["time"]["leisure"][0]
    assert used == pytest.approx(labour, abs=10 * tol)
    assert labour == pytest.approx(3 / 7)


def test_fisher_leontief_single_good_price_is_total_budget():
    spec = parse_spec({
        "kind": "fisher",
        "goods": {"compute": 1.0},
        "buyers": {
            "a": {"budget": 2.0, "utility": {"kind": "leontief", "weights": {"compute": 1.0}}},
            "b": {"budget": 5.0, "utility": {"kind": "leontief", "weights": {"compute": 2.0}}},
        },
    })  # fmt: skip
    for solver in ("planner", "price-loop"):
        result = solve(spec, solver, **({"tol": 1e-12, "max_iter": 50_000} if solver == "price-loop"
                                        else {}))  # fmt: skip
        assert result.prices["compute"] == pytest.approx(7.0, abs=1e-7), solver


def test_linear_fisher_eisenberg_gale_gap():
    spec = parse_spec({
        "kind": "fisher",
        "goods": {"x": 1.0, "y": 1.0, "z": 2.0},
        "buyers": {
            "a": {"budget": 3.0, "utility": {"kind": "linear", "weights": {"x": 2.0, "y": 1.0}}},
            "b": {"budget": 1.0, "utility": {"kind": "linear", "weights": {"y": 3.0, "z": 1.0}}},
            "c": {"budget": 2.0, "utility": {"kind": "linear",
                                             "weights": {"x": 1.0, "y": 1.0, "z": 1.0}}},
        },
    })  # fmt: skip
    planner = solve(spec, "planner")
    response = solve(spec, "proportional-response")
    assert planner.certificates.extra["eisenberg_gale_gap"] <= 1e-8
    assert response.certificates.extra["eisenberg_gale_gap"] <= 1e-6
    p1 = np.array(list(planner.prices.values()))
    p2 = np.array(list(response.prices.values()))
    np.testing.assert_allclose(p1, p2, atol=1e-5)
    supply = np.array([1.0, 1.0, 2.0])
    assert p1 @ supply == pytest.approx(6.0, abs=1e-8)  # all budgets are spent
