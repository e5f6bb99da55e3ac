"""Keyed, counter-based random numbers.

Every random quantity in tokenomy is a pure function of ``(seed, stream, key...)``: for example
the response-time jitter of business ``b`` answering customer ``c`` is
``uniform(seed, "jitter", c, b)``. Nothing depends on the order in which draws are made, so

* the event-driven engine and the vectorised batch engine draw exactly the same numbers,
* a market sharded across workers gives the same outcome as a single process,
* adding a draw somewhere never shifts the draws anywhere else.

Keys are agent *positions* (indices), so one seed gives the same numbers to the same positions
in any market: comparisons between data sets (a control and its manipulated variant, say) use
common random numbers, which makes their difference sharper. Runs over several data sets with
one seed are therefore not independent replications; vary the seed for those.

The generator is SplitMix64's finaliser applied to a running hash of the key (Steele, Lea and
Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014). All arithmetic is on
``uint64`` arrays, which is exact, so results are bit-identical however the inputs are batched.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import ArrayLike, NDArray

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO53 = float(2**53)


def stream_id(name: str) -> int:
    """Stable 64-bit id of a stream name (independent of Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def keyed_bits(seed: int, stream: str, *keys: ArrayLike) -> NDArray[np.uint64]:
    """64 random bits for each element of the broadcast ``keys``.

    Args:
        seed: the run's seed (any non-negative integer below 2**64).
        stream: what the numbers are for (``"jitter"``, ``"tiebreak"``...); different streams
            are independent.
        *keys: integer arrays (or scalars), broadcast together; typically agent indices.

    Returns:
        A ``uint64`` array of the broadcast shape.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    with np.errstate(over="ignore"):
        h = _mix(np.asarray([(seed ^ stream_id(stream)) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
        arrays = [np.asarray(k).astype(np.int64).astype(np.uint64) for k in keys]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        out = np.broadcast_to(h, shape if shape else (1,)).copy()
        for a in arrays:
            out = _mix(out ^ _mix(np.broadcast_to(a, out.shape)))
    return out.reshape(shape) if shape else out


def uniform(seed: int, stream: str, *keys: ArrayLike) -> NDArray[np.float64]:
    """Uniform numbers in ``[0, 1)`` keyed by ``(seed, stream, *keys)`` (53-bit resolution)."""
    bits = keyed_bits(seed, stream, *keys)
    return (bits >> _S11).astype(np.float64) / _TWO53


def standardized_noise(seed: int, stream: str, *keys: ArrayLike) -> NDArray[np.float64]:
    """Approximately standard-normal noise with mean 0 and variance exactly 1.

    The sum of four keyed uniforms (Irwin–Hall), centred and scaled: bounded by ±2·√3, close
    to a normal in the body. Only additions and multiplications are used, so the value is
    bit-identical however the inputs are batched (transcendental functions are not guaranteed
    to be).
    """
    total = uniform(seed, stream + "/0", *keys)
    for part in range(1, 4):
        total = total + uniform(seed, f"{stream}/{part}", *keys)
    return np.asarray((total - 2.0) * np.sqrt(3.0), dtype=np.float64)
