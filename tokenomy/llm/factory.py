"""Build a chat model from a declarative spec (YAML/JSON config files, populations).

    kind: openai            # any OpenAI-compatible server
    base_url: http://127.0.0.1:8000/v1
    model: llama-3.1-8b-instruct
    api_key_env: MY_KEY     # the NAME of the variable holding the key, never the key
    record: runs/calls.jsonl

    kind: replay            # answer from a recorded transcript, no server
    transcript: runs/calls.jsonl

    kind: scripted          # answer in-process from a registered rule ("market", "echo")
    rule: market

Unset ``openai`` fields fall back to :class:`~tokenomy.llm.settings.LLMSettings` (the
``TOKENOMY_LLM_*`` variables). Relative paths are resolved against ``base_dir`` (the config
file's folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tokenomy.errors import ConfigError
from tokenomy.llm.openai_backend import OpenAIChat
from tokenomy.llm.protocol import ChatModel
from tokenomy.llm.recording import RecordingChat, ReplayChat
from tokenomy.llm.rules import get_rule
from tokenomy.llm.scripted import ScriptedChat
from tokenomy.llm.settings import LLMSettings, StructuredMode


class BackendSpec(BaseModel):
    """How to build one chat model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai", "replay", "scripted"] = Field(description="Backend kind")
    base_url: str | None = Field(default=None, description="openai: server URL (…/v1)")
    model: str | None = Field(default=None, description="Model name (openai: the one asked)")
    api_key_env: str | None = Field(
        default=None, description="openai: name of the environment variable holding the key"
    )
    timeout_s: float | None = Field(default=None, gt=0, description="openai: per-call timeout")
    max_retries: int | None = Field(default=None, ge=0, description="openai: transient retries")
    max_concurrency: int | None = Field(default=None, ge=1, description="openai: calls at once")
    structured: StructuredMode | None = Field(
        default=None, description="openai: json_schema | json_object | none"
    )
    stream: bool | None = Field(default=None, description="openai: stream answers (SSE)")
    transcript: Path | None = Field(default=None, description="replay: the transcript file")
    rule: str | None = Field(default=None, description="scripted: a registered rule name")
    record: Path | None = Field(default=None, description="Record every call to this file")


def _resolve(path: Path, base_dir: Path | None) -> Path:
    return path if path.is_absolute() or base_dir is None else base_dir / path


def build_chat_model(
    spec: BackendSpec, *, base_dir: str | Path | None = None, settings: LLMSettings | None = None
) -> ChatModel:
    """The chat model ``spec`` describes (wrapped in :class:`RecordingChat` if ``record``).

    Args:
        spec: the backend spec.
        base_dir: folder that relative ``transcript``/``record`` paths are relative to.
        settings: defaults for unset ``openai`` fields (default: from the environment).

    Raises:
        ConfigError: a required field is missing, the key variable is unset, or the rule is
            unknown.
        DataError: a replay transcript is malformed.
    """
    base = None if base_dir is None else Path(base_dir)
    model: ChatModel
    if spec.kind == "openai":
        s = settings or LLMSettings()
        api_key = s.api_key.get_secret_value()
        if spec.api_key_env is not None:
            value = os.environ.get(spec.api_key_env)
            if not value:
                raise ConfigError(
                    f"backend api_key_env: environment variable '{spec.api_key_env}' is not set"
                )
            api_key = value
        model = OpenAIChat(
            spec.base_url or s.base_url,
            spec.model or s.model,
            api_key=api_key,
            timeout_s=spec.timeout_s or s.timeout_s,
            max_retries=s.max_retries if spec.max_retries is None else spec.max_retries,
            max_concurrency=spec.max_concurrency or s.max_concurrency,
            structured=spec.structured or s.structured,
            stream=s.stream if spec.stream is None else spec.stream,
        )
    elif spec.kind == "replay":
        if spec.transcript is None:
            raise ConfigError("backend of kind 'replay' needs 'transcript' (a JSON-lines file)")
        model = ReplayChat(_resolve(spec.transcript, base), name=spec.model)
    else:
        if spec.rule is None:
            raise ConfigError("backend of kind 'scripted' needs 'rule' (e.g. market, echo)")
        model = ScriptedChat(get_rule(spec.rule), name=spec.model or f"rule-{spec.rule}")
    if spec.record is not None:
        model = RecordingChat(model, _resolve(spec.record, base))
    return model
