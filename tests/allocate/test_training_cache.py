"""Rollouts as depreciating capital, and the value/risk-classed cache."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from tokenomy.allocate.cache import ValueRiskCache, class_labels
from tokenomy.allocate.training import EXACT_LIMIT, Rollout, RolloutBuffer
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices, PriceTable

TABLE = PriceTable.default()
PRICES = Prices(table=TABLE)

# ---------------------------------------------------------------- rollouts


def test_keep_threshold_age_is_honoured():
    value, gain, cost, delta = 2.0, 0.5, 0.25, 0.1
    # V·g·(1−δ)^t = c  ⇔  t* = ln(c/(V·g)) / ln(1−δ)
    t_star = math.log(cost / (value * gain)) / math.log(1 - delta)
    buf = RolloutBuffer(value, delta, prices=PRICES)
    probe = Rollout("probe", gain, cost, created_at=0.0)
    assert buf.threshold_age(probe) == pytest.approx(t_star, rel=1e-12)
    for age, kept in [
        (0.0, True),
        (math.floor(t_star), True),
        (t_star - 1e-6, True),
        (t_star + 1e-6, False),
        (math.ceil(t_star), False),
        (3 * t_star, False),
    ]:
        r = Rollout(f"r-{age}", gain, cost, created_at=100.0)
        assert buf.offer(r, now=100.0 + age) is kept, age
    assert [r.id for r in buf.rollouts] == [
        "r-0.0",
        f"r-{math.floor(t_star)}",
        f"r-{t_star - 1e-6}",
    ]


def test_threshold_age_edge_cases():
    buf = RolloutBuffer(1.0, 0.0, prices=PRICES)
    assert buf.threshold_age(Rollout("a", 1.0, 0.5)) == math.inf  # no depreciation
    assert buf.threshold_age(Rollout("b", 0.5, 0.5)) == 0.0  # never worth its cost
    assert not buf.offer(Rollout("b", 0.5, 0.5), now=0.0)


def test_prune_drops_exactly_the_stale_rollouts():
    value, delta = 10.0, 0.05
    buf = RolloutBuffer(value, delta, prices=PRICES)
    rng = np.random.default_rng(0)
    rollouts = [
        Rollout(f"r{i}", float(rng.uniform(0.1, 1.0)), float(rng.uniform(0.1, 3.0)), float(i))
        for i in range(40)
    ]
    kept = [r for r in rollouts if buf.offer(r, now=r.created_at + 1.0)]
    now = 60.0
    stale = buf.prune(now)
    by_hand = {r.id for r in kept if value * r.gain * (1 - delta) ** (now - r.created_at) <= r.cost}
    assert {r.id for r in stale} == by_hand and by_hand
    assert {r.id for r in buf.rollouts} == {r.id for r in kept} - by_hand
    drops = [rec for rec in buf.records if rec["chosen"] == "drop" and rec["id"].endswith("@60")]
    assert len(drops) == len(by_hand)


def brute_force(nets: list[float], costs: list[float], budget: float) -> float:
    best = 0.0
    for k in range(len(nets) + 1):
        for combo in itertools.combinations(range(len(nets)), k):
            if sum(costs[i] for i in combo) <= budget:
                best = max(best, sum(nets[i] for i in combo))
    return best


def test_budgeted_selection_is_exact_for_small_buffers():
    value, delta, now = 4.0, 0.02, 10.0
    rng = np.random.default_rng(1)
    buf = RolloutBuffer(value, delta, budget=3.0, prices=PRICES)
    for i in range(12):
        buf.offer(Rollout(f"r{i}", float(rng.uniform(0.2, 1.0)), float(rng.uniform(0.2, 2.0))), 0.0)
    nets = [value * r.gain * (1 - delta) ** now - r.cost for r in buf.rollouts]
    costs = [r.cost for r in buf.rollouts]
    sel = buf.select(now)
    assert sel.method == "exact"
    assert sel.cost <= 3.0
    assert sel.net_value == pytest.approx(brute_force(nets, costs, 3.0), rel=1e-12)
    # A greedy-by-ratio trap: one big rollout beats two small high-ratio ones.
    trap = RolloutBuffer(1.0, 0.0, prices=PRICES)
    for r in (Rollout("small-1", 0.6, 0.1), Rollout("small-2", 0.6, 0.1), Rollout("big", 3.0, 1.0)):
        trap.offer(r, 0.0)
    assert [r.id for r in trap.select(0.0, budget=1.0).rollouts] == ["big"]
    everything = trap.select(0.0)
    assert everything.method == "all" and len(everything.rollouts) == 3


def test_greedy_selection_for_large_buffers_is_within_the_greedy_bound():
    value, delta, now = 1.0, 0.0, 0.0
    rng = np.random.default_rng(2)
    buf = RolloutBuffer(value, delta, prices=PRICES)
    n = EXACT_LIMIT + 24
    for i in range(n):
        cost = int(rng.integers(1, 20))
        buf.offer(Rollout(f"r{i}", cost + float(rng.uniform(0.1, 10.0)), float(cost)), now)
    budget = 60
    sel = buf.select(now, budget=budget)
    assert sel.method == "greedy"
    assert sel.cost <= budget
    # Exact optimum by dynamic programming over integer costs.
    nets = [value * r.gain - r.cost for r in buf.rollouts]
    costs = [int(r.cost) for r in buf.rollouts]
    best = np.zeros(budget + 1)
    for v, c in zip(nets, costs, strict=True):
        best[c:] = np.maximum(best[c:], best[: budget + 1 - c] + v)
    opt = float(best[budget])
    assert sel.net_value <= opt + 1e-9
    assert sel.net_value + max(nets) >= opt - 1e-9


def test_training_records_follow_the_log_schema():
    buf = RolloutBuffer(3.0, 0.1, prices=PRICES)
    buf.offer(Rollout("r1", 1.0, 1.0, created_at=2.0), now=5.0)
    rec = buf.records[0]
    assert json.loads(json.dumps(rec)) == rec
    assert rec["layer"] == "training" and rec["id"] == "r1@5"
    assert [o["name"] for o in rec["options"]] == ["keep", "drop"]
    assert rec["options"][0]["dq"] == pytest.approx(1.0 * 0.9**3, rel=1e-12)
    assert rec["options"][0]["dc"] == 1.0
    assert rec["chosen"] == ("keep" if 3.0 * 0.9**3 > 1.0 else "drop")
    assert rec["outcome"] == {"gain": 1.0, "age": 3.0, "depreciation_rate": 0.1}
    assert rec["prices"]["value"] == 3.0


def test_training_rejects_bad_input():
    with pytest.raises(ConfigError, match="depreciation_rate"):
        RolloutBuffer(1.0, 1.0, prices=PRICES)
    with pytest.raises(ConfigError, match=r"Rollout\.gain"):
        Rollout("x", -1.0, 1.0)
    buf = RolloutBuffer(1.0, 0.1, prices=PRICES)
    with pytest.raises(ConfigError, match="before its created_at"):
        buf.offer(Rollout("late", 1.0, 0.1, created_at=5.0), now=1.0)
    buf.offer(Rollout("r", 1.0, 0.1), now=0.0)
    with pytest.raises(ConfigError, match="already in the buffer"):
        buf.offer(Rollout("r", 1.0, 0.1), now=0.0)


# ---------------------------------------------------------------- cache


def test_classes_from_edges():
    cache = ValueRiskCache([1, 10], [0.01, 0.1])
    assert [cache.value_class(v) for v in (0.5, 1.0, 9.99, 10.0, 1e6)] == [
        "value<1",
        "value[1,10)",
        "value[1,10)",
        "value>=10",
        "value>=10",
    ]
    assert cache.risk_class(0.05) == "risk[0.01,0.1)"
    assert class_labels("value", []) == ["value:all"]
    with pytest.raises(ConfigError, match="strictly increasing"):
        ValueRiskCache([10, 1], [0.1])


def test_cache_reuses_within_class_and_never_across():
    cache = ValueRiskCache([1, 10], [0.01, 0.1])
    cache.put("prompt", value=5.0, risk=0.001, result="answer-5")
    assert cache.lookup("prompt", value=2.0, risk=0.005).result == "answer-5"  # same classes
    other_value = cache.lookup("prompt", value=50.0, risk=0.005)
    other_risk = cache.lookup("prompt", value=5.0, risk=0.5)
    assert (other_value.status, other_value.result) == ("prevented", None)
    assert (other_risk.status, other_risk.result) == ("prevented", None)
    assert cache.lookup("other prompt", value=5.0, risk=0.001).status == "miss"
    s = cache.stats
    assert (s.hits, s.prevented, s.misses, s.expired, s.lookups) == (1, 2, 1, 0, 4)


def test_cache_never_reuses_across_classes_on_a_random_stream():
    cache = ValueRiskCache([0.5, 5.0], [0.02, 0.2], max_age=50.0)
    rng = np.random.default_rng(5)
    results: dict[tuple[str, str, str], str] = {}
    statuses = set()
    for t in range(3000):
        key = f"p{int(rng.integers(0, 30))}"
        value, risk = float(rng.lognormal(0.0, 1.5)), float(rng.uniform(0, 0.4))
        found = cache.lookup(key, value, risk, now=float(t))
        statuses.add(found.status)
        vc, rc = cache.value_class(value), cache.risk_class(risk)
        if found.hit:
            assert found.entry is not None
            assert (found.entry.value_class, found.entry.risk_class) == (vc, rc)
            assert found.result == results[(key, vc, rc)]
            assert t - found.entry.created_at <= 50.0
        else:
            results[(key, vc, rc)] = f"{key}/{vc}/{rc}@{t}"
            cache.put(key, value, risk, results[(key, vc, rc)], now=float(t))
    assert statuses == {"hit", "miss", "prevented", "expired"}
    s = cache.stats
    assert s.lookups == 3000 and s.hits > 0 and s.prevented > 0


def test_cache_expiry():
    cache = ValueRiskCache([1.0], [0.1], max_age=5.0)
    cache.put("k", 2.0, 0.0, "r", now=0.0)
    assert cache.lookup("k", 2.0, 0.0, now=5.0).hit
    assert cache.lookup("k", 2.0, 0.0, now=6.0).status == "expired"
    assert cache.lookup("k", 2.0, 0.0, now=6.0).status == "miss"
    assert len(cache) == 0
    with pytest.raises(ConfigError, match="max_age"):
        ValueRiskCache([1.0], [0.1], max_age=-1)


def test_cache_records():
    cache = ValueRiskCache([1, 10], [0.1])
    cache.put("k", 5.0, 0.0, "r")
    pr = Prices(value=5.0, risk=2.0, table=TABLE)
    hit = cache.record(cache.lookup("k", 5.0, 0.0), "c-1", pr, recompute_cost=0.3)
    assert hit is not None and hit["layer"] == "cache" and hit["chosen"] == "reuse"
    assert hit["outcome"] == {
        "entry_value_class": "value[1,10)",
        "entry_risk_class": "risk<0.1",
        "request_value_class": "value[1,10)",
        "request_risk_class": "risk<0.1",
    }
    assert [o["name"] for o in hit["options"]] == ["reuse", "recompute"]
    assert hit["options"][1]["dc"] == 0.3
    prevented = cache.record(
        cache.lookup("k", 50.0, 0.0),
        "c-2",
        pr.with_(value=50.0),
        recompute_cost=0.3,
        quality_loss=0.1,
    )
    assert prevented is not None and prevented["chosen"] == "recompute"
    assert prevented["outcome"]["request_value_class"] == "value>=10"
    assert prevented["outcome"]["entry_value_class"] == "value[1,10)"
    assert prevented["outcome"]["quality_loss"] == 0.1
    assert cache.record(cache.lookup("nothing", 5.0, 0.0), "c-3", pr, recompute_cost=0.3) is None
