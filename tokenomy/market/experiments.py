"""Sweeps over market designs and policies, with confidence intervals, and the paper's studies.

A :class:`SweepSpec` is a grid: data sets × search algorithms × consideration-set sizes ×
customer policies × business policies × seeds. :func:`run_sweep` runs every cell, keeps one row
of metrics per run (``runs.parquet``) and every customer's outcome (``customers.parquet``), and
aggregates over seeds with a Student-t 95% confidence interval of the mean.

The three studies of the Magentic Marketplace paper ship as presets (:data:`PRESETS`):

* ``consideration-set-size`` — welfare against the number of search results (lexical search);
* ``position-bias`` — on identical businesses, how often the first proposal to arrive is paid,
  against the 1/k a position-blind customer gives;
* ``manipulation`` — the share of payments captured by business_0001 when its description
  carries an authority claim, social proof, loss aversion or a prompt injection, against the
  clean control.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import stats

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.market.dataset import Market
from tokenomy.market.io import load_market
from tokenomy.market.metrics import outcomes_table
from tokenomy.market.runner import RunConfig, RunResult, run_market
from tokenomy.market.search import SearchService
from tokenomy.prices import Prices
from tokenomy.results import environment, write_result

METRICS = (
    "welfare",
    "optimal_welfare",
    "welfare_share_of_optimal",
    "token_aware_welfare",
    "purchase_rate",
    "needs_met_rate",
    "first_proposal_share",
    "first_proposal_chance",
    "first_proposal_n",
    "focal_share",
    "payments",
    "events",
    "tokens_customers_in",
    "token_cost_customers",
    "mean_decision_time_s",
)
CONDITION = ("data", "family", "variant", "search", "limit", "customer_policy", "business_policy")


class SweepSpec(BaseModel):
    """A grid of runs (every list is one axis; the sweep is their product)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="sweep", description="Label of the sweep")
    description: str = Field(default="", description="What the sweep studies")
    data: list[str] = Field(min_length=1, description="Data-set folders")
    search: list[str] = Field(default=["lexical"], min_length=1)
    limit: list[int] = Field(default=[10], min_length=1)
    customer_policy: list[str] = Field(default=["rational"], min_length=1)
    business_policy: list[str] = Field(default=["posted-price"], min_length=1)
    seeds: list[int] = Field(default=[0], min_length=1)
    customer_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per customer policy: parameter overrides"
    )
    business_params: dict[str, Any] = Field(
        default_factory=dict, description="Overrides applied to every business policy"
    )
    focal_business: str | None = Field(default=None, description="Business whose share counts")
    engine: str = Field(default="auto")

    @field_validator("limit")
    @classmethod
    def _limits(cls, v: list[int]) -> list[int]:
        if min(v) < 1:
            raise ValueError(f"limits must be >= 1, got {v}")
        return v

    def size(self) -> int:
        """Number of runs in the grid."""
        axes = (self.data, self.search, self.limit, self.customer_policy, self.business_policy)
        return math.prod(len(a) for a in axes) * len(self.seeds)


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0..4], ``"1,3,7"`` → [1, 3, 7], ``"5"`` → [5]."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(f"--seeds: cannot read '{part}'; use e.g. 0-9 or 1,2,5") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds: expected non-negative seeds, got '{text}'")
    return seeds


def data_label(folder: str) -> str:
    """``parent/name`` of a data folder (scenario sets repeat names across parents)."""
    path = Path(folder)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def family_and_variant(folder: str) -> tuple[str, str]:
    """Split a scenario folder name into (family, variant).

    ``mexican_prompt_injection_basic`` → (mexican, prompt_injection_basic);
    ``business_0001_first`` → (business_0001, first).
    """
    name = Path(folder).name
    for sep_family in ("mexican", "contractors", "restaurants", "business_0001"):
        if name.startswith(sep_family + "_"):
            return sep_family, name[len(sep_family) + 1 :]
    return name, ""


@dataclass
class SweepResult:
    """Rows per run, per customer, the aggregate, and the summary."""

    spec: SweepSpec
    runs: pd.DataFrame
    customers: pa.Table
    aggregate: pd.DataFrame
    summary: dict[str, Any]

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``runs.parquet``, ``customers.parquet``, ``aggregate.parquet``, summary."""
        tables = {
            "runs": pa.Table.from_pandas(self.runs, preserve_index=False),
            "customers": self.customers,
            "aggregate": pa.Table.from_pandas(self.aggregate, preserve_index=False),
        }
        return write_result(path, tables, self.summary, overwrite=overwrite)


def mean_ci(values: pd.Series, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and Student-t confidence interval of the mean (NaNs ignored)."""
    x = values.dropna().to_numpy(dtype=float)
    n = len(x)
    if n == 0:
        return (math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return (mean, math.nan, math.nan, 1)
    if np.all(x == x[0]):  # no spread (avoid a rounding-error interval)
        return (float(x[0]), float(x[0]), float(x[0]), n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return (mean, mean - half, mean + half, n)


BOUNDED_01 = {
    "purchase_rate",
    "needs_met_rate",
    "first_proposal_share",
    "first_proposal_chance",
    "focal_share",
}
"""Metrics that are shares: their confidence intervals are clipped to [0, 1]."""


def aggregate(runs: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, 95% CI and count of ``metrics`` per group of ``by`` (over seeds).

    The interval is Student's t on the per-run values; for shares it is clipped to [0, 1].
    """
    rows = []
    for key, group in runs.groupby(by, dropna=False, sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        for metric in metrics:
            if metric not in group:
                continue
            mean, lo, hi, n = mean_ci(pd.to_numeric(group[metric], errors="coerce"))
            if metric in BOUNDED_01 and n > 1:
                lo, hi = max(lo, 0.0), min(hi, 1.0)
            row[metric] = mean
            row[f"{metric}_ci_low"] = lo
            row[f"{metric}_ci_high"] = hi
            row[f"{metric}_n"] = n
        rows.append(row)
    return pd.DataFrame(rows)


CUSTOMER_COLUMNS = (
    "customer",
    "utility",
    "needs_met",
    "payments",
    "paid_first",
    "n_proposals",
    "paid_business",
    "token_cost",
)
"""The per-customer outcome columns a sweep keeps (``customers.parquet``, besides ``run``)."""


def run_cell(
    market: Market,
    config: RunConfig,
    *,
    prices: Prices | None = None,
    focal_business: str | None = None,
    run: Callable[[Market, RunConfig], RunResult] | None = None,
) -> tuple[dict[str, Any], pa.Table]:
    """Run one cell of a sweep: its metrics row and its per-customer table.

    Args:
        market: the data.
        config: the run's settings (its ``focal_business`` is replaced by ``focal_business``
            when that business is in the market, else by None).
        prices: prices for token-aware welfare.
        focal_business: the business whose payment share is reported; ``focal_share`` is None
            when it is None.
        run: how to run the market (default: :func:`run_market` with a fresh
            :class:`SearchService` for the seed); a caller with LLM agents passes its own.

    Returns:
        ``({metric: value for metric in METRICS}, table)`` where ``table`` holds
        :data:`CUSTOMER_COLUMNS`, one row per customer in market order, dictionary columns
        decoded to plain ones.
    """
    focal = focal_business if focal_business in market.business_index else None
    config = config.model_copy(update={"focal_business": focal})
    if run is None:
        result = run_market(
            market, config, prices=prices, search=SearchService(market, config.seed)
        )
    else:
        result = run(market, config)
    metrics = {m: result.summary["metrics"].get(m) for m in METRICS}
    if focal_business is None:
        metrics["focal_share"] = None
    table = outcomes_table(market, result.outcomes).select(list(CUSTOMER_COLUMNS))
    return metrics, _decoded(table)


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns cast to their value type."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols[name] = col
    return pa.table(cols)


def run_sweep(
    spec: SweepSpec,
    *,
    prices: Prices | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    markets: dict[str, Market] | None = None,
) -> SweepResult:
    """Run every cell of ``spec``.

    Args:
        spec: the grid.
        prices: prices for token-aware welfare.
        progress: callback ``(done, total, label)`` after each run.
        markets: already-loaded markets by data path (others are loaded from disk).
    """
    markets = dict(markets or {})
    for path in spec.data:
        if path not in markets:
            markets[path] = load_market(path)
    for policy in spec.customer_params:
        if policy not in spec.customer_policy:
            raise UnknownNameError(
                "customer policy in customer_params", policy, spec.customer_policy
            )
    rows: list[dict[str, Any]] = []
    outcome_tables: list[pa.Table] = []
    total = spec.size()
    done = 0
    grid = itertools.product(
        spec.data, spec.search, spec.limit, spec.customer_policy, spec.business_policy
    )
    for data, algo, limit, cpol, bpol in grid:
        market = markets[data]
        family, variant = family_and_variant(data)
        for seed in spec.seeds:
            config = RunConfig(
                search=algo,
                limit=limit,
                customer_policy=cpol,
                business_policy=bpol,
                customer_params=spec.customer_params.get(cpol, {}),
                business_params=spec.business_params,
                seed=seed,
                engine=spec.engine,
            )
            metrics, table = run_cell(
                market, config, prices=prices, focal_business=spec.focal_business
            )
            run_id = len(rows)
            cond = {
                "run": run_id,
                "data": data_label(data),
                "data_path": str(data),
                "family": family,
                "variant": variant,
                "search": algo,
                "limit": limit,
                "customer_policy": cpol,
                "business_policy": bpol,
                "seed": seed,
            }
            rows.append({**cond, **metrics})
            table = table.add_column(0, "run", pa.array(np.full(table.num_rows, run_id)))
            outcome_tables.append(table)
            done += 1
            if progress is not None:
                progress(done, total, f"{Path(data).name} {algo} k={limit} {cpol} seed={seed}")
    runs = pd.DataFrame(rows)
    customers = _concat_outcomes(outcome_tables)
    agg = aggregate(runs, [c for c in CONDITION if c in runs], list(METRICS))
    summary = {
        "kind": "sweep",
        "name": spec.name,
        "description": spec.description,
        "spec": spec.model_dump(),
        "runs": len(runs),
        "aggregate": agg.to_dict(orient="records"),
        "environment": environment(),
    }
    return SweepResult(spec, runs, customers, agg, summary)


def _concat_outcomes(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return pa.table({})
    return pa.concat_tables([_decoded(t) for t in tables])


# ---------------------------------------------------------------------------- presets

STUDY_LIMITS = [1, 2, 3, 5, 10, 20, 50]


def _subfolders(root: Path, pattern: str) -> list[str]:
    found = sorted(str(p) for p in root.glob(pattern) if (p / "customers").is_dir())
    if not found:
        raise ConfigError(f"no data sets match {root / pattern}")
    return found


def consideration_set_size(root: str | Path, seeds: list[int] | None = None) -> SweepSpec:
    """Welfare against the number of search results.

    ``root`` is a market folder (e.g. mexican_100_300), or a folder holding the Magentic sets,
    in which case ``root/mexican_100_300`` is used.
    """
    root = Path(root)
    data = root / "mexican_100_300" if (root / "mexican_100_300").is_dir() else root
    return SweepSpec(
        name="consideration-set-size",
        description="Welfare vs consideration-set size (lexical search) against the optimum.",
        data=[str(data)],
        search=["lexical"],
        limit=STUDY_LIMITS,
        customer_policy=["rational", "first-proposal", "bounded"],
        seeds=seeds or [0, 1, 2, 3, 4],
        business_params={"jitter_ms": 1500},
    )


def position_bias(root: str | Path, seeds: list[int] | None = None) -> SweepSpec:
    """First-proposal share on identical businesses (``root/position_bias/*`` or ``root/*``)."""
    root = Path(root)
    base = root / "position_bias" if (root / "position_bias").is_dir() else root
    return SweepSpec(
        name="position-bias",
        description="Share of payments to the first proposal to arrive, against 1/k.",
        data=_subfolders(base, "*"),
        search=["lexical"],
        limit=[10],
        customer_policy=["rational", "first-proposal", "bounded"],
        seeds=seeds or list(range(40)),
        customer_params={"bounded": {"contacts": 3}},
    )


def manipulation(root: str | Path, seeds: list[int] | None = None) -> SweepSpec:
    """Share captured by business_0001 under manipulative descriptions vs the control.

    Data: ``root/malicious_description/*`` and ``root/competitive_description/*``.
    """
    root = Path(root)
    data = []
    for sub in ("malicious_description", "competitive_description"):
        if (root / sub).is_dir():
            data += _subfolders(root / sub, "*")
    if not data:
        data = _subfolders(root, "*/*")
    return SweepSpec(
        name="manipulation",
        description="Payments captured by business_0001 with manipulative descriptions.",
        data=data,
        search=["lexical"],
        limit=[10],
        customer_policy=["rational", "bounded"],
        seeds=seeds or list(range(40)),
        customer_params={"bounded": {"credulity": 0.5, "noise": 0.05, "first_bias": 0.0}},
        focal_business="business_0001",
    )


PRESETS: dict[str, Callable[..., SweepSpec]] = {
    "consideration-set-size": consideration_set_size,
    "position-bias": position_bias,
    "manipulation": manipulation,
}


def preset(name: str, root: str | Path, seeds: list[int] | None = None) -> SweepSpec:
    """The named study's sweep over data under ``root``."""
    if name not in PRESETS:
        raise UnknownNameError("study preset", name, PRESETS)
    return PRESETS[name](root, seeds)
