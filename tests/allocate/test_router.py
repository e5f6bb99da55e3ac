"""The router on a synthetic problem with a learnable pattern: the rule, both paths, saving."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tokenomy.allocate.decision_log import as_records
from tokenomy.allocate.diagnose import diagnose
from tokenomy.allocate.router import ModelProfile, Router
from tokenomy.errors import ConfigError, ResultsError, UnknownNameError
from tokenomy.prices import Prices, PriceTable

from .conftest import synthetic_prompts

TABLE = PriceTable.from_mapping(
    {"small": {"input": 0.2, "output": 0.2}, "large": {"input": 10.0, "output": 30.0}}
)
PROFILES = [ModelProfile("small", 100), ModelProfile("large", 100)]


def fitted(predictor: str, value: float = 0.02) -> Router:
    prompts, outcomes = synthetic_prompts(400, seed=1)
    return Router(PROFILES, Prices(value=value, table=TABLE), predictor=predictor).fit(
        prompts, outcomes
    )


@pytest.mark.parametrize("predictor", ["logistic", "knn", "factor", "mean"])
def test_predictions_are_probabilities(predictor):
    router = fitted(predictor)
    prompts, _ = synthetic_prompts(50, seed=2)
    q = router.predict(router.features(prompts))
    assert q.shape == (50, 2)
    assert np.all((q >= 0) & (q <= 1))


@pytest.mark.parametrize("predictor", ["logistic", "knn", "factor"])
def test_router_sends_hard_prompts_to_the_large_model(predictor):
    router = fitted(predictor)
    prompts, _ = synthetic_prompts(300, seed=3)
    hard = np.array(["integral" in p for p in prompts])
    chosen = np.array(router.route(prompts).chosen_names())
    # V·Δq ≈ 0.02·0.8 = 0.016 beats Δc ≈ 0.003 on hard prompts; Δq ≈ 0.05 does not on easy
    assert np.mean(chosen[hard] == "large") > 0.9
    assert np.mean(chosen[~hard] == "small") > 0.9


def test_decisions_follow_the_rule_exactly():
    router = fitted("logistic")
    prompts, _ = synthetic_prompts(100, seed=4)
    d = router.route(prompts)
    manual = d.prices.net_value(d.quality, d.cost, d.latency, d.risk)
    np.testing.assert_array_equal(d.choice, np.argmax(manual, axis=1))
    # costs are the shared token prices of estimated input tokens and expected output tokens
    tokens = np.array([-(-len(p) // 4) for p in prompts])
    for j, m in enumerate(router.names):
        np.testing.assert_allclose(d.cost[:, j], TABLE.cost(m, tokens, 100))


def test_strong_share_grows_with_value_and_latency_price_moves_it_back():
    router = fitted("logistic")
    prompts, _ = synthetic_prompts(200, seed=5)
    shares = [
        router.route(prompts, router.prices.with_(value=v)).shares()["large"]
        for v in (0.001, 0.005, 0.02, 0.1, 1.0)
    ]
    assert shares == sorted(shares)
    assert shares[0] < 0.1 and shares[-1] > 0.9
    slow = Router(
        [ModelProfile("small", 100, latency_s=0.5), ModelProfile("large", 100, latency_s=3.0)],
        Prices(value=1.0, table=TABLE),
        predictor=router.predictor,
        featurizer=router.featurizer,
    )
    slow.fitted, slow._linear = True, router._linear
    priced = slow.route(prompts, slow.prices.with_(latency=1.0)).shares()["large"]
    assert priced < shares[-1]


@pytest.mark.parametrize("predictor", ["logistic", "knn"])
def test_single_request_path_agrees_with_the_batch(predictor):
    router = fitted(predictor)
    prompts, _ = synthetic_prompts(200, seed=6)
    batch = router.route(prompts).chosen_names()
    single = [router.route_one(p) for p in prompts]
    assert single == batch
    rows = sp.csr_matrix(router.features(prompts))
    tokens = np.array([-(-len(p) // 4) for p in prompts], dtype=float)
    fast = [
        router.names[router.route_one_features(rows[i].indices, rows[i].data, tokens[i])]
        for i in range(len(prompts))
    ]
    assert fast == batch


@pytest.mark.parametrize("predictor", ["logistic", "knn", "factor", "mean"])
def test_save_and_load_give_identical_decisions(tmp_path: Path, predictor):
    router = fitted(predictor)
    path = router.save(tmp_path / "router.npz")
    again = Router.load(path)
    prompts, _ = synthetic_prompts(100, seed=7)
    a, b = router.route(prompts), again.route(prompts)
    np.testing.assert_array_equal(a.choice, b.choice)
    np.testing.assert_allclose(a.quality, b.quality, rtol=0, atol=1e-12)
    assert again.prices.value == router.prices.value
    assert not list(tmp_path.glob("*.tmp"))


def test_router_records_are_valid_log_lines_and_diagnose_clean():
    router = fitted("logistic")
    prompts, outcomes = synthetic_prompts(120, seed=8)
    d = router.route(prompts)
    records = as_records(d.records("t", realised_quality=outcomes))
    result = diagnose(records)
    assert result.row("over-routing").count == 0
    assert result.row("under-routing").count == 0
    assert result.row("over-routing").decisions == 120


def test_errors_name_what_is_wrong(tmp_path: Path):
    with pytest.raises(UnknownNameError, match="nosuchmodel"):
        Router([ModelProfile("nosuchmodel")], Prices(table=TABLE))
    with pytest.raises(ConfigError, match="unique"):
        Router([ModelProfile("small"), ModelProfile("small")], Prices(table=TABLE))
    router = Router(PROFILES, Prices(table=TABLE))
    with pytest.raises(ConfigError, match="not been fitted"):
        router.route(["x"])
    with pytest.raises(ConfigError, match="outcomes must be"):
        router.fit(["a", "b"], [[1, 0, 1], [0, 1, 1]])
    with pytest.raises(ConfigError, match="output_tokens"):
        ModelProfile("small", output_tokens=-1)
    with pytest.raises(ResultsError, match="does not exist"):
        Router.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a router")
    with pytest.raises(ResultsError, match="not a saved tokenomy router"):
        Router.load(bad)
