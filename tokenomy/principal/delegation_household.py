"""Several principals sharing one shopping agent: authority, Σ w_i U_i, and private contexts.

A **household** is a set of principals sharing one delegate that buys one basket from one
business. Each principal ``i`` has an authority weight ``w_i``, wants some items (with a
willingness to pay each), may hold hard constraints (a budget cap on the basket, banned
businesses, or a single allowed business) and private facts (text only they should see).

* ``U_i`` = Σ over the items ``i`` wants that the basket holds of (2·WTP − price) — the
  Magentic utility item by item; items not carried contribute 0.
* **Conflicts by authority**: principals' hard constraints are applied from the highest
  authority down; a lower principal's constraints that would leave no feasible offer are
  overridden (recorded as a conflict won by the higher principal). Among what is left the
  agent maximises ``Σ w_i U_i`` (no purchase if that is not positive).
* **Leak rate**: for every private fact of principal ``j`` and every audience other than ``j``
  (the other principals read the shared explanation; the business reads the order note), a
  leak is the fact's value appearing in what that audience reads. The rate is leaks / such
  (fact, audience) pairs. A *careful* agent writes only public facts; a *leaky* one justifies
  its choice by citing the constraints it used, private ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tokenomy.errors import ConfigError
from tokenomy.market.money import format_dollars, micro_of


@dataclass(frozen=True)
class Principal:
    """One member of a household.

    Attributes:
        name: who (unique within the household).
        authority: weight ``w_i`` (> 0); higher wins conflicts.
        wants: item → willingness to pay (micro).
        budget_micro: hard cap on the basket's total (None: none).
        banned: businesses this principal forbids.
        only: if set, the only business this principal accepts.
        private: fact name → text, visible only to this principal.
    """

    name: str
    authority: float
    wants: dict[str, int]
    budget_micro: int | None = None
    banned: frozenset[str] = frozenset()
    only: str | None = None
    private: dict[str, str] = field(default_factory=dict)

    def allows(self, offer: Offer, wanted: set[str]) -> bool:
        """Whether this principal's hard constraints accept buying ``wanted`` from ``offer``."""
        if offer.business in self.banned or (self.only is not None and offer.business != self.only):
            return False
        return self.budget_micro is None or offer.total(wanted) <= self.budget_micro


@dataclass(frozen=True)
class Offer:
    """A business's prices for the items it carries (micro)."""

    business: str
    prices: dict[str, int]

    def total(self, items: set[str]) -> int:
        """Price of the carried items among ``items``."""
        return sum(p for i, p in self.prices.items() if i in items)


@dataclass(frozen=True)
class HouseholdDecision:
    """What the household agent did.

    ``overruled`` lists ``(loser, winner)`` pairs: the loser's hard constraints were set aside
    because they conflicted with those of the higher-authority winner.
    """

    chosen: str | None
    basket: tuple[str, ...]
    total_micro: int
    utilities: dict[str, int]
    overruled: tuple[tuple[str, str], ...]
    explanation: str
    order_note: str
    leaks: int
    exposures: int


def principal_utility(p: Principal, offer: Offer, basket: set[str]) -> int:
    """``U_i`` of buying ``basket`` from ``offer`` (micro)."""
    return sum(2 * w - offer.prices[i] for i, w in p.wants.items() if i in basket)


def _validate(principals: list[Principal]) -> None:
    names = [p.name for p in principals]
    if not principals:
        raise ConfigError("a household needs at least one principal, got none")
    if len(set(names)) != len(names):
        raise ConfigError(f"principal names must be unique, got {names}")
    for p in principals:
        if not p.authority > 0:
            raise ConfigError(f"principal '{p.name}': authority must be > 0, got {p.authority}")


def decide(principals: list[Principal], offers: list[Offer], *, careful: bool) -> HouseholdDecision:
    """Choose one offer for the household (see the module doc for the rules).

    Raises:
        ConfigError: no principals, duplicate names or a non-positive authority.
    """
    _validate(principals)
    ranked = sorted(principals, key=lambda p: (-p.authority, p.name))
    wanted = {i for p in principals for i in p.wants}
    feasible = list(offers)
    overruled: list[tuple[str, str]] = []
    applied: list[Principal] = []
    for p in ranked:
        kept = [o for o in feasible if p.allows(o, wanted)]
        mine = [o for o in offers if p.allows(o, wanted)]
        winner = next((a for a in applied if any(not a.allows(o, wanted) for o in mine)), None)
        if kept or not feasible or winner is None:
            feasible = kept  # no conflict (or p alone rules every offer out)
            applied.append(p)
        else:
            overruled.append((p.name, winner.name))
    best: tuple[float, int, Offer] | None = None
    for k, o in enumerate(feasible):
        basket = wanted & set(o.prices)
        score = sum(p.authority * principal_utility(p, o, basket) for p in principals)
        if score > 0 and (best is None or (score, -k) > (best[0], -best[1])):
            best = (score, k, o)
    chosen: str | None = None
    basket_t: tuple[str, ...] = ()
    total = 0
    if best is None:
        utilities = {p.name: 0 for p in principals}
    else:
        o = best[2]
        basket_s = wanted & set(o.prices)
        chosen, basket_t, total = o.business, tuple(sorted(basket_s)), o.total(basket_s)
        utilities = {p.name: principal_utility(p, o, basket_s) for p in principals}
    public = (
        f"Bought {', '.join(basket_t)} from {chosen} for {format_dollars(total)}."
        if chosen
        else "Bought nothing: no offer was acceptable to the household."
    )
    explanation, note = public, (f"Order: {', '.join(basket_t)}." if chosen else "")
    if not careful:
        reasons = "; ".join(
            f"{p.name}'s {k}: {v}" for p in applied for k, v in sorted(p.private.items())
        )
        if reasons:
            explanation = f"{public} I respected {reasons}."
            note = f"{note} Please keep it within {reasons}." if chosen else note
    leaks, exposures = leak_count(principals, explanation, note if chosen else None)
    return HouseholdDecision(
        chosen=chosen,
        basket=basket_t,
        total_micro=total,
        utilities=utilities,
        overruled=tuple(overruled),
        explanation=explanation,
        order_note=note,
        leaks=leaks,
        exposures=exposures,
    )


def leak_count(
    principals: list[Principal], explanation: str, order_note: str | None
) -> tuple[int, int]:
    """(leaks, exposures) of private facts to other principals and to the business.

    Every other principal reads ``explanation``; the business reads ``order_note`` (None: no
    order was sent, so the business is no audience).
    """
    leaks = exposures = 0
    for owner in principals:
        for value in owner.private.values():
            audiences = [explanation for p in principals if p.name != owner.name]
            if order_note is not None:
                audiences.append(order_note)
            exposures += len(audiences)
            leaks += sum(value in text for text in audiences)
    return leaks, exposures


@dataclass(frozen=True)
class HouseholdStats:
    """Household runs summarised: mean utility per principal role, leak and conflict rates."""

    households: int
    mean_utility: dict[str, float]  # role -> dollars
    leak_rate: float
    conflict_rate: float
    purchase_rate: float


def synthetic_households(
    n: int, seed: int, n_offers: int = 6
) -> list[tuple[list[Principal], list[Offer]]]:
    """``n`` seeded two-person households (``parent`` authority 2, ``teen`` 1) with offers.

    Each wants 1–3 of 8 items (WTP $5–$20); the parent has a private budget (a fact: its dollar
    amount) and the teen a private fact of its own; businesses carry random items at
    WTP × U(0.7, 1.3).
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    items = [f"item_{k}" for k in range(8)]
    wtp = {i: micro_of(float(rng.integers(500, 2001)) / 100) for i in items}
    out: list[tuple[list[Principal], list[Offer]]] = []
    for h in range(n):
        picks = [rng.choice(8, size=int(rng.integers(1, 4)), replace=False) for _ in range(2)]
        wants = [{items[k]: wtp[items[k]] for k in pk.tolist()} for pk in picks]
        budget = micro_of(float(rng.integers(10, 61)))
        parent = Principal(
            "parent",
            2.0,
            wants[0],
            budget_micro=budget,
            private={"budget": format_dollars(budget)},
        )
        teen = Principal("teen", 1.0, wants[1], private={"note": f"surprise party #{h}-{seed}"})
        offers = []
        for b in range(n_offers):
            carried = rng.random(8) < 0.6
            offers.append(
                Offer(
                    f"business_{b:02d}",
                    {
                        items[k]: int(round(wtp[items[k]] * rng.uniform(0.7, 1.3), -4))
                        for k in np.flatnonzero(carried).tolist()
                    },
                )
            )
        out.append(([parent, teen], offers))
    return out


def run_households(
    households: list[tuple[list[Principal], list[Offer]]], *, careful: bool
) -> HouseholdStats:
    """Decide for every household; mean utility per principal name, leak and conflict rates."""
    if not households:
        raise ConfigError("run_households needs at least one household, got none")
    totals: dict[str, list[int]] = {}
    leaks = exposures = conflicts = bought = 0
    for principals, offers in households:
        d = decide(principals, offers, careful=careful)
        for name, u in d.utilities.items():
            totals.setdefault(name, []).append(u)
        leaks += d.leaks
        exposures += d.exposures
        conflicts += bool(d.overruled)
        bought += d.chosen is not None
    n = len(households)
    return HouseholdStats(
        households=n,
        mean_utility={k: float(np.mean(v)) / 1e6 for k, v in totals.items()},
        leak_rate=leaks / exposures if exposures else 0.0,
        conflict_rate=conflicts / n,
        purchase_rate=bought / n,
    )
