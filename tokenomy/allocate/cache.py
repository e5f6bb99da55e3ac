"""A cache that reuses a result only for a request of the same value and risk class.

Reusing a cached answer saves its recomputation, but an answer produced for a cheap, low-risk
request is not fit for a valuable or risky one (which would have warranted a stronger model,
verification, a human): reusing it across classes is the *cache misuse* failure mode. So
:class:`ValueRiskCache` keys every entry by the prompt key *and* the (value class, risk class)
of the request that produced it, and :meth:`~ValueRiskCache.lookup` reuses only an entry of
the request's own classes. A fresh same-prompt entry of another class is not reused: the
lookup is counted as a *prevented* misuse. Entries older than ``max_age`` expire.

Classes come from sorted edges: with value edges ``[1, 10]`` a request worth ``V`` is in
``value<1``, ``value[1,10)`` or ``value>=10`` (an edge belongs to the class above it); risk
classes likewise from the risk edges (risk = probability of a wrong action × consequence, or
any risk score the caller uses consistently).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.rule import Options
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = ["CacheEntry", "CacheLookup", "CacheStats", "ValueRiskCache", "class_labels"]


def _edges(name: str, edges: Sequence[float]) -> NDArray[np.float64]:
    arr = np.asarray(edges, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
        raise ConfigError(
            f"ValueRiskCache.{name} must be finite and strictly increasing, got {list(edges)}"
        )
    return arr


def class_labels(prefix: str, edges: Sequence[float]) -> list[str]:
    """Names of the classes the edges cut: ``prefix<e0``, ``prefix[e0,e1)``, …, ``prefix>=ek``."""
    if len(edges) == 0:
        return [f"{prefix}:all"]
    labels = [f"{prefix}<{edges[0]:g}"]
    labels += [f"{prefix}[{lo:g},{hi:g})" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"{prefix}>={edges[-1]:g}")
    return labels


@dataclass(frozen=True)
class CacheEntry:
    """A cached result and the classes of the request that produced it."""

    key: str
    value_class: str
    risk_class: str
    result: Any
    created_at: float


@dataclass
class CacheStats:
    """Counts of lookups by outcome (each lookup counts once)."""

    hits: int = 0
    misses: int = 0
    prevented: int = 0
    expired: int = 0

    @property
    def lookups(self) -> int:
        """All lookups."""
        return self.hits + self.misses + self.prevented + self.expired


@dataclass(frozen=True)
class CacheLookup:
    """The answer to one lookup.

    Attributes:
        status: ``"hit"`` (reused), ``"miss"`` (nothing cached for the prompt),
            ``"prevented"`` (only another class's entry: not reused), or ``"expired"`` (the
            same-class entry was too old and has been dropped).
        result: the cached result on a hit, else ``None``.
        key: the prompt key.
        value_class: the request's value class. risk_class: its risk class.
        entry: the entry considered (the reused, expired, or other-class one; ``None`` on a
            miss).
    """

    status: str
    result: Any
    key: str
    value_class: str
    risk_class: str
    entry: CacheEntry | None

    @property
    def hit(self) -> bool:
        """Whether a cached result was reused."""
        return self.status == "hit"


class ValueRiskCache:
    """Prompt cache partitioned by the requests' value and risk classes.

    Args:
        value_edges: increasing boundaries between value classes (dollars).
        risk_edges: increasing boundaries between risk classes.
        max_age: the oldest an entry may be and still be reused (same time unit as ``now``).

    Raises:
        ConfigError: edges that are not finite and strictly increasing, or ``max_age < 0``.
    """

    def __init__(
        self, value_edges: Sequence[float], risk_edges: Sequence[float], max_age: float = math.inf
    ) -> None:
        self.value_edges = _edges("value_edges", value_edges)
        self.risk_edges = _edges("risk_edges", risk_edges)
        if not isinstance(max_age, int | float) or math.isnan(max_age) or max_age < 0:
            raise ConfigError(f"ValueRiskCache.max_age must be >= 0, got {max_age!r}")
        self.max_age = float(max_age)
        self.value_labels = class_labels("value", self.value_edges.tolist())
        self.risk_labels = class_labels("risk", self.risk_edges.tolist())
        self.stats = CacheStats()
        self._entries: dict[str, dict[tuple[str, str], CacheEntry]] = {}

    def value_indices(self, values: ArrayLike) -> NDArray[np.int64]:
        """Value-class index of each value (vectorised; an edge belongs to the class above)."""
        v = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise ConfigError(f"request values must be finite, got {np.ravel(v)[:5].tolist()}")
        return np.searchsorted(self.value_edges, v, side="right").astype(np.int64)

    def risk_indices(self, risks: ArrayLike) -> NDArray[np.int64]:
        """Risk-class index of each risk (vectorised; an edge belongs to the class above)."""
        r = np.asarray(risks, dtype=np.float64)
        if not np.all(np.isfinite(r)):
            raise ConfigError(f"request risks must be finite, got {np.ravel(r)[:5].tolist()}")
        return np.searchsorted(self.risk_edges, r, side="right").astype(np.int64)

    def value_class(self, value: float) -> str:
        """The value class of a request worth ``value``."""
        return self.value_labels[int(self.value_indices(value))]

    def risk_class(self, risk: float) -> str:
        """The risk class of a request with risk ``risk``."""
        return self.risk_labels[int(self.risk_indices(risk))]

    def __len__(self) -> int:
        return sum(len(v) for v in self._entries.values())

    def put(self, key: str, value: float, risk: float, result: Any, now: float = 0.0) -> CacheEntry:
        """Cache ``result`` for prompt ``key`` under the request's classes (replacing any)."""
        if not isinstance(now, int | float) or not math.isfinite(now):
            raise ConfigError(f"ValueRiskCache.put: now must be a finite number, got {now!r}")
        entry = CacheEntry(key, self.value_class(value), self.risk_class(risk), result, float(now))
        self._entries.setdefault(key, {})[(entry.value_class, entry.risk_class)] = entry
        return entry

    def _fresh(self, entry: CacheEntry, now: float) -> bool:
        if now < entry.created_at:
            raise ConfigError(
                f"ValueRiskCache.lookup: now={now!r} is before entry {entry.key!r} was cached "
                f"at {entry.created_at!r}"
            )
        return now - entry.created_at <= self.max_age

    def lookup(self, key: str, value: float, risk: float, now: float = 0.0) -> CacheLookup:
        """Reuse the entry for ``key`` of the request's own classes, if there is a fresh one.

        Counts the lookup once in :attr:`stats`: a hit; an expired same-class entry (dropped);
        a prevented misuse (only other classes' fresh entries for this prompt); or a miss.
        """
        vc, rc = self.value_class(value), self.risk_class(risk)
        by_class = self._entries.get(key, {})
        entry = by_class.get((vc, rc))
        if entry is not None:
            if self._fresh(entry, now):
                self.stats.hits += 1
                return CacheLookup("hit", entry.result, key, vc, rc, entry)
            del by_class[(vc, rc)]
            self.stats.expired += 1
            return CacheLookup("expired", None, key, vc, rc, entry)
        others = [by_class[c] for c in sorted(by_class) if self._fresh(by_class[c], now)]
        if others:
            self.stats.prevented += 1
            return CacheLookup("prevented", None, key, vc, rc, others[0])
        self.stats.misses += 1
        return CacheLookup("miss", None, key, vc, rc, None)

    def record(
        self,
        lookup: CacheLookup,
        record_id: str,
        prices: Prices,
        *,
        recompute_cost: float,
        recompute_latency: float = 0.0,
        quality_loss: float | None = None,
    ) -> dict[str, Any] | None:
        """The decision-log record (layer ``cache``) of a lookup; ``None`` on a plain miss.

        Options: ``reuse`` (``dq = 1 − quality_loss``, free and instant) and ``recompute``
        (``dq = 1`` at ``recompute_cost`` and ``recompute_latency``); chosen: ``reuse`` on a
        hit, else ``recompute``. The outcome names the entry's and the request's classes, so
        the diagnosis can see that nothing was reused across classes.

        Args:
            lookup: what :meth:`lookup` returned.
            record_id: the record's id.
            prices: ``V`` (the request's value), ``λ``, ``ρ``.
            recompute_cost: dollars to recompute the result.
            recompute_latency: seconds to recompute it.
            quality_loss: expected quality lost by reusing rather than recomputing, if known.
        """
        if lookup.entry is None:
            return None
        loss = 0.0 if quality_loss is None else float(quality_loss)
        options = Options.of(
            dq=[1.0 - loss, 1.0],
            dc=[0.0, recompute_cost],
            dl=[0.0, recompute_latency],
            names=["reuse", "recompute"],
        )
        outcome: dict[str, Any] = {
            "entry_value_class": lookup.entry.value_class,
            "entry_risk_class": lookup.entry.risk_class,
            "request_value_class": lookup.value_class,
            "request_risk_class": lookup.risk_class,
        }
        if quality_loss is not None:
            outcome["quality_loss"] = loss
        chosen = "reuse" if lookup.hit else "recompute"
        return decision_record(record_id, "cache", prices, options, chosen, outcome)
