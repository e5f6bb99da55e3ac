"""Certificates checked from outside the solvers: sampling, welfare theorems, perturbations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.equilibrium.random_specs import free_spec, routed_spec
from tokenomy.equilibrium import compile_economy, solve
from tokenomy.equilibrium.certificates import economy_certificates
from tokenomy.equilibrium.economy import ConsumerChoice
from tokenomy.equilibrium.examples import example


@pytest.mark.parametrize("spec", [example("agent-dag"), example("crusoe"), free_spec(3),
                                  routed_spec(5)], ids=lambda s: s.name)  # fmt: skip
def test_firms_maximise_profit_against_sampled_feasible_plans(spec):
    result = solve(spec, "first-order", tol=1e-9)
    e = result.economy
    p = result.price_vector
    rng = np.random.default_rng(0)
    netputs = e.technology.smoothed_netputs(p, 0.0)
    for batch, y in zip(e.technology.batches, netputs, strict=True):
        local = batch.local(p)
        chosen = np.sum(local * y, axis=1)
        samples = batch.sample(rng, 500)  # (n, m, d), all feasible
        assert max(float(batch.violation(s).max()) for s in samples) <= 1e-9
        best_sampled = np.max(np.sum(local[None] * samples, axis=2), axis=0)
        assert np.all(chosen >= best_sampled - 1e-9 * max(1.0, np.abs(chosen).max()))


def test_orchestrator_choice_beats_sampled_affordable_routings():
    """No sampled routing that costs at most the chosen one has higher welfare."""
    result = solve(example("agent-dag"), "planner")
    e = result.economy
    p = result.price_vector
    chosen = e.lagrangian_demand(p)
    value = chosen.welfare - float(p @ chosen.x)
    rng = np.random.default_rng(1)
    dag = e.dag
    for _ in range(300):
        scores = rng.normal(0, 5, dag.n_nodes)
        route = dag.route(scores, e.beta * rng.uniform(0.2, 5))
        x = np.asarray(e.bundles @ route.node_flow).ravel()
        other = e.welfare_of(x, route) - float(p @ x)
        assert other <= value + 1e-9 * abs(value)


def test_second_welfare_theorem_planner_prices_support_its_allocation():
    for spec in (example("agent-dag"), example("linear-quadratic"), routed_spec(9)):
        c = solve(spec, "planner").certificates
        assert c.supports_planner is not None
        assert c.supports_planner <= 1e-6, spec.name


def test_first_welfare_theorem_equilibrium_welfare_equals_the_planner():
    for spec in (example("agent-dag"), routed_spec(7), free_spec(2)):
        for solver in ("price-loop", "first-order"):
            result = solve(spec, solver, compare_planner=True)
            assert result.converged
            assert result.certificates.planner_gap_kind == "planner"
            assert result.certificates.planner_gap <= 1e-6, (spec.name, solver)


def test_certificates_catch_wrong_prices():
    """Perturbed equilibrium prices: clearing or complementarity fail, and the duality bound
    on the planner gap opens up."""
    e = compile_economy(example("agent-dag"))
    good = solve(e, "first-order")
    rng = np.random.default_rng(3)
    p = good.price_vector * rng.uniform(0.5, 1.5, e.n_goods) + 0.3 * (good.price_vector == 0)
    choice = e.lagrangian_demand(p)
    netputs = e.technology.netputs(p)
    bad = economy_certificates(e, p, choice, netputs)
    assert max(bad.clearing, bad.complementarity) > 1e-2
    assert bad.planner_gap > 1e-3
    assert good.certificates.worst() <= 1e-6
    # Walras' law is an identity: it holds at the wrong prices too
    assert bad.walras <= 1e-9


def test_certificates_catch_an_infeasible_production():
    e = compile_economy(example("agent-dag"))
    good = solve(e, "planner")
    netputs = [y * 1.5 for y in e.technology.netputs(good.price_vector)]  # over capacity
    choice = ConsumerChoice(np.asarray(good.economy.lagrangian_demand(good.price_vector).x),
                            None, np.zeros(0), 0.0)  # fmt: skip
    certs = economy_certificates(e, good.price_vector, choice, netputs)
    assert certs.feasibility is not None and certs.feasibility > 0.1
