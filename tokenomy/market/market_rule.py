"""A deterministic stand-in for a chat model that plays the marketplace through our prompts.

:func:`answer` reads the JSON state block of a tokenomy market prompt
(:mod:`tokenomy.market.policies.prompts`) and answers the way a sensible model would, as the
JSON the structured output asks for:

* **customer** — search with the request; then message the first ``contacts`` results of the
  latest search (``contacts`` from the state, default 3) asking, in the inquiry format, whether
  they have the items and amenities; then pay the cheapest proposal (ties: the lowest message
  id) that contains every requested item, from a business that confirmed every required
  amenity (``<amenity>: yes`` in its messages), is not expired or rejected, and costs less than
  the principal's value; otherwise finish without buying.
* **business** — read the requested items and amenities from the customer's last message (the
  inquiry format, or else the menu items and amenities it mentions); if it has every item,
  propose them (quantity 1, posted prices) and state its amenities (yes/no each) in the reply;
  otherwise reply which items it lacks.

With it, LLM policies run a whole market through the OpenAI-compatible test server
(:mod:`tokenomy.llm.testserver`) or in-process (:class:`tokenomy.llm.ScriptedChat`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tokenomy.llm.protocol import ChatRequest
from tokenomy.market.dialect import parse_inquiry, render_inquiry, render_reply
from tokenomy.market.policies.prompts import BUSINESS_MARKER, CUSTOMER_MARKER, read_state

DEFAULT_CONTACTS = 3


def _side(request: ChatRequest) -> str | None:
    for message in request.messages:
        if message.role == "system":
            if message.content.startswith(CUSTOMER_MARKER):
                return "customer"
            if message.content.startswith(BUSINESS_MARKER):
                return "business"
    return None


def _state(request: ChatRequest) -> dict[str, Any] | None:
    for message in reversed(request.messages):
        if message.role == "user":
            state = read_state(message.content)
            if state is not None:
                return state
    return None


def is_market_prompt(request: ChatRequest) -> bool:
    """Whether ``request`` is one of tokenomy's market prompts (marker and state block)."""
    return _side(request) is not None and _state(request) is not None


def answer(request: ChatRequest) -> str:
    """The rule's JSON answer to a market prompt.

    Raises:
        ValueError: ``request`` is not a market prompt.
    """
    side, state = _side(request), _state(request)
    if side is None or state is None:
        raise ValueError("not a tokenomy market prompt (no marker or no state block)")
    decision = customer_decision(state) if side == "customer" else business_decision(state)
    return json.dumps(decision, ensure_ascii=False)


# ---------------------------------------------------------------------- customer


def _confirmed(texts: list[str], amenities: list[str]) -> bool:
    """Every amenity is answered ``<amenity>: yes`` in one of the texts."""
    return all(
        any(re.search(re.escape(a) + r"\s*:\s*yes\b", t, re.IGNORECASE) for t in texts)
        for a in amenities
    )


def customer_decision(state: dict[str, Any]) -> dict[str, Any]:
    """The customer's next action given its state."""
    items = [i["name"] for i in state["items"]]
    amenities = list(state["amenities"])
    if not state["searches"]:
        return {"action": "search", "query": state["request"], "reason": "find businesses"}
    if not state["messaged"]:
        k = int(state.get("contacts") or DEFAULT_CONTACTS)
        ids = list(state["searches"][-1]["results"])[:k]
        if not ids:
            return {"action": "finish", "reason": "the search found no business"}
        return {
            "action": "message",
            "business_ids": ids,
            "message": render_inquiry(items, amenities, False),
            "reason": f"ask the first {len(ids)} results about the items and amenities",
        }
    texts: dict[str, list[str]] = {
        c["business_id"]: [m["text"] for m in c["messages"] if m["from"] != "you" and "text" in m]
        for c in state["conversations"]
    }
    refused = {r.get("proposal_id") for r in state["rejected"] if r.get("action") == "pay"}
    now = int(state["now_ms"])
    value = float(state["value_if_needs_met"])
    best: tuple[float, int] | None = None
    for p in state["proposals"]:
        offered = {i["name"] for i in p["items"]}
        expiry = p.get("expiry_ms")
        if (
            set(items) <= offered
            and _confirmed(texts.get(p["business_id"], []), amenities)
            and p["proposal_id"] not in refused
            and (expiry is None or expiry > now)
            and p["total"] < value
        ):
            key = (float(p["total"]), int(p["proposal_id"]))
            best = key if best is None or key < best else best
    if best is None:
        return {"action": "finish", "reason": "no proposal meets every requirement"}
    return {
        "action": "pay",
        "proposal_id": best[1],
        "reason": "the cheapest proposal with every item from a business with every amenity",
    }


# ---------------------------------------------------------------------- business


def business_decision(state: dict[str, Any]) -> dict[str, Any]:
    """The business's answer to the customer's last message."""
    menu = [m["item"] for m in state["menu"]]
    have: dict[str, bool] = dict(state["amenities"])
    last = ""
    for entry in reversed(state["conversation"]):
        if entry["from"] == "customer" and "text" in entry:
            last = entry["text"]
            break
    inquiry = parse_inquiry(last)
    if inquiry is not None:
        wanted, asked = list(inquiry.items), list(inquiry.amenities)
    else:
        lower = last.lower()
        wanted = [m for m in menu if m.lower() in lower]
        asked = [a for a in have if a.lower() in lower]
    carried = [(name, name in menu) for name in wanted]
    complete = bool(wanted) and all(ok for _, ok in carried)
    reply = render_reply(carried, [(a, have.get(a, False)) for a in asked], complete)
    propose = [{"item": name, "quantity": 1} for name in wanted] if complete else []
    return {"reply": reply, "propose": propose, "reason": "truthful answer at posted prices"}
