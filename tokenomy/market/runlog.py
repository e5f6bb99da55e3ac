"""What happened in a run, as columns — the common output of both engines.

Agents are numbered in one space: customers ``0 .. C−1`` then businesses ``C .. C+B−1`` (the
*global index*). Events are in canonical order: by time, then phase (0 = an action executes,
2 = an agent ends), then acting agent, then counterparty, then the agent's own action counter.
Because each scripted action takes at least 1 ms of virtual time, a cause always precedes its
effect, and the order does not depend on which engine produced the log.

:meth:`RunLog.tables` turns the log into the Arrow tables written to a run folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from tokenomy.market.dataset import Market, segment_ids
from tokenomy.market.money import to_dollars

IntArray = NDArray[np.int64]
Codes = NDArray[np.integer[Any]]
"""Integer columns that may be stored narrower than int64 (agent indices, action codes)."""

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
    ev_phase: Codes
    ev_agent: Codes
    ev_target: Codes
    ev_action: Codes
    ev_message: IntArray
    ev_ok: NDArray[np.bool_]
    ev_note: IntArray  # index into notes, −1 = none
    ev_tokens_in: IntArray
    ev_tokens_out: IntArray
    notes: list[str]  # distinct values
    # messages, by id (id = position)
    msg_time: IntArray
    msg_sender: Codes
    msg_recipient: Codes
    msg_kind: Codes
    msg_text: IntArray  # index into texts, −1 for proposals and payments
    msg_tokens: IntArray
    texts: list[str]  # distinct values (message contents and search queries)
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
    def proposal_parties(self) -> tuple[Codes, Codes]:
        """(business local index, customer local index) of each proposal."""
        ids = self.prop_id
        return self.msg_sender[ids] - self.n_customers, self.msg_recipient[ids]

    def payment_parties(self) -> tuple[Codes, Codes]:
        """(customer local index, business local index) of each payment."""
        ids = self.pay_id
        return self.msg_sender[ids], self.msg_recipient[ids] - self.n_customers

    # ------------------------------------------------------------------ tables
    def tables(self, market: Market) -> dict[str, pa.Table]:
        """Arrow tables: events, messages, proposals, proposal_items, payments, searches."""
        return {name: build() for name, build in self.table_builders(market).items()}

    def table_builders(self, market: Market) -> dict[str, Callable[[], pa.Table]]:
        """One function per table, so tables can be built (and written) one at a time."""
        return _TableBuilder(self, market).builders()


class _TableBuilder:
    """Builds the Arrow tables of a run log, sharing the (large) vocabularies between them."""

    def __init__(self, log: RunLog, market: Market) -> None:
        self.log = log
        self.market = market
        self.n_c = log.n_customers
        self._agent_ids: pa.Array | None = None

    def builders(self) -> dict[str, Callable[[], pa.Table]]:
        return {
            "events": self.events,
            "messages": self.messages,
            "proposals": self.proposals,
            "proposal_items": self.proposal_items,
            "payments": self.payments,
            "searches": self.searches,
        }

    # -- column helpers
    def agents(self, idx: Codes) -> pa.Array:
        if self._agent_ids is None:
            m = self.market
            self._agent_ids = pa.array(m.customer_ids + m.business_ids, pa.string())
        idx = np.asarray(idx)
        return pa.DictionaryArray.from_arrays(
            pa.array(idx, pa.int32(), mask=idx < 0), self._agent_ids
        )

    def roles(self, idx: Codes) -> pa.Array:
        idx = np.asarray(idx)
        return pa.DictionaryArray.from_arrays(
            pa.array((idx >= self.n_c).astype(np.int8), pa.int8(), mask=idx < 0),
            pa.array(list(ROLES), pa.string()),
        )

    @staticmethod
    def coded(codes: Codes, vocab: list[str] | pa.Array) -> pa.Array:
        codes, values = canonical_codes(codes, vocab)
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32(), mask=codes < 0), values)

    @staticmethod
    def ints(values: IntArray, mask_negative: bool = False) -> pa.Array:
        values = np.asarray(values, np.int64)
        return pa.array(values, pa.int64(), mask=values < 0 if mask_negative else None)

    # -- tables
    def events(self) -> pa.Table:
        log = self.log
        return pa.table(
            {
                "seq": self.ints(np.arange(log.n_events)),
                "time_ms": self.ints(log.ev_time),
                "agent": self.agents(log.ev_agent),
                "role": self.roles(log.ev_agent),
                "action": self.coded(log.ev_action, list(ACTIONS)),
                "target": self.agents(log.ev_target),
                "message_id": self.ints(log.ev_message, mask_negative=True),
                "status": pa.DictionaryArray.from_arrays(
                    pa.array((~log.ev_ok).astype(np.int8)), pa.array(["ok", "rejected"])
                ),
                "note": self.coded(log.ev_note, log.notes),
                "tokens_in": self.ints(log.ev_tokens_in),
                "tokens_out": self.ints(log.ev_tokens_out),
            }
        )

    def messages(self) -> pa.Table:
        log = self.log
        prop_of_payment = np.full(len(log.msg_time), -1, np.int64)
        prop_of_payment[log.pay_id] = log.pay_proposal
        return pa.table(
            {
                "message_id": self.ints(np.arange(len(log.msg_time))),
                "time_ms": self.ints(log.msg_time),
                "sender": self.agents(log.msg_sender),
                "recipient": self.agents(log.msg_recipient),
                "kind": self.coded(log.msg_kind, list(MESSAGE_KINDS)),
                "content": self.coded(log.msg_text, log.texts),
                "proposal_id": self.ints(prop_of_payment, mask_negative=True),
                "tokens": self.ints(log.msg_tokens),
            }
        )

    def proposals(self) -> pa.Table:
        log = self.log
        return pa.table(
            {
                "proposal_id": self.ints(log.prop_id),
                "time_ms": self.ints(log.msg_time[log.prop_id]),
                "business": self.agents(log.msg_sender[log.prop_id]),
                "customer": self.agents(log.msg_recipient[log.prop_id]),
                "n_items": self.ints(np.diff(log.prop_item_ptr)),
                "total": pa.array(to_dollars(log.prop_total)),
                "expiry_ms": self.ints(log.prop_expiry, mask_negative=True),
            }
        )

    def proposal_items(self) -> pa.Table:
        log = self.log
        rows = segment_ids(log.prop_item_ptr)
        return pa.table(
            {
                "proposal_id": self.ints(log.prop_id[rows]),
                "item": self.coded(log.prop_items, self.market.items),
                "quantity": self.ints(log.prop_qty),
                "unit_price": pa.array(to_dollars(log.prop_unit)),
            }
        )

    def payments(self) -> pa.Table:
        log = self.log
        return pa.table(
            {
                "message_id": self.ints(log.pay_id),
                "time_ms": self.ints(log.msg_time[log.pay_id]),
                "customer": self.agents(log.msg_sender[log.pay_id]),
                "business": self.agents(log.msg_recipient[log.pay_id]),
                "proposal_id": self.ints(log.pay_proposal),
                "amount": pa.array(to_dollars(log.pay_amount)),
            }
        )

    def searches(self) -> pa.Table:
        log = self.log
        srow = segment_ids(log.s_ptr)
        rank = np.arange(len(srow), dtype=np.int64) - log.s_ptr[srow] + 1
        return pa.table(
            {
                "search": self.ints(srow),
                "time_ms": self.ints(log.s_time[srow]),
                "agent": self.agents(log.s_agent[srow]),
                "algorithm": _repeat_strings(log.s_algorithm, srow),
                "limit": self.ints(log.s_limit[srow]),
                "page": self.ints(log.s_page[srow]),
                "query": self.coded(log.s_query[srow], log.texts),
                "total": self.ints(log.s_total[srow]),
                "rank": self.ints(rank),
                "business": self.agents(log.s_results + self.n_c),
            }
        )


def canonical_codes(codes: Codes, vocab: list[str] | pa.Array) -> tuple[IntArray, pa.Array]:
    """Re-code so the dictionary lists the values used, in order of first use.

    Two engines may number texts differently; after this the tables are identical. ``vocab``
    must hold distinct values (every vocabulary of a :class:`RunLog` does).
    """
    wide: IntArray = np.asarray(codes, np.int64)
    used = wide >= 0
    if not used.any():
        return wide, pa.array([], pa.string())
    uniq, first = np.unique(wide[used], return_index=True)
    by_first = uniq[np.argsort(first, kind="stable")]
    remap = np.full(len(vocab), -1, np.int64)
    remap[by_first] = np.arange(len(by_first))
    out = np.where(used, remap[np.maximum(wide, 0)], -1)
    if isinstance(vocab, pa.Array):
        return out, vocab.take(pa.array(by_first))
    return out, pa.array([vocab[i] for i in by_first.tolist()], pa.string())


def _repeat_strings(values: list[str], rows: IntArray) -> pa.Array:
    vocab = sorted(set(values))
    code = {v: i for i, v in enumerate(vocab)}
    codes = np.asarray([code[v] for v in values], dtype=np.int32)[rows]
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(vocab, pa.string()))
