"""Router metrics: hand-checked PGR/APGR/CPT examples, the oracle numbers of routing-eval.md
computed from the data, a seeded random router, and the many-model frontier."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tokenomy.allocate.route_data import RouteData
from tokenomy.allocate.route_metrics import (
    apgr,
    apgr_binned,
    best_single_model,
    choice_quality_cost,
    cost_at_quality,
    cost_of_pass,
    cpt,
    dominates,
    oracle_quality,
    oracle_scores,
    pareto_frontier,
    pgr_curve,
    pgr_curve_on,
    quality_at_budget,
    summarize,
    welfare,
)
from tokenomy.errors import ConfigError

HALF_PERCENT_DIGIT = 0.05  # routing-eval.md prints CPTs in percent with one decimal
EXACT = 1e-12  # sums of a few 0/1 values divided by small integers: only float rounding


def _pair(data: RouteData) -> tuple[np.ndarray, np.ndarray]:
    assert data.weak is not None and data.strong is not None
    return data.outcome(data.weak), data.outcome(data.strong)


# --------------------------------------------------------------------------- hand-checked


def test_curve_with_a_tied_group_by_hand() -> None:
    # gains strong - weak: [0, 1, 1, -1]; P_weak = 2/4, P_strong = 3/4, gap = 1 prompt.
    # Scores route prompt 0 first, then the tied pair {1, 2} together, then prompt 3.
    curve = pgr_curve([1, 0, 0, 1], [1, 1, 1, 0], [0.9, 0.8, 0.8, 0.1])
    np.testing.assert_allclose(curve.calls, [0, 0.25, 0.75, 1], atol=EXACT)
    np.testing.assert_allclose(curve.pgr, [0, 0, 2, 1], atol=EXACT)
    np.testing.assert_allclose(curve.performance, [0.5, 0.5, 1.0, 0.75], atol=EXACT)
    np.testing.assert_array_equal(curve.thresholds, [np.inf, 0.9, 0.8, 0.1])
    assert (curve.weak_performance, curve.strong_performance) == (0.5, 0.75)
    # area: 0 on [0, .25], .5·(0+2)/2 on [.25, .75], .25·(2+1)/2 on [.75, 1]
    assert apgr(curve) == pytest.approx(0.875, abs=EXACT)
    # CPT by linear interpolation on the segment (.25, 0) -> (.75, 2)
    assert cpt(curve, 0.5) == pytest.approx(0.25 + 0.5 * 0.5 / 2, abs=EXACT)
    assert cpt(curve, 1.5) == pytest.approx(0.25 + 1.5 * 0.5 / 2, abs=EXACT)
    assert cpt(curve, 0.0) == 0.0
    assert cpt(curve, 2.5) is None


def test_tied_group_is_the_expectation_over_tie_breaking() -> None:
    rng = np.random.default_rng(3)
    weak = rng.integers(0, 2, 6).astype(float)
    strong = rng.integers(0, 2, 6).astype(float)
    strong[0], weak[0] = 1.0, 0.0  # a non-zero gap
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1])
    curve = pgr_curve(weak, strong, scores)
    gap = strong.sum() - weak.sum()
    grid = np.arange(7) / 6
    # average, over every order of the tied group, of PGR after the first k prompts
    mean_pgr = np.zeros(7)
    orders = list(itertools.permutations([1, 2, 3, 4]))
    for tied in orders:
        order = [0, *tied, 5]
        mean_pgr += np.r_[0.0, np.cumsum((strong - weak)[order])] / gap
    mean_pgr /= len(orders)
    np.testing.assert_allclose(np.interp(grid, curve.calls, curve.pgr), mean_pgr, atol=EXACT)


def test_constant_score_router_has_apgr_one_half() -> None:
    rng = np.random.default_rng(11)
    weak = rng.integers(0, 2, 50).astype(float)
    strong = np.maximum(weak, rng.integers(0, 2, 50))
    strong[0], weak[0] = 1.0, 0.0
    curve = pgr_curve(weak, strong, np.zeros(50))
    np.testing.assert_array_equal(curve.calls, [0.0, 1.0])
    assert apgr(curve) == 0.5
    assert apgr_binned(weak, strong, np.zeros(50)) == 0.5


def test_perfect_ranking_apgr_by_hand() -> None:
    # gains [1, 1, -1], gap 1: the oracle routes {0, 1} first (PGR 2 at c = 2/3), then prompt 2.
    weak, strong = [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]
    curve = pgr_curve(weak, strong, oracle_scores(weak, strong))
    np.testing.assert_array_equal(oracle_scores(weak, strong), [1, 1, -1])
    assert apgr(curve) == pytest.approx((2 / 3) * 2 / 2 + (1 / 3) * (2 + 1) / 2, abs=EXACT)
    assert cpt(curve, 1.0) == pytest.approx(1 / 3, abs=EXACT)


def test_binned_apgr_equals_exact_when_every_decile_is_one_prompt() -> None:
    # 10 distinct scores: the 11 decile thresholds select 10, 9, ..., 0 prompts, i.e. every
    # point of the exact curve, so the two areas agree.
    rng = np.random.default_rng(5)
    weak = rng.integers(0, 2, 10).astype(float)
    strong = rng.integers(0, 2, 10).astype(float)
    strong[0], weak[0] = 1.0, 0.0
    scores = rng.permutation(10).astype(float)
    exact = apgr(pgr_curve(weak, strong, scores))
    assert apgr_binned(weak, strong, scores) == pytest.approx(exact, abs=EXACT)


def test_curve_costs_accumulate_per_prompt() -> None:
    curve = pgr_curve(
        [0, 0, 1], [1, 0, 1], [3.0, 2.0, 1.0], weak_cost=[1.0, 1.0, 1.0], strong_cost=[4, 7, 10]
    )
    assert curve.cost is not None
    np.testing.assert_allclose(curve.cost, [1.0, 2.0, 4.0, 7.0], atol=EXACT)


def test_undefined_pgr_and_bad_shapes_are_errors() -> None:
    with pytest.raises(ConfigError, match="undefined"):
        pgr_curve([1, 0], [0, 1], [0.3, 0.2])
    with pytest.raises(ConfigError, match="one per prompt"):
        pgr_curve([1, 0], [1, 1], [0.3])
    with pytest.raises(ConfigError, match="both"):
        pgr_curve([1, 0], [1, 1], [0.3, 0.1], weak_cost=[1, 1])


# --------------------------------------------------------------------------- on the data


@pytest.mark.parametrize(
    ("name", "cpt50", "cpt80"),
    [("gsm8k", 11.0, 17.6), ("mmlu", 6.2, 10.0)],  # routing-eval.md, percent
)
def test_oracle_cpt_matches_the_reference(
    name: str, cpt50: float, cpt80: float, request: pytest.FixtureRequest
) -> None:
    data: RouteData = request.getfixturevalue(name)
    weak, strong = _pair(data)
    curve = pgr_curve_on(data, oracle_scores(weak, strong))
    c50, c80 = cpt(curve, 0.5), cpt(curve, 0.8)
    assert c50 is not None and c80 is not None
    assert abs(100 * c50 - cpt50) <= HALF_PERCENT_DIGIT
    assert abs(100 * c80 - cpt80) <= HALF_PERCENT_DIGIT
    # the oracle's curve in closed form from the counts: A only-strong, B ties, C only-weak
    a = float(np.sum((strong == 1) & (weak == 0)))
    c = float(np.sum((strong == 0) & (weak == 1)))
    n = len(data)
    b = n - a - c
    top = a / (a - c)
    expected = (a / n) * top / 2 + (b / n) * top + (c / n) * (top + 1) / 2
    assert apgr(curve) == pytest.approx(expected, abs=1e-12)
    assert cpt(curve, 0.5) == pytest.approx(0.5 * (a - c) / n, abs=1e-12)


def _random_router_sd(weak: np.ndarray, strong: np.ndarray) -> float:
    """Standard deviation of APGR over uniformly random orders (sampling without replacement).

    With gains d (population variance s²) the partial sums X_k = G_k − k·mean(d) have
    Cov(X_j, X_k) = s²·j·(n − k)/(n − 1) for j ≤ k, and the trapezoid area is
    (1/n)·Σ_{k<n} X_k / gap. Summing the covariances, Σ_{j,k<n} min(j,k)·(n − max(j,k))
    = Σ_{k<n} k²·(n − k) (the diagonal plus twice the pairs j < k).
    """
    d = strong - weak
    n = int(d.size)
    k = np.arange(1, n, dtype=np.float64)
    var_sum = float(d.var()) * float(np.sum(k * k * (n - k))) / (n - 1)
    return math.sqrt(var_sum) / n / float(d.sum())


def test_seeded_random_router_on_gsm8k_scores_about_one_half(gsm8k: RouteData) -> None:
    weak, strong = _pair(gsm8k)
    sd = _random_router_sd(weak, strong)  # about 0.02 on GSM8K
    # E[APGR] = 1/2 exactly under random order; a 4-sd band
    scores = np.random.default_rng(2024).random(len(gsm8k))
    value = apgr(pgr_curve(weak, strong, scores))
    assert abs(value - 0.5) <= 4 * sd
    again = apgr(pgr_curve(weak, strong, np.random.default_rng(2024).random(len(gsm8k))))
    assert again == value
    # over 200 seeds: the mean within 4 standard errors of 1/2, the spread near the theory
    values = np.array(
        [
            apgr(pgr_curve(weak, strong, np.random.default_rng(s).random(len(gsm8k))))
            for s in range(200)
        ]
    )
    assert abs(values.mean() - 0.5) <= 4 * sd / math.sqrt(200)
    # sample sd of 200 draws has relative standard error about 1/sqrt(400) = 5%: 4 of them
    assert abs(values.std(ddof=1) / sd - 1.0) <= 0.2


def test_binned_apgr_is_close_to_exact_for_a_random_router(mmlu: RouteData) -> None:
    weak, strong = _pair(mmlu)
    scores = np.random.default_rng(9).random(len(mmlu))
    exact = apgr(pgr_curve(weak, strong, scores))
    binned = apgr_binned(weak, strong, scores)
    # 10 bins of ~1,400 prompts: the chords deviate from the curve by the curve's wobble
    # inside a bin, well under one random-router standard deviation
    assert abs(binned - exact) <= _random_router_sd(weak, strong)


def test_summarize_two_model_set(gsm8k: RouteData) -> None:
    out = summarize(gsm8k, value=1.0)
    weak, strong = _pair(gsm8k)
    assert out["prompts"] == len(gsm8k) and out["token_rule"] == gsm8k.token_rule
    assert out["best_single_model"] == gsm8k.strong
    assert out["oracle_quality"] == np.maximum(weak, strong).mean()
    assert out["oracle"]["cpt50"] == cpt(pgr_curve(weak, strong, oracle_scores(weak, strong)), 0.5)
    rows = {r["model"]: r for r in out["models"]}
    cost = gsm8k.cost()
    assert rows[gsm8k.strong]["cost_per_prompt"] == pytest.approx(cost[:, 1].mean(), rel=1e-12)
    assert rows[gsm8k.weak]["welfare"] == pytest.approx(weak.mean() - cost[:, 0].mean(), rel=1e-12)


# --------------------------------------------------------------------------- many models


def test_pareto_frontier_by_hand() -> None:
    costs = [1.0, 2.0, 2.0, 3.0, 0.5, 1.0, 4.0]
    quals = [0.5, 0.7, 0.6, 0.7, 0.4, 0.5, 0.9]
    # (2, .6) and (3, .7) are dominated by (2, .7); the two (1, .5) points tie and both stay
    np.testing.assert_array_equal(pareto_frontier(costs, quals), [4, 0, 5, 1, 6])
    assert dominates((2.0, 0.7), (3.0, 0.7)) and not dominates((1.0, 0.5), (1.0, 0.5))
    assert not dominates((1.0, 0.5), (0.5, 0.4))


def test_pareto_frontier_agrees_with_pairwise_dominance() -> None:
    rng = np.random.default_rng(21)
    for _ in range(20):
        costs = rng.integers(0, 6, 40).astype(float)  # coarse grid: many ties
        quals = rng.integers(0, 6, 40).astype(float)
        points = list(zip(costs, quals, strict=True))
        brute = [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]
        assert sorted(pareto_frontier(costs, quals).tolist()) == brute
        assert np.all(np.diff(costs[pareto_frontier(costs, quals)]) >= 0)


def test_single_model_baselines() -> None:
    outcomes = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0.5]])
    costs = np.array([[1.0, 2.0, 5.0]] * 4)
    # columns 0 and 1 both average 0.5 and column 2 averages 0.625: column 2 wins
    assert best_single_model(outcomes, costs) == 2
    # a tie on quality goes to the cheaper model
    assert best_single_model(outcomes[:, :2], [3.0, 2.0]) == 1
    assert oracle_quality(outcomes) == pytest.approx((1 + 1 + 1 + 0.5) / 4, abs=EXACT)
    q, c = choice_quality_cost(outcomes, costs, [0, 1, 2, 2])
    assert q == pytest.approx((1 + 1 + 0 + 0.5) / 4, abs=EXACT)
    assert c == pytest.approx((1 + 2 + 5 + 5) / 4, abs=EXACT)


def test_cost_of_pass_welfare_budget_and_target() -> None:
    assert cost_of_pass(0.01, 0.5) == pytest.approx(0.02, abs=EXACT)
    assert cost_of_pass(0.01, 0.0) == math.inf
    assert welfare([1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], value=2.0) == pytest.approx(1.25)
    costs, quals = [1.0, 2.0, 4.0], [0.5, 0.7, 0.9]
    assert quality_at_budget(costs, quals, 3.0) == 0.7
    assert quality_at_budget(costs, quals, 0.5) is None
    assert cost_at_quality(costs, quals, 0.6) == 2.0
    assert cost_at_quality(costs, quals, 0.95) is None
    with pytest.raises(ConfigError):
        cost_of_pass(-1.0, 0.5)
