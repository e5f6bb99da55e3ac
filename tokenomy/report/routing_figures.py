"""Figures of a router evaluation: PGR curves, the cost–quality frontier, welfare at ``V``.

Each drawing function takes plain arrays and the JSON blocks of
:meth:`~tokenomy.allocate.route_eval.EvalResult.to_dict` (``routers``, ``models``), so a result in
memory and a ``route-eval`` folder on disk draw the same way; :func:`curves_of_result` and
:func:`frontier_of_result` are the thin adapters from an
:class:`~tokenomy.allocate.route_eval.EvalResult`. House style of :mod:`tokenomy.report.figures`:
matplotlib's object API (no global pyplot state) and its palette.

- :func:`pgr_curves` — PGR against the strong-call share (two models, as in RouteLLM) or the
  normalised cost (many models) for every router with a curve, with the random router's
  expected diagonal, the 50% and 80% lines and the price router's CPT markers;
- :func:`cost_quality_frontier` — mean $ per prompt (log scale) against mean quality: the single
  models and their Pareto frontier, the price router's ``V`` sweep, the quantile-threshold
  curve and every router's operating point;
- :func:`welfare_bars` — welfare ``V·quality − cost`` per prompt of each router at the stated
  ``V``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from numpy.typing import ArrayLike, NDArray

from tokenomy.allocate.route_eval import EvalResult
from tokenomy.allocate.route_metrics import pareto_frontier
from tokenomy.report.figures import PALETTE

__all__ = [
    "CurveArrays",
    "cost_quality_frontier",
    "curves_of_result",
    "frontier_of_result",
    "pgr_curves",
    "router_color",
    "welfare_bars",
]

ROUTER_ORDER = (
    "price",
    "quantile-threshold",
    "oracle",
    "random",
    "always-weak",
    "always-strong",
    "best-single",
)
"""Routers in the order they take the palette's colours (ours first)."""
OTHER_COLOR = "#7f7f7f"
"""Colour of a router not in :data:`ROUTER_ORDER`."""


@dataclass(frozen=True)
class CurveArrays:
    """One router's curve as plain arrays (all of the same length, ordered along ``x``).

    Attributes:
        x: strong-call share or normalised cost (the result's ``axis``), from 0 to 1.
        pgr: performance gap recovered at each point.
        performance: mean quality of the routed answers at each point.
        cost: mean $ per prompt at each point (``nan`` where the curve recorded none).
    """

    x: NDArray[np.float64]
    pgr: NDArray[np.float64]
    performance: NDArray[np.float64]
    cost: NDArray[np.float64]

    @classmethod
    def of(
        cls, x: ArrayLike, pgr: ArrayLike, performance: ArrayLike, cost: ArrayLike
    ) -> CurveArrays:
        """Curve arrays as float64 vectors of one length.

        Raises:
            ValueError: the four arrays are not 1-D vectors of the same length.
        """
        arrays = [np.asarray(a, dtype=np.float64).reshape(-1) for a in (x, pgr, performance, cost)]
        lengths = {a.shape[0] for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"curve arrays must have one length, got lengths {sorted(lengths)}")
        return cls(*arrays)


def router_color(name: str) -> str:
    """The palette colour of router ``name`` (the same in every figure)."""
    if name not in ROUTER_ORDER:
        return OTHER_COLOR
    return PALETTE[ROUTER_ORDER.index(name) % len(PALETTE)]


def curves_of_result(result: EvalResult) -> dict[str, CurveArrays]:
    """Each router's PGR curve in ``result``, as plain arrays (routers without one are left out)."""
    out: dict[str, CurveArrays] = {}
    for score in result.routers:
        c = score.curve
        if c is None:
            continue
        cost = c.cost if c.cost is not None else np.full(c.calls.shape, np.nan)
        out[score.router] = CurveArrays.of(c.calls, c.pgr, c.performance, cost)
    return out


def frontier_of_result(
    result: EvalResult,
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The price router's ``V`` sweep ``(mean $ per prompt, mean quality)``, where recorded."""
    for score in result.routers:
        if score.router == "price" and score.frontier is not None:
            costs, quals = score.frontier
            return np.asarray(costs, np.float64), np.asarray(quals, np.float64)
    return None


# ------------------------------------------------------------------------------ PGR


def pgr_curves(
    curves: Mapping[str, CurveArrays],
    axis: str = "strong-call share",
    price_cpt: Mapping[float, float | None] | None = None,
) -> Figure:
    """PGR against the strong-call share (or normalised cost) for every router with a curve.

    Args:
        curves: router name → its curve.
        axis: the x-axis' name (``EvalResult.axis``: ``strong-call share`` or
            ``normalised cost``).
        price_cpt: the price router's CPT points, target PGR (a fraction, 0.5 and 0.8) → the
            x at which the curve first reaches it (a fraction; ``None``: never reached).
    """
    fig = Figure(figsize=(6.8, 4.6))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#888", linestyle=":", linewidth=1.2, label="random (expected)")
    for level in (0.5, 0.8):
        ax.axhline(level, color="#bbb", linestyle="--", linewidth=0.9)
        ax.text(
            1.0, level, f" {100 * level:.0f}%", va="center", ha="left", fontsize=8, color="#666"
        )
    ordered = sorted(curves, key=lambda r: (r not in ROUTER_ORDER, _rank(r), r))
    for name in ordered:
        c = curves[name]
        ax.plot(
            c.x,
            c.pgr,
            color=router_color(name),
            linestyle="--" if name == "quantile-threshold" else "-",
            linewidth=2.2 if name == "price" else 1.4,
            label=name + (" (ours)" if name == "price" else ""),
            zorder=3 if name == "price" else 2,
        )
    for level, x in sorted((price_cpt or {}).items()):
        if x is None or not np.isfinite(x):
            continue
        ax.plot([x], [level], marker="o", color=router_color("price"), markersize=7, zorder=4)
        ax.annotate(
            f"CPT({100 * level:.0f}%) = {100 * x:.1f}%",
            (x, level),
            textcoords="offset points",
            xytext=(8, -14),
            fontsize=8,
            color=router_color("price"),
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            zorder=5,
        )
    share = axis == "strong-call share"
    ax.set_xlabel(
        "share of prompts sent to the strong model"
        if share
        else "normalised cost (C − C_weak) / (C_strong − C_weak)"
    )
    ax.set_ylabel("performance gap recovered (PGR)")
    ax.set_xlim(0, 1)
    ax.set_title(f"PGR vs {axis}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _rank(name: str) -> int:
    return ROUTER_ORDER.index(name) if name in ROUTER_ORDER else len(ROUTER_ORDER)


# ------------------------------------------------------------------------------ frontier


def _positive(
    costs: ArrayLike, quals: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c = np.asarray(costs, np.float64).reshape(-1)
    q = np.asarray(quals, np.float64).reshape(-1)
    ok = np.isfinite(c) & np.isfinite(q) & (c > 0)
    return c[ok], q[ok]


def cost_quality_frontier(
    models: Sequence[Mapping[str, Any]],
    routers: Sequence[Mapping[str, Any]],
    sweep: tuple[ArrayLike, ArrayLike] | None = None,
    quantile: tuple[ArrayLike, ArrayLike] | None = None,
) -> Figure:
    """Mean $ per prompt (log scale) against mean quality.

    Args:
        models: one mapping per single model with ``model``, ``quality``, ``cost_per_prompt``
            (``EvalResult.to_dict()["models"]``): labelled points, their Pareto frontier dashed.
        routers: one mapping per router with ``router``, ``quality``, ``cost_per_prompt``
            (``EvalResult.to_dict()["routers"]``): each router's operating point at the stated
            ``V``, a marker.
        sweep: the price router's curve ``(costs, qualities)`` as ``V`` varies, drawn as a line.
        quantile: the quantile-threshold router's ``(costs, qualities)`` as its threshold varies.

    Points at zero cost cannot sit on a log axis and are left out.
    """
    fig = Figure(figsize=(9.4, 4.8))
    ax = fig.subplots()
    if quantile is not None:
        c, q = _positive(*quantile)
        order = np.argsort(c, kind="stable")
        ax.plot(
            c[order],
            q[order],
            color=router_color("quantile-threshold"),
            linestyle="--",
            linewidth=1.3,
            alpha=0.8,
            label="quantile-threshold (threshold sweep)",
        )
    if sweep is not None:
        c, q = _positive(*sweep)
        order = np.argsort(c, kind="stable")
        ax.plot(
            c[order],
            q[order],
            color=router_color("price"),
            linewidth=2.2,
            label="price router (V sweep, ours)",
            zorder=3,
        )
    mc = np.array([float(m["cost_per_prompt"]) for m in models], np.float64)
    mq = np.array([float(m["quality"]) for m in models], np.float64)
    shown = np.isfinite(mc) & np.isfinite(mq) & (mc > 0)
    if shown.any():
        idx = np.flatnonzero(shown)
        front = idx[pareto_frontier(mc[shown], mq[shown])]
        ax.plot(
            mc[front],
            mq[front],
            color="black",
            linestyle="--",
            linewidth=1.0,
            label="single models' Pareto frontier",
            zorder=1,
        )
        ax.scatter(mc[shown], mq[shown], color="black", s=26, zorder=4, label="single model")
        priciest = float(mc[shown].max())
        for j in idx.tolist():
            last = mc[j] == priciest  # label the priciest model leftwards, inside the axes
            ax.annotate(
                str(models[j]["model"]),
                (mc[j], mq[j]),
                textcoords="offset points",
                xytext=(-6, 6) if last else (6, -10),
                ha="right" if last else "left",
                fontsize=7,
            )
    markers = "o^sDvP*X"
    for k, r in enumerate(sorted(routers, key=lambda r: _rank(str(r["router"])))):
        c0, q0 = float(r["cost_per_prompt"]), float(r["quality"])
        if not (np.isfinite(c0) and np.isfinite(q0) and c0 > 0):
            continue
        name = str(r["router"])
        ax.scatter(
            [c0],
            [q0],
            marker=markers[k % len(markers)],
            s=70 if name == "price" else 46,
            facecolor="none" if name != "price" else router_color(name),
            edgecolor=router_color(name),
            linewidths=1.5,
            zorder=5,
            label=f"{name} at the stated V",
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.2g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("mean $ per prompt (log scale)")
    ax.set_ylabel("mean quality")
    ax.set_title("Cost–quality frontier")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ welfare


def welfare_bars(routers: Sequence[Mapping[str, Any]], value: float) -> Figure:
    """Welfare ``V·quality − cost`` per prompt of each router at the stated ``V``.

    The oracle's bar is hatched (it knows the outcomes); a dashed line marks the best single
    model's welfare.

    Args:
        routers: one mapping per router with ``router`` and ``welfare``
            (``EvalResult.to_dict()["routers"]``), drawn in that order.
        value: the stated task value ``V`` in $ per unit quality (for the title).
    """
    names = [str(r["router"]) for r in routers]
    w = np.array([float(r["welfare"]) for r in routers], np.float64)
    fig = Figure(figsize=(7.2, 3.8))
    ax = fig.subplots()
    x = np.arange(len(names))
    bars = ax.bar(
        x,
        w,
        color=[router_color(n) for n in names],
        alpha=0.85,
        edgecolor="black",
        linewidth=[1.6 if n == "price" else 0.0 for n in names],
    )
    for rect, val in zip(bars, w, strict=True):
        ax.annotate(
            f"{val:.3g}",
            (rect.get_x() + rect.get_width() / 2, val),
            textcoords="offset points",
            xytext=(0, 3 if val >= 0 else -10),
            ha="center",
            fontsize=7,
        )
    for rect, name in zip(bars, names, strict=True):
        if name == "oracle":
            rect.set_hatch("//")  # knows the outcomes: a bound, not a router one can run
    if "best-single" in names:
        ax.axhline(
            float(w[names.index("best-single")]),
            color="black",
            linestyle="--",
            linewidth=0.9,
            label="best single model",
        )
        ax.legend(fontsize=8, loc="lower right")
    ax.axhline(0.0, color="#666", linewidth=0.8)
    ax.set_xticks(x, names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("welfare per prompt ($)")
    ax.set_title(f"Welfare V·quality − cost at V = ${value:.4g} per unit quality")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
