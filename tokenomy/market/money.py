"""Money as integers.

Amounts are stored as ``int64`` micro-dollars (1 dollar = 1,000,000). Sums of prices are then
exact, equal totals compare equal, and a welfare figure computed in any order is the same number.
Dollars appear only at the edges: reading files, writing tables and summaries.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

MICRO = 1_000_000
"""Micro-dollars per dollar."""

CENT = MICRO // 100
"""Micro-dollars per cent."""


def to_micro(dollars: ArrayLike) -> NDArray[np.int64]:
    """Dollars (float) to micro-dollars (int64), rounding half to even."""
    return np.rint(np.asarray(dollars, dtype=np.float64) * MICRO).astype(np.int64)


def micro_of(dollars: float) -> int:
    """Scalar version of :func:`to_micro`."""
    return round(dollars * MICRO)


def to_dollars(micro: ArrayLike) -> NDArray[np.float64]:
    """Micro-dollars (int) to dollars (float64)."""
    return np.asarray(micro, dtype=np.int64) / MICRO


def dollars_of(micro: int | np.integer) -> float:
    """Scalar version of :func:`to_dollars`."""
    return int(micro) / MICRO


def round_to_cents(micro: ArrayLike) -> NDArray[np.int64]:
    """Round micro-dollar amounts to whole cents (half to even), staying in micro-dollars."""
    m = np.asarray(micro, dtype=np.float64)
    return (np.rint(m / CENT) * CENT).astype(np.int64)


def cents_of(micro: int | np.integer) -> int:
    """Micro-dollars to whole cents, rounding half up (integer arithmetic, exact)."""
    return (int(micro) + CENT // 2) // CENT


def format_dollars(micro: int | np.integer) -> str:
    """``"12.34"`` for 12,340,000 micro-dollars (rounded to cents, half up)."""
    cents = cents_of(micro)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def digits(n: ArrayLike) -> NDArray[np.int64]:
    """Number of decimal digits of non-negative integers (vectorised, exact)."""
    n = np.asarray(n, dtype=np.int64)
    out = np.ones(n.shape, dtype=np.int64)
    bound = 10
    while bound <= 10**18:
        out += n >= bound
        bound *= 10
    return out


def dollar_chars(micro: ArrayLike) -> NDArray[np.int64]:
    """Length of :func:`format_dollars` for non-negative amounts (vectorised)."""
    m = np.asarray(micro, dtype=np.int64)
    cents = (m + CENT // 2) // CENT
    return digits(cents // 100) + 3
