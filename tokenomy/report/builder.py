"""Build the sections of a report from a result folder (run, sweep or study)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tokenomy.report import figures
from tokenomy.results import read_summary, read_table


@dataclass
class Figure:
    """An embedded figure."""

    uri: str
    caption: str


@dataclass
class TableBlock:
    """An HTML table with a caption."""

    caption: str
    html: str


@dataclass
class Section:
    """One section of the report."""

    title: str
    intro: str = ""
    findings: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[TableBlock] = field(default_factory=list)
    note: str = ""


def _money(x: float | None) -> str:
    return "—" if x is None or not np.isfinite(x) else f"${x:,.2f}"


def _pct(x: float | None) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def _html_table(df: pd.DataFrame) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            if not np.isfinite(v):
                return "—"
            x = float(v)
            return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.2f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fig(fig: Any, caption: str) -> Figure:
    return Figure(figures.to_data_uri(fig), caption)


# ------------------------------------------------------------------------------ runs


def run_sections(folder: Path, summary: dict[str, Any]) -> list[Section]:
    """Sections of a single run's report."""
    m = summary["metrics"]
    cfg = summary.get("config", {})
    customers = read_table(folder, "customers").to_pandas()
    events = read_table(folder, "events").select(["time_ms", "action"]).to_pandas()
    intro = (
        f"Data <code>{html.escape(str(summary.get('data')))}</code>: {m['customers']} customers, "
        f"{m['businesses']} businesses. Search <b>{cfg.get('search')}</b> with a consideration "
        f"set of {cfg.get('limit')}, customers <b>{cfg.get('customer_policy')}</b>, businesses "
        f"<b>{cfg.get('business_policy')}</b>, seed {cfg.get('seed')}, engine "
        f"{summary.get('engine')}."
    )
    share = m.get("welfare_share_of_optimal")
    findings = [
        f"Welfare {_money(m['welfare'])} of an optimal {_money(m['optimal_welfare'])} "
        f"({_pct(share)}); buying the cheapest carrier would give {_money(m['pick_cheapest'])}.",
        f"{_pct(m['purchase_rate'])} of customers bought; {_pct(m['needs_met_rate'])} had "
        f"their needs met.",
        f"{m['events']:,} events, {m['messages']:,} messages, {m['proposals']:,} proposals, "
        f"{m['rejected_actions']} rejected actions.",
        f"Customers read {m['tokens_customers_in']:,} and wrote {m['tokens_customers_out']:,} "
        f"tokens, costing {_money(m['token_cost_customers'])}; token-aware welfare "
        f"{_money(m['token_aware_welfare'])}.",
    ]
    if m.get("first_proposal_share") is not None:
        findings.append(
            f"Among {m['first_proposal_n']} paying customers with at least two proposals, "
            f"{_pct(m['first_proposal_share'])} paid the first to arrive (chance: "
            f"{_pct(m['first_proposal_chance'])})."
        )
    metrics_df = pd.DataFrame(
        [(k, v) for k, v in m.items() if not isinstance(v, dict)], columns=["metric", "value"]
    )
    outcome = customers["outcome"].astype(str).value_counts().rename_axis("outcome")
    llm, ledger = summary.get("llm"), summary.get("ledger")
    if llm:
        findings.append(
            f"{llm['agents']} agents were driven by a chat model: {llm['calls']:,} calls, "
            f"{llm['input_tokens']:,} input and {llm['output_tokens']:,} output tokens as the "
            f"API reported them, costing {_money(llm['cost'])} (charged in the ledger when "
            f"there is one)."
        )
    if ledger:
        audit = ledger["audit"]
        verdict = (
            "passed"
            if audit["ok"]
            else "FAILED: " + html.escape("; ".join(audit["violations"][:3]))
        )
        findings.append(
            f"Transport <b>{html.escape(str(summary.get('transport')))}</b> over "
            f"<code>{html.escape(str(summary.get('db')))}</code>: {ledger['settled']} payments "
            f"settled from escrow ({ledger['settled_amount']} dollars); the ledger audit "
            f"{verdict} "
            f"({audit['accounts']} accounts, {audit['transfers']} journal legs, imbalance "
            f"{audit['imbalance']}); business receipts "
            f"{'match' if ledger['receipts_match_payments'] else 'DO NOT match'} the payments "
            f"in the log."
        )
    sections = [
        Section(
            title="Run",
            intro=intro,
            findings=findings,
            figures=[
                _fig(figures.run_utilities(customers), "Per-customer utility."),
                _fig(figures.run_timeline(events), "Events over virtual time, by action."),
            ],
            tables=[
                TableBlock("Metrics", _html_table(metrics_df)),
                TableBlock(
                    "How customers' episodes ended",
                    _html_table(outcome.reset_index(name="customers")),
                ),
            ],
        )
    ]
    if summary.get("contracts") and (folder / "contracts.parquet").is_file():
        from tokenomy.principal.contract_enforcement import contract_sections

        sections += contract_sections(summary["contracts"], read_table(folder, "contracts"))
    return sections


# ------------------------------------------------------------------------------ sweeps


def sweep_sections(folder: Path, summary: dict[str, Any]) -> list[Section]:
    """Sections of a sweep's or an experiment's report: figures chosen by what it varied."""
    agg = read_table(folder, "aggregate").to_pandas()
    runs = read_table(folder, "runs").to_pandas()
    customers = read_table(folder, "customers").to_pandas()
    spec = summary.get("spec", {})
    name = summary.get("name", "sweep")
    if summary.get("kind") == "experiment":
        counts, executor = summary.get("counts", {}), summary.get("executor", {})
        design = (
            f" {summary.get('runs')} runs: {len(summary.get('conditions', []))} condition(s) × "
            f"seeds, run with the {executor.get('name')} executor in "
            f"{executor.get('seconds', float('nan')):.1f} s ({counts.get('failed', 0)} failed)."
        )
    else:
        design = (
            f" {summary.get('runs')} runs: {len(spec.get('data', []))} data set(s), search "
            f"{', '.join(spec.get('search', []))}, limits {spec.get('limit')}, customer "
            f"policies {', '.join(spec.get('customer_policy', []))}, business policies "
            f"{', '.join(spec.get('business_policy', []))}, {len(spec.get('seeds', []))} seed(s)."
        )
    section = Section(
        title=_title(name), intro=html.escape(summary.get("description", "") + design)
    )
    if agg["limit"].nunique() > 1:
        fig = figures.welfare_vs_limit(agg)
        caption = "Mean welfare over seeds with 95% confidence bands; dashed: optimal welfare."
        section.figures.append(_fig(fig, caption))
        section.findings += _limit_findings(agg)
    if name == "position-bias" and agg["first_proposal_n"].fillna(0).sum() > 0:
        fig = figures.first_proposal_share(agg)
        caption = (
            "Share of paying customers who paid the first proposal to arrive (95% CI); "
            "dashed: the chance level 1/k."
        )
        section.figures.append(_fig(fig, caption))
        section.findings += _position_findings(agg)
    if "focal_share" in agg and agg["focal_share"].notna().any():
        fig = figures.manipulation_share(agg)
        caption = "Share of payments captured by business_0001 per description variant."
        section.figures.append(_fig(fig, caption))
        section.findings += _manipulation_findings(agg)
    if len(customers):
        merged = customers.merge(runs[["run", "customer_policy"]], on="run")
        fig = figures.utility_distribution(merged, "customer_policy")
        section.figures.append(_fig(fig, "Per-customer utility across all runs of the sweep."))
    axes = ("data", "search", "limit", "customer_policy", "business_policy")
    cols = [c for c in axes if c in agg and agg[c].nunique() > 1]
    metric_cols = (
        "welfare",
        "welfare_ci_low",
        "welfare_ci_high",
        "needs_met_rate",
        "first_proposal_share",
        "focal_share",
        "token_cost_customers",
        "welfare_n",
    )
    shown = cols + [c for c in metric_cols if c in agg and agg[c].notna().any()]
    table = _html_table(agg[shown])
    section.tables.append(TableBlock("Aggregate over seeds (mean and 95% CI)", table))
    section.note = (
        "Scripted agents, no LLM: rational customers compare every answer; first-proposal "
        "customers pay the first acceptable offer; bounded customers ask few businesses, "
        "value with noise, lose patience and are swayed by persuasive descriptions in "
        "proportion to their credulity. Token counts estimate what an LLM agent doing the "
        "same would read and write (4 characters per token)."
    )
    return [section]


def _title(name: str) -> str:
    return {
        "consideration-set-size": "Consideration-set size",
        "position-bias": "First-proposal (position) bias",
        "manipulation": "Manipulation by business descriptions",
    }.get(name, name)


def _limit_findings(agg: pd.DataFrame) -> list[str]:
    out = []
    optimum = agg["optimal_welfare"].dropna()
    opt = float(optimum.iloc[0]) if len(optimum) else float("nan")
    for policy, g in agg.groupby("customer_policy", sort=True):
        g = g.sort_values("limit")
        lo, hi = g.iloc[0], g.iloc[-1]
        out.append(
            f"<b>{html.escape(str(policy))}</b>: welfare {_money(lo['welfare'])} with "
            f"{int(lo['limit'])} result(s), {_money(hi['welfare'])} with {int(hi['limit'])} "
            f"(optimal {_money(opt)})."
        )
    return out


def _position_findings(agg: pd.DataFrame) -> list[str]:
    out = []
    for policy, g in agg.groupby("customer_policy", sort=True):
        share, chance = g["first_proposal_share"].mean(), g["first_proposal_chance"].mean()
        ratio = share / chance if chance else float("nan")
        out.append(
            f"<b>{html.escape(str(policy))}</b>: {_pct(share)} paid the first proposal "
            f"(chance {_pct(chance)}; {ratio:.2f}× chance)."
        )
    return out


def _manipulation_findings(agg: pd.DataFrame) -> list[str]:
    out = []
    d = agg.dropna(subset=["focal_share"])
    for (family, policy), g in d.groupby(["family", "customer_policy"], sort=True):
        base = g[g["variant"] == "control"]["focal_share"]
        if base.empty:
            continue
        control = float(base.mean())
        worst = g[g["variant"] != "control"].sort_values("focal_share").tail(1)
        if worst.empty:
            continue
        w = worst.iloc[0]
        out.append(
            f"<b>{html.escape(str(family))}</b>, <b>{html.escape(str(policy))}</b>: business_0001 "
            f"captured {_pct(control)} of payments in the control and up to "
            f"{_pct(float(w['focal_share']))} with <i>{html.escape(str(w['variant']))}</i>."
        )
    return out


# ------------------------------------------------------------------------------ studies


def study_sections(folder: Path, summary: dict[str, Any]) -> list[Section]:
    """A study folder holds several sweeps; one section each."""
    sections = [
        Section(title="About this study", intro=html.escape(summary.get("description", "")))
    ]
    for name in summary.get("sweeps", []):
        sub = folder / name
        sections += sweep_sections(sub, read_summary(sub))
    return sections
