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

    One partial partition per row finds ``m`` best candidates; a row is re-ranked exactly from
    all its candidates only when ties at the ``m``-th score reach beyond the selection (or
    when it has fewer than ``m`` positive scores), which is rare.

    Returns:
        ``(ptr, cols, totals)``: CSR pointer over rows, the ranked columns, and per row the
        number of columns with a positive score (the total number of matches).
    """
    rows_n, n = scores.shape
    totals = np.count_nonzero(scores > 0, axis=1).astype(np.int64)
    k = min(m, n)
    if k <= 0 or rows_n == 0:
        return np.zeros(rows_n + 1, np.int64), np.zeros(0, np.int64), totals
    if k < n:
        part = np.argpartition(scores, n - k, axis=1)[:, n - k :]
    else:
        part = np.broadcast_to(np.arange(n), (rows_n, n)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    kth = vals.min(axis=1)
    at_least = np.count_nonzero(scores >= kth[:, None], axis=1)
    simple = (at_least == k) & (kth > 0)
    ranked: list[IntArray] = [np.zeros(0, np.int64)] * rows_n
    easy = np.flatnonzero(simple)
    if len(easy):
        cols = part[easy].reshape(-1)
        order = np.lexsort(
            (rank[cols], -vals[easy].reshape(-1), np.repeat(np.arange(len(easy)), k))
        )
        chosen = cols[order].reshape(len(easy), k)
        for i, r in enumerate(easy.tolist()):
            ranked[r] = chosen[i]
    for r in np.flatnonzero(~simple).tolist():
        row = scores[r]
        cand = np.flatnonzero(row >= kth[r]) if kth[r] > 0 else np.flatnonzero(row > 0)
        order = np.lexsort((rank[cand], -row[cand]))
        ranked[r] = cand[order][:m]
    lengths = np.fromiter((len(x) for x in ranked), np.int64, rows_n)
    ptr = np.zeros(rows_n + 1, np.int64)
    np.cumsum(lengths, out=ptr[1:])
    flat = np.concatenate(ranked).astype(np.int64) if rows_n else np.zeros(0, np.int64)
    return ptr, flat, totals


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
