"""What happened in a run, as columns — the common output of both engines.

Agents are numbered in one space: customers ``0 .. C−1`` then businesses ``C .. C+B−1`` (the
*global index*). Events are in canonical order: by time, then phase (0 = an action executes,
2 = an agent ends), then acting agent, then counterparty, then the agent's own action counter.
Because each scripted action takes at least 1 ms of virtual time, a cause always precedes its
effect, and the order does not depend on which engine produced the log.

:meth:`RunLog.tables` turns the log into the Arrow tables written to a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from tokenomy.market.dataset import Market, segment_ids
from tokenomy.market.money import to_dollars

IntArray = NDArray[np.int64]

ACTIONS = ("search", "send_text", "send_proposal", "send_payment", "fetch_messages", "end")
A_SEARCH, A_TEXT, A_PROPOSAL, A_PAYMENT, A_FETCH, A_END = range(6)
MESSAGE_KINDS = ("text", "proposal", "payment")
K_TEXT, K_PROPOSAL, K_PAYMENT = range(3)
PHASE_ACTION, PHASE_WAKE, PHASE_END = 0, 1, 2
ROLES = ("customer", "business")


@dataclass
class RunLog:
    """Columns of a run. All agent references are global indices (−1 = none)."""

    n_customers: int
    n_businesses: int
    # events, canonical order
    ev_time: IntArray
    ev_phase: IntArray
    ev_agent: IntArray
    ev_target: IntArray
    ev_action: IntArray
    ev_message: IntArray
    ev_ok: NDArray[np.bool_]
    ev_note: IntArray  # index into notes, −1 = none
    ev_tokens_in: IntArray
    ev_tokens_out: IntArray
    notes: list[str]
    # messages, by id (id = position)
    msg_time: IntArray
    msg_sender: IntArray
    msg_recipient: IntArray
    msg_kind: IntArray
    msg_text: IntArray  # index into texts, −1 for proposals and payments
    msg_tokens: IntArray
    texts: list[str]
    # proposals
    prop_id: IntArray
    prop_total: IntArray
    prop_expiry: IntArray  # −1 = none
    prop_item_ptr: IntArray
    prop_items: IntArray  # item vocabulary indices
    prop_qty: IntArray
    prop_unit: IntArray
    # payments
    pay_id: IntArray
    pay_proposal: IntArray
    pay_amount: IntArray
    # searches
    s_time: IntArray
    s_agent: IntArray
    s_algorithm: list[str]
    s_limit: IntArray
    s_page: IntArray
    s_query: IntArray  # index into texts
    s_total: IntArray
    s_ptr: IntArray
    s_results: IntArray  # business (local) indices
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        """Number of events."""
        return len(self.ev_time)

    # ------------------------------------------------------------------ derived views
    def proposal_parties(self) -> tuple[IntArray, IntArray]:
        """(business local index, customer local index) of each proposal."""
        ids = self.prop_id
        return self.msg_sender[ids] - self.n_customers, self.msg_recipient[ids]

    def payment_parties(self) -> tuple[IntArray, IntArray]:
        """(customer local index, business local index) of each payment."""
        ids = self.pay_id
        return self.msg_sender[ids], self.msg_recipient[ids] - self.n_customers

    # ------------------------------------------------------------------ tables
    def tables(self, market: Market) -> dict[str, pa.Table]:
        """Arrow tables: events, messages, proposals, proposal_items, payments, searches."""
        agent_ids = pa.array(market.customer_ids + market.business_ids, pa.string())
        roles = pa.array(list(ROLES), pa.string())
        n_c = self.n_customers

        def agents(idx: IntArray) -> pa.Array:
            return pa.DictionaryArray.from_arrays(
                pa.array(idx, pa.int32(), mask=idx < 0), agent_ids
            )

        def role_of(idx: IntArray) -> pa.Array:
            return pa.DictionaryArray.from_arrays(
                pa.array((idx >= n_c).astype(np.int8), pa.int8(), mask=idx < 0), roles
            )

        def coded(codes: IntArray, vocab: list[str]) -> pa.Array:
            codes, vocab = canonical_codes(codes, vocab)
            return pa.DictionaryArray.from_arrays(
                pa.array(codes, pa.int32(), mask=codes < 0), pa.array(vocab, pa.string())
            )

        msg = self.ev_message
        events = pa.table(
            {
                "seq": pa.array(np.arange(self.n_events, dtype=np.int64)),
                "time_ms": pa.array(self.ev_time),
                "agent": agents(self.ev_agent),
                "role": role_of(self.ev_agent),
                "action": coded(self.ev_action, list(ACTIONS)),
                "target": agents(self.ev_target),
                "message_id": pa.array(msg, pa.int64(), mask=msg < 0),
                "status": pa.DictionaryArray.from_arrays(
                    pa.array((~self.ev_ok).astype(np.int8)), pa.array(["ok", "rejected"])
                ),
                "note": coded(self.ev_note, self.notes),
                "tokens_in": pa.array(self.ev_tokens_in),
                "tokens_out": pa.array(self.ev_tokens_out),
            }
        )
        prop_of_payment = np.full(len(self.msg_time), -1, np.int64)
        prop_of_payment[self.pay_id] = self.pay_proposal
        messages = pa.table(
            {
                "message_id": pa.array(np.arange(len(self.msg_time), dtype=np.int64)),
                "time_ms": pa.array(self.msg_time),
                "sender": agents(self.msg_sender),
                "recipient": agents(self.msg_recipient),
                "kind": coded(self.msg_kind, list(MESSAGE_KINDS)),
                "content": coded(self.msg_text, self.texts),
                "proposal_id": pa.array(prop_of_payment, pa.int64(), mask=prop_of_payment < 0),
                "tokens": pa.array(self.msg_tokens),
            }
        )
        expiry = self.prop_expiry
        proposals = pa.table(
            {
                "proposal_id": pa.array(self.prop_id),
                "time_ms": pa.array(self.msg_time[self.prop_id]),
                "business": agents(self.msg_sender[self.prop_id]),
                "customer": agents(self.msg_recipient[self.prop_id]),
                "n_items": pa.array(np.diff(self.prop_item_ptr)),
                "total": pa.array(to_dollars(self.prop_total)),
                "expiry_ms": pa.array(expiry, pa.int64(), mask=expiry < 0),
            }
        )
        rows = segment_ids(self.prop_item_ptr)
        proposal_items = pa.table(
            {
                "proposal_id": pa.array(self.prop_id[rows]),
                "item": coded(self.prop_items, market.items),
                "quantity": pa.array(self.prop_qty),
                "unit_price": pa.array(to_dollars(self.prop_unit)),
            }
        )
        payments = pa.table(
            {
                "message_id": pa.array(self.pay_id),
                "time_ms": pa.array(self.msg_time[self.pay_id]),
                "customer": agents(self.msg_sender[self.pay_id]),
                "business": agents(self.msg_recipient[self.pay_id]),
                "proposal_id": pa.array(self.pay_proposal),
                "amount": pa.array(to_dollars(self.pay_amount)),
            }
        )
        srow = segment_ids(self.s_ptr)
        rank = np.arange(len(srow), dtype=np.int64) - self.s_ptr[srow] + 1
        searches = pa.table(
            {
                "search": pa.array(srow),
                "time_ms": pa.array(self.s_time[srow]),
                "agent": agents(self.s_agent[srow]),
                "algorithm": _repeat_strings(self.s_algorithm, srow),
                "limit": pa.array(self.s_limit[srow]),
                "page": pa.array(self.s_page[srow]),
                "query": coded(self.s_query[srow], self.texts),
                "total": pa.array(self.s_total[srow]),
                "rank": pa.array(rank),
                "business": agents(self.s_results + n_c),
            }
        )
        return {
            "events": events,
            "messages": messages,
            "proposals": proposals,
            "proposal_items": proposal_items,
            "payments": payments,
            "searches": searches,
        }


def canonical_codes(codes: IntArray, vocab: list[str]) -> tuple[IntArray, list[str]]:
    """Re-code so the dictionary lists each distinct value used, in order of first use.

    Two engines may number (and duplicate) texts differently; after this the tables are
    identical.
    """
    codes = np.asarray(codes, np.int64)
    used = codes >= 0
    if not used.any():
        return codes, []
    uniq, first = np.unique(codes[used], return_index=True)
    by_first = uniq[np.argsort(first, kind="stable")]
    remap = np.full(max(len(vocab), 1), -1, np.int64)
    values: dict[str, int] = {}
    for code in by_first.tolist():
        remap[code] = values.setdefault(vocab[code], len(values))
    out = np.where(used, remap[np.maximum(codes, 0)], -1)
    return out, list(values)


def _repeat_strings(values: list[str], rows: IntArray) -> pa.Array:
    vocab = sorted(set(values))
    code = {v: i for i, v in enumerate(vocab)}
    codes = np.asarray([code[v] for v in values], dtype=np.int32)[rows]
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(vocab, pa.string()))
