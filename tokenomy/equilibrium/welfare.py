"""The orchestrator's welfare over delivered metric trajectories.

Delivered metrics D (R metrics × K coefficients) enter welfare through aggregates s = M·D:

* scalar aggregates s_r = ⟨w_r, D_r⟩ (weight trajectory w_r; default 1, so s_r = ∫ D_r dt) for
  ``linear``, ``cobb_douglas``, ``ces`` and ``quality_minus_cost``;
* every coefficient of the metrics involved for ``quadratic`` (welfare over whole trajectories).

Each kind gives its *reported* value, a *cardinal* form the solvers maximise (the same function,
except CES whose cardinal form is log CES — an increasing transform, so the same optimum, but
strictly concave), its gradient, a cvxpy expression, and, for strictly concave kinds, the
conjugate Ũ*(c) = max_s Ũ(s) − ⟨c, s⟩ with its maximiser s*(c) in closed form:

=================== ================================ =====================================
kind                cardinal Ũ(s)                    s*(c)
=================== ================================ =====================================
linear              Σ a_j s_j                        (linear: c must equal a)
quality_minus_cost  V s_q − c_tok s_tok − λ s_lat    (linear)
                    − ρ s_risk  (tokenomy.prices)
cobb_douglas        Σ α_j log s_j                    α / c
ces                 (1/ρ) log Σ a_j s_j^ρ            (c Z / a)^{1/(ρ−1)},
                                                     Z = (Σ a (c/a)^{ρ/(ρ−1)})^{1−ρ}
quadratic           Σ b_j s_j − q_j s_j²/2           (b − c) / q
=================== ================================ =====================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from typing_extensions import override

FloatArray = NDArray[np.float64]


@dataclass
class Welfare(ABC):
    """Welfare over aggregates ``s = M @ D`` (``M``: n_agg × R·K)."""

    M: FloatArray
    labels: list[str]

    kind = "welfare"
    linear = False

    def aggregates(self, D: FloatArray) -> FloatArray:
        """S = M D."""
        return np.asarray(self.M @ D, np.float64)

    def value(self, D: FloatArray) -> float:
        """Reported welfare of delivered metrics D."""
        return self.cardinal(D)

    def cardinal(self, D: FloatArray) -> float:
        """The concave objective the solvers maximise."""
        return float(self.cardinal_s(self.aggregates(D)))

    @abstractmethod
    def cardinal_s(self, s: FloatArray) -> float:
        """Cardinal welfare of aggregates s."""

    @abstractmethod
    def grad_s(self, s: FloatArray) -> FloatArray:
        """Gradient of the cardinal welfare in s."""

    def grad(self, D: FloatArray) -> FloatArray:
        """Gradient of the cardinal welfare in D (R·K)."""
        return np.asarray(self.M.T @ self.grad_s(self.aggregates(D)), np.float64)

    @abstractmethod
    def cvx(self, s: Any) -> Any:
        """Cvxpy expression of the cardinal welfare of an affine expression s."""

    def conjugate(self, c: FloatArray) -> tuple[float, FloatArray]:
        """Ũ*(c) = max_s Ũ(s) − ⟨c, s⟩ and the maximiser (strictly concave kinds)."""
        raise NotImplementedError(f"{self.kind} welfare is linear: it has no smooth conjugate")

    def dual_lower(self) -> float:
        """Lower bound of the conjugate's domain for each multiplier."""
        return -np.inf

    def coefficients(self) -> FloatArray:
        """Constant gradient in s (linear kinds only)."""
        raise NotImplementedError


@dataclass
class LinearWelfare(Welfare):
    """W = Σ a_j s_j."""

    a: FloatArray

    kind = "linear"
    linear = True

    @override
    def cardinal_s(self, s: FloatArray) -> float:
        return float(self.a @ s)

    @override
    def grad_s(self, s: FloatArray) -> FloatArray:
        return self.a.copy()

    @override
    def cvx(self, s: Any) -> Any:
        return self.a @ s

    @override
    def coefficients(self) -> FloatArray:
        return self.a.copy()


class QualityMinusCost(LinearWelfare):
    """Linear welfare whose coefficients come from :class:`tokenomy.prices.Prices`."""

    kind = "quality_minus_cost"


@dataclass
class CobbDouglasWelfare(Welfare):
    """W = Σ α_j log s_j."""

    alpha: FloatArray

    kind = "cobb_douglas"

    @override
    def cardinal_s(self, s: FloatArray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(self.alpha * np.log(s))) if np.all(s > 0) else -np.inf

    @override
    def grad_s(self, s: FloatArray) -> FloatArray:
        return np.asarray(self.alpha / s, np.float64)

    @override
    def cvx(self, s: Any) -> Any:
        import cvxpy as cp

        return cp.sum(cp.multiply(self.alpha, cp.log(s)))

    @override
    def conjugate(self, c: FloatArray) -> tuple[float, FloatArray]:
        s = self.alpha / c
        return float(np.sum(self.alpha * (np.log(s) - 1.0))), s

    @override
    def dual_lower(self) -> float:
        return 1e-300


@dataclass
class CESWelfare(Welfare):
    """Reported W = (Σ a_j s_j^ρ)^{1/ρ}; cardinal log W (same optimum, strictly concave)."""

    shares: FloatArray
    rho: float

    kind = "ces"

    @override
    def value(self, D: FloatArray) -> float:
        s = self.aggregates(D)
        if np.any(s < 0) or (self.rho < 0 and np.any(s <= 0)):
            return -np.inf
        return float(np.sum(self.shares * s**self.rho) ** (1.0 / self.rho))

    @override
    def cardinal_s(self, s: FloatArray) -> float:
        if np.any(s <= 0):
            return -np.inf
        return float(np.log(np.sum(self.shares * s**self.rho)) / self.rho)

    @override
    def grad_s(self, s: FloatArray) -> FloatArray:
        z = np.sum(self.shares * s**self.rho)
        return np.asarray(self.shares * s ** (self.rho - 1.0) / z, np.float64)

    @override
    def cvx(self, s: Any) -> Any:
        import cvxpy as cp

        weighted = cp.multiply(self.shares ** (1.0 / self.rho), s)
        return cp.log(cp.pnorm(weighted, self.rho))

    @override
    def conjugate(self, c: FloatArray) -> tuple[float, FloatArray]:
        r = self.rho
        a = self.shares
        total = np.sum(a * (c / a) ** (r / (r - 1.0)))
        z = total ** (1.0 - r)
        s = (c * z / a) ** (1.0 / (r - 1.0))
        return float(np.log(z) / r - 1.0), s

    @override
    def dual_lower(self) -> float:
        return 1e-300


@dataclass
class QuadraticWelfare(Welfare):
    """W = Σ b_j s_j − q_j s_j²/2 (s: every coefficient of the metrics involved)."""

    b: FloatArray
    q: FloatArray

    kind = "quadratic"

    @override
    def cardinal_s(self, s: FloatArray) -> float:
        return float(self.b @ s - 0.5 * np.sum(self.q * s**2))

    @override
    def grad_s(self, s: FloatArray) -> FloatArray:
        return np.asarray(self.b - self.q * s, np.float64)

    @override
    def cvx(self, s: Any) -> Any:
        import cvxpy as cp

        return self.b @ s - 0.5 * cp.sum(cp.multiply(self.q, cp.square(s)))

    @override
    def conjugate(self, c: FloatArray) -> tuple[float, FloatArray]:
        s = (self.b - c) / self.q
        return float(np.sum((self.b - c) ** 2 / (2.0 * self.q))), s
