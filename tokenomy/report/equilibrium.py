"""Report sections for equilibrium results: one economy, one result set, or several side by side.

An economy's section shows what each method found (status, iterations, time, welfare, the
certificates, agreement with the planner), then the reference solution's price trajectories
p_a(t), productions y_a(t) and routing flow, and the convergence of the iterative methods.
With several economies a last section compares the price loop's dynamics across them (the
tree vs entangled DAG contrast).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tokenomy.errors import ResultsError
from tokenomy.report import equilibrium_figures as ef
from tokenomy.report.builder import Section, TableBlock, _fig, _html_table
from tokenomy.results import read_summary, read_table

ITERATIVE = ("price-loop", "first-order", "proportional-response")


@dataclass
class SolverRecord:
    """One method's result as the report sees it."""

    solver: str
    summary: dict[str, Any]
    trace: pd.DataFrame | None = None
    price_path: np.ndarray | None = None


@dataclass
class EconomyRecord:
    """All methods' results on one economy."""

    name: str
    description: str
    spec: dict[str, Any] | None
    runs: dict[str, SolverRecord] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)


def record_of_result(result: Any) -> SolverRecord:
    """A record from an in-memory :class:`~tokenomy.equilibrium.result.EquilibriumResult`."""
    tables = result.tables()
    trace = tables["trace"].to_pandas() if "trace" in tables else None
    path = np.asarray(result.price_path) if result.price_path is not None else None
    return SolverRecord(result.solver, result.summary(), trace, path)


def record_of_comparison(comp: Any) -> EconomyRecord:
    """A record from an in-memory :class:`~tokenomy.equilibrium.compare.Comparison`."""
    return EconomyRecord(
        comp.name,
        comp.description,
        comp.spec,
        {s: record_of_result(r) for s, r in comp.results.items()},
        dict(comp.errors),
        comp.agreement(),
    )


def _solver_folder(folder: Path) -> SolverRecord:
    summary = read_summary(folder)
    trace = (
        read_table(folder, "trace").to_pandas() if (folder / "trace.parquet").is_file() else None
    )
    path = None
    if (folder / "price_path.parquet").is_file():
        path = read_table(folder, "price_path").to_pandas().to_numpy(float)
    return SolverRecord(str(summary.get("solver")), summary, trace, path)


def records_from_folder(folder: Path, summary: dict[str, Any]) -> list[EconomyRecord]:
    """Records of an ``equilibrium`` result folder or an ``equilibrium-set``."""
    if summary.get("kind") == "equilibrium":
        rec = _solver_folder(folder)
        spec = summary.get("spec") or {}
        return [
            EconomyRecord(
                str(summary.get("name")), str(spec.get("description", "")), spec, {rec.solver: rec}
            )
        ]
    if summary.get("kind") != "equilibrium-set":
        raise ResultsError(f"{folder}: not an equilibrium result (kind {summary.get('kind')!r})")
    out = []
    for entry in summary.get("economies", []):
        runs = {s: _solver_folder(folder / sub) for s, sub in entry.get("folders", {}).items()}
        out.append(
            EconomyRecord(
                entry["name"],
                entry.get("description", ""),
                entry.get("spec"),
                runs,
                entry.get("errors", {}),
                entry.get("agreement", {}),
            )
        )
    return out


# ---------------------------------------------------------------------------- sections


def _reference(rec: EconomyRecord) -> SolverRecord | None:
    if "planner" in rec.runs:
        return rec.runs["planner"]
    converged = [r for r in rec.runs.values() if r.summary.get("converged")]
    return converged[0] if converged else next(iter(rec.runs.values()), None)


def _goods_labels(prices: dict[str, Any]) -> list[str]:
    labels = []
    for market, block in prices.items():
        if isinstance(block, dict):
            for metric, coefs in block.items():
                labels += [f"{market}.{metric}[{k}]" for k in range(len(coefs))]
        else:
            labels.append(str(market))
    return labels


def _price_vector(prices: dict[str, Any]) -> np.ndarray:
    out: list[float] = []
    for block in prices.values():
        if isinstance(block, dict):
            for coefs in block.values():
                out += list(coefs)
        else:
            out.append(float(block))
    return np.asarray(out, float)


def _status_line(r: SolverRecord) -> str:
    s = r.summary
    line = (
        f"<b>{html.escape(r.solver)}</b>: {html.escape(str(s.get('status')))} after "
        f"{s.get('iterations')} iteration(s), {float(s.get('wall_s', 0)):.3g} s"
    )
    cert = s.get("certificates", {})
    if not s.get("converged"):
        if s.get("message"):
            line += f" — {html.escape(str(s['message']))}"
        if cert.get("contraction") is not None:
            line += f"; contraction estimate along the path {cert['contraction']:.3g}"
    return line + "."


def _congestion(rec: EconomyRecord, ref: SolverRecord) -> list[str]:
    """Where the reference prices are positive (piecewise bases: which time pieces)."""
    s = ref.summary
    basis = s.get("basis")
    prices = s.get("prices", {})
    if not basis or not prices or not all(isinstance(b, dict) for b in prices.values()):
        return []
    top = float(np.max(np.abs(_price_vector(prices)), initial=0.0))
    if top <= 0:
        return ["Every price is zero: no capacity binds."]
    horizon, size = float(basis["horizon"]), int(basis["size"])
    items = []
    for market, block in prices.items():
        for metric, coefs in block.items():
            c = np.asarray(coefs, float)
            if not np.any(c > 1e-6 * top):
                continue
            if basis["kind"] == "piecewise":
                pieces = np.flatnonzero(c > 1e-6 * top)
                spans = ", ".join(
                    f"[{k * horizon / size:.3g}, {(k + 1) * horizon / size:.3g}]" for k in pieces
                )
                items.append(
                    f"<code>{html.escape(market)}.{html.escape(metric)}</code> on t ∈ {spans}"
                )
            else:
                items.append(f"<code>{html.escape(market)}.{html.escape(metric)}</code>")
    if not items:
        return []
    return [
        "Positive prices (where capacity binds): " + "; ".join(items) + "; every other "
        "price is zero."
    ]


def _certificate_table(rec: EconomyRecord) -> pd.DataFrame:
    rows = []
    for solver, r in rec.runs.items():
        s = r.summary
        c = s.get("certificates", {})
        a = rec.agreement.get(solver, {})
        rows.append(
            {
                "method": solver,
                "status": s.get("status"),
                "iterations": s.get("iterations"),
                "seconds": s.get("wall_s"),
                "welfare": s.get("welfare"),
                "walras": c.get("walras"),
                "clearing": c.get("clearing"),
                "complementarity": c.get("complementarity"),
                "profit gap": c.get("profit_gap"),
                "planner gap": c.get("planner_gap"),
                "contraction": c.get("contraction"),
                "price gap vs ref.": a.get("price_gap"),
                "welfare gap vs ref.": a.get("welfare_gap"),
            }
        )
    return pd.DataFrame(rows)


def economy_section(rec: EconomyRecord) -> Section:
    """The section of one economy."""
    ref = _reference(rec)
    findings = [_status_line(r) for r in rec.runs.values()]
    findings += [
        f"<b>{html.escape(s)}</b> failed: {html.escape(msg)}" for s, msg in rec.errors.items()
    ]
    ref_name = ref.solver if ref else None
    for solver, a in rec.agreement.items():
        if solver == ref_name or not a.get("converged"):
            continue
        verb = (
            "agrees with" if a["price_gap"] <= 1e-4 and a["welfare_gap"] <= 1e-6 else "differs from"
        )
        findings.append(
            f"{html.escape(solver)} {verb} {html.escape(str(ref_name))}: prices within "
            f"{a['price_gap']:.1e} (relative to the largest), welfare within "
            f"{a['welfare_gap']:.1e}."
        )
    figures = []
    if ref is not None:
        s = ref.summary
        findings += _congestion(rec, ref)
        kind = s.get("economy_kind", s.get("kind"))
        if kind == "economy" and s.get("basis"):
            figures.append(
                _fig(
                    ef.trajectories(
                        s["prices"], s["basis"], "price density", "Equilibrium prices p_a(t)"
                    ),
                    f"Prices p_a(t) by metric and market ({ref.solver}), in welfare "
                    "units per unit of metric and time.",
                )
            )
            if s.get("productions"):
                delivered = s.get("consumption") if s.get("routing") else None
                figures.append(
                    _fig(
                        ef.productions_by_metric(s["productions"], s["basis"], delivered),
                        f"Productions y_a(t) ({ref.solver}).",
                    )
                )
            if s.get("routing"):
                figures.append(
                    _fig(ef.routing_flow(s["routing"]), f"Routing flow on the DAG ({ref.solver}).")
                )
        elif kind in ("fisher", "exchange"):
            by_method = {name: r.summary["prices"] for name, r in rec.runs.items()}
            figures.append(_fig(ef.goods_prices(by_method), "Prices by good and method."))
    traces = {
        name: r.trace
        for name, r in rec.runs.items()
        if r.trace is not None and "residual" in r.trace
    }
    if traces:
        figures.append(_fig(ef.convergence(traces), "Residual of the iterative methods."))
    loop = rec.runs.get("price-loop")
    if loop is not None and loop.price_path is not None and len(loop.price_path) > 1:
        labels = _goods_labels(loop.summary.get("prices", {}))
        if loop.summary.get("economy_kind") == "exchange" and loop.price_path.shape[1] == 3:
            p_star = _price_vector(ref.summary["prices"]) if ref is not None else None
            figures.append(
                _fig(
                    ef.simplex_path(loop.price_path, labels, p_star),
                    "The price loop's path of relative prices, and the planner's equilibrium.",
                )
            )
        else:
            figures.append(
                _fig(ef.price_path(loop.price_path, labels), "Prices along the price loop.")
            )
    title = rec.name
    intro = html.escape(rec.description) if rec.description else ""
    return Section(
        title=title,
        intro=intro,
        findings=findings,
        figures=figures,
        tables=[TableBlock("Methods and certificates", _html_table(_certificate_table(rec)))],
    )


def dynamics_section(records: list[EconomyRecord]) -> Section | None:
    """Price-loop residuals of several economies on one figure (tree vs entangled DAGs)."""
    traces = {
        rec.name: rec.runs["price-loop"].trace
        for rec in records
        if "price-loop" in rec.runs and rec.runs["price-loop"].trace is not None
    }
    if len(traces) < 2:
        return None
    findings = []
    for rec in records:
        if "price-loop" in rec.runs:
            s = rec.runs["price-loop"].summary
            eta = ((rec.spec or {}).get("price_loop") or {}).get("eta")
            findings.append(
                f"<b>{html.escape(rec.name)}</b>: {html.escape(str(s['status']))} "
                f"after {s['iterations']} rounds" + (f" at η = {eta:g}" if eta else "") + "."
            )
    return Section(
        title="Price-loop dynamics across economies",
        intro="The same price loop on each economy. Price-based allocation converges on trees "
        "and series-parallel DAGs and can oscillate on entangled ones (Lovén et al., 2026).",
        findings=findings,
        figures=[
            _fig(
                ef.convergence(traces, "Price loop by economy"),
                "Residual of the price loop, per economy.",
            )
        ],
    )


def equilibrium_sections(records: list[EconomyRecord]) -> list[Section]:
    """All sections for a list of economies."""
    sections = [economy_section(r) for r in records]
    dyn = dynamics_section(records)
    if dyn is not None:
        sections.append(dyn)
    return sections
