"""The search algorithms, each an index built once per market and queried in batches.

========  ==================================================================================
name      ranking
========  ==================================================================================
lexical   the peer's 4-shingle coverage score (exactly; see :mod:`.text`); returns every
          business, ranked
bm25      Okapi BM25 (k1 = 1.2, b = 0.75) over word tokens without stop words; returns the
          businesses with a positive score
rating    query ignored; every business by rating (the peer's ``simple``)
random    query ignored; a uniformly random order, fixed per (seed, customer)
optimal   query ignored; exactly the businesses whose menu has every item the searching
          customer wants (the peer's "perfect search")
filtered  case-insensitive substring match of the query in name or description, plus
          constraints (minimum rating, required amenities, required menu items)
========  ==================================================================================

Ties always go to the static order (rating descending, then id). Scoring is a sparse
matrix product of query and document incidence matrices — an inverted index — so a query only
touches the businesses that share a term with it; no Python loop runs over businesses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from tokenomy.market.dataset import Market, _ptr, segment_ids
from tokenomy.market.search.ranking import (
    static_order,
    static_rank,
    top_by_int_score,
    top_positive_by_float_score,
)
from tokenomy.market.search.text import business_document, shingles, words
from tokenomy.rng import uniform

IntArray = NDArray[np.int64]

# Rows of a dense score block: keep a block around 8M cells (64 MB of float64).
_BLOCK_CELLS = 8_000_000
# Largest dense slice of the document matrix built for one block of queries.
_DENSE_TERMS_BYTES = 256_000_000


def _score_block(queries: sp.csr_matrix, docs_t: sp.csr_matrix) -> NDArray[np.float64]:
    """Dense ``(queries × documents)`` scores ``queries @ docs_t``.

    Only the rows of ``docs_t`` for the terms these queries use are made dense, and the
    sparse queries are multiplied into them (several times faster than a sparse × sparse
    product when most documents share a term with the query). Each score adds the same
    products in the same (term) order either way, so the result does not depend on which
    path or which block of queries computed it.
    """
    terms = np.unique(queries.indices)
    n_docs = docs_t.shape[1]
    itemsize = np.dtype(docs_t.dtype).itemsize
    if len(terms) * n_docs * itemsize > _DENSE_TERMS_BYTES:
        return np.asarray((queries @ docs_t).toarray())
    dense = docs_t[terms].toarray()
    remap = np.zeros(docs_t.shape[0], np.int64)
    remap[terms] = np.arange(len(terms))
    narrow = sp.csr_matrix(
        (queries.data, remap[queries.indices], queries.indptr),
        shape=(queries.shape[0], len(terms)),
    )
    return np.asarray(narrow @ dense)


@dataclass(frozen=True)
class Ranked:
    """The best ``m`` results of many queries: CSR rows of business indices, and totals."""

    ptr: IntArray
    businesses: IntArray
    totals: IntArray

    def row(self, i: int) -> IntArray:
        """Ranked business indices of query ``i``."""
        return self.businesses[self.ptr[i] : self.ptr[i + 1]]


def _documents(market: Market) -> list[str]:
    return [
        business_document(
            market.business_names[b],
            market.descriptions[b],
            [market.items[i] for i in market.business_menu(b)[0]],
        )
        for b in range(market.n_businesses)
    ]


def _blocks(n_rows: int, n_cols: int) -> list[tuple[int, int]]:
    step = max(1, _BLOCK_CELLS // max(n_cols, 1))
    return [(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


def _concat(parts: list[Ranked], n_rows: int) -> Ranked:
    if not parts:
        return Ranked(np.zeros(n_rows + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    lengths = np.concatenate([np.diff(p.ptr) for p in parts])
    return Ranked(
        _ptr(lengths),
        np.concatenate([p.businesses for p in parts]),
        np.concatenate([p.totals for p in parts]),
    )


def _dense_rows(ranked: NDArray[np.int64], totals: IntArray) -> Ranked:
    rows, m = ranked.shape
    return Ranked(_ptr(np.full(rows, m, np.int64)), ranked.reshape(-1), totals)


class LexicalIndex:
    """Shingle incidence of every business document; scores by shingle overlap counts."""

    name = "lexical"

    def __init__(self, market: Market) -> None:
        vocab: dict[str, int] = {}
        indptr = [0]
        cols: list[int] = []
        for doc in _documents(market):
            cols.extend(vocab.setdefault(s, len(vocab)) for s in shingles(doc))
            indptr.append(len(cols))
        n = market.n_businesses
        docs = sp.csr_matrix(
            (np.ones(len(cols), np.int32), np.asarray(cols, np.int64), np.asarray(indptr)),
            shape=(n, max(len(vocab), 1)),
        )
        self._vocab = vocab
        self._docs_t = docs.T.tocsr()
        self._rank = static_rank(market.ratings)
        self._n = n

    def encode(self, queries: Sequence[str]) -> sp.csr_matrix:
        """Binary incidence of the queries' shingles that occur in some document."""
        indptr = [0]
        cols: list[int] = []
        vocab = self._vocab
        for q in queries:
            cols.extend(v for s in shingles(q) if (v := vocab.get(s)) is not None)
            indptr.append(len(cols))
        return sp.csr_matrix(
            (np.ones(len(cols), np.int32), np.asarray(cols, np.int64), np.asarray(indptr)),
            shape=(len(queries), self._docs_t.shape[0]),
        )

    def overlap(self, queries: Sequence[str]) -> NDArray[np.int64]:
        """Dense ``(queries × businesses)`` shingle-overlap counts (for small inputs/tests)."""
        return np.asarray((self.encode(queries) @ self._docs_t).toarray(), dtype=np.int64)

    def rank(self, queries: Sequence[str], m: int, customers: IntArray | None = None) -> Ranked:
        """Top ``m`` businesses per query by overlap; every business matches (total = n)."""
        parts = []
        for lo, hi in _blocks(len(queries), self._n):
            scores = _score_block(self.encode(queries[lo:hi]), self._docs_t).astype(np.int64)
            top = top_by_int_score(scores, self._rank, m)
            parts.append(_dense_rows(top, np.full(hi - lo, self._n, np.int64)))
        return _concat(parts, len(queries))


class BM25Index:
    """Okapi BM25 over word tokens (stop words removed) of every business document."""

    name = "bm25"

    def __init__(self, market: Market, k1: float = 1.2, b: float = 0.75) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        lengths = np.zeros(market.n_businesses, np.float64)
        for d, doc in enumerate(_documents(market)):
            toks = words(doc)
            lengths[d] = len(toks)
            cols.extend(vocab.setdefault(t, len(vocab)) for t in toks)
            rows.extend([d] * len(toks))
        n = market.n_businesses
        tf = sp.csr_matrix(
            (np.ones(len(cols)), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
            shape=(n, max(len(vocab), 1)),
        )
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        idf = np.log((n - df + 0.5) / (df + 0.5) + 1.0)
        avgdl = lengths.mean() if n else 1.0
        norm = k1 * (1.0 - b + b * lengths / max(avgdl, 1e-12))
        r = segment_ids(tf.indptr.astype(np.int64))
        data = idf[tf.indices] * tf.data * (k1 + 1.0) / (tf.data + norm[r])
        weights = sp.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape)
        self._vocab = vocab
        self._weights_t = weights.T.tocsr()
        self._rank = static_rank(market.ratings)
        self._n = n

    def encode(self, queries: Sequence[str]) -> sp.csr_matrix:
        """Binary incidence of each query's distinct known terms."""
        indptr = [0]
        cols: list[int] = []
        for q in queries:
            known = {v for t in words(q) if (v := self._vocab.get(t)) is not None}
            cols.extend(sorted(known))
            indptr.append(len(cols))
        return sp.csr_matrix(
            (np.ones(len(cols)), np.asarray(cols, np.int64), np.asarray(indptr)),
            shape=(len(queries), self._weights_t.shape[0]),
        )

    def scores(self, queries: Sequence[str]) -> NDArray[np.float64]:
        """Dense ``(queries × businesses)`` BM25 scores (for small inputs/tests)."""
        return np.asarray((self.encode(queries) @ self._weights_t).toarray())

    def rank(self, queries: Sequence[str], m: int, customers: IntArray | None = None) -> Ranked:
        """Top ``m`` businesses with a positive score per query."""
        parts = []
        for lo, hi in _blocks(len(queries), self._n):
            scores = _score_block(self.encode(queries[lo:hi]), self._weights_t)
            ptr, cols, totals = top_positive_by_float_score(scores, self._rank, m)
            parts.append(Ranked(ptr, cols, totals))
        return _concat(parts, len(queries))


class RatingIndex:
    """Every business in static order (rating descending, id ascending); query ignored."""

    name = "rating"

    def __init__(self, market: Market) -> None:
        self._order = static_order(market.ratings)

    def rank(self, queries: Sequence[str], m: int, customers: IntArray | None = None) -> Ranked:
        """The first ``m`` businesses of the static order, for every query."""
        top = self._order[: min(m, len(self._order))]
        rows = len(queries)
        return Ranked(
            _ptr(np.full(rows, len(top), np.int64)),
            np.tile(top, rows),
            np.full(rows, len(self._order), np.int64),
        )


class RandomIndex:
    """A uniformly random order per (seed, customer); query ignored.

    For markets of at most 4,096 businesses the order is a full keyed permutation; for larger
    ones the first ``m`` entries are drawn by keyed rejection sampling (the first ``m``
    distinct values of a keyed sequence), so the cost is O(m) per customer, not O(businesses).
    Either way page ``p`` of a customer's results is a consistent slice of one fixed order.
    """

    name = "random"
    FULL_PERMUTATION_MAX = 4096

    def __init__(self, market: Market, seed: int) -> None:
        self._n = market.n_businesses
        self._seed = seed

    def rank(self, queries: Sequence[str], m: int, customers: IntArray | None = None) -> Ranked:
        """The first ``m`` entries of each customer's random order."""
        if customers is None:
            raise ValueError("random search needs the searching customer's index")
        customers = np.asarray(customers, dtype=np.int64)
        n, rows = self._n, len(customers)
        m = min(m, n)
        totals = np.full(rows, n, np.int64)
        if m == 0:
            return Ranked(np.zeros(rows + 1, np.int64), np.zeros(0, np.int64), totals)
        if n <= self.FULL_PERMUTATION_MAX:
            keys = uniform(self._seed, "search/random", customers[:, None], np.arange(n)[None, :])
            top = np.argsort(keys, axis=1, kind="stable")[:, :m]
            return _dense_rows(top.astype(np.int64), totals)
        out = np.empty((rows, m), np.int64)
        todo = np.arange(rows)
        draws = 2 * m + 8
        while len(todo):
            j = np.arange(draws)
            cand = np.floor(
                uniform(self._seed, "search/random", customers[todo, None], j[None, :]) * n
            ).astype(np.int64)
            r = np.repeat(np.arange(len(todo)), draws)
            flat = cand.reshape(-1)
            # first occurrence of each (row, value), kept in draw order
            order = np.lexsort((np.tile(j, len(todo)), flat, r))
            first = np.ones(len(order), bool)
            first[1:] = (r[order][1:] != r[order][:-1]) | (flat[order][1:] != flat[order][:-1])
            keep = np.sort(order[first])
            kr, kv = r[keep], flat[keep]
            counts = np.bincount(kr, minlength=len(todo))
            done = counts >= m
            starts = _ptr(counts)
            pos = np.arange(len(kr)) - starts[kr]
            sel = done[kr] & (pos < m)
            out[todo[kr[sel]], pos[sel]] = kv[sel]
            todo = todo[~done]
            draws *= 2
        return _dense_rows(out, totals)


class OptimalIndex:
    """The businesses carrying every item the customer wants, in static order."""

    name = "optimal"

    def __init__(self, market: Market) -> None:
        ptr, bus = market.carriers
        rank = static_rank(market.ratings)
        rows = segment_ids(ptr)
        order = np.lexsort((rank[bus], rows))
        self._ptr, self._bus = ptr, bus[order]

    def rank(self, queries: Sequence[str], m: int, customers: IntArray | None = None) -> Ranked:
        """The first ``m`` carriers of each customer."""
        if customers is None:
            raise ValueError("optimal search needs the searching customer's index")
        customers = np.asarray(customers, dtype=np.int64)
        totals = self._ptr[customers + 1] - self._ptr[customers]
        take = np.minimum(totals, m)
        ptr = _ptr(take)
        row = segment_ids(ptr)
        offs = np.arange(len(row)) - ptr[row]
        return Ranked(ptr, self._bus[self._ptr[customers][row] + offs], totals)


@dataclass(frozen=True)
class Constraints:
    """Filters of the ``filtered`` search (all optional)."""

    rating_threshold: float | None = None
    amenities: tuple[str, ...] = ()
    menu_items: tuple[str, ...] = ()


class FilteredIndex:
    """Substring match on name/description plus constraints, in static order."""

    name = "filtered"

    def __init__(self, market: Market) -> None:
        self._market = market
        self._order = static_order(market.ratings)
        self._rank = static_rank(market.ratings)
        names = [s.lower() for s in market.business_names]
        descs = [s.lower() for s in market.descriptions]
        # one blob per field; a match position maps to its business by binary search
        self._blobs = []
        for texts in (names, descs):
            starts = np.zeros(len(texts) + 1, np.int64)
            np.cumsum([len(t) + 1 for t in texts], out=starts[1:])
            self._blobs.append(("\x00".join(texts) + "\x00", starts))

    def _text_mask(self, query: str) -> NDArray[np.bool_]:
        mask = np.zeros(self._market.n_businesses, bool)
        needle = query.lower()
        for blob, starts in self._blobs:
            hits = []
            pos = blob.find(needle)
            while pos != -1:
                hits.append(pos)
                pos = blob.find(needle, pos + 1)
            if hits:
                b = np.searchsorted(starts, np.asarray(hits), side="right") - 1
                ends = np.asarray(hits) + len(needle)
                ok = ends <= starts[b + 1] - 1  # the match stays inside one text
                mask[b[ok]] = True
        return mask

    def matches(self, query: str, constraints: Constraints | None) -> IntArray:
        """All matching businesses in static order."""
        m = self._market
        mask = np.ones(m.n_businesses, bool)
        if query.strip():
            mask &= self._text_mask(query.strip())
        if constraints is not None:
            if constraints.rating_threshold is not None:
                mask &= m.ratings >= constraints.rating_threshold
            for amen in constraints.amenities:
                k = m.amenities.index(amen) if amen in m.amenities else -1
                mask &= m.b_amenities[:, k] if k >= 0 else False
            if constraints.menu_items:
                items = [m.item_index.get(i, -1) for i in constraints.menu_items]
                if min(items) < 0:
                    mask[:] = False
                else:
                    have = np.asarray(m.menu_matrix[:, items].sum(axis=1)).ravel()
                    mask &= have == len(set(items))
        return self._order[mask[self._order]]

    def rank_own_needs(self, customers: IntArray, m: int) -> Ranked:
        """Batch form used by scripted customers.

        Empty query; the constraints are the customer's own items and amenities, so the
        matches are its carriers that have every required amenity.
        """
        market = self._market
        ptr, bus = market.carriers
        rows = segment_ids(ptr)
        ok = market.amenities_ok(rows, bus)
        rows, bus = rows[ok], bus[ok]
        order = np.lexsort((self._rank[bus], rows))
        fptr = _ptr(np.bincount(rows, minlength=market.n_customers))
        fbus = bus[order]
        customers = np.asarray(customers, np.int64)
        totals = fptr[customers + 1] - fptr[customers]
        take = np.minimum(totals, m)
        optr = _ptr(take)
        row = segment_ids(optr)
        offs = np.arange(len(row)) - optr[row]
        return Ranked(optr, fbus[fptr[customers][row] + offs], totals)


def pages(total: int, limit: int) -> int:
    """Number of result pages."""
    return max(1, math.ceil(total / limit))
