"""Tests of the synthetic market generator and the scenario markets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.market.dataset import Market
from tokenomy.market.generator import (
    DOMAINS,
    MANIPULATION_KINDS,
    MANIPULATION_TEXTS,
    GeneratorSpec,
    _item_names,
    generate_market,
    manipulation_market,
    position_bias_market,
    vocabulary_capacity,
)
from tokenomy.market.io import load_market, write_market
from tokenomy.market.money import CENT

CENTS_PER_MICRO = CENT


def assert_markets_equal(a: Market, b: Market) -> None:
    for f in dataclasses.fields(Market):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, f.name
            assert np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def pair_tables(m: Market, customers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the given customers × every business: carries-all, amenities-ok, posted total."""
    cs = np.repeat(customers, m.n_businesses)
    bs = np.tile(np.arange(m.n_businesses), len(customers))
    found, wanted, total = m.items_carried(cs, bs)
    shape = (len(customers), m.n_businesses)
    carry = (found == wanted).reshape(shape)
    ok = m.amenities_ok(cs, bs).reshape(shape)
    return carry, ok, total.reshape(shape)


# ---------------------------------------------------------------------------- determinism
def test_same_spec_gives_identical_market() -> None:
    spec = GeneratorSpec(customers=60, businesses=150, seed=7)
    assert_markets_equal(generate_market(spec), generate_market(spec))


def test_same_spec_identical_when_carriers_are_drawn() -> None:
    spec = GeneratorSpec(customers=300, businesses=80, seed=3, domain="contractors")
    assert_markets_equal(generate_market(spec), generate_market(spec))


def test_different_seed_gives_different_market() -> None:
    a = generate_market(GeneratorSpec(customers=60, businesses=150, seed=1))
    b = generate_market(GeneratorSpec(customers=60, businesses=150, seed=2))
    assert a.requests != b.requests
    assert not np.array_equal(a.b_prices[:100], b.b_prices[:100])


# ---------------------------------------------------------------------------- structure
STRUCTURE_CASES = [
    (100, 300, "restaurants"),
    (200, 100, "restaurants"),
    (30, 90, "contractors"),
    (40, 200, "contractors"),  # more businesses than 3N: some have no progenitor
    (5, 4, "restaurants"),  # tiny and crowded
]


@pytest.mark.parametrize(("n", "m", "domain"), STRUCTURE_CASES)
def test_structure(n: int, m: int, domain: str) -> None:
    spec = GeneratorSpec(customers=n, businesses=m, seed=11, domain=domain)
    mk = generate_market(spec)
    assert (mk.n_customers, mk.n_businesses) == (n, m)
    assert mk.name == f"synthetic-{domain}-{n}x{m}-seed11"
    assert mk.source is None
    assert mk.extra["generator"]["customers"] == n
    assert GeneratorSpec(**mk.extra["generator"]) == spec

    # ids: unique, sorted, numbered from 1
    for ids, prefix, count in (
        (mk.customer_ids, "customer", n),
        (mk.business_ids, "business", m),
    ):
        assert ids == sorted(set(ids))
        assert ids[0] == f"{prefix}_0001"
        assert int(ids[-1].split("_")[1]) == count

    # requests: 1-3 distinct items, 1-2 amenities, named in the request text
    k = np.diff(mk.c_item_ptr)
    a = np.diff(mk.c_amen_ptr)
    assert k.min() >= 1
    assert k.max() <= 3
    assert a.min() >= 1
    assert a.max() <= 2
    for c in range(n):
        items, wtp = mk.customer_items(c)
        assert len(set(items.tolist())) == len(items)
        assert len(set(mk.customer_amenities(c).tolist())) == len(mk.customer_amenities(c))
        for i in items:
            assert f"'{mk.items[i]}' (1)" in mk.requests[c]
        for am in mk.customer_amenities(c):
            assert mk.amenities[am].lower() in mk.requests[c]
        assert (wtp > 0).all()

    # menus: no duplicate item on a menu; whole-cent positive prices
    for b in range(m):
        items, _ = mk.business_menu(b)
        assert len(set(items.tolist())) == len(items)
    assert (mk.b_prices % CENT == 0).all()
    assert (mk.b_prices >= CENT).all()
    assert (mk.c_wtp % CENT == 0).all()
    sizes = np.diff(mk.b_item_ptr)
    assert sizes.min() >= spec.menu_size[0]
    if m >= 3 * n:
        assert sizes.max() <= spec.menu_size[1]

    # amenities and scalar columns
    n_amen = 10 if domain == "restaurants" else 18
    assert mk.b_amenities.shape == (m, n_amen)
    assert len(mk.amenities) == n_amen
    assert np.all(mk.ratings == 1.0)
    lo, hi = spec.min_price_factor
    assert mk.min_price_factor.min() >= lo
    assert mk.min_price_factor.max() <= hi
    assert np.allclose(mk.min_price_factor * 100, np.round(mk.min_price_factor * 100))

    # carriers: at least 3 per customer, at least one with every amenity
    carry, ok, total = pair_tables(mk, np.arange(n))
    assert (carry.sum(axis=1) >= spec.carriers_per_customer).all()
    assert (carry & ok).any(axis=1).all()

    # progenitors carry their customer's items
    for b, prog in enumerate(mk.progenitors):
        if prog is not None:
            assert carry[mk.customer_index[prog], b]
    if m >= 3 * n:
        expected = [mk.customer_ids[b // 3] if b < 3 * n else None for b in range(m)]
        assert mk.progenitors == expected

    # prices around the WTP, so that the optimum is positive
    value = mk.value_micro[:, None]
    best = np.where(carry & ok, value - total, np.iinfo(np.int64).min).max(axis=1)
    assert best.sum() > 0


def test_some_carriers_lack_an_amenity() -> None:
    mk = generate_market(GeneratorSpec(customers=100, businesses=300, seed=0))
    carry, ok, _ = pair_tables(mk, np.arange(100))
    lacking = (carry & ~ok).any(axis=1)
    assert lacking.mean() > 0.5
    # exactly three carriers for most customers, as in the published data
    assert (carry.sum(axis=1) == 3).mean() > 0.8


def test_vocabulary_sizes_and_distinct_names() -> None:
    for domain in DOMAINS:
        cap = vocabulary_capacity(domain)
        assert cap >= 30_000
        names = _item_names(domain, np.arange(cap))
        assert len(set(names)) == cap
    mk = generate_market(GeneratorSpec(customers=100, businesses=300, seed=0))
    assert 2.5 <= mk.n_items / mk.n_businesses <= 4.5
    assert len(set(mk.items)) == mk.n_items


def test_progress_is_reported() -> None:
    calls: list[tuple[int, int]] = []
    generate_market(
        GeneratorSpec(customers=10, businesses=30), progress=lambda d, t: calls.append((d, t))
    )
    assert calls
    assert calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"domain": "bakeries"}, UnknownNameError),
        ({"customers": 0}, ConfigError),
        ({"businesses": 2}, ConfigError),
        ({"items_per_customer": (3, 1)}, ConfigError),
        ({"price_spread": 1.5}, ConfigError),
        ({"seed": -1}, ConfigError),
        ({"min_price_factor": (0.5, 1.5)}, ConfigError),
    ],
)
def test_invalid_spec(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        GeneratorSpec(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["yaml", "parquet"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_round_trip(tmp_path: Path, fmt: str, domain: str) -> None:
    mk = generate_market(GeneratorSpec(customers=10, businesses=30, seed=5, domain=domain))
    out = write_market(mk, tmp_path / "market", fmt=fmt)
    back = load_market(out)
    assert back.customer_ids == mk.customer_ids
    assert back.business_ids == mk.business_ids
    assert back.n_items == mk.n_items
    for c in range(mk.n_customers):
        assert back.customer_entity(c) == mk.customer_entity(c)
    for b in range(mk.n_businesses):
        assert back.business_entity(b) == mk.business_entity(b)


# ---------------------------------------------------------------------------- scenarios
def _check_identical_businesses(mk: Market) -> None:
    first = mk.business_entity(0)
    for b in range(1, mk.n_businesses):
        other = mk.business_entity(b)
        assert other.menu_features == first.menu_features
        assert list(other.menu_features) == list(first.menu_features)
        assert other.amenity_features == first.amenity_features
        assert other.min_price_factor == first.min_price_factor
    assert len(set(mk.business_names)) == mk.n_businesses
    carry, ok, _ = pair_tables(mk, np.arange(mk.n_customers))
    assert carry.all()
    assert ok.all()


@pytest.mark.parametrize("domain", DOMAINS)
def test_position_bias_market(domain: str) -> None:
    mk = position_bias_market(businesses=4, seed=2, domain=domain)
    assert (mk.n_customers, mk.n_businesses) == (1, 4)
    assert mk.business_ids == ["business_0001", "business_0002", "business_0003", "business_0004"]
    assert np.array_equal(mk.ratings, 1.0 - np.arange(4) * 1e-9)
    assert (np.diff(mk.ratings) < 0).all()
    _check_identical_businesses(mk)
    assert len(mk.amenities) == (10 if domain == "restaurants" else 18)
    assert_markets_equal(mk, position_bias_market(businesses=4, seed=2, domain=domain))


def test_position_bias_from_base() -> None:
    base = generate_market(GeneratorSpec(customers=50, businesses=40, seed=3))
    mk = position_bias_market(base, businesses=3)
    _check_identical_businesses(mk)
    assert mk.customer_entity(0).menu_features == base.customer_entity(0).menu_features
    menu = mk.business_entity(0).menu_features
    for item, price in base.customer_entity(0).menu_features.items():
        assert item in menu
        assert price > 0


@pytest.mark.parametrize("kind", MANIPULATION_KINDS)
@pytest.mark.parametrize("domain", DOMAINS)
def test_malicious_market(kind: str, domain: str) -> None:
    mk = manipulation_market(kind, seed=4, domain=domain)
    assert (mk.n_customers, mk.n_businesses) == (1, 3)
    assert np.all(mk.ratings == 1.0)
    _check_identical_businesses(mk)
    _check_descriptions(mk, kind)


@pytest.mark.parametrize("kind", MANIPULATION_KINDS)
def test_competitive_market(kind: str) -> None:
    mk = manipulation_market(kind, seed=4, domain="restaurants", competitive=True)
    assert (mk.n_customers, mk.n_businesses) == (3, 3)
    carry, ok, _ = pair_tables(mk, np.arange(3))
    assert np.array_equal(carry, np.eye(3, dtype=bool))
    assert ok.diagonal().all()
    _check_descriptions(mk, kind)


def _check_descriptions(mk: Market, kind: str) -> None:
    texts = [t for t in MANIPULATION_TEXTS.values() if t]
    if kind == "control":
        assert not any(t in d for t in texts for d in mk.descriptions)
    else:
        assert MANIPULATION_TEXTS[kind] in mk.descriptions[0]
        assert not any(t in d for t in texts for d in mk.descriptions[1:])


def test_manipulation_texts_cover_kinds() -> None:
    assert set(MANIPULATION_TEXTS) == set(MANIPULATION_KINDS)
    assert MANIPULATION_TEXTS["control"] == ""
    assert all(MANIPULATION_TEXTS[k] for k in MANIPULATION_KINDS if k != "control")
    with pytest.raises(UnknownNameError):
        manipulation_market("flattery")


def test_manipulation_variants_share_the_clean_market() -> None:
    control = manipulation_market("control", seed=9)
    attacked = manipulation_market("authority", seed=9)
    assert control.descriptions[1:] == attacked.descriptions[1:]
    assert control.descriptions[0] in attacked.descriptions[0]
    assert np.array_equal(control.b_prices, attacked.b_prices)


# ---------------------------------------------------------------------------- scale
def test_medium_scale_smoke() -> None:
    spec = GeneratorSpec(customers=20_000, businesses=6_000, seed=1)
    mk = generate_market(spec)
    assert (mk.n_customers, mk.n_businesses) == (20_000, 6_000)
    assert mk.customer_ids[0] == "customer_00001"
    assert mk.customer_ids[-1] == "customer_20000"
    assert mk.business_ids[-1] == "business_6000"
    assert mk.customer_ids == sorted(mk.customer_ids)
    sample = np.arange(0, 20_000, 157)
    carry, ok, _ = pair_tables(mk, sample)
    assert (carry.sum(axis=1) >= 3).all()
    assert (carry & ok).any(axis=1).all()
    assert (mk.b_prices % CENT == 0).all()
    assert sum(p is None for p in mk.progenitors) < 10  # nearly every business is a carrier


def test_prefixes_never_start_a_base_name():
    from tokenomy.market import generator as g

    for domain in g.DOMAINS:
        prefixes = g._ITEM_PREFIXES[domain]
        assert len(set(prefixes)) == len(prefixes) == 100
        assert all(" " not in p for p in prefixes)
        base = g._item_names(domain, np.arange(g._base_capacity(domain)))
        firsts = {name.split(" ")[0] for name in base}
        assert not firsts & set(prefixes)
        assert len(set(base)) == len(base)


def test_crowded_markets_keep_a_few_carriers_per_customer():
    # 30,000 customers on 3,000 businesses: 10 customers per business, as in 1M x 100k
    market = generate_market(GeneratorSpec(customers=30_000, businesses=3_000, seed=2))
    ptr, _ = market.carriers
    carriers = np.diff(ptr)
    assert carriers.min() >= 3
    assert np.median(carriers) == 3
    assert np.percentile(carriers, 99) <= 12
    prefixed = sum(name.split(" ")[0] in generator_prefixes() for name in market.items)
    assert prefixed > 0  # the vocabulary needed prefixed names


def generator_prefixes() -> set[str]:
    from tokenomy.market import generator as g

    return set(g._ITEM_PREFIXES["restaurants"])
