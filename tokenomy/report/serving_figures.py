"""Figures of the serving layer: FCFS against congestion pricing on one trace.

Each function takes the results of :func:`tokenomy.allocate.serving.compare_admission` (policy
name → :class:`~tokenomy.allocate.serving.ServingResult`) and returns a
:class:`matplotlib.figure.Figure` in the house style of :mod:`tokenomy.report.figures`
(object API, no global pyplot state; :func:`~tokenomy.report.figures.to_data_uri` embeds one).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from tokenomy.allocate.serving import ServingResult
from tokenomy.report.figures import PALETTE

__all__ = [
    "externality_tracking",
    "latency_cdf",
    "queue_wait_over_time",
    "serving_figures",
    "welfare_bars",
]

Results = Mapping[str, ServingResult]


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _subtitle(results: Results) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return ""
    return (
        f"{first.trace}, ρ = {first.load:.2f}, {first.servers} replica(s), "
        f"λ = ${first.prices.latency:g}/s"
    )


def latency_cdf(results: Results) -> Figure:
    """Cumulative distribution of admitted requests' latency (log x), one line per policy."""
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    for i, (policy, r) in enumerate(results.items()):
        lat = np.sort(r.latency[r.admitted])
        if lat.size == 0:
            continue
        share = np.arange(1, lat.size + 1) / lat.size
        p99 = float(np.percentile(lat, 99))
        ax.step(lat, share, where="post", color=_color(i), label=f"{policy} (p99 {p99:.1f} s)")
    ax.set_xscale("log")
    ax.set_xlabel("latency of admitted requests (s, log scale)")
    ax.set_ylabel("share of admitted requests")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"Latency CDF — {_subtitle(results)}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def _binned(
    x: np.ndarray, y: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    count = np.bincount(idx, minlength=edges.size - 1)
    total = np.bincount(idx, weights=y, minlength=edges.size - 1)
    top = np.full(edges.size - 1, -np.inf)
    np.maximum.at(top, idx, y)
    seen = count > 0
    centres = 0.5 * (edges[:-1] + edges[1:])
    return centres[seen], total[seen] / count[seen], top[seen]


def queue_wait_over_time(results: Results, bins: int = 240) -> Figure:
    """Queueing wait of admitted requests over time: mean (solid) and maximum (thin) per bin."""
    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    ends = [float(r.arrival[-1]) for r in results.values() if r.arrival.size]
    edges = np.linspace(0.0, max(ends, default=1.0) / 60.0 + 1e-9, bins + 1)
    for i, (policy, r) in enumerate(results.items()):
        adm = r.admitted
        if not adm.any():
            continue
        x, mean, top = _binned(r.arrival[adm] / 60.0, r.wait[adm], edges)
        label = f"{policy} ({adm.mean():.0%} admitted): mean"
        ax.plot(x, mean, color=_color(i), linewidth=1.4, label=label)
        ax.plot(x, top, color=_color(i), linewidth=0.6, alpha=0.5, label=f"{policy}: max")
    ax.set_xlabel("arrival time (min, rescaled trace)")
    ax.set_ylabel("queueing wait (s)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title(f"Queue wait over time — {_subtitle(results)}", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def welfare_bars(results: Results) -> Figure:
    """Value served, latency cost and welfare (= value − latency cost) per policy, in dollars."""
    names = list(results)
    value = np.array([r.value[r.admitted].sum() for r in results.values()])
    cost = np.array(
        [r.prices.latency * r.latency[r.admitted].sum() for r in results.values()], dtype=float
    )
    welfare = np.array([r.welfare.sum() for r in results.values()])
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    x = np.arange(len(names))
    width = 0.26
    parts = [("value served", value), ("latency cost", -cost), ("welfare", welfare)]
    for j, (label, heights) in enumerate(parts):
        bars = ax.bar(x + (j - 1) * width, heights, width, label=label, color=_color(j + 2))
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, names)
    ax.set_ylabel("dollars (sum over requests)")
    ax.set_title(f"Welfare — {_subtitle(results)}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def externality_tracking(results: Results) -> Figure:
    """Online externality estimate against the realised one (log–log), one panel per policy."""
    fig = Figure(figsize=(4.6 * max(len(results), 1), 4))
    axes = np.atleast_1d(fig.subplots(1, max(len(results), 1)))
    for i, (ax, (policy, r)) in enumerate(zip(axes, results.items(), strict=False)):
        adm = r.admitted
        est = r.externality_estimate[adm]
        real = r.externality_realised[adm]
        ok = (est > 0) & (real > 0)
        ax.scatter(real[ok], est[ok], s=3, alpha=0.3, color=_color(i), linewidths=0)
        if ok.any():
            lo = float(min(real[ok].min(), est[ok].min()))
            hi = float(max(real[ok].max(), est[ok].max()))
            ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
        total = float(real.sum())
        ratio = f"{est.sum() / total:.2f}" if total > 0 else "n/a"
        ax.set_title(f"{policy}: Σ estimate / Σ realised = {ratio}", fontsize=9)
        ax.set_xlabel("realised waiting imposed (request·s)")
        ax.set_ylabel("online estimate (request·s)")
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def serving_figures(results: Results) -> dict[str, Figure]:
    """Every serving figure, by file stem."""
    return {
        "serving_latency_cdf": latency_cdf(results),
        "serving_queue_wait": queue_wait_over_time(results),
        "serving_welfare": welfare_bars(results),
        "serving_externality": externality_tracking(results),
    }
