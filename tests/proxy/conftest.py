"""Fixtures for the proxy tests: local OpenAI-compatible backends and a proxy in front of them.

Every server is a real uvicorn server on 127.0.0.1 (``serve_in_thread``); the client is the
real ``openai`` SDK; the ledger is a real SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from tokenomy.llm.rules import get_rule
from tokenomy.llm.testserver import create_app as create_backend
from tokenomy.loopback import serve_in_thread
from tokenomy.proxy import ProxyService, create_app, hash_key, open_service, parse_config

KEY = "sk-proxy-alice"
OTHER_KEY = "sk-proxy-bob"
REVOKED_KEY = "sk-proxy-mallory"

CHEAP = {"input_per_million": 1.0, "output_per_million": 2.0, "quality": 0.6, "latency_s": 0.0}
STRONG = {"input_per_million": 20.0, "output_per_million": 60.0, "quality": 0.9, "latency_s": 0.0}


SPEND_MODES = ["ledger", "memory", "batched"]
"""Reservations in the ledger; in memory with each payment written at once; in memory with
payments written in batches by the settlement thread."""


def spend_mode(mode: str) -> dict[str, str]:
    """The config fields of one of :data:`SPEND_MODES`."""
    if mode == "batched":
        return {"reservations": "memory", "settlement": "batched"}
    return {"reservations": mode, "settlement": "immediate"}


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, str]]:
    """Two echo backends (cheap-m, strong-m) on loopback ports: name -> base URL (/v1)."""
    with ExitStack() as stack:
        urls = {}
        for name in ("cheap", "strong"):
            app = create_backend(get_rule("echo"), models=(f"{name}-m",))
            urls[name] = stack.enter_context(serve_in_thread(app)) + "/v1"
        yield urls


def backend_entry(name: str, url: str, **fields: Any) -> dict[str, Any]:
    """A backends entry for the config."""
    return {"name": name, "base_url": url, "model": f"{name}-m", **fields}


def config_dict(
    tmp_path: Path,
    backends: list[dict[str, Any]],
    *,
    budgets: list[dict[str, Any]] | None = None,
    prices: dict[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A proxy config: alice and bob on account team-a, mallory revoked."""
    return {
        "ledger_url": f"sqlite:///{tmp_path / 'proxy.db'}",
        "decision_log": str(tmp_path / "decisions.jsonl"),
        "prices": prices or {"value": 1.0, "latency": 0.0, "risk": 0.0},
        "backends": backends,
        "budgets": budgets or [],
        "keys": [
            {"name": "alice", "sha256": hash_key(KEY), "account": "team-a"},
            {"name": "bob", "key_env": "BOB_PROXY_KEY", "account": "team-a"},
            {"name": "mallory", "sha256": hash_key(REVOKED_KEY), "account": "x", "revoked": True},
        ],
        **extra,
    }


@contextmanager
def running_proxy(data: dict[str, Any]) -> Iterator[tuple[str, ProxyService]]:
    """Serve a proxy for ``data`` (a config dict); yields its base URL and service."""
    config = parse_config(data, "test.yaml")
    with (
        open_service(config, environ={"BOB_PROXY_KEY": OTHER_KEY}) as service,
        serve_in_thread(create_app(service)) as url,
    ):
        yield url, service


@pytest.fixture
def sdk() -> Iterator[Callable[..., openai.OpenAI]]:
    """Factory of OpenAI SDK clients (no retries), all closed after the test."""
    made: list[openai.OpenAI] = []

    def make(url: str, key: str = KEY) -> openai.OpenAI:
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
