"""The proxy's configuration: a YAML file validated with pydantic.

Every value has one place in the file (``proxy.yaml``)::

    ledger_url: sqlite:///proxy-ledger.db     # or postgresql+psycopg://...
    decision_log: proxy-decisions.jsonl       # decision records (layer "router")
    predictor: router.npz                     # optional: `tokenomy route fit` output
    default_output_tokens: 256                # expected output when max_tokens is absent
    reservations: ledger                      # ledger (safe for several proxy processes) or
                                              # memory (one process; one ledger write a request)
    settlement: immediate                     # immediate (written before the answer) or
                                              # batched (memory reservations only: written by a
    settle_interval_ms: 50                    # background thread every interval; see
                                              # tokenomy.proxy.settlement for the trade-off)
    timeout_s: 30
    prices: {value: 1.0, latency: 0.0, risk: 0.0}
    risk_classes: {low: 0.0, high: 0.05}
    backends:
      - name: cheap
        base_url: http://127.0.0.1:8001/v1
        model: small-model
        api_key_env: CHEAP_API_KEY            # optional
        input_per_million: 0.1
        output_per_million: 0.4
        latency_s: 0.4
        risk: low                             # a class name or a number
        quality: 0.6                          # prior quality (used without a predictor)
        router_model: small                   # the predictor's column (default: name)
        max_output_tokens: 4096               # the cap held in escrow and sent upstream
    budgets:
      - account: team-a
        limit: 5.0                            # dollars per period
        period: day                           # none | minute | hour | day | week | seconds
        expected_requests: 1000               # pacing horizon per period (optional)
    keys:
      - name: alice
        sha256: 9f86d0...                     # hex SHA-256 of the key, or key_env
        account: team-a
        prices: {value: 2.0}                  # optional per-key prices
        revoked: false

A malformed file raises one :class:`~tokenomy.errors.DataError` naming the file, the field
(a dotted path such as ``backends.1.input_per_million``), the value and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tokenomy.errors import ConfigError, DataError
from tokenomy.ledger.budgets import period_seconds
from tokenomy.ledger.errors import LedgerConfigError

__all__ = [
    "AUTO_MODEL",
    "BackendConfig",
    "BudgetConfig",
    "KeyConfig",
    "PriceOverrides",
    "ProxyConfig",
    "load_config",
    "parse_config",
]

AUTO_MODEL = "tokenomy-auto"
"""The model name that asks the proxy to route by the price rule."""

NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\-]+$")]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceOverrides(_Strict):
    """Prices ``V`` (dollars per unit of quality), ``λ`` ($/s), ``ρ`` ($ per unit of risk)."""

    value: NonNegative | None = None
    latency: NonNegative | None = None
    risk: NonNegative | None = None


class BackendConfig(_Strict):
    """One OpenAI-compatible backend the proxy may send a request to."""

    name: Name
    base_url: Annotated[str, Field(pattern=r"^https?://")]
    model: Annotated[str, Field(min_length=1)]
    api_key_env: str | None = None
    input_per_million: NonNegative
    output_per_million: NonNegative
    latency_s: NonNegative = 0.0
    risk: NonNegative | str = 0.0
    quality: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    router_model: str | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] = 4096


class BudgetConfig(_Strict):
    """A spending limit (dollars per period) on one account shared by its keys."""

    account: Name
    limit: NonNegative
    period: str | int = "none"
    expected_requests: Annotated[int, Field(ge=1)] | None = None
    pacing_step: Positive = 0.05

    @field_validator("period")
    @classmethod
    def _check_period(cls, value: str | int) -> str | int:
        try:
            period_seconds(value)
        except LedgerConfigError:
            raise ValueError(
                "none, minute, hour, day, week or a whole number of seconds > 0"
            ) from None
        return value

    @property
    def period_s(self) -> int:
        """The period in seconds (0: one window for all time)."""
        return period_seconds(self.period)


class KeyConfig(_Strict):
    """A proxy key: its SHA-256 (or an environment variable holding it), account and prices."""

    name: Name
    sha256: str | None = None
    key_env: str | None = None
    account: Name
    prices: PriceOverrides = PriceOverrides()
    revoked: bool = False

    @field_validator("sha256")
    @classmethod
    def _check_hash(cls, value: str | None) -> str | None:
        if value is not None and not _HEX64.match(value):
            raise ValueError("a SHA-256 digest: 64 lower-case hex digits")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> KeyConfig:
        if (self.sha256 is None) == (self.key_env is None):
            raise ValueError("exactly one of sha256 and key_env")
        return self


class ProxyConfig(_Strict):
    """The whole proxy configuration (see the module docstring for the YAML layout)."""

    ledger_url: Annotated[str, Field(min_length=1)] = "sqlite:///proxy-ledger.db"
    decision_log: str | None = None
    predictor: str | None = None
    default_output_tokens: Annotated[int, Field(ge=1)] = 256
    reservations: Literal["ledger", "memory"] = "ledger"
    settlement: Literal["immediate", "batched"] = "immediate"
    settle_interval_ms: Annotated[int, Field(ge=1, le=60_000)] = 50
    timeout_s: Positive = 30.0
    prices: PriceOverrides = PriceOverrides(value=1.0, latency=0.0, risk=0.0)
    risk_classes: dict[str, NonNegative] = Field(default_factory=dict)
    backends: Annotated[list[BackendConfig], Field(min_length=1)]
    budgets: list[BudgetConfig] = Field(default_factory=list)
    keys: Annotated[list[KeyConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _check_references(self) -> ProxyConfig:
        names = [b.name for b in self.backends]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _FieldError(f"backends.{i}.name", name, "backend names unique")
        for i, b in enumerate(self.backends):
            if isinstance(b.risk, str) and b.risk not in self.risk_classes:
                known = ", ".join(self.risk_classes) or "none defined"
                expected = f"a number >= 0 or a risk class ({known})"
                raise _FieldError(f"backends.{i}.risk", b.risk, expected)
            if self.predictor is None and b.quality is None:
                raise _FieldError(
                    f"backends.{i}.quality", None, "a prior quality in [0, 1] (no predictor is set)"
                )
        if self.settlement == "batched" and self.reservations != "memory":
            raise _FieldError(
                "settlement", self.settlement, "'immediate' unless reservations is 'memory'"
            )
        accounts = [b.account for b in self.budgets]
        for i, account in enumerate(accounts):
            if account in accounts[:i]:
                raise _FieldError(f"budgets.{i}.account", account, "one budget per account")
        keys = [k.name for k in self.keys]
        for i, name in enumerate(keys):
            if name in keys[:i]:
                raise _FieldError(f"keys.{i}.name", name, "key names unique")
        return self

    def backend_risk(self, backend: BackendConfig) -> float:
        """The risk number of a backend (its class looked up in ``risk_classes``)."""
        if isinstance(backend.risk, str):
            return float(self.risk_classes[backend.risk])
        return float(backend.risk)

    def budget_of(self, account: str) -> BudgetConfig | None:
        """The budget on ``account``, if any."""
        for b in self.budgets:
            if b.account == account:
                return b
        return None


class _FieldError(ValueError):
    """A cross-field error that names its own field (turned into a DataError)."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        super().__init__(expected)
        self.field = field
        self.value = value
        self.expected = expected


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def parse_config(data: Any, source: str | Path = "<config>") -> ProxyConfig:
    """Validate already-parsed YAML data.

    Raises:
        DataError: names ``source``, the first bad field, its value and what was expected.
    """
    if not isinstance(data, dict):
        raise DataError(source, None, data, "a mapping with backends and keys")
    try:
        return ProxyConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            raise DataError(source, ctx_error.field, ctx_error.value, ctx_error.expected) from None
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function")))
        loc = tuple(p for p in loc if p not in ("float", "str", "int", "constrained-str"))
        field = ".".join(str(p) for p in loc) or None
        value = _lookup(data, loc) if loc else data
        expected = str(err["msg"]).removeprefix("Value error, ")
        raise DataError(source, field, value, expected) from None


def load_config(path: str | Path) -> ProxyConfig:
    """Read and validate a proxy YAML file; relative paths in it resolve against its folder.

    Raises:
        ConfigError: the file does not exist.
        DataError: the file is not YAML or a field is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"proxy config {path} does not exist") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(path, None, "<unparseable YAML>", f"valid YAML ({exc})") from None
    config = parse_config(data, path)
    base = path.resolve().parent
    changes: dict[str, Any] = {}
    for field in ("decision_log", "predictor"):
        value = getattr(config, field)
        if value is not None and not Path(value).is_absolute():
            changes[field] = str(base / value)
    url = config.ledger_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url.removeprefix("sqlite:///")
        if rest and not rest.startswith(":memory:"):
            changes["ledger_url"] = "sqlite:///" + str(base / rest)
    return config.model_copy(update=changes) if changes else config
