"""Record every chat call to a JSON-lines transcript, and replay a run from one without a server.

Each line of a transcript is one call::

    {"seq": 0, "tag": "customer_0001", "tag_seq": 0, "model": "rule-market",
     "request": {"messages": [...], "model": ..., "temperature": ..., "max_tokens": ...,
                 "seed": ..., "json_schema": ..., "tag": ...},
     "prompt_hash": "<sha256>",
     "response": {"text": ..., "usage": {"input_tokens": ..., "output_tokens": ...,
                  "estimated": false}, "latency_s": ..., "finish_reason": ..., "model": ...}}

``seq`` numbers lines in the order calls finished; ``tag_seq`` is the index of the call among
the calls with the same tag. :class:`ReplayChat` answers by ``(tag, tag_seq)``, so a replay is
right even if calls interleave differently (threads, another engine), and it checks the prompt
hash, so a changed prompt is caught instead of answered with a stale reply.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenomy.errors import DataError
from tokenomy.llm.errors import ReplayMismatchError
from tokenomy.llm.protocol import ChatMessage, ChatModel, ChatRequest, ChatResponse, Usage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _MessageRecord(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class _RequestRecord(_Strict):
    messages: list[_MessageRecord]
    model: str
    temperature: float
    max_tokens: int | None = None
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    tag: str = ""


class _UsageRecord(_Strict):
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    estimated: bool = False


class _ResponseRecord(_Strict):
    text: str
    usage: _UsageRecord
    latency_s: float = Field(ge=0)
    finish_reason: str
    model: str


class TranscriptRecord(_Strict):
    """One line of a transcript (validated on load)."""

    seq: int = Field(ge=0)
    tag: str
    tag_seq: int = Field(ge=0)
    model: str
    request: _RequestRecord
    prompt_hash: str
    response: _ResponseRecord

    def chat_request(self) -> ChatRequest:
        """The recorded request."""
        r = self.request
        return ChatRequest(
            messages=tuple(ChatMessage(m.role, m.content) for m in r.messages),
            model=r.model,
            temperature=r.temperature,
            max_tokens=r.max_tokens,
            seed=r.seed,
            json_schema=r.json_schema,
            tag=r.tag,
        )

    def chat_response(self) -> ChatResponse:
        """The recorded response."""
        r = self.response
        usage = Usage(r.usage.input_tokens, r.usage.output_tokens, r.usage.estimated)
        return ChatResponse(r.text, usage, r.model, r.latency_s, r.finish_reason)


def record_line(
    seq: int, tag_seq: int, model: str, request: ChatRequest, response: ChatResponse
) -> str:
    """One transcript line (JSON, no trailing newline)."""
    return json.dumps(
        {
            "seq": seq,
            "tag": request.tag,
            "tag_seq": tag_seq,
            "model": model,
            "request": request.to_dict(),
            "prompt_hash": request.prompt_hash(),
            "response": response.to_dict(),
        },
        ensure_ascii=False,
    )


def read_transcript(path: str | Path) -> Iterator[TranscriptRecord]:
    """Validated records of a transcript, in file order (blank lines are skipped).

    Raises:
        DataError: a line is not JSON, misses a field or has a wrong value (names the file,
            the line number and the field), or its prompt hash does not match its request.
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(path, None, str(exc), "a readable transcript file (JSON lines)") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    path, f"line {number}", line.strip()[:60], f"one JSON object ({exc.msg})"
                ) from None
            try:
                record = TranscriptRecord.model_validate(data)
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "(record)"
                raise DataError(
                    path, f"line {number}: {field}", err.get("input"), err["msg"]
                ) from None
            actual = record.chat_request().prompt_hash()
            if record.prompt_hash != actual:
                raise DataError(
                    path,
                    f"line {number}: prompt_hash",
                    record.prompt_hash,
                    f"the SHA-256 of the recorded request ({actual})",
                )
            yield record


class RecordingChat:
    """Forward calls to ``inner`` and append one transcript line per call to ``path``.

    Thread-safe; each line is written and flushed as its call returns.

    Args:
        inner: the model that answers.
        path: the transcript file.
        append: continue an existing transcript (its ``seq``/``tag_seq`` counters carry on);
            by default the file is created fresh (truncated).
    """

    def __init__(self, inner: ChatModel, path: str | Path, *, append: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seq = 0
        self._tag_seq: dict[str, int] = {}
        if append and self.path.exists():
            for record in read_transcript(self.path):
                self._seq = max(self._seq, record.seq + 1)
                self._tag_seq[record.tag] = max(
                    self._tag_seq.get(record.tag, 0), record.tag_seq + 1
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer through ``inner`` and record the call (a failed call is not recorded)."""
        response = self.inner.complete(request)
        with self._lock:
            tag_seq = self._tag_seq.get(request.tag, 0)
            self._tag_seq[request.tag] = tag_seq + 1
            line = record_line(self._seq, tag_seq, self.name, request, response)
            self._seq += 1
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
        return response

    def close(self) -> None:
        """Close the inner model."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def _first_difference(recorded: ChatRequest, now: ChatRequest) -> str:
    old, new = recorded.messages, now.messages
    for i, (a, b) in enumerate(zip(old, new, strict=False)):
        if a == b:
            continue
        if a.role != b.role:
            return f"message {i}: role recorded '{a.role}', now '{b.role}'"
        p = next(
            (k for k, (x, y) in enumerate(zip(a.content, b.content, strict=False)) if x != y),
            min(len(a.content), len(b.content)),
        )
        lo = max(0, p - 30)
        return (
            f"message {i} ({a.role}) differs at character {p}: recorded "
            f"{a.content[lo : p + 50]!r}, now {b.content[lo : p + 50]!r}"
        )
    if len(old) != len(new):
        return f"recorded {len(old)} messages, now {len(new)}"
    a_fields, b_fields = recorded.hashed_fields(), now.hashed_fields()
    for key in a_fields:
        if a_fields[key] != b_fields[key]:
            return f"field '{key}': recorded {a_fields[key]!r}, now {b_fields[key]!r}"
    return "the prompt hash differs"


class ReplayChat:
    """Answer every call from a recorded transcript, matched by ``(tag, tag_seq)``.

    Returns the recorded text, usage and latency; makes no network call.

    Args:
        path: the transcript (JSON lines written by :class:`RecordingChat`).
        name: the model name to report (default: the recorded model's).

    Raises:
        DataError: the transcript is malformed (file, line number, field), or holds two
            records for one ``(tag, tag_seq)``.
    """

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        self._records: dict[tuple[str, int], TranscriptRecord] = {}
        first_model: str | None = None
        for record in read_transcript(self.path):
            key = (record.tag, record.tag_seq)
            if key in self._records:
                raise DataError(
                    self.path,
                    f"seq {record.seq}: tag_seq",
                    record.tag_seq,
                    f"one record per (tag, tag_seq); ('{record.tag}', {record.tag_seq}) repeats",
                )
            self._records[key] = record
            first_model = first_model or record.model
        self.name = name or first_model or "replay"
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The recorded answer to this call.

        Raises:
            ReplayMismatchError: no record for this tag's next call, or the prompt differs
                (names the tag, the call index and the first differing message).
        """
        with self._lock:
            index = self._next.get(request.tag, 0)
            self._next[request.tag] = index + 1
        record = self._records.get((request.tag, index))
        if record is None:
            raise ReplayMismatchError(
                f"{self.path}: no recorded call #{index} for tag '{request.tag}' "
                f"(the transcript has {self._count(request.tag)} call(s) with this tag)"
            )
        if record.prompt_hash != request.prompt_hash():
            detail = _first_difference(record.chat_request(), request)
            raise ReplayMismatchError(
                f"{self.path}: call #{index} for tag '{request.tag}' does not match the "
                f"recording: {detail}"
            )
        return record.chat_response()

    def _count(self, tag: str) -> int:
        return sum(1 for t, _ in self._records if t == tag)
