"""Budget pacing: the budget price learned online spends the budget evenly and never more."""

import numpy as np
import pytest

from tokenomy.allocate.pacing import BudgetPacer, replay_stream
from tokenomy.allocate.pacing_eval import pace_stream
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices


def stream(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    small = rng.uniform(0.3, 0.8, n)
    quality = np.c_[small, np.minimum(small + rng.uniform(0.0, 0.4, n), 1.0)]
    tokens = rng.integers(50, 2000, n)
    cost = np.c_[tokens * 0.2e-6, tokens * 10e-6]
    return quality, cost


@pytest.mark.parametrize("share", [0.2, 0.4, 0.6])
def test_a_binding_budget_is_spent_within_two_percent_and_never_exceeded(share):
    quality, cost = stream(3000, seed=1)
    prices = Prices(value=0.2)
    unpaced = cost[np.arange(3000), np.argmax(prices.net_value(quality, cost), axis=1)].sum()
    budget = share * unpaced
    pacer = replay_stream(quality, cost, budget, prices)
    assert pacer.spent <= budget * (1 + 1e-12)
    assert pacer.spent >= 0.98 * budget
    assert len(pacer.log) == 3000 and pacer.log_rows()[0]["budget_price"] == 0.0
    assert max(s.budget_price for s in pacer.log) > 0
    # spending is even: cumulative spend stays near the straight line
    cum = np.array([s.spent for s in pacer.log])
    assert np.max(np.abs(cum - budget * np.arange(1, 3001) / 3000)) < 0.1 * budget


def test_a_slack_budget_leaves_the_prices_alone():
    quality, cost = stream(500, seed=2)
    prices = Prices(value=0.2)
    pacer = replay_stream(quality, cost, budget=1e6, prices=prices)
    assert all(s.budget_price == 0.0 for s in pacer.log)
    unpaced = np.argmax(prices.net_value(quality, cost), axis=1)
    np.testing.assert_array_equal([s.choice for s in pacer.log], unpaced)


def test_prices_in_force_are_the_shared_prices_scaled_by_one_plus_mu():
    pacer = BudgetPacer(Prices(value=2.0, latency=0.5, risk=4.0), budget=1.0, requests=10)
    pacer.mu = 1.0
    p = pacer.prices_in_force()
    assert (p.value, p.latency, p.risk) == (1.0, 0.25, 2.0)


def test_latency_price_rises_until_the_sla_holds():
    rng = np.random.default_rng(3)
    n = 2000
    quality = np.c_[np.full(n, 0.6), np.full(n, 0.9)]
    cost = np.zeros((n, 2))
    latency = np.c_[np.full(n, 0.5), rng.uniform(2.0, 4.0, n)]
    free = replay_stream(quality, cost, 1.0, Prices(value=1.0), latency=latency)
    sla = replay_stream(
        quality, cost, 1.0, Prices(value=1.0), latency=latency, latency_sla=1.5, latency_step=0.05
    )
    mean_free = np.mean([s.latency for s in free.log])
    mean_sla = np.mean([s.latency for s in sla.log])
    assert mean_free > 2.0
    assert mean_sla <= 1.5 * 1.05
    assert sla.log[-1].latency_price > 0


def test_no_model_fits_means_refusal_not_overspend():
    pacer = BudgetPacer(Prices(value=1.0), budget=0.05, requests=3)
    assert pacer.step([0.5, 0.9], [0.04, 0.2]) == 0
    assert pacer.step([0.5, 0.9], [0.04, 0.2]) == -1
    assert pacer.spent == pytest.approx(0.04)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="budget"):
        BudgetPacer(Prices(), budget=0.0, requests=10)
    with pytest.raises(ConfigError, match="requests"):
        BudgetPacer(Prices(), budget=1.0, requests=0)
    with pytest.raises(ConfigError, match="budget-share"):
        pace_stream("routellm-gsm8k", budget_share=1.5)


def test_replayed_mmlu_stream_spends_within_two_percent(shared_data):
    result = pace_stream("routellm-mmlu", data_dir=str(shared_data), budget_share=0.2)
    assert 0.98 <= result["spent_over_budget"] <= 1.0
    assert result["unpaced_spend"] > result["budget"]  # the budget binds
    assert len(result["log"]) == result["requests"]
