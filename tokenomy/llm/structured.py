"""Structured output: ask for JSON that follows a pydantic model, and repair bad answers.

:func:`complete_structured` sets the request's ``json_schema`` from the model class, pulls one
JSON object out of the answer (tolerating ```json fences and prose around it), validates it, and
— when that fails — shows the model its answer and the validation error and asks again. Every
response is returned (or carried by :class:`~tokenomy.llm.errors.StructuredOutputError`), so the
tokens of failed attempts are paid for too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tokenomy.llm.errors import StructuredOutputError
from tokenomy.llm.protocol import ChatMessage, ChatModel, ChatRequest, ChatResponse

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class StructuredResult(Generic[T]):
    """A parsed answer and every response it took (the last one is the valid answer)."""

    value: T
    responses: list[ChatResponse]

    @property
    def input_tokens(self) -> int:
        """Input tokens of every attempt."""
        return sum(r.usage.input_tokens for r in self.responses)

    @property
    def output_tokens(self) -> int:
        """Output tokens of every attempt."""
        return sum(r.usage.output_tokens for r in self.responses)


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (inside a code fence if there is one).

    Raises:
        ValueError: no JSON object could be read.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in candidates:
        start = chunk.find("{")
        while start >= 0:
            try:
                value, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                start = chunk.find("{", start + 1)
                continue
            if isinstance(value, dict):
                return value
            start = chunk.find("{", start + 1)
    raise ValueError("the answer contains no JSON object")


def parse_structured(text: str, output_type: type[T]) -> T:
    """Read ``text`` as an instance of ``output_type``.

    Raises:
        ValueError: no JSON object, or it does not validate (the message says why).
    """
    data = extract_json(text)
    try:
        return output_type.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"the JSON does not follow the schema: {problems}") from None


def complete_structured(
    model: ChatModel,
    request: ChatRequest,
    output_type: type[T],
    *,
    repair_attempts: int = 2,
) -> StructuredResult[T]:
    """Ask ``model`` for an answer that validates as ``output_type``.

    Args:
        model: the chat model.
        request: the request (its ``json_schema`` is replaced by ``output_type``'s schema).
        output_type: the pydantic model the answer must follow.
        repair_attempts: how many times to ask again after an invalid answer.

    Returns:
        The parsed answer and every response made.

    Raises:
        StructuredOutputError: still invalid after the repair attempts (carries every response).
    """
    schema = output_type.model_json_schema()
    current = ChatRequest(
        messages=request.messages,
        model=request.model,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        seed=request.seed,
        json_schema=schema,
        tag=request.tag,
    )
    responses: list[ChatResponse] = []
    error = ""
    for _attempt in range(repair_attempts + 1):
        response = model.complete(current)
        responses.append(response)
        try:
            return StructuredResult(parse_structured(response.text, output_type), responses)
        except ValueError as exc:
            error = str(exc)
        repair = (
            f"Your answer could not be used: {error}. Answer again with exactly one JSON object "
            f"that follows the schema, and nothing else."
        )
        current = current.with_messages(
            (
                *current.messages,
                ChatMessage("assistant", response.text),
                ChatMessage("user", repair),
            )
        )
    raise StructuredOutputError(responses[-1].text, error, responses)
