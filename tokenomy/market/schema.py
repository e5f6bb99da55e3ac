"""The Magentic Marketplace file format, as pydantic models.

A data set is a folder with ``customers/*.yaml`` and ``businesses/*.yaml``, one entity per file.
These models describe one file each; :mod:`tokenomy.market.io` turns a folder of them into the
columnar :class:`~tokenomy.market.dataset.Market` the engine runs on.

Money in the files is in dollars (floats). Inside tokenomy, money is an integer number of
micro-dollars (see :mod:`tokenomy.market.money`), so sums are exact and ties are exact.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _check_amounts(values: dict[str, float], what: str) -> dict[str, float]:
    if not values:
        raise ValueError(f"expected at least one {what}")
    for name, amount in values.items():
        if not name.strip():
            raise ValueError("item names must be non-empty")
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"{what} of '{name}' must be a finite amount >= 0, got {amount!r}")
    return values


class CustomerFile(BaseModel):
    """One customer: what it wants (items with willingness to pay) and the amenities it needs."""

    model_config = ConfigDict(extra="forbid", strict=False)

    id: str = Field(min_length=1, description="Unique customer id, e.g. customer_0001")
    name: str = Field(description="Display name")
    request: str = Field(description="The customer's request in natural language")
    menu_features: dict[str, float] = Field(
        description="Requested item name -> willingness to pay (dollars)"
    )
    amenity_features: list[str] = Field(
        default_factory=list, description="Amenities the business must offer"
    )

    @field_validator("menu_features")
    @classmethod
    def _wtp(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_amounts(v, "willingness to pay")


class BusinessFile(BaseModel):
    """One business: its public profile, its menu at posted prices and its amenities."""

    model_config = ConfigDict(extra="forbid", strict=False)

    id: str = Field(min_length=1, description="Unique business id, e.g. business_0001")
    name: str = Field(description="Display name")
    description: str = Field(default="", description="Free text shown in search results")
    rating: float = Field(default=1.0, description="Rating used to order search results")
    progenitor_customer: str | None = Field(
        default=None, description="Customer this business was generated for (informational)"
    )
    menu_features: dict[str, float] = Field(description="Item name -> posted price (dollars)")
    amenity_features: dict[str, bool] = Field(
        default_factory=dict, description="Amenity name -> offered"
    )
    min_price_factor: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Lowest fraction of the posted price the business accepts",
    )

    @field_validator("menu_features")
    @classmethod
    def _prices(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_amounts(v, "price")

    @field_validator("rating")
    @classmethod
    def _rating(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"rating must be finite, got {v!r}")
        return v
