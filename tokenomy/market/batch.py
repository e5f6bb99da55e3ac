"""The batch engine: the scripted policies' run, in closed form, with array operations.

With scripted policies a customer's episode depends on nobody but the businesses it contacts,
and a scripted business answers each inquiry on its own. Every event time then follows from a
few formulas (times in virtual ms; ``s`` the search, ``m`` the time per inquiry, ``r`` a
business's response time, ``p`` the gap between its reply and its proposal):

* inquiry ``j`` (1-based) of customer ``c``: ``t_j = s + j·m``; deadline ``d = s + k·m +
  patience``;
* reply ``T = t_j + r``; proposal ``P = T + p`` (if the business carries a requested item);
* the customer decides at ``D = max_j answer_j`` if every answer came by ``d``, else at ``d``
  (``first`` mode: at the first acceptable proposal), and pays ``decide_ms`` later.

So instead of one Python step per event, this module computes all events of all customers as
NumPy arrays and sorts them once into the canonical order of :mod:`tokenomy.market.runlog`.
Valuation and choice use the same functions as the event engine (:mod:`.policies.choice`), and
the test suite checks that the two engines produce identical logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tokenomy.market.dataset import Market, _ptr, derived, segment_ids
from tokenomy.market.dialect import render_inquiry, render_reply, render_search_line
from tokenomy.market.money import digits, dollar_chars
from tokenomy.market.policies import choice
from tokenomy.market.policies.params import BusinessParams, CustomerParams
from tokenomy.market.policies.persuasion import persuasion_scores
from tokenomy.market.policies.scripted import offer_prices
from tokenomy.market.runlog import (
    A_END,
    A_PAYMENT,
    A_PROPOSAL,
    A_SEARCH,
    A_TEXT,
    K_PAYMENT,
    K_PROPOSAL,
    K_TEXT,
    PHASE_ACTION,
    PHASE_END,
    RunLog,
)
from tokenomy.market.search import SearchService
from tokenomy.prices import tokens_from_chars
from tokenomy.rng import standardized_noise, uniform

IntArray = NDArray[np.int64]
Progress = Callable[[str], None]

NOTES = ["no_results", "no_acceptable_offer", "paid"]
_N_NO_RESULTS, _N_NO_OFFER, _N_PAID = range(3)

_PROPOSAL_HEAD = len("Order proposal: ")
_PROPOSAL_TAIL = len(". Total $") + 1
_LINE_FIXED = len(" x ") + len(" at $")
_PAYMENT_FIXED = len("Payment for proposal ") + 1


def _expand(ptr: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """Expand CSR rows: (index into ``rows``, position) for every value of each row."""
    counts = ptr[rows + 1] - ptr[rows]
    which = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    starts = _ptr(counts)
    pos = np.repeat(ptr[rows], counts) + np.arange(len(which), dtype=np.int64) - starts[which]
    return which, pos


def _search_line_chars(market: Market) -> IntArray:
    """Per business, the length of its search-result line at rank 1, less one digit."""
    return np.asarray(
        [
            len(
                render_search_line(
                    1,
                    market.business_ids[b],
                    market.business_names[b],
                    float(market.ratings[b]),
                    market.descriptions[b],
                )
            )
            - 1
            for b in range(market.n_businesses)
        ],
        dtype=np.int64,
    )


def _persuasion(market: Market) -> NDArray[np.float64]:
    return persuasion_scores(market.descriptions)


def run_batch(
    market: Market,
    customer: CustomerParams,
    business: BusinessParams,
    *,
    search_algorithm: str,
    limit: int,
    seed: int,
    search: SearchService | None = None,
    arrivals: IntArray | None = None,
    context_tokens: int = 0,
    progress: Progress | None = None,
    customer_offset: int = 0,
    total_customers: int | None = None,
) -> RunLog:
    """Run a market of scripted agents and return its log (identical to the event engine's).

    Args:
        market: the data.
        customer: parameters shared by every customer.
        business: parameters shared by every business.
        search_algorithm: the algorithm customers search with.
        limit: consideration-set size.
        seed: the run's seed.
        search: search service to reuse.
        arrivals: start time of each customer (ms); default all at 0.
        context_tokens: input tokens charged per action.
        progress: optional callback told the name of each stage as it starts.
        customer_offset: when ``market`` holds one block of a larger market's customers (a
            shard, see :mod:`tokenomy.market.sharded`), the larger market's index of its first
            customer. Random draws are keyed by the larger market's indices (customer
            ``customer_offset + c``, business ``total_customers + b``), so a shard draws what
            the whole market would; the log itself keeps this market's indices.
        total_customers: the larger market's number of customers (default: this market's).
    """

    def stage(name: str) -> None:
        if progress is not None:
            progress(name)

    n_c, n_b = market.n_customers, market.n_businesses
    cust = np.arange(n_c, dtype=np.int64)
    # keys of the random draws: indices in the whole market (equal to ours unless a shard)
    key_c0 = customer_offset
    key_b0 = n_c if total_customers is None else total_customers
    arrive = np.zeros(n_c, np.int64) if arrivals is None else np.asarray(arrivals, np.int64)
    service = search or SearchService(market, seed)
    cp, bp = customer, business

    # ---------------------------------------------------------------- search
    stage("search")
    t_search = arrive + cp.search_ms
    if search_algorithm == "filtered":
        queries = [""] * n_c
    elif cp.query == "request":
        queries = list(market.requests)
    else:
        queries = [
            ", ".join(market.items[i] for i in market.customer_items(c)[0]) for c in range(n_c)
        ]
    ranked = service.search_batch(search_algorithm, cust, queries, limit=limit, page=1)
    n_res = np.diff(ranked.ptr)
    res_row = segment_ids(ranked.ptr)
    res_rank = np.arange(len(res_row), dtype=np.int64) - ranked.ptr[res_row] + 1
    line_chars = derived(market, "batch/search_line_chars", _search_line_chars)[ranked.businesses]
    line_chars = line_chars + digits(res_rank)
    search_chars = np.bincount(res_row, weights=line_chars, minlength=n_c).astype(np.int64)
    query_chars = np.fromiter((len(q) for q in queries), dtype=np.int64, count=n_c)

    # ---------------------------------------------------------------- inquiries
    stage("messages")
    k = n_res if cp.contacts is None else np.minimum(n_res, cp.contacts)
    pair_ptr = _ptr(k)
    pc = segment_ids(pair_ptr)
    pj = np.arange(len(pc), dtype=np.int64) - pair_ptr[pc]
    pb = ranked.businesses[ranked.ptr[pc] + pj]
    n_pairs = len(pc)
    t_inq = t_search[pc] + (pj + 1) * cp.message_ms
    deadline = t_search + k * cp.message_ms + cp.patience_ms

    inquiry_text = {}
    for c in np.flatnonzero(k > 0).tolist():
        items, _ = market.customer_items(c)
        inquiry_text[c] = render_inquiry(
            [market.items[i] for i in items],
            [market.amenities[a] for a in market.customer_amenities(c)],
            cp.ask_discount,
        )

    # ---------------------------------------------------------------- replies and proposals
    stage("replies")
    delay = np.full(n_pairs, bp.response_ms, np.int64)
    if bp.jitter_ms:
        u = uniform(seed, "business/jitter", key_b0 + pb, key_c0 + pc)
        delay += (u * (bp.jitter_ms + 1)).astype(np.int64)
    t_reply = t_inq + delay
    # requested items of each pair, and amenities
    iw, ipos = _expand(market.c_item_ptr, pc)
    item = market.c_items[ipos]
    found, posted = market.menu_price(pb[iw], item)
    n_found = np.bincount(iw, weights=found, minlength=n_pairs).astype(np.int64)
    n_req = (market.c_item_ptr[pc + 1] - market.c_item_ptr[pc]).astype(np.int64)
    aw, apos = _expand(market.c_amen_ptr, pc)
    amen = market.c_amens[apos]
    has_amen = market.b_amenities[pb[aw], amen] if len(aw) else np.zeros(0, bool)
    amen_ok = np.bincount(aw[~has_amen], minlength=n_pairs) == 0
    has_any = n_found > 0

    reply_code, reply_texts = _reply_texts(market, pc, iw, item, found, aw, amen, has_amen, has_any)

    prop_pairs = np.flatnonzero(has_any)
    t_prop = t_reply + bp.proposal_ms  # meaningful where has_any
    # proposal lines: the found items, in request order
    line_mask = found
    line_pair = iw[line_mask]
    line_item = item[line_mask]
    discount = np.full(len(line_pair), bp.discount and cp.ask_discount)
    line_unit = offer_prices(
        posted[line_mask], market.min_price_factor[pb[line_pair]], bp.concession, discount
    )
    total = np.zeros(n_pairs, np.int64)
    np.add.at(total, line_pair, line_unit)
    expiry = np.full(n_pairs, -1, np.int64) if bp.ttl_ms is None else t_prop + bp.ttl_ms
    item_len = np.fromiter((len(s) for s in market.items), dtype=np.int64, count=market.n_items)
    line_chars = 1 + _LINE_FIXED + item_len[line_item] + dollar_chars(line_unit)
    prop_chars = (
        _PROPOSAL_HEAD
        + np.bincount(line_pair, weights=line_chars, minlength=n_pairs).astype(np.int64)
        + 2 * (n_found - 1)
        + _PROPOSAL_TAIL
        + dollar_chars(total)
    )

    # ---------------------------------------------------------------- decisions
    stage("decisions")
    answer = np.where(has_any, t_prop, t_reply)
    late = answer > deadline[pc]
    any_late = np.bincount(pc[late], minlength=n_c) > 0
    last_answer = np.full(n_c, -1, np.int64)
    np.maximum.at(last_answer, pc, answer)
    decide_at = np.where(any_late, deadline, last_answer)

    first_mode = np.full(n_c, cp.mode == "first")
    if cp.mode != "first" and cp.first_bias > 0:
        first_mode |= uniform(seed, "customer/first_bias", key_c0 + cust) < cp.first_bias
    met = choice.needs_met(n_found, n_req, amen_ok)
    value = market.value_micro[pc]
    z = standardized_noise(seed, "customer/noise", key_c0 + pc, key_b0 + pb)
    # the scores only matter to credulous customers (0·score adds exactly 0.0)
    persuasion = derived(market, "persuasion", _persuasion)[pb] if cp.credulity else 0.0
    score = choice.perceived(value, total, met, z, cp.noise, persuasion, cp.credulity)
    received = has_any & (t_prop <= decide_at[pc])
    fm = first_mode[pc]
    pay_time_first = t_prop + cp.decide_ms
    pay_time_best = decide_at[pc] + cp.decide_ms
    ok_first = received & fm & choice.payable(met, score, expiry, pay_time_first)
    ok_best = received & ~fm & choice.payable(met, score, expiry, pay_time_best)
    arrival_key = t_prop * max(n_b, 1) + pb
    chosen_first = choice.pick_first(pc, arrival_key, ok_first, n_c)
    tiebreak = uniform(seed, "customer/tiebreak", key_c0 + pc, key_b0 + pb)
    chosen_best = choice.pick_best(pc, score, tiebreak, ok_best, n_c)
    chosen = np.where(first_mode, chosen_first, chosen_best)
    payer = np.flatnonzero(chosen >= 0)
    pay_pair = chosen[payer]
    pay_time = np.where(first_mode[payer], t_prop[pay_pair], decide_at[payer]) + cp.decide_ms

    end_time = np.where(k > 0, decide_at, t_search)
    end_note = np.where(k > 0, _N_NO_OFFER, _N_NO_RESULTS)
    end_time[payer] = pay_time
    end_note[payer] = _N_PAID

    # ---------------------------------------------------------------- events
    stage("log")
    # free what the log does not need before building it (the log is the memory peak)
    del iw, ipos, item, found, posted, aw, apos, amen, has_amen, z, score, tiebreak
    del ok_first, ok_best, arrival_key, received, answer, late
    i32 = np.int32
    kinds = [  # (time, agent, target, action, message kind or -1)
        (t_search, cust, np.full(n_c, -1), A_SEARCH, -1),
        (t_inq, pc, n_c + pb, A_TEXT, K_TEXT),
        (t_reply, n_c + pb, pc, A_TEXT, K_TEXT),
        (t_prop[prop_pairs], n_c + pb[prop_pairs], pc[prop_pairs], A_PROPOSAL, K_PROPOSAL),
        (pay_time, payer, n_c + pb[pay_pair], A_PAYMENT, K_PAYMENT),
    ]
    sizes = [len(x[0]) for x in kinds]
    ev_time = np.concatenate([x[0] for x in kinds] + [end_time]).astype(np.int64)
    ev_agent = np.concatenate([x[1].astype(i32) for x in kinds] + [cust.astype(i32)])
    ev_target = np.concatenate([x[2].astype(i32) for x in kinds] + [np.full(n_c, -1, i32)])
    del kinds
    block = np.repeat(np.arange(len(sizes) + 1, dtype=np.int8), [*sizes, n_c])
    ev_phase = np.where(block == len(sizes), PHASE_END, PHASE_ACTION).astype(np.int8)
    order = np.lexsort((ev_target, ev_agent, ev_phase, ev_time))
    ev_time, ev_agent, ev_target = ev_time[order], ev_agent[order], ev_target[order]
    ev_phase, block = ev_phase[order], block[order]
    starts = _ptr([*sizes, n_c])
    source = (order - starts[block]).astype(i32)
    del order
    action_of = np.asarray([A_SEARCH, A_TEXT, A_TEXT, A_PROPOSAL, A_PAYMENT, A_END], np.int8)
    kind_of = np.asarray([-1, K_TEXT, K_TEXT, K_PROPOSAL, K_PAYMENT, -1], np.int8)
    ev_action = action_of[block]
    ev_kind = kind_of[block]

    is_msg = ev_kind >= 0
    ev_message = np.where(is_msg, np.cumsum(is_msg) - 1, -1)
    ids_of = []
    for blk, size in enumerate(sizes):
        ids = np.empty(size, np.int64)
        sel = block == blk
        ids[source[sel]] = ev_message[sel]
        ids_of.append(ids)
    prop_id_of, pay_id = ids_of[3], ids_of[4]
    prop_id = np.full(n_pairs, -1, np.int64)
    prop_id[prop_pairs] = prop_id_of
    pay_prop = prop_id[pay_pair]

    # tokens
    inq_tok = np.zeros(n_c, np.int64)
    for c, text in inquiry_text.items():
        inq_tok[c] = -(-len(text) // 4)
    reply_tok = tokens_from_chars(
        np.fromiter((len(t) for t in reply_texts), np.int64, len(reply_texts))
    )[reply_code]
    prop_tok = tokens_from_chars(prop_chars[prop_pairs])
    pay_tok = tokens_from_chars(_PAYMENT_FIXED + digits(pay_prop))
    tok_out = [tokens_from_chars(query_chars), inq_tok[pc], reply_tok, prop_tok, pay_tok]
    tok_in = [tokens_from_chars(search_chars)] + [np.zeros(s, np.int64) for s in sizes[1:]]
    ev_tokens_out = _gather(tok_out, block, source, n_c)
    ev_tokens_in = _gather(tok_in, block, source, n_c) + np.where(
        ev_phase == PHASE_ACTION, context_tokens, 0
    )
    ev_note = np.where(block == len(sizes), end_note[np.minimum(source, n_c - 1)], -1)

    # ---------------------------------------------------------------- messages
    n_msg = int(is_msg.sum())
    msg_time = ev_time[is_msg]
    msg_sender = ev_agent[is_msg]
    msg_recipient = ev_target[is_msg]
    msg_kind = ev_kind[is_msg]
    msg_block = block[is_msg]
    msg_source = source[is_msg]
    # one code per distinct text (the RunLog invariant), shared by messages and queries
    text_code: dict[str, int] = {}
    inq_code = np.full(n_c, -1, np.int64)
    for c, text in inquiry_text.items():
        inq_code[c] = text_code.setdefault(text, len(text_code))
    reply_of = np.fromiter(
        (text_code.setdefault(t, len(text_code)) for t in reply_texts), np.int64, len(reply_texts)
    )
    query_code = np.fromiter(
        (text_code.setdefault(q, len(text_code)) for q in queries), np.int64, n_c
    )
    msg_text = np.full(n_msg, -1, np.int64)
    sel = msg_block == 1
    msg_text[sel] = inq_code[pc[msg_source[sel]]]
    sel = msg_block == 2
    msg_text[sel] = reply_of[reply_code[msg_source[sel]]]
    msg_tokens = ev_tokens_out[is_msg]
    texts = list(text_code)
    del text_code

    # proposals (in id order)
    prop_order = np.argsort(prop_id_of, kind="stable")
    p_pairs = prop_pairs[prop_order]
    lw_order = np.argsort(prop_id[line_pair], kind="stable")  # lines grouped by proposal id
    lp = line_pair[lw_order]
    prop_item_ptr = _ptr(n_found[p_pairs])
    pay_order = np.argsort(pay_id, kind="stable")
    # searches in canonical (time, agent) order
    s_order = np.lexsort((cust, t_search))
    _, s_pos = _expand(ranked.ptr, s_order)

    stage("done")
    return RunLog(
        n_customers=n_c,
        n_businesses=n_b,
        ev_time=ev_time,
        ev_phase=ev_phase.astype(np.int64),
        ev_agent=ev_agent.astype(np.int64),
        ev_target=ev_target,
        ev_action=ev_action,
        ev_message=ev_message,
        ev_ok=np.ones(len(ev_time), bool),
        ev_note=ev_note.astype(np.int64),
        ev_tokens_in=ev_tokens_in,
        ev_tokens_out=ev_tokens_out,
        notes=list(NOTES),
        msg_time=msg_time,
        msg_sender=msg_sender.astype(np.int64),
        msg_recipient=msg_recipient,
        msg_kind=msg_kind,
        msg_text=msg_text,
        msg_tokens=msg_tokens,
        texts=texts,
        prop_id=prop_id[p_pairs],
        prop_total=total[p_pairs],
        prop_expiry=expiry[p_pairs],
        prop_item_ptr=prop_item_ptr,
        prop_items=line_item[lw_order],
        prop_qty=np.ones(len(lp), np.int64),
        prop_unit=line_unit[lw_order],
        pay_id=pay_id[pay_order],
        pay_proposal=pay_prop[pay_order],
        pay_amount=total[pay_pair][pay_order],
        s_time=t_search[s_order],
        s_agent=s_order.astype(np.int64),
        s_algorithm=[search_algorithm] * n_c,
        s_limit=np.full(n_c, limit, np.int64),
        s_page=np.ones(n_c, np.int64),
        s_query=query_code[s_order],
        s_total=ranked.totals.astype(np.int64)[s_order],
        s_ptr=_ptr(n_res[s_order]),
        s_results=ranked.businesses[s_pos],
    )


def _gather(
    parts: list[IntArray],
    block: NDArray[np.integer[Any]],
    source: NDArray[np.integer[Any]],
    n_end: int,
) -> IntArray:
    """Per sorted event, the value from ``parts[block][source]`` (0 for end events)."""
    flat = np.concatenate([*parts, np.zeros(n_end, np.int64)])
    offsets = _ptr([len(p) for p in parts] + [n_end])
    return np.asarray(flat[offsets[block] + source], dtype=np.int64)


def _reply_texts(
    market: Market,
    pc: IntArray,
    iw: IntArray,
    item: IntArray,
    found: NDArray[np.bool_],
    aw: IntArray,
    amen: IntArray,
    has_amen: NDArray[np.bool_],
    has_any: NDArray[np.bool_],
) -> tuple[IntArray, list[str]]:
    """Reply text of every pair, rendered once per distinct (customer, answer pattern)."""
    n_pairs = len(pc)
    n_req = np.bincount(iw, minlength=n_pairs)
    n_am = np.bincount(aw, minlength=n_pairs)
    width = int((n_req + n_am).max()) if n_pairs else 0
    if width <= 40:
        ipos = np.arange(len(iw)) - _ptr(n_req)[iw]
        apos = np.arange(len(aw)) - _ptr(n_am)[aw] + n_req[aw]
        bits = np.zeros(n_pairs, np.int64)
        np.add.at(bits, iw[found], np.left_shift(1, ipos[found]))
        np.add.at(bits, aw[has_amen], np.left_shift(1, apos[has_amen]))
        key = pc * (1 << (width + 1)) + bits * 2 + has_any
        _, reps, code = np.unique(key, return_index=True, return_inverse=True)
    else:  # pragma: no cover - customers with more than 40 needs: render every pair
        code = np.arange(n_pairs)
        reps = code
    iptr, aptr = _ptr(n_req), _ptr(n_am)
    texts = []
    for r in reps.tolist():
        items = [(market.items[item[j]], bool(found[j])) for j in range(iptr[r], iptr[r + 1])]
        amens = [
            (market.amenities[amen[j]], bool(has_amen[j])) for j in range(aptr[r], aptr[r + 1])
        ]
        texts.append(render_reply(items, amens, bool(has_any[r])))
    return np.asarray(code, np.int64).reshape(-1), texts
