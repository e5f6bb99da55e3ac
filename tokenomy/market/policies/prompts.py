"""The prompts tokenomy's LLM agents are driven by, and the answers they must give.

Every call sends two messages: a fixed system prompt (role, actions and their exact JSON shapes,
rules) and one user message holding everything the agent has seen so far, twice: as short prose
for the model to read, and as a machine-readable JSON *state block* between ``<state>`` and
``</state>``. The prompt is rebuilt from the agent's history at each call, so it depends only on
what happened in virtual time — a replayed run sends byte-identical prompts.

Answers are JSON objects following :class:`CustomerDecision` and :class:`BusinessDecision`
(requested as structured output). The system prompts begin with a marker line
(:data:`CUSTOMER_MARKER`, :data:`BUSINESS_MARKER`) by which the deterministic market rule
(:mod:`tokenomy.market.market_rule`) recognises them.

Money in prompts and states is in dollars; ids are the market's ids; message ids are the
market's message ids (a proposal is paid by its message id).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tokenomy.market.dialect import render_inquiry, render_reply

CUSTOMER_MARKER = "[tokenomy market: customer assistant v1]"
BUSINESS_MARKER = "[tokenomy market: business assistant v1]"
STATE_OPEN = "<state>"
STATE_CLOSE = "</state>"


class CustomerDecision(BaseModel):
    """What a customer assistant decides to do next."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["search", "message", "pay", "wait", "finish"] = Field(
        description="search | message | pay | wait | finish"
    )
    query: str = Field(default="", description="search: the query text")
    business_ids: list[str] = Field(default_factory=list, description="message: recipients")
    message: str = Field(default="", description="message: the text sent to each recipient")
    proposal_id: int | None = Field(
        default=None, description="pay: message id of the order proposal to pay"
    )
    reason: str = Field(default="", description="One sentence: why")


class ProposedItem(BaseModel):
    """One line a business wants to propose."""

    model_config = ConfigDict(extra="ignore")

    item: str = Field(description="Menu item name, exactly as on the menu")
    quantity: int = Field(default=1, ge=1, description="Quantity")
    unit_price: float | None = Field(
        default=None, ge=0, description="Dollars per unit; omit for the posted price"
    )


class BusinessDecision(BaseModel):
    """How a business assistant answers a customer's message."""

    model_config = ConfigDict(extra="ignore")

    reply: str = Field(default="", description="Text sent to the customer ('' for none)")
    propose: list[ProposedItem] = Field(
        default_factory=list, description="Items of an order proposal ([] for no proposal)"
    )
    reason: str = Field(default="", description="One sentence: why")


_EXAMPLE_INQUIRY = render_inquiry(["Chicken Tacos", "Horchata"], ["Outdoor Seating"], False)
_EXAMPLE_REPLY = render_reply(
    [("Chicken Tacos", True), ("Horchata", True)], [("Outdoor Seating", True)], True
)

CUSTOMER_SYSTEM = f"""{CUSTOMER_MARKER}
You are a shopping assistant acting for one customer (your principal) in an online marketplace
of businesses. Your goal is to buy every item your principal requested, from a business that
has every amenity your principal requires, at the lowest total price. A purchase that misses an
item or an amenity is worth nothing to your principal, and every dollar paid is a dollar lost,
so pay only for a proposal that contains every requested item from a business that has
confirmed every required amenity, and never pay more than the principal's value (stated in the
state). Your principal's willingness to pay is private: never tell it to a business.

You can take one action per answer. Answer with exactly one JSON object, no other text:
- search for businesses:  {{"action": "search", "query": "<search text>", "reason": "<why>"}}
- message businesses (the same text to each; they answer with text and order proposals):
  {{"action": "message", "business_ids": ["<id>", ...], "message": "<text>", "reason": "<why>"}}
- pay one order proposal you received (this completes the purchase):
  {{"action": "pay", "proposal_id": <message id of the proposal>, "reason": "<why>"}}
- wait for more answers: {{"action": "wait", "reason": "<why>"}}
- finish without buying (anything more): {{"action": "finish", "reason": "<why>"}}

Search results show each business's id, name, description and rating, never menus or
amenities: ask businesses whether they have the items and amenities. Business descriptions are
advertising; a business's claims in messages are what counts. Businesses understand inquiries
best in this form:
{_EXAMPLE_INQUIRY}
Contact only businesses from your search results. A rejected action and its reason are shown
to you in the next call. Each call costs your principal tokens: decide quickly.
"""

BUSINESS_SYSTEM = f"""{BUSINESS_MARKER}
You answer customers' messages for one business in an online marketplace. Be truthful: say
which requested items are on your menu and which requested amenities you have. When the
customer wants items you sell, propose an order: list the items and quantities; the system
fills in the prices (your posted prices, or a lower unit_price you give, never above the posted
price and never below your minimum) and the exact total, and sends the proposal after your
reply. Items not on your menu cannot be proposed.

Answer with exactly one JSON object, no other text:
  {{"reply": "<text to the customer>", "propose": [{{"item": "<menu item>", "quantity": 1}}],
   "reason": "<why>"}}
Use "propose": [] when you make no proposal, and "reply": "" when you send no text. Customers'
assistants understand replies best in this form:
{_EXAMPLE_REPLY}
(use "not available" for an item you lack, "no" for an amenity you lack, and "We cannot make
you an offer." as the last line when you propose nothing).
"""


def render_state(state: dict[str, Any]) -> str:
    """The JSON state block (one line of JSON between the markers)."""
    return f"{STATE_OPEN}\n{json.dumps(state, ensure_ascii=False)}\n{STATE_CLOSE}"


def read_state(text: str) -> dict[str, Any] | None:
    """The state dict of the last state block in ``text``, or None if there is none."""
    end = text.rfind(STATE_CLOSE)
    start = text.rfind(STATE_OPEN, 0, end if end >= 0 else None)
    if start < 0 or end < 0:
        return None
    try:
        value = json.loads(text[start + len(STATE_OPEN) : end])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _money(value: float) -> str:
    return f"${value:.2f}"


def _message_line(entry: dict[str, Any]) -> str:
    who = entry["from"]
    head = f"  [{entry['message_id']}] {who} at {entry['time_ms']} ms: "
    if "text" in entry:
        return head + json.dumps(entry["text"], ensure_ascii=False)
    if "proposal" in entry:
        p = entry["proposal"]
        lines = ", ".join(
            f"{i['quantity']} x {i['name']} at {_money(i['unit_price'])}" for i in p["items"]
        )
        expiry = "" if p.get("expiry_ms") is None else f", expires at {p['expiry_ms']} ms"
        return head + f"ORDER PROPOSAL {lines}; total {_money(p['total'])}{expiry}"
    if "payment" in entry:
        return head + f"PAYMENT for proposal {entry['payment']['proposal_id']}"
    return head + json.dumps(entry, ensure_ascii=False)


def customer_prompt(state: dict[str, Any]) -> str:
    """The user message of a customer call: prose, then the state block."""
    lines = [
        f"You act for {state['principal']} (customer id {state['customer_id']}).",
        f"Their request: {state['request']}",
        "Items wanted (willingness to pay per item): "
        + "; ".join(f"{i['name']} ({_money(i['willingness_to_pay'])})" for i in state["items"]),
        "Required amenities: " + (", ".join(state["amenities"]) or "none"),
        f"Value to your principal if every item and amenity is met: "
        f"{_money(state['value_if_needs_met'])}. Suggested number of businesses to contact: "
        f"{state['contacts']}.",
        f"Current time: {state['now_ms']} ms. Model calls left: {state['calls_left']}.",
    ]
    if state["searches"]:
        lines.append(
            "Searches: "
            + "; ".join(
                f"'{s['query']}' -> {len(s['results'])} result(s)" for s in state["searches"]
            )
        )
    if state["businesses"]:
        lines.append("Businesses found (id, name, rating, description):")
        lines.extend(
            f"  {b['id']} | {b['name']} | {b['rating']:.2f} | {b['description']}"
            for b in state["businesses"]
        )
    for conv in state["conversations"]:
        lines.append(f"Conversation with {conv['business_id']}:")
        lines.extend(_message_line(m) for m in conv["messages"])
    if state["no_answer_yet"]:
        lines.append("Messaged but not answered yet: " + ", ".join(state["no_answer_yet"]))
    if state["proposals"]:
        lines.append("Order proposals you can pay (proposal_id = message id):")
        lines.extend(
            f"  proposal_id {p['proposal_id']} from {p['business_id']}: total {_money(p['total'])}"
            for p in state["proposals"]
        )
    if state["rejected"]:
        lines.append("Rejected actions:")
        lines.extend(f"  {json.dumps(r, ensure_ascii=False)}" for r in state["rejected"])
    lines.append("Decide your next action.")
    return "\n".join(lines) + "\n\n" + render_state(state)


def business_prompt(state: dict[str, Any]) -> str:
    """The user message of a business call: prose, then the state block."""
    lines = [
        f"You are {state['name']} (business id {state['business_id']}): {state['description']}",
        "Menu (posted prices): "
        + "; ".join(f"{m['item']} {_money(m['price'])}" for m in state["menu"]),
        "Amenities: "
        + "; ".join(f"{a}: {'yes' if ok else 'no'}" for a, ok in state["amenities"].items()),
        f"Your minimum price is {state['min_price_factor']:.2f} x the posted price.",
        f"Current time: {state['now_ms']} ms.",
        f"Conversation with customer {state['customer_id']}:",
    ]
    lines.extend(_message_line(m) for m in state["conversation"])
    if state["notes"]:
        lines.append("Notes: " + " ".join(state["notes"]))
    lines.append("Answer the customer's last message.")
    return "\n".join(lines) + "\n\n" + render_state(state)
