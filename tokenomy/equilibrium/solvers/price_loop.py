"""The price loop as the theory states it: tâtonnement with softmax routing.

Each round, at prices p:

    firms supply y(p) (their profit maximisers),
    the orchestrator routes π⁺ = softmax_β(V·s) and buys its Walrasian demand d(p),
    p⁺ = Proj([p + η·(p̄/q̄)⊙(d − ω − y)]₊),

where Proj normalises the price level (homogeneous economies: Σ p = number of goods; economies
with money and Fisher markets: none) and p̄/q̄ — a typical price (``price_scale``: the
economy's, see :meth:`~tokenomy.equilibrium.economy.Economy.price_scale`, else the starting
mean) over each good's starting quantity (:func:`quantity_scale`) — converts quantities into
price units, so η is dimensionless and the loop does not depend on the units each metric is
measured in, nor on where it starts. This is a
fixed-point iteration p⁺ = T(p); it converges geometrically when T is a contraction, and may
cycle or diverge when it is not — which is reported, never hidden:

* ``optimal``: the clearing/complementarity residual fell below the tolerance;
* ``cycling``: after a warm-up, the residual stops shrinking while the path comes back near
  points it visited before (Scarf's economy: tâtonnement conserves Σ p² there, so the path
  circles p* forever);
* ``diverged``: prices or excess demand became non-finite or blew up;
* ``max_iterations``: none of the above within the budget.

The path records every price vector, residual and step; the Lipschitz constant of T along the
path and the observed rate come from the ratios ‖p_{k+1} − p_k‖ / ‖p_k − p_{k−1}‖
(:func:`path_contraction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

FloatArray = np.ndarray
ExcessFn = Callable[[FloatArray], tuple[FloatArray, FloatArray]]
"""p -> (excess demand z, consumption x) — x only sets the quantity scale of residuals."""


@dataclass
class LoopPath:
    """The trajectory and verdict of a tâtonnement run."""

    status: str
    prices: FloatArray
    iterations: int
    wall_s: float
    path: list[FloatArray] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    observed_rate: float | None = None
    contraction: float | None = None
    message: str = ""


def project_level(p: FloatArray, level: float | None) -> FloatArray:
    """[p]₊, then (if ``level``) Euclidean projection onto {p ≥ 0, Σ p = level}."""
    if level is None:
        return np.asarray(np.maximum(p, 0.0), np.float64)
    # projection onto the scaled simplex (Held, Wolfe and Crowder; sort-based)
    u = np.sort(p)[::-1]
    css = np.cumsum(u) - level
    k = np.arange(1, len(p) + 1)
    cond = u - css / k > 0
    rho = int(np.flatnonzero(cond)[-1])
    theta = css[rho] / (rho + 1)
    return np.asarray(np.maximum(p - theta, 0.0), np.float64)


def kkt_residual(p: FloatArray, z: FloatArray, x: FloatArray) -> float:
    """Max of relative excess demand and |min(p̂, −ẑ)| (complementarity, free disposal)."""
    if len(z) == 0:
        return 0.0
    scale_p = max(float(np.max(np.abs(p))), 1e-12)
    scale_q = max(1.0, float(np.max(np.abs(x))))
    clearing = float(np.max(np.maximum(z, 0.0))) / scale_q
    comp = float(np.max(np.abs(np.minimum(p / scale_p, -z / scale_q))))
    return max(clearing, comp)


def tatonnement(
    excess: ExcessFn,
    p0: FloatArray,
    *,
    eta: float = 0.1,
    level: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 5000,
    window: int = 200,
    keep_path: int = 4000,
    max_seconds: float | None = None,
    price_scale: float | None = None,
) -> LoopPath:
    """Iterate p⁺ = Proj([p + η (p̄/q̄) ⊙ z(p)]₊); see the module docstring for the verdicts."""
    started = time.perf_counter()
    p = project_level(np.asarray(p0, np.float64), level)
    z, x = excess(p)
    q_scale = quantity_scale(x, z)
    # the price scale: given by the caller (the economy's typical price) or the start's mean
    p_bar = price_scale if price_scale is not None else max(float(np.mean(np.abs(p))), 1e-12)
    path = [p.copy()]
    residuals = [kkt_residual(p, z, x)]
    steps: list[float] = []
    status = "max_iterations"
    message = ""
    z0 = max(float(np.linalg.norm(z)), 1e-300)
    it = 0
    for it in range(1, max_iter + 1):
        p_new = project_level(p + eta * (p_bar / q_scale) * z, level)
        steps.append(float(np.linalg.norm(p_new - p)))
        p = p_new
        z, x = excess(p)
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(z))):
            status, message = "diverged", "prices or excess demand became non-finite"
            break
        res = kkt_residual(p, z, x)
        residuals.append(res)
        if len(path) < keep_path:
            path.append(p.copy())
        if res <= tol:
            status = "optimal"
            break
        if float(np.linalg.norm(z)) > 1e6 * z0 or float(np.max(np.abs(p))) > 1e12:
            status, message = "diverged", "excess demand or prices grew without bound"
            break
        if it >= 3 * window and _cycling(residuals, steps, path, window):
            status = "cycling"
            message = (
                f"no progress over the last {window} rounds: the residual and the step length "
                "stopped shrinking while the path revisits earlier prices"
            )
            break
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            status, message = "time_limit", f"stopped after {max_seconds:g} s"
            break
    contraction, observed = path_contraction(steps, window)
    return LoopPath(
        status=status,
        prices=p,
        iterations=it,
        wall_s=time.perf_counter() - started,
        path=path,
        residuals=residuals,
        steps=steps,
        observed_rate=observed,
        contraction=contraction,
        message=message,
    )


def quantity_scale(x: FloatArray, z: FloatArray) -> FloatArray:
    """Each good's quantity scale at the start: the larger of its demand and its supply.

    Goods come in their own units (thousands of tokens next to probabilities of failure), so
    one step size for all would crawl on the small ones; dividing each good's excess demand by
    its own scale makes η dimensionless. Scales are floored at 10⁻³ of the largest so a good
    nobody trades at the start still moves.
    """
    scale = np.maximum(np.abs(x), np.abs(x - z))
    top = max(1e-12, float(np.max(scale, initial=0.0)))
    return np.asarray(np.maximum(scale, 1e-3 * top), np.float64)


def path_contraction(steps: list[float], window: int) -> tuple[float | None, float | None]:
    """Lipschitz constant of the price map along the path, and the observed rate.

    With p_{k+1} = T(p_k), the ratio ‖p_{k+1} − p_k‖ / ‖p_k − p_{k−1}‖ is
    ‖T(p_k) − T(p_{k−1})‖ / ‖p_k − p_{k−1}‖: the largest ratio over the last ``window`` rounds
    estimates the contraction constant L, their geometric mean the rate of convergence (about
    L when L < 1; about 1 on a cycle or an orbit). Rounds with vanishing steps are skipped.
    """
    floor = 1e-14 * max(1.0, max(steps, default=0.0))
    ratios = [
        steps[k + 1] / steps[k]
        for k in range(max(0, len(steps) - window - 1), len(steps) - 1)
        if steps[k] > floor and steps[k + 1] > floor
    ]
    if not ratios:
        return None, None
    return float(max(ratios)), float(np.exp(np.mean(np.log(ratios))))


def _cycling(
    residuals: list[float], steps: list[float], path: list[FloatArray], window: int
) -> bool:
    """No progress across two windows, and the path has come back near an earlier point.

    Slow but steady convergence moves away from where it was; an orbit or a 2-cycle returns.
    """
    recent_res = min(residuals[-window:])
    before_res = min(residuals[-2 * window : -window])
    if recent_res <= 0.5 * before_res:
        return False
    travelled = float(np.sum(steps[-window:]))
    if travelled <= 1e-12:
        return False
    current = path[-1]
    earlier = np.asarray(path[: max(1, len(path) - window)])
    closest = float(np.min(np.linalg.norm(earlier - current[None, :], axis=1)))
    return closest < 0.25 * travelled
