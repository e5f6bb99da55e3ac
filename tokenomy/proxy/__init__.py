"""``tokenomy proxy``: an OpenAI-compatible proxy that spends tokens by the price rule.

Point any OpenAI-SDK application at it (``base_url="http://127.0.0.1:8080/v1"``, a proxy key
as ``api_key``, ``model="tokenomy-auto"``): each request goes to the configured backend with
the best net value ``V·ΔQ − ΔC − λ·ΔL − ρ·ΔR``, spend is reserved and settled in the ledger
so that no budget is ever exceeded, and every decision is logged for ``tokenomy allocate
diagnose``. Modules: :mod:`~tokenomy.proxy.config` (YAML), :mod:`~tokenomy.proxy.keys`,
:mod:`~tokenomy.proxy.spend` (ledger budgets), :mod:`~tokenomy.proxy.routing` (predictions and
the choice), :mod:`~tokenomy.proxy.service` (shared state, pacing), :mod:`~tokenomy.proxy.app`
(HTTP), :mod:`~tokenomy.proxy.streaming`, :mod:`~tokenomy.proxy.metrics`,
:mod:`~tokenomy.proxy.decisions`.
"""

from tokenomy.proxy.app import create_app
from tokenomy.proxy.config import AUTO_MODEL, ProxyConfig, load_config, parse_config
from tokenomy.proxy.keys import hash_key
from tokenomy.proxy.service import ProxyService, open_service

__all__ = [
    "AUTO_MODEL",
    "ProxyConfig",
    "ProxyService",
    "create_app",
    "hash_key",
    "load_config",
    "open_service",
    "parse_config",
]
