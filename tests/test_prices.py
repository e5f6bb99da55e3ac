"""The shared accounting object: net value, token prices, the token estimate."""

from __future__ import annotations

import numpy as np
import pytest

from tokenomy.errors import ConfigError, DataError, UnknownNameError
from tokenomy.prices import Prices, PriceTable, TokenPrice, estimate_tokens, tokens_from_chars


def crossover(cheap: tuple[float, float, float], strong: tuple[float, float, float], rho: float):
    """V at which the two options' net values are equal: V·Δq = Δc + ρ·Δr."""
    (q1, c1, r1), (q2, c2, r2) = cheap, strong
    return ((c2 - c1) + rho * (r2 - r1)) / (q2 - q1)


def test_router_example_from_the_position_paper():
    # cheap q=0.7, c=1 vs frontier q=0.9, c=5 (economics.md §1)
    low, high = Prices(value=10.0), Prices(value=100.0)
    assert low.net_value(0.7, 1.0) == pytest.approx(6.0)
    assert low.net_value(0.9, 5.0) == pytest.approx(4.0)
    assert high.net_value(0.7, 1.0) == pytest.approx(69.0)
    assert high.net_value(0.9, 5.0) == pytest.approx(85.0)
    v_star = crossover((0.7, 1.0, 0.0), (0.9, 5.0, 0.0), rho=0.0)
    assert v_star == pytest.approx(20.0)
    at = Prices(value=v_star)
    assert at.net_value(0.7, 1.0) == pytest.approx(at.net_value(0.9, 5.0))


def test_risk_price_moves_the_crossover_to_ten():
    # r_cheap = 0.05, r_frontier = 0.01 at rho = 50
    v_star = crossover((0.7, 1.0, 0.05), (0.9, 5.0, 0.01), rho=50.0)
    assert v_star == pytest.approx(10.0)
    p = Prices(value=v_star, risk=50.0)
    assert p.net_value(0.7, 1.0, dr=0.05) == pytest.approx(p.net_value(0.9, 5.0, dr=0.01))
    above = Prices(value=12.0, risk=50.0)
    assert above.net_value(0.9, 5.0, dr=0.01) > above.net_value(0.7, 1.0, dr=0.05)


def test_net_value_broadcasts_and_prices_latency():
    p = Prices(value=2.0, latency=0.5, risk=10.0)
    got = p.net_value(np.array([1.0, 2.0]), np.array([0.1, 0.2]), dl=np.array([1.0, 4.0]), dr=0.01)
    np.testing.assert_allclose(got, [2.0 - 0.1 - 0.5 - 0.1, 4.0 - 0.2 - 2.0 - 0.1])
    np.testing.assert_allclose(p.full_price(0.2, 4.0, 0.01), 0.2 + 2.0 + 0.1)


def test_negative_prices_are_refused():
    with pytest.raises(ConfigError, match="latency"):
        Prices(latency=-1.0)


def test_default_table_and_costs():
    table = PriceTable.default()
    assert table["llama-3.1-8b-instruct"] == TokenPrice(0.2, 0.2)
    assert table["scripted"].cost(10**6, 10**6) == 0.0
    cost = table.cost("mixtral-8x22b-instruct-v0.1", [1_000_000, 500_000], [0, 500_000])
    np.testing.assert_allclose(cost, [1.2, 1.2])


def test_unknown_model_suggests_the_closest_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'llama3-70b-instruct'"):
        PriceTable.default()["llama3-70b-instruc"]


def test_price_file_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("models:\n  m1: {input: 1.0, output: -2}\n")
    with pytest.raises(DataError) as err:
        PriceTable.load(bad)
    assert str(bad) in str(err.value) and "models.m1.output" in str(err.value)
    assert "-2" in str(err.value)
    good = tmp_path / "ok.yaml"
    good.write_text("models:\n  m1: {input: 1.0, output: 3}\n")
    assert PriceTable.load(good)["m1"] == TokenPrice(1.0, 3.0)


def test_token_estimate_is_one_per_four_characters():
    assert [estimate_tokens("x" * n) for n in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]
    np.testing.assert_array_equal(tokens_from_chars([0, 1, 4, 5, 8]), [0, 1, 1, 2, 2])
