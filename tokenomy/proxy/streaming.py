"""Relaying a backend's server-sent events to the client while reading its usage.

The proxy always asks a streaming backend for ``stream_options.include_usage`` (so that spend is
debited from reported usage); the final usage-only chunk is passed on only when the client
asked for it too. The text streamed is accumulated so that, when a backend reports no usage,
the output tokens can be estimated (``estimate_tokens``) instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["StreamTally", "relay_events"]


@dataclass
class StreamTally:
    """What a relayed stream carried: reported usage (if any) and the text."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    parts: list[str] = field(default_factory=list)
    complete: bool = False

    @property
    def text(self) -> str:
        """The streamed answer text."""
        return "".join(self.parts)


def _inspect(payload: str, tally: StreamTally) -> bool:
    """Read one event's JSON into ``tally``; True when it is a usage-only chunk."""
    try:
        chunk = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(chunk, dict):
        return False
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(pt, int) and isinstance(ct, int):
            tally.prompt_tokens, tally.completion_tokens = pt, ct
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            tally.parts.append(delta["content"])
    return isinstance(usage, dict) and not chunk.get("choices")


async def relay_events(
    lines: AsyncIterator[str],
    tally: StreamTally,
    *,
    pass_usage: bool,
    before_done: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """Re-emit a backend's SSE lines, recording usage and text in ``tally``.

    Args:
        lines: the backend's response lines (without line ends).
        tally: filled in as the events pass.
        pass_usage: forward the usage-only chunk (the client asked for it).
        before_done: awaited before ``data: [DONE]`` is passed on (the proxy settles the spend
            there, so that a client that has seen the end of the stream sees its cost booked).
    """
    async for line in lines:
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload == "[DONE]":
                tally.complete = True
                if before_done is not None:
                    await before_done()
            elif _inspect(payload, tally) and not pass_usage:
                continue
            yield (line + "\n\n").encode("utf-8")
        elif line.startswith(":"):
            yield (line + "\n\n").encode("utf-8")
