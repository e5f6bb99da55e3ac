"""The one rule over a set of options: the position paper's worked numbers and closed forms."""

import numpy as np
import pytest

from tokenomy.allocate.rule import Options, choose, cobb_douglas_split, crossover_value, net_values
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

CHEAP_FRONTIER = Options.of(dq=[0.7, 0.9], dc=[1.0, 5.0], dr=[0.05, 0.01], names=["cheap", "big"])


def test_router_example_surpluses_and_choice():
    no_risk = Options.of(dq=[0.7, 0.9], dc=[1.0, 5.0], names=["cheap", "big"])
    np.testing.assert_allclose(net_values(Prices(value=10.0), no_risk), [6.0, 4.0])
    np.testing.assert_allclose(net_values(Prices(value=100.0), no_risk), [69.0, 85.0])
    assert choose(Prices(value=10.0), no_risk) == 0
    assert choose(Prices(value=100.0), no_risk) == 1


def test_crossover_is_twenty_and_ten_with_priced_risk():
    assert crossover_value(Prices(), (0.7, 1.0), (0.9, 5.0)) == pytest.approx(20.0)
    v_star = crossover_value(Prices(risk=50.0), (0.7, 1.0, 0.05), (0.9, 5.0, 0.01))
    assert v_star == pytest.approx(10.0)
    # just below / above the crossover the choice flips
    assert choose(Prices(value=v_star - 0.01, risk=50.0), CHEAP_FRONTIER) == 0
    assert choose(Prices(value=v_star + 0.01, risk=50.0), CHEAP_FRONTIER) == 1


def test_crossover_prices_latency_too():
    # frontier 2 s slower at λ = 1 $/s: V* = (4 + 2)/0.2 = 30
    assert crossover_value(Prices(latency=1.0), (0.7, 1.0, 0.0, 0.0), (0.9, 5.0, 0.0, 2.0)) == (
        pytest.approx(30.0)
    )


def test_cobb_douglas_split_is_the_budget_share_rule_and_optimal():
    prices = Prices(latency=2.0, risk=10.0)
    full = prices.full_price(dc=[1.0, 0.5, 2.0], dl=[0.1, 0.0, 0.5], dr=[0.0, 0.02, 0.01])
    alpha = np.array([0.5, 0.3, 0.2])
    budget = 120.0
    t = cobb_douglas_split(alpha, budget, full)
    np.testing.assert_allclose(t * full, alpha / alpha.sum() * budget)
    assert float(t @ full) == pytest.approx(budget)

    def log_q(x: np.ndarray) -> float:
        return float(alpha @ np.log(x))

    rng = np.random.default_rng(0)
    for _ in range(500):  # no other point on the budget line does better
        share = rng.dirichlet(np.ones(3))
        other = share * budget / full
        assert log_q(other) <= log_q(t) + 1e-12


def test_choose_allows_doing_nothing():
    opts = Options.of(dq=[0.1, 0.2], dc=[5.0, 6.0])
    assert choose(Prices(value=1.0), opts, allow_none=True) == -1
    assert choose(Prices(value=1.0), opts) == 0


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="dc"):
        Options.of(dq=[0.1, 0.2], dc=[1.0])
    with pytest.raises(ConfigError, match="finite"):
        Options.of(dq=[0.1, np.nan], dc=[1.0, 1.0])
    with pytest.raises(ConfigError, match="high quality"):
        crossover_value(Prices(), (0.9, 1.0), (0.7, 5.0))
    with pytest.raises(ConfigError):
        cobb_douglas_split([0.5, 0.5], 10.0, [1.0, 0.0])
