"""The proxy's HTTP API: OpenAI-compatible chat completions routed by the price rule.

Endpoints: ``POST /v1/chat/completions`` (streaming and not), ``GET /v1/models``,
``GET /health``, ``GET /metrics`` (Prometheus text). Chat and model requests need
``Authorization: Bearer KEY`` with a configured, unrevoked proxy key (else 401).

A chat request with ``model: "tokenomy-auto"`` is routed (:mod:`tokenomy.proxy.routing`); a
request naming a backend (its ``name`` or its ``model``) is passed through to it, still metered
and budget-checked. For each candidate in ranking order the proxy reserves the worst-case cost
in the ledger (:mod:`tokenomy.proxy.spend`): a candidate the budget cannot cover is skipped (a
*downgrade* to the next positive-net-value backend); a candidate that fails (connection error,
timeout, HTTP 429 or 5xx) has its reservation refunded and the next one is tried (a
*fallback*), its cost checked against the budget in the same way. Other upstream errors (4xx)
are passed back unchanged. When no candidate can be paid for the answer is HTTP 402
(``insufficient_quota``, code ``budget_exceeded``); when every affordable one failed, 502.

Response headers: ``X-Tokenomy-Request-Id``, ``-Backend``, ``-Predicted-Cost`` (dollars, the
rule's prediction for the backend that served), ``-Reserved`` (worst case held), ``-Cost``
(realised dollars; non-streaming only — a stream's realised cost is in the logs and metrics),
``-Latency-Ms`` (upstream), ``-Input-Tokens`` and ``-Output-Tokens`` (non-streaming),
``-Fallbacks`` and ``-Downgraded`` (backends skipped, comma-separated), ``-Budget-Price`` (the
pacing multiplier μ) and ``-Value`` (``V`` in force).

The chat endpoint is the hot path, so it is a plain ASGI handler (:mod:`tokenomy.proxy.asgi`)
calling the backends through one aiohttp connection pool (:mod:`tokenomy.proxy.upstream`); the
other endpoints are a small FastAPI app behind it. Work that writes to the database (ledger
reservations and settlements) runs on a worker thread; work in memory runs inline.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from tokenomy.allocate.rule import Options
from tokenomy.prices import estimate_tokens
from tokenomy.proxy.asgi import (
    BodyTooLargeError,
    Receive,
    Scope,
    Send,
    read_body,
    request_headers,
    send_bytes,
    send_json,
    send_stream,
)
from tokenomy.proxy.config import AUTO_MODEL, BackendConfig
from tokenomy.proxy.keys import ProxyKey
from tokenomy.proxy.routing import Plan, UnknownModelError, prompt_text, requested_max_tokens
from tokenomy.proxy.service import ProxyService
from tokenomy.proxy.spend import BudgetRefusedError, Reservation, Spend, micro_ceil
from tokenomy.proxy.streaming import StreamTally, relay_events
from tokenomy.proxy.upstream import Upstream, UpstreamError, UpstreamResponse

__all__ = ["CHAT_PATH", "MAX_BODY_BYTES", "ProxyApp", "create_app", "error_body", "openai_error"]

CHAT_PATH = "/v1/chat/completions"
MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest chat request body accepted (413 above it)."""

RETRYABLE = frozenset({408, 409, 429}) | frozenset(range(500, 600))
"""Upstream statuses that move a request to the next backend."""

_AUTH_MESSAGE = "unknown or revoked proxy key (send Authorization: Bearer KEY)"


def error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    """OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def openai_error(status: int, message: str, kind: str, code: str | None) -> JSONResponse:
    """An error response in OpenAI's shape (for the FastAPI endpoints)."""
    return JSONResponse(error_body(message, kind, code), status_code=status)


@dataclass
class _Request:
    """One chat request's bookkeeping while it is tried on its candidates."""

    rid: str
    key: ProxyKey
    plan: Plan
    mu: float
    stream: bool
    cap_upstream: bool  # the client set no max_tokens: send each backend's own cap
    excluded: list[int] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    downgraded: list[str] = field(default_factory=list)

    def options_in_play(self) -> Options:
        if not self.excluded:
            return self.plan.options
        keep = [i for i in range(len(self.plan.options)) if i not in self.excluded]
        o = self.plan.options
        return Options.of(
            o.dq[keep], o.dc[keep], o.dl[keep], o.dr[keep], [o.names[i] for i in keep]
        )

    def headers(self, backend: str, option: int, latency_s: float) -> dict[str, str]:
        return {
            "X-Tokenomy-Request-Id": self.rid,
            "X-Tokenomy-Backend": backend,
            "X-Tokenomy-Predicted-Cost": f"{float(self.plan.options.dc[option]):.9f}",
            "X-Tokenomy-Reserved": f"{self.plan.worst[option] / 1e6:.6f}",
            "X-Tokenomy-Latency-Ms": f"{latency_s * 1e3:.3f}",
            "X-Tokenomy-Fallbacks": ",".join(self.fallbacks),
            "X-Tokenomy-Downgraded": ",".join(self.downgraded),
            "X-Tokenomy-Budget-Price": f"{self.mu:.6g}",
            "X-Tokenomy-Value": f"{self.plan.prices.value:.6g}",
        }


def create_app(service: ProxyService) -> ProxyApp:
    """The proxy's ASGI app over a ready :class:`ProxyService` (which the caller closes)."""
    return ProxyApp(service)


class ProxyApp:
    """ASGI app: chat completions handled in plain ASGI, everything else by a FastAPI app.

    Args:
        service: keys, routing, spend, metrics and logs (shared by all requests).
        max_body_bytes: the largest chat request body accepted.
    """

    def __init__(self, service: ProxyService, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.upstream = Upstream(service.config.timeout_s)
        self.side = _side_app(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        kind = scope["type"]
        if kind == "http" and scope["path"] == CHAT_PATH:
            if scope["method"] == "POST":
                await self._chat(scope, receive, send)
            else:
                body = error_body("use POST", "invalid_request_error", "method_not_allowed")
                await send_json(send, 405, body, headers={"allow": "POST"})
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.side(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstream.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.upstream.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _refuse(
        self, send: Send, key: str, reason: str, status: int, message: str, kind: str,
        code: str | None,
    ) -> None:  # fmt: skip
        metrics = self.service.metrics
        metrics.inc("refusals_total", key=key, reason=reason)
        metrics.inc("requests_total", key=key, backend="none", status=str(status))
        await send_json(send, status, error_body(message, kind, code))

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service
        spend, routing = service.spend, service.routing
        headers = request_headers(scope)
        key = service.keys.authenticate(headers.get("authorization"))
        if key is None:
            await self._refuse(send, "unknown", "auth", 401, _AUTH_MESSAGE,
                               "invalid_request_error", "invalid_api_key")  # fmt: skip
            return
        try:
            raw = await read_body(receive, self.max_body_bytes)
        except BodyTooLargeError as exc:
            await self._refuse(send, key.name, "bad_request", 413, str(exc),
                               "invalid_request_error", None)  # fmt: skip
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            message = "the body must be a JSON object with a 'messages' list"
            await self._refuse(send, key.name, "bad_request", 400, message,
                               "invalid_request_error", None)  # fmt: skip
            return
        try:
            only = routing.index_of_model(str(body.get("model")))
            max_tokens = requested_max_tokens(body)
            base = service.base_prices(key, headers)
        except UnknownModelError as exc:
            await self._refuse(send, key.name, "model", 404, str(exc), "invalid_request_error",
                               "model_not_found")  # fmt: skip
            return
        except ValueError as exc:
            await self._refuse(send, key.name, "bad_request", 400, str(exc),
                               "invalid_request_error", None)  # fmt: skip
            return
        now = time.time()
        if spend.reset_due(key.account, now):
            await anyio.to_thread.run_sync(spend.reset_if_due, key.account, now)
        prices, mu = service.prices_in_force(key.account, base, now)
        plan = routing.plan(prompt_text(body), max_tokens, prices, only)
        job = _Request(
            service.next_id(), key, plan, mu, bool(body.get("stream")), max_tokens is None
        )
        for option in plan.candidates():
            backend = routing.backend(plan, option)
            try:
                reservation = await _spend_call(
                    spend, spend.reserve, key.account, plan.worst[option],
                    f"{job.rid} {backend.name}",
                )  # fmt: skip
            except BudgetRefusedError:
                job.downgraded.append(backend.name)
                job.excluded.append(option)
                continue
            if await self._call(send, job, option, backend, body, reservation):
                return
            job.fallbacks.append(backend.name)
            job.excluded.append(option)
            service.metrics.inc("fallbacks_total", backend=backend.name)
        if job.downgraded:
            status, reason, kind, code = 402, "budget", "insufficient_quota", "budget_exceeded"
            left = await anyio.to_thread.run_sync(spend.remaining, key.account)
            message = (
                f"budget of account '{key.account}' cannot cover this request: worst-case cost "
                f"${min(plan.worst[i] for i in job.excluded) / 1e6:.6f}, "
                f"${max(left, 0) / 1e6:.6f} left in this period"
            )
        else:
            status, reason, kind, code = 502, "upstream", "api_error", "upstream_failed"
            message = f"every backend failed: {', '.join(job.fallbacks)}"
        service.log.request(_row(job, None, status, mu=mu, reason=reason))
        await self._refuse(send, key.name, reason, status, message, kind, code)

    async def _call(
        self,
        send: Send,
        job: _Request,
        option: int,
        backend: BackendConfig,
        body: dict[str, Any],
        reservation: Reservation,
    ) -> bool:
        """Send the request to one backend and answer the client.

        Returns False (reservation refunded, nothing sent) when the backend failed and the next
        one should be tried.
        """
        service = self.service
        upstream = dict(body, model=backend.model)
        if job.cap_upstream:
            upstream["max_tokens"] = job.plan.max_tokens[option]
        client_usage = False
        if job.stream:
            options = body.get("stream_options")
            client_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            upstream["stream_options"] = {**(options or {}), "include_usage": True}
        api_key = service.api_keys.get(backend.name, "")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        url = backend.base_url.rstrip("/") + "/chat/completions"
        started = time.perf_counter()
        try:
            response = await self.upstream.post(url, json.dumps(upstream).encode(), headers)
        except UpstreamError:
            await _spend_call(service.spend, service.spend.cancel, reservation, job.rid)
            return False
        if response.status in RETRYABLE:
            response.close()
            await _spend_call(service.spend, service.spend.cancel, reservation, job.rid)
            return False
        if response.status != 200:
            try:
                content = await response.read()
            except UpstreamError:
                content = b""
            response.close()
            await _spend_call(service.spend, service.spend.cancel, reservation, job.rid)
            service.metrics.inc(
                "requests_total", key=job.key.name, backend=backend.name,
                status=str(response.status),
            )  # fmt: skip
            service.log.request(_row(job, backend.name, response.status, mu=job.mu))
            await send_bytes(send, response.status, content)
            return True
        if job.stream:
            await self._relay_stream(send, job, option, backend, reservation, response,
                                     started, client_usage)  # fmt: skip
            return True
        try:
            content = await response.read()
        except UpstreamError:
            response.close()
            await _spend_call(service.spend, service.spend.cancel, reservation, job.rid)
            return False
        response.close()
        latency = time.perf_counter() - started
        try:
            payload = json.loads(content)
        except ValueError:
            await _spend_call(service.spend, service.spend.cancel, reservation, job.rid)
            return False
        tin, tout, estimated = _usage_of(payload, job.plan.input_tokens)
        cost = await _finish(service, job, option, backend, reservation, tin, tout, latency,
                             estimated)  # fmt: skip
        head = job.headers(backend.name, option, latency)
        head["X-Tokenomy-Cost"] = f"{cost:.6f}"
        head["X-Tokenomy-Input-Tokens"] = str(tin)
        head["X-Tokenomy-Output-Tokens"] = str(tout)
        await send_bytes(send, 200, content, headers=head)
        return True

    async def _relay_stream(
        self,
        send: Send,
        job: _Request,
        option: int,
        backend: BackendConfig,
        reservation: Reservation,
        response: UpstreamResponse,
        started: float,
        client_usage: bool,
    ) -> None:
        """Relay a backend's event stream.

        The spend is settled before ``[DONE]`` is passed on, or, for a stream cut short, on
        what it carried.
        """
        service = self.service
        tally = StreamTally()
        settled: list[bool] = []

        async def settle() -> None:
            if settled:
                return
            settled.append(True)
            tin, tout = tally.prompt_tokens, tally.completion_tokens
            if tin is None or tout is None:
                tin, tout = job.plan.input_tokens, estimate_tokens(tally.text)
            await _finish(
                service, job, option, backend, reservation, tin, tout,
                time.perf_counter() - started, tally.prompt_tokens is None,
            )  # fmt: skip

        async def events() -> AsyncIterator[bytes]:
            async for chunk in relay_events(
                response.lines(), tally, pass_usage=client_usage, before_done=settle
            ):
                yield chunk

        head = job.headers(backend.name, option, time.perf_counter() - started)
        try:
            await send_stream(send, events(), headers=head)
        finally:
            with anyio.CancelScope(shield=True):
                response.close()
                await settle()


def _side_app(service: ProxyService) -> FastAPI:
    """Health, metrics and the model list (FastAPI; not on the hot path)."""
    routing, metrics = service.routing, service.metrics
    app = FastAPI(title="tokenomy proxy", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", response_model=None)
    def list_models(request: Request) -> JSONResponse | dict[str, Any]:
        if service.keys.authenticate(request.headers.get("authorization")) is None:
            metrics.inc("refusals_total", key="unknown", reason="auth")
            metrics.inc("requests_total", key="unknown", backend="none", status="401")
            return openai_error(401, _AUTH_MESSAGE, "invalid_request_error", "invalid_api_key")
        names = [AUTO_MODEL, *routing.names]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "tokenomy"} for n in names]
        return {"object": "list", "data": data}

    return app


T = TypeVar("T")


async def _spend_call(spend: Spend, fn: Callable[..., T], *args: Any) -> T:
    """Run a reservation step: inline when reservations live in memory, else on a thread.

    In memory a reservation is a counter under a lock; through the ledger it is a write.
    """
    if spend.in_memory:
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args)


def _usage_of(payload: Any, input_estimate: int) -> tuple[int, int, bool]:
    """``(input, output, estimated)`` tokens of a chat completion.

    Its ``usage`` when reported, else the input estimate and the answer's length in tokens.
    """
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if isinstance(usage, dict) and all(
        isinstance(usage.get(k), int) for k in ("prompt_tokens", "completion_tokens")
    ):
        return int(usage["prompt_tokens"]), int(usage["completion_tokens"]), False
    choices = payload.get("choices") if isinstance(payload, dict) else None
    text = ""
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        text = str((choices[0].get("message") or {}).get("content") or "")
    return input_estimate, estimate_tokens(text), True


def _row(job: _Request, backend: str | None, status: int, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": job.rid,
        "key": job.key.name,
        "account": job.key.account,
        "routed": job.plan.routed,
        "backend": backend,
        "status": status,
        "input_tokens_estimate": job.plan.input_tokens,
        "fallbacks": job.fallbacks,
        "downgraded": job.downgraded,
    }
    row.update(extra)
    return row


async def _finish(
    service: ProxyService,
    job: _Request,
    option: int,
    backend: BackendConfig,
    reservation: Reservation,
    tin: int,
    tout: int,
    latency: float,
    estimated: bool,
) -> float:
    """Settle the spend, update pacing and metrics, log the decision; returns dollars paid."""
    cost = service.routing.realised_cost(backend.name, tin, tout)
    args = (reservation, micro_ceil(cost), backend.name, job.rid)
    if service.spend.writes_on_settle:
        paid = await anyio.to_thread.run_sync(service.spend.settle, *args)
    else:
        paid = service.spend.settle(*args)
    dollars = paid / 1e6
    mu = service.observe_spend(job.key.account, dollars, latency)
    m = service.metrics
    m.inc("requests_total", key=job.key.name, backend=backend.name, status="200")
    m.inc("chosen_total", backend=backend.name)
    m.inc("spend_dollars_total", dollars, key=job.key.name, backend=backend.name)
    m.inc("tokens_total", float(tin), backend=backend.name, direction="input")
    m.inc("tokens_total", float(tout), backend=backend.name, direction="output")
    m.observe_latency(latency, backend.name)
    service.log.decision(job.rid, job.plan.prices, job.options_in_play(), backend.name, dollars)
    service.log.request(
        _row(
            job, backend.name, 200,
            input_tokens=tin, output_tokens=tout, usage_estimated=estimated,
            predicted_cost=float(job.plan.options.dc[option]), reserved=reservation.amount / 1e6,
            cost=dollars, unpaid=max(micro_ceil(cost) - paid, 0) / 1e6, latency_s=latency,
            budget_price=job.mu, budget_price_after=mu, stream=job.stream,
            quality_predicted=float(np.asarray(job.plan.options.dq)[option]),
        )
    )  # fmt: skip
    return dollars
