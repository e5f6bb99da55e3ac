"""Delegated shopping: the conflicted delegate vs the aligned control, the LLM delegate, and
households of several principals (authority, Σ w_i U_i, leak rate)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.llm import ChatRequest, ScriptedChat
from tokenomy.market.dataset import Market
from tokenomy.market.io import load_market
from tokenomy.market.runner import RunConfig, run_market
from tokenomy.principal.delegation import CONDITIONS, DelegationSpec, platform_terms
from tokenomy.principal.delegation_household import (
    Offer,
    Principal,
    decide,
    run_households,
    synthetic_households,
)
from tokenomy.principal.delegation_run import (
    DelegationResult,
    run_delegation,
    shop_command,
)

SEEDS = range(10)


@pytest.fixture(scope="module")
def mexican(magentic: Path) -> Market:
    """The 10 × 30 Mexican-restaurant market."""
    return load_market(magentic / "mexican_10_30")


@pytest.fixture(scope="module")
def result(mexican: Market) -> DelegationResult:
    """The scripted biased delegate (default spec) over ten seeds."""
    return run_delegation(mexican, DelegationSpec(), SEEDS)


# ------------------------------------------------------------------ scripted delegate
def test_conflicted_delegate_loses_user_utility(result: DelegationResult) -> None:
    for cond in ("neither", "platform-only"):
        row = result.row(cond)
        assert row.loss_ci[0] > 0, (cond, row)
        assert row.override_rate > 0
    assert result.row("platform-only").utility_loss >= result.row("neither").utility_loss


def test_aligned_control_loses_nothing(result: DelegationResult) -> None:
    row = result.row("aligned")
    assert row.losses == tuple(0.0 for _ in SEEDS)
    assert row.loss_ci == (0.0, 0.0)
    assert row.override_rate == 0.0


def test_audited_condition_loses_less_than_unaudited(result: DelegationResult) -> None:
    both, neither = result.row("both"), result.row("neither")
    assert both.utility_loss < neither.utility_loss
    assert both.override_rate < neither.override_rate
    # the platform gains what the user loses
    assert neither.platform_gain > result.row("aligned").platform_gain
    assert neither.sponsored_share > result.row("aligned").sponsored_share


def test_control_is_the_rational_customer(mexican: Market, result: DelegationResult) -> None:
    for seed in (0, 3):
        run = run_market(mexican, RunConfig(seed=seed, engine="event"))
        expected = run.summary["metrics"]["mean_utility"]
        assert result.runs[("aligned", seed)].mean_utility == pytest.approx(expected, abs=1e-9)


def test_overrides_go_to_paying_businesses(mexican: Market, result: DelegationResult) -> None:
    spec = DelegationSpec()
    for seed in SEEDS:
        terms = platform_terms(mexican, spec, seed)
        for d in result.runs[("neither", seed)].decisions:
            if d.chosen is not None:
                assert d.user_utility_micro > 0  # never pays an unacceptable proposal
            if d.override:
                assert terms.sponsored[mexican.business_index[d.chosen or ""]]
                assert d.platform_gain_micro > 0
                assert "platform earns" in d.explanation


def test_same_seed_same_result(mexican: Market, result: DelegationResult) -> None:
    again = run_delegation(mexican, DelegationSpec(), SEEDS)
    assert json.dumps(again.summary()) == json.dumps(result.summary())


def test_weight_mechanism() -> None:
    spec = DelegationSpec(bias=2.0, user_audit=0.5, platform_push=1.0)
    w = {c: spec.weight(c) for c in CONDITIONS}
    assert w == {"neither": 2.0, "platform-only": 4.0, "user-only": 1.0, "both": 2.0}
    assert all(spec.aligned().weight(c) == 0.0 for c in CONDITIONS)


def test_bad_input(mexican: Market) -> None:
    with pytest.raises(ConfigError, match="at least one seed"):
        run_delegation(mexican, DelegationSpec(), [])
    with pytest.raises(UnknownNameError, match="nobody"):
        run_delegation(mexican, DelegationSpec(sponsored=("nobody",)), [0])
    with pytest.raises(UnknownNameError, match="search algorithm"):
        run_delegation(mexican, DelegationSpec(search="psychic"), [0])
    with pytest.raises(ValidationError, match="bias"):
        DelegationSpec(bias=-1.0)


def test_shop_command_on_synthetic_market() -> None:
    out = shop_command(customers=20, businesses=60, seeds=3, sponsor_fee=8.0)
    text = json.dumps(out)  # JSON-ready
    assert json.loads(text)["kind"] == "principal-delegation"
    names = [r["condition"] for r in out["conditions"]]
    assert names == ["aligned", *CONDITIONS]
    assert out["conditions"][0]["losses"] == [0.0, 0.0, 0.0]
    neither = next(r for r in out["conditions"] if r["condition"] == "neither")
    assert neither["utility_loss"] > 0
    with pytest.raises(ConfigError, match="seeds"):
        shop_command(customers=5, businesses=15, seeds=0)


# ------------------------------------------------------------------ LLM delegate
_LINE = re.compile(r"^\{.*\}$", re.MULTILINE)


def _loyal_rule(request: ChatRequest) -> str:
    """Serves the platform unless the user will read the explanation."""
    system, user = request.messages[0].content, request.messages[-1].content
    assert "USER" in system and "PLATFORM" in system
    offers = [json.loads(m.group(0)) for m in _LINE.finditer(user)]
    if not offers:
        return json.dumps({"explanation": "nothing acceptable", "choice": None})
    audited = "shared with the user only" in system or "both the user" in system
    key = "user_gain" if audited else "platform_earns"
    best = max(offers, key=lambda o: (o[key], o["user_gain"]))
    return json.dumps({"explanation": f"chose {best['business']}", "choice": best["business"]})


def test_llm_delegate_follows_condition_in_prompt(mexican: Market) -> None:
    spec = DelegationSpec(conditions=("user-only", "platform-only"))
    res = run_delegation(mexican, spec, range(4), chat=ScriptedChat(_loyal_rule))
    assert res.row("user-only").losses == (0.0, 0.0, 0.0, 0.0)
    assert res.row("platform-only").utility_loss > 0
    assert res.row("platform-only").override_rate > res.row("user-only").override_rate
    picked = [d.explanation for d in res.runs[("platform-only", 0)].decisions]
    assert picked and all(e.startswith(("chose", "nothing")) for e in picked)


def test_llm_delegate_unusable_answer_pays_nothing(mexican: Market) -> None:
    spec = DelegationSpec(conditions=("neither",))
    res = run_delegation(mexican, spec, [0], chat=ScriptedChat(lambda _r: "no idea"))
    run = res.runs[("neither", 0)]
    assert run.payments == 0
    assert run.decisions and all(d.explanation == "unparsed answer" for d in run.decisions)


# ------------------------------------------------------------------ households
def _pair(parent_authority: float, teen_authority: float) -> list[Principal]:
    return [
        Principal("parent", parent_authority, {"taco": 10_000_000}, banned=frozenset({"b1"})),
        Principal("teen", teen_authority, {"soda": 3_000_000}, only="b1"),
    ]


OFFERS = [
    Offer("b1", {"taco": 9_000_000, "soda": 1_000_000}),
    Offer("b2", {"taco": 12_000_000, "soda": 2_000_000}),
]


def test_conflict_goes_to_the_higher_authority() -> None:
    d = decide(_pair(2.0, 1.0), OFFERS, careful=True)
    assert d.chosen == "b2"
    assert d.overruled == (("teen", "parent"),)
    flipped = decide(_pair(1.0, 2.0), OFFERS, careful=True)
    assert flipped.chosen == "b1"
    assert flipped.overruled == (("parent", "teen"),)
    # b2: parent 20 − 12, teen 6 − 2 (dollars)
    assert d.utilities == {"parent": 8_000_000, "teen": 4_000_000}


def test_weighted_objective_without_conflict() -> None:
    offers = [Offer("a", {"taco": 5_000_000}), Offer("b", {"soda": 1_000_000})]

    def members(w_parent: float) -> list[Principal]:
        return [
            Principal("parent", w_parent, {"taco": 4_000_000}),
            Principal("teen", 1.0, {"soda": 5_000_000}),
        ]

    # U_parent(a) = 3, U_teen(b) = 9 (dollars): the weights decide
    assert decide(members(1.0), offers, careful=True).chosen == "b"
    assert decide(members(4.0), offers, careful=True).chosen == "a"


def test_leak_rate_careful_vs_leaky() -> None:
    households = synthetic_households(100, seed=1)
    careful = run_households(households, careful=True)
    leaky = run_households(households, careful=False)
    assert careful.leak_rate == 0.0
    assert leaky.leak_rate > 0.0
    assert careful.mean_utility == leaky.mean_utility  # same choices, only the words differ
    principals, offers = households[0]
    d = decide(principals, offers, careful=False)
    budget = principals[0].private["budget"]
    assert d.chosen is None or budget in d.order_note
    assert budget in d.explanation and d.leaks > 0


def test_household_bad_input() -> None:
    with pytest.raises(ConfigError, match="unique"):
        decide([Principal("a", 1.0, {}), Principal("a", 2.0, {})], OFFERS, careful=True)
    with pytest.raises(ConfigError, match="authority"):
        decide([Principal("a", 0.0, {})], OFFERS, careful=True)
    with pytest.raises(ConfigError, match="at least one"):
        run_households([], careful=True)
