"""Figures for the HTML report, drawn with matplotlib's object API (no global pyplot state).

Each function takes plain tables (pandas) and returns a :class:`matplotlib.figure.Figure`;
:func:`to_data_uri` turns one into an embeddable PNG.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def to_data_uri(fig: Figure) -> str:
    """PNG data URI of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _ci(ax: object, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> None:
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.fill_between(x[ok], lo[ok], hi[ok], color=color, alpha=0.18, linewidth=0)  # type: ignore[attr-defined]


def welfare_vs_limit(agg: pd.DataFrame) -> Figure:
    """Welfare (mean, 95% CI over seeds) against the consideration-set size.

    One line per customer policy, with the optimal welfare; the customers' token cost on a
    second panel.
    """
    fig = Figure(figsize=(10, 4))
    ax, ax2 = fig.subplots(1, 2)
    for i, (policy, group) in enumerate(agg.groupby("customer_policy", sort=True)):
        g = group.sort_values("limit")
        x = g["limit"].to_numpy(float)
        color = PALETTE[i % len(PALETTE)]
        ax.plot(x, g["welfare"], marker="o", color=color, label=str(policy))
        _ci(ax, x, g["welfare_ci_low"].to_numpy(float), g["welfare_ci_high"].to_numpy(float), color)
        ax2.plot(x, g["token_cost_customers"] * 1000, marker="o", color=color, label=str(policy))
    optimum = agg["optimal_welfare"].dropna()
    if len(optimum):
        ax.axhline(float(optimum.iloc[0]), color="black", linestyle="--", label="optimal")
    ax.set_xscale("log")
    ax.set_xlabel("consideration-set size (search results)")
    ax.set_ylabel("welfare ($, consumer surplus)")
    ax.set_title("Welfare vs consideration-set size")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax2.set_xscale("log")
    ax2.set_xlabel("consideration-set size")
    ax2.set_ylabel("customers' token cost (m$)")
    ax2.set_title("Tokens spent reading results and replies")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def first_proposal_share(agg: pd.DataFrame) -> Figure:
    """First-proposal share per customer policy (mean, 95% CI) against the chance level 1/k."""
    g = agg.groupby("customer_policy", sort=True).agg(
        share=("first_proposal_share", "mean"),
        lo=("first_proposal_share_ci_low", "mean"),
        hi=("first_proposal_share_ci_high", "mean"),
        chance=("first_proposal_chance", "mean"),
    )
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    x = np.arange(len(g))
    ax.bar(x, g["share"], color=[PALETTE[i % len(PALETTE)] for i in range(len(g))], alpha=0.85)
    err = np.vstack([g["share"] - g["lo"], g["hi"] - g["share"]])
    ax.errorbar(x, g["share"], yerr=np.nan_to_num(err), fmt="none", color="black", capsize=4)
    for xi, chance in zip(x, g["chance"], strict=True):
        ax.hlines(chance, xi - 0.4, xi + 0.4, color="black", linestyle="--")
    ax.set_xticks(x, list(g.index))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share paying the first proposal")
    ax.set_title("First-proposal share (dashed: chance level 1/k)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def manipulation_share(agg: pd.DataFrame) -> Figure:
    """Share of payments captured by the focal business per variant and policy."""
    data = agg.dropna(subset=["focal_share"]).copy()
    data["group"] = data["data"].map(_scenario_group)
    panels = sorted(data["group"].unique())
    fig = Figure(figsize=(5.2 * max(len(panels), 1), 4))
    axes = np.atleast_1d(fig.subplots(1, max(len(panels), 1)))
    for ax, panel in zip(axes, panels, strict=False):
        d = data[data["group"] == panel]
        variants = sorted(d["variant"].unique(), key=lambda v: (v != "control", v))
        policies = sorted(d["customer_policy"].unique())
        width = 0.8 / max(len(policies), 1)
        for i, policy in enumerate(policies):
            dp = d[d["customer_policy"] == policy].groupby("variant")["focal_share"].mean()
            vals = [dp.get(v, np.nan) for v in variants]
            ax.bar(
                np.arange(len(variants)) + i * width,
                vals,
                width,
                label=policy,
                color=PALETTE[i % len(PALETTE)],
                alpha=0.85,
            )
        ax.set_xticks(
            np.arange(len(variants)) + width * (len(policies) - 1) / 2,
            variants,
            rotation=35,
            ha="right",
            fontsize=8,
        )
        ax.set_ylim(0, 1.05)
        ax.set_title(panel)
        ax.set_ylabel("share of payments to business_0001")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _scenario_group(name: str) -> str:
    parent = str(name).split("/")[0]
    return parent.replace("_description", "").replace("_", " ")


def utility_distribution(customers: pd.DataFrame, by: str) -> Figure:
    """Per-customer utility distribution (box plot) for each value of ``by``."""
    groups = [(str(k), g["utility"].to_numpy(float)) for k, g in customers.groupby(by, sort=True)]
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    if groups:
        ax.boxplot([g for _, g in groups], showfliers=True)
        ax.set_xticks(np.arange(1, len(groups) + 1), [k for k, _ in groups], rotation=20)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("customer utility ($)")
    ax.set_title(f"Per-customer utility by {by.replace('_', ' ')}")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def run_utilities(customers: pd.DataFrame) -> Figure:
    """One run: histogram of customer utility, and utility against the value at stake."""
    fig = Figure(figsize=(10, 3.6))
    ax, ax2 = fig.subplots(1, 2)
    u = customers["utility"].to_numpy(float)
    ax.hist(u, bins=min(40, max(5, len(u) // 3)), color=PALETTE[0], alpha=0.85)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("customer utility ($)")
    ax.set_ylabel("customers")
    ax.set_title("Utility distribution")
    met = customers["needs_met"].to_numpy(bool)
    v = customers["value"].to_numpy(float)
    ax2.scatter(v[met], u[met], s=10, color=PALETTE[2], label="needs met")
    ax2.scatter(v[~met], u[~met], s=10, color=PALETTE[1], label="not met")
    lim = float(v.max()) if len(v) else 1.0
    ax2.plot([0, lim], [0, lim / 2], color="black", linestyle=":", label="utility = ΣWTP")
    ax2.set_xlabel("value of needs met, 2·ΣWTP ($)")
    ax2.set_ylabel("utility ($)")
    ax2.set_title("Utility vs value at stake")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run_timeline(events: pd.DataFrame) -> Figure:
    """One run: events per virtual second, by action."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    t = events["time_ms"].to_numpy(float) / 1000.0
    top = max(float(t.max()) if len(t) else 1.0, 1.0)
    bins = np.linspace(0, top, 60)
    for i, (action, g) in enumerate(events.groupby("action", sort=True, observed=True)):
        counts, edges = np.histogram(g["time_ms"].to_numpy(float) / 1000.0, bins=bins)
        ax.step(
            edges[:-1], counts, where="post", label=str(action), color=PALETTE[i % len(PALETTE)]
        )
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("events per bin")
    ax.set_title("Activity over virtual time")
    ax.legend(fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
