"""Run a market: configuration in, log + metrics + tables out.

>>> from tokenomy.market import RunConfig, load_market, run_market   # doctest: +SKIP
>>> market = load_market("data/mexican_100_300")                      # doctest: +SKIP
>>> result = run_market(market, RunConfig(search="lexical", limit=5)) # doctest: +SKIP
>>> result.summary["welfare"], result.summary["optimal_welfare"]      # doctest: +SKIP
>>> result.save("runs/lexical-5")                                     # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from tokenomy.errors import ConfigError
from tokenomy.market.batch import run_batch
from tokenomy.market.dataset import Market
from tokenomy.market.engine import EventEngine
from tokenomy.market.metrics import (
    Baselines,
    Outcomes,
    baselines,
    customer_outcomes,
    outcomes_table,
    summarize,
)
from tokenomy.market.policies.interface import AgentContext, PolicyFactory
from tokenomy.market.policies.params import (
    BusinessParams,
    CustomerParams,
    business_params,
    customer_params,
)
from tokenomy.market.policies.scripted import ScriptedBusiness, ScriptedCustomer
from tokenomy.market.runlog import RunLog
from tokenomy.market.search import ALGORITHMS, SearchService
from tokenomy.prices import Prices
from tokenomy.results import environment, write_result
from tokenomy.rng import uniform


class RunConfig(BaseModel):
    """Everything that defines a run besides the data (all of it is recorded in the summary)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    search: str = Field(default="lexical", description="Search algorithm customers use")
    limit: int = Field(default=10, ge=1, description="Consideration-set size (results per page)")
    customer_policy: str = Field(default="rational", description="Customer policy preset")
    business_policy: str = Field(default="posted-price", description="Business policy preset")
    customer_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the customer preset's parameters"
    )
    business_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the business preset's parameters"
    )
    seed: int = Field(default=0, ge=0, description="Seed of every random draw")
    engine: Literal["auto", "batch", "event"] = Field(
        default="auto", description="auto: batch for scripted policies"
    )
    customer_model: str = Field(
        default="llama-3.1-8b-instruct", description="Model whose prices customers' tokens cost"
    )
    business_model: str = Field(
        default="llama-3.1-8b-instruct", description="Model whose prices businesses' tokens cost"
    )
    context_tokens: int = Field(
        default=0, ge=0, description="Input tokens charged per action (prompt re-reading)"
    )
    arrival_window_ms: int = Field(
        default=0, ge=0, description="Customers arrive uniformly at random in [0, window)"
    )
    focal_business: str | None = Field(
        default=None, description="Business whose payment share is reported (manipulation)"
    )

    def policies(self) -> tuple[CustomerParams, BusinessParams]:
        """Validated policy parameters."""
        return (
            customer_params(self.customer_policy, self.customer_params),
            business_params(self.business_policy, self.business_params),
        )


@dataclass
class RunResult:
    """The outcome of :func:`run_market`."""

    market: Market
    config: RunConfig
    log: RunLog
    outcomes: Outcomes
    baselines: Baselines
    summary: dict[str, Any]
    _tables: dict[str, pa.Table] | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pa.Table]:
        """All tables of the run folder (built on first call)."""
        if self._tables is None:
            tables = self.log.tables(self.market)
            tables["customers"] = outcomes_table(self.market, self.outcomes)
            self._tables = tables
        return self._tables

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the run folder (Parquet tables + summary.json), atomically.

        Tables not built yet are built and written one at a time (less memory).
        """
        tables: dict[str, pa.Table | Callable[[], pa.Table]]
        if self._tables is not None:
            tables = dict(self._tables)
        else:
            tables = dict(self.log.table_builders(self.market))
            tables["customers"] = lambda: outcomes_table(self.market, self.outcomes)
        return write_result(path, tables, self.summary, overwrite=overwrite)


def arrival_times(n: int, window_ms: int, seed: int) -> np.ndarray:
    """Customer start times: all 0, or uniform in ``[0, window_ms)`` keyed by seed."""
    if window_ms <= 0:
        return np.zeros(n, np.int64)
    return (uniform(seed, "customer/arrival", np.arange(n)) * window_ms).astype(np.int64)


def scripted_factories(
    cp: CustomerParams, bp: BusinessParams
) -> tuple[PolicyFactory, PolicyFactory]:
    """Policy factories of the scripted agents (for the event engine)."""

    def make_customer(ctx: AgentContext) -> ScriptedCustomer:
        return ScriptedCustomer(ctx, cp)

    def make_business(ctx: AgentContext) -> ScriptedBusiness:
        return ScriptedBusiness(ctx, bp)

    return make_customer, make_business


def run_market(
    market: Market,
    config: RunConfig | None = None,
    *,
    prices: Prices | None = None,
    search: SearchService | None = None,
    progress: Callable[[str], None] | None = None,
    data_label: str | None = None,
) -> RunResult:
    """Run ``market`` under ``config`` and compute its metrics.

    Args:
        market: the data (see :func:`tokenomy.market.load_market`).
        config: the run's settings (defaults: lexical search, limit 10, rational customers,
            posted-price businesses, seed 0).
        prices: token prices and λ for token-aware welfare (default: packaged price table).
        search: a search service to reuse across runs (indices are cached per market anyway).
        progress: optional callback told the name of each stage.
        data_label: how the data is described in the summary (default: the market's source).
    """
    config = config or RunConfig()
    prices = prices or Prices()
    if config.search not in ALGORITHMS:
        from tokenomy.errors import UnknownNameError

        raise UnknownNameError("search algorithm", config.search, ALGORITHMS)
    for model in (config.customer_model, config.business_model):
        prices.table[model]  # raises UnknownNameError with a suggestion
    if config.focal_business is not None and config.focal_business not in market.business_index:
        raise ConfigError(f"focal_business '{config.focal_business}' is not in the market")
    cp, bp = config.policies()
    service = search or SearchService(market, config.seed)
    if service.seed != config.seed:
        service = SearchService(market, config.seed)
    arrivals = arrival_times(market.n_customers, config.arrival_window_ms, config.seed)
    started = time.perf_counter()
    engine = "event" if config.engine == "event" else "batch"
    if engine == "batch":
        log = run_batch(
            market,
            cp,
            bp,
            search_algorithm=config.search,
            limit=config.limit,
            seed=config.seed,
            search=service,
            arrivals=arrivals,
            context_tokens=config.context_tokens,
            progress=progress,
        )
    else:
        make_customer, make_business = scripted_factories(cp, bp)
        log = EventEngine(
            market,
            make_customer,
            make_business,
            search_algorithm=config.search,
            limit=config.limit,
            seed=config.seed,
            arrivals=arrivals,
            context_tokens=config.context_tokens,
            search=service,
        ).run()
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress("metrics")
    base = baselines(market)
    out = customer_outcomes(
        market, log, prices, config.customer_model, config.business_model, arrivals
    )
    metrics = summarize(market, log, out, base, config.focal_business)
    summary = {
        "kind": "run",
        "data": data_label or market.source or market.name,
        "market": market.name,
        "config": config.model_dump(),
        "policies": {"customer": cp.model_dump(), "business": bp.model_dump()},
        "engine": engine,
        "prices": {"value": prices.value, "latency": prices.latency, "risk": prices.risk},
        "metrics": metrics,
        "timing": {
            "engine_seconds": elapsed,
            "events_per_second": log.n_events / elapsed if elapsed > 0 else None,
        },
        "environment": environment(),
    }
    return RunResult(market, config, log, out, base, summary)
