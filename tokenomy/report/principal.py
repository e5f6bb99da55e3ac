"""Report sections for choice experiments (``summary.json`` kind ``principal-run``).

One figure — the override rate (a parsed choice against the customer's stated preference) per
information condition with Wilson 95% interval bars, one panel per scenario, one series per
model and temperature — then the outcome table, the choice shares and the condition tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenomy.principal.scenarios import CONDITIONS
from tokenomy.report.builder import Section, TableBlock, _fig, _html_table
from tokenomy.report.figures import PALETTE


def override_figure(outcomes: pd.DataFrame) -> Figure:
    """Override rate per condition with Wilson 95% bars; a panel per scenario, a series per model.

    Args:
        outcomes: :func:`tokenomy.principal.analysis.outcome_table`'s columns.
    """
    scenarios = sorted(outcomes["scenario"].unique())
    fig = Figure(figsize=(4.2 * max(len(scenarios), 1), 3.4))
    axes = fig.subplots(1, max(len(scenarios), 1), squeeze=False)[0]
    series = sorted(
        {(m, float(t)) for m, t in zip(outcomes["model"], outcomes["temperature"], strict=True)}
    )
    width = 0.8 / max(len(series), 1)
    for ax, scenario in zip(axes, scenarios, strict=False):
        part = outcomes[outcomes["scenario"] == scenario]
        conds = [c for c in CONDITIONS if c in set(part["condition"])]
        conds += sorted(set(part["condition"]) - set(conds))
        x = np.arange(len(conds))
        for j, (model, temp) in enumerate(series):
            rows = part[(part["model"] == model) & (part["temperature"] == temp)].set_index(
                "condition"
            )
            rate = np.array([rows["override_rate"].get(c, np.nan) for c in conds], dtype=float)
            lo = np.array([rows["lo"].get(c, np.nan) for c in conds], dtype=float)
            hi = np.array([rows["hi"].get(c, np.nan) for c in conds], dtype=float)
            pos = x - 0.4 + width * (j + 0.5)
            color = PALETTE[j % len(PALETTE)]
            ax.bar(pos, rate, width * 0.9, color=color, alpha=0.75, label=f"{model} (T={temp:g})")
            ax.errorbar(
                pos, rate, yerr=[rate - lo, hi - rate], fmt="none", ecolor="black", capsize=3
            )
        ax.set_xticks(x, conds, rotation=20)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{scenario}: override rate (Wilson 95%)")
        ax.set_ylabel("share choosing against the customer's preference")
        ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def principal_sections(folder: Path, summary: dict[str, Any]) -> list[Section]:
    """Sections of a ``principal-run`` folder's report."""
    outcomes = pd.DataFrame(summary.get("outcomes", []))
    shares = pd.DataFrame(summary.get("shares", []))
    tests = pd.DataFrame(summary.get("tests", []))
    design = summary.get("design", {})
    backend = summary.get("backend", {})
    intro = (
        f"{summary.get('samples', 0)} samples ({summary.get('unparsed', 0)} unparsed): "
        f"scenarios {', '.join(design.get('scenarios', []))}; models "
        f"{', '.join(design.get('models', []))}; temperatures {design.get('temperatures')}; "
        f"n = {design.get('n')} per cell; backend {backend.get('kind', '?')}."
    )
    findings = []
    if not tests.empty:
        for row in tests[tests["test"] == "chi2"].itertuples(index=False):
            findings.append(
                f"{row.model} (T={row.temperature:g}), {row.scenario}: chi-square over conditions "
                f"= {row.statistic:.2f} (dof {row.dof}), p = {row.p_value:.3g}"
            )
    main = Section("Choices by information condition", intro=intro, findings=findings)
    if not outcomes.empty:
        main.figures.append(
            _fig(override_figure(outcomes), "Override rate per condition, model and scenario")
        )
        main.tables.append(TableBlock("Overrides per cell", _html_table(outcomes)))
    detail = Section("Choice shares and condition tests")
    if not shares.empty:
        detail.tables.append(TableBlock("Choice shares (Wilson 95%)", _html_table(shares)))
    if not tests.empty:
        detail.tables.append(
            TableBlock(
                "Does the condition change the choice? Fisher (pairs) and chi-square (all)",
                _html_table(tests),
            )
        )
    detail.note = f"Transcripts: {folder / 'transcripts.parquet'}"
    return [main, detail]


def delegation_figure(conditions: pd.DataFrame) -> Figure:
    """The user's utility loss and the override rate per condition, with 95% intervals."""
    fig = Figure(figsize=(9.0, 3.4))
    loss_ax, over_ax = fig.subplots(1, 2)
    names = list(conditions["condition"])
    x = np.arange(len(names))
    for ax, (value, ci, label) in zip(
        (loss_ax, over_ax),
        (
            ("utility_loss", "loss_ci", "user's utility loss per customer ($)"),
            ("override_rate", "override_ci", "override rate"),
        ),
        strict=True,
    ):
        mid = conditions[value].to_numpy(float)
        lo = np.array([c[0] for c in conditions[ci]], dtype=float)
        hi = np.array([c[1] for c in conditions[ci]], dtype=float)
        colors = [PALETTE[0] if n == "aligned" else PALETTE[1] for n in names]
        ax.bar(x, mid, 0.7, color=colors, alpha=0.8)
        ax.errorbar(x, mid, yerr=[mid - lo, hi - mid], fmt="none", ecolor="black", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(x, names, rotation=20)
        ax.set_ylabel(label)
    loss_ax.set_title("vs the aligned control (95% CI over seeds)")
    over_ax.set_title("paid other than the user's best offer")
    fig.tight_layout()
    return fig


def delegation_sections(summary: dict[str, Any]) -> list[Section]:
    """Sections of a ``principal-delegation`` folder's report."""
    conditions = pd.DataFrame(summary["conditions"])
    spec = summary.get("spec", {})
    worst = conditions[conditions["condition"] != "aligned"].sort_values("utility_loss").iloc[-1]
    findings = [
        f"The aligned control's users get ${summary['control_mean_utility']:.2f} per customer "
        f"on average over {len(summary['seeds'])} seeds.",
        f"The largest loss is under '{worst['condition']}': ${worst['utility_loss']:.3f} per "
        f"customer [{worst['loss_ci'][0]:.3f}, {worst['loss_ci'][1]:.3f}], with an override "
        f"rate of {worst['override_rate']:.3f}.",
    ]
    table = conditions.assign(
        **{
            col: [f"[{a:.3f}, {b:.3f}]" for a, b in conditions[col]]
            for col in conditions.columns
            if col.endswith("_ci")
        }
    )
    keep = [c for c in table.columns if c not in ("losses",)]
    intro = (
        f"Market <code>{summary['market']}</code>. A delegate buys for its user while the "
        f"platform earns a fee on sponsored businesses; it weighs the platform's gain by "
        f"bias {spec.get('bias')} × (1 + {spec.get('platform_push')} if the platform sees its "
        f"explanation) × (1 − {spec.get('user_audit')} if the user does)."
    )
    return [
        Section(
            title="Delegated shopping",
            intro=intro,
            findings=findings,
            figures=[_fig(delegation_figure(conditions), "Loss and override rate per condition.")],
            tables=[TableBlock("Per condition", _html_table(table[keep]))],
        )
    ]
