"""``tokenomy proxy --config proxy.yaml``: serve the OpenAI-compatible price-rule proxy.

Listens on ``127.0.0.1:8080`` unless ``--host``/``--port`` say otherwise; see
:mod:`tokenomy.proxy.config` for the YAML file.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from tokenomy.cli_support import guard, out


def proxy(
    config: Annotated[Path, typer.Option("--config", help="Proxy YAML configuration")],
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8080)", min=1)] = None,
) -> None:
    """Serve an OpenAI-compatible API that routes each request by the price rule."""
    import uvicorn

    from tokenomy.proxy import create_app, load_config, open_service

    settings = guard(lambda: load_config(config))
    bind_host = host or "127.0.0.1"
    bind_port = port or 8080
    with ExitStack() as stack:
        service = guard(lambda: stack.enter_context(open_service(settings)))
        app = create_app(service)
        out.print(
            f"tokenomy proxy at http://{bind_host}:{bind_port}/v1 "
            f"({len(settings.backends)} backends; Ctrl-C stops)",
            highlight=False,
        )
        uvicorn.run(
            app,
            host=bind_host,
            port=bind_port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the proxy never looks at the client's address
            server_header=False,
        )
