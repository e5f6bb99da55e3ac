"""A chat model behind any OpenAI-compatible HTTP server (vLLM, Ollama, llama.cpp, OpenAI).

:class:`OpenAIChat` uses the official ``openai`` SDK with the SDK's own retries switched off;
retries are ours (tenacity, exponential backoff) and only on transient failures — connection
errors, timeouts, 429 and 5xx. Any other status (400, 401, 404, ...) raises
:class:`~tokenomy.llm.errors.LLMError` at once with the status and the server's message. A
semaphore shared by every thread using the client caps the calls in flight.

Structured output is requested the way the server supports (``structured``):

* ``json_schema`` — ``response_format={"type": "json_schema", ...}`` (OpenAI, vLLM, llama.cpp);
* ``json_object`` — ``response_format={"type": "json_object"}`` plus the schema in the system
  message (servers without schema-constrained decoding);
* ``none`` — the schema in the system message only.

Token counts come from the response's ``usage``; a server that reports none gets the documented
estimate (:func:`~tokenomy.llm.protocol.estimated_usage`) with ``usage.estimated`` set.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import openai
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from tokenomy.llm.errors import LLMError
from tokenomy.llm.protocol import ChatRequest, ChatResponse, Usage, estimated_usage
from tokenomy.llm.settings import LLMSettings, StructuredMode

SCHEMA_INSTRUCTION = "Answer with one JSON object that follows this JSON schema:\n"


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call is worth retrying (connection error, timeout, 429, 5xx)."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def _schema_name(schema: dict[str, Any]) -> str:
    title = str(schema.get("title") or "answer")
    return re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64] or "answer"


class OpenAIChat:
    """A :class:`~tokenomy.llm.protocol.ChatModel` talking to an OpenAI-compatible server.

    Args:
        base_url: the server's URL, ending in ``/v1``.
        model: the model to ask (used when a request names none); also ``name``.
        api_key: the API key (local servers accept anything).
        timeout_s: per-call timeout.
        max_retries: retries after a transient failure (0 = try once).
        max_concurrency: calls in flight at once, across every thread using this client.
        structured: how to ask for structured output (see the module docstring).
        stream: read answers as server-sent events instead of one JSON body.
        backoff_s: first retry wait; doubles each retry, capped at ``max_backoff_s``.
        max_backoff_s: the longest wait between retries.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "not-needed",
        timeout_s: float = 60.0,
        max_retries: int = 4,
        max_concurrency: int = 8,
        structured: StructuredMode = "json_schema",
        stream: bool = False,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        self.name = model
        self.base_url = base_url
        self.max_retries = max_retries
        self.structured: StructuredMode = structured
        self.stream = stream
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0
        )
        self._slots = threading.BoundedSemaphore(max_concurrency)

    @classmethod
    def from_settings(cls, settings: LLMSettings | None = None) -> OpenAIChat:
        """A client configured from :class:`LLMSettings` (the ``TOKENOMY_LLM_*`` variables)."""
        s = settings or LLMSettings()
        return cls(
            s.base_url,
            s.model,
            api_key=s.api_key.get_secret_value(),
            timeout_s=s.timeout_s,
            max_retries=s.max_retries,
            max_concurrency=s.max_concurrency,
            structured=s.structured,
            stream=s.stream,
        )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> OpenAIChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ calls
    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        messages = [m.to_dict() for m in request.messages]
        args: dict[str, Any] = {
            "model": request.model or self.name,
            "temperature": request.temperature,
        }
        schema = request.json_schema
        if schema is not None:
            if self.structured == "json_schema":
                args["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": _schema_name(schema), "schema": schema},
                }
            else:
                if self.structured == "json_object":
                    args["response_format"] = {"type": "json_object"}
                note = SCHEMA_INSTRUCTION + json.dumps(schema, sort_keys=True)
                if messages and messages[0]["role"] == "system":
                    messages[0] = {
                        "role": "system",
                        "content": messages[0]["content"] + "\n\n" + note,
                    }
                else:
                    messages.insert(0, {"role": "system", "content": note})
        args["messages"] = messages
        if request.max_tokens is not None:
            args["max_tokens"] = request.max_tokens
        if request.seed is not None:
            args["seed"] = request.seed
        return args

    def _once(self, args: dict[str, Any]) -> tuple[str, str, str, Usage | None]:
        with self._slots:
            if self.stream:
                return self._streamed(args)
            resp = self._client.chat.completions.create(**args)
        if not resp.choices:
            raise LLMError(f"{self.base_url}: the server returned no choices", status=200)
        choice = resp.choices[0]
        usage = None
        if resp.usage is not None:
            usage = Usage(int(resp.usage.prompt_tokens), int(resp.usage.completion_tokens))
        return choice.message.content or "", choice.finish_reason or "stop", resp.model, usage

    def _streamed(self, args: dict[str, Any]) -> tuple[str, str, str, Usage | None]:
        parts: list[str] = []
        finish, model, usage = "stop", str(args["model"]), None
        stream = self._client.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}
        )
        with stream:
            for chunk in stream:
                model = chunk.model or model
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
                if chunk.usage is not None:
                    usage = Usage(
                        int(chunk.usage.prompt_tokens), int(chunk.usage.completion_tokens)
                    )
        return "".join(parts), finish, model, usage

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Ask the server; retry transient failures with exponential backoff.

        Raises:
            LLMError: a non-transient error status, or transient failures past ``max_retries``.
        """
        args = self._arguments(request)
        started = time.perf_counter()
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s),
            reraise=True,
        )
        try:
            text, finish, model, usage = retrying(self._once, args)
        except openai.APIStatusError as exc:
            tried = " after retries" if is_transient(exc) else ""
            raise LLMError(
                f"{self.base_url}: HTTP {exc.status_code}{tried} for model "
                f"'{args['model']}': {exc.message}",
                status=exc.status_code,
                server_message=exc.message,
            ) from None
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"{self.base_url}: {type(exc).__name__} after {self.max_retries + 1} attempt(s): "
                f"{exc}",
                server_message=str(exc),
            ) from None
        except openai.APIError as exc:  # e.g. a response the SDK cannot read
            raise LLMError(
                f"{self.base_url}: {type(exc).__name__}: {exc}", server_message=str(exc)
            ) from None
        latency = time.perf_counter() - started
        if usage is None:
            usage = estimated_usage(request, text)
        return ChatResponse(text, usage, model, latency, finish)
