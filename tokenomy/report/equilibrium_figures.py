"""Figures of equilibrium results: price and production trajectories, routing, convergence.

Inputs are the JSON blocks of a result (``prices``, ``productions``, ``routing``, ``basis``)
and its trace tables, so a result folder on disk and a result in memory draw the same way.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenomy.equilibrium.basis import Basis
from tokenomy.report.figures import PALETTE

Block = dict[str, dict[str, list[float]]]


def _basis(info: dict[str, Any]) -> Basis:
    return Basis(info["kind"], int(info["size"]), float(info["horizon"]))


def _panels(n: int, width: float = 4.2, height: float = 3.0) -> tuple[Figure, list[Any]]:
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _shown(series: dict[str, dict[str, list[float]]], floor: float) -> list[str]:
    metrics: list[str] = []
    for block in series.values():
        for metric, coefs in block.items():
            if metric not in metrics and np.any(np.abs(coefs) > floor):
                metrics.append(metric)
    return metrics


def trajectories(
    series: dict[str, dict[str, list[float]]],
    basis: dict[str, Any],
    ylabel: str,
    title: str,
    *,
    dashed: dict[str, dict[str, list[float]]] | None = None,
) -> Figure:
    """One panel per metric, one line per owner (agent or market), reconstructed in time.

    ``series`` maps owner → metric → basis coefficients. Trajectories below 10⁻⁶ of the
    largest coefficient (solver noise on a zero price) are left out, and so are metrics with
    nothing left to show. ``dashed`` adds a second trajectory per owner (same colour, dashed),
    drawn where it differs from the solid one.
    """
    b = _basis(basis)
    t = b.grid(801)
    top = max(
        (float(np.max(np.abs(c), initial=0.0)) for blk in series.values() for c in blk.values()),
        default=0.0,
    )
    floor = max(1e-12, 1e-6 * top)
    metrics = _shown(series, floor)
    fig, axes = _panels(max(1, len(metrics)))
    owners = list(series)
    for ax, metric in zip(axes, metrics, strict=False):
        for i, owner in enumerate(owners):
            color = PALETTE[i % len(PALETTE)]
            coefs = series[owner].get(metric)
            if coefs is not None and np.any(np.abs(coefs) > floor):
                ax.plot(t, b.reconstruct(coefs, t), color=color, label=owner)
            other = (dashed or {}).get(owner, {}).get(metric)
            if other is not None and not np.allclose(
                other, coefs if coefs is not None else 0.0, rtol=1e-2, atol=floor
            ):
                ax.plot(t, b.reconstruct(other, t), color=color, linestyle="--", alpha=0.6)
        ax.axhline(0.0, color="#999", linewidth=0.6)
        ax.set_title(metric)
        ax.set_xlabel("time t")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not metrics:
        axes[0].text(0.5, 0.5, "all zero", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def productions_by_metric(
    productions: dict[str, Block], basis: dict[str, Any], delivered: Block | None = None
) -> Figure:
    """Each agent's production trajectories y_a(t), by metric (inputs are negative).

    With ``delivered`` (the orchestrator's consumption by market, for routed economies) the
    solid lines are what each agent delivers and the dashed ones its supply where that is
    larger: the gap is spare capacity, free at a zero price.
    """
    series: dict[str, dict[str, list[float]]] = {}
    for agent, markets in productions.items():
        for market, block in markets.items():
            owner = agent if market == agent else f"{agent} · {market}"
            series[owner] = block
    if delivered is None:
        return trajectories(series, basis, "netput density", "Productions y_a(t)")
    used = {owner: delivered.get(owner, {}) for owner in series}
    return trajectories(
        used, basis, "density", "Delivered (solid) and supplied (dashed) y_a(t)", dashed=series
    )


def routing_flow(routing: dict[str, Any], title: str = "Routing flow") -> Figure:
    """The DAG drawn left to right by generation; edge width ∝ flow, labels: tasks and share."""
    g = nx.DiGraph()
    for e in routing["edges"]:
        g.add_edge(e["from"], e["to"], flow=e["flow"], share=e["share"])
    for layer, nodes in enumerate(nx.topological_generations(g)):
        for node in nodes:
            g.nodes[node]["layer"] = layer
    pos = nx.multipartite_layout(g, subset_key="layer")
    tasks = float(routing.get("tasks", 1.0))
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    flows = np.array([g.edges[e]["flow"] for e in g.edges])
    widths = 0.5 + 7.0 * flows / max(1e-12, float(flows.max(initial=0.0)))
    nx.draw_networkx_nodes(
        g, pos, ax=ax, node_color="#dce9f5", edgecolors="#1f77b4", node_size=1600
    )
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    nx.draw_networkx_edges(
        g,
        pos,
        ax=ax,
        width=widths.tolist(),
        edge_color="#1f77b4",
        alpha=0.7,
        arrows=True,
        arrowsize=14,
        node_size=1600,
    )
    labels = {
        e: f"{g.edges[e]['flow'] * tasks:.3g} ({100 * g.edges[e]['share']:.0f}%)" for e in g.edges
    }
    nx.draw_networkx_edge_labels(g, pos, edge_labels=labels, ax=ax, font_size=7)
    ax.set_title(
        f"{title}: tasks per edge (share of the tail's flow), β = "
        f"{routing.get('beta', float('nan')):g}"
    )
    ax.axis("off")
    fig.tight_layout()
    return fig


def convergence(traces: dict[str, pd.DataFrame], title: str = "Convergence") -> Figure:
    """Residual (clearing and complementarity, relative) against iteration, per method."""
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    for i, (label, trace) in enumerate(traces.items()):
        res = trace["residual"].to_numpy(float)
        it = trace["iteration"].to_numpy(float)
        ok = np.isfinite(res) & (res > 0)
        ax.plot(it[ok], res[ok], color=PALETTE[i % len(PALETTE)], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("residual")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def price_path(path: np.ndarray, labels: list[str], top: int = 6) -> Figure:
    """Prices along the price loop, for the goods whose price moved most.

    Long paths get two panels, the first 80 rounds and the last 40, so a late oscillation is
    readable rather than a solid band.
    """
    spread = np.ptp(path, axis=0)
    order = [j for j in np.argsort(spread)[::-1][:top] if spread[j] > 0]
    rounds = np.arange(len(path))
    windows = [slice(0, len(path))] if len(path) <= 120 else [slice(0, 80), slice(-40, None)]
    fig = Figure(figsize=(6.5 * len(windows), 3.8))
    axes = fig.subplots(1, len(windows), squeeze=False).ravel()
    for ax, window in zip(axes, windows, strict=True):
        for i, j in enumerate(order):
            ax.plot(
                rounds[window],
                path[window, j],
                color=PALETTE[i % len(PALETTE)],
                label=labels[j],
                marker="." if len(windows) > 1 else None,
            )
        ax.set_xlabel("round of the price loop")
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[0].set_title("Price-loop path (goods that moved most)")
    if len(windows) > 1:
        axes[1].set_title("… and its last 40 rounds")
    fig.tight_layout()
    return fig


def simplex_path(path: np.ndarray, labels: list[str], reference: np.ndarray | None) -> Figure:
    """A three-good price path on the simplex (barycentric coordinates), with the reference."""
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.subplots()
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])

    def xy(p: np.ndarray) -> np.ndarray:
        w = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
        return np.asarray(w @ corners)

    ax.plot(*np.r_[corners, corners[:1]].T, color="#999", linewidth=0.8)
    for c, label in zip(corners, labels, strict=True):
        ax.annotate(label, c, textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    pts = xy(np.asarray(path, float))
    ax.plot(pts[:, 0], pts[:, 1], color=PALETTE[0], linewidth=0.8, label="price loop")
    ax.scatter(pts[0, 0], pts[0, 1], color=PALETTE[0], marker="o", zorder=3, label="start")
    if reference is not None:
        star = xy(np.asarray(reference, float))
        ax.scatter(
            star[0],
            star[1],
            color=PALETTE[1],
            marker="*",
            s=160,
            zorder=4,
            label="planner p*",
        )
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Relative prices on the simplex")
    fig.tight_layout()
    return fig


def goods_prices(prices: dict[str, dict[str, float]]) -> Figure:
    """Prices by good, one bar per method (Fisher and exchange markets)."""
    methods = list(prices)
    goods = list(next(iter(prices.values())))
    fig = Figure(figsize=(max(5.0, 1.1 * len(goods) * max(1, len(methods)) * 0.6 + 2), 3.6))
    ax = fig.subplots()
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(goods))
    for i, m in enumerate(methods):
        ax.bar(
            x + i * width - 0.4 + width / 2,
            [prices[m][g] for g in goods],
            width,
            color=PALETTE[i % len(PALETTE)],
            label=m,
        )
    ax.set_xticks(x, goods)
    ax.set_ylabel("price")
    ax.set_title("Equilibrium prices by method")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
