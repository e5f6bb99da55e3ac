"""The proxy's HTTP client for its backends (aiohttp, one keep-alive pool per proxy).

The proxy's second HTTP hop is most of what it adds to a request, so it uses the fastest
asyncio client there is for plain HTTP/1.1 (measured in ``benchmarks/proxy_overhead.py``: half
the added latency of an ``httpx.AsyncClient`` doing the same forwarding). Everything the proxy
needs from an upstream answer is here: the status, the whole body, or its lines one by one
(server-sent events); a connection error or a timeout is one exception,
:class:`UpstreamError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

__all__ = ["Upstream", "UpstreamError", "UpstreamResponse"]


class UpstreamError(Exception):
    """A backend could not be reached, or did not answer in time (the request moves on)."""


class UpstreamResponse:
    """A backend's answer whose body has not been read yet (close it when done)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    async def read(self) -> bytes:
        """The whole body.

        Raises:
            UpstreamError: the connection broke or timed out while reading.
        """
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamError(f"reading the answer failed: {exc!r}") from None

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, decoded, without their line ends (for server-sent events)."""
        try:
            async for raw in self._response.content:
                yield raw.decode("utf-8").rstrip("\r\n")
        except (TimeoutError, aiohttp.ClientError):
            return  # a stream cut short ends here; the caller settles what it carried

    def close(self) -> None:
        """Give the connection back to the pool (or drop it when the body was not read)."""
        self._response.release()


class Upstream:
    """A pool of keep-alive connections to the backends; open and close it on one event loop.

    Args:
        timeout_s: the limit on one upstream call, connection and whole answer included.
        max_connections: connections open at once, over all backends.
    """

    def __init__(self, timeout_s: float, max_connections: int = 256) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the connection pool (inside the running event loop)."""
        connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        """POST a JSON ``body`` to ``url``; the answer's body is left to read.

        Raises:
            UpstreamError: no connection, or no answer within the timeout.
        """
        if self._session is None:
            raise RuntimeError("Upstream.open() was not called")
        sent: dict[str, Any] = {"content-type": "application/json", **headers}
        try:
            response = await self._session.post(url, data=body, headers=sent)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(f"{url}: {exc!r}") from None
        return UpstreamResponse(response)
