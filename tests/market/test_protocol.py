"""The marketplace service refuses invalid actions with a reason, and records them."""

from __future__ import annotations

import pytest

from tokenomy.market.protocol import (
    FetchMessages,
    FetchResult,
    OrderItem,
    OrderProposal,
    Payment,
    Rejected,
    Search,
    SearchResult,
    SendMessage,
    SendResult,
    TextMessage,
)
from tokenomy.market.runlog import A_PAYMENT, A_PROPOSAL
from tokenomy.market.search import SearchService
from tokenomy.market.state import MarketState

A, B_ = 0, 1  # customers: customer_a, customer_b
B1, B2, B3 = 2, 3, 4  # businesses (global indices)


@pytest.fixture
def state(tiny_market) -> MarketState:
    return MarketState(tiny_market, SearchService(tiny_market))


def propose(state, business, to, items, total, now=10, expiry=None):
    lines = [OrderItem(item_name=n, unit_price=p, quantity=q) for n, p, q in items]
    msg = OrderProposal(items=lines, total_price=total, expiry_ms=expiry)
    return state.execute(business, SendMessage(to_agent_id=to, message=msg), now)


def pay(state, customer, to, proposal_id, now=20):
    action = SendMessage(to_agent_id=to, message=Payment(proposal_message_id=proposal_id))
    return state.execute(customer, action, now)


def reason(result) -> str:
    assert isinstance(result, Rejected), result
    return result.reason


def test_a_valid_exchange(state):
    found = state.execute(A, Search(query="Taco", search_algorithm="optimal", limit=5), 1)
    assert isinstance(found, SearchResult)
    assert [b.id for b in found.businesses] == ["business_1", "business_2"]
    assert found.businesses[0].description == "A friendly place."
    sent = state.execute(
        A, SendMessage(to_agent_id="business_1", message=TextMessage(content="hi")), 2
    )
    assert isinstance(sent, SendResult)
    offer = propose(state, B1, "customer_a", [("Taco", 9.0, 1), ("Soup", 6.0, 1)], 15.0)
    assert isinstance(offer, SendResult)
    paid = pay(state, A, "business_1", offer.message_id)
    assert isinstance(paid, SendResult)
    log = state.log.build()
    assert log.pay_amount.tolist() == [15_000_000]
    assert log.ev_ok.all()


def test_unknown_item_is_refused(state):
    r = propose(state, B1, "customer_a", [("Cake", 3.0, 1)], 3.0)
    assert "unknown item 'Cake'" in reason(r) and "business_1" in reason(r)


def test_wrong_total_is_refused(state):
    r = propose(state, B1, "customer_a", [("Taco", 9.0, 2), ("Soup", 6.0, 1)], 15.0)
    assert "wrong total" in reason(r) and "24.00" in reason(r) and "15.00" in reason(r)


def test_price_above_posted_is_refused_but_discounts_are_fine(state):
    assert "above the posted price" in reason(
        propose(state, B1, "customer_a", [("Taco", 9.5, 1)], 9.5)
    )
    assert isinstance(propose(state, B1, "customer_a", [("Taco", 7.0, 1)], 7.0), SendResult)


def test_paying_a_proposal_not_addressed_to_you(state):
    offer = propose(state, B3, "customer_b", [("Cake", 3.0, 1)], 3.0)
    r = pay(state, A, "business_3", offer.message_id)
    assert "addressed to customer_b, not to customer_a" in reason(r)


def test_paying_twice_is_refused(state):
    offer = propose(state, B3, "customer_b", [("Cake", 3.0, 1)], 3.0)
    first = pay(state, B_, "business_3", offer.message_id)
    assert isinstance(first, SendResult)
    r = pay(state, B_, "business_3", offer.message_id, now=30)
    assert "already paid" in reason(r)
    assert state.log.build().pay_id.tolist() == [first.message_id]


def test_paying_the_wrong_business_a_non_proposal_or_an_expired_one(state):
    offer = propose(state, B3, "customer_b", [("Cake", 3.0, 1)], 3.0, expiry=15)
    assert "pay that business" in reason(pay(state, B_, "business_1", offer.message_id))
    text = state.execute(
        B_, SendMessage(to_agent_id="business_1", message=TextMessage(content="x")), 11
    )
    assert "is not a proposal" in reason(pay(state, B_, "business_1", text.message_id))
    assert "expired at 15 ms" in reason(pay(state, B_, "business_3", offer.message_id, now=16))
    assert isinstance(pay(state, B_, "business_3", offer.message_id, now=15), SendResult)


def test_roles_senders_and_recipients(state):
    spoof = SendMessage(
        to_agent_id="business_1", from_agent_id="customer_b", message=TextMessage(content="hi")
    )
    assert "sender mismatch" in reason(state.execute(A, spoof, 1))
    to_nobody = SendMessage(to_agent_id="business_9", message=TextMessage(content="hi"))
    assert "unknown recipient 'business_9'" in reason(state.execute(A, to_nobody, 1))
    same_side = SendMessage(to_agent_id="customer_b", message=TextMessage(content="hi"))
    assert "other side" in reason(state.execute(A, same_side, 1))
    to_self = SendMessage(to_agent_id="customer_a", message=TextMessage(content="hi"))
    assert "cannot message itself" in reason(state.execute(A, to_self, 1))
    assert "only businesses may send proposals" in reason(
        state.execute(
            A,
            SendMessage(
                to_agent_id="business_1",
                message=OrderProposal(
                    items=[OrderItem(item_name="Taco", unit_price=1.0)], total_price=1.0
                ),
            ),
            1,
        )
    )
    assert "only customers may pay" in reason(
        state.execute(
            B1, SendMessage(to_agent_id="customer_a", message=Payment(proposal_message_id=0)), 1
        )
    )
    huge = SendMessage(to_agent_id="business_1", message=TextMessage(content="x" * 20_001))
    assert "too long" in reason(state.execute(A, huge, 1))


def test_searches_are_validated(state):
    assert "unknown search algorithm 'magic'" in reason(
        state.execute(A, Search(query="x", search_algorithm="magic"), 1)
    )
    assert "for customers" in reason(state.execute(B1, Search(search_algorithm="optimal"), 1))


def test_rejections_are_recorded_with_reasons(state):
    propose(state, B1, "customer_a", [("Cake", 3.0, 1)], 3.0, now=5)
    pay(state, A, "business_1", 99, now=6)
    log = state.log.build()
    assert (~log.ev_ok).sum() == 2
    assert sorted(log.ev_action[~log.ev_ok].tolist()) == [A_PROPOSAL, A_PAYMENT]
    notes = [log.notes[i] for i in log.ev_note[~log.ev_ok]]
    assert any("unknown item" in n for n in notes) and any("not a proposal" in n for n in notes)
    assert len(log.msg_time) == 0  # nothing was delivered


def test_fetch_messages_incrementally_and_in_pages(state):
    for i in range(5):
        state.execute(
            B1, SendMessage(to_agent_id="customer_a", message=TextMessage(content=f"m{i}")), i + 1
        )
    everything = state.execute(A, FetchMessages(), 10)
    assert isinstance(everything, FetchResult)
    assert [m.message.content for m in everything.messages] == [f"m{i}" for i in range(5)]
    assert [m.index for m in everything.messages] == list(range(5))
    assert not everything.has_more
    newer = state.execute(A, FetchMessages(after_index=2), 11)
    assert [m.message.content for m in newer.messages] == ["m3", "m4"]
    page = state.execute(A, FetchMessages(offset=1, limit=2), 12)
    assert [m.message.content for m in page.messages] == ["m1", "m2"] and page.has_more
    assert state.execute(B_, FetchMessages(), 13).messages == []
