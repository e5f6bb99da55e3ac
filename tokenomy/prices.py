"""The accounting object every layer of tokenomy shares.

Every decision tokenomy makes or measures is the same first-order condition: among the options
``i`` in play, take the one that maximises the net marginal value

    net(i) = V·ΔQ_i − ΔC_i − λ·ΔL_i − ρ·ΔR_i

where ``V`` is the value of the task (dollars per unit of quality), ``ΔQ`` the quality gained,
``ΔC`` the token cost in dollars, ``ΔL`` the latency added in seconds and ``λ`` its price
(dollars per second, the Lagrange multiplier of a latency SLA; a slack SLA means ``λ = 0``), and
``ΔR`` the risk added (probability of a wrong action times its consequence) with ``ρ`` its price.

:class:`Prices` holds ``V, λ, ρ`` and the token price table (:class:`PriceTable`, dollars per
million input and output tokens per model). The marketplace uses it for token-aware welfare, the
allocator ranks models and agent steps with it, the equilibrium engine computes prices that
clear it. There is one implementation, here.

Worked example (from the marginal-token-allocation position paper, reproduced in the tests):
a cheap model with quality 0.7 and cost 1 against a frontier model with quality 0.9 and cost 5
have net values 6 and 4 at ``V = 10`` and 69 and 85 at ``V = 100``; the crossover is
``V* = (5 − 1)/(0.9 − 0.7) = 20``.

Token counts come from an API's ``usage`` fields where there is an API. Where there is none
(scripted agents, estimates before a call) tokenomy uses one documented estimate,
:func:`estimate_tokens`: one token per four characters, rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray

from tokenomy.errors import ConfigError, DataError, UnknownNameError

__all__ = [
    "CHARS_PER_TOKEN",
    "PriceTable",
    "Prices",
    "TokenPrice",
    "estimate_tokens",
    "tokens_from_chars",
]

CHARS_PER_TOKEN = 4
"""The one token estimate used where no API reports usage: ``ceil(characters / 4)``."""


def tokens_from_chars(n_chars: ArrayLike) -> NDArray[np.int64]:
    """Estimated tokens for texts of ``n_chars`` characters (vectorised ``ceil(n / 4)``)."""
    n = np.asarray(n_chars, dtype=np.int64)
    return (n + (CHARS_PER_TOKEN - 1)) // CHARS_PER_TOKEN


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text``: one token per four characters, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class TokenPrice:
    """Price of one model's tokens, in dollars per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: ArrayLike, output_tokens: ArrayLike) -> NDArray[np.float64]:
        """Dollar cost of the given token counts (vectorised)."""
        tin = np.asarray(input_tokens, dtype=np.float64)
        tout = np.asarray(output_tokens, dtype=np.float64)
        return (tin * self.input_per_million + tout * self.output_per_million) / 1e6


@dataclass(frozen=True)
class PriceTable:
    """Token prices per model name.

    Build one from a mapping, load one from YAML (``models: {name: {input: .., output: ..}}``),
    or take :meth:`default`, the packaged table of public per-token prices.
    """

    models: Mapping[str, TokenPrice]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<mapping>") -> PriceTable:
        """Build a table from ``{model: {input: $/M, output: $/M}}``, validating every entry."""
        models: dict[str, TokenPrice] = {}
        for name, entry in data.items():
            if not isinstance(entry, Mapping):
                raise DataError(source, f"models.{name}", entry, "a mapping with input and output")
            prices = []
            for side in ("input", "output"):
                value = entry.get(side)
                if (
                    not isinstance(value, int | float)
                    or isinstance(value, bool)
                    or not math.isfinite(value)
                    or value < 0
                ):
                    raise DataError(
                        source, f"models.{name}.{side}", value, "a price >= 0 in $ per 1M tokens"
                    )
                prices.append(float(value))
            models[str(name)] = TokenPrice(prices[0], prices[1])
        if not models:
            raise DataError(source, "models", dict(data), "at least one model")
        return cls(models=models)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Load a price table from a YAML file (same format as the packaged default)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"price table {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise DataError(path, None, "<unparseable YAML>", f"valid YAML ({exc})") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("models"), Mapping):
            raise DataError(path, "models", data, "a mapping of model name -> prices")
        return cls.from_mapping(data["models"], source=str(path))

    @classmethod
    def default(cls) -> PriceTable:
        """The packaged table: public prices of open models (source in the YAML file)."""
        text = resources.files("tokenomy.data").joinpath("token_prices.yaml").read_text("utf-8")
        return cls.from_mapping(yaml.safe_load(text)["models"], source="token_prices.yaml")

    def __getitem__(self, model: str) -> TokenPrice:
        try:
            return self.models[model]
        except KeyError:
            raise UnknownNameError("model", model, self.models) from None

    def __contains__(self, model: object) -> bool:
        return model in self.models

    def cost(
        self, model: str, input_tokens: ArrayLike, output_tokens: ArrayLike
    ) -> NDArray[np.float64]:
        """Dollar cost of ``input_tokens``/``output_tokens`` on ``model`` (vectorised)."""
        return self[model].cost(input_tokens, output_tokens)


@dataclass(frozen=True)
class Prices:
    """The shared prices: value ``V``, latency price ``λ``, risk price ``ρ``, token price table.

    Attributes:
        value: ``V``, dollars per unit of quality (in the market, utility is already in dollars,
            so ``V = 1``).
        latency: ``λ``, dollars per second of latency.
        risk: ``ρ``, dollars per unit of risk (probability × consequence).
        table: token prices per model.
    """

    value: float = 1.0
    latency: float = 0.0
    risk: float = 0.0
    table: PriceTable = field(default_factory=PriceTable.default)

    def __post_init__(self) -> None:
        for name in ("value", "latency", "risk"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"Prices.{name} must be a finite number >= 0, got {v!r}")

    def net_value(
        self,
        dq: ArrayLike,
        dc: ArrayLike,
        dl: ArrayLike = 0.0,
        dr: ArrayLike = 0.0,
    ) -> NDArray[np.float64]:
        """Net marginal value ``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR`` (broadcast over arrays).

        Args:
            dq: quality gained (units of quality).
            dc: token (or other) cost in dollars.
            dl: latency added in seconds.
            dr: risk added (probability × consequence).
        """
        q = np.asarray(dq, dtype=np.float64)
        c = np.asarray(dc, dtype=np.float64)
        lat = np.asarray(dl, dtype=np.float64)
        r = np.asarray(dr, dtype=np.float64)
        return self.value * q - c - self.latency * lat - self.risk * r

    def full_price(
        self, dc: ArrayLike, dl: ArrayLike = 0.0, dr: ArrayLike = 0.0
    ) -> NDArray[np.float64]:
        """Full price of an option: ``ΔC + λ·ΔL + ρ·ΔR`` (everything but the value term)."""
        return -self.net_value(0.0, dc, dl, dr)

    def token_cost(
        self, model: str, input_tokens: ArrayLike, output_tokens: ArrayLike
    ) -> NDArray[np.float64]:
        """Dollar cost of tokens on ``model`` at this table's prices."""
        return self.table.cost(model, input_tokens, output_tokens)

    def with_(self, **changes: Any) -> Prices:
        """A copy with some fields replaced (``prices.with_(latency=0.01)``)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (prices of the table included)."""
        return {
            "value": self.value,
            "latency": self.latency,
            "risk": self.risk,
            "table": {
                m: {"input": p.input_per_million, "output": p.output_per_million}
                for m, p in self.table.models.items()
            },
        }
