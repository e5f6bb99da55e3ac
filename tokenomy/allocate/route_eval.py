"""Score routers on recorded outcomes: the price router against the usual baselines.

:func:`evaluate` fits the price router (:class:`~tokenomy.allocate.router.Router`) on the
training prompts of a :class:`~tokenomy.allocate.route_data.RouteData` set and scores it and the
baselines on the held-out prompts with RouteLLM's metrics
(:mod:`~tokenomy.allocate.route_metrics`):

- ``random`` — a seeded random score; ``always-weak`` / ``always-strong``; ``best-single``
  (the model with the best training quality); ``oracle`` (knows the outcomes);
- ``quantile-threshold`` — RouteLLM's recipe: a score (the predicted gain of the strong model,
  from the same quality predictor as ours) and a threshold calibrated so that a target share of
  the *training* prompts goes to the strong model (the target is the share our router sends
  there, so the two operate at the same promised share);
- ``price`` — ours: strong when ``V·Δq̂ − Δĉ − λΔl − ρΔr > 0``.

Curves. A router with a knob traces a curve: ``random`` and ``quantile-threshold`` by their
threshold, ``price`` by the task value ``V`` (a prompt goes strong once ``V`` exceeds its
crossover ``V*(x) = (Δĉ + λΔl + ρΔr)/Δq̂``, so sweeping ``V`` ranks prompts by ``−V*``),
``oracle`` by its outcome score. On a two-model set the x-axis is the strong-call share, as in
RouteLLM; on a many-model set (DC-Router) ``weak`` is the cheapest model, ``strong`` the best
single one, and the x-axis is the normalised cost ``(C − C_weak)/(C_strong − C_weak)`` (our
choice: "calls" generalised to spend). APGR is the exact area under PGR over [0, 1]; a curve
that stops short of 1 is held flat, and one that runs past 1 is cut there. Fixed routers
(``always-*``, ``best-single``) have no curve: their APGR and CPT are ``None``.

Operating points. Every router also reports the quality, cost per prompt, strong share and
welfare ``V·quality − cost`` of its decisions at the stated ``V`` (default: ten times the mean
cost per prompt of the priciest model, printed with the results).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.allocate.route_data import RouteData, load, load_dcrouter_split
from tokenomy.allocate.route_metrics import (
    PGRCurve,
    apgr,
    cost_of_pass,
    cpt,
    dominates,
    oracle_scores,
    pareto_frontier,
    pgr_curve,
    welfare,
)
from tokenomy.allocate.router import Decisions, ModelProfile, Router
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = [
    "EvalResult",
    "RouterScore",
    "evaluate",
    "evaluate_split",
    "fit_router",
    "mix_shift",
    "price_scores",
]

Progress = Callable[[str], None]
V_GRID = 240
"""Number of task values (log-spaced) in a many-model price sweep."""


@dataclass(frozen=True)
class RouterScore:
    """One router's scores on the test prompts."""

    router: str
    apgr: float | None
    cpt50: float | None
    cpt80: float | None
    quality: float
    cost_per_prompt: float
    strong_share: float | None
    welfare: float
    cost_of_pass: float
    curve: PGRCurve | None = field(default=None, repr=False)
    frontier: tuple[NDArray[np.float64], NDArray[np.float64]] | None = field(
        default=None, repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scores (CPT as strong-call/cost percentages, like RouteLLM)."""
        return {
            "router": self.router,
            "apgr": self.apgr,
            "cpt50": None if self.cpt50 is None else 100.0 * self.cpt50,
            "cpt80": None if self.cpt80 is None else 100.0 * self.cpt80,
            "quality": self.quality,
            "cost_per_prompt": self.cost_per_prompt,
            "strong_share": self.strong_share,
            "welfare": self.welfare,
            "cost_of_pass": self.cost_of_pass,
        }


@dataclass(frozen=True)
class EvalResult:
    """Evaluation of every router on one data set."""

    data: str
    test_prompts: int
    train_prompts: int
    seed: int
    value: float
    weak: str
    strong: str
    axis: str
    token_rule: str
    routers: tuple[RouterScore, ...]
    models: tuple[dict[str, Any], ...]
    dominates_best_single: bool | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def score(self, name: str) -> RouterScore:
        """The scores of router ``name``."""
        for r in self.routers:
            if r.router == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``tokenomy route eval --json`` plus context."""
        out: dict[str, Any] = {
            "data": self.data,
            "test_prompts": self.test_prompts,
            "train_prompts": self.train_prompts,
            "seed": self.seed,
            "value": self.value,
            "weak": self.weak,
            "strong": self.strong,
            "axis": self.axis,
            "token_rule": self.token_rule,
            "routers": [r.to_dict() for r in self.routers],
            "models": list(self.models),
            "settings": self.settings,
        }
        if self.dominates_best_single is not None:
            out["price_dominates_best_single"] = self.dominates_best_single
        return out


# ----------------------------------------------------------------------------- fitting


def fit_router(
    train: RouteData,
    prices: Prices,
    predictor: str = "logistic",
    featurizer: str | None = None,
    seed: int = 0,
) -> Router:
    """A price router over ``train``'s models, fitted on its outcomes.

    Each model's expected output tokens are its mean recorded (or estimated) output tokens on
    the training prompts; latency and risk are zero unless the caller's profiles say otherwise.
    """
    profiles = [
        ModelProfile(m, output_tokens=float(train.output_tokens[:, j].mean()))
        for j, m in enumerate(train.models)
    ]
    router = Router(profiles, prices, featurizer=featurizer, predictor=predictor, seed=seed)
    return router.fit(list(train.prompts), train.outcomes)


AUTO_CANDIDATES = ("logistic", "knn")
"""Predictors :func:`select_predictor` chooses among for ``predictor="auto"``."""


def select_predictor(
    train: RouteData,
    prices: Prices,
    candidates: tuple[str, ...] = AUTO_CANDIDATES,
    folds: int = 3,
    seed: int = 0,
) -> tuple[str, dict[str, float]]:
    """Pick the predictor under which the price router does best, by cross-validation.

    ``folds``-fold cross-validation on ``train`` only. The criterion is the router's realised
    welfare per unit of value, ``quality − cost/V``, averaged over nine values of ``V`` from a
    tenth to ten times ``prices.value`` (log-spaced): a predictor must rank the models well
    across budgets, not only at one operating point.
    """
    n = len(train)
    order = np.random.default_rng(seed).permutation(n)
    values = prices.value * np.geomspace(0.1, 10.0, 9)
    scores: dict[str, float] = {}
    for name in candidates:
        total = 0.0
        for k in range(folds):
            held = np.sort(order[k::folds])
            fit_part = train.subset(np.setdiff1d(order, held))
            part = train.subset(held)
            router = fit_router(fit_part, prices, name, None, seed)
            dec = router.route(list(part.prompts))
            rows = np.arange(len(part))
            real_cost = part.cost()
            for v in values:
                choice = router.decide(dec.quality, dec.cost, prices.with_(value=float(v))).choice
                q = part.outcomes[rows, choice].sum()
                total += float(q - real_cost[rows, choice].sum() / v)
        scores[name] = total / (n * len(values))
    best = max(candidates, key=lambda c: (scores[c], -candidates.index(c)))
    return best, scores


def price_scores(decisions: Decisions, weak: int, strong: int) -> NDArray[np.float64]:
    """Ranking scores whose threshold sweep equals sweeping ``V`` for a weak/strong pair.

    A prompt goes strong once ``V > V*(x) = (Δĉ + λΔl + ρΔr)/Δq̂``; prompts with ``Δq̂ ≤ 0``
    never do and come last (ordered by ``Δq̂``). Equal crossovers stay tied.
    """
    p = decisions.prices
    dq = decisions.quality[:, strong] - decisions.quality[:, weak]
    extra = p.full_price(
        decisions.cost[:, strong] - decisions.cost[:, weak],
        decisions.latency[strong] - decisions.latency[weak],
        decisions.risk[strong] - decisions.risk[weak],
    )
    positive = dq > 0
    key = np.where(positive, -extra / np.where(positive, dq, 1.0), dq)
    order = np.lexsort((key, positive))  # ascending: non-positive first, then by key
    ranked_pos, ranked_key = positive[order], key[order]
    new_group = np.r_[
        True, (ranked_key[1:] != ranked_key[:-1]) | (ranked_pos[1:] != ranked_pos[:-1])
    ]
    ranks = np.cumsum(new_group).astype(np.float64)
    scores = np.empty_like(ranks)
    scores[order] = ranks
    return scores


# ----------------------------------------------------------------------------- scoring


def _operating(
    name: str,
    choice: NDArray[np.int64],
    test: RouteData,
    value: float,
    strong: int,
    curve: PGRCurve | None,
    frontier: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> RouterScore:
    rows = np.arange(len(test))
    quality = test.outcomes[rows, choice]
    cost = test.cost()[rows, choice]
    q, c = float(quality.mean()), float(cost.mean())
    return RouterScore(
        router=name,
        apgr=None if curve is None else apgr(curve),
        cpt50=None if curve is None else cpt(curve, 0.5),
        cpt80=None if curve is None else cpt(curve, 0.8),
        quality=q,
        cost_per_prompt=c,
        strong_share=float(np.mean(choice == strong)),
        welfare=welfare(quality, cost, value),
        cost_of_pass=cost_of_pass(c, q),
        curve=curve,
        frontier=frontier,
    )


def _cost_axis_curve(
    costs: NDArray[np.float64],
    qualities: NDArray[np.float64],
    thresholds: NDArray[np.float64],
    weak: tuple[float, float],
    strong: tuple[float, float],
) -> PGRCurve:
    """A PGR curve over normalised cost, held flat to 1 or cut at 1."""
    (c_w, q_w), (c_s, q_s) = weak, strong
    if c_s <= c_w or q_s == q_w:
        raise ConfigError("the strong model must cost more and perform differently than the weak")
    x = (costs - c_w) / (c_s - c_w)
    y = (qualities - q_w) / (q_s - q_w)
    order = np.argsort(x, kind="stable")
    x, y, t, q, c = x[order], y[order], thresholds[order], qualities[order], costs[order]
    keep = x <= 1.0
    if not keep.all():
        j = int(np.argmax(~keep))
        if j > 0:
            f = (1.0 - x[j - 1]) / (x[j] - x[j - 1])
            x = np.r_[x[:j], 1.0]
            y = np.r_[y[:j], y[j - 1] + f * (y[j] - y[j - 1])]
            q = np.r_[q[:j], q[j - 1] + f * (q[j] - q[j - 1])]
            c = np.r_[c[:j], c_w + (c_s - c_w)]
            t = np.r_[t[:j], t[j]]
        else:
            x, y, q, c, t = x[:1] * 0 + 1.0, y[:1], q[:1], c[:1], t[:1]
    if x[0] > 0:
        x, y, q, c, t = np.r_[0.0, x], np.r_[y[0], y], np.r_[q[0], q], np.r_[c[0], c], np.r_[0, t]
    if x[-1] < 1:
        x, y, q, c, t = (
            np.r_[x, 1.0],
            np.r_[y, y[-1]],
            np.r_[q, q[-1]],
            np.r_[c, c[-1]],
            np.r_[t, np.inf],
        )
    return PGRCurve(
        calls=x,
        performance=q,
        pgr=y,
        thresholds=t,
        weak_performance=q_w,
        strong_performance=q_s,
        cost=c,
    )


def _value_sweep(
    router: Router, quality: NDArray[np.float64], cost: NDArray[np.float64], test: RouteData
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Mean realised cost and quality of the price router over a log grid of ``V``."""
    real_cost = test.cost()
    rows = np.arange(len(test))
    dq = np.ptp(quality, axis=1)
    dc = np.ptp(cost, axis=1)
    lo = max(float(np.quantile(dc, 0.01)) / max(float(dq.max()), 1e-9), 1e-12)
    hi = float(dc.max()) / max(float(np.quantile(dq[dq > 0], 0.01)) if (dq > 0).any() else 1, 1e-9)
    values = np.r_[0.0, np.geomspace(lo / 10, hi * 10, V_GRID)]
    costs, quals = np.empty(values.shape), np.empty(values.shape)
    for k, v in enumerate(values):
        choice = router.decide(quality, cost, router.prices.with_(value=float(v))).choice
        costs[k] = real_cost[rows, choice].mean()
        quals[k] = test.outcomes[rows, choice].mean()
    return values, costs, quals


def evaluate_split(
    train: RouteData,
    test: RouteData,
    *,
    seed: int = 0,
    value: float | None = None,
    predictor: str = "auto",
    featurizer: str | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Fit on ``train``, score every router on ``test`` (see the module docstring).

    ``predictor="auto"`` chooses between ``logistic`` and ``knn`` by cross-validation on the
    training prompts (:func:`select_predictor`).
    """
    say = progress or (lambda _msg: None)
    if train.models != test.models:
        raise ConfigError("train and test must have the same models in the same order")
    test_cost = test.cost()
    if value is None:
        value = float(10.0 * test_cost.mean(axis=0).max())
    prices = Prices(value=value, table=train.table)
    cv: dict[str, float] = {}
    if predictor == "auto":
        say(f"choosing a predictor by 3-fold cross-validation on {len(train)} training prompts")
        predictor, cv = select_predictor(train, prices, seed=seed)
    say(f"fitting {predictor} on {len(train)} prompts")
    router = fit_router(train, prices, predictor, featurizer, seed)
    say(f"predicting {len(test)} held-out prompts")
    decisions = router.route(list(test.prompts))
    quality_hat, cost_hat = decisions.quality, decisions.cost
    two_model = train.weak is not None and train.strong is not None and len(train.models) == 2

    train_q, train_c = train.outcomes.mean(axis=0), train.cost().mean(axis=0)
    best = int(np.lexsort((train_c, -train_q))[0])
    if two_model and train.weak is not None and train.strong is not None:
        weak, strong = train.model_index(train.weak), train.model_index(train.strong)
    else:
        cheapest = np.flatnonzero(train_c == train_c.min())
        weak = int(cheapest[np.argmax(train_q[cheapest])])
        strong = best
    w_out, s_out = test.outcomes[:, weak], test.outcomes[:, strong]
    w_cost, s_cost = test_cost[:, weak], test_cost[:, strong]
    n = len(test)
    rng = np.random.default_rng(seed)

    def pair_curve(scores: NDArray[np.float64]) -> PGRCurve:
        curve = pgr_curve(w_out, s_out, scores, weak_cost=w_cost, strong_cost=s_cost)
        if two_model:
            return curve
        assert curve.cost is not None
        return _cost_axis_curve(
            curve.cost,
            curve.performance,
            curve.thresholds,
            (float(w_cost.mean()), float(w_out.mean())),
            (float(s_cost.mean()), float(s_out.mean())),
        )

    def pair_choice(to_strong: NDArray[np.bool_]) -> NDArray[np.int64]:
        return np.where(to_strong, strong, weak).astype(np.int64)

    scores: list[RouterScore] = []
    # price router (ours)
    say("sweeping V for the price router")
    if two_model:
        price_curve = pair_curve(price_scores(decisions, weak, strong))
        frontier = None
    else:
        values, costs, quals = _value_sweep(router, quality_hat, cost_hat, test)
        price_curve = _cost_axis_curve(
            costs,
            quals,
            values,
            (float(w_cost.mean()), float(w_out.mean())),
            (float(s_cost.mean()), float(s_out.mean())),
        )
        frontier = (costs, quals)
    price = _operating("price", decisions.choice, test, value, strong, price_curve, frontier)

    # RouteLLM-style quantile threshold on the predicted gain, target = our training share
    gain_hat = quality_hat[:, strong] - quality_hat[:, weak]
    train_dec = router.route(list(train.prompts))
    train_gain = train_dec.quality[:, strong] - train_dec.quality[:, weak]
    target = float(np.mean(train_dec.choice == strong)) if two_model else 0.5
    threshold = float(np.quantile(train_gain, 1.0 - target)) if target > 0 else np.inf
    quantile = _operating(
        "quantile-threshold",
        pair_choice(gain_hat >= threshold if target > 0 else np.zeros(n, bool)),
        test,
        value,
        strong,
        pair_curve(gain_hat),
    )

    u = rng.random(n)
    random = _operating("random", pair_choice(u < target), test, value, strong, pair_curve(u))
    orc = oracle_scores(w_out, s_out)
    if two_model:
        oracle_choice = pair_choice(orc > 0)
    else:
        real_net = prices.net_value(test.outcomes, test_cost)
        oracle_choice = np.argmax(real_net, axis=1).astype(np.int64)
    oracle = _operating("oracle", oracle_choice, test, value, strong, pair_curve(orc))
    fixed = [
        _operating("always-weak", np.full(n, weak, np.int64), test, value, strong, None),
        _operating("always-strong", np.full(n, strong, np.int64), test, value, strong, None),
        _operating("best-single", np.full(n, best, np.int64), test, value, strong, None),
    ]
    scores = [random, *fixed[:2], quantile, fixed[2], oracle, price]

    dominated: bool | None = None
    if frontier is not None:
        q_test = test.outcomes.mean(axis=0)
        best_test = int(np.lexsort((test_cost.mean(axis=0), -q_test))[0])
        point = (float(test_cost[:, best_test].mean()), float(q_test[best_test]))
        idx = pareto_frontier(*frontier)
        dominated = any(
            dominates((float(frontier[0][i]), float(frontier[1][i])), point) for i in idx
        )
    models = tuple(
        {
            "model": m,
            "quality": float(test.outcomes[:, j].mean()),
            "cost_per_prompt": float(test_cost[:, j].mean()),
            "price_share": float(np.mean(decisions.choice == j)),
        }
        for j, m in enumerate(test.models)
    )
    return EvalResult(
        data=test.name,
        test_prompts=n,
        train_prompts=len(train),
        seed=seed,
        value=value,
        weak=test.models[weak],
        strong=test.models[strong],
        axis="strong-call share" if two_model else "normalised cost",
        token_rule=test.token_rule,
        routers=tuple(scores),
        models=models,
        dominates_best_single=dominated,
        settings={
            "predictor": predictor,
            "featurizer": router.featurizer.name,
            "cross_validation": cv,
            "target_share": target,
        },
    )


def evaluate(
    data: str,
    *,
    data_dir: str | None = None,
    seed: int = 0,
    value: float | None = None,
    predictor: str = "auto",
    featurizer: str | None = None,
    test_fraction: float = 0.5,
    progress: Progress | None = None,
    **load_kw: Any,
) -> EvalResult:
    """Load data set ``data``, split it (DC-Router: its published split), evaluate every router.

    Args:
        data: ``routellm-gsm8k``, ``routellm-mmlu``, ``dcrouter`` or ``routellm-csv``.
        data_dir: the data folder (default ``../shared/data``; for ``routellm-csv`` the set's
            own folder).
        seed: seed of the train/test split, the predictor and the random router.
        value: task value ``V`` in $ per unit quality (default: 10 × the priciest model's mean
            cost per prompt).
        predictor: quality predictor name, or ``auto`` (chosen by cross-validation).
        featurizer: feature extractor name (default: the predictor's preferred one).
        test_fraction: share of prompts held out (RouteLLM sets).
        progress: called with a line of text at each stage.
        **load_kw: passed to the loader (``weak``/``strong`` for ``routellm-csv``).
    """
    if data == "dcrouter":
        train, test = load_dcrouter_split(data_dir)
    else:
        full = load(data, data_dir, **load_kw)
        train, test = full.split(seed, test_fraction)
    return evaluate_split(
        train,
        test,
        seed=seed,
        value=value,
        predictor=predictor,
        featurizer=featurizer,
        progress=progress,
    )


def mix_shift(
    router: Router,
    test: RouteData,
    weights: dict[str, float],
    *,
    target_share: float,
    seed: int = 0,
    size: int | None = None,
) -> dict[str, Any]:
    """How routing decisions move when the prompt mix shifts.

    Draws a shifted mix of ``test``'s prompts (group ``g`` of ``test.groups`` weighted by
    ``weights[g]``, default 1) and routes it next to the original mix with

    - the price router, each mix routed as its own batch, and
    - a quantile-threshold router *recalibrated* to ``target_share`` on each mix, as RouteLLM's
      recipe prescribes for the traffic it serves.

    Returns each router's strong share on both mixes and its *decision drift*: the share of the
    shifted mix's prompts whose routing differs from what the same prompt got in the original
    mix. The price rule decides each prompt on its own net value, so its drift is zero; a
    quantile threshold moves with the mix.
    """
    if test.groups is None or test.weak is None or test.strong is None:
        raise ConfigError("mix_shift needs a two-model data set with groups (e.g. MMLU subjects)")
    weak, strong = test.model_index(test.weak), test.model_index(test.strong)
    groups = np.asarray(test.groups)
    w = np.array([weights.get(str(g), 1.0) for g in groups], dtype=np.float64)
    if np.any(w < 0) or w.sum() <= 0:
        raise ConfigError("mix weights must be >= 0 and not all zero")
    rng = np.random.default_rng(seed)
    shifted = rng.choice(len(test), size=size or len(test), replace=True, p=w / w.sum())
    prompts = list(test.prompts)
    base_dec = router.route(prompts)
    shift_dec = router.route([prompts[i] for i in shifted])

    def gain(dec: Decisions) -> NDArray[np.float64]:
        return dec.quality[:, strong] - dec.quality[:, weak]

    base_gain, shift_gain = gain(base_dec), gain(shift_dec)
    quant_base = base_gain >= np.quantile(base_gain, 1.0 - target_share)
    quant_shift = shift_gain >= np.quantile(shift_gain, 1.0 - target_share)
    price_base = base_dec.choice == strong
    price_shift = shift_dec.choice == strong
    return {
        "target_share": target_share,
        "prompts": {"base": len(test), "shifted": int(shifted.size)},
        "strong_share": {
            "price": {"base": float(price_base.mean()), "shifted": float(price_shift.mean())},
            "quantile-threshold": {
                "base": float(quant_base.mean()),
                "shifted": float(quant_shift.mean()),
            },
        },
        "decision_drift": {
            "price": float(np.mean(price_shift != price_base[shifted])),
            "quantile-threshold": float(np.mean(quant_shift != quant_base[shifted])),
        },
    }
