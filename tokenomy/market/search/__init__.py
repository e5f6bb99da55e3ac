"""Business search: six algorithms behind one service, indexed once per market.

>>> from tokenomy.market.search import SearchService
>>> service = SearchService(market, seed=0)                       # doctest: +SKIP
>>> page = service.search("lexical", "tacos and agua fresca", limit=5)  # doctest: +SKIP
>>> page.businesses, page.total, page.pages                       # doctest: +SKIP

Indices are cached per market object, so a sweep over limits and seeds builds each index once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tokenomy.errors import UnknownNameError
from tokenomy.market.dataset import Market, derived
from tokenomy.market.search.indices import (
    BM25Index,
    Constraints,
    FilteredIndex,
    LexicalIndex,
    OptimalIndex,
    RandomIndex,
    Ranked,
    RatingIndex,
    pages,
)
from tokenomy.market.search.ranking import page_slice

__all__ = ["ALGORITHMS", "Constraints", "Ranked", "SearchPage", "SearchService"]

ALGORITHMS = ("lexical", "bm25", "rating", "random", "optimal", "filtered")
"""Registered search algorithm names."""

IntArray = NDArray[np.int64]


class _Index(Protocol):
    def rank(self, queries: Sequence[str], m: int, customers: IntArray | None = None) -> Ranked:
        """Top ``m`` per query."""
        ...


@dataclass(frozen=True)
class SearchPage:
    """One page of results: business indices in rank order, total matches, page count."""

    businesses: IntArray
    total: int
    pages: int


class SearchService:
    """All search algorithms over one market (indices built lazily, cached per market)."""

    def __init__(self, market: Market, seed: int = 0) -> None:
        self.market = market
        self.seed = seed

    def index(self, algorithm: str) -> object:
        """The index object of ``algorithm`` (built on first use)."""
        if algorithm not in ALGORITHMS:
            raise UnknownNameError("search algorithm", algorithm, ALGORITHMS)
        if algorithm == "random":
            return RandomIndex(self.market, self.seed)
        builders: dict[str, Callable[[Market], object]] = {
            "lexical": LexicalIndex,
            "bm25": BM25Index,
            "rating": RatingIndex,
            "optimal": OptimalIndex,
            "filtered": FilteredIndex,
        }
        return derived(self.market, f"search/{algorithm}", builders[algorithm])

    def search(
        self,
        algorithm: str,
        query: str = "",
        *,
        limit: int = 10,
        page: int = 1,
        customer: int | None = None,
        constraints: Constraints | None = None,
    ) -> SearchPage:
        """Run one search.

        Args:
            algorithm: one of :data:`ALGORITHMS`.
            query: the query text (ignored by rating, random and optimal).
            limit: results per page (the consideration-set size), >= 1.
            page: 1-based page number.
            customer: index of the searching customer (needed by ``random`` and ``optimal``).
            constraints: filters for ``filtered``.
        """
        if limit < 1 or page < 1:
            raise ValueError(f"limit and page must be >= 1, got limit={limit}, page={page}")
        idx = self.index(algorithm)
        if isinstance(idx, FilteredIndex):
            found = idx.matches(query, constraints)
            start = (page - 1) * limit
            return SearchPage(found[start : start + limit], len(found), pages(len(found), limit))
        customers = None if customer is None else np.asarray([customer], np.int64)
        ranked = self._rank(idx, [query], page * limit, customers)
        ptr, bus = page_slice(ranked.ptr, ranked.businesses, limit, page)
        total = int(ranked.totals[0])
        return SearchPage(bus[ptr[0] : ptr[1]], total, pages(total, limit))

    def search_batch(
        self,
        algorithm: str,
        customers: IntArray,
        queries: Sequence[str],
        *,
        limit: int,
        page: int = 1,
    ) -> Ranked:
        """Run one search per customer at once (the batch engine's path).

        For ``filtered`` the batch form applies each customer's own needs as constraints with
        an empty query (what the scripted customers ask for).
        """
        if limit < 1 or page < 1:
            raise ValueError(f"limit and page must be >= 1, got limit={limit}, page={page}")
        idx = self.index(algorithm)
        customers = np.asarray(customers, np.int64)
        if isinstance(idx, FilteredIndex):
            ranked = idx.rank_own_needs(customers, page * limit)
        else:
            ranked = self._rank(idx, queries, page * limit, customers)
        ptr, bus = page_slice(ranked.ptr, ranked.businesses, limit, page)
        return Ranked(ptr, bus, ranked.totals)

    @staticmethod
    def _rank(idx: object, queries: Sequence[str], m: int, customers: IntArray | None) -> Ranked:
        assert hasattr(idx, "rank")
        ranked: Ranked = idx.rank(queries, m, customers)
        return ranked
