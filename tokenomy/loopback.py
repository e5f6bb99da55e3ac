"""Run an ASGI app (FastAPI) with uvicorn in a background thread on a loopback port.

Used wherever tokenomy starts a real HTTP server for the length of a job: ``market run
--transport http`` serves the market for its agents, the tests start the OpenAI-compatible test
server and the protocol server, and the proxy benchmarks start local backends.

>>> from fastapi import FastAPI                                    # doctest: +SKIP
>>> with serve_in_thread(FastAPI()) as base_url:                   # doctest: +SKIP
...     print(base_url)                                             # http://127.0.0.1:40123
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tokenomy.errors import ConfigError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    start_timeout_s: float = 20.0,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve ``app`` on ``host:port`` (0 = a free port) while the ``with`` block runs.

    Yields the base URL (``http://127.0.0.1:PORT``). The server is stopped, and its thread
    joined, when the block exits, whatever happens inside it.

    Raises:
        ConfigError: the server did not start within ``start_timeout_s`` (e.g. port taken).
    """
    port = port or free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=5)
            raise ConfigError(f"could not start an HTTP server on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout_s)
