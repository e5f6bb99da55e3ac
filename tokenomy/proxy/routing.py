"""Per-request predictions and the net-value choice among the configured backends.

For a request with prompt ``x`` (every message's content joined by newlines) the proxy predicts,
for each backend ``b``:

- quality ``q̂_b(x)``: the fitted router's prediction for the backend's ``router_model`` column
  (a ``.npz`` saved by ``tokenomy route fit``), or the backend's prior ``quality``;
- cost ``c_b(x)``: ``estimate_tokens(x)`` input tokens and ``max_tokens`` (or the configured
  ``default_output_tokens``) output tokens at the backend's prices;
- latency ``l_b`` and risk ``r_b`` from the config;

and ranks the backends by :func:`tokenomy.allocate.rule.net_values` at the prices in force (the
one implementation of ``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR``). The first in the ranking is the rule's
choice (:func:`tokenomy.allocate.rule.choose`); the others, in order, are the fallbacks and the
budget downgrades, and only those with a positive net value are ever used in that role.

The *worst-case* cost, what is reserved in the ledger before a call, counts the most output
tokens the backend may produce: ``max_tokens`` when the request sets it, else the backend's
``max_output_tokens`` (which the proxy then sends upstream as ``max_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.allocate.router import Router
from tokenomy.allocate.rule import Options, net_values
from tokenomy.errors import ConfigError
from tokenomy.prices import Prices, PriceTable, estimate_tokens
from tokenomy.proxy.config import AUTO_MODEL, BackendConfig, ProxyConfig
from tokenomy.proxy.spend import micro_ceil

__all__ = ["Plan", "RoutingTable", "UnknownModelError", "prompt_text", "requested_max_tokens"]


class UnknownModelError(ConfigError):
    """A request named a model that is neither ``tokenomy-auto`` nor a configured backend."""


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return "" if value is None else str(value)


def prompt_text(body: Mapping[str, Any]) -> str:
    """Every message's content joined by newlines (what the input-token estimate counts)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(_content(m.get("content")) for m in messages if isinstance(m, dict))


def requested_max_tokens(body: Mapping[str, Any]) -> int | None:
    """The request's ``max_completion_tokens`` or ``max_tokens`` (None when absent).

    Raises:
        ValueError: present but not a whole number >= 1.
    """
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_tokens must be a whole number >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class Plan:
    """One request's options, their ranking and what each would cost at worst.

    Attributes:
        options: backends in play with predicted ``ΔQ, ΔC, ΔL, ΔR`` (config order).
        prices: the prices in force (pacing included).
        net: net value of each option.
        order: option indices, best net value first (ties: config order).
        worst: worst-case cost of each option in micro-dollars (reserved before a call).
        max_tokens: output-token cap sent upstream per option.
        input_tokens: the estimated input tokens.
        routed: True for ``tokenomy-auto``, False for a named backend.
    """

    options: Options
    prices: Prices
    net: NDArray[np.float64]
    order: tuple[int, ...]
    worst: tuple[int, ...]
    max_tokens: tuple[int, ...]
    input_tokens: int
    routed: bool

    def candidates(self) -> list[int]:
        """The rule's choice, then the positive-net-value alternatives in ranking order."""
        first, *rest = self.order
        return [first, *[i for i in rest if self.net[i] > 0.0]]


class RoutingTable:
    """The configured backends, their token prices and the quality predictor.

    Args:
        config: the proxy configuration.

    Raises:
        ResultsError: the predictor file is missing or not a saved router.
        ConfigError: a backend's ``router_model`` is not a column of the predictor.
    """

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.backends: tuple[BackendConfig, ...] = tuple(config.backends)
        self.names = tuple(b.name for b in self.backends)
        self.table = PriceTable.from_mapping(
            {
                b.name: {"input": b.input_per_million, "output": b.output_per_million}
                for b in self.backends
            },
            source="proxy config backends",
        )
        self.latency = np.array([b.latency_s for b in self.backends], dtype=np.float64)
        self.risk = np.array([config.backend_risk(b) for b in self.backends], dtype=np.float64)
        self.prior = np.array(
            [np.nan if b.quality is None else b.quality for b in self.backends], dtype=np.float64
        )
        self.router: Router | None = None
        self._columns: NDArray[np.int64] | None = None
        if config.predictor is not None:
            self.router = Router.load(Path(config.predictor))
            columns = []
            for b in self.backends:
                wanted = b.router_model or b.name
                if wanted not in self.router.names:
                    raise ConfigError(
                        f"backend '{b.name}': router_model '{wanted}' is not one of the "
                        f"predictor's models {list(self.router.names)}"
                    )
                columns.append(self.router.names.index(wanted))
            self._columns = np.array(columns, dtype=np.int64)
        self._per_input = np.array([b.input_per_million / 1e6 for b in self.backends])
        self._per_output = np.array([b.output_per_million / 1e6 for b in self.backends])
        self._by_model: dict[str, int] = {}
        for i, b in enumerate(self.backends):
            self._by_model.setdefault(b.name, i)
        for i, b in enumerate(self.backends):
            self._by_model.setdefault(b.model, i)

    def index_of_model(self, model: str) -> int | None:
        """Backend index a request's ``model`` names (None for ``tokenomy-auto``).

        Raises:
            UnknownModelError: neither ``tokenomy-auto`` nor a backend's name or model.
        """
        if model == AUTO_MODEL:
            return None
        if model in self._by_model:
            return self._by_model[model]
        known = [AUTO_MODEL, *self.names]
        raise UnknownModelError(f"model '{model}' is not served here; expected one of {known}")

    def quality(self, prompt: str) -> NDArray[np.float64]:
        """Predicted quality of every backend for ``prompt``."""
        if self.router is None or self._columns is None:
            return self.prior.copy()
        q = self.router.predict(self.router.features([prompt]))[0]
        return np.asarray(q, dtype=np.float64)[self._columns]

    def plan(
        self,
        prompt: str,
        max_tokens: int | None,
        prices: Prices,
        only: int | None = None,
    ) -> Plan:
        """Predictions, ranking and worst-case costs for one request.

        Args:
            prompt: the request's prompt text (:func:`prompt_text`).
            max_tokens: the request's output cap, if any.
            prices: the prices in force.
            only: a named backend's index (pass-through: the only option).
        """
        tin = estimate_tokens(prompt)
        expected_out = np.full(
            len(self.backends),
            float(max_tokens if max_tokens is not None else self.config.default_output_tokens),
        )
        caps = tuple(
            max_tokens if max_tokens is not None else b.max_output_tokens for b in self.backends
        )
        cost = tin * self._per_input + expected_out * self._per_output
        worst_dollars = tin * self._per_input + np.array(caps, dtype=np.float64) * self._per_output
        index = list(range(len(self.backends))) if only is None else [only]
        options = Options.of(
            dq=self.quality(prompt)[index],
            dc=cost[index],
            dl=self.latency[index],
            dr=self.risk[index],
            names=[self.names[i] for i in index],
        )
        net = net_values(prices, options)
        # Best net value first, ties in config order: the first is :func:`choose`'s answer.
        ranking = [int(i) for i in np.argsort(-net, kind="stable")]
        return Plan(
            options=options,
            prices=prices,
            net=net,
            order=tuple(ranking),
            worst=tuple(micro_ceil(float(worst_dollars[i])) for i in index),
            max_tokens=tuple(caps[i] for i in index),
            input_tokens=tin,
            routed=only is None,
        )

    def backend(self, plan: Plan, option: int) -> BackendConfig:
        """The backend behind option ``option`` of ``plan``."""
        return self.backends[self.names.index(plan.options.names[option])]

    def realised_cost(self, backend: str, input_tokens: int, output_tokens: int) -> float:
        """Dollar cost of reported usage at the backend's prices."""
        return float(self.table.cost(backend, input_tokens, output_tokens))
