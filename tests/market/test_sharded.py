"""A market run as customer shards equals the single-process run, table for table."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.market.dataset import Market
from tokenomy.market.generator import GeneratorSpec, generate_market
from tokenomy.market.population import PolicyRule, PopulationSpec
from tokenomy.market.runlog import PHASE_END, RunLog
from tokenomy.market.runner import RunConfig, RunResult, run_market
from tokenomy.market.shard_merge import merge_logs, text_keys
from tokenomy.market.shard_task import customer_block, run_shard, shard_bounds, shared_side
from tokenomy.market.sharded import (
    EXECUTORS,
    check_shardable,
    run_market_or_sharded,
    run_sharded,
)

TABLES = ("events", "messages", "proposals", "proposal_items", "payments", "searches", "customers")


def assert_same_run(single: RunResult, sharded: RunResult) -> None:
    """Identical Arrow tables (exact) and identical summary metrics."""
    a, b = single.tables(), sharded.tables()
    assert set(a) == set(b) == set(TABLES)
    for name in TABLES:
        assert a[name].schema == b[name].schema, name
        assert a[name].equals(b[name]), name
    assert single.summary["metrics"] == sharded.summary["metrics"]


def assert_canonical(log: RunLog) -> None:
    """Events sorted by (time, phase, agent, target); message ids in event order."""
    key = np.lexsort((log.ev_target, log.ev_agent, log.ev_phase, log.ev_time))
    assert np.array_equal(key, np.arange(log.n_events))
    msg = log.ev_message[log.ev_message >= 0]
    assert np.array_equal(msg, np.arange(len(log.msg_time)))
    assert np.array_equal(log.msg_time, log.ev_time[log.ev_message >= 0])


@pytest.fixture(scope="module")
def generated() -> Market:
    return generate_market(GeneratorSpec(customers=2000, businesses=500, seed=5))


GENERATED_CONFIGS = [
    dict(search="lexical", limit=8, arrival_window_ms=20_000),
    dict(
        search="bm25",
        limit=5,
        customer_policy="first-proposal",
        arrival_window_ms=7_000,
        business_params={"jitter_ms": 900},
    ),
    dict(
        search="random",
        limit=6,
        customer_policy="bounded",
        customer_params={"first_bias": 0.5, "noise": 0.3, "credulity": 1.0},
        business_params={"jitter_ms": 3000, "ttl_ms": 2500},
    ),
    dict(
        search="optimal",
        business_policy="discounting",
        customer_params={"ask_discount": True, "query": "items"},
        context_tokens=30,
    ),
    dict(search="filtered", limit=3, customer_policy="first-proposal"),
]


@pytest.mark.parametrize("config", GENERATED_CONFIGS, ids=lambda c: str(c["search"]))
def test_shards_equal_the_single_run_on_a_generated_market(
    generated: Market, config: dict[str, object]
) -> None:
    run = RunConfig(**config, seed=7)  # type: ignore[arg-type]
    single = run_market(generated, run)
    for shards in (1, 2, 3, 7):
        sharded = run_sharded(generated, run, shards=shards, executor="local")
        assert sharded.summary["sharding"]["shards"] == shards
        assert_same_run(single, sharded)
        assert_canonical(sharded.log)


@pytest.mark.parametrize("policy", ["rational", "first-proposal"])
def test_shards_follow_the_event_engines_clock_on_mexican_100_300(
    mexican_100_300: Market, policy: str
) -> None:
    run = dict(search="lexical", customer_policy=policy, arrival_window_ms=30_000, seed=2)
    event = run_market(mexican_100_300, RunConfig(**run, engine="event"))  # type: ignore[arg-type]
    assert event.summary["engine"] == "event"
    for shards in (1, 2, 3, 7):
        sharded = run_sharded(mexican_100_300, RunConfig(**run), shards=shards)  # type: ignore[arg-type]
        assert_same_run(event, sharded)
        # the merged log is the event engine's log, event for event, in its order
        for name in ("ev_time", "ev_phase", "ev_agent", "ev_target", "ev_action", "ev_message"):
            assert np.array_equal(getattr(event.log, name), getattr(sharded.log, name)), name
        assert [event.log.texts[i] for i in event.log.msg_text[event.log.msg_text >= 0]] == [
            sharded.log.texts[i] for i in sharded.log.msg_text[sharded.log.msg_text >= 0]
        ]
    # customers arrive over the window, so shards interleave in time
    ends = sharded.log.ev_agent[sharded.log.ev_phase == PHASE_END]
    assert not np.array_equal(ends, np.sort(ends))


def test_executors_agree(generated: Market) -> None:
    run = RunConfig(search="bm25", limit=4, seed=3, business_params={"jitter_ms": 400})
    local = run_sharded(generated, run, shards=3, executor="local")
    process = run_sharded(generated, run, shards=3, executor="process", workers=2)
    assert process.summary["sharding"]["executor"] == "process"
    assert len({s["pid"] for s in process.summary["timing"]["shards"]}) >= 1
    assert_same_run(local, process)


def test_ray_executor_agrees(generated: Market, ray_local: object) -> None:
    run = RunConfig(search="lexical", limit=5, seed=4, arrival_window_ms=3000)
    single = run_market(generated, run)
    on_ray = run_sharded(generated, run, shards=3, executor="ray")
    assert on_ray.summary["sharding"]["executor"] == "ray"
    assert_same_run(single, on_ray)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(1, 14),
    businesses=st.integers(3, 25),
    gen_seed=st.integers(0, 10_000),
    seed=st.integers(0, 10_000),
    search=st.sampled_from(["lexical", "bm25", "random", "optimal", "filtered", "rating"]),
    policy=st.sampled_from(["rational", "first-proposal", "bounded"]),
    jitter=st.integers(0, 3000),
    window=st.integers(0, 5000),
    shards=st.integers(1, 16),
)
def test_any_split_of_any_small_market_gives_the_single_run(
    customers: int,
    businesses: int,
    gen_seed: int,
    seed: int,
    search: str,
    policy: str,
    jitter: int,
    window: int,
    shards: int,
) -> None:
    market = generate_market(
        GeneratorSpec(customers=customers, businesses=businesses, seed=gen_seed)
    )
    run = RunConfig(
        search=search,
        limit=4,
        customer_policy=policy,
        seed=seed,
        arrival_window_ms=window,
        business_params={"jitter_ms": jitter},
    )
    sharded = run_sharded(market, run, shards=shards)
    assert sharded.summary["sharding"]["shards"] == min(shards, customers)
    assert_same_run(run_market(market, run), sharded)
    assert_canonical(sharded.log)


@given(n=st.integers(0, 500), shards=st.integers(1, 40))
def test_shard_bounds_are_contiguous_and_balanced(n: int, shards: int) -> None:
    bounds = shard_bounds(n, shards)
    assert len(bounds) == max(1, min(n, shards))
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_a_sharded_run_saves_the_same_folder(generated: Market, tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path))
    run = RunConfig(search="optimal", seed=1)
    a = run_market(generated, run).save(out / "single")
    b = run_sharded(generated, run, shards=4).save(out / "sharded")
    for name in TABLES:
        assert pq.read_table(a / f"{name}.parquet").equals(pq.read_table(b / f"{name}.parquet"))


# ---------------------------------------------------------------------- what cannot be sharded
def test_unsupported_runs_are_refused_with_the_reason(generated: Market) -> None:
    with pytest.raises(ConfigError, match="engine 'event' cannot be sharded"):
        run_sharded(generated, RunConfig(engine="event"), shards=2)
    population = PopulationSpec(customers=[PolicyRule(agents="*", policy="rational")])
    with pytest.raises(ConfigError, match=r"--agents \(a population\)"):
        run_market_or_sharded(generated, RunConfig(), shards=2, population=population)
    with pytest.raises(ConfigError, match="--transport http"):
        check_shardable(transport="http", db_url="sqlite:///x.db")
    with pytest.raises(ConfigError, match="--db: the market service keeps one ledger"):
        check_shardable(db_url="sqlite:///x.db")
    with pytest.raises(ConfigError, match="--contract"):
        check_shardable(contract=object())
    with pytest.raises(UnknownNameError, match="executor"):
        run_sharded(generated, RunConfig(), shards=2, executor="dask")
    with pytest.raises(ConfigError, match="--address is for --executor ray"):
        run_sharded(generated, RunConfig(), shards=2, executor="process", address="auto")
    with pytest.raises(ConfigError, match="--shards must be at least 1, got 0"):
        run_sharded(generated, RunConfig(), shards=0)
    with pytest.raises(UnknownNameError, match="search algorithm"):
        run_sharded(generated, RunConfig(search="vector"), shards=2)
    assert set(EXECUTORS) == {"local", "process", "ray"}


def test_one_local_shard_is_the_plain_run(mexican_100_300: Market) -> None:
    plain = run_market_or_sharded(mexican_100_300, RunConfig(seed=1))
    assert "sharding" not in plain.summary
    sharded = run_market_or_sharded(mexican_100_300, RunConfig(seed=1), shards=2)
    assert sharded.summary["sharding"]["shards"] == 2
    assert_same_run(plain, sharded)


def test_colliding_text_keys_cost_time_not_correctness(mexican_100_300: Market) -> None:
    run = RunConfig(search="bm25", customer_policy="bounded", seed=5)
    cp, bp = run.policies()
    shared = shared_side(mexican_100_300, run, cp, bp)
    arrivals = np.zeros(mexican_100_300.n_customers, np.int64)
    outputs = [
        run_shard(shared, customer_block(mexican_100_300, i, lo, hi, arrivals))
        for i, (lo, hi) in enumerate(shard_bounds(mexican_100_300.n_customers, 3))
    ]
    logs = [o.log for o in outputs]
    assert [len(o.text_keys) for o in outputs] == [len(log.texts) for log in logs]
    assert np.array_equal(outputs[0].text_keys, text_keys(logs[0].texts))
    single = run_market(mexican_100_300, run).log.tables(mexican_100_300)
    colliding = [np.zeros(len(log.texts), np.uint64) for log in logs]  # every text "collides"
    for keys in (None, [o.text_keys for o in outputs], colliding):
        merged = merge_logs(logs, keys).tables(mexican_100_300)
        for name in ("events", "messages", "searches"):
            assert merged[name].equals(single[name]), name
        assert len(set(merge_logs(logs, keys).texts)) == len(merge_logs(logs, keys).texts)
    with pytest.raises(ValueError, match="one text key per text"):
        merge_logs(logs, [*colliding[:2], np.zeros(1, np.uint64)])


def test_merge_refuses_logs_of_different_markets(mexican_100_300: Market) -> None:
    small = generate_market(GeneratorSpec(customers=3, businesses=5, seed=0))
    a = run_market(small, RunConfig()).log
    b = run_market(mexican_100_300, RunConfig()).log
    with pytest.raises(ValueError, match="logs of different markets"):
        merge_logs([a, b])
    with pytest.raises(ValueError, match="at least one log"):
        merge_logs([])
