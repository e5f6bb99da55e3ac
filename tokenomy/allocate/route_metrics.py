"""Router evaluation metrics: RouteLLM's PGR/APGR/CPT for a model pair, frontiers for many.

Two models (RouteLLM, Ong et al. 2024). A router scores each prompt; prompts with the highest
scores go to the strong model first. Sweeping the threshold traces points
``(c, P(c))``: the fraction ``c`` of prompts sent to the strong model and the mean
performance ``P(c)`` of the routed answers, from ``c = 0`` (all weak, ``P_weak``) to ``c = 1``
(all strong, ``P_strong``). Then

- PGR(c) = (P(c) − P_weak) / (P_strong − P_weak), the performance gap recovered;
- APGR = ∫₀¹ PGR(c) dc, the area under it (:func:`apgr`; a random router scores 0.5 in
  expectation, a constant score exactly 0.5);
- CPT(x) = the smallest ``c`` with PGR(c) ≥ x (:func:`cpt`), e.g. CPT(50%).

:func:`pgr_curve` computes the curve exactly: each group of prompts with tied scores is routed
together and the curve is linear across the group — the expectation of the curve under random
tie-breaking, since any ``k`` of a tied group of size ``g`` recover ``k/g`` of its total gain in
expectation. APGR is then the exact trapezoid area of that piecewise-linear curve.
RouteLLM's own evaluation approximates the area with 11 thresholds at the deciles of the
scores (10 equal-count bins), :func:`apgr_binned`.

The oracle (:func:`oracle_scores`) sends to the strong model exactly the prompts that only it
gets right: CPT(x) of the oracle is ``x · (P_strong − P_weak)``, the floor for any router.

Many models with prices. Each router (or model) is a point (mean $ per prompt, mean quality):
:func:`pareto_frontier` keeps the points no other point dominates (cheaper and at least as good,
or better and at most as expensive); :func:`cost_of_pass` is the expected cost per correct
answer, :func:`welfare` the net value ``V·quality − cost`` (:class:`tokenomy.prices.Prices`),
:func:`best_single_model` and :func:`oracle_quality` the two baselines every router sits
between. :func:`summarize` collects them for a :class:`~tokenomy.allocate.route_data.RouteData`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tokenomy.allocate.route_data import RouteData
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices, PriceTable

__all__ = [
    "PGRCurve",
    "apgr",
    "apgr_binned",
    "best_single_model",
    "choice_quality_cost",
    "cost_at_quality",
    "cost_of_pass",
    "cpt",
    "dominates",
    "oracle_quality",
    "oracle_scores",
    "pareto_frontier",
    "pgr_curve",
    "pgr_curve_on",
    "quality_at_budget",
    "summarize",
    "welfare",
]

_NO_TABLE = PriceTable(models={})


def _vector(values: ArrayLike, name: str, n: int | None = None) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ConfigError(f"{name} must have {n} entries (one per prompt), got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite")
    return arr


def _matrix(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ConfigError(f"{name} must be a non-empty prompts × models matrix, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite")
    return arr


# --------------------------------------------------------------------------- two models


@dataclass(frozen=True)
class PGRCurve:
    """A router's exact call–performance curve (piecewise linear between its points).

    Attributes:
        calls: strong-call fraction ``c`` at each point, from 0 to 1 (non-decreasing).
        performance: mean performance ``P(c)`` of the routed answers.
        pgr: ``(P(c) − P_weak) / (P_strong − P_weak)``.
        thresholds: the score threshold of each point (a prompt goes to the strong model when
            its score is ≥ the threshold; ``inf`` at ``c = 0``).
        weak_performance: ``P_weak``, every prompt to the weak model.
        strong_performance: ``P_strong``, every prompt to the strong model.
        cost: mean $ per prompt at each point (when per-prompt costs were given), else ``None``.
    """

    calls: NDArray[np.float64]
    performance: NDArray[np.float64]
    pgr: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    weak_performance: float
    strong_performance: float
    cost: NDArray[np.float64] | None = None


def pgr_curve(
    weak_outcome: ArrayLike,
    strong_outcome: ArrayLike,
    scores: ArrayLike,
    *,
    weak_cost: ArrayLike | None = None,
    strong_cost: ArrayLike | None = None,
) -> PGRCurve:
    """The exact PGR curve of a router that sends the highest-scoring prompts to ``strong``.

    Args:
        weak_outcome: per-prompt outcome (0/1 or a score) of the weak model.
        strong_outcome: per-prompt outcome of the strong model.
        scores: the router's per-prompt scores (higher = more reason to call the strong model).
        weak_cost: optional per-prompt $ of the weak model (with ``strong_cost``: ``cost``).
        strong_cost: optional per-prompt $ of the strong model.

    Raises:
        ConfigError: shapes differ, values are not finite, or ``P_strong = P_weak`` (PGR is
            then undefined).
    """
    weak = _vector(weak_outcome, "weak_outcome")
    n = weak.shape[0]
    strong = _vector(strong_outcome, "strong_outcome", n)
    s = _vector(scores, "scores", n)
    total_weak, total_strong = float(weak.sum()), float(strong.sum())
    gap = total_strong - total_weak
    if gap == 0.0:
        raise ConfigError(
            "PGR is undefined: the strong and weak models perform equally on these prompts"
        )
    order = np.argsort(-s, kind="stable")
    ranked = s[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # last prompt of each tie group
    gain = np.cumsum((strong - weak)[order])[ends]
    calls = np.r_[0.0, (ends + 1) / n]
    recovered = np.r_[0.0, gain]
    curve_cost: NDArray[np.float64] | None = None
    if (weak_cost is None) != (strong_cost is None):
        raise ConfigError("give both weak_cost and strong_cost, or neither")
    if weak_cost is not None and strong_cost is not None:
        wc = _vector(weak_cost, "weak_cost", n)
        sc = _vector(strong_cost, "strong_cost", n)
        extra = np.cumsum((sc - wc)[order])[ends]
        curve_cost = (wc.sum() + np.r_[0.0, extra]) / n
    return PGRCurve(
        calls=calls,
        performance=(total_weak + recovered) / n,
        pgr=recovered / gap,
        thresholds=np.r_[np.inf, ranked[ends]],
        weak_performance=total_weak / n,
        strong_performance=total_strong / n,
        cost=curve_cost,
    )


def pgr_curve_on(data: RouteData, scores: ArrayLike) -> PGRCurve:
    """:func:`pgr_curve` on a two-model :class:`RouteData`, with its per-prompt costs."""
    if data.weak is None or data.strong is None:
        raise ConfigError(f"data set '{data.name}' has no weak/strong pair (a many-model set)")
    w, s = data.model_index(data.weak), data.model_index(data.strong)
    cost = data.cost()
    return pgr_curve(
        data.outcomes[:, w],
        data.outcomes[:, s],
        scores,
        weak_cost=cost[:, w],
        strong_cost=cost[:, s],
    )


def apgr(curve: PGRCurve) -> float:
    """Exact area under PGR over ``c ∈ [0, 1]`` (trapezoid rule on the piecewise-linear curve)."""
    return float(np.trapezoid(curve.pgr, curve.calls))


def apgr_binned(
    weak_outcome: ArrayLike, strong_outcome: ArrayLike, scores: ArrayLike, n_bins: int = 10
) -> float:
    """RouteLLM's approximate APGR: thresholds at the ``n_bins``-quantiles of the scores.

    Thresholds are the ``n_bins + 1`` quantiles ``0, 1/n_bins, ..., 1`` of the scores (linear
    interpolation, as ``pandas.qcut`` draws its bin edges); at each one the prompts with score
    ≥ it go to the strong model, except at the last (the maximum), where only scores above it
    do, so the points run from ``c = 1`` to ``c = 0``. APGR is the trapezoid area under PGR
    through those points. Unlike ``pandas.qcut``, repeated edges (many tied scores) are kept.
    """
    if n_bins < 1:
        raise ConfigError(f"n_bins must be >= 1, got {n_bins}")
    weak = _vector(weak_outcome, "weak_outcome")
    n = weak.shape[0]
    strong = _vector(strong_outcome, "strong_outcome", n)
    s = _vector(scores, "scores", n)
    gap = float(strong.sum() - weak.sum())
    if gap == 0.0:
        raise ConfigError(
            "PGR is undefined: the strong and weak models perform equally on these prompts"
        )
    edges = np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1))
    to_strong = s[None, :] >= edges[:, None]
    to_strong[-1] = s > edges[-1]
    calls = to_strong.mean(axis=1)
    pgr = (to_strong * (strong - weak)[None, :]).sum(axis=1) / gap
    order = np.argsort(calls, kind="stable")
    return float(np.trapezoid(pgr[order], calls[order]))


def cpt(curve: PGRCurve, x: float) -> float | None:
    """Smallest strong-call fraction at which PGR ≥ ``x`` (a fraction: 0.5 for CPT(50%)).

    Linear interpolation between the curve's points (exact for :func:`pgr_curve`'s curve);
    ``None`` when the curve never reaches ``x``.
    """
    if not np.isfinite(x):
        raise ConfigError(f"CPT target must be finite, got {x!r}")
    reached = np.flatnonzero(curve.pgr >= x)
    if reached.size == 0:
        return None
    j = int(reached[0])
    if j == 0:
        return float(curve.calls[0])
    p0, p1 = curve.pgr[j - 1], curve.pgr[j]
    c0, c1 = curve.calls[j - 1], curve.calls[j]
    return float(c0 + (x - p0) * (c1 - c0) / (p1 - p0))


def oracle_scores(weak_outcome: ArrayLike, strong_outcome: ArrayLike) -> NDArray[np.float64]:
    """The oracle router's scores: +1 where only the strong model is right, else 0 or −1.

    0 where both models are right or both wrong, −1 where only the weak one is right (for graded
    outcomes, the sign of strong − weak).
    """
    weak = _vector(weak_outcome, "weak_outcome")
    strong = _vector(strong_outcome, "strong_outcome", weak.shape[0])
    return np.sign(strong - weak)


# --------------------------------------------------------------------------- many models


def dominates(point: tuple[float, float], other: tuple[float, float]) -> bool:
    """Whether ``point = (cost, quality)`` dominates ``other``.

    It does when it is no more expensive, at least as good, and strictly better in one of the
    two.
    """
    (c1, q1), (c2, q2) = point, other
    return c1 <= c2 and q1 >= q2 and (c1 < c2 or q1 > q2)


def pareto_frontier(costs: ArrayLike, qualities: ArrayLike) -> NDArray[np.int64]:
    """Indices of the points no other point dominates, ordered by increasing cost.

    Identical points do not dominate each other (both stay). ``O(n log n)``.
    """
    c = _vector(costs, "costs")
    q = _vector(qualities, "qualities", c.shape[0])
    order = np.lexsort((-q, c))  # by cost, then best quality first
    cs, qs = c[order], q[order]
    _, first, group = np.unique(cs, return_index=True, return_inverse=True)
    group_best = qs[first]  # best quality at each distinct cost, increasing cost
    cheaper_best = np.r_[-np.inf, np.maximum.accumulate(group_best)[:-1]]
    dominated = (cheaper_best[group] >= qs) | (group_best[group] > qs)
    frontier: NDArray[np.int64] = order[~dominated].astype(np.int64)
    return frontier


def cost_of_pass(mean_cost: float, mean_quality: float) -> float:
    """Expected $ per correct answer, ``cost / quality`` (``inf`` when quality is 0)."""
    if not (np.isfinite(mean_cost) and np.isfinite(mean_quality)):
        raise ConfigError("cost_of_pass needs a finite cost and quality")
    if mean_cost < 0 or mean_quality < 0:
        raise ConfigError(f"cost and quality must be >= 0, got {mean_cost}, {mean_quality}")
    return float("inf") if mean_quality == 0 else float(mean_cost / mean_quality)


def welfare(quality: ArrayLike, cost: ArrayLike, value: float | Prices) -> float:
    """Net value ``V·mean(quality) − mean(cost)`` at task value ``V`` ($ per unit quality)."""
    prices = value if isinstance(value, Prices) else Prices(value=value, table=_NO_TABLE)
    q = float(np.mean(np.asarray(quality, dtype=np.float64)))
    c = float(np.mean(np.asarray(cost, dtype=np.float64)))
    return float(prices.net_value(q, c))


def best_single_model(outcomes: ArrayLike, costs: ArrayLike) -> int:
    """Column of the model with the highest mean quality (ties go to the cheaper one).

    ``outcomes`` and ``costs`` are ``n × m`` (prompts × models); costs may also be ``m``
    mean costs.
    """
    y = _matrix(outcomes, "outcomes")
    cost = np.asarray(costs, dtype=np.float64)
    mean_cost = cost.mean(axis=0) if cost.ndim == 2 else cost
    if mean_cost.shape != (y.shape[1],):
        raise ConfigError(f"costs must be n × m or m, got {cost.shape} for {y.shape[1]} models")
    quality = y.mean(axis=0)
    return int(np.lexsort((mean_cost, -quality))[0])


def oracle_quality(outcomes: ArrayLike) -> float:
    """Mean over prompts of the best model's outcome (every prompt to a model that gets it)."""
    return float(_matrix(outcomes, "outcomes").max(axis=1).mean())


def choice_quality_cost(
    outcomes: ArrayLike, costs: ArrayLike, choices: ArrayLike
) -> tuple[float, float]:
    """Mean quality and mean $ per prompt of a routing: prompt ``i`` goes to ``choices[i]``."""
    y = _matrix(outcomes, "outcomes")
    cost = _matrix(costs, "costs")
    pick = np.asarray(choices, dtype=np.int64)
    if cost.shape != y.shape or pick.shape != (y.shape[0],):
        raise ConfigError("outcomes and costs must be n × m and choices n model columns")
    if pick.min() < 0 or pick.max() >= y.shape[1]:
        raise ConfigError(f"choices must be model columns in [0, {y.shape[1]})")
    rows = np.arange(y.shape[0])
    return float(y[rows, pick].mean()), float(cost[rows, pick].mean())


def quality_at_budget(costs: ArrayLike, qualities: ArrayLike, budget: float) -> float | None:
    """Best quality among the points costing at most ``budget`` $ per prompt (``None``: none)."""
    c = _vector(costs, "costs")
    q = _vector(qualities, "qualities", c.shape[0])
    ok = c <= budget
    return float(q[ok].max()) if ok.any() else None


def cost_at_quality(costs: ArrayLike, qualities: ArrayLike, target: float) -> float | None:
    """Lowest cost among the points of quality at least ``target`` (``None``: none reach it)."""
    c = _vector(costs, "costs")
    q = _vector(qualities, "qualities", c.shape[0])
    ok = q >= target
    return float(c[ok].min()) if ok.any() else None


def summarize(data: RouteData, value: float | None = None) -> dict[str, Any]:
    """What a data set offers a router: per-model quality and cost, and the baselines.

    For a two-model set it adds the oracle's APGR and CPT(50%)/CPT(80%).

    Args:
        data: the routing data set.
        value: task value ``V`` ($ per unit quality) for the welfare column (omitted if None).

    Returns:
        A JSON-ready dict; costs are mean $ per prompt, with ``token_rule`` saying how the token
        counts behind them were obtained.
    """
    cost = data.cost()
    quality = data.outcomes.mean(axis=0)
    mean_cost = cost.mean(axis=0)
    rows = []
    for j, model in enumerate(data.models):
        row: dict[str, Any] = {
            "model": model,
            "quality": float(quality[j]),
            "cost_per_prompt": float(mean_cost[j]),
            "cost_of_pass": cost_of_pass(float(mean_cost[j]), float(quality[j])),
        }
        if value is not None:
            row["welfare"] = welfare(data.outcomes[:, j], cost[:, j], value)
        rows.append(row)
    best = best_single_model(data.outcomes, cost)
    frontier = pareto_frontier(mean_cost, quality)
    result: dict[str, Any] = {
        "name": data.name,
        "prompts": len(data),
        "dropped_contaminated": data.dropped_contaminated,
        "models": rows,
        "best_single_model": data.models[best],
        "best_single_quality": float(quality[best]),
        "oracle_quality": oracle_quality(data.outcomes),
        "frontier": [data.models[i] for i in frontier],
        "token_rule": data.token_rule,
        "source": data.source,
    }
    if data.weak is not None and data.strong is not None:
        weak, strong = data.outcome(data.weak), data.outcome(data.strong)
        curve = pgr_curve_on(data, oracle_scores(weak, strong))
        result["oracle"] = {
            "apgr": apgr(curve),
            "cpt50": cpt(curve, 0.5),
            "cpt80": cpt(curve, 0.8),
        }
    return result
