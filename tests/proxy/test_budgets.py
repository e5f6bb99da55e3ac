"""Budgets through the ledger: exact exhaustion, downgrades, concurrency, fallbacks, resets."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import openai
import pytest

from tests.proxy.conftest import (
    CHEAP,
    KEY,
    SPEND_MODES,
    STRONG,
    backend_entry,
    config_dict,
    running_proxy,
    spend_mode,
)
from tokenomy.ledger import Ledger
from tokenomy.llm.rules import get_rule
from tokenomy.llm.testserver import create_app as create_backend
from tokenomy.loopback import serve_in_thread
from tokenomy.proxy import parse_config
from tokenomy.proxy.spend import Spend, backend_account, key_account

PROMPT = "x" * 400  # 100 input tokens; the echo is cut at max_tokens, so output == max_tokens
MAX_TOKENS = 10


def worst_micro(spec: dict[str, float]) -> int:
    """What one request costs here (reported usage == the worst case), in micro-dollars."""
    dollars = (100 * spec["input_per_million"] + MAX_TOKENS * spec["output_per_million"]) / 1e6
    return math.ceil(dollars * 1e6 - 1e-6)


def ask(client: openai.OpenAI, value: float = 1.0) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model="tokenomy-auto",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=MAX_TOKENS,
        extra_headers={"X-Tokenomy-Value": str(value)},
    )
    return raw.headers["x-tokenomy-backend"]


def strong_only(backends: dict[str, str]) -> list[dict[str, object]]:
    return [backend_entry("strong", backends["strong"], **STRONG)]


@pytest.mark.parametrize("reservations", SPEND_MODES)
def test_exhaustion_refuses_exactly_at_the_limit(
    reservations: str, tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    n = 5
    limit = n * worst_micro(STRONG) / 1e6
    data = config_dict(
        tmp_path,
        strong_only(backends),
        **spend_mode(reservations),
        budgets=[{"account": "team-a", "limit": limit}],
    )
    with running_proxy(data) as (url, service):
        client = sdk(url)
        for _ in range(n):
            assert ask(client) == "strong"
        with pytest.raises(openai.APIStatusError) as err:
            ask(client)
        assert err.value.status_code == 402
        assert err.value.code == "budget_exceeded"
        assert "team-a" in err.value.message
        service.spend.flush()  # batched settlement: wait for the writer
        ledger = service.spend.ledger
        assert ledger.balance(key_account("team-a")) == 0
        assert ledger.balance(backend_account("strong")) == n * worst_micro(STRONG)
        assert service.metrics.value("refusals_total", key="alice", reason="budget") == 1
        assert ledger.audit().ok


@pytest.mark.parametrize("reservations", SPEND_MODES)
def test_over_budget_request_is_downgraded_to_a_cheaper_positive_backend(
    reservations: str, tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    entries = [
        backend_entry("cheap", backends["cheap"], **CHEAP),
        backend_entry("strong", backends["strong"], **STRONG),
    ]
    limit = (worst_micro(STRONG) + worst_micro(CHEAP)) / 1e6  # one strong, then one cheap
    data = config_dict(
        tmp_path,
        entries,
        **spend_mode(reservations),
        budgets=[{"account": "team-a", "limit": limit}],
    )
    with running_proxy(data) as (url, service):
        client = sdk(url)
        assert ask(client, value=1.0) == "strong"  # the rule's choice at V = 1
        raw = client.chat.completions.with_raw_response.create(
            model="tokenomy-auto",
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=MAX_TOKENS,
        )
        assert raw.headers["x-tokenomy-backend"] == "cheap"
        assert raw.headers["x-tokenomy-downgraded"] == "strong"
        with pytest.raises(openai.APIStatusError) as err:
            ask(client)
        assert err.value.status_code == 402
        service.spend.flush()
        assert service.spend.ledger.balance(key_account("team-a")) == 0


@pytest.mark.parametrize("reservations", SPEND_MODES)
def test_concurrent_requests_cannot_overspend(
    reservations: str, tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    affordable = 7
    limit_micro = affordable * worst_micro(STRONG) + worst_micro(STRONG) // 2
    data = config_dict(
        tmp_path,
        strong_only(backends),
        **spend_mode(reservations),
        budgets=[{"account": "team-a", "limit": limit_micro / 1e6}],
    )
    results: list[int] = []
    lock = threading.Lock()
    with running_proxy(data) as (url, service):
        client = sdk(url)
        start = threading.Barrier(32)

        def one() -> None:
            start.wait()
            try:
                ask(client)
                status = 200
            except openai.APIStatusError as exc:
                status = exc.status_code
            with lock:
                results.append(status)

        threads = [threading.Thread(target=one) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        service.spend.flush()  # batched settlement: wait for the writer
        ledger = service.spend.ledger
        spent = limit_micro - ledger.balance(key_account("team-a"))
        assert sorted(set(results)) == [200, 402]
        assert results.count(200) == affordable
        assert spent == affordable * worst_micro(STRONG) <= limit_micro
        assert ledger.balance(backend_account("strong")) == spent
        assert ledger.balance("proxy:pending") == 0
        assert ledger.audit().ok


@pytest.mark.parametrize("reservations", SPEND_MODES)
def test_free_failing_primary_cannot_bypass_the_budget(
    reservations: str, tmp_path: Path, sdk: Callable[..., openai.OpenAI]
) -> None:
    free = {"input_per_million": 0.0, "output_per_million": 0.0, "quality": 0.9}
    paid = {"input_per_million": 20.0, "output_per_million": 60.0, "quality": 0.8}
    with ExitStack() as stack:
        broken = create_backend(get_rule("echo"), models=("free-m",), fail_first=10**6,
                                fail_status=500)  # fmt: skip
        ok = create_backend(get_rule("echo"), models=("paid-m",))
        free_url = stack.enter_context(serve_in_thread(broken)) + "/v1"
        paid_url = stack.enter_context(serve_in_thread(ok)) + "/v1"
        entries = [backend_entry("free", free_url, **free), backend_entry("paid", paid_url, **paid)]
        one = worst_micro(paid)
        data = config_dict(
            tmp_path,
            entries,
            **spend_mode(reservations),
            budgets=[{"account": "team-a", "limit": (one + one // 2) / 1e6}],
        )
        with running_proxy(data) as (url, service):
            client = sdk(url)
            raw = client.chat.completions.with_raw_response.create(
                model="tokenomy-auto",
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=MAX_TOKENS,
            )
            assert raw.headers["x-tokenomy-backend"] == "paid"
            assert raw.headers["x-tokenomy-fallbacks"] == "free"
            with pytest.raises(openai.APIStatusError) as err:  # free fails, paid unaffordable
                ask(client)
            assert err.value.status_code == 402
            service.spend.flush()  # batched settlement: wait for the writer
            ledger = service.spend.ledger
            assert ledger.balance(backend_account("paid")) == one
            assert ledger.balance(key_account("team-a")) == one // 2
            assert broken.state.counters.failed == 2
            assert ledger.audit().ok


def test_pacing_raises_the_price_of_budget_when_spending_runs_ahead(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    budget = {"account": "team-a", "limit": 1.0, "period": "day", "expected_requests": 1000}
    data = config_dict(tmp_path, strong_only(backends), budgets=[budget])
    with running_proxy(data) as (url, _service):
        client = sdk(url)
        seen = []
        for _ in range(3):
            raw = client.chat.completions.with_raw_response.create(
                model="tokenomy-auto",
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=MAX_TOKENS,
                extra_headers={"X-Tokenomy-Value": "2"},
            )
            mu = float(raw.headers["x-tokenomy-budget-price"])
            seen.append(mu)
            assert float(raw.headers["x-tokenomy-value"]) == pytest.approx(2 / (1 + mu), rel=1e-5)
        # each request (1.6 m$) costs more than the even pace (1 $ / 1000): μ rises
        assert seen[0] == 0.0 and 0.0 < seen[1] < seen[2]


def test_period_reset_happens_once_per_window(tmp_path: Path) -> None:
    data = config_dict(
        tmp_path,
        [backend_entry("strong", "http://127.0.0.1:9/v1", **STRONG)],
        budgets=[{"account": "team-a", "limit": 2.0, "period": 60}],
    )
    config = parse_config(data, "test.yaml")
    with Ledger.open(config.ledger_url) as ledger:
        spends = [Spend(ledger, config) for _ in range(8)]
        spends[0].setup()
        threads = [threading.Thread(target=s.reset_if_due, args=("team-a", 10.0)) for s in spends]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ledger.balance(key_account("team-a")) == 2_000_000
        reservation = spends[0].reserve("team-a", 500_000)
        spends[0].settle(reservation, 300_000, "strong")
        Spend(ledger, config).reset_if_due("team-a", 59.0)  # same window: nothing happens
        assert ledger.balance(key_account("team-a")) == 1_700_000
        spends[0].reset_if_due("team-a", 61.0)  # next window: back to the limit
        assert ledger.balance(key_account("team-a")) == 2_000_000
        assert ledger.balance(backend_account("strong")) == 300_000
        assert ledger.audit().ok


def test_key_without_budget_is_metered_only(
    tmp_path: Path, backends: dict[str, str], sdk: Callable[..., openai.OpenAI]
) -> None:
    with running_proxy(config_dict(tmp_path, strong_only(backends))) as (url, service):
        client = sdk(url, KEY)
        for _ in range(3):
            ask(client)
        service.spend.flush()  # batched settlement: wait for the writer
        ledger = service.spend.ledger
        assert ledger.balance(key_account("team-a")) == -3 * worst_micro(STRONG)
