"""Settings of the OpenAI-compatible client, read from ``TOKENOMY_LLM_*`` environment variables.

==============================  ==============================================================
``TOKENOMY_LLM_BASE_URL``       server URL ending in ``/v1`` (default ``http://127.0.0.1:8000/v1``,
                                the test server of ``tokenomy llm testserver``)
``TOKENOMY_LLM_MODEL``          model name (default ``rule-market``)
``TOKENOMY_LLM_API_KEY``        API key (default ``not-needed``, for local servers)
``TOKENOMY_LLM_TIMEOUT_S``      per-call timeout in seconds (60)
``TOKENOMY_LLM_MAX_RETRIES``    retries on transient errors (4)
``TOKENOMY_LLM_MAX_CONCURRENCY``  calls in flight at once per client (8)
``TOKENOMY_LLM_STRUCTURED``     ``json_schema`` | ``json_object`` | ``none``: how to ask for JSON
``TOKENOMY_LLM_STREAM``         stream answers (server-sent events) instead of one JSON reply
==============================  ==============================================================
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

StructuredMode = Literal["json_schema", "json_object", "none"]


class LLMSettings(BaseSettings):
    """How to reach an OpenAI-compatible chat server."""

    model_config = SettingsConfigDict(env_prefix="TOKENOMY_LLM_", extra="ignore")

    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="Server URL (…/v1)")
    model: str = Field(default="rule-market", description="Model name")
    api_key: SecretStr = Field(default=SecretStr("not-needed"), description="API key")
    timeout_s: float = Field(default=60.0, gt=0, description="Per-call timeout (seconds)")
    max_retries: int = Field(default=4, ge=0, description="Retries on transient errors")
    max_concurrency: int = Field(default=8, ge=1, description="Calls in flight at once")
    structured: StructuredMode = Field(
        default="json_schema", description="How to ask for structured output"
    )
    stream: bool = Field(default=False, description="Stream answers (server-sent events)")
