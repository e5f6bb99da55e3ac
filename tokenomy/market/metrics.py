"""Welfare and behaviour metrics, as pure functions of the market and a run log.

Definitions (Magentic Marketplace's, reproduced exactly; see the reference page):

* A customer's **needs are met** if one of its payments is for a proposal that contains every
  requested item, from a business that has every required amenity.
* **Utility** = (needs met ? 2·Σ WTP : 0) − Σ of every payment the customer made.
* **Welfare** = Σ utility (consumer surplus).
* **Optimal welfare**: per customer, the best over businesses carrying all requested items of
  (amenities ok ? 2·ΣWTP − Σ posted prices : −Σ posted prices); customers no business can
  serve contribute 0.
* **pick_cheapest**: per customer, buy from the carrier with the lowest posted total, ignoring
  amenities (ties: the lowest id — the peer's script adds every tied business instead, which
  double-counts; no shipped data set has such a tie).
* **First-proposal share**: among paying customers who received k ≥ 2 proposals, the share who
  paid the first to arrive; its chance level is the mean of 1/k over the same customers.
* **Token-aware welfare** = welfare − the customers' token cost at :class:`~tokenomy.prices.Prices`;
  **net welfare** also prices each customer's time to decision at λ (``Prices.latency``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from tokenomy.market.dataset import Market, segment_ids
from tokenomy.market.money import to_dollars
from tokenomy.market.policies import choice
from tokenomy.market.runlog import A_SEARCH, A_TEXT, RunLog
from tokenomy.prices import Prices

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Baselines:
    """The data's reference welfare levels (dollars) and their per-customer parts (micro)."""

    optimal: float
    pick_cheapest: float
    optimal_micro: IntArray
    cheapest_micro: IntArray

    def to_dict(self) -> dict[str, float]:
        """JSON form: ``{"optimal": ..., "pick_cheapest": ...}``."""
        return {"optimal": self.optimal, "pick_cheapest": self.pick_cheapest}


def baselines(market: Market) -> Baselines:
    """Optimal and pick-cheapest welfare, computed from the data (vectorised)."""
    ptr, bus = market.carriers
    rows = segment_ids(ptr)
    _, _, total = market.items_carried(rows, bus)
    ok = market.amenities_ok(rows, bus)
    util = choice.utility(market.value_micro[rows], total, ok)
    n = market.n_customers
    has = np.diff(ptr) > 0
    best = np.full(n, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(best, rows, util)
    best = np.where(has, best, 0)
    # cheapest: lowest total, ties to the lowest business index
    order = np.lexsort((bus, total, rows))
    first = np.ones(len(order), bool)
    first[1:] = rows[order][1:] != rows[order][:-1]
    cheapest = np.zeros(n, np.int64)
    cheapest[rows[order][first]] = util[order][first]
    return Baselines(
        optimal=float(best.sum()) / 1e6,
        pick_cheapest=float(cheapest.sum()) / 1e6,
        optimal_micro=best,
        cheapest_micro=cheapest,
    )


@dataclass(frozen=True)
class Outcomes:
    """Per-customer outcome columns of a run (local customer indices)."""

    payments: IntArray
    spent: IntArray
    needs_met: NDArray[np.bool_]
    utility: IntArray
    paid_business: IntArray
    n_results: IntArray
    n_contacted: IntArray
    n_proposals: IntArray
    paid_first: NDArray[np.int8]  # 1 yes, 0 no, −1 not applicable
    end_ms: IntArray
    decision_ms: IntArray  # end − arrival; −1 if the customer never finished
    end_note: list[str]
    tokens_in: IntArray
    tokens_out: IntArray
    token_cost: NDArray[np.float64]
    net_value: NDArray[np.float64]
    business_tokens_in: int
    business_tokens_out: int
    business_token_cost: float


def customer_outcomes(
    market: Market,
    log: RunLog,
    prices: Prices,
    customer_model: str,
    business_model: str,
    arrivals: IntArray | None = None,
    metered: tuple[IntArray, IntArray, NDArray[np.float64], IntArray] | None = None,
) -> Outcomes:
    """Compute every customer's outcome from the log.

    ``metered`` — per agent (global index: customers, then businesses) input tokens, output
    tokens, cost in dollars and number of chat-model calls actually made — replaces the
    estimated token counts and costs of every agent that made at least one call (LLM agents:
    their usage as the API reported it, and their cost as the ledger charged it).
    """
    n_c = market.n_customers
    pay_c, pay_b = log.payment_parties()
    payments = np.bincount(pay_c, minlength=n_c).astype(np.int64)
    spent = np.zeros(n_c, np.int64)
    np.add.at(spent, pay_c, log.pay_amount)

    # does each payment's proposal hold every requested item, and the business every amenity?
    prop_row = np.searchsorted(log.prop_id, log.pay_proposal)
    key_rows = segment_ids(log.prop_item_ptr)
    keys = np.sort(key_rows * max(market.n_items, 1) + log.prop_items)
    counts = market.c_item_ptr[pay_c + 1] - market.c_item_ptr[pay_c]
    which = np.repeat(np.arange(len(pay_c)), counts)
    starts = np.repeat(market.c_item_ptr[pay_c], counts)
    offs = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
    want = prop_row[which] * max(market.n_items, 1) + market.c_items[starts + offs]
    pos = np.searchsorted(keys, want)
    inside = (pos < len(keys)) & (keys[np.minimum(pos, max(len(keys) - 1, 0))] == want)
    missing = np.bincount(which[~inside], minlength=len(pay_c))
    pay_ok = (missing == 0) & market.amenities_ok(pay_c, pay_b)
    needs_met = np.bincount(pay_c[pay_ok], minlength=n_c) > 0
    utility = choice.utility(market.value_micro, spent, needs_met)

    # first payment's business; proposals received; first-arriving proposal
    paid_business = np.full(n_c, -1, np.int64)
    first_pay = np.full(n_c, -1, np.int64)
    for_order = np.argsort(log.pay_id, kind="stable")[::-1]  # so the earliest write wins
    paid_business[pay_c[for_order]] = pay_b[for_order]
    first_pay[pay_c[for_order]] = log.pay_proposal[for_order]
    _, prop_c = log.proposal_parties()
    n_prop = np.bincount(prop_c, minlength=n_c).astype(np.int64)
    first_prop = np.full(n_c, -1, np.int64)
    rev = np.argsort(log.prop_id, kind="stable")[::-1]
    first_prop[prop_c[rev]] = log.prop_id[rev]
    paid_first = np.full(n_c, -1, np.int8)
    eligible = (payments > 0) & (n_prop >= 2)
    paid_first[eligible] = (first_pay[eligible] == first_prop[eligible]).astype(np.int8)

    # searches and contacts
    n_results = np.zeros(n_c, np.int64)
    is_c = log.s_agent < n_c
    np.add.at(n_results, log.s_agent[is_c], np.diff(log.s_ptr)[is_c])
    sent_text = (log.ev_action == A_TEXT) & log.ev_ok & (log.ev_agent < n_c)
    n_contacted = np.bincount(log.ev_agent[sent_text], minlength=n_c).astype(np.int64)

    # end times and notes
    end_ms = np.full(n_c, -1, np.int64)
    end_code = np.full(n_c, -1, np.int64)
    is_end = (log.ev_phase == 2) & (log.ev_agent < n_c)
    end_ms[log.ev_agent[is_end]] = log.ev_time[is_end]
    end_code[log.ev_agent[is_end]] = log.ev_note[is_end]
    end_note = [log.notes[i] if i >= 0 else "unfinished" for i in end_code.tolist()]

    # tokens: what each agent wrote, and what it read (action results + messages received)
    n_all = n_c + market.n_businesses
    t_in = np.bincount(log.ev_agent, weights=log.ev_tokens_in, minlength=n_all)
    t_in += np.bincount(log.msg_recipient, weights=log.msg_tokens, minlength=n_all)
    t_out = np.bincount(log.ev_agent, weights=log.ev_tokens_out, minlength=n_all)
    t_in, t_out = t_in.astype(np.int64), t_out.astype(np.int64)
    all_cost = np.concatenate(
        [
            prices.token_cost(customer_model, t_in[:n_c], t_out[:n_c]),
            prices.token_cost(business_model, t_in[n_c:], t_out[n_c:]),
        ]
    )
    if metered is not None:
        m_in, m_out, m_cost, m_calls = metered
        llm = np.asarray(m_calls) > 0
        t_in = np.where(llm, m_in, t_in)
        t_out = np.where(llm, m_out, t_out)
        all_cost = np.where(llm, m_cost, all_cost)
    cost = all_cost[:n_c]
    b_in, b_out = int(t_in[n_c:].sum()), int(t_out[n_c:].sum())
    b_cost = float(all_cost[n_c:].sum())

    start = np.zeros(n_c, np.int64) if arrivals is None else np.asarray(arrivals, np.int64)
    decision_ms = np.where(end_ms >= 0, end_ms - start, -1)
    latency_s = np.maximum(decision_ms, 0) / 1000.0
    net = prices.net_value(to_dollars(utility), cost, latency_s, 0.0)
    return Outcomes(
        payments=payments,
        spent=spent,
        needs_met=needs_met,
        utility=utility,
        paid_business=paid_business,
        n_results=n_results,
        n_contacted=n_contacted,
        n_proposals=n_prop,
        paid_first=paid_first,
        end_ms=end_ms,
        decision_ms=decision_ms,
        end_note=end_note,
        tokens_in=t_in[:n_c],
        tokens_out=t_out[:n_c],
        token_cost=np.asarray(cost, np.float64),
        net_value=np.asarray(net, np.float64),
        business_tokens_in=b_in,
        business_tokens_out=b_out,
        business_token_cost=b_cost,
    )


def outcomes_table(market: Market, out: Outcomes) -> pa.Table:
    """The per-customer outcomes as an Arrow table (the run folder's ``customers.parquet``)."""
    ids = pa.array(market.business_ids, pa.string())
    pf = out.paid_first
    return pa.table(
        {
            "customer": pa.array(market.customer_ids, pa.string()),
            "needs_met": pa.array(out.needs_met),
            "utility": pa.array(to_dollars(out.utility)),
            "spent": pa.array(to_dollars(out.spent)),
            "value": pa.array(to_dollars(market.value_micro)),
            "payments": pa.array(out.payments),
            "paid_business": pa.DictionaryArray.from_arrays(
                pa.array(out.paid_business, pa.int32(), mask=out.paid_business < 0), ids
            ),
            "n_results": pa.array(out.n_results),
            "n_contacted": pa.array(out.n_contacted),
            "n_proposals": pa.array(out.n_proposals),
            "paid_first": pa.array(pf == 1, pa.bool_(), mask=pf < 0),
            "end_ms": pa.array(out.end_ms, pa.int64(), mask=out.end_ms < 0),
            "decision_ms": pa.array(out.decision_ms, pa.int64(), mask=out.decision_ms < 0),
            "outcome": pa.array(out.end_note, pa.string()).dictionary_encode(),
            "tokens_in": pa.array(out.tokens_in),
            "tokens_out": pa.array(out.tokens_out),
            "token_cost": pa.array(out.token_cost),
            "net_value": pa.array(out.net_value),
        }
    )


def summarize(
    market: Market,
    log: RunLog,
    out: Outcomes,
    base: Baselines,
    focal_business: str | None = None,
) -> dict[str, Any]:
    """The headline metrics of a run (JSON-ready)."""
    n_c = market.n_customers
    welfare = float(out.utility.sum()) / 1e6
    token_cost_c = float(out.token_cost.sum())
    eligible = out.paid_first >= 0
    k = out.n_proposals[eligible]
    n_pay = len(log.pay_id)
    focal = focal_business
    if focal is None and "business_0001" in market.business_index:
        focal = "business_0001"
    focal_share = None
    if focal is not None and focal in market.business_index and n_pay:
        _, pay_b = log.payment_parties()
        focal_share = float(np.mean(pay_b == market.business_index[focal]))
    ended = out.decision_ms >= 0
    return {
        "welfare": welfare,
        "optimal_welfare": base.optimal,
        "pick_cheapest": base.pick_cheapest,
        "welfare_share_of_optimal": welfare / base.optimal if base.optimal else None,
        "customers": n_c,
        "businesses": market.n_businesses,
        "payments": n_pay,
        "purchase_rate": float(np.mean(out.payments > 0)) if n_c else 0.0,
        "needs_met_rate": float(np.mean(out.needs_met)) if n_c else 0.0,
        "mean_utility": welfare / n_c if n_c else 0.0,
        "first_proposal_share": float(np.mean(out.paid_first[eligible] == 1)) if k.size else None,
        "first_proposal_chance": float(np.mean(1.0 / k)) if k.size else None,
        "first_proposal_n": int(k.size),
        "focal_business": focal,
        "focal_share": focal_share,
        "events": log.n_events,
        "messages": len(log.msg_time),
        "proposals": len(log.prop_id),
        "searches": int(np.sum(log.ev_action == A_SEARCH)),
        "rejected_actions": int(np.sum(~log.ev_ok)),
        "tokens_customers_in": int(out.tokens_in.sum()),
        "tokens_customers_out": int(out.tokens_out.sum()),
        "tokens_businesses_in": out.business_tokens_in,
        "tokens_businesses_out": out.business_tokens_out,
        "token_cost_customers": token_cost_c,
        "token_cost_businesses": out.business_token_cost,
        "token_aware_welfare": welfare - token_cost_c,
        "net_welfare": float(out.net_value.sum()),
        "mean_decision_time_s": (
            float(np.mean(out.decision_ms[ended]) / 1000.0) if ended.any() else None
        ),
        "virtual_duration_s": float(log.ev_time.max() / 1000.0) if log.n_events else 0.0,
    }
