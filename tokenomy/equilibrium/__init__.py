"""General equilibrium of orchestrated agent systems — with certificates.

>>> from tokenomy.equilibrium import example, solve
>>> result = solve(example("fisher-cobb-douglas"), solver="closed-form")
>>> round(result.prices["bread"], 6), result.converged
(2.55, True)

Modules: :mod:`.spec` (YAML specs), :mod:`.basis` (the commodity space), :mod:`.production`
(the catalogue of production sets), :mod:`.welfare`, :mod:`.routing` (DAG flows and softmax
routing), :mod:`.economy` (compiled economies and demand functions), :mod:`.solvers`
(planner, price loop, first-order method), :mod:`.classic` (Fisher and exchange markets),
:mod:`.certificates`, :mod:`.result`, :mod:`.compare` (every method on one economy),
:mod:`.examples` (the built-in economies), :mod:`.synthetic` (pipelines of any size).
"""

from tokenomy.equilibrium.compare import Comparison, compare_solvers
from tokenomy.equilibrium.economy import Economy, compile_economy
from tokenomy.equilibrium.examples import EXAMPLES, example
from tokenomy.equilibrium.result import EquilibriumResult
from tokenomy.equilibrium.solvers import SOLVERS, solve
from tokenomy.equilibrium.spec import EconomySpec, ExchangeSpec, FisherSpec, load_spec, parse_spec

__all__ = [
    "EXAMPLES",
    "SOLVERS",
    "Comparison",
    "Economy",
    "EconomySpec",
    "EquilibriumResult",
    "ExchangeSpec",
    "FisherSpec",
    "compare_solvers",
    "compile_economy",
    "example",
    "load_spec",
    "parse_spec",
    "solve",
]
