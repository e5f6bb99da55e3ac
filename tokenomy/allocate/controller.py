"""The agent controller: at each step, plan, act, verify, defer or stop — whichever pays most.

A task is worth ``V`` (dollars for a correct answer). At each step the controller is offered
the options ``plan``, ``act``, ``verify``, ``defer`` and ``stop`` with their marginal effects
``(ΔQ, ΔC, ΔL, ΔR)`` in the current state, and takes the one with the highest net value
``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR`` (:func:`tokenomy.allocate.rule.choose`); when no option's net
value is positive it stops. So it verifies exactly when verification's net value
``V·ΔQ_v − ΔC_v − λ·ΔL_v − ρ·ΔR_v`` is positive (and no other option pays more).

The task-state model (our choice; parameters in :class:`TaskModel`):

* **Acting.** A call produces a correct answer with probability ``s`` (``act_success``; ``s_p``
  = ``planned_success`` once the agent has planned). A wrong answer *looks* finished with
  probability ``f`` (``false_success``: a hallucinated success); otherwise it visibly fails and
  the agent holds nothing. A correct answer always looks finished. After an answer that looks
  finished, the probability that it is correct is ``p = s/(s + (1 − s)·f)``.
* **Risk.** Submitting a wrong answer costs ``K`` (``consequence``, risk units priced at ``ρ``);
  an answer held with correctness ``p`` carries risk ``(1 − p)·K``. Stopping without an answer
  (giving up) carries none.
* **Verifying.** A verifier call catches a wrong answer with probability ``c``
  (``verify_catch``); a caught error is repaired with probability ``φ`` (``verify_fix``, the
  answer becomes correct), otherwise withdrawn (the agent holds nothing and may act again).
  When nothing is caught, ``p`` rises to ``p/(p + (1 − p)(1 − c))``.
* **Deferring.** The task goes to a human, who answers correctly with probability ``q_h`` at a
  stated cost and latency; the agent's own answer is discarded; the episode ends.
* **Budget.** The remaining budget (calls, dollars, tokens; :class:`~tokenomy.allocate.
  budget_tracker.Remaining`) is part of the state; an option that does not fit is not offered,
  so the controller never exceeds its budget.

Marginal effects of each option (``n`` = acts the remaining budget affords, at most
``horizon``; ``g = (1 − s)(1 − f)`` the chance that an act ends with nothing in hand;
``A(s, n) = (1 − gⁿ)/(1 − g)`` the expected number of acts until an answer looks finished):

=======  =====================  ===========================  ===============================
option   ΔQ                     ΔC                           ΔR
=======  =====================  ===========================  ===============================
act      ``s·A(s, n)``          ``c_a·A(s, n)``              ``(1 − s)·f·K·A(s, n)``
plan     ``s_p·A(s_p, n − 1)``  ``c_p + c_a·A(s_p, n − 1)``  ``(1 − s_p)·f·K·A(s_p, n − 1)``
verify   ``(1 − p)·c·φ``        ``c_v``                      ``−(1 − p)·c·K``
defer    ``q_h − p``            ``c_h``                      ``(1 − q_h)·K − (1 − p)·K``
stop     0                      0                            0
=======  =====================  ===========================  ===============================

(``p`` counts as 0, and the risk in hand as 0, when no answer is held.) ``act`` and ``plan``
are offered with no answer in hand, ``verify`` with one; ``plan`` once.
An act's effect is that of the acting run it starts (acts until an answer looks finished or
the budget runs out): its net value is the one-call net value times ``A``, so it has the same
sign as one call's, while comparing fairly with ``defer``, which settles the whole task.
``plan`` is "plan, then act with the plan". Verification's ``ΔQ`` counts repairs only, not
the option to act again after a withdrawn answer, so the controller verifies somewhat less
than a full look-ahead would. Latencies follow the same pattern as costs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.allocate.budget_tracker import Remaining
from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.rule import Options, choose, net_values
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices

__all__ = [
    "ACTIONS",
    "StepDecision",
    "TaskModel",
    "TaskState",
    "acts_affordable",
    "after_act",
    "after_plan",
    "after_verify",
    "decide",
    "finish",
    "step_options",
    "step_records",
]

ACTIONS = ("plan", "act", "verify", "defer", "stop")
"""The controller's options, in the order they are listed (ties go to the earlier one)."""

_PROBABILITIES = (
    "act_success",
    "planned_success",
    "false_success",
    "verify_catch",
    "verify_fix",
    "human_quality",
)
_TOKENS = ("act_tokens", "plan_tokens", "verify_tokens", "horizon")


@dataclass(frozen=True)
class TaskModel:
    """Parameters of one task and of the agent's actions on it (our model, see module doc).

    Attributes:
        act_success: ``s``, chance that one act (tool call) produces a correct answer.
        planned_success: ``s_p``, the same after planning (``>= act_success``).
        false_success: ``f``, chance that a wrong answer looks finished.
        act_cost: dollars per act. act_latency: seconds per act. act_tokens: tokens per act.
        plan_cost: dollars of planning. plan_latency: seconds. plan_tokens: tokens.
        verify_cost: dollars per verifier call. verify_latency: seconds.
        verify_tokens: tokens per verifier call (reported as ``verify_tokens`` in the log).
        verify_catch: ``c``, chance that verification catches a wrong answer.
        verify_fix: ``φ``, chance that a caught error is repaired.
        human_quality: ``q_h``, chance that the human's answer is correct.
        human_cost: dollars of deferring to the human. human_latency: seconds.
        consequence: ``K``, risk of submitting a wrong answer (priced at ``ρ``).
        horizon: most acts looked ahead when the budget does not bound them.
    """

    act_success: float = 0.3
    planned_success: float = 0.45
    false_success: float = 0.1
    act_cost: float = 0.02
    act_latency: float = 5.0
    act_tokens: int = 1500
    plan_cost: float = 0.02
    plan_latency: float = 5.0
    plan_tokens: int = 1500
    verify_cost: float = 0.01
    verify_latency: float = 3.0
    verify_tokens: int = 800
    verify_catch: float = 0.8
    verify_fix: float = 0.5
    human_quality: float = 0.95
    human_cost: float = 5.0
    human_latency: float = 3600.0
    consequence: float = 1.0
    horizon: int = 100

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _TOKENS:
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ConfigError(f"TaskModel.{f.name} must be an integer >= 0, got {v!r}")
                continue
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise ConfigError(f"TaskModel.{f.name} must be a finite number, got {v!r}")
            if f.name in _PROBABILITIES and not 0.0 <= v <= 1.0:
                raise ConfigError(f"TaskModel.{f.name} must be a probability in [0, 1], got {v!r}")
            if v < 0:
                raise ConfigError(f"TaskModel.{f.name} must be >= 0, got {v!r}")
        if self.planned_success < self.act_success:
            raise ConfigError(
                f"TaskModel.planned_success ({self.planned_success}) must be >= act_success "
                f"({self.act_success}): planning does not hurt"
            )
        if self.horizon < 1:
            raise ConfigError(f"TaskModel.horizon must be >= 1, got {self.horizon}")

    def looks_done_posterior(self, success: float) -> float:
        """``p = s/(s + (1 − s)·f)``: chance an answer that looks finished is correct."""
        den = success + (1.0 - success) * self.false_success
        return success / den if den > 0 else 0.0


@dataclass(frozen=True)
class TaskState:
    """The controller's state on one task.

    Attributes:
        p: probability that the answer in hand is correct (0 with no answer).
        has_answer: whether the agent holds an answer that looks finished.
        planned: whether it has planned.
        attempts: acts made. verifications: verifier calls made.
        spent: dollars spent on the task so far.
        budget: what is left of the budget (``Remaining``; ``None`` fields are unlimited).
        finished: ``None`` while working, else ``"stop"`` or ``"defer"``.
    """

    p: float = 0.0
    has_answer: bool = False
    planned: bool = False
    attempts: int = 0
    verifications: int = 0
    spent: float = 0.0
    budget: Remaining = field(default_factory=lambda: Remaining(None, None, None))
    finished: str | None = None

    @property
    def unverified_error(self) -> float:
        """Probability that a wrong answer is in hand, undetected: ``(1 − p)`` with an answer."""
        return (1.0 - self.p) if self.has_answer else 0.0

    def success_chance(self, model: TaskModel) -> float:
        """Per-act success chance in this state (``s``, or ``s_p`` after planning)."""
        return model.planned_success if self.planned else model.act_success


def _fits(budget: Remaining, calls: int, dollars: float, tokens: int) -> bool:
    if budget.calls is not None and calls > budget.calls:
        return False
    if budget.dollars is not None and dollars > budget.dollars + 1e-12:
        return False
    return budget.tokens is None or tokens <= budget.tokens


def acts_affordable(model: TaskModel, budget: Remaining, *, after_plan: bool = False) -> int:
    """How many acts the remaining budget pays for (at most ``model.horizon``).

    Args:
        model: the task model (cost and tokens of an act).
        budget: what is left.
        after_plan: set the plan's call, dollars and tokens aside first.
    """
    n = model.horizon
    calls, dollars, tokens = (1, model.plan_cost, model.plan_tokens) if after_plan else (0, 0.0, 0)
    if budget.calls is not None:
        n = min(n, budget.calls - calls)
    if budget.dollars is not None and model.act_cost > 0:
        n = min(n, math.floor((budget.dollars - dollars) / model.act_cost + 1e-9))
    if budget.tokens is not None and model.act_tokens > 0:
        n = min(n, (budget.tokens - tokens) // model.act_tokens)
    return max(n, 0)


def _expected_acts(success: float, false_success: float, n: int) -> float:
    """``A(s, n) = Σ_{k<n} gᵏ`` with ``g = (1 − s)(1 − f)``: expected acts in an acting run."""
    g = (1.0 - success) * (1.0 - false_success)
    if n <= 0:
        return 0.0
    if 1.0 - g < 1e-12:
        return float(n)
    return (1.0 - g**n) / (1.0 - g)


def step_options(model: TaskModel, state: TaskState) -> Options:
    """The options offered in ``state`` with their marginal ``(ΔQ, ΔC, ΔL, ΔR)``.

    ``stop`` (all zeros) is always last; options the budget cannot pay for are left out.

    Raises:
        ConfigError: the task is already finished.
    """
    if state.finished is not None:
        raise ConfigError(f"the task is finished ({state.finished}); no step is offered")
    names: list[str] = []
    rows: list[tuple[float, float, float, float]] = []
    k = model.consequence
    f = model.false_success
    budget = state.budget
    if not state.has_answer:
        if not state.planned and _fits(
            budget, 2, model.plan_cost + model.act_cost, model.plan_tokens + model.act_tokens
        ):
            n = acts_affordable(model, budget, after_plan=True)
            sp = model.planned_success
            a = _expected_acts(sp, f, n)
            names.append("plan")
            rows.append(
                (
                    sp * a,
                    model.plan_cost + model.act_cost * a,
                    model.plan_latency + model.act_latency * a,
                    (1.0 - sp) * f * k * a,
                )
            )
        n = acts_affordable(model, budget)
        if n >= 1:
            s = state.success_chance(model)
            a = _expected_acts(s, f, n)
            names.append("act")
            rows.append((s * a, model.act_cost * a, model.act_latency * a, (1.0 - s) * f * k * a))
    elif _fits(budget, 1, model.verify_cost, model.verify_tokens):
        miss = 1.0 - state.p
        c = model.verify_catch
        names.append("verify")
        rows.append(
            (miss * c * model.verify_fix, model.verify_cost, model.verify_latency, -miss * c * k)
        )
    if _fits(budget, 0, model.human_cost, 0):
        held = state.p if state.has_answer else 0.0
        names.append("defer")
        rows.append(
            (
                model.human_quality - held,
                model.human_cost,
                model.human_latency,
                (1.0 - model.human_quality) * k - state.unverified_error * k,
            )
        )
    names.append("stop")
    rows.append((0.0, 0.0, 0.0, 0.0))
    arr = np.asarray(rows, dtype=np.float64)
    return Options.of(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], names=names)


@dataclass(frozen=True)
class StepDecision:
    """One step's decision: the options offered, their net values, and the action taken."""

    action: str
    options: Options
    net: NDArray[np.float64]
    state: TaskState
    prices: Prices

    def net_of(self, name: str) -> float | None:
        """Net value of option ``name`` (``None`` when it was not offered)."""
        if name not in self.options.names:
            return None
        return float(self.net[self.options.names.index(name)])


def decide(prices: Prices, model: TaskModel, state: TaskState) -> StepDecision:
    """Take the option with the highest net value; ``stop`` when none is positive.

    Args:
        prices: ``V`` (the task's value), ``λ``, ``ρ``.
        model: the task model.
        state: the current state.
    """
    options = step_options(model, state)
    working = Options(
        names=options.names[:-1],
        dq=options.dq[:-1],
        dc=options.dc[:-1],
        dl=options.dl[:-1],
        dr=options.dr[:-1],
    )
    idx = choose(prices, working, allow_none=True) if len(working) else -1
    action = "stop" if idx < 0 else working.names[idx]
    return StepDecision(action, options, net_values(prices, options), state, prices)


def after_plan(model: TaskModel, state: TaskState) -> TaskState:
    """State after planning (the plan's cost is spent; acts now succeed with ``s_p``)."""
    return replace(state, planned=True, spent=state.spent + model.plan_cost)


def after_act(model: TaskModel, state: TaskState, *, looks_done: bool) -> TaskState:
    """State after an act whose answer looked finished (``looks_done``) or visibly failed."""
    p = model.looks_done_posterior(state.success_chance(model)) if looks_done else 0.0
    return replace(
        state,
        p=p,
        has_answer=looks_done,
        attempts=state.attempts + 1,
        spent=state.spent + model.act_cost,
    )


def after_verify(model: TaskModel, state: TaskState, *, caught: bool, fixed: bool) -> TaskState:
    """State after verification: passed (Bayes update), caught and repaired, or withdrawn."""
    spent = state.spent + model.verify_cost
    n = state.verifications + 1
    if not caught:
        miss = (1.0 - state.p) * (1.0 - model.verify_catch)
        p = state.p / (state.p + miss) if state.p + miss > 0 else 0.0
        return replace(state, p=p, verifications=n, spent=spent)
    if fixed:
        return replace(state, p=1.0, verifications=n, spent=spent)
    return replace(state, p=0.0, has_answer=False, verifications=n, spent=spent)


def finish(model: TaskModel, state: TaskState, action: str) -> TaskState:
    """State after ``stop`` (submit what is held, or give up) or ``defer`` (pay the human)."""
    if action == "defer":
        return replace(state, finished="defer", spent=state.spent + model.human_cost)
    if action == "stop":
        return replace(state, finished="stop")
    raise ConfigError(f"finish takes 'stop' or 'defer', got {action!r}")


def step_records(
    decisions: Sequence[StepDecision], task_id: str, model: TaskModel
) -> list[dict[str, Any]]:
    """Decision-log records (layer ``agent``, kind ``step``) of an episode's decisions.

    Ids are ``"{task_id}-s{k}"``; each outcome is ``{"verify_tokens": n}``, the verifier tokens
    spent on that step (``model.verify_tokens`` when it verified, else 0). A step that stopped
    records ``"stop"`` as chosen (its option has all-zero effects: nothing had positive value).
    """
    out = []
    for k, d in enumerate(decisions):
        tokens = model.verify_tokens if d.action == "verify" else 0
        out.append(
            decision_record(
                f"{task_id}-s{k}",
                "agent",
                d.prices,
                d.options,
                d.action,
                {"verify_tokens": tokens},
                kind="step",
            )
        )
    return out
