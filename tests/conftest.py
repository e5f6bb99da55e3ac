"""Shared fixtures: the published Magentic data (skipped with a reason when absent) and small
hand-made markets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import stop_postgres
from tokenomy.market.dataset import Market
from tokenomy.market.io import load_market
from tokenomy.market.schema import BusinessFile, CustomerFile

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MAGENTIC = SHARED / "magentic"
TINMEN = SHARED / "tinmen"
MAIN_SETS = [
    "mexican_3_9",
    "mexican_10_30",
    "mexican_33_99",
    "mexican_100_300",
    "contractors_10_30",
]


@pytest.fixture(scope="session", autouse=True)
def _stop_postgres_at_end() -> Iterator[None]:
    """Stop the throwaway PostgreSQL cluster (if a test started one) when the session ends."""
    yield
    stop_postgres()


@pytest.fixture(scope="session")
def magentic() -> Path:
    """Folder of the published Magentic Marketplace data sets."""
    if not (MAGENTIC / "mexican_3_9").is_dir():
        missing = f"Magentic data sets not found at {MAGENTIC} (expected ../shared beside)"
        pytest.skip(reason=missing)
    return MAGENTIC


@pytest.fixture(scope="session")
def tinmen() -> Path:
    """Folder of the published Tin Men transcripts (MODEL/temp-T.csv)."""
    if not (TINMEN / "gpt-4" / "temp-0.2.csv").is_file():
        pytest.skip(reason=f"Tin Men transcripts not found at {TINMEN} (expected ../shared beside)")
    return TINMEN


@pytest.fixture(scope="session")
def mexican_100_300(magentic: Path) -> Market:
    """The 100 × 300 Mexican-restaurant market."""
    return load_market(magentic / "mexican_100_300")


def customer(cid: str, items: dict[str, float], amenities: list[str] | None = None) -> CustomerFile:
    """A customer file model for hand-made markets."""
    names = ", ".join(f"'{i}' (1)" for i in items)
    return CustomerFile(
        id=cid,
        name=cid.title(),
        request=f"Please find a place that serves {names}.",
        menu_features=items,
        amenity_features=amenities or [],
    )


def business(
    bid: str,
    menu: dict[str, float],
    amenities: dict[str, bool] | None = None,
    *,
    description: str = "A friendly place.",
    rating: float = 1.0,
    min_price_factor: float = 0.8,
    name: str | None = None,
) -> BusinessFile:
    """A business file model for hand-made markets."""
    return BusinessFile(
        id=bid,
        name=name or bid.replace("_", " ").title(),
        description=description,
        rating=rating,
        menu_features=menu,
        amenity_features=amenities or {},
        min_price_factor=min_price_factor,
    )


def market_of(customers: list[CustomerFile], businesses: list[BusinessFile]) -> Market:
    """A market from file models."""
    return Market.from_entities(customers, businesses, name="hand-made")


@pytest.fixture
def tiny_market() -> Market:
    """Two customers, three businesses; every number below is easy to check by hand.

    customer_a wants Taco (WTP 10) and Soup (WTP 5), needs Patio: value 30.
      b1: Taco 9 + Soup 6 = 15, has Patio        -> utility 15
      b2: Taco 8 + Soup 4 = 12, no Patio         -> utility -12 (cheapest carrier)
      b3: Taco 7 only                             -> does not carry everything
    customer_b wants Cake (WTP 4), no amenity: value 8.
      b3: Cake 3                                  -> utility 5 (only carrier)
    Optimal: 15 + 5 = 20; pick_cheapest: -12 + 5 = -7.
    """
    return market_of(
        [
            customer("customer_a", {"Taco": 10.0, "Soup": 5.0}, ["Patio"]),
            customer("customer_b", {"Cake": 4.0}),
        ],
        [
            business("business_1", {"Taco": 9.0, "Soup": 6.0, "Rice": 2.0}, {"Patio": True}),
            business("business_2", {"Taco": 8.0, "Soup": 4.0}, {"Patio": False}),
            business("business_3", {"Taco": 7.0, "Cake": 3.0}, {"Patio": True}),
        ],
    )


@pytest.fixture(scope="session")
def ray_local() -> Iterator[object]:
    """A local Ray instance (2 CPUs) shared by this test process; skipped when Ray is absent."""
    from tokenomy.ray_support import ray_available, ray_session

    if not ray_available():
        pytest.skip(reason="Ray is not installed (pip install 'tokenomy[ray]')")
    with ray_session(num_cpus=2) as ray:
        yield ray
