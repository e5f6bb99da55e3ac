"""Parameters of the scripted agents, and the named presets.

Customer presets (``--customer-policy``):

* ``rational`` — asks every business the search returned, waits for every answer (up to
  ``patience_ms``), pays the proposal with the best true utility if it is positive; exact ties
  are broken at random (by seed).
* ``first-proposal`` — asks every business, pays the first proposal that meets its needs at a
  positive utility.
* ``bounded`` — asks only the first ``contacts`` businesses, values offers with noise, gives up
  waiting after ``patience_ms``, with probability ``first_bias`` takes the first acceptable
  proposal, and is swayed by persuasive descriptions in proportion to ``credulity``.

Business presets (``--business-policy``):

* ``posted-price`` — answers each inquiry after ``response_ms`` (+ jitter) with a truthful text
  (which items and amenities it has) and a proposal at menu prices.
* ``discounting`` — the same, but when the customer asks for its best price it concedes a
  fraction ``concession`` of the way down to ``min_price_factor`` × the posted price.

All durations are virtual milliseconds; every action takes at least 1 ms, so causes precede
effects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tokenomy.errors import ConfigError, UnknownNameError


class CustomerParams(BaseModel):
    """Behaviour of a scripted customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["best", "first"] = Field(
        default="best", description="best: compare all answers; first: take the first acceptable"
    )
    search_ms: int = Field(default=1000, ge=1, description="Time to compose the search")
    message_ms: int = Field(default=200, ge=1, description="Time to write each inquiry")
    decide_ms: int = Field(default=500, ge=1, description="Time from decision to payment")
    patience_ms: int = Field(
        default=60_000, ge=1, description="Wait at most this long after the last inquiry"
    )
    contacts: int | None = Field(
        default=None, ge=1, description="Ask at most this many businesses (None: all results)"
    )
    query: Literal["request", "items"] = Field(
        default="request", description="Search with the request text or the item names"
    )
    ask_discount: bool = Field(default=False, description="Ask businesses for their best price")
    noise: float = Field(default=0.0, ge=0.0, description="Std. dev. of valuation noise (x value)")
    first_bias: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Probability of taking the first acceptable offer"
    )
    credulity: float = Field(
        default=0.0, ge=0.0, description="Weight of persuasive descriptions in valuation"
    )


class BusinessParams(BaseModel):
    """Behaviour of a scripted business."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response_ms: int = Field(default=2000, ge=1, description="Time to answer an inquiry")
    jitter_ms: int = Field(default=0, ge=0, description="Extra uniform random delay, 0..jitter")
    proposal_ms: int = Field(default=100, ge=1, description="Time between reply and proposal")
    ttl_ms: int | None = Field(
        default=None, ge=1, description="Proposal lifetime (None: no expiry)"
    )
    discount: bool = Field(default=False, description="Concede on price when asked")
    concession: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Fraction of the way down to the minimum price"
    )


CUSTOMER_PRESETS: dict[str, dict[str, Any]] = {
    "rational": {},
    "first-proposal": {"mode": "first"},
    "bounded": {
        "contacts": 3,
        "noise": 0.1,
        "patience_ms": 5000,
        "first_bias": 0.25,
        "credulity": 0.25,
    },
}

BUSINESS_PRESETS: dict[str, dict[str, Any]] = {
    "posted-price": {},
    "discounting": {"discount": True},
}


def _build(
    kind: str,
    presets: dict[str, dict[str, Any]],
    model: type[BaseModel],
    name: str,
    overrides: dict[str, Any] | None,
) -> Any:
    if name not in presets:
        raise UnknownNameError(f"{kind} policy", name, presets)
    values = {**presets[name], **(overrides or {})}
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"{kind} policy '{name}': parameter '{field}' = {err.get('input')!r}: {err['msg']}"
        ) from None


def customer_params(name: str, overrides: dict[str, Any] | None = None) -> CustomerParams:
    """Parameters of the named customer preset, with ``overrides`` applied and validated."""
    params: CustomerParams = _build("customer", CUSTOMER_PRESETS, CustomerParams, name, overrides)
    return params


def business_params(name: str, overrides: dict[str, Any] | None = None) -> BusinessParams:
    """Parameters of the named business preset, with ``overrides`` applied and validated."""
    params: BusinessParams = _build("business", BUSINESS_PRESETS, BusinessParams, name, overrides)
    return params
