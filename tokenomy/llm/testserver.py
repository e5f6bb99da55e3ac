"""A small OpenAI-compatible chat server that answers from a rule, for tests and offline demos.

It serves what the ``openai`` SDK calls:

* ``POST /v1/chat/completions`` — a JSON ``chat.completion`` with ``usage``, or, with
  ``"stream": true``, server-sent events (``data: {chunk}`` lines ending with ``data: [DONE]``),
  plus a final usage chunk when ``stream_options.include_usage`` is true;
* ``GET /v1/models`` and ``GET /health``.

Answers are deterministic: ``rule(request)`` (default: the ``market`` rule, which plays the
marketplace for tokenomy's own prompts and echoes anything else). Usage is the documented
estimate (``estimate_tokens`` of the prompt — every message joined by newlines — and of the
answer). ``fail_first`` makes the first N completions fail with ``fail_status`` (to exercise
retries); an unknown model gets a 404 in OpenAI's error shape.

    with serve_in_thread(create_app()) as url:
        chat = OpenAIChat(url + "/v1", "rule-market")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, cast

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from tokenomy.llm.protocol import ROLES, ChatMessage, ChatRequest, Role, estimated_usage
from tokenomy.llm.rules import RULES, Rule, get_rule, market_rule
from tokenomy.prices import CHARS_PER_TOKEN

__all__ = ["RULES", "create_app", "error_body", "request_from_body"]

CREATED = 1_700_000_000
"""The fixed ``created`` timestamp of every answer (answers are deterministic)."""

CHUNK_CHARS = 16
"""Characters per streamed content chunk."""


def error_body(
    message: str, kind: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return "" if value is None else str(value)


def request_from_body(body: dict[str, Any]) -> ChatRequest:
    """The :class:`ChatRequest` a chat-completions body asks for.

    Raises:
        ValueError: the body is not a chat-completions request (says which field).
    """
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ValueError("'messages' must be a non-empty list")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in (*ROLES, "developer"):
            raise ValueError(f"messages[{i}] must have a role in {ROLES}")
        role = cast(Role, "system" if m["role"] == "developer" else m["role"])
        messages.append(ChatMessage(role, _content(m.get("content"))))
    schema = None
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return ChatRequest(
        messages=tuple(messages),
        model=str(body.get("model", "")),
        temperature=float(body.get("temperature") or 0.0),
        max_tokens=None if max_tokens is None else int(max_tokens),
        seed=None if body.get("seed") is None else int(body["seed"]),
        json_schema=schema,
    )


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.completed = 0


def create_app(
    rule: Rule | None = None,
    *,
    models: Sequence[str] = ("rule-market",),
    fail_first: int = 0,
    fail_status: int = 503,
    delay_s: float = 0.0,
    report_usage: bool = True,
) -> FastAPI:
    """The test server's FastAPI app.

    Args:
        rule: answers each request (default: the ``market`` rule).
        models: model names served; any other gets 404.
        fail_first: the first N completion requests fail with ``fail_status``.
        fail_status: the status of those failures.
        delay_s: wall-clock pause before each answer (to make calls overlap in tests).
        report_usage: include ``usage`` in answers (False imitates servers that omit it).

    ``app.state.counters`` holds ``requests``, ``failed`` and ``completed`` counts.
    """
    answer: Rule = rule or market_rule
    served = tuple(models)
    counters = _Counters()
    app = FastAPI(title="tokenomy OpenAI-compatible test server", docs_url=None, redoc_url=None)
    app.state.counters = counters

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        data = [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "tokenomy"} for m in served
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(body: dict[str, Any]) -> JSONResponse | StreamingResponse:
        with counters.lock:
            counters.requests += 1
            number = counters.requests
            fail = number <= fail_first
            if fail:
                counters.failed += 1
        if fail:
            return JSONResponse(
                error_body(f"injected failure {number} of {fail_first}", "server_error"),
                status_code=fail_status,
            )
        model = str(body.get("model", ""))
        if model not in served:
            return JSONResponse(
                error_body(
                    f"The model '{model}' does not exist; served: {', '.join(served)}",
                    "invalid_request_error",
                    "model_not_found",
                    "model",
                ),
                status_code=404,
            )
        try:
            request = request_from_body(body)
            text = answer(request)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse(error_body(str(exc), "invalid_request_error"), status_code=400)
        if delay_s > 0:
            time.sleep(delay_s)
        finish = "stop"
        if request.max_tokens is not None and len(text) > request.max_tokens * CHARS_PER_TOKEN:
            text, finish = text[: request.max_tokens * CHARS_PER_TOKEN], "length"
        used = estimated_usage(request, text)
        usage = {
            "prompt_tokens": used.input_tokens,
            "completion_tokens": used.output_tokens,
            "total_tokens": used.total_tokens,
        }
        with counters.lock:
            counters.completed += 1
            ident = f"chatcmpl-{counters.completed}"
        if body.get("stream"):
            options = body.get("stream_options") or {}
            with_usage = bool(options.get("include_usage")) and report_usage
            return StreamingResponse(
                _events(ident, model, text, finish, usage if with_usage else None),
                media_type="text/event-stream",
            )
        reply: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "tokenomy-testserver",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
        }
        if report_usage:
            reply["usage"] = usage
        return JSONResponse(reply)

    return app


def _events(
    ident: str, model: str, text: str, finish: str, usage: dict[str, int] | None
) -> Iterator[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "tokenomy-testserver",
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk(
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    )
    for start in range(0, len(text), CHUNK_CHARS):
        piece = text[start : start + CHUNK_CHARS]
        yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
    yield chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
    if usage is not None:
        yield chunk([], usage=usage)
    yield "data: [DONE]\n\n"


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    rule: str = "market",
    models: Sequence[str] | None = None,
) -> None:
    """Run the test server in the foreground with uvicorn (``tokenomy llm testserver``).

    Args:
        host: interface to listen on.
        port: TCP port.
        rule: a registered rule name (:data:`RULES`).
        models: model names to serve (default ``rule-<rule>``).
    """
    import uvicorn

    app = create_app(get_rule(rule), models=tuple(models or (f"rule-{rule}",)))
    uvicorn.run(app, host=host, port=port)
