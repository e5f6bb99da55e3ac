"""Fixtures of the chat-model tests: the OpenAI-compatible test server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI

from tokenomy.llm.openai_backend import OpenAIChat
from tokenomy.llm.testserver import create_app
from tokenomy.loopback import serve_in_thread

MODELS = ("rule-market", "rule-market-b")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """Base URL (``.../v1``) of a test server answering with the market rule."""
    with serve_in_thread(create_app(models=MODELS)) as url:
        yield url + "/v1"


@pytest.fixture
def chat(server_url: str) -> Iterator[OpenAIChat]:
    """An OpenAIChat client of the module's test server."""
    with OpenAIChat(server_url, "rule-market", backoff_s=0.01) as client:
        yield client


@contextmanager
def served(app: FastAPI, model: str = "rule-market", **options: Any) -> Iterator[OpenAIChat]:
    """Serve ``app`` on a loopback port and yield an OpenAIChat client of it."""
    with serve_in_thread(app) as url, OpenAIChat(url + "/v1", model, **options) as chat:
        yield chat
