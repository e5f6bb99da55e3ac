"""The proxy end to end: the OpenAI SDK -> proxy -> two local backends, with the ledger."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from tests.proxy.conftest import (
    CHEAP,
    OTHER_KEY,
    REVOKED_KEY,
    STRONG,
    backend_entry,
    config_dict,
    running_proxy,
)
from tokenomy.allocate.diagnose import diagnose_log
from tokenomy.allocate.router import ModelProfile, Router
from tokenomy.prices import Prices, PriceTable
from tokenomy.proxy.decisions import request_log_path
from tokenomy.proxy.spend import backend_account, key_account

PROMPT = "What is the capital of France? Answer briefly."
MAX_TOKENS = 8


def expected_backend(value: float, prompt: str, max_tokens: int) -> str:
    """The rule's choice computed here from the configured prices and qualities."""
    tin = math.ceil(len(prompt) / 4)
    best, best_net = "", -math.inf
    for name, spec in (("cheap", CHEAP), ("strong", STRONG)):
        cost = (tin * spec["input_per_million"] + max_tokens * spec["output_per_million"]) / 1e6
        net = value * spec["quality"] - cost
        if net > best_net:
            best, best_net = name, net
    return best


def both(backends: dict[str, str]) -> list[dict[str, object]]:
    return [
        backend_entry("cheap", backends["cheap"], **CHEAP),
        backend_entry("strong", backends["strong"], **STRONG),
    ]


def test_routing_follows_value(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    values = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1e-1]
    with running_proxy(config_dict(tmp_path, both(backends))) as (url, service):
        client = sdk(url)
        routed = []
        for v in values:
            raw = client.chat.completions.with_raw_response.create(
                model="tokenomy-auto",
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=MAX_TOKENS,
                extra_headers={"X-Tokenomy-Value": str(v)},
            )
            reply = raw.parse()
            routed.append(raw.headers["x-tokenomy-backend"])
            assert reply.choices[0].message.content == PROMPT[: MAX_TOKENS * 4]
            assert reply.model == f"{routed[-1]}-m"
            assert reply.usage is not None
            tin, tout = reply.usage.prompt_tokens, reply.usage.completion_tokens
            spec = CHEAP if routed[-1] == "cheap" else STRONG
            cost = (tin * spec["input_per_million"] + tout * spec["output_per_million"]) / 1e6
            assert float(raw.headers["x-tokenomy-cost"]) == pytest.approx(cost, abs=1e-6)
            assert int(raw.headers["x-tokenomy-output-tokens"]) == tout
        expected = [expected_backend(v, PROMPT, MAX_TOKENS) for v in values]
        assert routed == expected
        assert set(routed) == {"cheap", "strong"}  # the grid crosses V*
        ledger = service.spend.ledger
        paid = ledger.balance(backend_account("cheap")) + ledger.balance(backend_account("strong"))
        assert paid == -ledger.balance(key_account("team-a"))
        assert ledger.audit().ok
    diagnosis = diagnose_log(tmp_path / "decisions.jsonl")
    assert diagnosis.row("over-routing").decisions == len(values)
    assert diagnosis.row("over-routing").count == 0
    assert diagnosis.row("under-routing").count == 0
    log = request_log_path(tmp_path / "decisions.jsonl")
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["backend"] for r in rows] == expected


def test_named_model_passes_through_and_is_metered(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    with running_proxy(config_dict(tmp_path, both(backends))) as (url, service):
        client = sdk(url, OTHER_KEY)  # bob's key comes from key_env
        raw = client.chat.completions.with_raw_response.create(
            model="strong-m",  # the backend's model name
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=4,
            extra_headers={"X-Tokenomy-Value": "0"},  # the rule alone would pick cheap
        )
        assert raw.headers["x-tokenomy-backend"] == "strong"
        assert service.spend.ledger.balance(backend_account("strong")) > 0
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(
                model="gpt-nope", messages=[{"role": "user", "content": "x"}]
            )
        assert err.value.code == "model_not_found"
        models = [m.id for m in client.models.list()]
        assert models == ["tokenomy-auto", "cheap", "strong"]


def test_streaming_through_the_sdk(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    text = "stream me please " * 6
    with running_proxy(config_dict(tmp_path, both(backends))) as (url, service):
        client = sdk(url)
        for include_usage in (True, False):
            stream = client.chat.completions.create(
                model="tokenomy-auto",
                messages=[{"role": "user", "content": text}],
                stream=True,
                stream_options={"include_usage": include_usage},
                extra_headers={"X-Tokenomy-Value": "10"},
            )
            parts, usage = [], None
            with stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
                    if chunk.usage is not None:
                        usage = chunk.usage
            assert "".join(parts) == text
            assert (usage is not None) == include_usage
        expected = expected_backend(10.0, text, 256)
        tin = math.ceil(len(text) / 4)
        spec = STRONG if expected == "strong" else CHEAP
        one = (tin * spec["input_per_million"] + tin * spec["output_per_million"]) / 1e6
        ledger = service.spend.ledger
        assert ledger.balance(backend_account(expected)) == 2 * math.ceil(one * 1e6 - 1e-6)
        assert ledger.balance("proxy:pending") == 0
        assert ledger.audit().ok


def test_unknown_and_revoked_keys_are_refused(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    with running_proxy(config_dict(tmp_path, both(backends))) as (url, service):
        for key in ("sk-unknown", REVOKED_KEY):
            with pytest.raises(openai.AuthenticationError) as err:
                sdk(url, key).chat.completions.create(
                    model="tokenomy-auto", messages=[{"role": "user", "content": "x"}]
                )
            assert err.value.status_code == 401
        with httpx.Client() as http:
            reply = http.post(url + "/v1/chat/completions", json={"messages": []})
            assert reply.status_code == 401
            error = reply.json()["error"]
            assert {"message", "type", "code"} <= set(error)
            assert error["code"] == "invalid_api_key"
            metrics = http.get(url + "/metrics").text
        assert 'tokenomy_proxy_refusals_total{key="unknown",reason="auth"} 3' in metrics
        assert service.spend.ledger.balance(key_account("team-a")) == 0


def test_failing_primary_falls_back_and_is_metered(
    tmp_path: Path, sdk: Callable[..., openai.OpenAI]
) -> None:
    from contextlib import ExitStack

    from tokenomy.llm.rules import get_rule
    from tokenomy.llm.testserver import create_app as create_backend
    from tokenomy.loopback import serve_in_thread

    with ExitStack() as stack:
        broken = create_backend(get_rule("echo"), models=("strong-m",), fail_first=10**6,
                                fail_status=500)  # fmt: skip
        ok = create_backend(get_rule("echo"), models=("cheap-m",))
        strong_url = stack.enter_context(serve_in_thread(broken)) + "/v1"
        cheap_url = stack.enter_context(serve_in_thread(ok)) + "/v1"
        data = config_dict(
            tmp_path,
            [
                backend_entry("cheap", cheap_url, **CHEAP),
                backend_entry("strong", strong_url, **STRONG),
            ],
        )
        with running_proxy(data) as (url, service):
            raw = sdk(url).chat.completions.with_raw_response.create(
                model="tokenomy-auto",
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=MAX_TOKENS,
                extra_headers={"X-Tokenomy-Value": "1"},
            )
            assert raw.headers["x-tokenomy-backend"] == "cheap"
            assert raw.headers["x-tokenomy-fallbacks"] == "strong"
            ledger = service.spend.ledger
            assert ledger.balance(backend_account("strong")) == 0
            assert ledger.balance(backend_account("cheap")) == -ledger.balance(
                key_account("team-a")
            )
            assert service.metrics.value("fallbacks_total", backend="strong") == 1
            assert broken.state.counters.failed == 1
        records = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
        assert [o["name"] for o in records[0]["options"]] == ["cheap"]  # strong out of play
        assert diagnose_log(tmp_path / "decisions.jsonl").row("under-routing").count == 0


def test_router_predictor_drives_the_choice(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    table = PriceTable.from_mapping(
        {"small": {"input": 1.0, "output": 2.0}, "large": {"input": 20.0, "output": 60.0}}
    )
    prompts = [f"easy question {i}" for i in range(20)] + [f"prove theorem {i}" for i in range(20)]
    outcomes = [[1, 1]] * 20 + [[0, 1]] * 20
    router = Router([ModelProfile("small"), ModelProfile("large")], Prices(table=table))
    router.fit(prompts, outcomes)
    path = router.save(tmp_path / "router.npz")
    entries = [
        backend_entry("cheap", backends["cheap"], router_model="small",
                      **{k: v for k, v in CHEAP.items() if k != "quality"}),
        backend_entry("strong", backends["strong"], router_model="large",
                      **{k: v for k, v in STRONG.items() if k != "quality"}),
    ]  # fmt: skip
    data = config_dict(tmp_path, entries, predictor=str(path))
    value = 0.01
    with running_proxy(data) as (url, _service):
        client = sdk(url)
        for prompt in ("easy question 99", "prove theorem 99"):
            q = router.predict(router.features([prompt]))[0]
            tin = math.ceil(len(prompt) / 4)
            costs = np.array([(tin * s["input_per_million"] + 8 * s["output_per_million"]) / 1e6
                              for s in (CHEAP, STRONG)])  # fmt: skip
            want = ["cheap", "strong"][int(np.argmax(value * q - costs))]
            raw = client.chat.completions.with_raw_response.create(
                model="tokenomy-auto",
                messages=[{"role": "user", "content": prompt}],
                max_tokens=8,
                extra_headers={"X-Tokenomy-Value": str(value)},
            )
            assert raw.headers["x-tokenomy-backend"] == want
