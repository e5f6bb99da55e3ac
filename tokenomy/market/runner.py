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
from tokenomy.market.service import call_cost_micro
from tokenomy.market.transport import MemoryTransport
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
    extra_tables: dict[str, pa.Table] = field(default_factory=dict, repr=False)
    _tables: dict[str, pa.Table] | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pa.Table]:
        """All tables of the run folder (built on first call)."""
        if self._tables is None:
            tables = self.log.tables(self.market)
            tables["customers"] = outcomes_table(self.market, self.outcomes)
            tables.update(self.extra_tables)
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
            tables.update(self.extra_tables)
        return write_result(path, tables, self.summary, overwrite=overwrite)


def arrival_times(n: int, window_ms: int, seed: int) -> np.ndarray:
    """Customer start times: all 0, or uniform in ``[0, window_ms)`` keyed by seed."""
    if window_ms <= 0:
        return np.zeros(n, np.int64)
    return (uniform(seed, "customer/arrival", np.arange(n)) * window_ms).astype(np.int64)


def memory_metered(
    market: Market, memory: MemoryTransport, prices: Prices, config: RunConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-agent usage tallied by an in-memory run, costed like the service would charge it."""
    n = market.n_customers + market.n_businesses
    tin, tout = np.zeros(n, np.int64), np.zeros(n, np.int64)
    cost, calls = np.zeros(n, np.float64), np.zeros(n, np.int64)
    for g, made in memory.calls.items():
        side = config.customer_model if g < market.n_customers else config.business_model
        tin[g] = sum(c[1] for c in made)
        tout[g] = sum(c[2] for c in made)
        calls[g] = len(made)
        cost[g] = sum(call_cost_micro(prices, m, side, a, b) for m, a, b in made) / 1e6
    return tin, tout, cost, calls


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
    transport: str = "inprocess",
    db_url: str | None = None,
    population: Any = None,
    population_dir: Path | None = None,
    funding: Any = None,
    contract: Any = None,
    contract_agents: str = "customer_*",
    models: dict[str, Any] | None = None,
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
        transport: ``inprocess`` (agents call the market in this process) or ``http`` (every
            agent is an authenticated client of the protocol server, started on a loopback
            port for the run; needs ``db_url``).
        db_url: the market service's database (market journal + ledger). With it, payments go
            through the ledger and model calls are charged; without it (and ``inprocess``) the
            market runs in memory.
        population: a :class:`~tokenomy.market.population.PopulationSpec` assigning LLM or
            scripted policies per agent (default: everyone scripted by ``config``).
        population_dir: folder that relative paths in ``population`` are relative to.
        funding: :class:`~tokenomy.market.service.Funding` of the service's accounts.
        contract: a :class:`~tokenomy.principal.contracts.Contract` checked before every
            action of the agents whose id matches ``contract_agents`` (a glob); its log becomes
            the run's ``contracts`` table and the summary's ``contracts`` block.
        contract_agents: which agents the contract binds.
        models: the population's chat models, already built, by backend name (e.g. wrapped
            in a concurrency limit); they are left open for the caller. Default: built from
            ``population`` here and closed after the run.
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
    if transport not in ("inprocess", "http"):
        raise ConfigError(f"transport must be 'inprocess' or 'http', got '{transport}'")
    if transport == "http" and db_url is None:
        raise ConfigError("the http transport needs a database (db_url)")
    owned: dict[str, Any]  # chat models built here, closed after the run
    if population is not None:
        from tokenomy.market.population import population_factories

        make_customer, make_business, built = population_factories(
            population,
            customer_params=cp,
            business_params=bp,
            seed=config.seed,
            base_dir=population_dir or Path.cwd(),
            models=models,
        )
        owned = {} if models is not None else built
    else:
        owned = {}
        make_customer, make_business = scripted_factories(cp, bp)
    contract_log = None
    if contract is not None:
        from tokenomy.principal.contract_enforcement import (
            ContractLog,
            contract_for_agents,
            contracted_factories,
        )

        contract_log = ContractLog()
        make_customer, make_business = contracted_factories(
            make_customer,
            make_business,
            contract_for_agents(contract, contract_agents),
            contract_log,
        )
    try:
        result = _run(
            market,
            config,
            prices,
            service,
            arrivals,
            make_customer,
            make_business,
            population is not None or contract is not None,
            transport,
            db_url,
            funding,
            progress,
            data_label,
        )
        if contract_log is not None:
            result.summary["contracts"] = {
                "contract": contract.name,
                "agents": contract_agents,
                **contract_log.summary(),
            }
            result.extra_tables["contracts"] = contract_log.to_table()
        return result
    finally:
        from tokenomy.llm import close_model

        for chat in owned.values():
            close_model(chat)


def _run(
    market: Market,
    config: RunConfig,
    prices: Prices,
    service: SearchService,
    arrivals: np.ndarray,
    make_customer: PolicyFactory,
    make_business: PolicyFactory,
    has_population: bool,
    transport: str,
    db_url: str | None,
    funding: Any,
    progress: Callable[[str], None] | None,
    data_label: str | None,
) -> RunResult:
    cp, bp = config.policies()
    started = time.perf_counter()
    engine = "event" if config.engine == "event" or has_population else "batch"
    service_run = None
    metered = None
    if db_url is not None:
        from tokenomy.market.session_run import run_over_service

        engine = "event"
        service_run = run_over_service(
            market,
            make_customer,
            make_business,
            transport=transport,  # type: ignore[arg-type]
            db_url=db_url,
            search_algorithm=config.search,
            limit=config.limit,
            seed=config.seed,
            search=service,
            arrivals=arrivals,
            context_tokens=config.context_tokens,
            prices=prices,
            customer_model=config.customer_model,
            business_model=config.business_model,
            funding=funding,
            settings={"config": config.model_dump(mode="json")},
            progress=progress,
        )
        log = service_run.log
        metered = service_run.metered
    elif engine == "batch":
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
        event_engine = EventEngine(
            market,
            make_customer,
            make_business,
            search_algorithm=config.search,
            limit=config.limit,
            seed=config.seed,
            arrivals=arrivals,
            context_tokens=config.context_tokens,
            search=service,
        )
        log = event_engine.run()
        memory = event_engine.transport
        if isinstance(memory, MemoryTransport) and memory.calls:
            metered = memory_metered(market, memory, prices, config)
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress("metrics")
    base = baselines(market)
    out = customer_outcomes(
        market, log, prices, config.customer_model, config.business_model, arrivals, metered
    )
    metrics = summarize(market, log, out, base, config.focal_business)
    extra: dict[str, Any] = {"transport": transport if db_url else "memory", "db": None}
    if metered is not None:
        extra["llm"] = {
            "calls": int(metered[3].sum()),
            "agents": int((metered[3] > 0).sum()),
            "input_tokens": int(metered[0].sum()),
            "output_tokens": int(metered[1].sum()),
            "cost": float(metered[2].sum()),
        }
    if service_run is not None:
        _, pay_b = log.payment_parties()
        from_log = np.bincount(pay_b, weights=log.pay_amount, minlength=market.n_businesses).astype(
            np.int64
        )
        extra["db"] = service_run.db
        extra["ledger"] = {
            **service_run.finish,
            "receipts_match_payments": bool(np.array_equal(from_log, service_run.receipts_micro)),
            "http_requests": service_run.requests,
        }
    summary = run_summary(
        market, config, prices, engine, metrics, log, elapsed, extra, data_label=data_label
    )
    return RunResult(market, config, log, out, base, summary)


def run_summary(
    market: Market,
    config: RunConfig,
    prices: Prices,
    engine: str,
    metrics: dict[str, Any],
    log: RunLog,
    elapsed: float,
    extra: dict[str, Any],
    *,
    data_label: str | None = None,
    timing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` of a run: what ran, on what, with which prices, and its metrics.

    Args:
        market: the data.
        config: the run's settings.
        prices: the prices in force.
        engine: which engine produced the log (``batch`` or ``event``).
        metrics: the run's metrics.
        log: the run's log.
        elapsed: seconds the run took.
        extra: entries placed after the metrics (transport, database, ledger, sharding, ...).
        data_label: how the data is described (default: the market's source or name).
        timing: entries added to the ``timing`` block.
    """
    cp, bp = config.policies()
    return {
        "kind": "run",
        "data": data_label or market.source or market.name,
        "market": market.name,
        "config": config.model_dump(),
        "policies": {"customer": cp.model_dump(), "business": bp.model_dump()},
        "engine": engine,
        "prices": {"value": prices.value, "latency": prices.latency, "risk": prices.risk},
        "metrics": metrics,
        **extra,
        "timing": {
            "engine_seconds": elapsed,
            "events_per_second": log.n_events / elapsed if elapsed > 0 else None,
            **(timing or {}),
        },
        "environment": environment(),
    }
