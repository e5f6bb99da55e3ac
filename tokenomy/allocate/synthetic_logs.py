"""Synthetic decision logs: clean by construction, or with one failure mode injected.

:func:`synthetic_log` builds a mixed log over every layer (shares in :data:`LAYER_SHARES`). Each
clean decision draws its options from a small generative model of its layer (below) and takes
:func:`tokenomy.allocate.rule.choose`, so it follows the rule by construction. With a ``mode``,
a fraction ``rate`` of the decisions of that mode's layer — ``round(rate · n_layer)``, halves
rounded up, at positions drawn from the seed — deliberately choose against the rule the way the
mode describes:

* over-routing: a model with a higher full price than the rule's choice;
* under-routing: a model with a lower full price than the rule's choice;
* over-delegation: an autonomy level above the best one;
* under-verification: verify is the best option, the agent takes the best other one and the
  task spends no verify tokens;
* serving congestion: the admitter prices its own delay but not the delay it imposes on others
  (its logged ΔL leaves the externality out) and admits a request whose value does not cover it;
* stale rollouts: a rollout whose fresh gain would have paid for itself but whose depreciated
  gain does not is kept;
* cache misuse: an entry made for another value or risk class is reused and loses quality.

Each decision draws from its own random stream, keyed by ``(seed, position)``, so a log with a
failure mode is the clean log of the same seed with only the injected decisions changed.

The layers' generative models (dollars, seconds; our choice, sized so that every option wins
somewhere):

* router: four models of the packaged price table, quality falling with request difficulty,
  cost from the token price table for lognormal prompt/answer lengths, latency per output
  token, risk = stakes × (1 − quality); realised outcomes (a shadow evaluation of every model)
  equal the predictions plus ``outcome_noise`` (default 0: a calibrated predictor);
* agent step: plan / act / verify / defer / stop with the task's value; ``verify_tokens`` of a
  clean task is positive whenever verification was worth it (now or at a later step);
* agent autonomy: five levels ``a``, success ``p(a)`` concave, risk ``R(a)`` convex, oversight
  and token cost rising with ``a``, human-in-the-loop latency falling with ``a``;
* serving: admit (ΔQ = 1 at the request's value, ΔL = own delay + externality) or reject;
* training: keep (ΔQ = gain·(1−δ)^age, cost of the update) or drop;
* cache: a hit offers reuse (cheap, fast, slightly stale) and recompute; clean entries match the
  request's classes (a clean cache keys entries by class); a miss offers recompute only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tokenomy.allocate.decision_log import (
    DecisionRecord,
    remaining_gain,
    write_log,
)
from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.diagnose import MODES
from tokenomy.allocate.rule import Options, choose, net_values
from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.prices import Prices, PriceTable

__all__ = [
    "LAYER_SHARES",
    "SyntheticLog",
    "synthetic_case",
    "synthetic_log",
    "write_synthetic_log",
]

LAYER_SHARES: tuple[tuple[str, str | None, float], ...] = (
    ("router", None, 0.30),
    ("agent", "step", 0.20),
    ("agent", "autonomy", 0.15),
    ("serving", None, 0.15),
    ("training", None, 0.10),
    ("cache", None, 0.10),
)
"""(layer, kind, share of the decisions) of a synthetic log."""

_SEGMENT_OF_MODE: dict[str, int] = {
    "over-routing": 0,
    "under-routing": 0,
    "under-verification": 1,
    "over-delegation": 2,
    "serving congestion": 3,
    "stale rollouts": 4,
    "cache misuse": 5,
}
_PREFIX = ("r", "a", "a", "s", "t", "c")
_STREAM_LAYOUT = 0
_STREAM_INJECT = 1
_STREAM_DECISION = 2
_MAX_TRIES = 10_000

_ROUTER_MODELS: tuple[tuple[str, float, float, float], ...] = (
    # name, quality on an easy request, quality lost at full difficulty, seconds per output token
    ("gemma-2-9b-it", 0.62, 0.30, 0.012),
    ("mistral-nemo-12b-instruct", 0.74, 0.24, 0.015),
    ("llama3-70b-instruct", 0.85, 0.15, 0.025),
    ("palmyra-creative-122b", 0.90, 0.12, 0.03),
)
_AGENT_MODEL = "llama3-70b-instruct"
_SERVING_MODEL = "gemma-2-9b-it"
_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
_VALUE_CLASSES = ("low", "standard", "high")
_RISK_CLASSES = ("low", "medium", "high")
_CLASS_VALUE = {"low": 0.01, "standard": 0.05, "high": 0.5}


@dataclass(frozen=True)
class SyntheticLog:
    """A synthetic log and its ground truth.

    Attributes:
        records: the decisions, in log order.
        mode: the injected failure mode, or ``None`` for a clean log.
        injected: ids of the decisions that commit it, in log order.
    """

    records: list[DecisionRecord]
    mode: str | None
    injected: tuple[str, ...]


@cache
def _table() -> PriceTable:
    return PriceTable.default()


def _prices(value: float, latency: float, risk: float) -> Prices:
    """Prices with the packaged token price table (read once)."""
    return Prices(value=value, latency=latency, risk=risk, table=_table())


def _rng(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *keys])


def _split(n: int) -> list[int]:
    """Decisions per segment: the shares of ``n``, largest remainders rounded up."""
    exact = [share * n for _, _, share in LAYER_SHARES]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _record(
    rid: str,
    layer: str,
    kind: str | None,
    prices: Prices,
    opts: Options,
    chosen: int | None,
    outcome: dict[str, Any],
    levels: tuple[float, ...] | None = None,
) -> DecisionRecord:
    record = decision_record(
        rid,
        layer,
        prices,
        opts,
        None if chosen is None else opts.names[chosen],
        outcome,
        kind=kind,
        levels=levels,
    )
    return DecisionRecord.model_validate(record)


def _beaten_by(net: np.ndarray[Any, Any], best: int, i: int) -> bool:
    a, b = float(net[best]), float(net[i])
    return a - b > 1e-6 * max(1.0, abs(a), abs(b))


# ---------------------------------------------------------------------------------- router


def _router(rng: np.random.Generator, rid: str, inject: str | None, noise: float) -> DecisionRecord:
    for _ in range(_MAX_TRIES):
        prices = _prices(
            value=float(rng.lognormal(math.log(0.005), 1.5)),
            latency=float(rng.uniform(0.0, 2e-4)),
            risk=float(rng.uniform(0.0, 1.0)),
        )
        difficulty = rng.uniform()
        tin = round(float(rng.lognormal(math.log(600), 0.5)))
        tout = round(float(rng.lognormal(math.log(250), 0.5)))
        stakes = rng.uniform(0.0, 0.005)
        names = [m[0] for m in _ROUTER_MODELS]
        q = np.array([base - drop * difficulty for _, base, drop, _ in _ROUTER_MODELS])
        cost = np.array([float(prices.token_cost(m, tin, tout)) for m in names])
        latency = np.array([0.3 + spt * tout for *_, spt in _ROUTER_MODELS])
        opts = Options.of(q, cost, latency, stakes * (1.0 - q), names)
        best = choose(prices, opts)
        chosen: int | None = best
        if inject is not None:
            net = net_values(prices, opts)
            full = prices.full_price(opts.dc, opts.dl, opts.dr)
            if inject == "over-routing":
                pool = [i for i in range(len(opts)) if full[i] > full[best]]
            else:
                pool = [i for i in range(len(opts)) if full[i] < full[best]]
            pool = [i for i in pool if _beaten_by(net, best, i)]
            if not pool:
                continue
            chosen = int(rng.choice(pool))
        realised = np.clip(q + noise * rng.standard_normal(len(q)), 0.0, 1.0) if noise else q
        outcome = {
            "quality": {m: float(realised[i]) for i, m in enumerate(names)},
            "cost": {m: float(cost[i]) for i, m in enumerate(names)},
        }
        return _record(rid, "router", None, prices, opts, chosen, outcome)
    raise RuntimeError(f"could not draw a router decision for {inject}")  # pragma: no cover


# ----------------------------------------------------------------------------------- agent


def _agent_step(
    rng: np.random.Generator, rid: str, inject: str | None, noise: float
) -> DecisionRecord:
    names = ("plan", "act", "verify", "defer", "stop")
    for _ in range(_MAX_TRIES):
        prices = _prices(
            value=float(rng.lognormal(math.log(2.0), 0.7)),
            latency=float(rng.uniform(0.0, 0.002)),
            risk=float(rng.uniform(0.5, 3.0)),
        )
        tokens = rng.lognormal(np.log([1500.0, 2500.0, 1200.0, 300.0]), 0.4).round()
        token_cost = np.asarray(prices.token_cost(_AGENT_MODEL, tokens, tokens / 4), dtype=float)
        dq = np.array(
            [rng.uniform(0, 0.06), rng.uniform(0.05, 0.25), rng.uniform(0, 0.08), 0.0, 0.0]
        )
        dq[3] = rng.uniform(0.05, 0.2)
        human = rng.uniform(0.2, 1.0)
        dc = np.array([token_cost[0], token_cost[1], token_cost[2], token_cost[3] + human, 0.0])
        dl = np.array([tokens[0] * 0.02, tokens[1] * 0.02, tokens[2] * 0.02, 0.0, 0.0])
        dl[3] = rng.uniform(30.0, 300.0)
        dr = np.array([0.0, rng.uniform(0, 0.1), -rng.uniform(0, 0.1), 0.0, 0.0])
        opts = Options.of(dq, dc, dl, dr, names)
        net = net_values(prices, opts)
        best = choose(prices, opts)
        verify_tokens = int(tokens[2])
        chosen = best
        if inject is not None:
            others = [i for i in range(len(names)) if i != 2]
            runner_up = max(others, key=lambda i: float(net[i]))
            if best != 2 or not _beaten_by(net, 2, runner_up) or net[2] <= 1e-6:
                continue
            chosen = runner_up
            verify_tokens = 0
        elif best != 2 and net[2] <= 0.0:
            verify_tokens = 0
        return _record(rid, "agent", "step", prices, opts, chosen, {"verify_tokens": verify_tokens})
    raise RuntimeError("could not draw an agent step to inject")  # pragma: no cover


def _agent_autonomy(
    rng: np.random.Generator, rid: str, inject: str | None, noise: float
) -> DecisionRecord:
    a = np.array(_LEVELS)
    names = tuple(f"a={x:g}" for x in _LEVELS)
    for _ in range(_MAX_TRIES):
        prices = _prices(
            value=float(rng.lognormal(math.log(5.0), 0.6)),
            latency=float(rng.uniform(0.0, 0.005)),
            risk=float(rng.uniform(1.0, 5.0)),
        )
        p0 = rng.uniform(0.3, 0.6)
        p = p0 + rng.uniform(0.1, 0.4) * np.sqrt(a)
        risk = rng.uniform(0.0, 0.5) * a**2
        oversight = rng.uniform(0.0, 0.3) * a
        tokens = rng.uniform(0.01, 0.05) * (1.0 + a)
        human_latency = rng.uniform(20.0, 120.0) * (1.0 - a)
        opts = Options.of(p, tokens + oversight, human_latency, risk, names)
        net = net_values(prices, opts)
        best = choose(prices, opts)
        chosen = best
        if inject is not None:
            higher = [j for j in range(best + 1, len(a)) if _beaten_by(net, best, j)]
            if not higher:
                continue
            chosen = int(rng.choice(higher))
        outcome = {"succeeded": bool(rng.uniform() < p[chosen])}
        return _record(rid, "agent", "autonomy", prices, opts, chosen, outcome, levels=_LEVELS)
    raise RuntimeError("could not draw an autonomy decision to inject")  # pragma: no cover


# --------------------------------------------------------------------------------- serving


def _serving(
    rng: np.random.Generator, rid: str, inject: str | None, noise: float
) -> DecisionRecord:
    names = ("admit", "reject")
    for _ in range(_MAX_TRIES):
        prices = _prices(
            value=float(rng.lognormal(math.log(0.02), 0.8)),
            latency=float(rng.uniform(1e-4, 1e-3)),
            risk=0.0,
        )
        own = rng.uniform(0.5, 10.0)
        externality = rng.uniform(0.0, 30.0)
        serve_cost = float(prices.token_cost(_SERVING_MODEL, rng.uniform(200, 2000), 300))
        priced = Options.of([1.0, 0.0], [serve_cost, 0.0], [own + externality, 0.0], 0.0, names)
        if inject is None:
            chosen = choose(prices, priced)
            outcome = {"delay_s": own, "externality_s": externality} if chosen == 0 else {}
            return _record(rid, "serving", None, prices, priced, chosen, outcome)
        # the failing admitter leaves the externality out of its latency prediction
        unpriced = Options.of([1.0, 0.0], [serve_cost, 0.0], [own, 0.0], 0.0, names)
        if choose(prices, unpriced) != 0 or not _beaten_by(net_values(prices, priced), 1, 0):
            continue
        outcome = {"delay_s": own, "externality_s": externality}
        return _record(rid, "serving", None, prices, unpriced, 0, outcome)
    raise RuntimeError("could not draw a serving decision to inject")  # pragma: no cover


# -------------------------------------------------------------------------------- training


def _training(
    rng: np.random.Generator, rid: str, inject: str | None, noise: float
) -> DecisionRecord:
    names = ("keep", "drop")
    for _ in range(_MAX_TRIES):
        prices = _prices(value=float(rng.lognormal(math.log(50.0), 0.5)), latency=0.0, risk=0.0)
        gain = rng.uniform(0.0005, 0.005)
        age = int(rng.integers(0, 51))
        rate = rng.uniform(0.01, 0.1)
        cost = rng.uniform(0.01, 0.15)
        remaining = float(remaining_gain(gain, age, rate))
        opts = Options.of([remaining, 0.0], [cost, 0.0], 0.0, 0.0, names)
        chosen = choose(prices, opts)
        if inject is not None:
            fresh = Options.of([gain, 0.0], [cost, 0.0], 0.0, 0.0, names)
            stale = _beaten_by(net_values(prices, opts), 1, 0)
            if (
                not stale
                or choose(prices, fresh) != 0
                or not _beaten_by(net_values(prices, fresh), 0, 1)
            ):
                continue
            chosen = 0
        outcome = {"gain": gain, "age": age, "depreciation_rate": rate}
        return _record(rid, "training", None, prices, opts, chosen, outcome)
    raise RuntimeError("could not draw a training decision to inject")  # pragma: no cover


# ----------------------------------------------------------------------------------- cache


_Effects = tuple[float, float, float, float]


def _cache_options(reuse: _Effects | None, recompute: _Effects) -> Options:
    """Cache options from (ΔQ, ΔC, ΔL, ΔR) tuples; no reuse option on a miss."""
    rows = [recompute] if reuse is None else [reuse, recompute]
    names = ("recompute",) if reuse is None else ("reuse", "recompute")
    dq, dc, dl, dr = (np.array(col) for col in zip(*rows, strict=True))
    return Options.of(dq, dc, dl, dr, names)


def _cache(rng: np.random.Generator, rid: str, inject: str | None, noise: float) -> DecisionRecord:
    value_class = _VALUE_CLASSES[int(rng.integers(len(_VALUE_CLASSES)))]
    risk_class = _RISK_CLASSES[int(rng.integers(len(_RISK_CLASSES)))]
    prices = _prices(
        value=float(_CLASS_VALUE[value_class] * rng.lognormal(0.0, 0.3)),
        latency=float(rng.uniform(0.0, 5e-4)),
        risk=float(rng.uniform(0.5, 2.0)),
    )
    fresh_q = float(rng.uniform(0.6, 0.95))
    risk = float(rng.uniform(0.0, 0.01)) * (1 + _RISK_CLASSES.index(risk_class))
    recompute = (fresh_q, float(rng.uniform(0.002, 0.02)), float(rng.uniform(2.0, 15.0)), risk)
    reuse = (fresh_q - float(rng.uniform(0.0, 0.03)), 1e-5, 0.05, risk)
    request = {"request_value_class": value_class, "request_risk_class": risk_class}
    if inject is not None:
        # an entry made for another class, whose prediction looks as good as a matching one
        entry_value, entry_risk = value_class, risk_class
        while (entry_value, entry_risk) == (value_class, risk_class):
            entry_value = _VALUE_CLASSES[int(rng.integers(len(_VALUE_CLASSES)))]
            entry_risk = _RISK_CLASSES[int(rng.integers(len(_RISK_CLASSES)))]
        opts = _cache_options(reuse, recompute)
        misused = {
            "entry_value_class": entry_value,
            "entry_risk_class": entry_risk,
            **request,
            "quality_loss": float(rng.uniform(0.05, 0.3)),
            "risk_added": float(rng.uniform(0.0, 0.02)),
        }
        return _record(rid, "cache", None, prices, opts, 0, misused)
    if rng.uniform() < 0.6:  # a hit on an entry of the request's own classes
        opts = _cache_options(reuse, recompute)
        chosen = choose(prices, opts)
        outcome: dict[str, Any] = {
            "entry_value_class": value_class,
            "entry_risk_class": risk_class,
            **request,
        }
        if chosen == 0:
            outcome["quality_loss"] = 0.0
        return _record(rid, "cache", None, prices, opts, chosen, outcome)
    opts = _cache_options(None, recompute)
    return _record(rid, "cache", None, prices, opts, choose(prices, opts), request)


_Generator = Callable[[np.random.Generator, str, str | None, float], DecisionRecord]
_GENERATORS: tuple[_Generator, ...] = (
    _router,
    _agent_step,
    _agent_autonomy,
    _serving,
    _training,
    _cache,
)


def synthetic_case(
    mode: str | None,
    n: int = 200,
    seed: int = 0,
    rate: float = 0.1,
    *,
    outcome_noise: float = 0.0,
) -> SyntheticLog:
    """A synthetic log together with the ids of the decisions that commit the failure mode.

    Args:
        mode: one of :data:`tokenomy.allocate.diagnose.MODES`, or ``None`` for a clean log.
        n: decisions in the log.
        seed: random seed; the same arguments give identical records.
        rate: share of the mode's layer's decisions that commit it (``round(rate·n_layer)``).
        outcome_noise: standard deviation of realised router quality around the prediction
            (0: realised outcomes equal the predictions, so nothing is beaten in hindsight
            either).

    Raises:
        UnknownNameError: ``mode`` is not a failure mode.
        ConfigError: ``n < 0``, ``seed < 0``, ``rate`` outside ``[0, 1]`` or negative noise.
    """
    if mode is not None and mode not in MODES:
        raise UnknownNameError("failure mode", mode, MODES)
    if n < 0 or seed < 0:
        raise ConfigError(f"synthetic_log needs n >= 0 and seed >= 0, got n={n}, seed={seed}")
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"synthetic_log rate must be in [0, 1], got {rate}")
    if not (math.isfinite(outcome_noise) and outcome_noise >= 0.0):
        raise ConfigError(f"outcome_noise must be finite and >= 0, got {outcome_noise}")
    counts = _split(n)
    segments = np.repeat(np.arange(len(counts)), counts)
    segments = _rng(seed, _STREAM_LAYOUT).permutation(segments)
    inject_at: set[int] = set()
    if mode is not None:
        target = _SEGMENT_OF_MODE[mode]
        positions = np.flatnonzero(segments == target)
        k = math.floor(rate * len(positions) + 0.5)
        picked = _rng(seed, _STREAM_INJECT, target).choice(positions, size=k, replace=False)
        inject_at = {int(i) for i in picked}
    records: list[DecisionRecord] = []
    injected: list[str] = []
    for pos, seg in enumerate(segments.tolist()):
        rid = f"{_PREFIX[seg]}-{pos}"
        inject = mode if pos in inject_at else None
        rng = _rng(seed, _STREAM_DECISION, pos)
        records.append(_GENERATORS[seg](rng, rid, inject, outcome_noise))
        if inject is not None:
            injected.append(rid)
    return SyntheticLog(records=records, mode=mode, injected=tuple(injected))


def synthetic_log(
    mode: str | None, n: int = 200, seed: int = 0, rate: float = 0.1
) -> list[DecisionRecord]:
    """A realistic mixed decision log, clean (``mode=None``) or with one failure mode injected.

    See :func:`synthetic_case` (which also returns the injected ids) for the arguments.
    """
    return synthetic_case(mode, n=n, seed=seed, rate=rate).records


def write_synthetic_log(
    path: str | Path,
    mode: str | None = None,
    n: int = 200,
    seed: int = 0,
    rate: float = 0.1,
) -> Path:
    """Write :func:`synthetic_log` to a JSON Lines file (atomically) and return its path."""
    return write_log(path, synthetic_log(mode, n=n, seed=seed, rate=rate))
