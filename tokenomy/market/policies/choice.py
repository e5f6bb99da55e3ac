"""How scripted customers value and choose offers — one implementation for both engines.

The functions work on flat tables of offers (one row per proposal a customer received), with a
``group`` column saying whose offer it is, so the batch engine calls them once for a whole
market and the event engine calls them for one customer at a time with the same code.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def needs_met(n_found: ArrayLike, n_requested: ArrayLike, amenities_ok: ArrayLike) -> BoolArray:
    """An offer meets the needs if it has every requested item and the business every amenity."""
    same = np.asarray(n_found) == np.asarray(n_requested)
    return np.asarray(same & np.asarray(amenities_ok, bool), dtype=bool)


def utility(value: ArrayLike, total: ArrayLike, met: ArrayLike) -> IntArray:
    """Customer utility of paying ``total`` (micro).

    ``value − total`` if the needs are met, else ``−total``; ``value`` is 2 × Σ willingness to
    pay (the Magentic definition).
    """
    v = np.asarray(value, np.int64)
    t = np.asarray(total, np.int64)
    return np.where(np.asarray(met, bool), v - t, -t)


def perceived(
    value: ArrayLike,
    total: ArrayLike,
    met: ArrayLike,
    noise_z: ArrayLike,
    noise: float,
    persuasion: ArrayLike,
    credulity: float,
) -> NDArray[np.float64]:
    """What a (possibly boundedly rational) customer thinks an offer is worth, in micro-dollars.

    ``value·(1 + noise·z) − total + credulity·persuasion·value/2`` when the needs are met
    (``value/2`` is Σ WTP), ``−total`` otherwise. With ``noise = credulity = 0`` this is exactly
    :func:`utility`.
    """
    v = np.asarray(value, np.int64).astype(np.float64)
    t = np.asarray(total, np.int64).astype(np.float64)
    z = np.asarray(noise_z, np.float64)
    p = np.asarray(persuasion, np.float64)
    seen = v * (1.0 + noise * z) - t + credulity * p * (v * 0.5)
    return np.where(np.asarray(met, bool), seen, -t)


def payable(met: ArrayLike, score: ArrayLike, expiry: ArrayLike, pay_time: ArrayLike) -> BoolArray:
    """Offers a customer would pay.

    Needs met, positive (perceived) value, and not expired by the time the payment would
    execute (``expiry < 0`` means no expiry).
    """
    e = np.asarray(expiry, np.int64)
    return (
        np.asarray(met, bool)
        & (np.asarray(score, np.float64) > 0)
        & ((e < 0) | (e >= np.asarray(pay_time, np.int64)))
    )


def pick_best(
    group: IntArray, score: ArrayLike, tiebreak: ArrayLike, eligible: BoolArray, n_groups: int
) -> IntArray:
    """Per group, the eligible row with the highest score.

    Exact ties go to the smallest ``tiebreak``. Returns a row index per group, −1 where none
    is eligible.
    """
    rows = np.flatnonzero(eligible)
    out = np.full(n_groups, -1, np.int64)
    if len(rows) == 0:
        return out
    g = np.asarray(group)[rows]
    s = np.asarray(score, np.float64)[rows]
    t = np.asarray(tiebreak, np.float64)[rows]
    order = np.lexsort((rows, t, -s, g))
    first = np.ones(len(order), bool)
    first[1:] = g[order][1:] != g[order][:-1]
    out[g[order][first]] = rows[order][first]
    return out


def pick_first(
    group: IntArray, arrival_key: ArrayLike, eligible: BoolArray, n_groups: int
) -> IntArray:
    """Per group, the eligible row that arrived first (smallest ``arrival_key``), or −1."""
    rows = np.flatnonzero(eligible)
    out = np.full(n_groups, -1, np.int64)
    if len(rows) == 0:
        return out
    g = np.asarray(group)[rows]
    k = np.asarray(arrival_key)[rows]
    order = np.lexsort((rows, k, g))
    first = np.ones(len(order), bool)
    first[1:] = g[order][1:] != g[order][:-1]
    out[g[order][first]] = rows[order][first]
    return out
