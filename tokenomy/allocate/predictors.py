"""Quality predictors: ``q̂_m(x)``, the quality model ``m`` would deliver on prompt ``x``.

Each predictor learns from recorded outcomes ``Y`` (prompts × models, 0/1 correctness or a
score in [0, 1]) given a feature matrix ``X`` (:mod:`tokenomy.allocate.features`), and predicts
an ``n × m`` matrix of qualities in [0, 1]. The router multiplies them by ``V``, so they should
be calibrated probabilities, not just rankings.

- :class:`LogisticQuality` (default): one L2-regularised logistic regression per model, then
  Platt scaling fitted on out-of-fold scores (3 folds), so ``q̂`` is calibrated. The scaled model
  is still linear in ``X``: predictions are ``σ(X·W + b)``.
- :class:`FactorQuality`: matrix factorisation — a shared low-dimensional prompt embedding
  ``X·A`` and one embedding per model, ``q̂ = σ((X·A)·Vᵀ + b)``, fitted by Adam on the
  cross-entropy. Also linear in ``X`` at prediction time (``W = A·Vᵀ``).
- :class:`NeighbourQuality`: the mean outcome of the ``k`` most similar training prompts
  (cosine), shrunk towards each model's overall mean.
- :class:`MeanQuality`: each model's training mean, for every prompt (no features).

Linear predictors expose :meth:`linear` (``W``, ``b``), which the router's single-request path
uses to answer in microseconds.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from tokenomy.errors import ConfigError, UnknownNameError

__all__ = [
    "PREDICTORS",
    "PREFERRED_FEATURIZER",
    "FactorQuality",
    "LogisticQuality",
    "MeanQuality",
    "NeighbourQuality",
    "QualityPredictor",
    "make_predictor",
    "predictor_from_state",
]

Matrix: TypeAlias = Any
"""A scipy sparse matrix or a dense float array (scipy ships no type hints)."""


class QualityPredictor(Protocol):
    """What the router needs from a quality predictor."""

    name: str

    def fit(self, X: Matrix, Y: NDArray[np.float64]) -> QualityPredictor:
        """Learn from features ``X`` (n × d) and outcomes ``Y`` (n × m) in [0, 1]."""
        ...

    def predict(self, X: Matrix) -> NDArray[np.float64]:
        """Predicted qualities (n × m) in [0, 1]."""
        ...

    def linear(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """``(W, b)`` when predictions are ``σ(X·W + b)``, else ``None``."""
        ...

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted predictor (arrays and plain values)."""
        ...


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _check_xy(X: Matrix, Y: NDArray[np.float64]) -> NDArray[np.float64]:
    y = np.asarray(Y, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] != X.shape[0]:
        raise ConfigError(
            f"outcomes must be (prompts × models) with {X.shape[0]} rows, got shape {y.shape}"
        )
    if y.shape[0] < 2:
        raise ConfigError("a quality predictor needs at least two training prompts")
    if not np.all(np.isfinite(y)) or y.min() < 0 or y.max() > 1:
        raise ConfigError("outcomes must be finite and in [0, 1]")
    return y


def _active(X: Matrix) -> tuple[Matrix, NDArray[np.int64]]:
    """The columns that are non-zero somewhere, and their indices.

    Hashed text features use a few thousand of their ``2**18`` columns on a training set; a
    column that is zero on every training row gets a zero weight under L2 regularisation, so
    fitting on the active columns only gives the same model, much faster.
    """
    if not sp.issparse(X):
        return X, np.arange(X.shape[1], dtype=np.int64)
    csr = sp.csr_matrix(X)
    active = np.unique(csr.indices).astype(np.int64)
    return sp.csr_matrix(csr[:, active]), active


def _matmul(X: Matrix, W: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(X @ W, dtype=np.float64)


class _Linear:
    """Shared prediction, access and saving of the predictors that are ``σ(X·W + b)``."""

    name = "linear"
    W: NDArray[np.float64] | None = None
    b: NDArray[np.float64] | None = None

    def predict(self, X: Matrix) -> NDArray[np.float64]:
        """Predicted qualities ``σ(X·W + b)``."""
        W, b = self._fitted()
        if X.shape[1] != W.shape[0]:
            raise ConfigError(
                f"{self.name}: features have {X.shape[1]} columns, the model {W.shape[0]}"
            )
        return _sigmoid(_matmul(X, W) + b)

    def linear(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The fitted ``(W, b)``."""
        return self._fitted()

    def _fitted(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if self.W is None or self.b is None:
            raise ConfigError(f"{self.name}: predict called before fit")
        return self.W, self.b

    def _linear_state(self) -> dict[str, Any]:
        W, b = self._fitted()
        return {"name": self.name, "W": sp.csc_matrix(W), "b": b}

    def _load_linear(self, state: dict[str, Any]) -> None:
        W = state["W"]
        self.W = np.asarray(W.toarray() if sp.issparse(W) else W, dtype=np.float64)
        self.b = np.asarray(state["b"], dtype=np.float64)


def _labels_and_weights(
    X: Matrix, y: NDArray[np.float64]
) -> tuple[Matrix, NDArray[np.int64], NDArray[np.float64]]:
    """0/1 labels as they are; fractional scores as a weighted pair of rows each."""
    if np.all((y == 0) | (y == 1)):
        return X, y.astype(np.int64), np.ones_like(y)
    stacked = sp.vstack([X, X]).tocsr() if sp.issparse(X) else np.vstack([X, X])
    labels = np.concatenate([np.ones_like(y), np.zeros_like(y)]).astype(np.int64)
    return stacked, labels, np.concatenate([y, 1.0 - y])


class LogisticQuality(_Linear):
    """Per-model logistic regression with Platt calibration on out-of-fold scores.

    Args:
        C: inverse L2 regularisation strength.
        folds: folds for the out-of-fold scores the calibration is fitted on.
        seed: seed of the fold assignment.
    """

    name = "logistic"

    def __init__(self, C: float = 4.0, folds: int = 3, seed: int = 0) -> None:
        if C <= 0 or folds < 2:
            raise ConfigError(f"LogisticQuality needs C > 0 and folds >= 2, got {C}, {folds}")
        self.C = C
        self.folds = folds
        self.seed = seed

    def _fit_one(self, X: Matrix, y: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
        from sklearn.linear_model import LogisticRegression

        Xs, labels, weights = _labels_and_weights(X, y)
        model = LogisticRegression(C=self.C, solver="liblinear", max_iter=500, tol=1e-4)
        model.fit(Xs, labels, sample_weight=weights)
        return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])

    def _platt(self, X: Matrix, y: NDArray[np.float64]) -> tuple[float, float]:
        """Slope and intercept mapping a raw score to a calibrated log-odds."""
        from sklearn.linear_model import LogisticRegression

        n = X.shape[0]
        folds = min(self.folds, n)
        order = np.random.default_rng(self.seed).permutation(n)
        scores = np.empty(n)
        for k in range(folds):
            test = order[k::folds]
            train = np.setdiff1d(order, test)
            if np.ptp(y[train]) == 0:
                scores[test] = 0.0 if y[train][0] == 0 else 1.0
                continue
            w, c = self._fit_one(X[train], y[train])
            scores[test] = _matmul(X[test], w[:, None])[:, 0] + c
        S, labels, weights = _labels_and_weights(scores[:, None], y)
        platt = LogisticRegression(C=1e6, max_iter=1000)
        platt.fit(S, labels, sample_weight=weights)
        return float(platt.coef_[0, 0]), float(platt.intercept_[0])

    def fit(self, X: Matrix, Y: NDArray[np.float64]) -> LogisticQuality:
        """Fit one calibrated logistic model per column of ``Y``."""
        y_all = _check_xy(X, Y)
        d, m = X.shape[1], y_all.shape[1]
        full_X = X
        X, active = _active(full_X)
        W = np.zeros((d, m))
        b = np.zeros(m)
        for j in range(m):
            y = y_all[:, j]
            mean = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
            if np.ptp(y) == 0:
                b[j] = np.log(mean / (1 - mean))
                continue
            w, c = self._fit_one(X, y)
            slope, shift = self._platt(X, y)
            W[active, j] = slope * w
            b[j] = slope * c + shift
        self.W, self.b = W, b
        return self

    def state(self) -> dict[str, Any]:
        """Weights (sparse on disk) and settings."""
        return {**self._linear_state(), "C": self.C, "folds": self.folds, "seed": self.seed}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LogisticQuality:
        """Rebuild from :meth:`state`."""
        made = cls(float(state["C"]), int(state["folds"]), int(state["seed"]))
        made._load_linear(state)
        return made


class FactorQuality(_Linear):
    """Matrix factorisation ``q̂ = σ((X·A)·Vᵀ + b)``, fitted by full-batch Adam.

    Args:
        rank: dimension of the prompt and model embeddings.
        l2: L2 penalty on ``A`` and ``V``.
        epochs: Adam steps.
        lr: Adam learning rate.
        seed: seed of the initial embeddings.
    """

    name = "factor"

    def __init__(
        self, rank: int = 8, l2: float = 1e-4, epochs: int = 400, lr: float = 0.05, seed: int = 0
    ) -> None:
        if rank < 1 or epochs < 1 or lr <= 0 or l2 < 0:
            raise ConfigError("FactorQuality needs rank >= 1, epochs >= 1, lr > 0, l2 >= 0")
        self.rank, self.l2, self.epochs, self.lr, self.seed = rank, l2, epochs, lr, seed

    def fit(self, X: Matrix, Y: NDArray[np.float64]) -> FactorQuality:
        """Minimise the mean cross-entropy plus the L2 penalty."""
        y = _check_xy(X, Y)
        full_d = X.shape[1]
        X, active = _active(X)
        n, d = X.shape
        m = y.shape[1]
        rng = np.random.default_rng(self.seed)
        A = rng.normal(0.0, 0.1, (d, self.rank))
        V = rng.normal(0.0, 0.1, (m, self.rank))
        mean = np.clip(y.mean(axis=0), 1e-3, 1 - 1e-3)
        b = np.log(mean / (1 - mean))
        params = [A, V, b]
        moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        Xt = X.T.tocsr() if sp.issparse(X) else X.T
        beta1, beta2 = 0.9, 0.999
        for t in range(1, self.epochs + 1):
            Z = _matmul(X, A)
            G = (_sigmoid(Z @ V.T + b) - y) / n  # d loss / d logits
            grads = [
                _matmul(Xt, G @ V) + self.l2 * A,
                G.T @ Z + self.l2 * V,
                G.sum(axis=0),
            ]
            for p, g, (m1, m2) in zip(params, grads, moments, strict=True):
                m1 *= beta1
                m1 += (1 - beta1) * g
                m2 *= beta2
                m2 += (1 - beta2) * g * g
                p -= self.lr * (m1 / (1 - beta1**t)) / (np.sqrt(m2 / (1 - beta2**t)) + 1e-8)
        W = np.zeros((full_d, m))
        W[active] = A @ V.T
        self.W, self.b = W, b
        return self

    def state(self) -> dict[str, Any]:
        """Weights and settings."""
        return {
            **self._linear_state(),
            "rank": self.rank,
            "l2": self.l2,
            "epochs": self.epochs,
            "lr": self.lr,
            "seed": self.seed,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FactorQuality:
        """Rebuild from :meth:`state`."""
        made = cls(
            int(state["rank"]),
            float(state["l2"]),
            int(state["epochs"]),
            float(state["lr"]),
            int(state["seed"]),
        )
        made._load_linear(state)
        return made


def _normalise_rows(X: Matrix) -> Matrix:
    if sp.issparse(X):
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ X)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(X / norms, dtype=np.float64)


class NeighbourQuality:
    """Mean outcome of the ``k`` most cosine-similar training prompts, shrunk to the mean.

    ``q̂ = (Σ_{top k} y + s·ȳ)/(k + s)`` with ``s`` the shrinkage (pseudo-count).
    """

    name = "knn"

    def __init__(self, k: int = 25, shrinkage: float = 2.0, chunk: int = 2048) -> None:
        if k < 1 or shrinkage < 0:
            raise ConfigError(f"NeighbourQuality needs k >= 1 and shrinkage >= 0, got {k}")
        self.k, self.shrinkage, self.chunk = k, shrinkage, chunk
        self.X: Matrix | None = None
        self.Y: NDArray[np.float64] | None = None

    def fit(self, X: Matrix, Y: NDArray[np.float64]) -> NeighbourQuality:
        """Keep the (row-normalised) training prompts and their outcomes."""
        self.Y = _check_xy(X, Y)
        self.X = _normalise_rows(X)
        return self

    def predict(self, X: Matrix) -> NDArray[np.float64]:
        """Shrunk neighbour means, computed in chunks of rows."""
        if self.X is None or self.Y is None:
            raise ConfigError("knn: predict called before fit")
        Xn = _normalise_rows(X)
        train_t = self.X.T
        k = min(self.k, self.Y.shape[0])
        prior = self.Y.mean(axis=0)
        out = np.empty((X.shape[0], self.Y.shape[1]))
        for start in range(0, X.shape[0], self.chunk):
            sims = Xn[start : start + self.chunk] @ train_t
            sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            total = self.Y[top].sum(axis=1)
            out[start : start + self.chunk] = (total + self.shrinkage * prior) / (
                k + self.shrinkage
            )
        return out

    def linear(self) -> None:
        """Not linear: the single-request path falls back to :meth:`predict`."""
        return None

    def state(self) -> dict[str, Any]:
        """Training prompts, outcomes and settings."""
        if self.X is None or self.Y is None:
            raise ConfigError("knn: state called before fit")
        return {
            "name": self.name,
            "k": self.k,
            "shrinkage": self.shrinkage,
            "X": sp.csr_matrix(self.X),
            "Y": self.Y,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NeighbourQuality:
        """Rebuild from :meth:`state`."""
        made = cls(int(state["k"]), float(state["shrinkage"]))
        X = state["X"]
        made.X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
        made.Y = np.asarray(state["Y"], dtype=np.float64)
        return made


class MeanQuality(_Linear):
    """Every prompt gets each model's mean training outcome (a no-information baseline)."""

    name = "mean"

    def fit(self, X: Matrix, Y: NDArray[np.float64]) -> MeanQuality:
        """Remember the per-model means (as a linear model with zero weights)."""
        y = _check_xy(X, Y)
        mean = np.clip(y.mean(axis=0), 1e-6, 1 - 1e-6)
        self.W = np.zeros((X.shape[1], y.shape[1]))
        self.b = np.log(mean / (1 - mean))
        return self

    def state(self) -> dict[str, Any]:
        """Weights."""
        return self._linear_state()

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MeanQuality:
        """Rebuild from :meth:`state`."""
        made = cls()
        made._load_linear(state)
        return made


PREDICTORS: dict[str, Any] = {
    LogisticQuality.name: LogisticQuality,
    FactorQuality.name: FactorQuality,
    NeighbourQuality.name: NeighbourQuality,
    MeanQuality.name: MeanQuality,
}


PREFERRED_FEATURIZER: dict[str, str] = {
    "logistic": "hashing-tfidf",
    "factor": "hashing-tfidf",
    "mean": "hashing-tfidf",
    "knn": "hashing-words",
}
"""The feature extractor each predictor works best with (cosine neighbours: words only)."""


def make_predictor(name: str, seed: int = 0) -> QualityPredictor:
    """A fresh predictor by name: ``logistic`` (default), ``factor``, ``knn`` or ``mean``."""
    if name not in PREDICTORS:
        raise UnknownNameError("quality predictor", name, PREDICTORS)
    cls = PREDICTORS[name]
    if name in ("logistic", "factor"):
        made: QualityPredictor = cls(seed=seed)
        return made
    made = cls()
    return made


def predictor_from_state(state: dict[str, Any]) -> QualityPredictor:
    """Rebuild a fitted predictor saved with ``state()``."""
    name = str(state["name"])
    if name not in PREDICTORS:
        raise UnknownNameError("quality predictor", name, PREDICTORS)
    made: QualityPredictor = PREDICTORS[name].from_state(state)
    return made
