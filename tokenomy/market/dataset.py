"""The market as columns: what the engine, the search indices and the metrics run on.

A :class:`Market` holds customers and businesses as NumPy arrays (ragged lists as CSR-style
``ptr``/``values`` pairs) over two vocabularies, item names and amenity names. Entities are kept
sorted by id, so "ties broken by id" is "ties broken by index" everywhere.

Money is in integer micro-dollars (:mod:`tokenomy.market.money`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from tokenomy.market.money import dollars_of, to_micro
from tokenomy.market.schema import BusinessFile, CustomerFile

IntArray = NDArray[np.int64]
T = TypeVar("T")

_DERIVED: weakref.WeakKeyDictionary[Market, dict[str, Any]] = weakref.WeakKeyDictionary()


def derived(market: Market, key: str, build: Callable[[Market], T]) -> T:
    """A value computed from ``market`` once and kept while the market lives.

    Search indices, persuasion scores and the like are built on first use and shared by every
    run of the same market object (a sweep builds each index once).
    """
    store = _DERIVED.setdefault(market, {})
    if key not in store:
        store[key] = build(market)
    value: T = store[key]
    return value


def _ptr(lengths: Sequence[int] | NDArray[np.int64]) -> IntArray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=out[1:])
    return out


def segment_ids(ptr: IntArray) -> IntArray:
    """For a CSR pointer array, the row of every stored value."""
    return np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))


@dataclass(frozen=True, eq=False)
class Market:
    """Customers and businesses of one market, in columnar form.

    Attributes:
        name: a label (the folder name, or the generator's description).
        items: item vocabulary; item ``i`` is ``items[i]``.
        amenities: amenity vocabulary.
        customer_ids, customer_names, requests: per customer.
        c_item_ptr, c_items, c_wtp: requested items per customer (CSR) and willingness to pay
            (micro-dollars), in the order of the file.
        c_amen_ptr, c_amens: required amenities per customer (CSR).
        business_ids, business_names, descriptions, progenitors: per business.
        ratings, min_price_factor: per business.
        b_item_ptr, b_items, b_prices: menu per business (CSR, file order), posted prices in
            micro-dollars.
        b_amenities: ``(n_businesses, n_amenities)`` booleans.
        source: where the market came from (a path, or ``None``).
    """

    name: str
    items: list[str]
    amenities: list[str]
    customer_ids: list[str]
    customer_names: list[str]
    requests: list[str]
    c_item_ptr: IntArray
    c_items: IntArray
    c_wtp: IntArray
    c_amen_ptr: IntArray
    c_amens: IntArray
    business_ids: list[str]
    business_names: list[str]
    descriptions: list[str]
    progenitors: list[str | None]
    ratings: NDArray[np.float64]
    min_price_factor: NDArray[np.float64]
    b_item_ptr: IntArray
    b_items: IntArray
    b_prices: IntArray
    b_amenities: NDArray[np.bool_]
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ sizes
    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.customer_ids)

    @property
    def n_businesses(self) -> int:
        """Number of businesses."""
        return len(self.business_ids)

    @property
    def n_items(self) -> int:
        """Size of the item vocabulary."""
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"Market({self.name!r}, customers={self.n_customers}, "
            f"businesses={self.n_businesses}, items={self.n_items})"
        )

    # ------------------------------------------------------------------ lookups
    @cached_property
    def customer_index(self) -> dict[str, int]:
        """Customer id -> index."""
        return {cid: i for i, cid in enumerate(self.customer_ids)}

    @cached_property
    def business_index(self) -> dict[str, int]:
        """Business id -> index."""
        return {bid: i for i, bid in enumerate(self.business_ids)}

    def agent_index(self, agent_id: str) -> int:
        """Global index of an agent id (customers first, then businesses), −1 if unknown."""
        c = self.customer_index.get(agent_id)
        if c is not None:
            return c
        b = self.business_index.get(agent_id)
        return -1 if b is None else self.n_customers + b

    def agent_id(self, g: int) -> str:
        """Agent id of a global index (customers first, then businesses)."""
        n_c = self.n_customers
        return self.customer_ids[g] if g < n_c else self.business_ids[g - n_c]

    @cached_property
    def item_index(self) -> dict[str, int]:
        """Item name -> index."""
        return {name: i for i, name in enumerate(self.items)}

    def customer_items(self, c: int) -> tuple[IntArray, IntArray]:
        """Requested item indices and willingness to pay (micro) of customer ``c``."""
        lo, hi = self.c_item_ptr[c], self.c_item_ptr[c + 1]
        return self.c_items[lo:hi], self.c_wtp[lo:hi]

    def customer_amenities(self, c: int) -> IntArray:
        """Required amenity indices of customer ``c``."""
        return self.c_amens[self.c_amen_ptr[c] : self.c_amen_ptr[c + 1]]

    def business_menu(self, b: int) -> tuple[IntArray, IntArray]:
        """Menu item indices and posted prices (micro) of business ``b``, in file order."""
        lo, hi = self.b_item_ptr[b], self.b_item_ptr[b + 1]
        return self.b_items[lo:hi], self.b_prices[lo:hi]

    # ------------------------------------------------------------------ derived columns
    @cached_property
    def value_micro(self) -> IntArray:
        """Per customer, the value of having its needs met: 2 × Σ willingness to pay (micro)."""
        sums = np.add.reduceat(self.c_wtp, self.c_item_ptr[:-1]) if len(self.c_wtp) else None
        out = np.zeros(self.n_customers, dtype=np.int64)
        nonempty = np.diff(self.c_item_ptr) > 0
        if sums is not None:
            out[nonempty] = sums[nonempty]
        return 2 * out

    @cached_property
    def _menu_keys(self) -> tuple[IntArray, IntArray]:
        """Sorted ``business * n_items + item`` keys of every menu entry, and their prices."""
        rows = segment_ids(self.b_item_ptr)
        keys = rows * max(self.n_items, 1) + self.b_items
        order = np.argsort(keys, kind="stable")
        return keys[order], self.b_prices[order]

    def menu_price(self, b: ArrayLike, item: ArrayLike) -> tuple[NDArray[np.bool_], IntArray]:
        """Vectorised menu lookup of pairs ``(b[k], item[k])``.

        Returns:
            Whether the item is on the menu, and its posted price (micro; 0 where absent).
        """
        keys, prices = self._menu_keys
        q = np.asarray(b, dtype=np.int64) * max(self.n_items, 1) + np.asarray(item, np.int64)
        pos = np.searchsorted(keys, q)
        pos_c = np.minimum(pos, max(len(keys) - 1, 0))
        found = (pos < len(keys)) & (keys[pos_c] == q) if len(keys) else np.zeros(len(q), bool)
        price = np.where(found, prices[pos_c] if len(keys) else 0, 0).astype(np.int64)
        return found, price

    @cached_property
    def menu_matrix(self) -> sp.csr_matrix:
        """Binary ``(businesses × items)`` incidence of menus (CSR)."""
        rows = segment_ids(self.b_item_ptr)
        data = np.ones(len(rows), dtype=np.int32)
        return sp.csr_matrix(
            (data, (rows, self.b_items)), shape=(self.n_businesses, max(self.n_items, 1))
        )

    @cached_property
    def request_matrix(self) -> sp.csr_matrix:
        """Binary ``(customers × items)`` incidence of requests (CSR)."""
        rows = segment_ids(self.c_item_ptr)
        data = np.ones(len(rows), dtype=np.int32)
        return sp.csr_matrix(
            (data, (rows, self.c_items)), shape=(self.n_customers, max(self.n_items, 1))
        )

    @cached_property
    def carriers(self) -> tuple[IntArray, IntArray]:
        """Per customer, the businesses whose menu has every requested item (CSR by index).

        Computed as a sparse product ``requests @ menus.T`` (shared-item counts), so the cost
        grows with the number of (customer, business) pairs sharing an item, not with
        customers × businesses.
        """
        counts = (self.request_matrix @ self.menu_matrix.T).tocsr()
        counts.sort_indices()
        need = np.diff(self.c_item_ptr)
        rows = segment_ids(counts.indptr.astype(np.int64))
        keep = counts.data == need[rows]
        ptr = _ptr(np.bincount(rows[keep], minlength=self.n_customers))
        return ptr, counts.indices[keep].astype(np.int64)

    def amenities_ok(self, c: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
        """For pairs ``(c[k], b[k])``: does business ``b`` offer every amenity ``c`` requires?"""
        c = np.asarray(c, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        counts = self.c_amen_ptr[c + 1] - self.c_amen_ptr[c]
        pair = np.repeat(np.arange(len(c), dtype=np.int64), counts)
        starts = np.repeat(self.c_amen_ptr[c], counts)
        offs = np.arange(len(pair), dtype=np.int64) - np.repeat(_ptr(counts)[:-1], counts)
        amen = self.c_amens[starts + offs]
        has = self.b_amenities[b[pair], amen] if len(pair) else np.zeros(0, dtype=bool)
        missing = np.bincount(pair[~has], minlength=len(c))
        return np.asarray(missing == 0, dtype=bool)

    def items_carried(self, c: ArrayLike, b: ArrayLike) -> tuple[IntArray, IntArray, IntArray]:
        """Requested items carried, per pair ``(c[k], b[k])``.

        Returns:
            How many requested items ``b`` carries, how many ``c`` requested, and the posted
            total (micro) of the carried ones.
        """
        c = np.asarray(c, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        counts = self.c_item_ptr[c + 1] - self.c_item_ptr[c]
        pair = np.repeat(np.arange(len(c), dtype=np.int64), counts)
        starts = np.repeat(self.c_item_ptr[c], counts)
        offs = np.arange(len(pair), dtype=np.int64) - np.repeat(_ptr(counts)[:-1], counts)
        items = self.c_items[starts + offs]
        found, price = self.menu_price(b[pair], items)
        n_found = np.bincount(pair, weights=found, minlength=len(c)).astype(np.int64)
        total = np.zeros(len(c), dtype=np.int64)
        np.add.at(total, pair, price)
        return n_found, counts.astype(np.int64), total

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_entities(
        cls,
        customers: Sequence[CustomerFile],
        businesses: Sequence[BusinessFile],
        name: str = "market",
        source: str | None = None,
    ) -> Market:
        """Build a market from validated file models (sorted by id here)."""
        customers = sorted(customers, key=lambda c: c.id)
        businesses = sorted(businesses, key=lambda b: b.id)
        items: dict[str, int] = {}
        amenities: dict[str, int] = {}
        for b in businesses:
            for item in b.menu_features:
                items.setdefault(item, len(items))
            for amen in b.amenity_features:
                amenities.setdefault(amen, len(amenities))
        for c in customers:
            for item in c.menu_features:
                items.setdefault(item, len(items))
            for amen in c.amenity_features:
                amenities.setdefault(amen, len(amenities))

        c_items = [items[i] for c in customers for i in c.menu_features]
        c_wtp = [w for c in customers for w in c.menu_features.values()]
        c_amens = [amenities[a] for c in customers for a in c.amenity_features]
        b_items = [items[i] for b in businesses for i in b.menu_features]
        b_prices = [p for b in businesses for p in b.menu_features.values()]
        b_amen = np.zeros((len(businesses), len(amenities)), dtype=bool)
        for row, b in enumerate(businesses):
            for amen, offered in b.amenity_features.items():
                b_amen[row, amenities[amen]] = bool(offered)

        return cls(
            name=name,
            items=list(items),
            amenities=list(amenities),
            customer_ids=[c.id for c in customers],
            customer_names=[c.name for c in customers],
            requests=[c.request for c in customers],
            c_item_ptr=_ptr([len(c.menu_features) for c in customers]),
            c_items=np.asarray(c_items, dtype=np.int64),
            c_wtp=to_micro(c_wtp) if c_wtp else np.zeros(0, np.int64),
            c_amen_ptr=_ptr([len(c.amenity_features) for c in customers]),
            c_amens=np.asarray(c_amens, dtype=np.int64),
            business_ids=[b.id for b in businesses],
            business_names=[b.name for b in businesses],
            descriptions=[b.description for b in businesses],
            progenitors=[b.progenitor_customer for b in businesses],
            ratings=np.asarray([b.rating for b in businesses], dtype=np.float64),
            min_price_factor=np.asarray([b.min_price_factor for b in businesses], np.float64),
            b_item_ptr=_ptr([len(b.menu_features) for b in businesses]),
            b_items=np.asarray(b_items, dtype=np.int64),
            b_prices=to_micro(b_prices) if b_prices else np.zeros(0, np.int64),
            b_amenities=b_amen,
            source=source,
        )

    def customer_entity(self, c: int) -> CustomerFile:
        """Customer ``c`` as a file model."""
        items, wtp = self.customer_items(c)
        return CustomerFile(
            id=self.customer_ids[c],
            name=self.customer_names[c],
            request=self.requests[c],
            menu_features={self.items[i]: dollars_of(w) for i, w in zip(items, wtp, strict=True)},
            amenity_features=[self.amenities[a] for a in self.customer_amenities(c)],
        )

    def business_entity(self, b: int) -> BusinessFile:
        """Business ``b`` as a file model."""
        items, prices = self.business_menu(b)
        return BusinessFile(
            id=self.business_ids[b],
            name=self.business_names[b],
            description=self.descriptions[b],
            rating=float(self.ratings[b]),
            progenitor_customer=self.progenitors[b],
            menu_features={
                self.items[i]: dollars_of(p) for i, p in zip(items, prices, strict=True)
            },
            amenity_features={
                a: bool(self.b_amenities[b, k]) for k, a in enumerate(self.amenities)
            },
            min_price_factor=float(self.min_price_factor[b]),
        )
