"""Fixtures of the experiment tests: a small spec of generated markets, and its local result."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tokenomy.market.executors import ExperimentResult, run_experiment
from tokenomy.market.generator import GeneratorSpec, generate_market
from tokenomy.market.io import write_market

GRID = """\
name: small-grid
seeds: [0, 1, 2]
grid:
  generate: {customers: 30, businesses: 60, seed: 3}
  search: [lexical, bm25]
  limit: 3
  customer_policy: bounded
  customer_params: {noise: 0.2, contacts: 3}
conditions:
  - {data: market, search: lexical, limit: 5, customer_policy: first-proposal,
     business_params: {jitter_ms: 500}}
"""
"""2 grid conditions + 1 listed condition (a data folder beside the spec) × 3 seeds = 9 tasks."""


def write_spec(folder: Path, text: str = GRID, name: str = "spec.yaml") -> Path:
    """Write a spec file (and the small data set its ``data: market`` condition reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "market").is_dir():
        write_market(
            generate_market(GeneratorSpec(customers=20, businesses=40, seed=5)), folder / "market"
        )
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def grid_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small grid's spec file."""
    return write_spec(tmp_path_factory.mktemp("grid"))


@pytest.fixture(scope="module")
def reference(grid_spec: Path) -> ExperimentResult:
    """The small grid run by the local executor, uninterrupted."""
    return run_experiment(grid_spec, grid_spec.parent / "reference", executor="local")
