"""Each search algorithm against a direct, naive implementation of its definition."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tests.conftest import business, customer, market_of
from tokenomy.errors import UnknownNameError
from tokenomy.market.generator import GeneratorSpec, generate_market
from tokenomy.market.io import load_market
from tokenomy.market.search import ALGORITHMS, Constraints, SearchService
from tokenomy.market.search.indices import RandomIndex
from tokenomy.market.search.text import STOPWORDS


# --------------------------------------------------------------------- naive references
def peer_normalize(s: str) -> str:
    s = s.lower()
    s = re.sub(r"[^\w\s]", "", s)
    return re.sub(r"\s+", " ", s).strip()


def peer_shingles(s: str, k: int = 4) -> set[str]:
    if len(s) < k:
        s = s + " " * (k - len(s))
    return {s[i : i + k] for i in range(len(s) - k + 1)}


def peer_score(query: str, doc: str) -> float:
    q = peer_shingles(" " + peer_normalize(query) + " ")
    d = peer_shingles(" " + peer_normalize(doc) + " ")
    return len(q & d) / len(q) if q else 0.0


def peer_document(market, b: int) -> str:
    text = market.business_names[b].strip() + ", " + market.descriptions[b].strip() + ", "
    for i in market.business_menu(b)[0]:
        text += market.items[i].strip() + ", "
    return text


def peer_lexical(market, query: str) -> list[int]:
    rows = [
        (
            -peer_score(query, peer_document(market, b)),
            -market.ratings[b],
            market.business_ids[b],
            b,
        )
        for b in range(market.n_businesses)
    ]
    return [r[3] for r in sorted(rows)]


def naive_bm25(market, query: str, k1=1.2, b=0.75) -> np.ndarray:
    docs = [
        [w for w in re.findall(r"\w+", peer_document(market, d).lower()) if w not in STOPWORDS]
        for d in range(market.n_businesses)
    ]
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    terms = {w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS}
    scores = np.zeros(n)
    for t in terms:
        df = sum(t in d for d in docs)
        if df == 0:
            continue
        idf = math.log((n - df + 0.5) / (df + 0.5) + 1)
        for i, d in enumerate(docs):
            tf = d.count(t)
            if tf:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return scores


# --------------------------------------------------------------------- tests
def test_lexical_is_exactly_the_peers_ranking(magentic):
    market = load_market(magentic / "mexican_33_99")
    service = SearchService(market)
    queries = [*list(market.requests), "tacos", "", "Outdoor seating & churros!!", "xyzzy"]
    for q in queries:
        ref = peer_lexical(market, q)
        page1 = service.search("lexical", q, limit=10, customer=0)
        page3 = service.search("lexical", q, limit=7, page=3, customer=0)
        assert page1.businesses.tolist() == ref[:10], q
        assert page3.businesses.tolist() == ref[14:21], q
        assert page1.total == market.n_businesses
        assert page3.pages == math.ceil(market.n_businesses / 7)


def test_bm25_scores_and_ranking_match_the_formula(magentic):
    market = load_market(magentic / "mexican_10_30")
    service = SearchService(market)
    index = service.index("bm25")
    for q in [*market.requests[:5], "chicken tacos", "the and of"]:
        ref = naive_bm25(market, q)
        np.testing.assert_allclose(index.scores([q])[0], ref, rtol=1e-12, atol=1e-12)
        page = service.search("bm25", q, limit=30)
        order = sorted(
            (i for i in range(market.n_businesses) if ref[i] > 0),
            key=lambda i: (-ref[i], -market.ratings[i], i),
        )
        assert page.businesses.tolist() == order
        assert page.total == len(order)


def test_rating_orders_by_rating_then_id():
    market = market_of(
        [customer("customer_1", {"A": 1.0})],
        [
            business("business_1", {"A": 1.0}, rating=0.5),
            business("business_2", {"A": 1.0}, rating=0.9),
            business("business_3", {"A": 1.0}, rating=0.9),
            business("business_4", {"A": 1.0}, rating=0.1),
        ],
    )
    page = SearchService(market).search("rating", "anything", limit=3)
    assert page.businesses.tolist() == [1, 2, 0]
    assert (page.total, page.pages) == (4, 2)


def test_optimal_returns_exactly_the_full_carriers(magentic):
    market = load_market(magentic / "mexican_100_300")
    service = SearchService(market)
    for c in range(market.n_customers):
        wanted = {market.items[i] for i in market.customer_items(c)[0]}
        ref = [
            b
            for b in range(market.n_businesses)
            if wanted <= {market.items[i] for i in market.business_menu(b)[0]}
        ]
        got = service.search("optimal", limit=50, customer=c)
        assert got.businesses.tolist() == ref
        assert got.total == len(ref) == 3


def test_filtered_applies_query_and_constraints(tiny_market):
    service = SearchService(tiny_market)
    everything = service.search("filtered", "", limit=10)
    assert everything.businesses.tolist() == [0, 1, 2]
    by_item = service.search(
        "filtered", "", limit=10, constraints=Constraints(menu_items=("Taco", "Soup"))
    )
    assert by_item.businesses.tolist() == [0, 1]
    by_amen = service.search(
        "filtered",
        "",
        limit=10,
        constraints=Constraints(amenities=("Patio",), menu_items=("Taco",)),
    )
    assert by_amen.businesses.tolist() == [0, 2]
    unknown = service.search(
        "filtered", "", limit=10, constraints=Constraints(menu_items=("Nope",))
    )
    assert unknown.total == 0
    by_text = service.search("filtered", "BUSINESS 2", limit=10)
    assert by_text.businesses.tolist() == [1]
    across = service.search("filtered", "2A friendly", limit=10)  # no match across two texts
    assert across.total == 0


def test_filtered_batch_equals_constraints_of_own_needs(magentic):
    market = load_market(magentic / "mexican_33_99")
    service = SearchService(market)
    batch = service.search_batch("filtered", np.arange(market.n_customers), [], limit=5)
    for c in range(market.n_customers):
        items = tuple(market.items[i] for i in market.customer_items(c)[0])
        amen = tuple(market.amenities[a] for a in market.customer_amenities(c))
        single = service.search(
            "filtered", "", limit=5, constraints=Constraints(amenities=amen, menu_items=items)
        )
        assert batch.row(c).tolist() == single.businesses.tolist()
        assert batch.totals[c] == single.total == 2  # two of three carriers have the amenities


def test_random_is_keyed_by_seed_and_customer_and_pages_consistently(magentic):
    market = load_market(magentic / "mexican_100_300")
    a = SearchService(market, seed=1)
    full = a.search("random", limit=300, customer=4).businesses.tolist()
    assert sorted(full) == list(range(300))
    assert a.search("random", limit=10, page=2, customer=4).businesses.tolist() == full[10:20]
    assert a.search("random", limit=10, customer=5).businesses.tolist() != full[:10]
    b = SearchService(market, seed=2)
    assert b.search("random", limit=10, customer=4).businesses.tolist() != full[:10]
    firsts = a.search_batch("random", np.arange(100).repeat(30) % 100, [], limit=1).businesses
    assert len(set(firsts.tolist())) > 50  # spread over many businesses


def test_random_rejection_sampling_for_large_markets():
    market = generate_market(
        GeneratorSpec(customers=40, businesses=RandomIndex.FULL_PERMUTATION_MAX + 500)
    )
    service = SearchService(market, seed=3)
    batch = service.search_batch("random", np.arange(40), [], limit=25, page=2)
    for c in range(40):
        first50 = service.search("random", limit=50, customer=c).businesses
        assert len(set(first50.tolist())) == 50
        assert batch.row(c).tolist() == first50[25:50].tolist()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_batch_equals_single_searches(magentic, algorithm):
    market = load_market(magentic / "contractors_10_30")
    service = SearchService(market, seed=5)
    queries = list(market.requests)
    batch = service.search_batch(algorithm, np.arange(market.n_customers), queries, limit=4, page=2)
    for c in range(market.n_customers):
        if algorithm == "filtered":
            continue  # covered by test_filtered_batch_equals_constraints_of_own_needs
        single = service.search(algorithm, queries[c], limit=4, page=2, customer=c)
        assert batch.row(c).tolist() == single.businesses.tolist()
        assert batch.totals[c] == single.total


def test_unknown_algorithm_and_bad_limits(tiny_market):
    service = SearchService(tiny_market)
    with pytest.raises(UnknownNameError, match="Did you mean 'lexical'"):
        service.search("lexicl", "x")
    with pytest.raises(ValueError, match="limit"):
        service.search("lexical", "x", limit=0)
