"""The marketplace protocol: the actions an agent may execute and what it gets back.

Actions (a discriminated union on ``type``):

* :class:`Search` — find businesses; results carry id, name, description and rating, never
  menus or amenities (a customer learns those by asking).
* :class:`SendMessage` — send one of

  - :class:`TextMessage` (anyone to anyone of the other side),
  - :class:`OrderProposal` (a business to a customer: items from its menu, at most the posted
    price, with a total equal to the sum),
  - :class:`Payment` (a customer to the business that proposed: accepts and pays a proposal
    addressed to the payer, exactly once, before it expires).

* :class:`FetchMessages` — read one's inbox, incrementally (``after_index``) and in pages.

The sender of an action is always the agent that executes it; a ``from_agent_id`` that differs
is refused. Invalid actions are *rejected with a reason* and recorded — never silently applied.
Times are virtual milliseconds since the start of the run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_LIMIT = 10_000
"""Largest page size a search or fetch may ask for."""

MAX_AMOUNT = 1e9
"""Largest price (dollars) a proposal line or total may carry."""


class SearchConstraints(_Model):
    """Constraints for the ``filtered`` search algorithm."""

    rating_threshold: float | None = Field(default=None, description="Minimum rating")
    amenity_features: list[str] | None = Field(default=None, description="Required amenities")
    menu_items: list[str] | None = Field(default=None, description="Required menu items")


class Search(_Model):
    """Search for businesses."""

    type: Literal["search"] = "search"
    query: str = Field(default="", description="Search query text")
    search_algorithm: str = Field(default="lexical", description="Search algorithm name")
    limit: int = Field(
        default=10, ge=1, le=MAX_LIMIT, description="Results per page (consideration set)"
    )
    page: int = Field(default=1, ge=1, le=1_000_000, description="1-based page number")
    constraints: SearchConstraints | None = Field(default=None, description="Filters")


class TextMessage(_Model):
    """A free-text message."""

    type: Literal["text"] = "text"
    content: str = Field(description="Text content")


class OrderItem(_Model):
    """One line of an order proposal."""

    id: str | None = Field(default=None, description="Menu item id (defaults to the name)")
    item_name: str = Field(description="Name of the item, as on the menu")
    quantity: int = Field(default=1, ge=1, le=1_000_000, description="Quantity")
    unit_price: float = Field(ge=0, le=MAX_AMOUNT, description="Price per unit in dollars")


class OrderProposal(_Model):
    """An offer from a business to a customer."""

    type: Literal["order_proposal"] = "order_proposal"
    id: str = Field(default="", description="The business's own reference for this proposal")
    items: list[OrderItem] = Field(min_length=1, description="Items offered")
    total_price: float = Field(
        ge=0, le=1_000 * MAX_AMOUNT, description="Total in dollars; must equal the item sum"
    )
    special_instructions: str | None = Field(default=None, description="Notes")
    expiry_ms: int | None = Field(
        default=None, ge=0, le=10**15, description="Virtual time after which it lapses"
    )


class Payment(_Model):
    """A customer accepts and pays an order proposal."""

    type: Literal["payment"] = "payment"
    proposal_message_id: int = Field(
        ge=0, le=2**62, description="Message id of the proposal being paid"
    )
    payment_method: str | None = Field(default=None, description="e.g. card")
    delivery_address: str | None = Field(default=None, description="Delivery address")
    payment_message: str | None = Field(default=None, description="Note to the business")


Message = Annotated[TextMessage | OrderProposal | Payment, Field(discriminator="type")]


class SendMessage(_Model):
    """Send a message to another agent."""

    type: Literal["send_message"] = "send_message"
    to_agent_id: str = Field(description="Recipient agent id")
    message: Message
    from_agent_id: str | None = Field(
        default=None, description="Optional; must equal the authenticated sender"
    )


class FetchMessages(_Model):
    """Read messages from one's inbox."""

    type: Literal["fetch_messages"] = "fetch_messages"
    after_index: int | None = Field(
        default=None,
        ge=-1,
        le=2**62,
        description="Only messages with inbox index greater than this",
    )
    offset: int = Field(default=0, ge=0, le=2**62, description="Skip this many (after the filter)")
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT, description="At most this many")


Action = Annotated[Search | SendMessage | FetchMessages, Field(discriminator="type")]


# ---------------------------------------------------------------------- results


class BusinessSummary(_Model):
    """What a search result shows about a business."""

    id: str
    name: str
    description: str
    rating: float


class SearchResult(_Model):
    """Results of a search."""

    type: Literal["search_result"] = "search_result"
    businesses: list[BusinessSummary]
    total: int
    pages: int


class SendResult(_Model):
    """A message was accepted and delivered."""

    type: Literal["send_result"] = "send_result"
    message_id: int


class ReceivedMessage(_Model):
    """A message as it sits in the recipient's inbox."""

    index: int = Field(description="Position in the recipient's inbox (0-based)")
    message_id: int
    from_agent_id: str
    to_agent_id: str
    time_ms: int
    message: Message


class FetchResult(_Model):
    """Messages read from the inbox."""

    type: Literal["fetch_result"] = "fetch_result"
    messages: list[ReceivedMessage]
    has_more: bool


class Rejected(_Model):
    """The action was refused; nothing changed."""

    type: Literal["rejected"] = "rejected"
    reason: str


ActionResult = SearchResult | SendResult | FetchResult | Rejected
