"""The router: send each request to the model with the highest predicted net value.

For request ``x`` and model ``m`` the router predicts quality ``q̂_m(x)`` (a fitted
:mod:`~tokenomy.allocate.predictors` model on :mod:`~tokenomy.allocate.features`), cost
``c_m(x)`` (estimated input tokens of ``x`` and the model's expected output tokens, at the token
prices of :class:`tokenomy.prices.Prices`), latency ``l_m`` and risk ``r_m`` (per model), and
picks

    m*(x) = argmax_m  V·q̂_m(x) − c_m(x) − λ·l_m − ρ·r_m.

Two paths give the same answer: :meth:`Router.route` / :meth:`Router.decide` for batches
(vectorised over prompts and models) and :meth:`Router.route_one` /
:meth:`Router.route_one_features` for one request at a time (a few microseconds once features
are extracted, for linear predictors). The prices can change per call — budget pacing
(:mod:`~tokenomy.allocate.pacing`) moves them online.

>>> from tokenomy.prices import Prices, PriceTable
>>> table = PriceTable.from_mapping({"small": {"input": 0.1, "output": 0.1},
...                                  "large": {"input": 5.0, "output": 15.0}})
>>> router = Router([ModelProfile("small", 200), ModelProfile("large", 200)],
...                 Prices(value=0.01, table=table), predictor="mean")
>>> router = router.fit(["2+2?", "prove Fermat", "hi", "integrate x^2"],
...                     [[1, 1], [0, 1], [1, 1], [0, 1]])
>>> router.route(["integrate x^3"]).chosen_names()   # V·Δq = 0.005 > Δc = 0.003
['large']
>>> router.route_one("integrate x^3", Prices(value=0.001, table=table))
'small'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from tokenomy.allocate.decision_record import decision_record
from tokenomy.allocate.features import (
    Featurizer,
    HashingTfidf,
    featurizer_from_state,
    make_featurizer,
)
from tokenomy.allocate.predictors import (
    PREFERRED_FEATURIZER,
    QualityPredictor,
    make_predictor,
    predictor_from_state,
)
from tokenomy.allocate.rule import Options
from tokenomy.errors import ConfigError, ResultsError
from tokenomy.prices import Prices, tokens_from_chars

__all__ = ["Decisions", "ModelProfile", "Router"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelProfile:
    """What the router knows about one model apart from its quality.

    Attributes:
        name: model name; its token prices come from ``Prices.table``.
        output_tokens: expected output tokens per answer (learned from data where recorded).
        latency_s: expected latency in seconds (priced at ``λ``).
        risk: expected risk of an answer, probability of a harmful wrong action × its
            consequence (priced at ``ρ``).
    """

    name: str
    output_tokens: float = 256.0
    latency_s: float = 0.0
    risk: float = 0.0

    def __post_init__(self) -> None:
        for key in ("output_tokens", "latency_s", "risk"):
            v = getattr(self, key)
            if not np.isfinite(v) or v < 0:
                raise ConfigError(f"ModelProfile({self.name!r}).{key} must be >= 0, got {v!r}")


@dataclass(frozen=True)
class Decisions:
    """Routing decisions for a batch of requests, with every prediction that drove them.

    Attributes:
        models: model names (columns).
        choice: index of the chosen model per request.
        quality: predicted quality ``q̂`` (requests × models).
        cost: predicted cost in dollars (requests × models).
        latency: expected latency per model (seconds).
        risk: expected risk per model.
        net: net value of every option (requests × models).
        prices: the prices in force.
    """

    models: tuple[str, ...]
    choice: NDArray[np.int64]
    quality: NDArray[np.float64]
    cost: NDArray[np.float64]
    latency: NDArray[np.float64]
    risk: NDArray[np.float64]
    net: NDArray[np.float64]
    prices: Prices = field(repr=False)

    def __len__(self) -> int:
        return int(self.choice.shape[0])

    def chosen_names(self) -> list[str]:
        """Name of the chosen model per request."""
        names = np.asarray(self.models, dtype=object)
        return [str(x) for x in names[self.choice]]

    def chosen_cost(self) -> NDArray[np.float64]:
        """Predicted cost of the chosen model per request."""
        return self.cost[np.arange(len(self)), self.choice]

    def shares(self) -> dict[str, float]:
        """Share of requests sent to each model."""
        counts = np.bincount(self.choice, minlength=len(self.models)) / max(len(self), 1)
        return {m: float(c) for m, c in zip(self.models, counts, strict=True)}

    def records(
        self,
        prefix: str = "r",
        realised_quality: ArrayLike | None = None,
        realised_cost: ArrayLike | None = None,
    ) -> list[dict[str, Any]]:
        """Decision-log records (layer ``router``), with ex-post outcomes when known."""
        q_real = None if realised_quality is None else np.asarray(realised_quality, float)
        c_real = None if realised_cost is None else np.asarray(realised_cost, float)
        out: list[dict[str, Any]] = []
        for i in range(len(self)):
            options = Options.of(
                self.quality[i], self.cost[i], self.latency, self.risk, self.models
            )
            outcome: dict[str, Any] = {}
            if q_real is not None:
                outcome["quality"] = {m: float(q_real[i, j]) for j, m in enumerate(self.models)}
            if c_real is not None:
                outcome["cost"] = {m: float(c_real[i, j]) for j, m in enumerate(self.models)}
            chosen = self.models[int(self.choice[i])]
            out.append(
                decision_record(f"{prefix}-{i}", "router", self.prices, options, chosen, outcome)
            )
        return out


class Router:
    """Price-driven router over a fixed set of models.

    Args:
        models: the candidate models (their names must be in ``prices.table``).
        prices: ``V``, ``λ``, ``ρ`` and the token price table.
        featurizer: feature extractor or its name (default: the predictor's preferred one,
            ``hashing-tfidf``, or ``hashing-words`` for ``knn``).
        predictor: quality predictor or its name (default ``logistic``).
        seed: seed of the predictor's randomness.
    """

    def __init__(
        self,
        models: Sequence[ModelProfile],
        prices: Prices,
        featurizer: Featurizer | str | None = None,
        predictor: QualityPredictor | str = "logistic",
        seed: int = 0,
    ) -> None:
        if len(models) < 1:
            raise ConfigError("a router needs at least one model")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError(f"router model names must be unique, got {names}")
        for name in names:
            prices.table[name]  # raises UnknownNameError naming the known models
        self.models = tuple(models)
        self.names = tuple(names)
        self.prices = prices
        self.predictor: QualityPredictor = (
            make_predictor(predictor, seed) if isinstance(predictor, str) else predictor
        )
        if featurizer is None:
            featurizer = PREFERRED_FEATURIZER.get(self.predictor.name, "hashing-tfidf")
        self.featurizer: Featurizer = (
            make_featurizer(featurizer) if isinstance(featurizer, str) else featurizer
        )
        self.seed = seed
        self.fitted = False
        self._linear: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        self._refresh()

    # ------------------------------------------------------------------ prices and costs

    def _refresh(self) -> None:
        """Per-model constants: cost = per_input_token·tokens + fixed (output) cost."""
        table = self.prices.table
        self._per_input = np.array([float(table.cost(m, 1, 0)) for m in self.names])
        self._fixed = np.array([float(table.cost(m.name, 0, m.output_tokens)) for m in self.models])
        self.latency = np.array([m.latency_s for m in self.models])
        self.risk = np.array([m.risk for m in self.models])

    def costs(self, input_tokens: ArrayLike) -> NDArray[np.float64]:
        """Predicted dollar cost of every model for requests of ``input_tokens`` tokens."""
        tin = np.asarray(input_tokens, dtype=np.float64)
        return np.asarray(tin[..., None] * self._per_input + self._fixed, dtype=np.float64)

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        prompts: Sequence[str],
        outcomes: ArrayLike,
    ) -> Router:
        """Fit the featurizer and the quality predictor on recorded outcomes.

        Args:
            prompts: training prompts.
            outcomes: prompts × models, the recorded quality of each model (0/1 or [0, 1]),
                columns in the order of ``models``.
        """
        Y = np.asarray(outcomes, dtype=np.float64)
        if Y.ndim != 2 or Y.shape != (len(prompts), len(self.models)):
            raise ConfigError(
                f"outcomes must be {len(prompts)} prompts × {len(self.models)} models, "
                f"got {Y.shape}"
            )
        self.featurizer.fit(prompts)
        X = self.featurizer.transform(prompts)
        self.predictor.fit(X, Y)
        self.fitted = True
        self._linear = self.predictor.linear()
        return self

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ConfigError("the router has not been fitted (Router.fit or Router.load)")

    # ------------------------------------------------------------------ batch path

    def features(self, prompts: Sequence[str]) -> Any:
        """Feature matrix of ``prompts`` (sparse for hashing-tfidf)."""
        self._check_fitted()
        return self.featurizer.transform(prompts)

    def predict(self, X: Any) -> NDArray[np.float64]:
        """Predicted quality of every model (requests × models)."""
        self._check_fitted()
        return self.predictor.predict(X)

    def decide(
        self,
        quality: ArrayLike,
        cost: ArrayLike,
        prices: Prices | None = None,
    ) -> Decisions:
        """Apply the rule to predicted qualities and costs (requests × models)."""
        p = self.prices if prices is None else prices
        q = np.asarray(quality, dtype=np.float64)
        c = np.asarray(cost, dtype=np.float64)
        net = p.net_value(q, c, self.latency, self.risk)
        return Decisions(
            models=self.names,
            choice=np.argmax(net, axis=1).astype(np.int64),
            quality=q,
            cost=c,
            latency=self.latency,
            risk=self.risk,
            net=net,
            prices=p,
        )

    def route_features(
        self, X: Any, input_tokens: ArrayLike, prices: Prices | None = None
    ) -> Decisions:
        """Route a batch whose features are already extracted."""
        return self.decide(self.predict(X), self.costs(input_tokens), prices)

    def route(self, prompts: Sequence[str], prices: Prices | None = None) -> Decisions:
        """Route a batch of prompts (features, predictions and the rule, vectorised)."""
        tokens = tokens_from_chars([len(p) for p in prompts])
        return self.route_features(self.features(prompts), tokens, prices)

    # ------------------------------------------------------------------ single-request path

    def route_one_features(
        self,
        indices: NDArray[np.int64],
        values: NDArray[np.float64],
        input_tokens: float,
        prices: Prices | None = None,
    ) -> int:
        """Index of the chosen model for one request given its sparse feature vector.

        ``indices``/``values`` are the non-zero columns of the request's feature row. Linear
        predictors answer with one gather and one small product; others go through the batch
        path.
        """
        p = self.prices if prices is None else prices
        if self._linear is None:
            row = sp.csr_matrix((values, indices, [0, len(indices)]), shape=(1, self._n_features()))
            q = self.predictor.predict(row)[0]
        else:
            W, b = self._linear
            z = values @ W[indices] + b
            q = 0.5 * (1.0 + np.tanh(0.5 * z))
        cost = input_tokens * self._per_input + self._fixed
        return int(np.argmax(p.net_value(q, cost, self.latency, self.risk)))

    def _n_features(self) -> int:
        if isinstance(self.featurizer, HashingTfidf):
            return self.featurizer.n_features
        if self._linear is not None:
            return int(self._linear[0].shape[0])
        raise ConfigError("cannot infer the feature dimension of this featurizer")

    def route_one(self, prompt: str, prices: Prices | None = None) -> str:
        """Name of the model chosen for one prompt (feature extraction included)."""
        row = sp.csr_matrix(self.features([prompt]))
        tokens = float(tokens_from_chars([len(prompt)])[0])
        index = self.route_one_features(row.indices, row.data, tokens, prices)
        return self.names[index]

    # ------------------------------------------------------------------ saving

    def save(self, path: str | Path) -> Path:
        """Save the fitted router to one ``.npz`` file (written atomically)."""
        self._check_fitted()
        path = Path(path)
        meta = {
            "format": FORMAT_VERSION,
            "models": [m.__dict__ for m in self.models],
            "prices": self.prices.to_dict(),
            "seed": self.seed,
        }
        arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
        _pack(arrays, "featurizer", self.featurizer.state())
        _pack(arrays, "predictor", self.predictor.state())
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, prices: Prices | None = None) -> Router:
        """Load a router saved with :meth:`save` (``prices`` overrides the saved ones)."""
        from tokenomy.prices import PriceTable

        path = Path(path)
        if not path.exists():
            raise ResultsError(f"router file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays["meta"]))
        except (OSError, ValueError, KeyError) as exc:
            raise ResultsError(f"{path} is not a saved tokenomy router ({exc})") from None
        if meta.get("format") != FORMAT_VERSION:
            raise ResultsError(f"{path}: router format {meta.get('format')} is not supported")
        if prices is None:
            saved = meta["prices"]
            prices = Prices(
                value=saved["value"],
                latency=saved["latency"],
                risk=saved["risk"],
                table=PriceTable.from_mapping(saved["table"], source=str(path)),
            )
        models = [ModelProfile(**m) for m in meta["models"]]
        featurizer = featurizer_from_state(_unpack(arrays, "featurizer"))
        predictor = predictor_from_state(_unpack(arrays, "predictor"))
        router = cls(models, prices, featurizer, predictor, seed=int(meta["seed"]))
        router.fitted = True
        router._linear = predictor.linear()
        return router


def _pack(arrays: dict[str, Any], prefix: str, state: dict[str, Any]) -> None:
    """Flatten a state dict (numbers, strings, arrays, sparse matrices) into npz arrays."""
    plain: dict[str, Any] = {}
    for key, value in state.items():
        name = f"{prefix}.{key}"
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            arrays[name + ".data"] = csr.data
            arrays[name + ".indices"] = csr.indices
            arrays[name + ".indptr"] = csr.indptr
            arrays[name + ".shape"] = np.array(csr.shape)
            plain[key] = {"sparse": True}
        elif isinstance(value, np.ndarray):
            arrays[name] = value
            plain[key] = {"array": True}
        else:
            plain[key] = {"value": value}
    arrays[prefix] = np.array(json.dumps(plain))


def _unpack(arrays: dict[str, Any], prefix: str) -> dict[str, Any]:
    plain = json.loads(str(arrays[prefix]))
    state: dict[str, Any] = {}
    for key, kind in plain.items():
        name = f"{prefix}.{key}"
        if kind.get("sparse"):
            shape = tuple(int(s) for s in arrays[name + ".shape"])
            state[key] = sp.csr_matrix(
                (arrays[name + ".data"], arrays[name + ".indices"], arrays[name + ".indptr"]),
                shape=shape,
            )
        elif kind.get("array"):
            state[key] = arrays[name]
        else:
            state[key] = kind["value"]
    return state
