"""The protocol server over a real SQLite database and a real HTTP server on 127.0.0.1.

Every security rule of the protocol is exercised through HTTP: authentication, the sender of an
action, payments (someone else's proposal, twice, expired, unknown, unaffordable), body size and
rate limits, malformed input — and the ledger is audited afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.postgres import postgres_url
from tokenomy.ledger import Ledger
from tokenomy.loopback import serve_in_thread
from tokenomy.market.dataset import Market
from tokenomy.market.server import Limits, create_app
from tokenomy.market.service import Funding, MarketService, money_account, token_account

ADMIN = "admin-secret"


@dataclass
class Server:
    url: str
    http: httpx.Client
    service: MarketService
    db: str

    def register(self, agent_id: str) -> dict[str, str]:
        r = self.http.post("/register", json={"agent_id": agent_id})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def act(self, auth: dict[str, str], action: dict[str, object]) -> httpx.Response:
        return self.http.post("/actions", json=action, headers=auth)

    def clock(self, now_ms: int) -> None:
        r = self.http.post(
            "/admin/clock", json={"now_ms": now_ms}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert r.status_code == 200, r.text


def _serve(
    market: Market, db: str, limits: Limits | None = None, funding: Funding | None = None
) -> Iterator[Server]:
    service = MarketService.open(market, db, funding=funding)
    try:
        with (
            serve_in_thread(create_app(service, admin_token=ADMIN, limits=limits)) as url,
            httpx.Client(base_url=url, timeout=30) as http,
        ):
            yield Server(url, http, service, db)
    finally:
        service.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest,
    tiny_market: Market,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The server over SQLite, and over PostgreSQL where one can be had (else skipped)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = postgres_url(tmp_path_factory)
    yield from _serve(tiny_market, url)


def _proposal(to: str, items: list[tuple[str, float]], expiry_ms: int | None = None) -> dict:
    lines = [{"item_name": n, "quantity": 1, "unit_price": p} for n, p in items]
    message: dict[str, object] = {
        "type": "order_proposal",
        "items": lines,
        "total_price": sum(p for _, p in items),
    }
    if expiry_ms is not None:
        message["expiry_ms"] = expiry_ms
    return {"type": "send_message", "to_agent_id": to, "message": message}


def _pay(to: str, proposal: int) -> dict:
    return {
        "type": "send_message",
        "to_agent_id": to,
        "message": {"type": "payment", "proposal_message_id": proposal},
    }


def test_health_protocol_and_openapi(server: Server) -> None:
    health = server.http.get("/health").json()
    assert health["status"] == "ok" and health["customers"] == 2 and health["businesses"] == 3
    protocol = server.http.get("/protocol").json()
    assert set(protocol["actions"]) == {"search", "send_message", "fetch_messages"}
    assert "lexical" in protocol["search_algorithms"]
    paths = server.http.get("/openapi.json").json()["paths"]
    assert {"/register", "/actions", "/messages", "/done", "/usage", "/health"} <= set(paths)


def test_registration_is_once_per_agent(server: Server) -> None:
    server.register("customer_a")
    again = server.http.post("/register", json={"agent_id": "customer_a"})
    assert again.status_code == 409 and again.json()["error"] == "already_registered"
    unknown = server.http.post("/register", json={"agent_id": "mallory"})
    assert unknown.status_code == 404 and "not an agent" in unknown.json()["reason"]


def test_authentication_is_required(server: Server) -> None:
    search = {"type": "search", "query": "taco"}
    missing = server.http.post("/actions", json=search)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    forged = server.act({"Authorization": "Bearer not-a-token"}, search)
    assert forged.status_code == 401
    admin_by_agent = server.http.post(
        "/admin/clock", json={"now_ms": 5}, headers=server.register("customer_a")
    )
    assert admin_by_agent.status_code == 401


def test_spoofed_sender_is_refused(server: Server) -> None:
    a = server.register("customer_a")
    spoof = {
        "type": "send_message",
        "to_agent_id": "business_1",
        "from_agent_id": "customer_b",
        "message": {"type": "text", "content": "I am customer_b"},
    }
    r = server.act(a, spoof)
    assert r.status_code == 409 and "sender mismatch" in r.json()["reason"]
    b1 = server.register("business_1")
    assert server.http.get("/messages", headers=b1).json()["messages"] == []


def test_payment_rules_and_the_ledger(server: Server) -> None:
    a, b = server.register("customer_a"), server.register("customer_b")
    b1 = server.register("business_1")
    before_a = server.service.ledger.balance(money_account("customer_a"))
    sent = server.act(b1, _proposal("customer_a", [("Taco", 9.0), ("Soup", 6.0)]))
    assert sent.status_code == 200, sent.text
    pid = sent.json()["message_id"]
    # someone else's proposal
    other = server.act(b, _pay("business_1", pid))
    assert other.status_code == 409 and "addressed to customer_a" in other.json()["reason"]
    # unknown proposal
    unknown = server.act(a, _pay("business_1", 999))
    assert unknown.status_code == 409 and "not a proposal" in unknown.json()["reason"]
    # pay, then pay twice
    assert server.act(a, _pay("business_1", pid)).status_code == 200
    twice = server.act(a, _pay("business_1", pid))
    assert twice.status_code == 409 and "already paid" in twice.json()["reason"]
    ledger = server.service.ledger
    assert ledger.balance(money_account("customer_a")) == before_a - 15_000_000
    assert [h.amount for h in ledger.holds(status="held")] == [15_000_000]
    # the business sees the payment in its inbox
    inbox = server.http.get("/messages", headers=b1).json()["messages"]
    assert [m["message"]["type"] for m in inbox] == ["payment"]
    # finishing settles the escrow to the business; the audit is clean
    done = server.http.post("/admin/finish", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert done["settled"] == 1 and done["audit"]["ok"] and done["audit"]["imbalance"] == 0
    start = server.service.funding.compute_allowance_micro
    assert ledger.balance(money_account("business_1")) == start + 15_000_000
    late = server.act(a, {"type": "search", "query": "cake"})
    assert late.status_code == 409 and "finished" in late.json()["reason"]


def test_expired_proposal_cannot_be_paid(server: Server) -> None:
    a, b1 = server.register("customer_a"), server.register("business_1")
    server.clock(100)
    pid = server.act(b1, _proposal("customer_a", [("Taco", 9.0)], expiry_ms=150)).json()
    server.clock(151)
    late = server.act(a, _pay("business_1", pid["message_id"]))
    assert late.status_code == 409 and "expired at 150 ms" in late.json()["reason"]
    going_back = server.http.post(
        "/admin/clock", json={"now_ms": 10}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert going_back.status_code == 409 and "cannot go back" in going_back.json()["reason"]


def test_unaffordable_payment_is_refused_and_nothing_moves(
    tiny_market: Market, tmp_path: Path
) -> None:
    poor = Funding(endowment_factor=0.0, compute_allowance_micro=1_000_000)
    for srv in _serve(tiny_market, f"sqlite:///{tmp_path / 'p.db'}", funding=poor):
        a, b1 = srv.register("customer_a"), srv.register("business_1")
        pid = srv.act(b1, _proposal("customer_a", [("Taco", 9.0)])).json()["message_id"]
        r = srv.act(a, _pay("business_1", pid))
        assert r.status_code == 409 and "payment refused by the ledger" in r.json()["reason"]
        assert srv.service.ledger.balance(money_account("customer_a")) == 1_000_000
        assert srv.service.ledger.holds() == []
        # the refusal did not use up the proposal: the rules still say it is unpaid
        assert srv.service.state.proposals[pid].paid_by == -1


def test_bad_bodies_are_json_errors_not_500(server: Server) -> None:
    a = server.register("customer_a")
    big = server.act(a, {"type": "text", "content": "x" * 100_000})
    assert big.status_code == 413 and big.json()["error"] == "too_large"
    broken = server.http.post(
        "/actions", content=b"{not json", headers={**a, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["error"] == "invalid_request"
    wrong = server.act(a, {"type": "search", "limit": "many"})
    assert wrong.status_code == 422 and "limit" in wrong.json()["reason"]
    unknown_type = server.act(a, {"type": "steal"})
    assert unknown_type.status_code == 422
    negative = server.act(server.register("business_1"), _proposal("customer_a", [("Taco", -1.0)]))
    assert negative.status_code == 422
    long_text = {
        "type": "send_message",
        "to_agent_id": "business_1",
        "message": {"type": "text", "content": "y" * 30_000},
    }
    too_long = server.act(a, long_text)
    # under the body limit but over the message limit: refused by the protocol
    assert too_long.status_code == 409 and "too long" in too_long.json()["reason"]


def test_rate_limit(tiny_market: Market, tmp_path: Path) -> None:
    limits = Limits(rate_per_s=0.5, burst=3)
    for srv in _serve(tiny_market, f"sqlite:///{tmp_path / 'r.db'}", limits=limits):
        a = srv.register("customer_a")
        codes = [srv.http.get("/messages", headers=a).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = srv.http.get("/messages", headers=a)
        assert limited.json()["error"] == "rate_limited" and "Retry-After" in limited.headers
        # another agent has its own bucket
        assert srv.http.get("/messages", headers=srv.register("customer_b")).status_code == 200


def test_usage_is_charged_in_tokens_and_money(server: Server) -> None:
    a = server.register("customer_a")
    ledger = server.service.ledger
    tokens0 = ledger.balance(token_account("customer_a"))
    money0 = ledger.balance(money_account("customer_a"))
    r = server.http.post(
        "/usage",
        json={"model": "llama-3.1-8b-instruct", "input_tokens": 1000, "output_tokens": 200},
        headers=a,
    )
    assert r.status_code == 200 and r.json()["calls"] == 1
    price = server.service.prices.table["llama-3.1-8b-instruct"]
    cost = round(1000 * price.input_per_million + 200 * price.output_per_million)
    assert ledger.balance(token_account("customer_a")) == tokens0 - 1200
    assert ledger.balance(money_account("customer_a")) == money0 - cost
    assert ledger.balance(token_account("provider/llama-3.1-8b-instruct")) == 1200
    assert ledger.audit().ok


def test_reopening_resumes_without_moving_money_twice(tiny_market: Market, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'resume.db'}"
    for srv in _serve(tiny_market, db):
        a, b1 = srv.register("customer_a"), srv.register("business_1")
        pid = srv.act(b1, _proposal("customer_a", [("Taco", 9.0)])).json()["message_id"]
        assert srv.act(a, _pay("business_1", pid)).status_code == 200
        balance = srv.service.ledger.balance(money_account("customer_a"))
        tokens = dict(srv.service._tokens)
    service = MarketService.open(tiny_market, db)
    try:
        assert service.replayed == 2
        assert service.ledger.balance(money_account("customer_a")) == balance
        assert service._tokens == tokens  # registered agents keep their tokens
        assert service.state.proposals[pid].paid_by >= 0  # paying again is still refused
        assert len(service.ledger.holds(status="held")) == 1
        assert service.ledger.audit().ok
    finally:
        service.close()
    with Ledger.open(db) as ledger:
        assert ledger.audit().ok
