"""Built-in economies: the closed forms of the theory, its negative control, and the showcase.

``tokenomy equilibrium example NAME`` solves one; ``--yaml`` prints its spec, a starting point
for your own. Each example states what it must exhibit.
"""

from __future__ import annotations

from typing import Any

import yaml

from tokenomy.equilibrium.spec import EconomySpec, ExchangeSpec, FisherSpec, parse_spec
from tokenomy.errors import UnknownNameError

EXAMPLES: dict[str, str] = {}

EXAMPLES["fisher-cobb-douglas"] = """
kind: fisher
name: fisher-cobb-douglas
description: >-
  Three buyers with Cobb–Douglas utilities over four goods in unit supply. Closed form:
  p_j = Σ_i B_i a_ij (bread 2.55, wine 2.95, cheese 2.15, olives 1.35).
goods: {bread: 1, wine: 1, cheese: 1, olives: 1}
buyers:
  ana:
    budget: 4
    utility: {kind: cobb_douglas, weights: {bread: 0.4, wine: 0.3, cheese: 0.2, olives: 0.1}}
  ben:
    budget: 2
    utility: {kind: cobb_douglas, weights: {bread: 0.1, wine: 0.5, cheese: 0.3, olives: 0.1}}
  cy:
    budget: 3
    utility:
      kind: cobb_douglas
      weights: {bread: 0.25, wine: 0.25, cheese: 0.25, olives: 0.25}
"""

EXAMPLES["exchange-cobb-douglas"] = """
kind: exchange
name: exchange-cobb-douglas
description: >-
  Three traders with Cobb–Douglas utilities trade their endowments of three goods. Closed
  form: with supplies normalised to 1, prices are the Perron eigenvector of AᵀE.
goods: [grain, cloth, tools]
consumers:
  farmer:
    endowment: {grain: 2.0, cloth: 0.2}
    utility: {kind: cobb_douglas, weights: {grain: 0.2, cloth: 0.5, tools: 0.3}}
  weaver:
    endowment: {cloth: 1.5, tools: 0.3}
    utility: {kind: cobb_douglas, weights: {grain: 0.6, cloth: 0.1, tools: 0.3}}
  smith:
    endowment: {tools: 1.0, grain: 0.5}
    utility: {kind: cobb_douglas, weights: {grain: 0.4, cloth: 0.4, tools: 0.2}}
"""

EXAMPLES["scarf"] = """
kind: exchange
name: scarf
description: >-
  Scarf's 1960 economy: three goods, three consumers each endowed with one good and wanting
  it with the next one in fixed proportions (Leontief). Its unique equilibrium is
  p* = (1, 1, 1), but tâtonnement circles it forever (it conserves Σ p²): the price loop
  must report non-convergence while the planner path finds p*.
goods: [g1, g2, g3]
consumers:
  c1: {endowment: {g1: 1}, utility: {kind: leontief, weights: {g1: 1, g2: 1}}}
  c2: {endowment: {g2: 1}, utility: {kind: leontief, weights: {g2: 1, g3: 1}}}
  c3: {endowment: {g3: 1}, utility: {kind: leontief, weights: {g3: 1, g1: 1}}}
price_loop: {eta: 0.1, max_iter: 20000, start: {g1: 1.3, g2: 0.9, g3: 0.8}}
"""

EXAMPLES["crusoe"] = """
kind: economy
name: crusoe
description: >-
  Robinson Crusoe: one consumer owns one unit of time, one firm turns labour into coconuts,
  y = A·l^α (A = 2, α = 0.5), welfare 0.6 log c + 0.4 log leisure. Closed form:
  l* = 0.6α / (0.6α + 0.4) = 3/7, c* = 2√(3/7), wage/price = A α l*^(α−1).
horizon: 1.0
basis: {kind: piecewise, size: 1}
metrics: [coconuts, leisure]
markets:
  time: {metrics: [leisure]}
agents:
  island:
    metrics: [coconuts]
    production:
      - power:
          output: {metric: coconuts}
          input: {market: time, metric: leisure}
          scale: 2.0
          exponent: 0.5
          max_input: 1.0
consumer:
  welfare: {kind: cobb_douglas, exponents: {coconuts: 0.6, leisure: 0.4}}
  endowment: {time: {leisure: 1.0}}
"""

EXAMPLES["linear-quadratic"] = """
kind: economy
name: linear-quadratic
description: >-
  A functional economy: one provider whose output trajectory lies in an L² ball of radius
  0.5, a consumer with quadratic welfare ⟨b, y⟩ − ‖y‖²/2 over it, b(t) = exp(t). The
  planner's conditions are linear and the continuous-time price is p(t) = b(t)(1 − 0.5/‖b‖),
  ‖b‖² = (e² − 1)/2; the prices in V_K converge to it as K grows, spectrally on this Legendre
  basis (every Legendre coefficient of exp is positive) and as 1/K on a piecewise basis.
horizon: 1.0
basis: {kind: legendre, size: 8}
metrics: [service]
agents:
  provider:
    production:
      - ellipsoid: {radii: {service: 0.5}}
consumer:
  welfare: {kind: quadratic, target: {service: "exp(t)"}, curvature: {service: 1.0}}
"""

EXAMPLES["agent-dag"] = """
kind: economy
name: agent-dag
description: >-
  The showcase. 40 tasks a day flow planner → coder → verifier, where the coder is a strong
  model, a fast one or a big backup. Each task uses each agent's capacity over the day
  (quality produced, thousands of tokens, latency added, risk added), and capacities vary in
  time: the strong coder's token rate limit grows through the day, the fast coder's dips at
  midday. The orchestrator values quality at $20, pays tokens at llama3-70b prices, latency
  and risk at λ = 5 and ρ = 200, and routes by softmax with rationality β = 0.5 per dollar.
  Equilibrium prices are congestion prices: positive exactly when and where an agent's
  capacity binds (the strong coder in the morning, the fast one at midday), zero elsewhere.
horizon: 1.0
basis: {kind: piecewise, size: 8}
metrics: [quality, tokens, latency, risk]
agents:
  planner:
    per_task: {quality: 0.3, tokens: 2, latency: 0.05, risk: 0.002}
    production:
      - box: {upper: {quality: 30, tokens: 200, latency: 4, risk: 0.2}}
  coder_strong:
    per_task: {quality: 1.2, tokens: 20, latency: 0.3, risk: 0.005}
    production:
      - box: {upper: {quality: 60, tokens: "300 + 600*t", latency: 20, risk: 1}}
  coder_fast:
    per_task: {quality: 0.8, tokens: 5, latency: 0.1, risk: 0.01}
    production:
      - box: {upper: {quality: 60, tokens: "90 + 40*cos(2*pi*t)", latency: 10, risk: 1}}
  coder_backup:
    per_task: {quality: 0.5, tokens: 30, latency: 1.0, risk: 0.02}
    production:
      - box: {upper: {quality: 60, tokens: 2000, latency: 60, risk: 2}}
  verifier:
    per_task: {quality: 0.3, tokens: 3, latency: "0.05 + 0.1*t", risk: 0.0}
    production:
      - box: {upper: {quality: 20, tokens: 200, latency: 8, risk: 0.2}}
graph:
  edges:
    - [source, planner]
    - [planner, coder_strong]
    - [planner, coder_fast]
    - [planner, coder_backup]
    - [coder_strong, verifier]
    - [coder_fast, verifier]
    - [coder_backup, verifier]
    - [verifier, sink]
  tasks: 40
  beta: 0.5
consumer:
  welfare:
    kind: quality_minus_cost
    value: 20
    model: llama3-70b-instruct
    token_unit: 1000
    latency_price: 5
    risk_price: 200
price_loop: {eta: 0.05, max_iter: 5000}
"""

_DAG_AGENTS = """
agents:
  a:
    per_task: {quality: 1.0, tokens: 1.0}
    production: [{box: {upper: {quality: 5.0, tokens: 0.6}}}]
  b:
    per_task: {quality: 0.9, tokens: 0.8}
    production: [{box: {upper: {quality: 5.0, tokens: 0.6}}}]
  c:
    per_task: {quality: 0.5, tokens: 0.3}
    production: [{box: {upper: {quality: 5.0, tokens: 0.6}}}]
  d:
    per_task: {quality: 0.4, tokens: 0.3}
    production: [{box: {upper: {quality: 5.0, tokens: 0.6}}}]
consumer:
  welfare: {kind: linear, coefficients: {quality: 3.0, tokens: -0.5}}
price_loop: {eta: 0.5, max_iter: 3000}
"""

EXAMPLES["dag-tree"] = (
    """
kind: economy
name: dag-tree
description: >-
  Four agents on a tree: source → a → c → sink and source → b → d → sink. With the step size
  of dag-entangled the price loop is a contraction here and converges.
basis: {kind: piecewise, size: 1}
metrics: [quality, tokens]
graph:
  edges: [[source, a], [source, b], [a, c], [b, d], [c, sink], [d, sink]]
  tasks: 1
  beta: 8
"""
    + _DAG_AGENTS
)

EXAMPLES["dag-entangled"] = (
    """
kind: economy
name: dag-entangled
description: >-
  The same four agents, entangled: a and b both feed c and d (four crossing paths, not
  series-parallel). The shared agents raise the curvature of the dual, and with the step size
  that converges on dag-tree the price loop oscillates. The planner and the first-order
  method still find the equilibrium.
basis: {kind: piecewise, size: 1}
metrics: [quality, tokens]
graph:
  edges: [[source, a], [source, b], [a, c], [a, d], [b, c], [b, d], [c, sink], [d, sink]]
  tasks: 1
  beta: 8
"""
    + _DAG_AGENTS
)


def example_yaml(name: str) -> str:
    """The YAML text of a built-in example."""
    if name not in EXAMPLES:
        raise UnknownNameError("example", name, EXAMPLES)
    return EXAMPLES[name].strip() + "\n"


def example(name: str) -> EconomySpec | FisherSpec | ExchangeSpec:
    """A built-in example as a validated spec."""
    data: Any = yaml.safe_load(example_yaml(name))
    return parse_spec(data, f"example '{name}'")


def describe(name: str) -> str:
    """The example's description."""
    data: Any = yaml.safe_load(example_yaml(name))
    return str(data.get("description", ""))
