"""Router evaluations as result folders, and their report (kind ``route-eval``).

A folder written by :func:`save_route_eval` holds::

    DIR/
      summary.json       kind "route-eval": EvalResult.to_dict() plus environment and tables
      curves.parquet     every router's curve: router, x, pgr, performance, cost
      frontier.parquet   (many-model sets) the price router's V sweep: cost, quality

``x`` is the strong-call share or the normalised cost (the summary's ``axis``), ``cost`` the
mean $ per prompt at each point. The report renders from the folder alone
(:func:`load_route_eval` → :func:`route_eval_sections`), or from a result in memory
(:meth:`RouteEvalRecord.of_result`): the routers' table with the token rule next to the costs,
the stated ``V``, and the three figures of :mod:`tokenomy.report.routing_figures`.

>>> folder = save_route_eval(result, "results/gsm8k")         # doctest: +SKIP
>>> write_route_report(folder)                                # doctest: +SKIP
PosixPath('results/gsm8k/report.html')
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from tokenomy.allocate.route_eval import EvalResult
from tokenomy.errors import DataError, ResultsError
from tokenomy.report import routing_figures as rf
from tokenomy.report.builder import Section, TableBlock, _fig, _html_table
from tokenomy.results import SUMMARY, environment, read_summary, read_table, write_result

__all__ = [
    "KIND",
    "RouteEvalRecord",
    "curves_table",
    "load_route_eval",
    "route_eval_figures",
    "route_eval_sections",
    "route_eval_title",
    "save_route_eval",
    "summary_of",
    "write_route_report",
]

KIND = "route-eval"
"""The ``kind`` of a router evaluation's ``summary.json``."""
CURVE_COLUMNS = ("router", "x", "pgr", "performance", "cost")
FRONTIER_COLUMNS = ("cost", "quality")

Frontier = tuple[NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True)
class RouteEvalRecord:
    """A router evaluation as the report sees it: the summary and the curves as plain arrays.

    Attributes:
        summary: ``EvalResult.to_dict()`` (plus ``kind`` and ``environment`` when loaded).
        curves: router name → its curve, in the order of ``summary["routers"]``.
        frontier: the price router's ``V`` sweep ``(mean $ per prompt, mean quality)`` on a
            many-model set, else ``None``.
    """

    summary: dict[str, Any]
    curves: dict[str, rf.CurveArrays]
    frontier: Frontier | None = None

    @classmethod
    def of_result(cls, result: EvalResult) -> RouteEvalRecord:
        """The record of a result in memory (no folder needed)."""
        return cls(summary_of(result), rf.curves_of_result(result), rf.frontier_of_result(result))


# ------------------------------------------------------------------------------ writing


def summary_of(result: EvalResult) -> dict[str, Any]:
    """The ``summary.json`` of a router evaluation: ``result.to_dict()`` plus ``kind``."""
    out = result.to_dict()
    out["kind"] = KIND
    out["environment"] = environment()
    tables = ["curves"]
    if rf.frontier_of_result(result) is not None:
        tables.append("frontier")
    out["tables"] = tables
    return out


def curves_table(curves: Mapping[str, rf.CurveArrays]) -> pa.Table:
    """One row per curve point: ``router, x, pgr, performance, cost`` (routers in order)."""
    names = list(curves)
    sizes = [curves[n].x.shape[0] for n in names]
    empty = np.empty(0, np.float64)
    return pa.table(
        {
            "router": pa.array(np.repeat(np.asarray(names, dtype=object), sizes), pa.string()),
            "x": np.concatenate([curves[n].x for n in names] or [empty]),
            "pgr": np.concatenate([curves[n].pgr for n in names] or [empty]),
            "performance": np.concatenate([curves[n].performance for n in names] or [empty]),
            "cost": np.concatenate([curves[n].cost for n in names] or [empty]),
        }
    )


def save_route_eval(result: EvalResult, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write a router evaluation to a result folder, atomically.

    Args:
        result: the evaluation (:func:`tokenomy.allocate.route_eval.evaluate`).
        out_dir: the folder to write (created; assembled under a temporary name and renamed).
        overwrite: replace an existing non-empty folder.

    Returns:
        ``out_dir`` as a path.

    Raises:
        ResultsError: ``out_dir`` holds results and ``overwrite`` is false, or is a file.
    """
    tables: dict[str, pa.Table] = {"curves": curves_table(rf.curves_of_result(result))}
    frontier = rf.frontier_of_result(result)
    if frontier is not None:
        tables["frontier"] = pa.table({"cost": frontier[0], "quality": frontier[1]})
    return write_result(out_dir, tables, summary_of(result), overwrite=overwrite)


# ------------------------------------------------------------------------------ reading


def _check_summary(folder: Path, summary: dict[str, Any]) -> None:
    file = folder / SUMMARY
    if summary.get("kind") != KIND:
        raise ResultsError(
            f"{file}: kind {summary.get('kind')!r} is not a router evaluation "
            f"(expected '{KIND}'; write one with `tokenomy route eval --out DIR`)"
        )
    for key, kind in (("data", str), ("axis", str), ("token_rule", str)):
        if not isinstance(summary.get(key), kind):
            raise DataError(file, key, summary.get(key), "a string")
    value = summary.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise DataError(file, "value", value, "the stated task value V, a finite number")
    for block, name_key in (("routers", "router"), ("models", "model")):
        rows = summary.get(block)
        if not isinstance(rows, list) or not rows:
            raise DataError(file, block, rows, f"a non-empty list of {block}")
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get(name_key), str):
                raise DataError(file, f"{block}[{i}].{name_key}", row, "a name (string)")
            for key in (
                "quality",
                "cost_per_prompt",
                *(("welfare",) if block == "routers" else ()),
            ):
                v = row.get(key)
                if not isinstance(v, int | float) or isinstance(v, bool):
                    raise DataError(file, f"{block}[{i}].{key}", v, "a number")


def _numeric(file: Path, frame: pd.DataFrame, column: str) -> NDArray[np.float64]:
    try:
        values = frame[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(file, column, str(frame[column].dtype), "a numeric column") from None
    return values


def _read_curves(folder: Path) -> dict[str, rf.CurveArrays]:
    file = folder / "curves.parquet"
    frame = read_table(folder, "curves").to_pandas()
    missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            file, missing[0], f"columns present: {list(frame.columns)}", f"columns {CURVE_COLUMNS}"
        )
    routers = frame["router"]
    if routers.isna().any():
        row = int(np.flatnonzero(routers.isna().to_numpy())[0])
        raise DataError(file, f"router (row {row + 1})", None, "a router name")
    arrays = {c: _numeric(file, frame, c) for c in CURVE_COLUMNS[1:]}
    for column in ("x", "pgr", "performance"):
        bad = ~np.isfinite(arrays[column])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                file, f"{column} (row {row + 1})", arrays[column][row], "a finite number"
            )
    names = routers.astype(str).to_numpy()
    out: dict[str, rf.CurveArrays] = {}
    for name in dict.fromkeys(names):
        rows = names == name
        out[str(name)] = rf.CurveArrays.of(*(arrays[c][rows] for c in CURVE_COLUMNS[1:]))
    return out


def _read_frontier(folder: Path) -> Frontier | None:
    if not (folder / "frontier.parquet").is_file():
        return None
    file = folder / "frontier.parquet"
    frame = read_table(folder, "frontier").to_pandas()
    missing = [c for c in FRONTIER_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            file,
            missing[0],
            f"columns present: {list(frame.columns)}",
            f"columns {FRONTIER_COLUMNS}",
        )
    return _numeric(file, frame, "cost"), _numeric(file, frame, "quality")


def load_route_eval(folder: str | Path) -> RouteEvalRecord:
    """Read a folder written by :func:`save_route_eval`.

    Raises:
        ResultsError: no ``summary.json``, a summary of another kind, or a missing table.
        DataError: a summary field or a table column is malformed (names file, field, value).
    """
    folder = Path(folder)
    summary = read_summary(folder)
    _check_summary(folder, summary)
    return RouteEvalRecord(summary, _read_curves(folder), _read_frontier(folder))


# ------------------------------------------------------------------------------ report


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else math.nan


def _money(x: Any) -> str:
    v = _num(x)
    return "—" if not math.isfinite(v) else f"${v:.4g}"


def _pct(x: Any, scale: float = 100.0) -> str:
    v = _num(x)
    return "—" if not math.isfinite(v) else f"{scale * v:.1f}%"


def _score(x: Any) -> str:
    v = _num(x)
    return "—" if not math.isfinite(v) else f"{v:.3f}"


def _routers(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(r["router"]): r for r in summary["routers"]}


def route_eval_title(summary: Mapping[str, Any]) -> str:
    """The page title of a router evaluation."""
    return f"tokenomy route eval — {summary.get('data')}"


def route_eval_figures(record: RouteEvalRecord) -> list[Any]:
    """The three figures (PGR curves, cost–quality frontier, welfare at ``V``), embedded."""
    s = record.summary
    routers = _routers(s)
    price = routers.get("price", {})
    cpt = {
        0.5: None if price.get("cpt50") is None else _num(price["cpt50"]) / 100.0,
        0.8: None if price.get("cpt80") is None else _num(price["cpt80"]) / 100.0,
    }
    axis = str(s["axis"])
    out = []
    if record.curves:
        out.append(
            _fig(
                rf.pgr_curves(record.curves, axis, cpt),
                f"Performance gap recovered against the {axis} on the {s.get('test_prompts')} "
                "held-out prompts; dotted: the random router's expectation; dots: the price "
                "router's CPT(50%) and CPT(80%).",
            )
        )
    sweep: tuple[Any, Any] | None = record.frontier
    if sweep is None and "price" in record.curves:
        sweep = (record.curves["price"].cost, record.curves["price"].performance)
    quantile = record.curves.get("quantile-threshold")
    out.append(
        _fig(
            rf.cost_quality_frontier(
                s["models"],
                s["routers"],
                sweep,
                None if quantile is None else (quantile.cost, quantile.performance),
            ),
            "Mean $ per prompt (log scale) against mean quality: single models and their Pareto "
            "frontier (dashed), the price router as V varies, the quantile-threshold router as "
            "its threshold varies, and each router at the stated V. Costs: " + str(s["token_rule"]),
        )
    )
    out.append(
        _fig(
            rf.welfare_bars(s["routers"], float(s["value"])),
            f"Welfare per prompt, V·quality − cost, at the stated V = ${float(s['value']):.4g} "
            "per unit quality.",
        )
    )
    return out


def _router_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for r in summary["routers"]:
        rows.append(
            {
                "router": r["router"],
                "APGR": _num(r.get("apgr")),
                "CPT(50%) %": _num(r.get("cpt50")),
                "CPT(80%) %": _num(r.get("cpt80")),
                "quality": _num(r.get("quality")),
                "$ per prompt": _num(r.get("cost_per_prompt")),
                "strong share": _num(r.get("strong_share")),
                "welfare $": _num(r.get("welfare")),
                "$ per correct": _num(r.get("cost_of_pass")),
            }
        )
    return pd.DataFrame(rows)


def _model_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "model": m["model"],
            "quality": _num(m.get("quality")),
            "$ per prompt": _num(m.get("cost_per_prompt")),
            "price router's share": _num(m.get("price_share")),
        }
        for m in summary["models"]
    ]
    return pd.DataFrame(rows)


def _findings(summary: Mapping[str, Any]) -> list[str]:
    r = _routers(summary)
    out: list[str] = []
    price = r.get("price")
    curved = [n for n in ("price", "quantile-threshold", "random", "oracle") if n in r]
    if curved:
        out.append(
            "APGR: "
            + ", ".join(f"<b>{html.escape(n)}</b> {_score(r[n].get('apgr'))}" for n in curved)
            + " (random expects 0.5)."
        )
    if price is not None and "oracle" in r:
        unit = "strong calls" if summary["axis"] == "strong-call share" else "normalised cost"
        ours = [_pct(price.get(k), 1.0) for k in ("cpt50", "cpt80")]
        hindsight = [_pct(r["oracle"].get(k), 1.0) for k in ("cpt50", "cpt80")]
        out.append(
            f"To recover 50% of the weak→strong gap the price router needs {ours[0]} {unit}, "
            f"the oracle {hindsight[0]}; to recover 80%: {ours[1]} and {hindsight[1]}."
        )
    if price is not None:
        out.append(
            f"At V = {_money(summary['value'])} per unit quality the price router reaches quality "
            f"{_score(price['quality'])} at {_money(price['cost_per_prompt'])} per prompt "
            f"({_pct(price.get('strong_share'))} to <code>{html.escape(str(summary.get('strong')))}"
            f"</code>), welfare {_money(price['welfare'])} per prompt."
        )
    feasible = [n for n in r if n != "oracle"]
    if feasible:
        best = max(feasible, key=lambda n: (_num(r[n]["welfare"]), n == "price"))
        out.append(
            f"Highest welfare at the stated V without hindsight: <b>{html.escape(best)}</b> "
            f"({_money(r[best]['welfare'])} per prompt"
            + (
                f"; the oracle, which knows the outcomes, {_money(r['oracle']['welfare'])}"
                if "oracle" in r
                else ""
            )
            + ")."
        )
    dom = summary.get("price_dominates_best_single")
    if dom is not None:
        out.append(
            "A point of the price router's V sweep "
            + ("dominates" if dom else "does not dominate")
            + " the best single model on the held-out prompts (cheaper and at least as good, "
            "or better and no dearer)."
        )
    return out


def route_eval_sections(record: RouteEvalRecord) -> list[Section]:
    """The report's sections for one router evaluation."""
    s = record.summary
    settings = s.get("settings") or {}
    cv = settings.get("cross_validation") or {}
    chosen = (
        " (chosen by 3-fold cross-validation on the training prompts: "
        + ", ".join(f"{html.escape(str(k))} {_num(v):.4f}" for k, v in cv.items())
        + ")"
        if cv
        else ""
    )
    intro = (
        f"Data <code>{html.escape(str(s['data']))}</code>: {s.get('train_prompts')} training and "
        f"{s.get('test_prompts')} held-out prompts, seed {s.get('seed')}. Weak model "
        f"<code>{html.escape(str(s.get('weak')))}</code>, strong "
        f"<code>{html.escape(str(s.get('strong')))}</code>; curves are read against the "
        f"{html.escape(str(s['axis']))}. The price router (ours) calls the strong model when "
        f"V·Δq̂ − Δĉ − λΔl − ρΔr &gt; 0, predicting quality with "
        f"<b>{html.escape(str(settings.get('predictor', '?')))}</b> on "
        f"<b>{html.escape(str(settings.get('featurizer', '?')))}</b> features{chosen}. "
        f"Stated task value: <b>V = {_money(s['value'])} per unit of quality</b>; welfare is "
        f"V·quality − cost per prompt."
    )
    rule = str(s["token_rule"])
    note = (
        "PGR(c) = (P(c) − P<sub>weak</sub>) / (P<sub>strong</sub> − P<sub>weak</sub>); APGR is "
        "the exact area under PGR over [0, 1]; CPT(x%) the smallest x-axis value at which PGR "
        "reaches x% (RouteLLM's definitions). The quantile-threshold router is RouteLLM's "
        "recipe: a threshold on the predicted gain calibrated to a target strong-call share on "
        "the training prompts; the oracle knows the outcomes. Costs are token counts at the "
        "price table's prices per million tokens."
    )
    return [
        Section(
            title=f"Routers on {s['data']}",
            intro=intro,
            findings=_findings(s),
            figures=route_eval_figures(record),
            tables=[
                TableBlock(
                    f"Routers on the held-out prompts at V = {_money(s['value'])} "
                    f"(costs in $ per prompt; token counts: {rule})",
                    _html_table(_router_frame(s)),
                ),
                TableBlock(f"Single models (token counts: {rule})", _html_table(_model_frame(s))),
            ],
            note=note,
        )
    ]


def write_route_report(folder: str | Path, out_file: str | Path | None = None) -> Path:
    """Render a ``route-eval`` folder's report to one self-contained HTML file.

    Args:
        folder: a folder written by :func:`save_route_eval`.
        out_file: where to write; default ``folder/report.html``.

    Raises:
        ResultsError: ``folder`` is not a router evaluation (or lacks a table).
        DataError: its summary or tables are malformed.
    """
    from tokenomy.report import render

    folder = Path(folder)
    record = load_route_eval(folder)
    created = (record.summary.get("environment") or {}).get("created_utc", "")
    target = Path(out_file) if out_file is not None else folder / "report.html"
    return render(
        route_eval_title(record.summary),
        f"{folder} · created {created}",
        route_eval_sections(record),
        target,
    )
