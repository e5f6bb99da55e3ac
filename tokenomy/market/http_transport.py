"""Agents as HTTP clients of the protocol server.

:class:`MarketClient` is one agent's connection: it executes actions, reads its inbox, ends its
episode and reports model usage, authenticated by its bearer token. It is what an external agent
(in any language, this is just JSON over HTTP) would do; tokenomy's own event engine uses it
through :class:`HttpTransport`, which registers every agent of the market and drives each one
through its own client while the engine keeps the virtual clock (it advances the server's clock
with the operator's token before each step).

A ``429`` is honoured by waiting ``Retry-After`` and trying again; any other non-JSON or
unexpected answer raises :class:`ProtocolError`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import TypeAdapter

from tokenomy.errors import TokenomyError
from tokenomy.market.dataset import Market
from tokenomy.market.protocol import (
    Action,
    ActionResult,
    FetchResult,
    ReceivedMessage,
    Rejected,
    SearchResult,
    SendResult,
)
from tokenomy.market.runlog import RunLog
from tokenomy.market.service import MarketService

_RESULT: TypeAdapter[ActionResult] = TypeAdapter(SearchResult | SendResult | FetchResult | Rejected)
_MESSAGES: TypeAdapter[list[ReceivedMessage]] = TypeAdapter(list[ReceivedMessage])


class ProtocolError(TokenomyError):
    """The server answered something a client cannot use (names the request and the answer)."""


def _request(
    http: httpx.Client,
    method: str,
    path: str,
    token: str | None,
    *,
    ok: tuple[int, ...] = (200,),
    max_waits: int = 50,
    **kwargs: Any,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(max_waits):
        response = http.request(method, path, headers=headers, **kwargs)
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
    if response.status_code not in ok:
        try:
            reason = response.json().get("reason", response.text)
        except ValueError:
            reason = response.text
        raise ProtocolError(f"{method} {path} answered {response.status_code}: {reason}")
    return response


def register(http: httpx.Client, agent_id: str) -> str:
    """Register ``agent_id`` at the server ``http`` points to; return its bearer token."""
    response = _request(http, "POST", "/register", None, ok=(201,), json={"agent_id": agent_id})
    return str(response.json()["token"])


class MarketClient:
    """One agent's authenticated connection to the protocol server.

    Args:
        http: an ``httpx.Client`` whose ``base_url`` is the server (shared by many agents).
        token: the agent's bearer token (from :func:`register`).
    """

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self.token = token

    def execute(self, action: Action) -> ActionResult:
        """Execute ``action``; a refused action comes back as :class:`Rejected`."""
        response = _request(
            self.http,
            "POST",
            "/actions",
            self.token,
            ok=(200, 409),
            json=action.model_dump(mode="json"),
        )
        return _RESULT.validate_json(response.content)

    def messages(
        self, after_index: int | None = None, limit: int | None = None
    ) -> tuple[list[ReceivedMessage], bool]:
        """Inbox messages after ``after_index`` (and whether more remain)."""
        params = {
            k: v for k, v in (("after_index", after_index), ("limit", limit)) if v is not None
        }
        body = _request(self.http, "GET", "/messages", self.token, params=params).json()
        return _MESSAGES.validate_python(body["messages"]), bool(body["has_more"])

    def done(self, note: str) -> None:
        """End this agent's episode."""
        _request(self.http, "POST", "/done", self.token, json={"note": note})

    def usage(
        self, model: str, input_tokens: int, output_tokens: int, latency_s: float
    ) -> dict[str, Any]:
        """Report one chat-model call (charged in the ledger); returns the usage so far."""
        body = {
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "latency_s": latency_s,
        }
        result: dict[str, Any] = _request(self.http, "POST", "/usage", self.token, json=body).json()
        return result


class HttpTransport:
    """The event engine's transport over HTTP: every agent acts through its own client.

    Args:
        base_url: the protocol server.
        market: the data (for agent ids).
        admin_token: the operator's token (to advance the virtual clock).
        service: the served session, in this process, from which the run log is read at the end
            (the agents never touch it).
        timeout_s: per-request timeout.
    """

    def __init__(
        self,
        base_url: str,
        market: Market,
        admin_token: str,
        service: MarketService,
        timeout_s: float = 60.0,
    ) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.market = market
        self.admin_token = admin_token
        self.service = service
        self.clients: dict[int, MarketClient] = {}
        self.seen: dict[int, int] = {}
        self.clock_ms = -1
        self.requests = 0

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def client(self, g: int) -> MarketClient:
        """Agent ``g``'s client (registered on first use)."""
        found = self.clients.get(g)
        if found is None:
            found = MarketClient(self.http, register(self.http, self.market.agent_id(g)))
            self.requests += 1
            self.clients[g] = found
        return found

    def _at(self, now: int) -> None:
        if now != self.clock_ms:
            _request(self.http, "POST", "/admin/clock", self.admin_token, json={"now_ms": now})
            self.requests += 1
            self.clock_ms = now

    def execute(self, agent: int, action: Action, now: int) -> ActionResult:
        """Execute through the agent's own authenticated client."""
        client = self.client(agent)
        self._at(now)
        self.requests += 1
        return client.execute(action)

    def delivered(self, agent: int, message_id: int) -> ReceivedMessage:
        """Fetch the recipient's new messages (as the recipient) and return the one just sent."""
        client = self.client(agent)
        self.requests += 1
        got, _ = client.messages(after_index=self.seen.get(agent, -1))
        if got:
            self.seen[agent] = got[-1].index
        for message in got:
            if message.message_id == message_id:
                return message
        raise ProtocolError(
            f"message {message_id} was not in {self.market.agent_id(agent)}'s inbox"
        )

    def end(self, agent: int, now: int, note: str) -> None:
        """End the agent's episode over HTTP."""
        client = self.client(agent)
        self._at(now)
        self.requests += 1
        client.done(note)

    def meter(
        self, agent: int, model: str, input_tokens: int, output_tokens: int, latency_s: float
    ) -> None:
        """Report a model call over HTTP (the server charges it)."""
        client = self.client(agent)
        self.requests += 1
        client.usage(model, input_tokens, output_tokens, latency_s)

    def log(self) -> RunLog:
        """The session's log."""
        return self.service.log()
