"""The agentic marketplace: customers and businesses trading through the Magentic protocol.

>>> from tokenomy.market import RunConfig, baselines, generate_market, run_market
>>> from tokenomy.market.generator import GeneratorSpec
>>> market = generate_market(GeneratorSpec(customers=20, businesses=60, seed=1))
>>> result = run_market(market, RunConfig(search="optimal", customer_policy="rational"))
>>> result.summary["metrics"]["welfare"] == baselines(market).optimal
True

Modules: :mod:`.io` (load/write data sets), :mod:`.generator` (synthetic markets),
:mod:`.search` (six search algorithms), :mod:`.protocol` (actions), :mod:`.state` (the service
that validates them), :mod:`.engine` and :mod:`.batch` (the two engines), :mod:`.policies`
(scripted agents), :mod:`.metrics` (welfare and behaviour), :mod:`.runner` (one run),
:mod:`.experiments` (sweeps and the paper's studies).
"""

from tokenomy.market.dataset import Market
from tokenomy.market.generator import GeneratorSpec, generate_market
from tokenomy.market.io import load_market, write_market
from tokenomy.market.metrics import Baselines, baselines
from tokenomy.market.runner import RunConfig, RunResult, run_market

__all__ = [
    "Baselines",
    "GeneratorSpec",
    "Market",
    "RunConfig",
    "RunResult",
    "baselines",
    "generate_market",
    "load_market",
    "run_market",
    "write_market",
]
