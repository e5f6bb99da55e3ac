"""The two engines agree table for table, and a seed fixes the log byte for byte."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenomy.market.generator import GeneratorSpec, generate_market
from tokenomy.market.io import load_market
from tokenomy.market.runner import RunConfig, run_market

CONFIGS = [
    dict(search="lexical", limit=7),
    dict(
        search="bm25", limit=5, customer_policy="first-proposal", business_params={"jitter_ms": 500}
    ),
    dict(search="random", limit=4, customer_policy="bounded", business_params={"jitter_ms": 3000}),
    dict(
        search="rating",
        limit=3,
        customer_policy="bounded",
        customer_params={"first_bias": 0.5, "noise": 0.3, "credulity": 1.0},
    ),
    dict(
        search="optimal",
        limit=10,
        business_policy="discounting",
        customer_params={"ask_discount": True, "query": "items"},
        business_params={"ttl_ms": 2300, "jitter_ms": 700},
    ),
    dict(search="filtered", limit=2, customer_policy="first-proposal", context_tokens=50),
    dict(search="lexical", limit=6, arrival_window_ms=5000, customer_policy="bounded"),
]
DATA = [
    "mexican_10_30",
    "contractors_10_30",
    "position_bias/business_0001_second",
    "malicious_description/mexican_prompt_injection_strong",
]


def assert_same_tables(a, b):
    ta, tb = a.tables(), b.tables()
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].equals(tb[name]), name
    assert a.summary["metrics"] == b.summary["metrics"]


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['search']}")
def test_batch_engine_equals_event_engine(magentic, data, config):
    market = load_market(magentic / data)
    for seed in (0, 3):
        batch = run_market(market, RunConfig(**config, seed=seed, engine="batch"))
        event = run_market(market, RunConfig(**config, seed=seed, engine="event"))
        assert batch.summary["engine"] == "batch" and event.summary["engine"] == "event"
        assert_same_tables(batch, event)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(1, 12),
    ratio=st.integers(1, 4),
    gen_seed=st.integers(0, 10_000),
    seed=st.integers(0, 10_000),
    search=st.sampled_from(["lexical", "bm25", "random", "optimal", "filtered", "rating"]),
    limit=st.integers(1, 12),
    policy=st.sampled_from(["rational", "first-proposal", "bounded"]),
    jitter=st.integers(0, 4000),
    ttl=st.one_of(st.none(), st.integers(1, 4000)),
    discount=st.booleans(),
)
def test_engines_agree_on_random_markets(
    customers, ratio, gen_seed, seed, search, limit, policy, jitter, ttl, discount
):
    market = generate_market(
        GeneratorSpec(customers=customers, businesses=max(3, customers * ratio), seed=gen_seed)
    )
    config = dict(
        search=search,
        limit=limit,
        customer_policy=policy,
        seed=seed,
        business_policy="discounting" if discount else "posted-price",
        customer_params={"ask_discount": discount},
        business_params={"jitter_ms": jitter, "ttl_ms": ttl},
    )
    batch = run_market(market, RunConfig(**config, engine="batch"))
    event = run_market(market, RunConfig(**config, engine="event"))
    assert_same_tables(batch, event)
    m = batch.summary["metrics"]
    # conservation: each payment pays one proposal, once, for exactly its total
    log = batch.log
    assert len(set(log.pay_proposal.tolist())) == len(log.pay_proposal)
    totals = dict(zip(log.prop_id.tolist(), log.prop_total.tolist(), strict=True))
    assert [totals[p] for p in log.pay_proposal.tolist()] == log.pay_amount.tolist()
    # with posted prices nobody can beat the optimum (generated customers always have a fit)
    if not discount:
        assert m["welfare"] <= m["optimal_welfare"] + 1e-9


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("engine", ["batch", "event"])
def test_same_seed_gives_byte_identical_files(magentic, tmp_path, engine):
    market = load_market(magentic / "mexican_33_99")
    config = RunConfig(
        search="lexical",
        limit=5,
        customer_policy="bounded",
        seed=11,
        engine=engine,
        business_params={"jitter_ms": 2000},
    )
    a = run_market(market, config).save(tmp_path / "a")
    b = run_market(load_market(magentic / "mexican_33_99"), config).save(tmp_path / "b")
    for name in (
        "events",
        "messages",
        "proposals",
        "proposal_items",
        "payments",
        "searches",
        "customers",
    ):
        assert _digest(a / f"{name}.parquet") == _digest(b / f"{name}.parquet"), name


def test_a_different_seed_changes_bounded_runs(magentic):
    market = load_market(magentic / "mexican_100_300")
    config = dict(
        search="lexical", limit=10, customer_policy="bounded", business_params={"jitter_ms": 1500}
    )
    a = run_market(market, RunConfig(**config, seed=1))
    b = run_market(market, RunConfig(**config, seed=2))
    assert not a.tables()["events"].equals(b.tables()["events"])
    assert a.summary["metrics"]["welfare"] != b.summary["metrics"]["welfare"]
