"""Run the event engine against the market *service* (database + ledger), in-process or over HTTP.

``market run --transport inprocess --db URL`` calls the service directly;
``--transport http`` starts the protocol server on a free loopback port for the length of the run
and drives every agent through its own authenticated HTTP client. Either way the payments move
through the ledger (escrow, then settlement at the end), model calls are charged, and the
ledger's audit is part of the result.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tokenomy.errors import ConfigError
from tokenomy.loopback import serve_in_thread
from tokenomy.market.dataset import Market
from tokenomy.market.engine import EventEngine
from tokenomy.market.policies.interface import PolicyFactory
from tokenomy.market.runlog import RunLog
from tokenomy.market.search import SearchService
from tokenomy.market.server import Limits, create_app
from tokenomy.market.service import Funding, MarketService, ServiceTransport
from tokenomy.prices import Prices

TransportName = Literal["inprocess", "http"]


@dataclass
class ServiceRun:
    """What a run over the service produced besides the log."""

    log: RunLog
    db: str
    finish: dict[str, Any]
    metered: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    receipts_micro: np.ndarray  # per business, from the ledger
    requests: int
    url: str | None


def run_over_service(
    market: Market,
    customer_factory: PolicyFactory,
    business_factory: PolicyFactory,
    *,
    transport: TransportName,
    db_url: str,
    search_algorithm: str,
    limit: int,
    seed: int,
    search: SearchService,
    arrivals: np.ndarray,
    context_tokens: int,
    prices: Prices,
    customer_model: str,
    business_model: str,
    funding: Funding | None = None,
    limits: Limits | None = None,
    settings: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ServiceRun:
    """Open a service session in ``db_url``, run every agent through ``transport``, finish.

    The database must be new (or hold this same session, unfinished: it is resumed).

    Raises:
        ConfigError: unknown transport, or the database's session is already finished.
    """
    if transport not in ("inprocess", "http"):
        raise ConfigError(f"transport must be 'inprocess' or 'http', got '{transport}'")
    service = MarketService.open(
        market,
        db_url,
        search=search,
        seed=seed,
        context_tokens=context_tokens,
        prices=prices,
        customer_model=customer_model,
        business_model=business_model,
        funding=funding,
        settings=settings,
    )
    try:
        if service.finished or service.replayed:
            raise ConfigError(
                f"the database {service.ledger.url} already holds a run of this market; "
                f"use a new --db"
            )

        def engine(tr: Any) -> EventEngine:
            return EventEngine(
                market,
                customer_factory,
                business_factory,
                search_algorithm=search_algorithm,
                limit=limit,
                seed=seed,
                arrivals=arrivals,
                transport=tr,
            )

        url = None
        requests = 0
        if progress is not None:
            progress(f"running agents ({transport})")
        if transport == "inprocess":
            log = engine(ServiceTransport(service)).run()
        else:
            from tokenomy.market.http_transport import HttpTransport

            admin = secrets.token_urlsafe(24)
            # the run's own agents are driven one request at a time, far below any abuse:
            # a popular business may be asked hundreds of times in a burst of virtual time
            limits = limits or Limits(rate_per_s=1_000.0, burst=2_000)
            app = create_app(service, admin_token=admin, limits=limits)
            with serve_in_thread(app) as url:
                http = HttpTransport(url, market, admin, service)
                try:
                    log = engine(http).run()
                finally:
                    http.close()
                requests = http.requests
        if progress is not None:
            progress("settling payments")
        finish = service.finish()
        return ServiceRun(
            log=log,
            db=service.ledger.url,
            finish=finish,
            metered=service.metered(),
            receipts_micro=service.business_receipts(),
            requests=requests,
            url=url,
        )
    finally:
        service.close()
