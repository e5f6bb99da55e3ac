"""The marketplace protocol server: FastAPI over a :class:`~tokenomy.market.service.MarketService`.

Endpoints (JSON in, JSON out; the OpenAPI description is at ``/openapi.json``, docs at
``/docs``):

========================  =====================================================================
``GET /health``           liveness, the market's name, the clock
``GET /protocol``         discovery: the actions and their JSON schemas, search algorithms,
                          limits, how to authenticate
``POST /register``        claim an agent id of the market; returns its secret bearer token
``POST /actions``         execute a protocol action as the authenticated agent
``GET /messages``         read one's inbox incrementally (``after_index``, ``limit``)
``POST /done``            end one's episode
``POST /usage``           report a chat-model call; it is charged in the ledger
``POST /admin/clock``     (admin) advance the virtual clock
``POST /admin/finish``    (admin) settle escrowed payments and close the session
``GET /admin/audit``      (admin) the ledger's audit
========================  =====================================================================

Security rules: every request but health, protocol discovery and register carries
``Authorization: Bearer TOKEN``; the sender of an action is the agent the token belongs to (a
different ``from_agent_id`` is refused); payments obey the protocol's rules and move money
through the ledger exactly once; bodies over ``max_body_bytes`` are refused with 413 before
they are read in full; each agent is rate-limited (token bucket; 429 with ``Retry-After``).
Every error is JSON ``{"error": code, "reason": text}`` — bad input never causes a 500.
A refused protocol action is answered with status 409 and the body
``{"type": "rejected", "reason": ...}``: it was understood and recorded, and changed nothing.
"""

import math
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenomy.errors import ConfigError
from tokenomy.market.protocol import (
    Action,
    FetchMessages,
    FetchResult,
    ReceivedMessage,
    Rejected,
    Search,
    SearchResult,
    SendMessage,
    SendResult,
)
from tokenomy.market.search import ALGORITHMS
from tokenomy.market.service import MarketService
from tokenomy.market.state import MAX_MESSAGE_CHARS


@dataclass(frozen=True)
class Limits:
    """The server's limits.

    Attributes:
        max_body_bytes: largest request body accepted.
        rate_per_s: sustained requests per second per agent.
        burst: requests an agent may make at once before the rate applies.
    """

    max_body_bytes: int = 64 * 1024
    rate_per_s: float = 50.0
    burst: int = 200


class ApiError(Exception):
    """An error answered as JSON ``{"error": code, "reason": reason}``."""

    def __init__(
        self, status: int, code: str, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason, self.headers = status, code, reason, headers


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RegisterRequest(_Body):
    """Claim an agent id."""

    agent_id: str = Field(min_length=1, max_length=200, description="A customer or business id")


class RegisterResponse(BaseModel):
    """The agent's credentials (the token is shown once)."""

    agent_id: str
    kind: str
    token: str


class DoneRequest(_Body):
    """End one's episode."""

    note: str = Field(default="done", max_length=200, description="How it ended")


class UsageRequest(_Body):
    """One chat-model call made by the authenticated agent."""

    model: str = Field(min_length=1, max_length=200, description="Model name")
    input_tokens: int = Field(ge=0, le=10_000_000)
    output_tokens: int = Field(ge=0, le=10_000_000)
    latency_s: float = Field(default=0.0, ge=0, le=86_400)


class UsageResponse(BaseModel):
    """The agent's metered usage so far."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost_micro: int
    unpaid_calls: int


class ClockRequest(_Body):
    """Set the virtual clock."""

    now_ms: int = Field(ge=0, le=10**15)


class MessagesResponse(BaseModel):
    """A page of one's inbox."""

    messages: list[ReceivedMessage]
    has_more: bool


class ErrorResponse(BaseModel):
    """Every error."""

    error: str
    reason: str


_ACTION_RESULT = SearchResult | SendResult | FetchResult | Rejected
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorResponse} for s in (401, 404, 409, 413, 422, 429)
}


class _Bucket:
    """A token bucket (thread-safe)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may go now, else seconds to wait."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` (413) without reading them all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes as they arrive."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"error": "too_large", "reason": f"request body over {self.max_bytes} bytes"},
            status_code=413,
        )
        await response(scope, receive, send)


def create_app(
    service: MarketService, *, admin_token: str, limits: Limits | None = None
) -> FastAPI:
    """The protocol server's ASGI app for ``service`` (see the module docstring).

    Args:
        service: the market session to serve.
        admin_token: bearer token of the operator (clock, finish, audit).
        limits: body size and rate limits.
    """
    limits = limits or Limits()
    app = FastAPI(
        title="tokenomy marketplace protocol",
        version="1",
        description=(
            "Customers and businesses trade through search, messages, proposals and payments. "
            "Authenticate with the bearer token returned by /register."
        ),
    )
    bearer = HTTPBearer(auto_error=False)
    buckets: dict[int, _Bucket] = {}
    buckets_lock = threading.Lock()
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.code, "reason": exc.reason}, status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": "invalid_request", "reason": "; ".join(parts)}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "reason": str(exc.detail)}, exc.status_code, headers=exc.headers
        )

    @app.exception_handler(UnicodeError)
    async def _unicode(_: Request, exc: UnicodeError) -> JSONResponse:
        return JSONResponse({"error": "invalid_request", "reason": f"invalid text: {exc}"}, 422)

    def agent(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> int:
        if credentials is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing bearer token; register at POST /register",
                {"WWW-Authenticate": "Bearer"},
            )
        g = service.authenticate(credentials.credentials)
        if g is None:
            raise ApiError(401, "unauthorized", "unknown token", {"WWW-Authenticate": "Bearer"})
        with buckets_lock:
            bucket = buckets.setdefault(g, _Bucket(limits.rate_per_s, limits.burst))
        wait = bucket.take()
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                f"rate limit of {limits.rate_per_s:g}/s exceeded; retry in {wait:.3f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return g

    def admin(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if credentials is None or credentials.credentials != admin_token:
            raise ApiError(
                401, "unauthorized", "admin token required", {"WWW-Authenticate": "Bearer"}
            )

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness and the session's clock."""
        return {
            "status": "ok",
            "market": service.market.name,
            "customers": service.market.n_customers,
            "businesses": service.market.n_businesses,
            "clock": service.clock,
            "time_ms": service.now(),
            "finished": service.finished,
        }

    @app.get("/protocol", tags=["service"])
    def protocol() -> dict[str, Any]:
        """What an agent may do here, with the JSON schema of each action."""
        return {
            "actions": {
                "search": Search.model_json_schema(),
                "send_message": SendMessage.model_json_schema(),
                "fetch_messages": FetchMessages.model_json_schema(),
            },
            "execute": "POST /actions with one action as the body",
            "search_algorithms": list(ALGORITHMS),
            "authentication": "Authorization: Bearer <token from POST /register>",
            "limits": {
                "max_body_bytes": limits.max_body_bytes,
                "max_message_chars": MAX_MESSAGE_CHARS,
                "rate_per_s": limits.rate_per_s,
                "burst": limits.burst,
            },
            "clock": service.clock,
            "money": "micro-dollars in the ledger; payments are held in escrow and settled at "
            "the end of the session",
        }

    @app.post("/register", tags=["agents"], status_code=201, responses=_ERRORS)
    def register(body: RegisterRequest) -> RegisterResponse:
        """Claim an agent id of this market; the secret token is returned once."""
        g = service.state.agent_index(body.agent_id)
        if g < 0:
            raise ApiError(
                404, "unknown_agent", f"'{body.agent_id}' is not an agent of this market"
            )
        try:
            token = service.register(body.agent_id)
        except ConfigError as exc:
            raise ApiError(409, "already_registered", str(exc)) from None
        kind = "customer" if g < service.market.n_customers else "business"
        return RegisterResponse(agent_id=body.agent_id, kind=kind, token=token)

    @app.post(
        "/actions",
        tags=["agents"],
        responses={**_ERRORS, 409: {"model": Rejected, "description": "the action was refused"}},
    )
    def execute(me: Annotated[int, Depends(agent)], action: Action) -> Any:
        """Execute one protocol action as the authenticated agent."""
        result = service.execute(me, action)
        if isinstance(result, Rejected):
            return JSONResponse(result.model_dump(), status_code=409)
        return result

    @app.get("/messages", tags=["agents"], responses=_ERRORS)
    def messages(
        me: Annotated[int, Depends(agent)],
        after_index: Annotated[int | None, Query(ge=-1, le=2**62)] = None,
        limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    ) -> MessagesResponse:
        """Messages in my inbox with index greater than ``after_index``."""
        got, more = service.inbox(me, after_index, limit)
        return MessagesResponse(messages=got, has_more=more)

    @app.post("/done", tags=["agents"], responses=_ERRORS)
    def done(me: Annotated[int, Depends(agent)], body: DoneRequest) -> dict[str, Any]:
        """End my episode."""
        service.end(me, note=body.note)
        return {"ok": True}

    @app.post("/usage", tags=["agents"], responses=_ERRORS)
    def usage(me: Annotated[int, Depends(agent)], body: UsageRequest) -> UsageResponse:
        """Report one chat-model call; its tokens and cost are charged to me in the ledger."""
        u = service.meter(me, body.model, body.input_tokens, body.output_tokens, body.latency_s)
        return UsageResponse(
            calls=u.calls,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cost_micro=u.cost_micro,
            unpaid_calls=u.unpaid_calls,
        )

    @app.post("/admin/clock", tags=["admin"], responses=_ERRORS, dependencies=[Depends(admin)])
    def clock(body: ClockRequest) -> dict[str, int]:
        """Advance the virtual clock."""
        try:
            return {"time_ms": service.set_clock(body.now_ms)}
        except ConfigError as exc:
            raise ApiError(409, "clock", str(exc)) from None

    @app.post("/admin/finish", tags=["admin"], responses=_ERRORS, dependencies=[Depends(admin)])
    def finish() -> dict[str, Any]:
        """Settle every escrowed payment and close the session."""
        return service.finish()

    @app.get("/admin/audit", tags=["admin"], responses=_ERRORS, dependencies=[Depends(admin)])
    def audit() -> dict[str, Any]:
        """The ledger's audit."""
        return service.ledger.audit().to_dict()

    return app
