"""Orthonormal bases of functions on [0, T]: the commodity space V_K.

A metric trajectory y(t) on [0, T] is represented by its K coefficients in an orthonormal basis
φ_1..φ_K of L²[0, T]: y(t) = Σ_k y_k φ_k(t). Orthonormality makes the pairing of a price
trajectory with a quantity trajectory exact in coefficients (Parseval):

    ⟨p, y⟩ = ∫₀ᵀ p(t) y(t) dt = Σ_k p_k y_k.

Two families:

* **piecewise-constant**: φ_k = 1/√h on [k·h, (k+1)·h), h = T/K. A coefficient is √h times the
  value on its piece, so value bounds are coefficient bounds and the projection of a Lipschitz
  function converges at rate O(1/K).
* **Legendre**: φ_k(t) = √((2k+1)/T) · P_k(2t/T − 1). Projections of smooth functions converge
  faster than any power of 1/K.

Projections use Gauss–Legendre quadrature (per piece for the piecewise basis), so polynomial
trajectories are projected exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.polynomial import legendre as npleg
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BasisKind = Literal["piecewise", "legendre"]

_QUAD_POINTS = 24  # Gauss–Legendre nodes per interval (exact for degree ≤ 47)


@dataclass(frozen=True, eq=False)
class Basis:
    """An orthonormal basis of K functions on [0, horizon]."""

    kind: BasisKind
    size: int
    horizon: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("piecewise", "legendre"):
            raise ValueError(f"basis kind must be 'piecewise' or 'legendre', got {self.kind!r}")
        if self.size < 1:
            raise ValueError(f"basis size must be >= 1, got {self.size}")
        if not self.horizon > 0:
            raise ValueError(f"horizon must be > 0, got {self.horizon}")

    @property
    def K(self) -> int:
        """Number of basis functions."""
        return self.size

    def evaluate(self, t: ArrayLike) -> FloatArray:
        """Matrix ``Φ`` with ``Φ[i, k] = φ_k(t_i)``."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        T, K = self.horizon, self.size
        if self.kind == "piecewise":
            h = T / K
            piece = np.clip((t / h).astype(np.int64), 0, K - 1)
            out = np.zeros((len(t), K))
            out[np.arange(len(t)), piece] = 1.0 / np.sqrt(h)
            return out
        x = 2.0 * t / T - 1.0
        vander = npleg.legvander(x, K - 1)
        return np.asarray(vander * np.sqrt((2.0 * np.arange(K) + 1.0) / T)[None, :], np.float64)

    @cached_property
    def _quadrature(self) -> tuple[FloatArray, FloatArray]:
        """Nodes and weights integrating polynomials exactly on every piece of [0, T]."""
        x, w = npleg.leggauss(_QUAD_POINTS)
        if self.kind == "legendre":
            half = self.horizon / 2.0
            return half * (x + 1.0), half * w
        h = self.horizon / self.size
        starts = np.arange(self.size) * h
        nodes = (starts[:, None] + h / 2.0 * (x[None, :] + 1.0)).ravel()
        weights = np.tile(h / 2.0 * w, self.size)
        return nodes, weights

    def project(self, f: Callable[[FloatArray], ArrayLike]) -> FloatArray:
        """Coefficients of the L² projection of ``f`` (a vectorised function of t)."""
        nodes, weights = self._quadrature
        values = np.broadcast_to(np.asarray(f(nodes), dtype=np.float64), nodes.shape)
        return np.asarray(self.evaluate(nodes).T @ (weights * values), dtype=np.float64)

    def constant(self, value: float = 1.0) -> FloatArray:
        """Coefficients of the constant function ``value``."""
        return value * self.integral_weights

    @cached_property
    def integral_weights(self) -> FloatArray:
        """``w_k = ∫ φ_k``: the integral of a trajectory is ``Σ_k w_k y_k``.

        Also the coefficients of the constant 1 (⟨1, φ_k⟩ = ∫ φ_k).
        """
        weights = self.project(lambda t: np.ones_like(t))
        weights.flags.writeable = False
        return weights

    def reconstruct(self, coefficients: ArrayLike, t: ArrayLike) -> FloatArray:
        """Values at ``t`` of the trajectories with these coefficients (last axis = K)."""
        c = np.asarray(coefficients, dtype=np.float64)
        return np.asarray(np.tensordot(c, self.evaluate(t), axes=([-1], [1])), np.float64)

    def grid(self, points: int = 2001) -> FloatArray:
        """An evenly spaced grid on [0, T] (for plots and quadrature checks)."""
        return np.linspace(0.0, self.horizon, points)

    def gram(self, points: int = 4001) -> FloatArray:
        """∫ φ_j(t) φ_k(t) dt by the trapezoid rule on a fine grid (≈ identity, orthonormality).

        For the piecewise basis the grid avoids the jumps by integrating piece by piece.
        """
        if self.kind == "piecewise":
            h = self.horizon / self.size
            per = max(points // self.size, 3)
            gram = np.zeros((self.size, self.size))
            for k in range(self.size):
                t = np.linspace(k * h, (k + 1) * h, per)
                t[-1] = np.nextafter(t[-1], t[0])
                phi = self.evaluate(t)
                gram += np.trapezoid(phi[:, :, None] * phi[:, None, :], t, axis=0)
            return gram
        t = self.grid(points)
        phi = self.evaluate(t)
        return np.asarray(np.trapezoid(phi[:, :, None] * phi[:, None, :], t, axis=0), np.float64)

    def quadrature_inner(self, a: ArrayLike, b: ArrayLike, points: int = 4001) -> float:
        """Σ ∫ a(t) b(t) dt over trajectories (rows of K coefficients), by fine-grid quadrature.

        The pairing of reconstructed functions is bilinear, so it is aᵀ G b with G the Gram
        matrix from :meth:`gram`: an independent check of the coefficient-space pairing (used
        by the Walras certificate), at the cost of one K × K quadrature for any number of
        trajectories.
        """
        a = np.asarray(a, np.float64).reshape(-1, self.size)
        b = np.asarray(b, np.float64).reshape(-1, self.size)
        return float(np.einsum("ij,jk,ik->", a, self.gram(points), b))
