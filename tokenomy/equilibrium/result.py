"""The result of solving an economy: prices, productions, routing, welfare and certificates.

:meth:`EquilibriumResult.to_json` is the CLI contract (``prices``, ``productions``,
``routing``, ``welfare``, ``certificates``, ``converged``, ``iterations``, ``wall_s``);
:meth:`EquilibriumResult.save` writes a result folder (Parquet tables + ``summary.json``) that
``tokenomy equilibrium report`` and ``tokenomy runs show`` read.

Prices of an ``economy`` are in welfare units (the marginal utility of the orchestrator's
income is 1; for quality-minus-cost welfare that is dollars), keyed market → metric → basis
coefficients; prices of a Fisher market are in money and of an exchange economy normalised to
a mean of 1, keyed by good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tokenomy.equilibrium.certificates import Certificates
from tokenomy.results import environment, write_result


@dataclass(frozen=True)
class EquilibriumResult:
    """An equilibrium (or a documented failure to reach one)."""

    name: str
    kind: str
    solver: str
    status: str
    converged: bool
    iterations: int
    wall_s: float
    prices: dict[str, Any]
    productions: dict[str, Any]
    routing: dict[str, Any] | None
    welfare: float
    certificates: Certificates
    message: str = ""
    price_vector: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    consumption: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, list[float]] = field(default_factory=dict, repr=False)
    price_path: np.ndarray | None = field(default=None, repr=False)
    basis: dict[str, Any] | None = None
    spec: dict[str, Any] | None = field(default=None, repr=False)
    economy: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON object the CLI prints."""
        return {
            "name": self.name,
            "kind": self.kind,
            "solver": self.solver,
            "status": self.status,
            "converged": self.converged,
            "iterations": self.iterations,
            "wall_s": self.wall_s,
            "welfare": self.welfare,
            "prices": self.prices,
            "productions": self.productions,
            "consumption": self.consumption,
            "routing": self.routing,
            "certificates": self.certificates.to_dict(),
            "basis": self.basis,
            "message": self.message,
        }

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` of a result folder: the JSON object plus the spec and origin."""
        return {
            **self.to_json(),
            "kind": "equilibrium",
            "economy_kind": self.kind,
            "spec": self.spec,
            "environment": environment(),
        }

    def tables(self) -> dict[str, pa.Table]:
        """Long-form tables: prices, productions, routing, trace and the price path."""
        tables: dict[str, pa.Table] = {}
        rows: dict[str, list[Any]] = {"market": [], "metric": [], "k": [], "price": []}
        for market, block in self.prices.items():
            if isinstance(block, dict):
                for metric, coefs in block.items():
                    for k, v in enumerate(coefs):
                        rows["market"].append(market)
                        rows["metric"].append(metric)
                        rows["k"].append(k)
                        rows["price"].append(float(v))
            else:
                rows["market"].append(market)
                rows["metric"].append("")
                rows["k"].append(0)
                rows["price"].append(float(block))
        tables["prices"] = pa.table(rows)
        prod: dict[str, list[Any]] = {
            "agent": [],
            "market": [],
            "metric": [],
            "k": [],
            "netput": [],
        }
        for agent, markets in self.productions.items():
            for market, metrics in markets.items():
                for metric, coefs in metrics.items():
                    for k, v in enumerate(coefs):
                        prod["agent"].append(agent)
                        prod["market"].append(market)
                        prod["metric"].append(metric)
                        prod["k"].append(k)
                        prod["netput"].append(float(v))
        tables["productions"] = pa.table(prod)
        if self.routing is not None:
            edges = self.routing["edges"]
            tables["routing"] = pa.table(
                {
                    "from": [e["from"] for e in edges],
                    "to": [e["to"] for e in edges],
                    "flow": [e["flow"] for e in edges],
                    "share": [e["share"] for e in edges],
                }
            )
        if self.trace:
            series = {k: np.asarray(v, float) for k, v in self.trace.items() if k != "iteration"}
            length = max(len(v) for v in series.values())
            iteration = np.asarray(self.trace.get("iteration", np.arange(length)), np.int64)
            tables["trace"] = pa.table(
                {
                    "iteration": iteration[:length],
                    **{k: np.r_[v, np.full(length - len(v), np.nan)] for k, v in series.items()},
                }
            )
        if self.price_path is not None and len(self.price_path):
            pp = np.asarray(self.price_path)
            tables["price_path"] = pa.table({f"p{i}": pp[:, i] for i in range(pp.shape[1])})
        return tables

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the result folder (tables of prices, productions, routing, trace)."""
        return write_result(path, self.tables(), self.summary(), overwrite=overwrite)
