"""``tokenomy serve`` and the database plumbing of ``tokenomy market run --transport ...``."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from tokenomy.cli_support import console, guard
from tokenomy.errors import ConfigError

_SESSION_KEYS = ("market", "customers", "businesses", "seed", "context_tokens")


def default_db(db: str | None, transport: str) -> tuple[str | None, Path | None]:
    """The database URL of a run, and the temporary file to keep in the run folder afterwards.

    ``http`` needs a database: without ``--db`` one is made in a temporary folder and moved
    into the run folder when the run is written (:func:`keep_db`).
    """
    if db is not None or transport != "http":
        return db, None
    path = Path(tempfile.mkdtemp(prefix="tokenomy-db-")) / "market.db"
    return f"sqlite:///{path}", path


def keep_db(temp_db: Path, run_folder: Path) -> str:
    """Move a run's temporary SQLite database into its run folder; return its new URL."""
    target = run_folder / "market.db"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{temp_db}{suffix}")
        if source.exists():
            shutil.move(str(source), f"{target}{suffix}")
    shutil.rmtree(temp_db.parent, ignore_errors=True)
    return f"sqlite:///{target}"


def serve(
    db: Annotated[str, typer.Option(help="Database URL: sqlite:///file.db or PostgreSQL")],
    data: Annotated[
        Path | None,
        typer.Option(help="Market data folder to serve (stored in the database on first use)"),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8700,
    clock: Annotated[
        str, typer.Option(help="wall: ms since start; virtual: the operator sets the time")
    ] = "wall",
    seed: Annotated[int, typer.Option(help="Seed (search tie-breaks)", min=0)] = 0,
    rate: Annotated[float, typer.Option(help="Requests per second per agent", min=0.001)] = 50.0,
    burst: Annotated[int, typer.Option(help="Burst of requests per agent", min=1)] = 200,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes", min=256)] = 65536,
) -> None:
    """Serve a market's protocol over HTTP (FastAPI), with the market and ledger in DB.

    The operator's token is read from TOKENOMY_ADMIN_TOKEN, or made up and printed.
    """
    import uvicorn

    from tokenomy.ledger import Ledger
    from tokenomy.market.io import load_market
    from tokenomy.market.server import Limits, create_app
    from tokenomy.market.service import MarketService
    from tokenomy.market.store import MarketStore

    def go() -> Any:
        if data is not None:
            market = load_market(data)
            session: dict[str, Any] = {"seed": seed, "context_tokens": 0}
            settings: dict[str, Any] = {}
        else:
            with Ledger.open(db) as ledger:
                store = MarketStore(ledger.engine)
                stored = store.get("session")
                if stored is None:
                    raise ConfigError(f"{db} holds no market yet; pass --data DIR to serve one")
                market = store.load_market()
            session = stored
            settings = {k: v for k, v in stored.items() if k not in _SESSION_KEYS}
        service = MarketService.open(
            market,
            db,
            seed=int(session["seed"]),
            context_tokens=int(session["context_tokens"]),
            clock=clock,
            settings=settings,
        )
        admin = os.environ.get("TOKENOMY_ADMIN_TOKEN") or secrets.token_urlsafe(24)
        if "TOKENOMY_ADMIN_TOKEN" not in os.environ:
            console.print(f"admin token: {admin}")
        if host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"[yellow]warning:[/] listening on {host}, not only on loopback")
        console.print(
            f"serving {market.name} ({market.n_customers} customers, {market.n_businesses} "
            f"businesses; {service.replayed} journal entries resumed) at http://{host}:{port} "
            f"— OpenAPI at /openapi.json"
        )
        app = create_app(
            service,
            admin_token=admin,
            limits=Limits(max_body_bytes=max_body, rate_per_s=rate, burst=burst),
        )
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            service.close()

    guard(go)
