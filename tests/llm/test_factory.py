"""Building chat models from BackendSpec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tokenomy.errors import ConfigError, UnknownNameError
from tokenomy.llm import (
    BackendSpec,
    ChatMessage,
    ChatRequest,
    OpenAIChat,
    RecordingChat,
    ReplayChat,
    ScriptedChat,
    build_chat_model,
    close_model,
    read_transcript,
)

REQUEST = ChatRequest((ChatMessage("user", "ping"),), tag="x")


def test_openai_spec_reads_key_from_named_variable(monkeypatch, server_url):
    monkeypatch.setenv("MY_TEST_KEY", "sk-test")
    spec = BackendSpec(
        kind="openai", base_url=server_url, model="rule-market-b", api_key_env="MY_TEST_KEY"
    )
    model = build_chat_model(spec)
    try:
        assert isinstance(model, OpenAIChat)
        assert model.name == "rule-market-b"
        assert model.complete(REQUEST).text == "ping"
    finally:
        close_model(model)


def test_openai_spec_with_unset_key_variable(monkeypatch):
    monkeypatch.delenv("MY_ABSENT_KEY", raising=False)
    spec = BackendSpec(kind="openai", base_url="http://127.0.0.1:1/v1", api_key_env="MY_ABSENT_KEY")
    with pytest.raises(ConfigError, match="'MY_ABSENT_KEY' is not set"):
        build_chat_model(spec)


def test_scripted_spec_and_recording(tmp_path):
    spec = BackendSpec(kind="scripted", rule="echo", record="calls.jsonl")
    model = build_chat_model(spec, base_dir=tmp_path)
    assert isinstance(model, RecordingChat) and isinstance(model.inner, ScriptedChat)
    assert model.name == "rule-echo"
    assert model.complete(REQUEST).text == "ping"
    replay = build_chat_model(
        BackendSpec(kind="replay", transcript="calls.jsonl"), base_dir=tmp_path
    )
    assert isinstance(replay, ReplayChat) and replay.name == "rule-echo"
    assert replay.complete(REQUEST).text == "ping"
    assert len(list(read_transcript(tmp_path / "calls.jsonl"))) == 1


def test_unknown_rule_suggests_the_nearest():
    with pytest.raises(UnknownNameError, match="Did you mean 'market'"):
        build_chat_model(BackendSpec(kind="scripted", rule="markt"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (BackendSpec(kind="replay"), "needs 'transcript'"),
        (BackendSpec(kind="scripted"), "needs 'rule'"),
    ],
)
def test_missing_fields(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_chat_model(spec)


def test_spec_forbids_unknown_fields_and_plain_keys():
    with pytest.raises(ValidationError, match="api_key"):
        BackendSpec(kind="openai", api_key="sk-secret")
