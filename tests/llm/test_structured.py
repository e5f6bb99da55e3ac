"""Structured output: JSON extraction, validation, repair, and the cost of failed attempts."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from tests.llm.conftest import served
from tokenomy.llm import (
    ChatMessage,
    ChatRequest,
    ScriptedChat,
    StructuredOutputError,
    complete_structured,
    extract_json,
)
from tokenomy.llm.testserver import create_app
from tokenomy.prices import estimate_tokens


class Point(BaseModel):
    x: int
    y: int = Field(ge=0)


@pytest.mark.parametrize(
    "text",
    [
        '{"x": 1, "y": 2}',
        'Sure! Here it is: {"x": 1, "y": 2} Hope that helps.',
        'Answer:\n```json\n{"x": 1, "y": 2}\n```\n',
        '```\n{"x": 1, "y": 2}\n```',
        'A set {not json} first, then {"x": 1, "y": 2}.',
        '[1, 2] and then {"x": 1, "y": 2}',
    ],
)
def test_extract_json_tolerates_fences_and_prose(text):
    assert extract_json(text) == {"x": 1, "y": 2}


@pytest.mark.parametrize("text", ["", "no json here", "[1, 2, 3]", "{broken"])
def test_extract_json_without_an_object(text):
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json(text)


class Scripted:
    """Answers from a list, one per call, and keeps every request it got."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.requests: list[ChatRequest] = []

    def __call__(self, request: ChatRequest) -> str:
        self.requests.append(request)
        return self.answers[len(self.requests) - 1]


def request() -> ChatRequest:
    return ChatRequest((ChatMessage("user", "Give me a point."),), tag="t")


def test_valid_first_answer_takes_one_call():
    rule = Scripted(['{"x": 3, "y": 4}'])
    result = complete_structured(ScriptedChat(rule), request(), Point)
    assert result.value == Point(x=3, y=4)
    assert len(result.responses) == 1
    assert rule.requests[0].json_schema == Point.model_json_schema()
    assert rule.requests[0].tag == "t"


def test_invalid_then_valid_is_repaired():
    rule = Scripted(["not json at all", '{"x": 1, "y": -5}', '```json\n{"x": 1, "y": 5}\n```'])
    result = complete_structured(ScriptedChat(rule), request(), Point, repair_attempts=2)
    assert result.value == Point(x=1, y=5)
    assert len(result.responses) == 3
    # each repair shows the model its answer and what was wrong with it
    second, third = rule.requests[1].messages, rule.requests[2].messages
    assert [m.role for m in second] == ["user", "assistant", "user"]
    assert second[1].content == "not json at all"
    assert "no JSON object" in second[2].content
    assert third[3].content == '{"x": 1, "y": -5}'
    assert "y: Input should be greater than or equal to 0" in third[4].content
    # usage of the failed attempts is part of the result
    assert result.input_tokens == sum(r.usage.input_tokens for r in result.responses)
    assert result.output_tokens == sum(
        estimate_tokens(a) for a in ["not json at all", '{"x": 1, "y": -5}', rule.answers[2]]
    )


def test_still_invalid_raises_with_every_response():
    rule = Scripted(["nope", "still nope", '{"x": "a"}'])
    with pytest.raises(StructuredOutputError, match="after 3 attempt") as info:
        complete_structured(ScriptedChat(rule), request(), Point, repair_attempts=2)
    assert info.value.text == '{"x": "a"}'
    assert "x:" in info.value.error
    assert len(info.value.responses) == 3


def test_zero_repairs_means_one_attempt():
    rule = Scripted(["nope", '{"x": 1, "y": 1}'])
    with pytest.raises(StructuredOutputError):
        complete_structured(ScriptedChat(rule), request(), Point, repair_attempts=0)
    assert len(rule.requests) == 1


def test_repair_through_the_http_server():
    rule = Scripted(["I think the point is (1, 2).", json.dumps({"x": 1, "y": 2})])
    with served(create_app(rule), "rule-market") as chat:
        result = complete_structured(chat, request(), Point)
    assert result.value == Point(x=1, y=2)
    assert [r.usage.estimated for r in result.responses] == [False, False]
    assert rule.requests[0].json_schema == Point.model_json_schema()
    assert len(rule.requests[1].messages) == 3
