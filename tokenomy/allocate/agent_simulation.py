"""A seeded synthetic task environment that compares three agent policies.

This is *our* model, written to exercise the controller; it is not a reproduction of the
budget-aware-agent result (Google, 2025: a budget tracker let an agent match a 100-call ReAct
baseline with 10 calls at about 31% lower cost), whose tasks and agents we do not have.

The environment (parameters in :class:`SimulationParams`):

* Task ``i`` is worth ``V_i``, log-uniform on ``[value_low, value_high]`` dollars; its
  difficulty ``d_i`` is uniform on ``[0, 1]`` and one call solves it with probability
  ``s_i = success_hard + (success_easy − success_hard)·(1 − d_i)``.
* A failed call looks finished with probability ``false_success`` (a hallucinated success);
  otherwise it visibly fails. Every call costs ``call_cost``.
* Submitting a wrong answer costs ``K_i = consequence_ratio·V_i`` risk units, priced at ``ρ``
  (``risk_price``).
* A verifier call (``verify_cost``) catches a wrong answer with probability ``verify_catch``
  and repairs a caught one with probability ``verify_fix``; planning (``plan_cost``, one call)
  multiplies the per-call success by ``plan_gain`` (at most ``planned_success_cap``); a human
  solves the task with probability ``human_quality`` for ``human_cost``.
* Welfare of a task: ``V·1[correct] − cost − ρ·K·1[wrong answer submitted]``. Latency is not
  priced (``λ = 0``).

The agents:

(a) ``react-100``: calls tools until an answer looks finished or 100 calls, then submits it.
(b) ``react-10+tracker``: the same with a 10-call cap and a :class:`BudgetTracker`; it reads
    what is left before every call and stops when the next call would not fit, or when the
    next call's net value ``V·s̄ − call_cost`` is negative (``s̄``: the population's mean
    per-call success; it does not model the task's difficulty, nor price risk).
(c) ``marginal``: the controller of :mod:`tokenomy.allocate.controller` with a 10-call cap; it
    knows each task's ``s_i`` (the environment's true value: the favourable, well-specified
    case), plans, verifies, defers or stops by the net-value rule.

Random numbers are keyed by ``(seed, stream, task, call)`` (:mod:`tokenomy.rng`), so the three
agents face the same draws (common random numbers): the k-th act on task ``i`` succeeds for
every agent when ``u_act[i, k] < s`` (for a planned agent, ``< s_p``, a superset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.allocate.budget_tracker import BudgetTracker, ToolCall
from tokenomy.allocate.controller import (
    StepDecision,
    TaskModel,
    TaskState,
    after_act,
    after_plan,
    after_verify,
    decide,
    finish,
    step_records,
)
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices, PriceTable
from tokenomy.rng import uniform

__all__ = [
    "AGENTS",
    "Episode",
    "EpisodeDraws",
    "SimulationParams",
    "SimulationResult",
    "run_controller_episode",
    "simulate_agents",
]

AGENTS = ("react-100", "react-10+tracker", "marginal")
"""The compared agents, in table order."""

_PROBABILITIES = (
    "success_easy",
    "success_hard",
    "false_success",
    "planned_success_cap",
    "verify_catch",
    "verify_fix",
    "human_quality",
)
_CAPS = ("react_cap", "tracked_cap", "controller_cap")


@dataclass(frozen=True)
class SimulationParams:
    """The environment and the agents' caps (see the module doc for the model)."""

    value_low: float = 0.1
    value_high: float = 10.0
    success_easy: float = 0.6
    success_hard: float = 0.02
    false_success: float = 0.1
    plan_gain: float = 1.5
    planned_success_cap: float = 0.95
    call_cost: float = 0.02
    plan_cost: float = 0.02
    verify_cost: float = 0.01
    verify_catch: float = 0.8
    verify_fix: float = 0.5
    human_quality: float = 0.95
    human_cost: float = 5.0
    consequence_ratio: float = 1.0
    risk_price: float = 1.0
    react_cap: int = 100
    tracked_cap: int = 10
    controller_cap: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _CAPS:
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    raise ConfigError(
                        f"SimulationParams.{f.name} must be an integer >= 1, got {v!r}"
                    )
                continue
            if (
                not isinstance(v, int | float)
                or isinstance(v, bool)
                or not math.isfinite(v)
                or v < 0
            ):
                raise ConfigError(
                    f"SimulationParams.{f.name} must be a finite number >= 0, got {v!r}"
                )
            if f.name in _PROBABILITIES and v > 1:
                raise ConfigError(f"SimulationParams.{f.name} must be a probability, got {v!r}")
        if not 0 < self.value_low <= self.value_high:
            raise ConfigError(
                f"SimulationParams needs 0 < value_low <= value_high, got "
                f"{self.value_low}, {self.value_high}"
            )
        if self.success_hard > self.success_easy:
            raise ConfigError("SimulationParams.success_hard must be <= success_easy")
        if self.plan_gain < 1:
            raise ConfigError(f"SimulationParams.plan_gain must be >= 1, got {self.plan_gain}")

    def task_model(self, value: float, success: float) -> TaskModel:
        """The controller's model of a task worth ``value`` with per-call success ``success``."""
        return TaskModel(
            act_success=success,
            planned_success=max(success, min(self.planned_success_cap, success * self.plan_gain)),
            false_success=self.false_success,
            act_cost=self.call_cost,
            act_latency=0.0,
            plan_cost=self.plan_cost,
            plan_latency=0.0,
            verify_cost=self.verify_cost,
            verify_latency=0.0,
            verify_catch=self.verify_catch,
            verify_fix=self.verify_fix,
            human_quality=self.human_quality,
            human_cost=self.human_cost,
            human_latency=0.0,
            consequence=self.consequence_ratio * value,
            horizon=self.controller_cap,
        )


@dataclass(frozen=True)
class EpisodeDraws:
    """The environment's uniform draws for one task (``act[k]``: the k-th act, and so on)."""

    act: NDArray[np.float64]
    looks: NDArray[np.float64]
    catch: NDArray[np.float64]
    fix: NDArray[np.float64]
    human: float


@dataclass(frozen=True)
class Episode:
    """One controller episode: its decisions and what happened."""

    decisions: tuple[StepDecision, ...]
    state: TaskState
    success: bool
    wrong: bool
    deferred: bool
    calls: int
    cost: float


def run_controller_episode(
    prices: Prices, model: TaskModel, draws: EpisodeDraws, tracker: BudgetTracker
) -> Episode:
    """Run the marginal-value controller on one task until it stops or defers.

    Every call goes through ``tracker`` (which refuses an overdraft); the state's budget is
    refreshed from it after each call, so the controller only sees options it can pay for.
    """
    state = TaskState(budget=tracker.remaining)
    decisions: list[StepDecision] = []
    correct = False
    n_act = n_verify = 0
    while True:
        d = decide(prices, model, state)
        decisions.append(d)
        if d.action == "plan":
            tracker.record(ToolCall(model.plan_cost, model.plan_tokens, "plan"))
            state = after_plan(model, state)
        elif d.action == "act":
            tracker.record(ToolCall(model.act_cost, model.act_tokens, "act"))
            correct = bool(draws.act[n_act] < state.success_chance(model))
            looks = correct or bool(draws.looks[n_act] < model.false_success)
            n_act += 1
            state = after_act(model, state, looks_done=looks)
        elif d.action == "verify":
            tracker.record(ToolCall(model.verify_cost, model.verify_tokens, "verify"))
            caught = (not correct) and bool(draws.catch[n_verify] < model.verify_catch)
            fixed = caught and bool(draws.fix[n_verify] < model.verify_fix)
            n_verify += 1
            correct = correct or fixed
            state = after_verify(model, state, caught=caught, fixed=fixed)
        else:
            state = finish(model, state, d.action)
            if d.action == "defer":
                ok = draws.human < model.human_quality
                success, wrong = ok, not ok
            else:
                success = state.has_answer and correct
                wrong = state.has_answer and not correct
            return Episode(
                decisions=tuple(decisions),
                state=state,
                success=success,
                wrong=wrong,
                deferred=d.action == "defer",
                calls=tracker.calls_used,
                cost=state.spent,
            )
        state = replace(state, budget=tracker.remaining)


@dataclass(frozen=True)
class SimulationResult:
    """Per-agent summary table and per-task outcomes of :func:`simulate_agents`.

    Attributes:
        params: the environment. seed: the seed. n_tasks: tasks simulated.
        table: ``{agent: {success_rate, mean_calls, mean_cost, mean_welfare, welfare_ci95,
            wrong_rate, defer_rate}}`` (``welfare_ci95``: half-width of a normal 95% interval
            of the mean welfare).
        per_task: ``{agent: {success, calls, cost, wrong, deferred, welfare}}`` arrays, plus
            ``{"tasks": {value, success_chance}}``.
        records: decision-log records of the controller's steps (when asked for).
    """

    params: SimulationParams
    seed: int
    n_tasks: int
    table: dict[str, dict[str, float]]
    per_task: dict[str, dict[str, NDArray[Any]]]
    records: list[dict[str, Any]]

    def rows(self) -> list[dict[str, Any]]:
        """The table as rows (``agent`` first), in :data:`AGENTS` order."""
        return [{"agent": a, **self.table[a]} for a in AGENTS]

    def format(self) -> str:
        """A fixed-width text table."""
        cols = ["success_rate", "mean_calls", "mean_cost", "mean_welfare", "welfare_ci95"]
        head = f"{'agent':<18}" + "".join(f"{c:>14}" for c in cols)
        lines = [head]
        for row in self.rows():
            lines.append(f"{row['agent']:<18}" + "".join(f"{row[c]:>14.4f}" for c in cols))
        return "\n".join(lines)


def _summary(
    success: NDArray[np.bool_],
    calls: NDArray[np.int64],
    cost: NDArray[np.float64],
    wrong: NDArray[np.bool_],
    deferred: NDArray[np.bool_],
    welfare: NDArray[np.float64],
) -> dict[str, float]:
    n = welfare.shape[0]
    sd = float(welfare.std(ddof=1)) if n > 1 else 0.0
    return {
        "success_rate": float(success.mean()),
        "mean_calls": float(calls.mean()),
        "mean_cost": float(cost.mean()),
        "mean_welfare": float(welfare.mean()),
        "welfare_ci95": 1.96 * sd / math.sqrt(n),
        "wrong_rate": float(wrong.mean()),
        "defer_rate": float(deferred.mean()),
    }


def _react(
    success_chance: NDArray[np.float64],
    act: NDArray[np.float64],
    looks: NDArray[np.float64],
    false_success: float,
    caps: NDArray[np.int64],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.int64]]:
    """Vectorised ReAct: act until an answer looks finished or the cap; (correct, wrong, calls)."""
    n, width = act.shape
    ok = act < success_chance[:, None]
    done = ok | (looks < false_success)
    done &= np.arange(width)[None, :] < caps[:, None]
    any_done = done.any(axis=1)
    first = np.argmax(done, axis=1)
    calls = np.where(any_done, first + 1, caps).astype(np.int64)
    correct = any_done & ok[np.arange(n), first]
    return correct, any_done & ~correct, calls


def simulate_agents(
    n_tasks: int = 2000,
    seed: int = 0,
    params: SimulationParams | None = None,
    *,
    keep_records: bool = False,
) -> SimulationResult:
    """Compare ReAct-100, ReAct-10 with a budget tracker, and the marginal-value controller.

    Args:
        n_tasks: number of synthetic tasks.
        seed: the seed (same seed, same table, bit for bit).
        params: the environment (defaults: :class:`SimulationParams`).
        keep_records: also return the controller's decision-log records (layer ``agent``).

    Returns:
        A :class:`SimulationResult` with success rate, mean calls, mean cost and mean welfare
        per agent.

    Raises:
        ConfigError: ``n_tasks < 1`` or a negative seed.
    """
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise ConfigError(f"simulate_agents: n_tasks must be an integer >= 1, got {n_tasks!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"simulate_agents: seed must be an integer >= 0, got {seed!r}")
    pr = params or SimulationParams()
    tasks = np.arange(n_tasks)
    width = max(pr.react_cap, pr.tracked_cap, pr.controller_cap)
    calls_idx = np.arange(width)
    u_value = uniform(seed, "agents/value", tasks)
    value = pr.value_low * (pr.value_high / pr.value_low) ** u_value
    difficulty = uniform(seed, "agents/difficulty", tasks)
    s = pr.success_hard + (pr.success_easy - pr.success_hard) * (1.0 - difficulty)
    act = uniform(seed, "agents/act", tasks[:, None], calls_idx[None, :])
    looks = uniform(seed, "agents/looks", tasks[:, None], calls_idx[None, :])
    catch = uniform(seed, "agents/catch", tasks[:, None], calls_idx[None, :])
    fix = uniform(seed, "agents/fix", tasks[:, None], calls_idx[None, :])
    human = uniform(seed, "agents/human", tasks)
    consequence = pr.consequence_ratio * value
    rho = pr.risk_price
    per_task: dict[str, dict[str, NDArray[Any]]] = {"tasks": {"value": value, "success_chance": s}}
    no = np.zeros(n_tasks, dtype=bool)

    def store(
        name: str,
        success: NDArray[np.bool_],
        wrong: NDArray[np.bool_],
        calls: NDArray[np.int64],
        cost: NDArray[np.float64],
        deferred: NDArray[np.bool_],
    ) -> None:
        welfare = value * success - cost - rho * consequence * wrong
        per_task[name] = {
            "success": success,
            "calls": calls,
            "cost": cost,
            "wrong": wrong,
            "deferred": deferred,
            "welfare": welfare,
        }

    # (a) ReAct with a 100-call cap.
    caps = np.full(n_tasks, pr.react_cap, dtype=np.int64)
    ok, wrong, calls = _react(s, act, looks, pr.false_success, caps)
    store("react-100", ok, wrong, calls, calls.astype(np.float64) * pr.call_cost, no)

    # (b) ReAct with a 10-call cap and a budget tracker.
    s_bar = 0.5 * (pr.success_easy + pr.success_hard)
    tracked_calls = np.zeros(n_tasks, dtype=np.int64)
    for i in range(n_tasks):
        tracker = BudgetTracker(calls=pr.tracked_cap)
        call = ToolCall(pr.call_cost, 0, "act")
        next_net = Prices(value=float(value[i]), table=_TABLE).net_value(s_bar, pr.call_cost)
        while tracker.can_afford(call) and float(next_net) > 0.0:
            tracker.record(call)
            k = tracker.calls_used - 1
            if act[i, k] < s[i] or looks[i, k] < pr.false_success:
                break
        tracked_calls[i] = tracker.calls_used
    # Replaying the draws up to each task's call count gives its outcome (no calls: no answer).
    ok, wrong, _ = _react(s, act, looks, pr.false_success, tracked_calls)
    cost_b = tracked_calls.astype(np.float64) * pr.call_cost
    store("react-10+tracker", ok, wrong, tracked_calls, cost_b, no)

    # (c) The marginal-value controller.
    results = np.zeros((n_tasks, 3), dtype=bool)
    c_calls = np.zeros(n_tasks, dtype=np.int64)
    c_cost = np.zeros(n_tasks, dtype=np.float64)
    records: list[dict[str, Any]] = []
    for i in range(n_tasks):
        prices = Prices(value=float(value[i]), risk=rho, table=_TABLE)
        model = pr.task_model(float(value[i]), float(s[i]))
        draws = EpisodeDraws(act[i], looks[i], catch[i], fix[i], float(human[i]))
        ep = run_controller_episode(prices, model, draws, BudgetTracker(calls=pr.controller_cap))
        results[i] = (ep.success, ep.wrong, ep.deferred)
        c_calls[i] = ep.calls
        c_cost[i] = ep.cost
        if keep_records:
            records.extend(step_records(ep.decisions, f"task-{i}", model))
    store("marginal", results[:, 0], results[:, 1], c_calls, c_cost, results[:, 2])

    table = {
        a: _summary(
            per_task[a]["success"],
            per_task[a]["calls"],
            per_task[a]["cost"],
            per_task[a]["wrong"],
            per_task[a]["deferred"],
            per_task[a]["welfare"],
        )
        for a in AGENTS
    }
    return SimulationResult(pr, seed, n_tasks, table, per_task, records)


_TABLE = PriceTable.from_mapping({"none": {"input": 0.0, "output": 0.0}}, source="simulation")
"""The simulation prices no tokens by model; a one-entry table avoids loading the default."""
