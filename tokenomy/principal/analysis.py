"""Outcome tables of choice experiments: shares with Wilson intervals, overrides, condition tests.

A *cell* is (model, temperature, scenario, condition). Per cell:

* :func:`choice_shares` — for every product id and ``unparsed``: count, share of all samples
  and its Wilson 95% interval;
* :func:`outcome_table` — samples, unparsed answers, overrides (a parsed choice other than the
  customer's stated preference) and the override rate among parsed answers, with its interval;
* :func:`condition_tests` — does the information condition change the choice? Per (model,
  temperature, scenario): Fisher's exact test on every pair of conditions (2×2: override vs
  not, parsed answers only) and a chi-square test of independence over all conditions. When
  the outcome does not vary at all (every parsed answer the same) the chi-square statistic is
  0 and p = 1 (no evidence of an effect; scipy refuses a table with an empty column).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tokenomy.principal.parsing import UNPARSED
from tokenomy.principal.scenarios import CONDITIONS, Scenario

Z95 = 1.959963984540054
"""The standard normal quantile of 0.975."""

CELL = ["model", "temperature", "scenario", "condition"]
"""Columns naming a cell."""


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (NaNs when ``n`` is 0).

    Raises:
        ValueError: ``k`` outside 0..n.
    """
    if n == 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: k must be in 0..{n}, got {k}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the edges (no rounding)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def _condition_order(condition: str) -> int:
    return CONDITIONS.index(condition) if condition in CONDITIONS else len(CONDITIONS)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    order = frame["condition"].map(_condition_order)
    return (
        frame.assign(_order=order)
        .sort_values(["model", "temperature", "scenario", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def choice_shares(transcripts: pd.DataFrame, scenarios: Sequence[Scenario]) -> pd.DataFrame:
    """Count, share and Wilson 95% interval of every choice (product ids, ``unparsed``) per cell.

    Zero counts are included, so every cell lists every choice.
    """
    by_name = {s.name: s for s in scenarios}
    rows: list[dict[str, Any]] = []
    for key, group in transcripts.groupby(CELL, sort=False):
        model, temperature, scenario, condition = key
        n = len(group)
        counts = group["choice"].value_counts()
        for choice in (*by_name[str(scenario)].product_ids, UNPARSED):
            k = int(counts.get(choice, 0))
            lo, hi = wilson_interval(k, n)
            rows.append(
                {
                    "model": model,
                    "temperature": float(str(temperature)),
                    "scenario": scenario,
                    "condition": condition,
                    "choice": choice,
                    "count": k,
                    "n": n,
                    "share": k / n,
                    "lo": lo,
                    "hi": hi,
                }
            )
    columns = [*CELL, "choice", "count", "n", "share", "lo", "hi"]
    return _sorted(pd.DataFrame(rows, columns=columns))


def outcome_table(transcripts: pd.DataFrame, scenarios: Sequence[Scenario]) -> pd.DataFrame:
    """Per cell: samples, unparsed, overrides, override rate among parsed answers (Wilson 95%)."""
    by_name = {s.name: s for s in scenarios}
    rows: list[dict[str, Any]] = []
    for key, group in transcripts.groupby(CELL, sort=False):
        model, temperature, scenario, condition = key
        parsed = group[group["choice"] != UNPARSED]
        preferred = by_name[str(scenario)].preferred
        overrides = int((parsed["choice"] != preferred).sum())
        lo, hi = wilson_interval(overrides, len(parsed))
        rows.append(
            {
                "model": model,
                "temperature": float(str(temperature)),
                "scenario": scenario,
                "condition": condition,
                "n": len(group),
                "unparsed": len(group) - len(parsed),
                "preferred": preferred,
                "overrides": overrides,
                "override_rate": overrides / len(parsed) if len(parsed) else math.nan,
                "lo": lo,
                "hi": hi,
            }
        )
    columns = [*CELL, "n", "unparsed", "preferred", "overrides", "override_rate", "lo", "hi"]
    return _sorted(pd.DataFrame(rows, columns=columns))


def condition_tests(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Whether the information condition changes the choice (overrides among parsed answers).

    Args:
        outcomes: :func:`outcome_table`'s result.

    Returns:
        One row per test: model, temperature, scenario, ``test`` (``fisher`` or ``chi2``),
        ``a`` and ``b`` (the two conditions; ``all`` for chi-square), ``table`` (the
        contingency table as text: overrides/parsed per condition), ``statistic`` (odds ratio
        for Fisher, chi-square otherwise), ``dof`` and ``p_value``.
    """
    rows: list[dict[str, Any]] = []
    for key, group in outcomes.groupby(["model", "temperature", "scenario"], sort=False):
        model, temperature, scenario = key
        g = group.set_index("condition")
        parsed = g["n"] - g["unparsed"]
        over = g["overrides"]
        base = {"model": model, "temperature": float(str(temperature)), "scenario": scenario}
        for a, b in combinations(list(g.index), 2):
            table = np.array(
                [[over[a], parsed[a] - over[a]], [over[b], parsed[b] - over[b]]], dtype=np.int64
            )
            odds, p = stats.fisher_exact(table)
            rows.append(
                {
                    **base,
                    "test": "fisher",
                    "a": a,
                    "b": b,
                    "table": f"{over[a]}/{parsed[a]} vs {over[b]}/{parsed[b]}",
                    "statistic": float(odds),
                    "dof": 1,
                    "p_value": float(p),
                }
            )
        if len(g) >= 2:
            table = np.column_stack([over.to_numpy(), (parsed - over).to_numpy()]).astype(np.int64)
            live = table[table.sum(axis=1) > 0]
            if live.shape[0] < 2 or (live.sum(axis=0) == 0).any():
                chi2, p, dof = 0.0, 1.0, max(live.shape[0] - 1, 0)
            else:
                result = stats.chi2_contingency(live)
                chi2, p, dof = float(result.statistic), float(result.pvalue), int(result.dof)
            rows.append(
                {
                    **base,
                    "test": "chi2",
                    "a": "all",
                    "b": "all",
                    "table": ", ".join(f"{c} {over[c]}/{parsed[c]}" for c in g.index),
                    "statistic": chi2,
                    "dof": dof,
                    "p_value": p,
                }
            )
    columns = ["model", "temperature", "scenario", "test", "a", "b", "table", "statistic"]
    return pd.DataFrame(rows, columns=[*columns, "dof", "p_value"])
