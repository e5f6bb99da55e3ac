"""tokenomy — the economics layer for systems of LLM agents.

Capabilities (one subpackage each): :mod:`tokenomy.market` (agentic marketplace),
:mod:`tokenomy.prices` (the shared accounting object). Further capabilities — allocator,
equilibrium engine, ledger, principal–agent lab — build on the same prices.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
