"""Outcome table: Wilson intervals, override rates, condition tests on the replayed transcripts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tokenomy.principal.analysis import (
    choice_shares,
    condition_tests,
    outcome_table,
    wilson_interval,
)
from tokenomy.principal.runner import run_choices
from tokenomy.principal.scenarios import builtin_scenarios
from tokenomy.principal.tinmen import TinMenReplayChat, read_tinmen


@pytest.mark.parametrize(("k", "n"), [(0, 30), (1, 30), (21, 30), (29, 30), (30, 30), (3, 7)])
def test_wilson_matches_scipy(k, n):
    lo, hi = wilson_interval(k, n)
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)
    assert lo <= k / n <= hi


def test_wilson_edges():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="k must be in"):
        wilson_interval(5, 4)


@pytest.fixture(scope="module")
def replayed(tinmen):
    scenarios = list(builtin_scenarios().values())
    chat = TinMenReplayChat(read_tinmen(tinmen))
    run = run_choices(chat, scenarios, ["gpt-3.5-turbo", "gpt-4"], [0.2], 30)
    return run.transcripts, scenarios


def test_shares_cover_every_choice_and_sum_to_one(replayed):
    transcripts, scenarios = replayed
    shares = choice_shares(transcripts, scenarios)
    assert len(shares) == 16 * 3  # 16 cells × (two products + unparsed)
    sums = shares.groupby(["model", "scenario", "condition"])["share"].sum()
    assert np.allclose(sums, 1.0)
    assert (shares["lo"] <= shares["share"]).all() and (shares["share"] <= shares["hi"]).all()
    assert shares.groupby(["model", "scenario", "condition"])["count"].sum().eq(30).all()


def test_outcomes_and_overrides(replayed):
    transcripts, scenarios = replayed
    outcomes = outcome_table(transcripts, scenarios).set_index(["model", "scenario", "condition"])
    principal_only = outcomes.loc[("gpt-3.5-turbo", "shell", "principal-only")]
    assert principal_only["overrides"] == 21
    assert principal_only["override_rate"] == pytest.approx(21 / 30)
    assert outcomes.loc[("gpt-3.5-turbo", "shell", "customer-only"), "overrides"] == 0
    gpt4 = outcomes.loc["gpt-4"]
    assert (gpt4.loc["shell", "override_rate"] == 1.0).all()
    # Unparsed answers are counted per cell and kept out of the override rate's denominator.
    total = outcomes["unparsed"].sum()
    assert total == int((transcripts["choice"] == "unparsed").sum())


def test_condition_changes_gpt35_shell_choice_but_not_gpt4(replayed):
    transcripts, scenarios = replayed
    tests = condition_tests(outcome_table(transcripts, scenarios))
    fisher = tests[tests["test"] == "fisher"].set_index(["model", "scenario", "a", "b"])
    p = fisher.loc[("gpt-3.5-turbo", "shell", "customer-only", "principal-only"), "p_value"]
    assert p < 1e-6
    chi2 = tests[tests["test"] == "chi2"].set_index(["model", "scenario"])
    assert chi2.loc[("gpt-3.5-turbo", "shell"), "p_value"] < 1e-6
    gpt4 = tests[tests["model"] == "gpt-4"]
    assert len(gpt4) == 2 * (6 + 1)
    assert (gpt4["p_value"] == 1.0).all()


def test_chi_square_matches_scipy_on_a_varying_table():
    rows = []
    for condition, overrides in (("both", 5), ("customer-only", 1), ("neither", 9)):
        for i in range(10):
            rows.append(
                {
                    "model": "m",
                    "temperature": 0.2,
                    "scenario": "shell",
                    "condition": condition,
                    "choice": "2" if i < overrides else "1",
                }
            )
    outcomes = outcome_table(pd.DataFrame(rows), list(builtin_scenarios().values()))
    tests = condition_tests(outcomes)
    chi2 = tests[tests["test"] == "chi2"].iloc[0]
    ref = stats.chi2_contingency(np.array([[5, 5], [1, 9], [9, 1]]))
    assert chi2["statistic"] == pytest.approx(ref.statistic)
    assert chi2["p_value"] == pytest.approx(ref.pvalue)
