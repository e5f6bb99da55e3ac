"""OpenAIChat against the OpenAI-compatible test server, through the real openai SDK."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from pydantic import BaseModel

from tests.llm.conftest import served
from tokenomy.llm import ChatMessage, ChatRequest, LLMError, OpenAIChat, ScriptedChat
from tokenomy.llm.openai_backend import SCHEMA_INSTRUCTION
from tokenomy.llm.rules import echo_rule
from tokenomy.llm.testserver import create_app
from tokenomy.loopback import free_port
from tokenomy.prices import estimate_tokens


def ask(text: str, **kw) -> ChatRequest:
    return ChatRequest((ChatMessage("system", "Be brief."), ChatMessage("user", text)), **kw)


def test_echo_round_trip_counts_usage(chat):
    response = chat.complete(ask("hello there, model"))
    assert response.text == "hello there, model"
    assert response.model == "rule-market"
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens == estimate_tokens("Be brief.\nhello there, model")
    assert response.usage.output_tokens == estimate_tokens("hello there, model")
    assert not response.usage.estimated
    assert response.latency_s > 0


def test_http_and_in_process_rule_agree(chat):
    request = ask("the same words " * 20)
    remote, local = chat.complete(request), ScriptedChat(echo_rule, "rule-market").complete(request)
    assert (remote.text, remote.usage.input_tokens, remote.usage.output_tokens) == (
        local.text,
        local.usage.input_tokens,
        local.usage.output_tokens,
    )


def test_streaming_through_the_sdk(server_url):
    text = "a longer answer that the server splits into several chunks " * 3
    with openai.OpenAI(base_url=server_url, api_key="x", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="rule-market",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == estimate_tokens(text)
    assert chunks[-1].usage.completion_tokens == estimate_tokens(text)


def test_streaming_client_matches_plain_client(server_url, chat):
    request = ask("stream me " * 30)
    with OpenAIChat(server_url, "rule-market", stream=True) as streaming:
        streamed = streaming.complete(request)
    plain = chat.complete(request)
    assert streamed.text == plain.text
    assert streamed.usage == plain.usage
    assert streamed.finish_reason == plain.finish_reason == "stop"


def test_max_tokens_truncates_with_length_reason(chat):
    response = chat.complete(ask("x" * 100, max_tokens=5))
    assert response.text == "x" * 20
    assert response.finish_reason == "length"
    assert response.usage.output_tokens == 5


def test_server_without_usage_gives_marked_estimate():
    with served(create_app(echo_rule, report_usage=False), "rule-market") as chat:
        response = chat.complete(ask("count me"))
    assert response.usage.estimated
    assert response.usage.input_tokens == estimate_tokens("Be brief.\ncount me")
    assert response.usage.output_tokens == estimate_tokens("count me")


def test_unknown_model_is_404_without_retry():
    app = create_app(echo_rule)
    with (
        served(app, "no-such-model", backoff_s=0.01) as chat,
        pytest.raises(LLMError, match="404") as info,
    ):
        chat.complete(ask("hi"))
    assert info.value.status == 404
    assert "no-such-model" in info.value.server_message
    assert app.state.counters.requests == 1


def test_transient_failures_are_retried():
    app = create_app(echo_rule, fail_first=2, fail_status=503)
    with served(app, "rule-market", max_retries=4, backoff_s=0.01) as chat:
        assert chat.complete(ask("still works")).text == "still works"
    assert app.state.counters.requests == 3
    assert app.state.counters.failed == 2


def test_rate_limit_is_retried():
    app = create_app(echo_rule, fail_first=1, fail_status=429)
    with served(app, "rule-market", backoff_s=0.01) as chat:
        assert chat.complete(ask("after 429")).text == "after 429"
    assert app.state.counters.requests == 2


def test_retries_give_up_after_max_retries():
    app = create_app(echo_rule, fail_first=10, fail_status=500)
    with (
        served(app, "rule-market", max_retries=2, backoff_s=0.01) as chat,
        pytest.raises(LLMError, match="500") as info,
    ):
        chat.complete(ask("never"))
    assert info.value.status == 500
    assert app.state.counters.requests == 3


def test_client_errors_are_not_retried():
    app = create_app(echo_rule, fail_first=2, fail_status=400)
    with (
        served(app, "rule-market", max_retries=4, backoff_s=0.01) as chat,
        pytest.raises(LLMError, match="400") as info,
    ):
        chat.complete(ask("bad"))
    assert info.value.status == 400
    assert "injected failure" in info.value.server_message
    assert app.state.counters.requests == 1


def test_connection_refused_is_retried_then_reported():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with (
        OpenAIChat(url, "rule-market", max_retries=1, backoff_s=0.01) as chat,
        pytest.raises(LLMError, match="after 2 attempt") as info,
    ):
        chat.complete(ask("anyone?"))
    assert info.value.status is None


def test_timeout_is_retried_then_reported():
    app = create_app(echo_rule, delay_s=1.0)
    with (
        served(app, "rule-market", timeout_s=0.2, max_retries=1, backoff_s=0.01) as chat,
        pytest.raises(LLMError, match="Timeout"),
    ):
        chat.complete(ask("slow"))
    assert app.state.counters.requests == 2


class InFlight:
    """A rule that counts the requests it is answering at once."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, request: ChatRequest) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold_s)
        with self.lock:
            self.now -= 1
        return "ok"


@pytest.mark.parametrize("cap", [1, 2])
def test_concurrency_cap_is_respected(cap):
    rule = InFlight(0.05)
    with (
        served(create_app(rule), "rule-market", max_concurrency=cap) as chat,
        ThreadPoolExecutor(8) as pool,
    ):
        answers = list(pool.map(lambda i: chat.complete(ask(str(i))).text, range(8)))
    assert answers == ["ok"] * 8
    assert rule.peak == cap


def test_without_a_tight_cap_calls_overlap():
    # the control of the test above: the server does run requests side by side
    rule = InFlight(0.3)
    with (
        served(create_app(rule), "rule-market", max_concurrency=8) as chat,
        ThreadPoolExecutor(8) as pool,
    ):
        list(pool.map(lambda i: chat.complete(ask(str(i))), range(8)))
    assert rule.peak > 2


class Answer(BaseModel):
    value: int


class WireCheck:
    """A rule that reports what arrived: the schema as response_format, or in the prompt."""

    def __call__(self, request: ChatRequest) -> str:
        system = request.messages[0].content
        return (
            f"schema={request.json_schema is not None} "
            f"in_prompt={SCHEMA_INSTRUCTION.strip() in system} "
            f"system_starts={system.startswith('Be brief.')}"
        )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_schema", "schema=True in_prompt=False system_starts=True"),
        ("json_object", "schema=False in_prompt=True system_starts=True"),
        ("none", "schema=False in_prompt=True system_starts=True"),
    ],
)
def test_structured_modes_on_the_wire(mode, expected):
    schema = Answer.model_json_schema()
    with served(create_app(WireCheck()), "rule-market", structured=mode) as chat:
        assert chat.complete(ask("?", json_schema=schema)).text == expected
        plain = chat.complete(ask("?")).text
    assert plain == "schema=False in_prompt=False system_starts=True"


def test_models_and_health(server_url):
    with openai.OpenAI(base_url=server_url, api_key="x", max_retries=0) as client:
        names = [m.id for m in client.models.list()]
    assert names == ["rule-market", "rule-market-b"]
    import httpx

    with httpx.Client() as http:
        assert http.get(server_url.removesuffix("/v1") + "/health").json() == {"status": "ok"}


def test_settings_from_environment(monkeypatch, server_url):
    from tokenomy.llm import LLMSettings

    monkeypatch.setenv("TOKENOMY_LLM_BASE_URL", server_url)
    monkeypatch.setenv("TOKENOMY_LLM_MODEL", "rule-market-b")
    monkeypatch.setenv("TOKENOMY_LLM_MAX_CONCURRENCY", "3")
    settings = LLMSettings()
    assert settings.max_concurrency == 3
    assert settings.api_key.get_secret_value() == "not-needed"
    with OpenAIChat.from_settings(settings) as chat:
        response = chat.complete(ask("env"))
    assert (chat.name, response.model, response.text) == ("rule-market-b", "rule-market-b", "env")
