"""The texts scripted agents exchange, and how they read each other's.

Scripted customers and businesses talk in plain English with a fixed layout, so a person (or an
LLM agent that joins the market) can read them, and a scripted agent can parse them back:

Inquiry (customer to business)::

    Hello! I would like to order:
    - Savory Pumpkin Empanadas (1)
    The business must offer:
    - Outdoor Seating
    Please send me an order proposal.

Reply (business to customer), sent before its proposal::

    Thank you for your inquiry.
    Items:
    - Savory Pumpkin Empanadas: available
    Amenities:
    - Outdoor Seating: yes
    An order proposal follows.

The rendered texts are also what token counts are estimated from
(:func:`tokenomy.prices.estimate_tokens`): what an LLM agent would have had to read and write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenomy.market.money import format_dollars

INQUIRY_HEAD = "Hello! I would like to order:"
INQUIRY_AMENITIES = "The business must offer:"
INQUIRY_TAIL = "Please send me an order proposal."
DISCOUNT_ASK = " Please quote your best price."
REPLY_HEAD = "Thank you for your inquiry."
FOLLOWS = "An order proposal follows."
NO_OFFER = "We cannot make you an offer."


def render_inquiry(items: Sequence[str], amenities: Sequence[str], ask_discount: bool) -> str:
    """The scripted customer's inquiry for ``items`` (quantity 1 each) and ``amenities``."""
    lines = [INQUIRY_HEAD, *(f"- {name} (1)" for name in items)]
    if amenities:
        lines.append(INQUIRY_AMENITIES)
        lines.extend(f"- {a}" for a in amenities)
    lines.append(INQUIRY_TAIL + (DISCOUNT_ASK if ask_discount else ""))
    return "\n".join(lines)


@dataclass(frozen=True)
class Inquiry:
    """A parsed inquiry."""

    items: tuple[str, ...]
    amenities: tuple[str, ...]
    ask_discount: bool


def parse_inquiry(text: str) -> Inquiry | None:
    """Read an inquiry written by :func:`render_inquiry`; ``None`` if it is not one."""
    lines = text.split("\n")
    if not lines or lines[0] != INQUIRY_HEAD:
        return None
    items: list[str] = []
    amenities: list[str] = []
    section = items
    for line in lines[1:]:
        if line == INQUIRY_AMENITIES:
            section = amenities
        elif line.startswith("- "):
            entry = line[2:]
            if section is items:
                if not entry.endswith(" (1)"):
                    return None
                entry = entry[: -len(" (1)")]
            section.append(entry)
        elif line.startswith(INQUIRY_TAIL):
            return Inquiry(tuple(items), tuple(amenities), line.endswith(DISCOUNT_ASK))
        else:
            return None
    return None


def render_reply(
    items: Sequence[tuple[str, bool]],
    amenities: Sequence[tuple[str, bool]],
    proposal_follows: bool,
) -> str:
    """A business's answer: the requested items and amenities it has; whether a proposal follows."""
    lines = [REPLY_HEAD, "Items:"]
    lines.extend(f"- {name}: {'available' if ok else 'not available'}" for name, ok in items)
    if amenities:
        lines.append("Amenities:")
        lines.extend(f"- {name}: {'yes' if ok else 'no'}" for name, ok in amenities)
    lines.append(FOLLOWS if proposal_follows else NO_OFFER)
    return "\n".join(lines)


@dataclass(frozen=True)
class Reply:
    """A parsed reply."""

    amenities: dict[str, bool]
    proposal_follows: bool


def parse_reply(text: str) -> Reply | None:
    """Read a reply written by :func:`render_reply`; ``None`` if it is not one."""
    lines = text.split("\n")
    if len(lines) < 3 or lines[0] != REPLY_HEAD or lines[-1] not in (FOLLOWS, NO_OFFER):
        return None
    amenities: dict[str, bool] = {}
    in_amenities = False
    for line in lines[1:-1]:
        if line == "Amenities:":
            in_amenities = True
        elif line.startswith("- ") and in_amenities:
            name, _, answer = line[2:].rpartition(": ")
            amenities[name] = answer == "yes"
    return Reply(amenities, lines[-1] == FOLLOWS)


def render_proposal(lines: Sequence[tuple[str, int, int]], total_micro: int) -> str:
    """Text form of a proposal (for token estimates): ``(name, quantity, unit micro)`` lines."""
    body = "; ".join(f"{q} x {name} at ${format_dollars(u)}" for name, q, u in lines)
    return f"Order proposal: {body}. Total ${format_dollars(total_micro)}."


def render_payment(proposal_message_id: int) -> str:
    """Text form of a payment (for token estimates)."""
    return f"Payment for proposal {proposal_message_id}."


def render_search_line(rank: int, business_id: str, name: str, rating: float, desc: str) -> str:
    """One line of a search-results page as an agent would read it."""
    return f"{rank}. {name} ({business_id}), rating {rating:.2f}: {desc}\n"
