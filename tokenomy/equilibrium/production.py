"""Production sets: a small catalogue of convex compact pieces, vectorised over agents.

An agent's production set Y_a is the Minkowski sum of pieces from the catalogue, so its profit
maximiser is the sum of the pieces' maximisers and its profit is the sum of their support
functions σ(p) = max_{y ∈ piece} ⟨p, y⟩. Every piece has one in closed form:

============== ============================================ =================================
piece          set (netputs; inputs are negative)           maximiser at prices p
============== ============================================ =================================
box            lo ≤ y ≤ hi                                  hi where p ≥ 0, else lo
ellipsoid      Σ ((y − c)/r)² ≤ 1                           c + r²p / ‖r p‖
activities     y = Σ_j u_j b_j, 0 ≤ u_j ≤ ū_j               u_j = ū_j if ⟨b_j, p⟩ > 0
quadratic_cost 0 ≤ q ≤ q̄, −τ̄ ≤ τ ≤ −(g q + h q²/2)           q = clip((p_q − p_τ g)/(p_τ h))
power          0 ≤ o ≤ A l^α, τ = −l, 0 ≤ l ≤ l̄             l = (α A p_o/p_τ)^{1/(1−α)}
============== ============================================ =================================

Activities are linear technologies; quadratic_cost and power act per basis coefficient.

Each kind is a *batch*: the instances of that piece across all agents, stored as arrays, so
an economy with ten thousand agents evaluates all their maximisers in a few array operations.
Ties (a zero price) are broken deterministically, toward the upper end of a box or no activity.
Pieces whose support function has kinks on p ≥ 0 (activities; ellipsoids where all the agent's
prices vanish) also offer a μ-smoothed maximiser for first-order methods: for activities the
gradient of σ_μ(p) = max ⟨p, y⟩ − μ/2‖u − u_mid‖² (in activity levels), for ellipsoids of
⟨c, p⟩ + √(‖r p‖² + μ²) − μ. A box's support is linear on p ≥ 0 and needs none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from typing_extensions import override

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class PieceBatch(ABC):
    """Instances of one piece kind: ``goods[i]`` are the goods instance ``i`` acts on."""

    firm: IntArray  # (m,) firm of each instance
    goods: IntArray  # (m, d) global goods indices

    kind = "piece"
    smooth = False

    @property
    def size(self) -> int:
        """Number of instances."""
        return len(self.firm)

    def local(self, p: FloatArray) -> FloatArray:
        """Prices seen by each instance, shape (m, d)."""
        return np.asarray(p[self.goods], np.float64)

    @abstractmethod
    def support(self, p: FloatArray) -> FloatArray:
        """σ(p) per instance, shape (m,)."""

    @abstractmethod
    def argmax(self, p: FloatArray) -> FloatArray:
        """A profit-maximising netput per instance, shape (m, d)."""

    def smoothed(self, p: FloatArray, mu: float) -> tuple[FloatArray, FloatArray]:
        """Value and maximiser of the μ-smoothed support (exact for smooth pieces)."""
        y = self.argmax(p)
        return self.support(p), y

    @abstractmethod
    def violation(self, y: FloatArray) -> FloatArray:
        """How far each netput is outside its set (0 if inside), shape (m,)."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` feasible netputs per instance, shape (n, m, d)."""

    @abstractmethod
    def cvxpy_constraints(self, y: Any) -> list[Any]:
        """Constraints putting a cvxpy variable of shape (m, d) in the set."""


def _value(p_local: FloatArray, y: FloatArray) -> FloatArray:
    return np.asarray(np.einsum("md,md->m", p_local, y), np.float64)


@dataclass
class BoxBatch(PieceBatch):
    """lo ≤ y ≤ hi."""

    lo: FloatArray  # (m, d)
    hi: FloatArray

    kind = "box"
    # σ(p) = ⟨p, hi⟩ on p ≥ 0 (where prices live): linear, so no smoothing is needed
    smooth = True

    @override
    def support(self, p: FloatArray) -> FloatArray:
        q = self.local(p)
        return _value(q, np.where(q >= 0, self.hi, self.lo))

    @override
    def argmax(self, p: FloatArray) -> FloatArray:
        return np.where(self.local(p) >= 0, self.hi, self.lo)

    @override
    def smoothed(self, p: FloatArray, mu: float) -> tuple[FloatArray, FloatArray]:
        q = self.local(p)
        mid = 0.5 * (self.lo + self.hi)
        y = np.clip(mid + q / mu, self.lo, self.hi)
        return _value(q, y) - 0.5 * mu * np.sum((y - mid) ** 2, axis=1), y

    @override
    def violation(self, y: FloatArray) -> FloatArray:
        over = np.maximum(np.maximum(self.lo - y, y - self.hi), 0.0)
        return np.asarray(over.max(axis=1), np.float64)

    @override
    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        u = rng.random((n, *self.lo.shape))
        return self.lo[None] + u * (self.hi - self.lo)[None]

    @override
    def cvxpy_constraints(self, y: Any) -> list[Any]:
        return [y >= self.lo, y <= self.hi]


@dataclass
class EllipsoidBatch(PieceBatch):
    """Σ ((y − c)/r)² ≤ 1 (axis-aligned in coefficient space)."""

    center: FloatArray  # (m, d)
    radii: FloatArray

    kind = "ellipsoid"
    # ‖r p‖ has a kink where the agent's prices are all zero (an uncongested agent)
    smooth = False

    @override
    def support(self, p: FloatArray) -> FloatArray:
        q = self.local(p)
        return np.asarray(
            _value(q, self.center) + np.linalg.norm(self.radii * q, axis=1), np.float64
        )

    def smoothed(self, p: FloatArray, mu: float) -> tuple[FloatArray, FloatArray]:
        """⟨c, p⟩ + √(‖r p‖² + μ²) − μ; its gradient stays inside the ellipsoid."""
        q = self.local(p)
        norm = np.sqrt(np.sum((self.radii * q) ** 2, axis=1) + mu * mu)
        value = _value(q, self.center) + norm - mu
        safe = np.where(norm > 0, norm, 1.0)
        return value, np.asarray(self.center + self.radii**2 * q / safe[:, None], np.float64)

    @override
    def argmax(self, p: FloatArray) -> FloatArray:
        q = self.local(p)
        scale = np.linalg.norm(self.radii * q, axis=1)
        safe = np.where(scale > 0, scale, 1.0)
        step = self.radii**2 * q / safe[:, None]
        return np.asarray(self.center + np.where(scale[:, None] > 0, step, 0.0), np.float64)

    @override
    def violation(self, y: FloatArray) -> FloatArray:
        r = np.linalg.norm((y - self.center) / self.radii, axis=1)
        return np.asarray(np.maximum(r - 1.0, 0.0) * self.radii.min(axis=1), np.float64)

    @override
    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        m, d = self.center.shape
        g = rng.standard_normal((n, m, d))
        g /= np.linalg.norm(g, axis=2, keepdims=True)
        rad = rng.random((n, m, 1)) ** (1.0 / d)
        return np.asarray(self.center[None] + self.radii[None] * g * rad, np.float64)

    @override
    def cvxpy_constraints(self, y: Any) -> list[Any]:
        import cvxpy as cp

        return [cp.norm(cp.multiply(y - self.center, 1.0 / self.radii), 2, axis=1) <= 1.0]


@dataclass
class ActivitiesBatch(PieceBatch):
    """y = Σ_j u_j b_j with 0 ≤ u_j ≤ ū_j (linear technology)."""

    vectors: FloatArray  # (m, J, d)
    levels: FloatArray  # (m, J) ū

    kind = "activities"

    def values(self, p: FloatArray) -> FloatArray:
        """Net value of each activity at prices p, shape (m, J)."""
        return np.asarray(np.einsum("mjd,md->mj", self.vectors, self.local(p)), np.float64)

    @override
    def support(self, p: FloatArray) -> FloatArray:
        return np.asarray(np.sum(self.levels * np.maximum(self.values(p), 0.0), axis=1))

    @override
    def argmax(self, p: FloatArray) -> FloatArray:
        u = np.where(self.values(p) > 0, self.levels, 0.0)
        return np.asarray(np.einsum("mj,mjd->md", u, self.vectors), np.float64)

    @override
    def smoothed(self, p: FloatArray, mu: float) -> tuple[FloatArray, FloatArray]:
        v = self.values(p)
        mid = 0.5 * self.levels
        u = np.clip(mid + v / mu, 0.0, self.levels)
        value = np.sum(u * v, axis=1) - 0.5 * mu * np.sum((u - mid) ** 2, axis=1)
        return value, np.asarray(np.einsum("mj,mjd->md", u, self.vectors), np.float64)

    @override
    def violation(self, y: FloatArray) -> FloatArray:
        from scipy.optimize import linprog

        out = np.zeros(self.size)
        for i in range(self.size):
            b = self.vectors[i].T  # (d, J)
            res = linprog(
                np.zeros(b.shape[1]),
                A_eq=b,
                b_eq=y[i],
                bounds=list(zip(np.zeros(b.shape[1]), self.levels[i], strict=True)),
                method="highs",
            )
            if res.status != 0:
                # distance in activity space is not cheap; report the residual of the best fit
                u = np.clip(np.linalg.lstsq(b, y[i], rcond=None)[0], 0, self.levels[i])
                out[i] = float(np.abs(b @ u - y[i]).max())
        return out

    @override
    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        u = rng.random((n, *self.levels.shape)) * self.levels[None]
        return np.asarray(np.einsum("nmj,mjd->nmd", u, self.vectors), np.float64)

    @override
    def cvxpy_constraints(self, y: Any) -> list[Any]:
        import cvxpy as cp

        m, J, _ = self.vectors.shape
        u = cp.Variable((m, J), name="activity_levels")
        combo = sum(cp.multiply(u[:, j : j + 1], self.vectors[:, j, :]) for j in range(J))
        return [u >= 0, u <= self.levels, y == combo]


@dataclass
class QuadraticCostBatch(PieceBatch):
    """Per coefficient: 0 ≤ q ≤ q̄ output, −τ̄ ≤ τ ≤ −(g q + h q²/2) input netput.

    ``goods[:, :K]`` are the output coefficients, ``goods[:, K:]`` the input coefficients.
    """

    linear: FloatArray  # (m,) g
    quadratic: FloatArray  # (m,) h
    max_output: FloatArray  # (m,) q̄
    max_input: FloatArray  # (m,) τ̄

    kind = "quadratic_cost"
    # smooth where the input has a price; where it is free the support is p_out·q̄, with a
    # kink at p_out = 0, so first-order methods use the μ-smoothed version
    smooth = False

    def _split(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        k = z.shape[1] // 2
        return z[:, :k], z[:, k:]

    def _solve(self, p: FloatArray, mu: float = 0.0) -> tuple[FloatArray, FloatArray]:
        """Maximiser of p_out·q − p_in·cost(q) − μ/2·q² (μ = 0: the exact one)."""
        po, pi = self._split(self.local(p))
        g, h = self.linear[:, None], self.quadratic[:, None]
        qmax, tmax = self.max_output[:, None], self.max_input[:, None]
        curvature = pi * h + mu
        with np.errstate(divide="ignore", invalid="ignore"):
            interior = (po - pi * g) / curvature
        q = np.where(curvature > 0, np.clip(np.nan_to_num(interior, posinf=0.0), 0.0, qmax), 0.0)
        q = np.where((curvature <= 0) & (po > 0), np.broadcast_to(qmax, q.shape), q)
        cost = g * q + 0.5 * h * q**2
        tau = np.where(pi >= 0, -cost, -np.broadcast_to(tmax, cost.shape))
        return q, tau

    @override
    def smoothed(self, p: FloatArray, mu: float) -> tuple[FloatArray, FloatArray]:
        q, tau = self._solve(p, mu)
        y = np.concatenate([q, tau], axis=1)
        return _value(self.local(p), y) - 0.5 * mu * np.sum(q**2, axis=1), y

    @override
    def support(self, p: FloatArray) -> FloatArray:
        return _value(self.local(p), self.argmax(p))

    @override
    def argmax(self, p: FloatArray) -> FloatArray:
        q, tau = self._solve(p)
        return np.concatenate([q, tau], axis=1)

    @override
    def violation(self, y: FloatArray) -> FloatArray:
        q, tau = self._split(y)
        g, h = self.linear[:, None], self.quadratic[:, None]
        over = np.maximum.reduce(
            [
                -q,
                q - self.max_output[:, None],
                tau + g * q + 0.5 * h * q**2,
                -self.max_input[:, None] - tau,
                np.zeros_like(q),
            ]
        )
        return np.asarray(over.max(axis=1), np.float64)

    @override
    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        m, d = self.goods.shape
        k = d // 2
        q = rng.random((n, m, k)) * self.max_output[None, :, None]
        cost = self.linear[None, :, None] * q + 0.5 * self.quadratic[None, :, None] * q**2
        tmax = self.max_input[None, :, None]
        tau = -cost - rng.random((n, m, k)) * (tmax - cost)
        return np.concatenate([q, tau], axis=2)

    @override
    def cvxpy_constraints(self, y: Any) -> list[Any]:
        import cvxpy as cp

        k = self.goods.shape[1] // 2
        q, tau = y[:, :k], y[:, k:]
        g = np.repeat(self.linear[:, None], k, axis=1)
        h = np.repeat(self.quadratic[:, None], k, axis=1)
        return [
            q >= 0,
            q <= np.repeat(self.max_output[:, None], k, axis=1),
            tau <= -(cp.multiply(g, q) + 0.5 * cp.multiply(h, cp.square(q))),
            tau >= -np.repeat(self.max_input[:, None], k, axis=1),
        ]


@dataclass
class PowerBatch(PieceBatch):
    """Per coefficient: 0 ≤ o ≤ A·l^α with input netput τ = −l, 0 ≤ l ≤ l̄."""

    scale: FloatArray  # (m,) A
    exponent: FloatArray  # (m,) α
    max_input: FloatArray  # (m,) l̄

    kind = "power"
    smooth = True

    def _solve(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        q = self.local(p)
        k = q.shape[1] // 2
        po, pi = q[:, :k], q[:, k:]
        A, a = self.scale[:, None], self.exponent[:, None]
        lmax = np.broadcast_to(self.max_input[:, None], po.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            interior = (a * A * po / pi) ** (1.0 / (1.0 - a))
        labour = np.where(
            po > 0,
            np.where(pi > 0, np.minimum(np.nan_to_num(interior, posinf=np.inf), lmax), lmax),
            np.where(pi < 0, lmax, 0.0),
        )
        output = np.where(po > 0, A * labour**a, 0.0)
        return output, -labour

    @override
    def support(self, p: FloatArray) -> FloatArray:
        return _value(self.local(p), self.argmax(p))

    @override
    def argmax(self, p: FloatArray) -> FloatArray:
        o, tau = self._solve(p)
        return np.concatenate([o, tau], axis=1)

    @override
    def violation(self, y: FloatArray) -> FloatArray:
        k = y.shape[1] // 2
        o, tau = y[:, :k], y[:, k:]
        labour = -tau
        A, a = self.scale[:, None], self.exponent[:, None]
        cap = A * np.maximum(labour, 0.0) ** a
        over = np.maximum.reduce(
            [-o, o - cap, -labour, labour - self.max_input[:, None], np.zeros_like(o)]
        )
        return np.asarray(over.max(axis=1), np.float64)

    @override
    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        m, d = self.goods.shape
        k = d // 2
        labour = rng.random((n, m, k)) * self.max_input[None, :, None]
        cap = self.scale[None, :, None] * labour ** self.exponent[None, :, None]
        o = rng.random((n, m, k)) * cap
        return np.concatenate([o, -labour], axis=2)

    @override
    def cvxpy_constraints(self, y: Any) -> list[Any]:
        import cvxpy as cp

        k = self.goods.shape[1] // 2
        o, tau = y[:, :k], y[:, k:]
        cons = [o >= 0, tau <= 0, -tau <= np.repeat(self.max_input[:, None], k, axis=1)]
        for i in range(self.size):
            cons.append(o[i, :] <= self.scale[i] * cp.power(-tau[i, :], float(self.exponent[i])))
        return cons


@dataclass
class Technology:
    """All production pieces of an economy, by kind, tagged with their firms."""

    batches: list[PieceBatch]
    n_firms: int
    n_goods: int

    def supply(self, p: FloatArray) -> FloatArray:
        """Total netput of all firms at prices p (their profit maximisers), shape (n,)."""
        total = np.zeros(self.n_goods)
        for b in self.batches:
            np.add.at(total, b.goods.ravel(), b.argmax(p).ravel())
        return total

    def netputs(self, p: FloatArray) -> list[FloatArray]:
        """Each batch's maximisers at p."""
        return [b.argmax(p) for b in self.batches]

    def total(self, netputs: list[FloatArray]) -> FloatArray:
        """Sum of given per-batch netputs into goods, shape (n,)."""
        total = np.zeros(self.n_goods)
        for b, y in zip(self.batches, netputs, strict=True):
            np.add.at(total, b.goods.ravel(), y.ravel())
        return total

    def profits(self, p: FloatArray) -> FloatArray:
        """Maximal profit σ_{Y_a}(p) of each firm, shape (F,)."""
        out = np.zeros(self.n_firms)
        for b in self.batches:
            np.add.at(out, b.firm, b.support(p))
        return out

    def profit_of(self, p: FloatArray, netputs: list[FloatArray]) -> FloatArray:
        """⟨p, y_a⟩ of given netputs, per firm."""
        out = np.zeros(self.n_firms)
        for b, y in zip(self.batches, netputs, strict=True):
            np.add.at(out, b.firm, _value(b.local(p), y))
        return out

    def smoothed(self, p: FloatArray, mu: float) -> tuple[float, FloatArray]:
        """Σ_a σ_μ(p) and the smoothed total netput (the gradient), for first-order methods."""
        total = np.zeros(self.n_goods)
        value = 0.0
        for b in self.batches:
            v, y = b.smoothed(p, mu) if not b.smooth and mu > 0 else (b.support(p), b.argmax(p))
            value += float(v.sum())
            np.add.at(total, b.goods.ravel(), y.ravel())
        return value, total

    def smoothed_netputs(self, p: FloatArray, mu: float) -> list[FloatArray]:
        """Per-batch maximisers: smoothed (at μ) for non-smooth pieces, exact otherwise."""
        return [
            b.smoothed(p, mu)[1] if not b.smooth and mu > 0 else b.argmax(p) for b in self.batches
        ]

    @property
    def smooth(self) -> bool:
        """Whether every firm's profit is differentiable in prices (no smoothing needed)."""
        return all(b.smooth for b in self.batches)

    def violations(self, netputs: list[FloatArray]) -> FloatArray:
        """Largest violation of each firm's production set by the given netputs."""
        out = np.zeros(self.n_firms)
        for b, y in zip(self.batches, netputs, strict=True):
            np.maximum.at(out, b.firm, b.violation(y))
        return out
