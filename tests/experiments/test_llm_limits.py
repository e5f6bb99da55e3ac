"""A global cap on model calls at once per backend, over every task of an experiment: measured
at a real OpenAI-compatible server that counts the requests in flight."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenomy.llm import ChatMessage, ChatRequest, ScriptedChat
from tokenomy.llm.rules import echo_rule
from tokenomy.llm.testserver import create_app
from tokenomy.loopback import serve_in_thread
from tokenomy.market.executors import run_experiment
from tokenomy.market.llm_limits import LimitedChat, ThreadSlot

DELAY_S = 0.02
"""Each answer waits this long, so calls from parallel tasks overlap."""


class InFlight:
    """ASGI middleware counting chat-completion requests in flight (now, most at once, total)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.now = self.most = self.total = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        with self.lock:
            self.now += 1
            self.total += 1
            self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.now -= 1


@pytest.fixture
def server() -> Iterator[tuple[InFlight, str]]:
    counter = InFlight(create_app(delay_s=DELAY_S))
    with serve_in_thread(counter) as url:
        yield counter, url + "/v1"


def llm_spec(folder: Path, url: str, cap: int) -> Path:
    """4 tasks of small markets whose customers are LLM agents of one backend."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "population.yaml").write_text(
        textwrap.dedent(
            f"""
            backends:
              local: {{kind: openai, base_url: "{url}", model: rule-market, max_retries: 0}}
            customers:
              - {{agents: "*", policy: llm, backend: local}}
            """
        ),
        encoding="utf-8",
    )
    spec = folder / "spec.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""
            seeds: [0, 1]
            grid:
              generate: {{customers: 4, businesses: 12}}
              limit: [3, 5]
              agents: population.yaml
            llm_concurrency: {{local: {cap}}}
            """
        ),
        encoding="utf-8",
    )
    return spec


def run_capped(folder: Path, url: str, cap: int, executor: str) -> Any:
    result = run_experiment(
        llm_spec(folder, url, cap), folder / "out", executor=executor, workers=2
    )
    assert result.ok, result.failures
    return result


@pytest.mark.parametrize("cap", [1, 2])
def test_process_workers_share_the_cap(
    server: tuple[InFlight, str], tmp_path: Path, cap: int
) -> None:
    counter, url = server
    result = run_capped(tmp_path, url, cap, "process")
    assert counter.total >= 4 * 5  # every task talked to the server, several times
    assert counter.most <= cap
    if cap == 2:  # two workers do overlap when the cap lets them: the cap of 1 is binding
        assert counter.most == 2
    assert (result.runs["payments"] > 0).all()


def test_ray_workers_share_the_cap(
    ray_local: object, server: tuple[InFlight, str], tmp_path: Path
) -> None:
    counter, url = server
    result = run_capped(tmp_path, url, 1, "ray")
    assert counter.total >= 4 * 5
    assert counter.most == 1
    local = run_capped(tmp_path / "local", url, 1, "local")
    assert result.runs.equals(local.runs)  # LLM runs too are the same whoever ran them


def test_limited_chat_holds_a_permit_per_call() -> None:
    slot = ThreadSlot(1)
    seen: list[bool] = []

    def rule(request: ChatRequest) -> str:
        seen.append(slot._semaphore.acquire(blocking=False))  # the permit is taken: fails
        return echo_rule(request)

    chat = LimitedChat(ScriptedChat(rule, "m"), slot, "task#1")
    answer = chat.complete(ChatRequest((ChatMessage("user", "hi"),)))
    assert answer.text == "hi" and chat.name == "m"
    assert seen == [False]
    assert slot._semaphore.acquire(blocking=False)  # released after the call
