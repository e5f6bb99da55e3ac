"""Synthetic orchestrated systems of any size, for benchmarks and stress tests.

:func:`layered_economy` builds a pipeline of ``layers`` stages (plan, code, test, review, ...)
with ``agents / layers`` interchangeable agents per stage. Every agent links to a few agents of
the next stage, has its own per-task profile over four metrics (quality, tokens, latency,
risk), and capacities that vary over the day with their own phase, so that some agents are
congested at some times and others never are. The orchestrator values quality and pays for
tokens, latency and risk (quality-minus-cost welfare) and routes by softmax.

The economy is feasible by construction: every stage can carry all the tasks at every time.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tokenomy.equilibrium.spec import EconomySpec, parse_spec

METRICS = ("quality", "tokens", "latency", "risk")


def layered_economy(
    agents: int,
    *,
    basis_size: int = 16,
    layers: int = 4,
    fan_out: int = 3,
    seed: int = 0,
) -> EconomySpec:
    """A random layered pipeline with ``agents`` agents (see the module docstring).

    Args:
        agents: number of agents (at least ``layers``).
        basis_size: K, piecewise-constant basis functions over the day.
        layers: pipeline stages.
        fan_out: links from each agent to the next stage.
        seed: random seed (the same seed gives the same economy).
    """
    if agents < layers:
        raise ValueError(f"agents must be at least layers ({layers}), got {agents}")
    rng = np.random.default_rng(seed)
    width = agents // layers
    sizes = [width + (1 if i < agents - width * layers else 0) for i in range(layers)]
    names = [[f"s{i}_a{j}" for j in range(n)] for i, n in enumerate(sizes)]
    tasks = float(10 * width)
    K = basis_size
    t = (np.arange(K) + 0.5) / K  # piece midpoints on [0, 1]
    unit = np.sqrt(1.0 / K)  # coefficient of the value 1 on one piece
    edges: list[list[str]] = [["source", a] for a in names[0]]
    for stage_from, lower in itertools.pairwise(names):
        for a in stage_from:
            for b in rng.choice(len(lower), size=min(fan_out, len(lower)), replace=False):
                edges.append([a, lower[int(b)]])
        fed = {e[1] for e in edges}
        for b in lower:
            if b not in fed:
                edges.append([stage_from[int(rng.integers(len(stage_from)))], b])
    edges += [[a, "sink"] for a in names[-1]]
    spec_agents: dict[str, Any] = {}
    for stage in names:
        share = rng.dirichlet(np.full(len(stage), 2.0))
        for name, s in zip(stage, share, strict=True):
            usage = {
                "quality": rng.uniform(0.2, 1.0),
                "tokens": rng.uniform(0.5, 3.0),
                "latency": rng.uniform(0.05, 0.5),
                "risk": rng.uniform(0.0, 0.02),
            }
            phase = rng.uniform(0, 1)
            # tokens capacity: 1.8–3× the agent's share of the stage's load, ±40% over the day
            load = max(s, 0.5 / len(stage)) * tasks * usage["tokens"] * rng.uniform(1.8, 3.0)
            profile = load * (1.0 + 0.4 * np.sin(2 * np.pi * (t + phase)))
            upper: dict[str, Any] = {
                "quality": {
                    "coefficients": (3 * tasks * usage["quality"] * unit * np.ones(K)).tolist()
                },
                "tokens": {"coefficients": (profile * unit).tolist()},
                "latency": {
                    "coefficients": (3 * tasks * usage["latency"] * unit * np.ones(K)).tolist()
                },
                "risk": {
                    "coefficients": (3 * tasks * usage["risk"] * unit * np.ones(K) + unit).tolist()
                },
            }
            spec_agents[name] = {
                "per_task": {m: float(v) for m, v in usage.items()},
                "production": [{"box": {"upper": upper}}],
            }
    data = {
        "kind": "economy",
        "name": f"layered-{agents}",
        "description": f"Synthetic {layers}-stage pipeline, {agents} agents, K = {K}.",
        "basis": {"kind": "piecewise", "size": K},
        "metrics": list(METRICS),
        "agents": spec_agents,
        "graph": {"edges": edges, "tasks": tasks, "beta": 1.0},
        "consumer": {
            "welfare": {
                "kind": "quality_minus_cost",
                "value": 10.0,
                "model": "llama3-70b-instruct",
                "token_unit": 1000,
                "latency_price": 2.0,
                "risk_price": 100.0,
            }
        },
    }
    spec = parse_spec(data, f"layered_economy({agents})")
    assert isinstance(spec, EconomySpec)
    return spec
