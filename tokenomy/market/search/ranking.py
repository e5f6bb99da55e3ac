"""Exact top-k ranking with deterministic tie-breaks, vectorised over many queries.

Every search orders businesses by its score, then by the market's static order — rating
descending, then id ascending (the peer's total order). :func:`static_rank` computes that order;
the helpers below take the best ``m`` businesses of many score rows at once without sorting
whole rows.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


def static_rank(ratings: NDArray[np.float64]) -> IntArray:
    """Position of each business in the order (rating descending, index ascending)."""
    order = np.lexsort((np.arange(len(ratings)), -ratings))
    rank = np.empty(len(ratings), dtype=np.int64)
    rank[order] = np.arange(len(ratings), dtype=np.int64)
    return rank


def static_order(ratings: NDArray[np.float64]) -> IntArray:
    """Business indices in the order (rating descending, index ascending)."""
    return np.lexsort((np.arange(len(ratings)), -ratings)).astype(np.int64)


def top_by_int_score(scores: NDArray[np.int64], rank: IntArray, m: int) -> IntArray:
    """Best ``m`` columns of each row of non-negative integer ``scores``, in ranked order.

    Ties on score go to the better static ``rank``. Exact: the score and the tie-break are
    packed into one integer key.

    Returns:
        ``(rows, min(m, n))`` array of column indices.
    """
    n = scores.shape[1]
    m = min(m, n)
    if m == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    key = scores.astype(np.int64) * n + (n - 1 - rank)[None, :]
    if m < n:
        part = np.argpartition(-key, m - 1, axis=1)[:, :m]
    else:
        part = np.broadcast_to(np.arange(n), key.shape).copy()
    part_keys = np.take_along_axis(key, part, axis=1)
    order = np.argsort(-part_keys, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def top_positive_by_float_score(
    scores: NDArray[np.float64], rank: IntArray, m: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Best ``m`` columns with a positive score in each row, ties to the better static rank.

    Returns:
        ``(ptr, cols, totals)``: CSR pointer over rows, the ranked columns, and per row the
        number of columns with a positive score (the total number of matches).
    """
    rows_n, n = scores.shape
    positive = scores > 0
    totals = positive.sum(axis=1).astype(np.int64)
    if m <= 0 or n == 0:
        return np.zeros(rows_n + 1, np.int64), np.zeros(0, np.int64), totals
    kth = min(m, n)
    if kth < n:
        # the m-th largest value of each row; everything >= it is a candidate (ties included)
        thresh = -np.partition(-scores, kth - 1, axis=1)[:, kth - 1]
    else:
        thresh = np.full(rows_n, -np.inf)
    cand = positive & (scores >= thresh[:, None])
    r, c = np.nonzero(cand)
    order = np.lexsort((rank[c], -scores[r, c], r))
    r, c = r[order], c[order]
    counts = np.bincount(r, minlength=rows_n)
    starts = np.zeros(rows_n + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    pos_in_row = np.arange(len(r)) - starts[r]
    keep = pos_in_row < m
    r, c = r[keep], c[keep]
    ptr = np.zeros(rows_n + 1, np.int64)
    np.cumsum(np.bincount(r, minlength=rows_n), out=ptr[1:])
    return ptr, c.astype(np.int64), totals


def page_slice(ptr: IntArray, cols: IntArray, limit: int, page: int) -> tuple[IntArray, IntArray]:
    """From ranked CSR rows holding at least the first ``page*limit`` results, keep the page."""
    start = (page - 1) * limit
    lengths = np.diff(ptr)
    take = np.clip(lengths - start, 0, limit)
    new_ptr = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(take, out=new_ptr[1:])
    row = np.repeat(np.arange(len(lengths)), take)
    offs = np.arange(len(row)) - new_ptr[row]
    return new_ptr, cols[ptr[row] + start + offs]


def pages_for(total: int, limit: int) -> int:
    """Number of pages of ``limit`` results for ``total`` matches."""
    return math.ceil(total / limit) if limit > 0 else 1
