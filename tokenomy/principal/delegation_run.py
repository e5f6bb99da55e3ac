"""Run delegated shopping per information condition against the aligned control.

For every seed: one run of the **aligned control** (the delegate with ``bias = 0``) and one run
per information condition of the conflicted delegate, on the same market, search seed and
platform terms. Per run and condition:

* **utility loss** = control's mean user utility per customer − the condition's (dollars);
* **override rate** = share of paying customers who paid a proposal other than the one their
  own valuation prefers among those received;
* **sponsored share** = share of payments made to sponsored businesses;
* **platform gain** = the platform's earnings (fees + commissions) per customer (dollars).

Each is averaged over seeds with a 95% Student-t interval. The control row compares a second,
independent run of the control with the first: its loss is exactly 0 (the run is a pure
function of the seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.llm import ChatModel
from tokenomy.market.dataset import Market
from tokenomy.market.engine import EventEngine
from tokenomy.market.metrics import customer_outcomes
from tokenomy.market.policies.interface import AgentContext, AgentPolicy
from tokenomy.market.policies.params import BusinessParams
from tokenomy.market.policies.scripted import ScriptedBusiness
from tokenomy.market.search import ALGORITHMS, SearchService
from tokenomy.prices import Prices
from tokenomy.principal.delegation import (
    Condition,
    Decision,
    DelegateCustomer,
    DelegationSpec,
    LLMDelegateCustomer,
    PlatformTerms,
    platform_terms,
)

CONTROL = "aligned"


@dataclass(frozen=True)
class RunStats:
    """One run's headline numbers (money in dollars, per customer)."""

    mean_utility: float
    override_rate: float
    sponsored_share: float
    platform_gain: float
    payments: int
    decisions: tuple[Decision, ...] = field(repr=False)


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t ``level`` interval of ``values`` (degenerate for one value)."""
    x = np.asarray(values, np.float64)
    m = float(x.mean())
    if len(x) < 2:
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def run_once(
    market: Market,
    spec: DelegationSpec,
    condition: Condition,
    seed: int,
    terms: PlatformTerms,
    *,
    search: SearchService | None = None,
    chat: ChatModel | None = None,
) -> RunStats:
    """Run the market once with every customer delegated under ``condition``."""
    decisions: list[Decision] = []
    bp = BusinessParams()

    def make_customer(ctx: AgentContext) -> AgentPolicy:
        if chat is None:
            return DelegateCustomer(ctx, spec, condition, terms, market, decisions)
        return LLMDelegateCustomer(ctx, spec, condition, terms, market, decisions, chat, seed)

    def make_business(ctx: AgentContext) -> AgentPolicy:
        return ScriptedBusiness(ctx, bp)

    engine = EventEngine(
        market,
        make_customer,
        make_business,
        search_algorithm=spec.search,
        limit=spec.limit,
        seed=seed,
        search=search or SearchService(market, seed),
    )
    log = engine.run()
    prices = Prices()
    model = "llama-3.1-8b-instruct"
    out = customer_outcomes(market, log, prices, model, model)
    _, pay_b = log.payment_parties()
    amounts = np.asarray(log.pay_amount, np.int64)
    gain = terms.gain_micro(np.asarray(pay_b, np.int64), amounts)
    paying = [d for d in decisions if d.chosen is not None]
    n_c = max(market.n_customers, 1)
    return RunStats(
        mean_utility=float(out.utility.sum()) / 1e6 / n_c,
        override_rate=float(np.mean([d.override for d in paying])) if paying else 0.0,
        sponsored_share=float(np.mean(terms.sponsored[pay_b])) if len(pay_b) else 0.0,
        platform_gain=float(gain.sum()) / 1e6 / n_c,
        payments=len(pay_b),
        decisions=tuple(decisions),
    )


@dataclass(frozen=True)
class ConditionRow:
    """One row of the result table: a condition's numbers over seeds (95% CIs)."""

    condition: str
    weight: float
    utility_loss: float
    loss_ci: tuple[float, float]
    override_rate: float
    override_ci: tuple[float, float]
    sponsored_share: float
    platform_gain: float
    gain_ci: tuple[float, float]
    losses: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (per-seed losses included)."""
        return {
            "condition": self.condition,
            "weight": self.weight,
            "utility_loss": self.utility_loss,
            "loss_ci": list(self.loss_ci),
            "override_rate": self.override_rate,
            "override_ci": list(self.override_ci),
            "sponsored_share": self.sponsored_share,
            "platform_gain": self.platform_gain,
            "gain_ci": list(self.gain_ci),
            "losses": list(self.losses),
        }


@dataclass(frozen=True)
class DelegationResult:
    """The outcome of :func:`run_delegation`: one row per condition plus the control."""

    market: str
    spec: DelegationSpec
    seeds: tuple[int, ...]
    rows: tuple[ConditionRow, ...]
    control_utility: float
    runs: dict[tuple[str, int], RunStats] = field(repr=False)

    def row(self, condition: str) -> ConditionRow:
        """The row of ``condition`` (or ``"aligned"``)."""
        for r in self.rows:
            if r.condition == condition:
                return r
        raise UnknownNameError("condition", condition, [r.condition for r in self.rows])

    def table(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts."""
        return [r.to_dict() for r in self.rows]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: settings, control utility and the table."""
        return {
            "kind": "principal-delegation",
            "market": self.market,
            "spec": self.spec.model_dump(mode="json"),
            "seeds": list(self.seeds),
            "control_mean_utility": self.control_utility,
            "conditions": self.table(),
        }


def _row(name: str, weight: float, control: list[RunStats], runs: list[RunStats]) -> ConditionRow:
    losses = [c.mean_utility - r.mean_utility for c, r in zip(control, runs, strict=True)]
    loss, lo, hi = mean_ci(losses)
    over, olo, ohi = mean_ci([r.override_rate for r in runs])
    gain, glo, ghi = mean_ci([r.platform_gain for r in runs])
    return ConditionRow(
        condition=name,
        weight=weight,
        utility_loss=loss,
        loss_ci=(lo, hi),
        override_rate=over,
        override_ci=(olo, ohi),
        sponsored_share=float(np.mean([r.sponsored_share for r in runs])),
        platform_gain=gain,
        gain_ci=(glo, ghi),
        losses=tuple(losses),
    )


def run_delegation(
    market: Market,
    spec: DelegationSpec,
    seeds: list[int] | range,
    *,
    chat: ChatModel | None = None,
) -> DelegationResult:
    """Measure the delegate under each information condition against the aligned control.

    Args:
        market: the data.
        spec: the conflict of interest, the agent's disposition and the conditions.
        seeds: the seeds (each draws the platform terms and keys every random choice).
        chat: a chat model for the LLM delegate (``None``: the scripted delegate).

    Raises:
        ConfigError: no seeds, or a negative seed.
        UnknownNameError: unknown search algorithm or named business.
    """
    seed_list = tuple(int(s) for s in seeds)
    if not seed_list:
        raise ConfigError("run_delegation needs at least one seed, got none")
    if min(seed_list) < 0:
        raise ConfigError(f"seeds must be non-negative, got {min(seed_list)}")
    if spec.search not in ALGORITHMS:
        raise UnknownNameError("search algorithm", spec.search, ALGORITHMS)
    aligned = spec.aligned()
    runs: dict[tuple[str, int], RunStats] = {}
    control: list[RunStats] = []
    again: list[RunStats] = []
    per: dict[str, list[RunStats]] = {c: [] for c in spec.conditions}
    for seed in seed_list:
        terms = platform_terms(market, spec, seed)
        search = SearchService(market, seed)
        ctl = run_once(market, aligned, "neither", seed, terms, search=search)
        control.append(ctl)
        again.append(run_once(market, aligned, "both", seed, terms, search=search))
        runs[(CONTROL, seed)] = ctl
        for cond in spec.conditions:
            stats_ = run_once(market, spec, cond, seed, terms, search=search, chat=chat)
            per[cond].append(stats_)
            runs[(cond, seed)] = stats_
    rows = [_row(CONTROL, 0.0, control, again)]
    rows += [_row(c, spec.weight(c), control, per[c]) for c in spec.conditions]
    return DelegationResult(
        market=market.name,
        spec=spec,
        seeds=seed_list,
        rows=tuple(rows),
        control_utility=float(np.mean([c.mean_utility for c in control])),
        runs=runs,
    )


def shop_command(
    data: Path | None = None,
    *,
    customers: int = 100,
    businesses: int = 300,
    market_seed: int = 0,
    seeds: int = 10,
    bias: float = 1.0,
    user_audit: float = 0.75,
    platform_push: float = 0.5,
    sponsored_share: float = 0.3,
    sponsor_fee: float = 5.0,
    commission_share: float = 0.0,
    commission_rate: float = 0.1,
    search: str = "lexical",
    limit: int = 10,
) -> dict[str, Any]:
    """``tokenomy principal shop``: delegated shopping per condition vs the aligned control.

    Args:
        data: a market folder (Magentic YAML or Parquet); ``None`` generates a synthetic one.
        customers: synthetic market size (customers), when ``data`` is None.
        businesses: synthetic market size (businesses), when ``data`` is None.
        market_seed: the synthetic market's seed.
        seeds: number of run seeds (0..seeds−1).
        bias: weight of the platform's gain in the delegate's choice.
        user_audit: share of the bias dropped when the user sees the explanation.
        platform_push: relative extra bias when the platform sees it.
        sponsored_share: probability a business is sponsored.
        sponsor_fee: the platform's fee per sponsored sale (dollars).
        commission_share: probability a business pays commission.
        commission_rate: the commission on a commissioned sale's price.
        search: search algorithm.
        limit: businesses per search.

    Returns:
        :meth:`DelegationResult.summary` (JSON-ready).
    """
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}")
    if data is None:
        from tokenomy.market.generator import GeneratorSpec, generate_market

        market = generate_market(
            GeneratorSpec(customers=customers, businesses=businesses, seed=market_seed)
        )
    else:
        from tokenomy.market.io import load_market

        market = load_market(data)
    spec = DelegationSpec(
        bias=bias,
        user_audit=user_audit,
        platform_push=platform_push,
        sponsored_share=sponsored_share,
        sponsor_fee=sponsor_fee,
        commission_share=commission_share,
        commission_rate=commission_rate,
        search=search,
        limit=limit,
    )
    return run_delegation(market, spec, range(seeds)).summary()
