"""Agent controller, autonomy, autonomy schedule, budget tracker and the agent simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tokenomy.allocate.agent_simulation import (
    AGENTS,
    EpisodeDraws,
    SimulationParams,
    run_controller_episode,
    simulate_agents,
)
from tokenomy.allocate.autonomy import (
    DEFAULT_APPROVALS,
    AutonomyModel,
    AutonomySchedule,
    authorise,
    autonomy_record,
    choose_autonomy,
)
from tokenomy.allocate.budget_tracker import (
    BudgetExceededError,
    BudgetTracker,
    Remaining,
    ToolCall,
)
from tokenomy.allocate.controller import (
    ACTIONS,
    TaskModel,
    TaskState,
    after_act,
    after_verify,
    decide,
    step_options,
    step_records,
)
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices, PriceTable

TABLE = PriceTable.default()


def prices(value: float, *, risk: float = 0.0, latency: float = 0.0) -> Prices:
    return Prices(value=value, latency=latency, risk=risk, table=TABLE)


# ---------------------------------------------------------------- budget tracker


def test_budget_message_matches_the_specified_text():
    tracker = BudgetTracker(calls=10, dollars=0.05)
    for _ in range(3):
        tracker.record(ToolCall(dollars=0.004, name="search"))
    assert tracker.message() == (
        "Budget: 3 of 10 tool calls used, $0.012 of $0.050; 7 calls and $0.038 left."
    )
    assert tracker.remaining.calls == 7
    assert not tracker.exhausted


def test_budget_exhaustion_and_refusal_leave_the_tracker_unchanged():
    tracker = BudgetTracker(calls=2, dollars=1.0)
    tracker.record(ToolCall(0.1))
    tracker.record(ToolCall(0.1))
    assert tracker.exhausted
    assert tracker.exhausted_limits() == ["calls"]
    assert tracker.message().endswith(
        "0 calls and $0.800 left. Budget exhausted (calls): make no more calls."
    )
    with pytest.raises(BudgetExceededError, match="call limit: 2 of 2"):
        tracker.record(ToolCall(0.1, name="search"))
    assert tracker.calls_used == 2
    assert tracker.dollars_used == 0.2


def test_budget_refuses_an_overdraft_in_dollars_and_tokens():
    tracker = BudgetTracker(dollars=0.05, tokens=1000)
    tracker.record(ToolCall(0.03, tokens=400))
    with pytest.raises(BudgetExceededError, match=r"dollar limit: it costs \$0\.030 and \$0\.020"):
        tracker.record(ToolCall(0.03, name="big"))
    with pytest.raises(BudgetExceededError, match="token limit: it uses 700 tokens and 600"):
        tracker.record(ToolCall(0.0, tokens=700))
    assert (tracker.calls_used, tracker.tokens_used) == (1, 400)
    assert tracker.message() == (
        "Budget: 1 tool call used, $0.030 of $0.050, 400 of 1,000 tokens; $0.020 and 600 "
        "tokens left."
    )


def test_budget_sums_dollars_exactly():
    tracker = BudgetTracker(dollars=0.05)
    for _ in range(5):
        tracker.record(ToolCall(0.01))
    assert tracker.remaining.dollars == 0.0
    assert tracker.exhausted_limits() == ["dollars"]
    assert not tracker.can_afford(ToolCall(1e-6))
    assert tracker.can_afford(ToolCall(0.0))


def test_budget_message_is_deterministic_and_handles_no_limits():
    a, b = BudgetTracker(), BudgetTracker()
    for t in (a, b):
        t.record(ToolCall(0.0125, tokens=1200))
    assert (
        a.message()
        == b.message()
        == "Budget: 1 tool call used, $0.013 spent, 1,200 tokens; no limits set."
    )


@pytest.mark.parametrize("kwargs", [{"calls": -1}, {"dollars": float("nan")}, {"tokens": 1.5}])
def test_budget_rejects_bad_limits(kwargs):
    with pytest.raises(ConfigError, match="BudgetTracker"):
        BudgetTracker(**kwargs)


def test_tool_call_rejects_negative_cost():
    with pytest.raises(ConfigError, match=r"ToolCall\.dollars"):
        ToolCall(-0.01)


# ---------------------------------------------------------------- controller


def held(p: float) -> TaskState:
    """A state holding an answer that is correct with probability ``p`` (no budget limits)."""
    return TaskState(p=p, has_answer=True, planned=True)


def test_verifies_exactly_when_verification_net_value_is_positive():
    p, catch, fix, consequence, latency = 0.6, 0.8, 0.5, 3.0, 2.0
    rho, lam = 0.5, 0.1
    seen = set()
    for value in np.linspace(0.0, 5.0, 21):
        for cost in (0.001, 0.05, 0.2, 0.5, 1.0, 2.0):
            model = TaskModel(
                verify_cost=cost,
                verify_latency=latency,
                verify_catch=catch,
                verify_fix=fix,
                consequence=consequence,
                human_cost=1e9,
            )
            d = decide(prices(float(value), risk=rho, latency=lam), model, held(p))
            # The formula, written out: V·ΔQ_v − ΔC_v − λ·ΔL_v − ρ·ΔR_v.
            dq = (1 - p) * catch * fix
            dr = -(1 - p) * catch * consequence
            net = value * dq - cost - lam * latency - rho * dr
            if abs(net) < 1e-9:
                continue
            assert (d.action == "verify") == (net > 0), (value, cost, net, d.action)
            assert d.net_of("verify") == pytest.approx(net, rel=1e-12, abs=1e-12)
            seen.add(d.action)
    assert seen == {"verify", "stop"}


def test_stops_when_no_option_has_positive_net_value():
    model = TaskModel(act_success=0.05, planned_success=0.06, human_cost=50.0)
    d = decide(prices(0.05, risk=1.0), model, TaskState())
    assert d.action == "stop"
    offered = [n for n in d.options.names if n != "stop"]
    assert offered == ["plan", "act", "defer"]
    assert all(d.net_of(n) <= 0 for n in offered)
    # A known-correct answer is not worth verifying: stop (submit).
    assert decide(prices(100.0, risk=1.0), model, held(1.0)).action == "stop"


def test_defers_when_the_human_has_the_highest_net_value():
    model = TaskModel(
        act_success=0.01,
        planned_success=0.012,
        human_quality=0.99,
        human_cost=2.0,
        human_latency=60.0,
        consequence=10.0,
    )
    pr = prices(100.0, risk=1.0, latency=0.001)
    d = decide(pr, model, TaskState())
    by_hand = 100.0 * 0.99 - 2.0 - 0.001 * 60.0 - 1.0 * (1 - 0.99) * 10.0
    assert d.action == "defer"
    assert d.net_of("defer") == pytest.approx(by_hand, rel=1e-12)
    assert d.net_of("defer") == max(d.net.tolist())
    # Make the human expensive and the agent good: the controller acts instead.
    cheap = TaskModel(act_success=0.5, planned_success=0.5, human_cost=2000.0)
    assert decide(pr, cheap, TaskState()).action == "act"


def test_option_effects_follow_the_documented_formulas():
    m = TaskModel(act_success=0.2, planned_success=0.35, false_success=0.1, consequence=4.0)
    state = TaskState(budget=Remaining(calls=3, dollars=None, tokens=None))
    opts = step_options(m, state)
    assert opts.names == ("plan", "act", "defer", "stop")

    def acts(s: float, n: int) -> float:  # Σ_{k<n} ((1−s)(1−f))^k, summed term by term
        return sum(((1 - s) * (1 - 0.1)) ** k for k in range(n))

    a3, a2 = acts(0.2, 3), acts(0.35, 2)
    assert opts.dq[1] == pytest.approx(0.2 * a3, rel=1e-12)
    assert opts.dc[1] == pytest.approx(m.act_cost * a3, rel=1e-12)
    assert opts.dr[1] == pytest.approx(0.8 * 0.1 * 4.0 * a3, rel=1e-12)
    assert opts.dq[0] == pytest.approx(0.35 * a2, rel=1e-12)
    assert opts.dc[0] == pytest.approx(m.plan_cost + m.act_cost * a2, rel=1e-12)
    assert opts.dr[0] == pytest.approx(0.65 * 0.1 * 4.0 * a2, rel=1e-12)
    assert (opts.dq[3], opts.dc[3], opts.dl[3], opts.dr[3]) == (0, 0, 0, 0)
    # With one call left there is no room to plan and act.
    assert step_options(m, TaskState(budget=Remaining(1, None, None))).names == (
        "act",
        "defer",
        "stop",
    )


def test_belief_updates_are_bayes_rule():
    m = TaskModel(act_success=0.3, planned_success=0.3, false_success=0.2, verify_catch=0.7)
    s = after_act(m, TaskState(), looks_done=True)
    assert s.p == pytest.approx(0.3 / (0.3 + 0.7 * 0.2), rel=1e-12)
    assert s.unverified_error == pytest.approx(1 - s.p)
    passed = after_verify(m, s, caught=False, fixed=False)
    assert passed.p == pytest.approx(s.p / (s.p + (1 - s.p) * 0.3), rel=1e-12)
    withdrawn = after_verify(m, s, caught=True, fixed=False)
    assert (withdrawn.has_answer, withdrawn.p, withdrawn.unverified_error) == (False, 0.0, 0.0)
    assert after_verify(m, s, caught=True, fixed=True).p == 1.0


def draws_for(rng: np.random.Generator, width: int = 64) -> EpisodeDraws:
    return EpisodeDraws(
        rng.random(width),
        rng.random(width),
        rng.random(width),
        rng.random(width),
        float(rng.random()),
    )


def test_controller_beliefs_are_calibrated_in_the_environment():
    """Among answers submitted, the believed p matches the realised correctness rate."""
    rng = np.random.default_rng(7)
    model = TaskModel(
        act_success=0.25,
        planned_success=0.3,
        false_success=0.3,
        verify_catch=0.6,
        verify_fix=0.3,
        consequence=1.0,
        human_cost=100.0,
    )
    pr = prices(3.0, risk=1.0)
    beliefs, outcomes = [], []
    for _ in range(4000):
        ep = run_controller_episode(pr, model, draws_for(rng), BudgetTracker(calls=12))
        if ep.state.has_answer:
            beliefs.append(ep.state.p)
            outcomes.append(ep.success)
    b, o = np.asarray(beliefs), np.asarray(outcomes, dtype=float)
    se = math.sqrt(np.mean(b * (1 - b)) / len(b))
    assert len(b) > 1000
    assert abs(o.mean() - b.mean()) < 4 * se


@pytest.mark.parametrize("seed", range(5))
def test_controller_never_exceeds_its_budget(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        s = float(rng.uniform(0.01, 0.8))
        model = TaskModel(
            act_success=s,
            planned_success=min(1.0, 1.5 * s),
            act_cost=float(rng.uniform(0.001, 0.2)),
            verify_cost=float(rng.uniform(0.001, 0.2)),
            plan_cost=float(rng.uniform(0.001, 0.2)),
            human_cost=float(rng.uniform(0.1, 3.0)),
            act_tokens=int(rng.integers(100, 2000)),
            consequence=float(rng.uniform(0, 20)),
        )
        calls, dollars, tokens = int(rng.integers(0, 12)), float(rng.uniform(0, 1)), 8000
        tracker = BudgetTracker(calls=calls, dollars=dollars, tokens=tokens)
        ep = run_controller_episode(
            prices(float(rng.uniform(0, 50)), risk=1.0), model, draws_for(rng), tracker
        )
        assert ep.calls <= calls
        assert ep.cost <= dollars + 1e-12
        assert tracker.tokens_used <= tokens


def test_step_records_follow_the_log_schema():
    rng = np.random.default_rng(3)
    model = TaskModel(act_success=0.3, planned_success=0.45, human_cost=100.0)
    ep = run_controller_episode(prices(5.0, risk=1.0), model, draws_for(rng), BudgetTracker(10))
    records = step_records(ep.decisions, "t-1", model)
    assert len(records) == len(ep.decisions) >= 2
    for k, rec in enumerate(records):
        assert json.loads(json.dumps(rec)) == rec
        assert rec["id"] == f"t-1-s{k}"
        assert (rec["layer"], rec["kind"]) == ("agent", "step")
        assert rec["prices"] == {"value": 5.0, "latency": 0.0, "risk": 1.0}
        names = [o["name"] for o in rec["options"]]
        assert set(names) <= set(ACTIONS) and names[-1] == "stop"
        assert rec["chosen"] in names
        expected = model.verify_tokens if rec["chosen"] == "verify" else 0
        assert rec["outcome"] == {"verify_tokens": expected}
    assert records[-1]["chosen"] == "stop"


def test_task_model_rejects_bad_parameters():
    with pytest.raises(ConfigError, match="act_success"):
        TaskModel(act_success=1.5)
    with pytest.raises(ConfigError, match="planned_success"):
        TaskModel(act_success=0.5, planned_success=0.4)
    with pytest.raises(ConfigError, match="finished"):
        step_options(TaskModel(), TaskState(finished="stop"))


# ---------------------------------------------------------------- autonomy


def test_grid_optimum_matches_the_closed_form():
    # β = 1, γ = 2, η = 1: U'(a) = V·Δp − c₁ + h − 2ρ·r·a, so a* = (V·Δp − c₁ + h)/(2ρr).
    model = AutonomyModel(
        p_low=0.4,
        p_high=0.8,
        p_shape=1.0,
        risk_scale=2.0,
        risk_shape=2.0,
        oversight_cost=0.5,
        oversight_shape=1.0,
        cost_base=0.1,
        cost_slope=0.3,
    )
    value, rho = 5.0, 1.5
    a_star = (value * 0.4 - 0.3 + 0.5) / (2 * rho * 2.0)
    grid = 1001
    choice = choose_autonomy(prices(value, risk=rho), model, grid=grid)
    assert choice.interior
    assert abs(choice.level - a_star) <= 0.5 / (grid - 1) + 1e-15
    assert choice.foc_level == pytest.approx(a_star, abs=1e-12)
    u_star = (
        value * (0.4 + 0.4 * a_star)
        - (0.1 + 0.3 * a_star)
        - rho * 2.0 * a_star**2
        - 0.5 * (1 - a_star)
    )
    assert choice.utility <= u_star + 1e-12
    assert choice.utility >= u_star - rho * 2.0 * (1 / (grid - 1)) ** 2


def test_first_order_condition_holds_for_a_curved_model():
    model = AutonomyModel(
        p_low=0.5,
        p_high=0.9,
        p_shape=0.5,
        risk_scale=1.0,
        risk_shape=3.0,
        oversight_cost=1.0,
        oversight_shape=2.0,
    )
    pr = prices(4.0, risk=2.0)
    choice = choose_autonomy(pr, model, grid=201)
    assert choice.interior and choice.foc_level is not None
    a = choice.foc_level
    # V·p'(a) = C'(a) + ρ·R'(a) + H'(a), derivatives written out by hand.
    lhs = 4.0 * 0.4 * 0.5 * a**-0.5
    rhs = 0.0 + 2.0 * 1.0 * 3.0 * a**2 + (-1.0 * 2.0 * (1 - a))
    assert lhs == pytest.approx(rhs, rel=1e-9)
    # And it is the maximum of U on a fine grid.
    fine = np.linspace(0, 1, 200_001)
    assert model.utility(pr, a) >= model.utility(pr, fine).max() - 1e-12


def test_higher_risk_price_lowers_autonomy():
    model = AutonomyModel()
    choices = [choose_autonomy(prices(5.0, risk=rho), model) for rho in (2, 3, 4, 8, 16, 32)]
    assert all(c.interior and c.foc_level is not None for c in choices)
    assert np.all(np.diff([c.level for c in choices]) <= 0)
    assert np.all(np.diff([c.foc_level for c in choices]) < 0)
    free = choose_autonomy(prices(5.0, risk=0.0), model)
    assert (free.level, free.interior, free.foc_level) == (1.0, False, None)


def test_autonomy_record():
    model = AutonomyModel()
    pr = prices(5.0, risk=3.0)
    rec = autonomy_record(pr, model, "a-1", succeeded=True)
    assert (rec["layer"], rec["kind"], rec["outcome"]) == ("agent", "autonomy", {"succeeded": True})
    levels = [o["level"] for o in rec["options"]]
    assert levels == pytest.approx(np.linspace(0, 1, 11).tolist())
    nets = [pr.net_value(o["dq"], o["dc"], o["dl"], o["dr"]) for o in rec["options"]]
    assert rec["chosen"] == rec["options"][int(np.argmax(nets))]["name"]
    assert rec["options"][0]["dc"] == pytest.approx(model.oversight_cost)  # H(0) = h
    assert autonomy_record(pr, model, "a-2")["outcome"] == {}


# ---------------------------------------------------------------- autonomy schedule


def test_schedule_rules():
    for free in ("read", "draft"):
        assert authorise(free).allowed
    assert not authorise("commit").allowed
    assert authorise("commit", ["alice"]).allowed
    for cls in ("deploy", "transfer"):
        assert not authorise(cls, ["alice"]).allowed
        assert not authorise(cls, ["alice", "alice", " "]).allowed
        ok = authorise(cls, ["alice", "bob"])
        assert ok.allowed and (ok.required, ok.approvals) == (2, 2)
    denied = authorise("deploy", ["agent-7", "alice"], actor="agent-7")
    assert not denied.allowed and "own approval does not count" in denied.reason
    strict = AutonomySchedule({**DEFAULT_APPROVALS, "deploy": 3})
    assert not strict.authorise("deploy", ["a", "b"]).allowed
    assert strict.authorise("deploy", ["a", "b", "c"]).allowed


def test_schedule_unknown_class_lists_the_classes():
    with pytest.raises(ConfigError) as err:
        authorise("delete")
    for cls in DEFAULT_APPROVALS:
        assert cls in str(err.value)
    with pytest.raises(ConfigError, match="integer >= 0"):
        AutonomySchedule({"deploy": -1})


# ---------------------------------------------------------------- simulation


@pytest.fixture(scope="module")
def simulation():
    return simulate_agents(2000, seed=0)


def test_simulation_is_deterministic():
    a = simulate_agents(300, seed=11)
    b = simulate_agents(300, seed=11)
    assert a.table == b.table
    for agent in AGENTS:
        for key, arr in a.per_task[agent].items():
            np.testing.assert_array_equal(arr, b.per_task[agent][key])
    assert simulate_agents(300, seed=12).table != a.table


def test_controller_welfare_beats_the_fixed_agents(simulation):
    table = simulation.table
    w = {a: simulation.per_task[a]["welfare"] for a in AGENTS}
    for fixed in ("react-100", "react-10+tracker"):
        assert table["marginal"]["mean_welfare"] >= table[fixed]["mean_welfare"]
        diff = w["marginal"] - w[fixed]
        half = 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)
        assert diff.mean() - half > 0, (fixed, diff.mean(), half)


def test_simulation_caps_and_common_draws(simulation):
    pt = simulation.per_task
    assert pt["react-100"]["calls"].max() <= 100
    assert pt["react-10+tracker"]["calls"].max() <= 10
    assert pt["marginal"]["calls"].max() <= 10
    # Same draws: the tracked agent runs the same calls as ReAct-100, cut at 10.
    np.testing.assert_array_equal(
        pt["react-10+tracker"]["calls"], np.minimum(pt["react-100"]["calls"], 10)
    )
    row = simulation.rows()[0]
    assert list(row)[:5] == ["agent", "success_rate", "mean_calls", "mean_cost", "mean_welfare"]
    assert "marginal" in simulation.format()


def test_simulation_records_are_kept_on_request():
    result = simulate_agents(20, seed=1, keep_records=True)
    assert result.records and all(r["layer"] == "agent" for r in result.records)
    assert simulate_agents(20, seed=1).records == []


def test_simulation_rejects_bad_settings():
    with pytest.raises(ConfigError, match="n_tasks"):
        simulate_agents(0)
    with pytest.raises(ConfigError, match="react_cap"):
        SimulationParams(react_cap=0)
