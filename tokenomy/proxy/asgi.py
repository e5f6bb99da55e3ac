"""Plain-ASGI building blocks for the proxy's hot path (no framework on the way in).

The chat endpoint is served by a bare ASGI handler: it reads the body, answers with bytes or
with a stream of server-sent events, and nothing else stands between uvicorn and the price rule.
These helpers hold the little protocol that takes: the request's headers as a dict, the body
with a size limit, and the ``http.response.*`` messages of a response.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "ASGIApp",
    "BodyTooLargeError",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "request_headers",
    "send_bytes",
    "send_json",
    "send_stream",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLargeError(Exception):
    """The request body is larger than the proxy accepts."""


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names lower-case (ASGI already sends them so)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body.

    Raises:
        BodyTooLargeError: more than ``limit`` bytes.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header_list(content_type: str, headers: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", content_type.encode("latin-1"))]
    for name, value in (headers or {}).items():
        out.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return out


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with one body."""
    head = _header_list(content_type, headers)
    head.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: Any, *, headers: dict[str, str] | None = None
) -> None:
    """Answer with ``payload`` as compact JSON."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    await send_bytes(send, status, body, headers=headers)


async def send_stream(
    send: Send,
    chunks: AsyncIterator[bytes],
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "text/event-stream",
) -> None:
    """Answer 200 with ``chunks`` as they come (chunked transfer encoding)."""
    head = _header_list(content_type, headers)
    head.append((b"cache-control", b"no-cache"))
    await send({"type": "http.response.start", "status": 200, "headers": head})
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
