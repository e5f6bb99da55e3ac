"""What one shard of a sharded market run receives, does and returns (on a worker).

A shard is a contiguous block of a market's customers (:class:`CustomerBlock`) run against the
whole business side (:class:`SharedSide`, sent to each worker once): :func:`run_shard` builds
the block's market, runs the batch engine on it with random draws keyed by the whole market's
indices, re-indexes the log to the whole market (:func:`~tokenomy.market.shard_merge.globalize`)
and returns it with the block's per-customer baselines and fingerprints of its texts
(:class:`ShardOutput`). :mod:`tokenomy.market.sharded` runs the shards and merges them.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.errors import ConfigError
from tokenomy.market import batch
from tokenomy.market.dataset import Market, derived
from tokenomy.market.metrics import baselines
from tokenomy.market.policies.params import BusinessParams, CustomerParams
from tokenomy.market.runlog import RunLog
from tokenomy.market.runner import RunConfig
from tokenomy.market.search import Ranked, SearchService
from tokenomy.market.shard_merge import globalize, text_keys

IntArray = NDArray[np.int64]

CUSTOMER_FIELDS = (
    "customer_ids",
    "customer_names",
    "requests",
    "c_item_ptr",
    "c_items",
    "c_wtp",
    "c_amen_ptr",
    "c_amens",
)
"""The :class:`Market` fields that are per customer (split into blocks); the rest is shared."""

# Values computed from the business side alone, shared by every shard (derived-cache keys);
# persuasion scores only when customers are credulous (the batch engine reads them only then).
_SHARED_DERIVED: dict[str, Callable[[Market], Any]] = {
    "batch/search_line_chars": batch._search_line_chars,
}
_PERSUASION = ("persuasion", batch._persuasion)
# Search indices built from the business side alone (optimal and filtered read customers'
# needs, random has no index): built once and shared.
_SHARED_INDICES = ("lexical", "bm25", "rating")


# ---------------------------------------------------------------------- what shards receive
@dataclass(frozen=True)
class SharedSide:
    """What every shard needs, sent once: the business side and the run's parameters.

    Attributes:
        fields: the :class:`Market` fields that are not per customer (businesses, the item
            and amenity vocabularies, name, source, extra).
        derived: precomputed values of the market's derived cache (search index, ...).
        customer: customer policy parameters.
        business: business policy parameters.
        search: search algorithm.
        limit: consideration-set size.
        seed: the run's seed.
        context_tokens: input tokens charged per action.
        total_customers: customers of the whole market.
    """

    fields: dict[str, Any]
    derived: dict[str, Any]
    customer: CustomerParams
    business: BusinessParams
    search: str
    limit: int
    seed: int
    context_tokens: int
    total_customers: int


@dataclass(frozen=True)
class CustomerBlock:
    """One shard's customers: the market's customer columns for ``first .. first+n−1``.

    Attributes:
        index: the shard's number (0-based).
        first: the whole market's index of the block's first customer.
        fields: the block's customer columns (:data:`CUSTOMER_FIELDS`, CSR pointers rebased).
        arrivals: the block's customers' start times (ms), drawn for the whole market.
    """

    index: int
    first: int
    fields: dict[str, Any]
    arrivals: IntArray

    @property
    def n_customers(self) -> int:
        """Number of customers in the block."""
        return len(self.fields["customer_ids"])


@dataclass
class ShardOutput:
    """A shard's log (whole-market agent indices) and what running it cost.

    Attributes:
        index: the shard's number.
        log: the block's log, re-indexed by :func:`~tokenomy.market.shard_merge.globalize`.
        seconds: wall time of the shard's work on its worker.
        peak_rss_gb: peak resident memory of the worker process so far (VmHWM, GB).
        pid: the worker's process id.
        stages: seconds of each stage of the shard's work (setup, the batch engine's stages,
            baselines, re-indexing).
        text_keys: fingerprints of the log's texts (:func:`~.shard_merge.text_keys`).
        optimal_micro: the block's customers' optimal welfare (micro; see
            :func:`~tokenomy.market.metrics.baselines`, a per-customer quantity).
        cheapest_micro: the block's customers' pick-cheapest welfare (micro).
    """

    index: int
    log: RunLog
    seconds: float
    peak_rss_gb: float
    pid: int
    stages: dict[str, float]
    text_keys: NDArray[np.uint64]
    optimal_micro: IntArray
    cheapest_micro: IntArray


class _BlockSearch(SearchService):
    """Search for a block of customers: ``random`` keys its order by whole-market indices."""

    def __init__(self, market: Market, seed: int, first_customer: int) -> None:
        super().__init__(market, seed)
        self.first_customer = first_customer

    def search_batch(
        self,
        algorithm: str,
        customers: IntArray,
        queries: Sequence[str],
        *,
        limit: int,
        page: int = 1,
    ) -> Ranked:
        """As :meth:`SearchService.search_batch`, with ``random`` keyed by global indices."""
        if algorithm == "random":  # the only index that uses the customer index as a key
            customers = np.asarray(customers, np.int64) + self.first_customer
        return super().search_batch(algorithm, customers, queries, limit=limit, page=page)


def shard_bounds(n_customers: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous customer blocks ``[lo, hi)``: ``shards`` of them (fewer if fewer customers).

    Sizes differ by at most one; the larger blocks come first.

    Args:
        n_customers: customers of the market.
        shards: requested number of blocks (>= 1).
    """
    if shards < 1:
        raise ConfigError(f"--shards must be at least 1, got {shards}")
    k = max(1, min(shards, n_customers))
    edges = [0]
    for i in range(k):
        edges.append(edges[-1] + n_customers // k + (1 if i < n_customers % k else 0))
    return list(itertools.pairwise(edges))


def customer_block(
    market: Market, index: int, lo: int, hi: int, arrivals: IntArray
) -> CustomerBlock:
    """The customer columns of customers ``lo .. hi−1`` (CSR pointers rebased to 0)."""
    item_lo, item_hi = int(market.c_item_ptr[lo]), int(market.c_item_ptr[hi])
    amen_lo, amen_hi = int(market.c_amen_ptr[lo]), int(market.c_amen_ptr[hi])
    fields = {
        "customer_ids": market.customer_ids[lo:hi],
        "customer_names": market.customer_names[lo:hi],
        "requests": market.requests[lo:hi],
        "c_item_ptr": market.c_item_ptr[lo : hi + 1] - item_lo,
        "c_items": market.c_items[item_lo:item_hi],
        "c_wtp": market.c_wtp[item_lo:item_hi],
        "c_amen_ptr": market.c_amen_ptr[lo : hi + 1] - amen_lo,
        "c_amens": market.c_amens[amen_lo:amen_hi],
    }
    return CustomerBlock(index, lo, fields, np.asarray(arrivals[lo:hi], np.int64))


def shared_side(
    market: Market, config: RunConfig, customer: CustomerParams, business: BusinessParams
) -> SharedSide:
    """Build what every shard needs, computing the business-side precomputation once."""
    builders = dict(_SHARED_DERIVED)
    if customer.credulity:
        builders[_PERSUASION[0]] = _PERSUASION[1]
    derived_values = {key: derived(market, key, build) for key, build in builders.items()}
    if config.search in _SHARED_INDICES:
        key = f"search/{config.search}"
        SearchService(market, config.seed).index(config.search)
        derived_values[key] = derived(market, key, _missing)
    fields = {
        name: getattr(market, name)
        for name in market.__dataclass_fields__
        if name not in CUSTOMER_FIELDS
    }
    return SharedSide(
        fields=fields,
        derived=derived_values,
        customer=customer,
        business=business,
        search=config.search,
        limit=config.limit,
        seed=config.seed,
        context_tokens=config.context_tokens,
        total_customers=market.n_customers,
    )


def _missing(market: Market) -> Any:  # pragma: no cover - the index was just built
    raise RuntimeError("search index missing from the derived cache")


@dataclass
class Stopwatch:
    """Seconds spent in named spans: ``lap(name)`` ends one, ``stage(name)`` starts one."""

    marks: dict[str, float] = field(default_factory=dict)
    _t: float = field(default_factory=time.perf_counter)
    _open: str | None = None

    def lap(self, name: str) -> None:
        """Add the time since the last mark to ``name``."""
        now = time.perf_counter()
        self.marks[name] = self.marks.get(name, 0.0) + now - self._t
        self._t, self._open = now, None

    def stage(self, name: str) -> None:
        """End the open span (if any) and start ``name`` ("" starts none)."""
        if self._open:
            self.lap(self._open)
        else:
            self._t = time.perf_counter()
        self._open = name or None


def run_shard(shared: SharedSide, block: CustomerBlock) -> ShardOutput:
    """Run one block of customers against every business (on a worker).

    Args:
        shared: the business side and the run's parameters.
        block: the block's customers.

    Returns:
        The block's log with whole-market agent indices, and its cost.
    """
    started = time.perf_counter()
    stages = Stopwatch()
    market = Market(**shared.fields, **block.fields)
    for key, value in shared.derived.items():
        derived(market, key, _constant(value))
    stages.lap("setup")
    log = batch.run_batch(
        market,
        shared.customer,
        shared.business,
        search_algorithm=shared.search,
        limit=shared.limit,
        seed=shared.seed,
        search=_BlockSearch(market, shared.seed, block.first),
        arrivals=block.arrivals,
        context_tokens=shared.context_tokens,
        customer_offset=block.first,
        total_customers=shared.total_customers,
        progress=stages.stage,
    )
    stages.stage("baselines")
    base = baselines(market)  # per customer: the block's part of the whole market's
    stages.stage("globalize")
    log = globalize(log, block.first, shared.total_customers)
    stages.stage("text keys")
    keys = text_keys(log.texts)
    stages.stage("")
    return ShardOutput(
        index=block.index,
        log=log,
        seconds=time.perf_counter() - started,
        peak_rss_gb=peak_rss_gb(),
        pid=os.getpid(),
        stages=stages.marks,
        text_keys=keys,
        optimal_micro=base.optimal_micro,
        cheapest_micro=base.cheapest_micro,
    )


def _constant(value: Any) -> Callable[[Market], Any]:
    def build(_market: Market) -> Any:
        return value

    return build


def peak_rss_gb() -> float:
    """Peak resident memory of this process (VmHWM, GB); 0.0 where /proc is unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return 0.0
