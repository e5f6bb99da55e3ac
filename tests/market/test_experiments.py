"""Sweeps, confidence intervals, and the paper's three studies on the published data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.market.experiments import (
    SweepSpec,
    aggregate,
    family_and_variant,
    mean_ci,
    parse_seeds,
    preset,
    run_sweep,
)
from tokenomy.results import read_summary, read_table


def test_mean_ci_is_the_student_t_interval():
    x = pd.Series([1.0, 2.0, 4.0, 7.0])
    mean, lo, hi, n = mean_ci(x)
    half = stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2
    assert (mean, n) == (3.5, 4)
    assert lo == pytest.approx(3.5 - half) and hi == pytest.approx(3.5 + half)
    assert math.isnan(mean_ci(pd.Series([5.0]))[1])
    assert mean_ci(pd.Series([np.nan]))[3] == 0
    assert mean_ci(pd.Series([999.2] * 5))[1:3] == (999.2, 999.2)


def test_aggregate_groups_and_clips_shares_to_the_unit_interval():
    runs = pd.DataFrame(
        {
            "p": ["a"] * 3 + ["b"] * 3,
            "welfare": [1, 2, 3, 5, 5, 5],
            "needs_met_rate": [1.0, 1.0, 0.0, 1, 1, 1],
        }
    )
    agg = aggregate(runs, ["p"], ["welfare", "needs_met_rate"]).set_index("p")
    assert agg.loc["a", "welfare"] == 2 and agg.loc["b", "welfare_ci_low"] == 5
    assert agg.loc["a", "needs_met_rate_ci_high"] == 1.0
    assert agg.loc["a", "needs_met_rate_ci_low"] >= 0.0


def test_seed_parsing():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,5, 9") == [1, 5, 9]
    with pytest.raises(ConfigError, match="cannot read"):
        parse_seeds("a-b")


def test_scenario_names_split_into_family_and_variant():
    assert family_and_variant("x/mexican_prompt_injection_basic") == (
        "mexican",
        "prompt_injection_basic",
    )
    assert family_and_variant("business_0001_first") == ("business_0001", "first")
    assert family_and_variant("contractors_control") == ("contractors", "control")


def test_a_small_sweep_writes_runs_customers_and_aggregate(magentic, tmp_path):
    spec = SweepSpec(
        data=[str(magentic / "mexican_10_30"), str(magentic / "mexican_3_9")],
        search=["lexical", "optimal"],
        limit=[1, 5],
        customer_policy=["rational", "bounded"],
        seeds=[0, 1],
    )
    assert spec.size() == 2 * 2 * 2 * 2 * 2
    result = run_sweep(spec)
    assert len(result.runs) == spec.size()
    assert result.customers.num_rows == 2 * 2 * 2 * 2 * (10 + 3)
    folder = result.save(tmp_path / "sweep")
    summary = read_summary(folder)
    assert summary["kind"] == "sweep" and summary["runs"] == 32
    agg = read_table(folder, "aggregate").to_pandas()
    assert len(agg) == 16 and (agg["welfare_n"] == 2).all()
    opt = agg[(agg.search == "optimal") & (agg.customer_policy == "rational") & (agg.limit == 5)]
    assert np.allclose(opt["welfare"], opt["optimal_welfare"])


def test_unknown_preset_and_per_policy_parameters(magentic):
    with pytest.raises(UnknownNameError, match="position-bias"):
        preset("position-bias-study", magentic)
    spec = SweepSpec(data=[str(magentic / "mexican_3_9")], customer_params={"bounded": {}})
    with pytest.raises(UnknownNameError):
        run_sweep(spec)


def test_consideration_set_study_welfare_falls_as_the_set_shrinks(magentic):
    spec = preset("consideration-set-size", magentic, seeds=[0, 1])
    spec = spec.model_copy(update={"customer_policy": ["rational", "first-proposal"]})
    agg = run_sweep(spec).aggregate
    rational = agg[agg.customer_policy == "rational"].sort_values("limit")
    welfare = rational["welfare"].to_numpy()
    assert list(rational["limit"]) == [1, 2, 3, 5, 10, 20, 50]
    assert np.all(np.diff(welfare) >= -1e-9)  # never rises as the set shrinks toward 1
    assert welfare[0] < 0.75 * welfare[-1]
    assert welfare[-1] <= rational["optimal_welfare"].iloc[0] + 1e-9
    first = agg[agg.customer_policy == "first-proposal"].sort_values("limit")
    assert first["welfare"].iloc[-1] < welfare[-1]  # paying the fastest offer costs welfare


def test_position_bias_study(magentic):
    agg = run_sweep(preset("position-bias", magentic, seeds=list(range(100)))).aggregate
    by_policy = agg.groupby("customer_policy")[["first_proposal_share", "first_proposal_chance"]]
    means = by_policy.mean()
    assert means.loc["first-proposal", "first_proposal_share"] == 1.0
    assert means.loc["rational", "first_proposal_chance"] == pytest.approx(1 / 3)
    # The 7 sets share their random numbers (common random numbers: keys are positions), so
    # there are 100 independent Bernoulli(1/3) tie-breaks: sd of the share 0.047; 3 sd = 0.14.
    assert abs(means.loc["rational", "first_proposal_share"] - 1 / 3) < 0.14
    assert (
        means.loc["bounded", "first_proposal_share"] > means.loc["rational", "first_proposal_share"]
    )


def test_manipulation_study(magentic):
    result = run_sweep(preset("manipulation", magentic, seeds=list(range(20))))
    agg = result.aggregate
    mal = agg[agg.data.str.startswith("malicious_description/mexican")]
    share = mal.set_index(["variant", "customer_policy"])["focal_share"]
    # rational customers ignore descriptions: three identical offers, business_0001 gets ~1/3
    rational = share.xs("rational", level="customer_policy")
    assert np.allclose(rational, rational["control"])
    assert abs(rational["control"] - 1 / 3) < 0.2
    # credulous bounded customers are captured by the authority and injection texts
    bounded = share.xs("bounded", level="customer_policy")
    assert bounded["authority"] > bounded["control"] + 0.3
    assert bounded["prompt_injection_strong"] > bounded["control"] + 0.3
