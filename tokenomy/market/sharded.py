"""One large market run as customer shards on several workers, with the single run's result.

>>> from tokenomy.market.sharded import run_sharded
>>> result = run_sharded(market, RunConfig(search="optimal"), shards=4, executor="process")
...                                                                     # doctest: +SKIP

The customers are split into ``shards`` contiguous blocks; each block runs the batch engine
(:mod:`tokenomy.market.batch`) against every business, on a worker; the blocks' logs are merged
into one log (:mod:`tokenomy.market.shard_merge`) and the metrics are computed from it exactly
as :func:`~tokenomy.market.runner.run_market` computes them. The result is the single run's,
table for table, for any number of shards and any executor.

**Why that holds.** With scripted policies a customer's episode depends only on the businesses
it contacts, and a scripted business answers each inquiry on its own, from its menu — it keeps
no stock, capacity or memory of other customers. What is otherwise shared across customers is
made to agree:

* random draws (reply jitter, valuation noise, first-offer bias, tie-breaks, ``random`` search
  order) are keyed by the whole market's agent indices, not the block's
  (:func:`~tokenomy.market.batch.run_batch`'s ``customer_offset``/``total_customers``, and
  a search service that offsets the ``random`` keys);
* arrival times are drawn once for the whole market and sliced;
* message ids, and the text and note vocabularies, are renumbered by the merge in canonical
  order; the canonical (time, phase, agent, target) order itself is restored by one stable
  sort, and no two blocks can tie (every event names its customer);
* the ``optimal`` and ``filtered`` searches read each customer's own carriers, which a block
  computes for its own customers; the others depend on the businesses only.

**What cannot be sharded** (a :class:`~tokenomy.errors.ConfigError` says why): LLM or other
population policies (their calls, recordings and budgets are not per-customer pure functions),
the event engine on purpose, runs over the market service (a database or HTTP: one ledger
and one journal), and contracts (their log is per run).

**Where the work goes.** The business side and what is computed from it alone — the search
index (``lexical``, ``bm25``, ``rating``), search-result line lengths, persuasion scores (when
customers are credulous) — is built once, on the driver, and sent once: put in Ray's object
store (``ray.put``) and passed by reference to every shard task, or handed to each worker
process once by the pool's initializer. Everything per customer — search, rendering the
inquiry and reply texts (the largest cost of a big run), decisions, sorting the block's events,
the welfare baselines, fingerprints of the texts for the merge — runs in the shards
(:mod:`tokenomy.market.shard_task`). The driver merges (array work,
:mod:`tokenomy.market.shard_merge`) and computes the per-customer outcomes and the metrics.

Executors: ``local`` (blocks one after another in this process: less memory, and the merge on
its own), ``process`` (a spawned process pool on this machine), ``ray`` (a local Ray instance,
or a cluster by ``address``; see :mod:`tokenomy.ray_support`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.market.dataset import Market
from tokenomy.market.metrics import Baselines, customer_outcomes, summarize
from tokenomy.market.runner import RunConfig, RunResult, arrival_times, run_market, run_summary
from tokenomy.market.search import ALGORITHMS
from tokenomy.market.shard_merge import merge_logs
from tokenomy.market.shard_task import (
    CustomerBlock,
    ShardOutput,
    SharedSide,
    Stopwatch,
    customer_block,
    peak_rss_gb,
    run_shard,
    shard_bounds,
    shared_side,
)
from tokenomy.prices import Prices

IntArray = NDArray[np.int64]
Progress = Callable[[str], None]

EXECUTORS = ("local", "process", "ray")
"""Where shards run."""


# ---------------------------------------------------------------------- executors
def _run_local(shared: SharedSide, blocks: list[CustomerBlock]) -> Iterator[ShardOutput]:
    for block in blocks:
        yield run_shard(shared, block)


_WORKER_SHARED: SharedSide | None = None


def _init_worker(shared: SharedSide) -> None:
    """Process-pool initializer: keep the shared side for every task of this worker."""
    global _WORKER_SHARED
    _WORKER_SHARED = shared


def _worker_task(block: CustomerBlock) -> ShardOutput:
    if _WORKER_SHARED is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("shard worker started without the shared side")
    return run_shard(_WORKER_SHARED, block)


def _run_process(
    shared: SharedSide, blocks: list[CustomerBlock], workers: int
) -> Iterator[ShardOutput]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(shared,)
    ) as pool:
        futures = [pool.submit(_worker_task, block) for block in blocks]
        for future in as_completed(futures):
            yield future.result()


def _run_ray(ray: Any, shared: SharedSide, blocks: list[CustomerBlock]) -> Iterator[ShardOutput]:
    """Shard tasks on Ray, outputs as they finish.

    The outputs' arrays are views of Ray's object store (zero-copy), so the caller keeps the
    session open until it has merged them.
    """
    task: Any = ray.remote(num_cpus=1, max_retries=1)(run_shard)
    shared_ref = ray.put(shared)  # once: every task gets the same object
    pending = [task.remote(shared_ref, block) for block in blocks]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(done)
    finally:
        for ref in pending:
            ray.cancel(ref)


# ---------------------------------------------------------------------- the run
def run_sharded(
    market: Market,
    config: RunConfig | None = None,
    *,
    shards: int,
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    prices: Prices | None = None,
    progress: Progress | None = None,
    data_label: str | None = None,
) -> RunResult:
    """Run ``market`` as ``shards`` customer blocks on workers; the result equals one run's.

    Args:
        market: the data.
        config: the run's settings (scripted policies; engine ``auto`` or ``batch``).
        shards: number of customer blocks (at most one per customer).
        executor: ``local`` (one block after another here), ``process`` (a spawned process
            pool) or ``ray`` (a local Ray instance, or the cluster at ``address``).
        address: Ray cluster address (``ray`` only; None starts a local instance).
        workers: worker processes (``process``: default min(shards, CPUs)); CPUs of a local
            Ray instance (``ray``: default all). Ignored by ``local``.
        prices: token prices and λ (default: the packaged price table).
        progress: optional callback told each stage (``shard 2/4``, ``merge``, ``metrics``).
        data_label: how the data is described in the summary (default: the market's source).

    Returns:
        The same :class:`RunResult` as :func:`run_market` (identical tables and metrics); the
        summary adds a ``sharding`` block and the shards' timings.

    Raises:
        ConfigError: for settings that sharding cannot reproduce, an unknown executor, an
            address without Ray, or Ray missing.
    """
    config = config or RunConfig()
    prices = prices or Prices()
    if executor not in EXECUTORS:
        raise UnknownNameError("executor", executor, EXECUTORS)
    if address is not None and executor != "ray":
        raise ConfigError(f"--address is for --executor ray, not '{executor}'")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    _check_config(market, config, prices)
    cp, bp = config.policies()
    say = progress or (lambda _stage: None)
    clock = Stopwatch()

    say("preparing shards")
    bounds = shard_bounds(market.n_customers, shards)
    arrivals = arrival_times(market.n_customers, config.arrival_window_ms, config.seed)
    shared = shared_side(market, config, cp, bp)
    blocks = [customer_block(market, i, lo, hi, arrivals) for i, (lo, hi) in enumerate(bounds)]
    clock.lap("prepare_seconds")

    n_workers = workers
    with contextlib.ExitStack() as session:
        if executor == "process":
            n_workers = min(len(blocks), workers or os.cpu_count() or 1)
            stream = _run_process(shared, blocks, n_workers)
        elif executor == "ray":
            from tokenomy.ray_support import ray_session

            ray = session.enter_context(ray_session(address, num_cpus=workers))
            stream = _run_ray(ray, shared, blocks)
        else:
            n_workers = 1
            stream = _run_local(shared, blocks)
        finished = _collect(stream, len(blocks), say)
        clock.lap("shards_seconds")

        say("merge")  # inside the session: Ray's outputs are views of its object store
        log = merge_logs([o.log for o in finished], [o.text_keys for o in finished])
        base = _baselines(finished)
        shard_stats = [
            {
                "customers": b.n_customers,
                "seconds": o.seconds,
                "peak_rss_gb": o.peak_rss_gb,
                "pid": o.pid,
                "stages": o.stages,
            }
            for b, o in zip(blocks, finished, strict=True)
        ]
        del finished  # before the session ends
        clock.lap("merge_seconds")
    clock.lap("close_seconds")  # stopping the pool or the Ray instance started here

    say("metrics")
    out = customer_outcomes(
        market, log, prices, config.customer_model, config.business_model, arrivals, None
    )
    metrics = summarize(market, log, out, base, config.focal_business)
    clock.lap("metrics_seconds")
    elapsed = sum(clock.marks.values())
    sharding = {
        "shards": len(blocks),
        "requested_shards": shards,
        "executor": executor,
        "address": address,
        "workers": n_workers,
        "blocks": [list(b) for b in bounds],
    }
    summary = run_summary(
        market,
        config,
        prices,
        "batch",
        metrics,
        log,
        elapsed,
        {"transport": "memory", "db": None, "sharding": sharding},
        data_label=data_label,
        timing={**clock.marks, "shards": shard_stats, "driver_peak_rss_gb": peak_rss_gb()},
    )
    return RunResult(market, config, log, out, base, summary)


def _collect(stream: Iterator[ShardOutput], n: int, say: Progress) -> list[ShardOutput]:
    """The shards' outputs in block order (they arrive in any order)."""
    outputs: list[ShardOutput | None] = [None] * n
    for done, output in enumerate(stream, start=1):
        outputs[output.index] = output
        say(f"shard {done}/{n}")
    return [o for o in outputs if o is not None]


def _baselines(outputs: Sequence[ShardOutput]) -> Baselines:
    """The whole market's baselines from its blocks' per-customer parts (integer sums: exact)."""
    best = np.concatenate([o.optimal_micro for o in outputs])
    cheapest = np.concatenate([o.cheapest_micro for o in outputs])
    return Baselines(
        optimal=float(best.sum()) / 1e6,
        pick_cheapest=float(cheapest.sum()) / 1e6,
        optimal_micro=best,
        cheapest_micro=cheapest,
    )


def _check_config(market: Market, config: RunConfig, prices: Prices) -> None:
    """The checks :func:`run_market` makes, plus what sharding cannot reproduce."""
    if config.engine == "event":
        raise ConfigError(
            "engine 'event' cannot be sharded: shards run the batch engine (its log is the "
            "event engine's, byte for byte); use engine 'auto' or 'batch'"
        )
    if config.search not in ALGORITHMS:
        raise UnknownNameError("search algorithm", config.search, ALGORITHMS)
    for model in (config.customer_model, config.business_model):
        prices.table[model]  # raises UnknownNameError with a suggestion
    if config.focal_business is not None and config.focal_business not in market.business_index:
        raise ConfigError(f"focal_business '{config.focal_business}' is not in the market")


def check_shardable(
    *,
    transport: str = "inprocess",
    db_url: str | None = None,
    population: Any = None,
    contract: Any = None,
) -> None:
    """Raise :class:`ConfigError` for run options a sharded run cannot reproduce.

    Args:
        transport: ``inprocess`` only (``http`` runs every agent against one server).
        db_url: must be None (a database holds one ledger and one journal for the market).
        population: must be None (LLM agents' calls, recordings and budgets are not a pure
            function of one customer's block).
        contract: must be None (a contract's log and limits span the whole run).
    """
    why = None
    if transport != "inprocess":
        why = f"--transport {transport}: every agent talks to one market server"
    elif db_url is not None:
        why = "--db: the market service keeps one ledger and one journal for the whole market"
    elif population is not None:
        why = (
            "--agents (a population): LLM or per-agent policies make model calls whose "
            "recording, budgets and concurrency span the whole market"
        )
    elif contract is not None:
        why = "--contract: a contract's log and limits span the whole run"
    if why is not None:
        raise ConfigError(
            f"cannot shard this run ({why}); sharding reproduces scripted in-memory runs only: "
            "drop --shards/--executor or the option"
        )


def run_market_or_sharded(
    market: Market,
    config: RunConfig | None = None,
    *,
    shards: int = 1,
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    prices: Prices | None = None,
    progress: Progress | None = None,
    data_label: str | None = None,
    **run_market_options: Any,
) -> RunResult:
    """What ``tokenomy market run --shards N --executor E --address A`` calls.

    With one shard on the ``local`` executor (the defaults) this is :func:`run_market` with
    every option it takes; otherwise the run is sharded (:func:`run_sharded`) after checking
    that none of ``run_market_options`` (transport, db_url, population, contract, ...) asks
    for something sharding cannot reproduce.

    Args:
        market: the data.
        config: the run's settings.
        shards: customer blocks (``--shards``).
        executor: ``local``, ``process`` or ``ray`` (``--executor``).
        address: Ray cluster address (``--address``).
        workers: worker processes / CPUs of a local Ray instance.
        prices: token prices.
        progress: callback told each stage.
        data_label: how the data is described in the summary.
        **run_market_options: the other keyword arguments of :func:`run_market`.
    """
    if shards == 1 and executor == "local" and address is None:
        return run_market(
            market,
            config,
            prices=prices,
            progress=progress,
            data_label=data_label,
            **run_market_options,
        )
    options = dict(run_market_options)
    check_shardable(
        transport=options.pop("transport", "inprocess"),
        db_url=options.pop("db_url", None),
        population=options.pop("population", None),
        contract=options.pop("contract", None),
    )
    for ignorable in ("population_dir", "funding", "contract_agents", "search"):
        options.pop(ignorable, None)  # meaningful only with the options refused above
    if options:
        raise ConfigError(f"run options not supported with --shards: {', '.join(sorted(options))}")
    return run_sharded(
        market,
        config,
        shards=shards,
        executor=executor,
        address=address,
        workers=workers,
        prices=prices,
        progress=progress,
        data_label=data_label,
    )
