"""Solve one economy with every method that applies, and measure how far they agree.

Independent methods reaching the same prices is a certificate of its own: the planner's
multipliers, the price loop and the first-order method share no code beyond the economy's
demand and supply functions. :func:`compare_solvers` runs them (a failure of one is recorded,
not raised) and :func:`save_comparisons` writes a result set — one folder per economy and
solver plus a ``summary.json`` of kind ``equilibrium-set`` — that ``tokenomy equilibrium
report`` and ``tokenomy runs show`` read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tokenomy.equilibrium.certificates import price_floor
from tokenomy.equilibrium.result import EquilibriumResult
from tokenomy.equilibrium.solvers import solve
from tokenomy.equilibrium.spec import EconomySpec, ExchangeSpec, FisherSpec
from tokenomy.errors import SolverError
from tokenomy.results import atomic_folder, dumps, environment, write_result

Spec = EconomySpec | FisherSpec | ExchangeSpec
Progress = Callable[[int, int, str], None]


def _numbers(tree: Any) -> np.ndarray:
    """Every number in a nested dict/list (a result's consumption block), flattened."""
    if isinstance(tree, dict):
        parts = [_numbers(v) for v in tree.values()]
        return np.concatenate(parts) if parts else np.zeros(0)
    if isinstance(tree, list | tuple):
        return np.asarray(tree, float).ravel()
    return np.asarray([float(tree)])


def applicable_solvers(spec: Spec) -> list[str]:
    """The methods that apply to a spec, reference (planner) first."""
    if isinstance(spec, FisherSpec):
        kinds = {b.utility.kind for b in spec.buyers.values()}
        out = ["planner", "price-loop"]
        if "leontief" not in kinds:
            out.append("proportional-response")
        if kinds == {"cobb_douglas"}:
            out.append("closed-form")
        return out
    if isinstance(spec, ExchangeSpec):
        kinds = {c.utility.kind for c in spec.consumers.values()}
        out = ["planner", "price-loop"]
        if kinds == {"cobb_douglas"}:
            out.append("closed-form")
        return out
    return ["planner", "price-loop", "first-order"]


@dataclass
class Comparison:
    """The results of several methods on one economy."""

    name: str
    description: str
    spec: dict[str, Any]
    results: dict[str, EquilibriumResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> EquilibriumResult | None:
        """The planner's result if it succeeded, else the first converged one."""
        if "planner" in self.results:
            return self.results["planner"]
        return next((r for r in self.results.values() if r.converged), None)

    def agreement(self) -> dict[str, dict[str, float | bool]]:
        """How each method compares with the reference.

        Per method: the largest price difference (relative to the reference's largest price),
        the relative welfare difference, and whether it converged.
        """
        ref = self.reference
        out: dict[str, dict[str, float | bool]] = {}
        if ref is None:
            return out
        p_ref = np.asarray(ref.price_vector, float)
        # where every price is zero, solver noise is not a disagreement
        floor = price_floor(ref.welfare, _numbers(ref.consumption))
        scale = max(floor, float(np.max(np.abs(p_ref), initial=0.0)))
        for solver, r in self.results.items():
            p = np.asarray(r.price_vector, float)
            price_gap = (
                float(np.max(np.abs(p - p_ref), initial=0.0)) / scale
                if p.shape == p_ref.shape
                else float("nan")
            )
            welfare_gap = abs(r.welfare - ref.welfare) / max(1.0, abs(ref.welfare))
            out[solver] = {
                "price_gap": price_gap,
                "welfare_gap": welfare_gap,
                "converged": r.converged,
            }
        return out

    def summary(self) -> dict[str, Any]:
        """JSON form: results by method (the CLI contract's fields) and the agreement."""
        return {
            "name": self.name,
            "description": self.description,
            "solvers": {s: r.to_json() for s, r in self.results.items()},
            "errors": self.errors,
            "agreement": self.agreement(),
        }


def compare_solvers(
    spec: Spec,
    solvers: Iterable[str] | None = None,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> Comparison:
    """Solve ``spec`` with each method (default: every applicable one).

    A method that fails with :class:`~tokenomy.errors.SolverError` (an infeasible economy, a
    method that does not apply) is recorded in ``errors``; if every method fails, the first
    error is raised.
    """
    chosen = list(solvers) if solvers is not None else applicable_solvers(spec)
    comp = Comparison(spec.name, spec.description, spec.model_dump(mode="json"))
    for i, solver in enumerate(chosen):
        if progress is not None:
            progress(i, len(chosen), f"{spec.name}: {solver}")
        try:
            comp.results[solver] = solve(spec, solver, **options)
        except SolverError as exc:
            comp.errors[solver] = str(exc)
    if progress is not None:
        progress(len(chosen), len(chosen), f"{spec.name}: done")
    if not comp.results:
        raise SolverError(next(iter(comp.errors.values())))
    return comp


def save_comparisons(
    comparisons: list[Comparison], path: str | Path, *, overwrite: bool = False
) -> Path:
    """Write a result set: a ``NAME/SOLVER/`` folder per result, and a summary.

    The summary has kind ``equilibrium-set``. Atomic: the folder appears complete or not at all.
    """
    names = [c.name for c in comparisons]
    if len(set(names)) != len(names):
        raise SolverError(f"economy names must be distinct in one result set, got {names}")
    with atomic_folder(path, overwrite=overwrite) as tmp:
        entries = []
        for comp in comparisons:
            for solver, result in comp.results.items():
                write_result(tmp / comp.name / solver, result.tables(), result.summary())
            entries.append(
                {
                    **comp.summary(),
                    "spec": comp.spec,
                    "folders": {s: f"{comp.name}/{s}" for s in comp.results},
                }
            )
        summary = {
            "kind": "equilibrium-set",
            "name": "+".join(names),
            "economies": entries,
            "environment": environment(),
        }
        (tmp / "summary.json").write_text(dumps(summary), encoding="utf-8")
    return Path(path)
