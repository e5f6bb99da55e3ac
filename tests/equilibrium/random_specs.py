"""Random economies for property tests, built as spec dictionaries (validated by parse_spec).

Routed economies: a layered DAG of agents with box capacities that vary in time, linear or
Cobb–Douglas welfare over the delivered metrics, softmax routing. Free economies: ellipsoid and
quadratic-cost producers facing a quadratic welfare. Capacities are drawn so the economy is
feasible by construction: every layer can carry all the tasks at every time.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tokenomy.equilibrium.spec import EconomySpec, parse_spec


def routed_spec(seed: int, *, welfare: str | None = None, money: bool | None = None) -> EconomySpec:
    """A random routed economy (feasible: each layer's capacity covers all tasks)."""
    rng = np.random.default_rng(seed)
    layers = [
        [f"L{i}a{j}" for j in range(int(rng.integers(1, 4)))]
        for i in range(int(rng.integers(2, 4)))
    ]
    tasks = float(rng.uniform(5, 20))
    edges: list[list[str]] = [["source", a] for a in layers[0]]
    for upper, lower in itertools.pairwise(layers):
        fed = set()
        for a in upper:
            k = int(rng.integers(1, len(lower) + 1))
            targets = list(rng.choice(lower, size=k, replace=False))
            fed.update(targets)
            edges += [[a, str(b)] for b in targets]
        for b in lower:
            if b not in fed:
                edges.append([str(rng.choice(upper)), b])
    edges += [[a, "sink"] for a in layers[-1]]
    agents: dict[str, Any] = {}
    for layer in layers:
        # capacities: the layer as a whole carries 1.3–2× the tasks at every time
        share = rng.dirichlet(np.ones(len(layer)))
        slack = rng.uniform(1.3, 2.0)
        for name, s in zip(layer, share, strict=True):
            q, cov, tok = rng.uniform(0.3, 1.2), rng.uniform(0.2, 1.0), rng.uniform(0.1, 1.0)
            wave = rng.uniform(0.0, 0.3)
            cap = tok * tasks * max(s, 0.15) * slack * len(layer) / max(1, len(layer)) / (1 - wave)
            agents[name] = {
                "per_task": {"quality": float(q), "coverage": float(cov), "tokens": float(tok)},
                "production": [
                    {
                        "box": {
                            "upper": {
                                "quality": float(3 * q * tasks),
                                "coverage": float(3 * cov * tasks),
                                "tokens": f"{cap:.6f} * (1 + {wave:.4f} * sin(2*pi*t))",
                            }
                        }
                    }
                ],
            }
    kind = welfare or str(rng.choice(["linear", "cobb_douglas"]))
    if kind == "linear":
        w: dict[str, Any] = {
            "kind": "linear",
            "coefficients": {
                "quality": float(rng.uniform(2, 5)),
                "coverage": float(rng.uniform(0.5, 2)),
                "tokens": float(-rng.uniform(0.1, 1.0)),
            },
        }
    else:
        a = float(rng.uniform(0.3, 0.7))
        w = {"kind": "cobb_douglas", "exponents": {"quality": a, "coverage": 1 - a}}
    consumer: dict[str, Any] = {"welfare": w}
    if money is not None:
        consumer["money"] = money
    data = {
        "kind": "economy",
        "name": f"routed-{seed}",
        "basis": {"kind": "piecewise", "size": int(rng.choice([1, 2, 4]))},
        "metrics": ["quality", "coverage", "tokens"],
        "agents": agents,
        "graph": {"edges": edges, "tasks": tasks, "beta": float(rng.uniform(0.5, 3.0))},
        "consumer": consumer,
    }
    spec = parse_spec(data, f"routed_spec({seed})")
    assert isinstance(spec, EconomySpec)
    return spec


def free_spec(seed: int) -> EconomySpec:
    """A random free economy: ellipsoid and quadratic-cost producers, quadratic welfare.

    The producers sell in one shared market (``pool``) whose fuel the orchestrator owns.
    """
    rng = np.random.default_rng(seed)
    K = int(rng.choice([1, 2, 3]))
    basis = str(rng.choice(["piecewise", "legendre"]))
    agents: dict[str, Any] = {}
    for i in range(int(rng.integers(1, 4))):
        agents[f"e{i}"] = {
            "metrics": [],
            "production": [
                {
                    "ellipsoid": {
                        "market": "pool",
                        "center": {
                            "service": {
                                "coefficients": [float(x) for x in rng.uniform(0.1, 0.3, K)]
                            }
                        },
                        "radii": {"service": [float(x) for x in rng.uniform(0.1, 0.25, K)]},
                    }
                }
            ],
        }
    for i in range(int(rng.integers(0, 3))):
        agents[f"q{i}"] = {
            "metrics": [],
            "production": [
                {
                    "quadratic_cost": {
                        "output": {"market": "pool", "metric": "service"},
                        "input": {"market": "pool", "metric": "fuel"},
                        "linear": float(rng.uniform(0.1, 0.5)),
                        "quadratic": float(rng.uniform(0.5, 2.0)),
                        "max_output": float(rng.uniform(0.3, 1.0)),
                    }
                }
            ],
        }
    # demand at zero prices (≥ 3/0.8) exceeds what the producers can make (≤ 3·0.55 + 2·1):
    # service is scarce, so its prices are positive
    target = [float(x) for x in rng.uniform(3.0, 5.0, K)]
    data = {
        "kind": "economy",
        "name": f"free-{seed}",
        "basis": {"kind": basis, "size": K},
        "metrics": ["service", "fuel"],
        "markets": {"pool": {"metrics": ["service", "fuel"]}},
        "agents": agents,
        "consumer": {
            "welfare": {
                "kind": "quadratic",
                "target": {"service": {"coefficients": target}},
                "curvature": {"service": float(rng.uniform(0.3, 0.8))},
            },
            "endowment": {
                "pool": {"fuel": {"coefficients": [float(x) for x in rng.uniform(1, 3, K)]}}
            },
        },
    }
    spec = parse_spec(data, f"free_spec({seed})")
    assert isinstance(spec, EconomySpec)
    return spec
