"""Merging the logs of a market's customer shards into the one log of the whole market.

A sharded run (:mod:`tokenomy.market.sharded`) splits the customers into contiguous blocks and
runs each block against every business. Each block's log is already in canonical order
(:mod:`tokenomy.market.runlog`), uses the whole market's agent indices, and numbers its own
messages from 0 with its own text vocabulary. :func:`merge_logs` makes the one log the whole
market would have produced:

* **events** — one stable sort of the concatenated blocks on the canonical key (time, phase,
  agent, target) packed into one integer. Every event names its customer as agent or target
  and the blocks' customers are disjoint, so no two blocks share a key and the merged order is
  the single run's order; the sort runs over already-sorted blocks, which NumPy's stable sort
  merges in near-linear time;
* **messages** — renumbered by their position in the merged order (a message's id is its
  rank among message events in canonical order, as in the single run); proposals and payments
  follow their messages, and payments their proposals;
* **payment tokens** — a payment's text names its proposal's message id ("Payment for
  proposal 1234."), so its token estimate (the scripted agents' one character-count estimate)
  depends on the numbering: it is recomputed from the new id, as the single run computes it;
* **texts and notes** — the blocks' vocabularies are concatenated and de-duplicated, and every
  text reference is re-coded. Blocks may pass 64-bit fingerprints of their texts
  (:func:`text_keys`, computed in parallel where the texts were made); the merge then groups
  texts by fingerprint with one sort and checks every group's texts for equality, so a
  collision costs time (a dict pass), never a wrong result;
* **searches** — re-sorted by (time, agent), as the single run lists them.

Everything is array work — no Python loop runs over events or messages — except building the
merged text vocabulary, one list pass over the distinct texts.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.market.dataset import _ptr, segment_ids
from tokenomy.market.dialect import render_payment
from tokenomy.market.money import digits
from tokenomy.market.runlog import RunLog
from tokenomy.prices import tokens_from_chars

IntArray = NDArray[np.int64]

_MAX_KEY = (1 << 63) - 1
_PAYMENT_CHARS = len(render_payment(0)) - 1  # a payment's text, less the id's digits


def globalize(log: RunLog, first_customer: int, total_customers: int) -> RunLog:
    """Re-index a block's log from its own agent indices to the whole market's.

    The block's customers ``0 .. n−1`` become ``first_customer .. first_customer+n−1`` and its
    businesses ``n + b`` become ``total_customers + b``. Both maps preserve order (and keep
    customers below businesses), so a log in canonical order stays in canonical order.

    Args:
        log: the block's log (:func:`tokenomy.market.batch.run_batch` on the block's market).
        first_customer: the whole market's index of the block's first customer.
        total_customers: the whole market's number of customers.
    """
    n = log.n_customers

    def remap(idx: NDArray[np.integer[Any]]) -> NDArray[np.integer[Any]]:
        wide = np.asarray(idx, np.int64)
        out = np.where(wide < n, wide + first_customer, wide - n + total_customers)
        return np.where(wide < 0, -1, out).astype(np.asarray(idx).dtype)

    return RunLog(
        **{
            **_fields(log),
            "n_customers": total_customers,
            "ev_agent": remap(log.ev_agent),
            "ev_target": remap(log.ev_target),
            "msg_sender": remap(log.msg_sender),
            "msg_recipient": remap(log.msg_recipient),
            "s_agent": remap(log.s_agent),
        }
    )


def text_keys(texts: Sequence[str]) -> NDArray[np.uint64]:
    """64-bit BLAKE2b fingerprints of ``texts`` (for :func:`merge_logs`)."""
    blake = hashlib.blake2b
    return np.fromiter(
        (int.from_bytes(blake(t.encode(), digest_size=8).digest(), "little") for t in texts),
        np.uint64,
        len(texts),
    )


def merge_logs(parts: Sequence[RunLog], keys: Sequence[NDArray[np.uint64]] | None = None) -> RunLog:
    """One log from the logs of disjoint customer blocks of one market (see the module doc).

    Args:
        parts: the blocks' logs, in block order, each with the whole market's agent indices
            (:func:`globalize`), in canonical order, with its own message ids and vocabularies.
        keys: optional :func:`text_keys` of each part's ``texts`` (faster de-duplication).

    Returns:
        The merged log: canonical order, message ids ``0 ..`` in canonical order, one
        vocabulary of texts and one of notes. Its arrays are new (never views of the parts',
        which may live in a store that goes away, such as Ray's).

    Raises:
        ValueError: when the parts do not describe the same market.
    """
    if not parts:
        raise ValueError("merge_logs needs at least one log")
    first = parts[0]
    for p in parts[1:]:
        if (p.n_customers, p.n_businesses) != (first.n_customers, first.n_businesses):
            raise ValueError(
                "merge_logs: logs of different markets "
                f"({p.n_customers}×{p.n_businesses} vs {first.n_customers}×{first.n_businesses})"
            )
    if keys is not None and [len(k) for k in keys] != [len(p.texts) for p in parts]:
        raise ValueError("merge_logs: one text key per text of each log expected")
    texts, text_maps = _merge_vocab([p.texts for p in parts], keys)
    notes, note_maps = _merge_vocab([p.notes for p in parts])

    # ------------------------------------------------------------------ events
    ev_sizes = [p.n_events for p in parts]
    ev_time = np.concatenate([p.ev_time for p in parts])
    ev_phase = np.concatenate([p.ev_phase for p in parts])
    ev_agent = np.concatenate([p.ev_agent for p in parts])
    ev_target = np.concatenate([p.ev_target for p in parts])
    order = _canonical_order(ev_time, ev_phase, ev_agent, ev_target, first)
    part_of = np.repeat(np.arange(len(parts), dtype=np.int64), ev_sizes)[order]
    ev_time, ev_phase = ev_time[order], ev_phase[order]
    ev_agent, ev_target = ev_agent[order], ev_target[order]

    # messages: the concatenated position of each message (old id + its part's offset), and
    # its new id = its rank among message events in the merged order
    msg_sizes = [len(p.msg_time) for p in parts]
    msg_base = _ptr(msg_sizes)
    old_msg = np.concatenate([p.ev_message for p in parts])[order]
    is_msg = old_msg >= 0
    concat_pos = msg_base[part_of[is_msg]] + old_msg[is_msg]
    n_msg = int(msg_base[-1])
    new_id = np.full(n_msg, -1, np.int64)
    new_id[concat_pos] = np.arange(len(concat_pos), dtype=np.int64)
    if (new_id < 0).any():
        raise ValueError("merge_logs: a message has no event (logs are not run logs)")
    ev_message = np.full(len(old_msg), -1, np.int64)
    ev_message[is_msg] = np.arange(len(concat_pos), dtype=np.int64)

    note_codes = np.concatenate(
        [_recode(p.ev_note, m) for p, m in zip(parts, note_maps, strict=True)]
    )[order]

    def events(name: str) -> NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])[order]

    # ------------------------------------------------------------------ messages
    def messages(name: str) -> NDArray[Any]:
        return np.asarray(np.concatenate([getattr(p, name) for p in parts])[concat_pos])

    msg_text = np.concatenate(
        [_recode(p.msg_text, m) for p, m in zip(parts, text_maps, strict=True)]
    )[concat_pos]

    # ------------------------------------------------------------------ proposals, payments
    def renumber(name: str) -> IntArray:
        ids = [np.asarray(getattr(p, name), np.int64) + msg_base[i] for i, p in enumerate(parts)]
        return np.asarray(new_id[np.concatenate(ids)], np.int64)

    prop_id = renumber("prop_id")
    p_order = np.argsort(prop_id, kind="stable")
    prop_ptr = _ptr(np.concatenate([np.diff(p.prop_item_ptr) for p in parts]))
    line_pos = _rows(prop_ptr, p_order)

    def lines(name: str) -> NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])[line_pos]

    pay_id = renumber("pay_id")
    pay_order = np.argsort(pay_id, kind="stable")
    pay_id, pay_proposal = pay_id[pay_order], renumber("pay_proposal")[pay_order]
    msg_tokens = messages("msg_tokens")
    ev_tokens_out = events("ev_tokens_out")
    pay_tokens = tokens_from_chars(_PAYMENT_CHARS + digits(pay_proposal))
    msg_tokens[pay_id] = pay_tokens
    ev_tokens_out[np.flatnonzero(is_msg)[pay_id]] = pay_tokens

    def pays(name: str) -> NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])[pay_order]

    # ------------------------------------------------------------------ searches
    s_time = np.concatenate([p.s_time for p in parts])
    s_agent = np.concatenate([p.s_agent for p in parts])
    s_order = np.lexsort((s_agent, s_time))
    s_ptr = _ptr(np.concatenate([np.diff(p.s_ptr) for p in parts]))
    s_algorithm = list(itertools.chain.from_iterable(p.s_algorithm for p in parts))
    one_algorithm = len(set(s_algorithm)) == 1  # always, in a scripted run

    def searches(name: str) -> NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])[s_order]

    s_query = np.concatenate(
        [_recode(p.s_query, m) for p, m in zip(parts, text_maps, strict=True)]
    )[s_order]

    return RunLog(
        n_customers=first.n_customers,
        n_businesses=first.n_businesses,
        ev_time=ev_time,
        ev_phase=ev_phase,
        ev_agent=ev_agent,
        ev_target=ev_target,
        ev_action=events("ev_action"),
        ev_message=ev_message,
        ev_ok=events("ev_ok"),
        ev_note=note_codes,
        ev_tokens_in=events("ev_tokens_in"),
        ev_tokens_out=ev_tokens_out,
        notes=notes,
        msg_time=messages("msg_time"),
        msg_sender=messages("msg_sender"),
        msg_recipient=messages("msg_recipient"),
        msg_kind=messages("msg_kind"),
        msg_text=msg_text,
        msg_tokens=msg_tokens,
        texts=texts,
        prop_id=prop_id[p_order],
        prop_total=np.concatenate([p.prop_total for p in parts])[p_order],
        prop_expiry=np.concatenate([p.prop_expiry for p in parts])[p_order],
        prop_item_ptr=_ptr(np.diff(prop_ptr)[p_order]),
        prop_items=lines("prop_items"),
        prop_qty=lines("prop_qty"),
        prop_unit=lines("prop_unit"),
        pay_id=pay_id,
        pay_proposal=pay_proposal,
        pay_amount=pays("pay_amount"),
        s_time=s_time[s_order],
        s_agent=s_agent[s_order],
        s_algorithm=(s_algorithm if one_algorithm else [s_algorithm[i] for i in s_order.tolist()]),
        s_limit=searches("s_limit"),
        s_page=searches("s_page"),
        s_query=s_query,
        s_total=searches("s_total"),
        s_ptr=_ptr(np.diff(s_ptr)[s_order]),
        s_results=np.concatenate([p.s_results for p in parts])[_rows(s_ptr, s_order)],
        extra=_merge_extra(parts),
    )


def _fields(log: RunLog) -> dict[str, Any]:
    return {name: getattr(log, name) for name in log.__dataclass_fields__}


def _canonical_order(
    time: IntArray,
    phase: NDArray[np.integer[Any]],
    agent: NDArray[np.integer[Any]],
    target: NDArray[np.integer[Any]],
    log: RunLog,
) -> IntArray:
    """Stable permutation sorting events by (time, phase, agent, target)."""
    if len(time) == 0:
        return np.zeros(0, np.int64)
    n_agents = log.n_customers + log.n_businesses + 1  # target −1 is shifted to 0
    t0, t1 = int(time.min()), int(time.max())
    n_phase = int(phase.max()) + 1
    if (t1 - t0 + 1) * n_phase * n_agents * n_agents <= _MAX_KEY:
        key = (np.asarray(time, np.int64) - t0) * n_phase + phase
        key = (key * n_agents + agent) * n_agents + (np.asarray(target, np.int64) + 1)
        return np.argsort(key, kind="stable")
    return np.lexsort((target, agent, phase, time)).astype(np.int64)


def _merge_vocab(
    vocabs: list[list[str]], keys: Sequence[NDArray[np.uint64]] | None = None
) -> tuple[list[str], list[IntArray]]:
    """One vocabulary (first occurrence order) and, per input, the code of each of its values.

    With ``keys``, texts are grouped by fingerprint (one sort) and each group is checked for
    equal texts; without them (or on a collision) a dict de-duplicates — one hash per text,
    faster than an Arrow hash encoding, which must first copy the strings into Arrow buffers.
    """
    bounds = _ptr([len(v) for v in vocabs])
    if keys is not None:
        flat = [v for vocab in vocabs for v in vocab]
        _, first, group = np.unique(np.concatenate(keys), return_index=True, return_inverse=True)
        group = group.reshape(-1)
        shared = np.flatnonzero(np.bincount(group)[group] > 1)
        rep = first[group[shared]]
        if all(flat[i] == flat[r] for i, r in zip(shared.tolist(), rep.tolist(), strict=True)):
            by_first = np.argsort(first, kind="stable")
            rank = np.empty(len(first), np.int64)
            rank[by_first] = np.arange(len(first), dtype=np.int64)
            codes = rank[group]
            merged = [flat[i] for i in first[by_first].tolist()]
            return merged, [codes[bounds[i] : bounds[i + 1]] for i in range(len(vocabs))]
    index: dict[str, int] = {}
    maps = [
        np.fromiter((index.setdefault(v, len(index)) for v in vocab), np.int64, len(vocab))
        for vocab in vocabs
    ]
    return list(index), maps


def _recode(codes: NDArray[np.integer[Any]], remap: IntArray) -> IntArray:
    """Codes into a part's vocabulary as codes into the merged one (−1 stays −1)."""
    wide = np.asarray(codes, np.int64)
    if len(remap) == 0:
        return wide
    return np.where(wide >= 0, remap[np.maximum(wide, 0)], -1)


def _rows(ptr: IntArray, rows: IntArray) -> IntArray:
    """Positions of the values of CSR ``rows`` (in that order)."""
    counts = ptr[rows + 1] - ptr[rows]
    starts = _ptr(counts)
    which = segment_ids(starts)
    return np.asarray(ptr[rows][which] + np.arange(len(which)) - starts[which], np.int64)


def _merge_extra(parts: Sequence[RunLog]) -> dict[str, object]:
    extra: dict[str, object] = {}
    for p in parts:
        extra.update(p.extra)
    return extra
