"""Schemathesis against the protocol server's published OpenAPI description: no server errors.

Every operation is called with generated bodies, queries and headers — valid and invalid —
both anonymously and with a registered agent's token; no answer may be a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tokenomy.loopback import serve_in_thread
from tokenomy.market.dataset import Market
from tokenomy.market.server import Limits, create_app
from tokenomy.market.service import MarketService


@pytest.fixture
def live(tiny_market: Market, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    service = MarketService.open(tiny_market, f"sqlite:///{tmp_path / 'fuzz.db'}")
    app = create_app(service, admin_token="admin", limits=Limits(rate_per_s=1e6, burst=10**6))
    try:
        with serve_in_thread(app) as url:
            token = requests.post(
                f"{url}/register", json={"agent_id": "customer_a"}, timeout=30
            ).json()["token"]
            yield url, {"Authorization": f"Bearer {token}"}
    finally:
        service.close()


@pytest.mark.slow
def test_no_operation_answers_with_a_server_error(live: tuple[str, dict[str, str]]) -> None:
    url, auth = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    failures: list[str] = []
    statuses: list[int] = []
    with requests.Session() as session:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=40,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def call(case: schemathesis.Case) -> None:
                for headers in (auth, {}):
                    response = case.call(base_url=url, session=session, headers=headers)
                    statuses.append(response.status_code)
                    if response.status_code >= 500:
                        failures.append(
                            f"{case.method} {case.path} {case.body!r}: "
                            f"{response.status_code} {response.text[:200]}"
                        )

            call()
    assert failures == []
    # the run really exercised the API: many calls, accepted and refused ones
    assert len(statuses) >= 10 * len(operations)
    assert {200, 401, 422} <= set(statuses)
