"""The LLM policies one callback at a time: prompts, prices, dropped items, the market rule."""

from __future__ import annotations

import json

import pytest

from tokenomy.llm import ChatRequest, ScriptedChat
from tokenomy.llm.rules import market_rule
from tokenomy.market.dialect import parse_reply, render_inquiry
from tokenomy.market.market_rule import customer_decision, is_market_prompt
from tokenomy.market.money import micro_of
from tokenomy.market.policies.interface import (
    Act,
    AgentContext,
    BusinessProfile,
    CustomerProfile,
    Done,
)
from tokenomy.market.policies.llm import (
    LLMBusiness,
    LLMBusinessParams,
    LLMCustomer,
    LLMCustomerParams,
)
from tokenomy.market.policies.prompts import (
    BUSINESS_SYSTEM,
    CUSTOMER_SYSTEM,
    STATE_CLOSE,
    STATE_OPEN,
    read_state,
)
from tokenomy.market.protocol import (
    BusinessSummary,
    OrderItem,
    OrderProposal,
    ReceivedMessage,
    Rejected,
    Search,
    SearchResult,
    SendResult,
    TextMessage,
)

MENU = {"Taco": 9_000_000, "Soup": 6_000_000}


def context(profile, metered: list) -> AgentContext:
    return AgentContext(
        agent_id=profile.id,
        profile=profile,
        search_algorithm="lexical",
        limit=10,
        draw=lambda stream, other: 0.25,
        noise=lambda stream, other: 0.0,
        meter=lambda *call: metered.append(call),
    )


def shop(answer: str, metered: list, **params) -> tuple[LLMBusiness, list[ChatRequest]]:
    seen: list[ChatRequest] = []

    def rule(request: ChatRequest) -> str:
        seen.append(request)
        return answer

    profile = BusinessProfile(
        "business_1", "Casa", "Tacos and soup.", dict(MENU), {"Patio": True, "Wifi": False}, 0.8
    )
    return LLMBusiness(
        context(profile, metered), ScriptedChat(rule, "m"), LLMBusinessParams(**params)
    ), seen


def inbound(text: str, mid: int = 7) -> ReceivedMessage:
    return ReceivedMessage(
        index=0,
        message_id=mid,
        from_agent_id="customer_a",
        to_agent_id="business_1",
        time_ms=100,
        message=TextMessage(content=text),
    )


def test_business_fills_prices_and_drops_unknown_items():
    answer = json.dumps(
        {
            "reply": "Here you go.",
            "propose": [
                {"item": "taco", "quantity": 2, "unit_price": 8.504},  # lower price, rounded
                {"item": "Soup", "unit_price": 99.0},  # above posted: the posted price
                {"item": "Burrito"},  # not on the menu
            ],
        }
    )
    metered: list = []
    policy, seen = shop(answer, metered, think_ms_base=50, think_ms_per_output_token=2.0)
    steps = policy.on_message(100, inbound("Taco and soup please"))
    assert len(seen) == 1 and seen[0].tag == "business_1/customer_a"
    assert seen[0].messages[0].content == BUSINESS_SYSTEM
    out_tokens = metered[0][2]
    text, proposal = steps
    assert isinstance(text, Act) and isinstance(proposal, Act)
    assert text.delay_ms == 50 + round(2.0 * out_tokens)
    assert proposal.delay_ms == text.delay_ms + 1
    assert text.action.message.content == (
        "Here you go.\n(Not on our menu, so not in the proposal: Burrito.)"
    )
    body = proposal.action.message
    assert isinstance(body, OrderProposal)
    lines = [(i.item_name, i.quantity, micro_of(i.unit_price)) for i in body.items]
    assert lines == [("Taco", 2, 8_500_000), ("Soup", 1, 6_000_000)]
    assert micro_of(body.total_price) == 2 * 8_500_000 + 6_000_000
    assert metered == [("m", metered[0][1], out_tokens, 0.0)]


def test_business_price_floor_is_min_price_factor():
    answer = json.dumps({"reply": "", "propose": [{"item": "Taco", "unit_price": 1.0}]})
    policy, _ = shop(answer, [])
    (proposal,) = policy.on_message(100, inbound("Taco"))
    assert micro_of(proposal.action.message.items[0].unit_price) == 7_200_000  # 0.8 × 9.00


def test_business_call_cap_and_no_call_for_payments():
    answer = json.dumps({"reply": "hi", "propose": []})
    metered: list = []
    policy, seen = shop(answer, metered, max_calls=1)
    assert len(policy.on_message(100, inbound("one"))) == 1
    assert policy.on_message(200, inbound("two", 8)) == []
    assert len(seen) == 1 and len(metered) == 1


def test_business_sees_the_conversation_and_rejections():
    answer = json.dumps({"reply": "ok", "propose": [{"item": "Taco"}]})
    policy, seen = shop(answer, [])
    text, proposal = policy.on_message(100, inbound("Taco?"))
    policy.on_result(1200, text.action, SendResult(message_id=8))
    policy.on_result(1201, proposal.action, Rejected(reason="expired"))
    policy.on_message(2000, inbound("Hello again", 10))
    state = read_state(seen[1].messages[1].content)
    assert [m["message_id"] for m in state["conversation"]] == [7, 8, 10]
    assert [m["from"] for m in state["conversation"]] == ["customer", "you", "customer"]
    assert state["notes"] == ["At 1201 ms the market rejected your order_proposal: expired."]
    assert state["menu"] == [{"item": "Taco", "price": 9.0}, {"item": "Soup", "price": 6.0}]


def buyer(answers: list[str], metered: list, **params):
    seen: list[ChatRequest] = []

    def rule(request: ChatRequest) -> str:
        seen.append(request)
        return answers[len(seen) - 1]

    profile = CustomerProfile(
        "customer_a", "Ana", "Taco please", ("Taco",), (10_000_000,), ("Patio",)
    )
    params.setdefault("think_ms_per_output_token", 0.0)
    policy = LLMCustomer(
        context(profile, metered), ScriptedChat(rule, "c"), LLMCustomerParams(**params)
    )
    return policy, seen


def test_customer_prompt_has_prose_and_state():
    policy, seen = buyer([json.dumps({"action": "search", "query": "tacos"})], [])
    (step,) = policy.on_start(0)
    assert isinstance(step.action, Search) and step.action.query == "tacos"
    assert step.delay_ms == 1000
    request = seen[0]
    assert request.messages[0].content == CUSTOMER_SYSTEM
    assert request.tag == "customer_a"
    assert request.seed == int(0.25 * 2**31)
    assert request.json_schema is not None and "action" in request.json_schema["properties"]
    user = request.messages[1].content
    assert "Taco ($10.00)" in user and "Required amenities: Patio" in user
    assert user.count(STATE_OPEN) == 1 and user.endswith(STATE_CLOSE)
    state = read_state(user)
    assert state["items"] == [{"name": "Taco", "willingness_to_pay": 10.0}]
    assert state["value_if_needs_met"] == 20.0
    assert state["calls_left"] == 12
    assert is_market_prompt(request)


def test_customer_waits_for_every_answer_then_pays():
    answers = [
        json.dumps({"action": "search", "query": "tacos"}),
        json.dumps({"action": "message", "business_ids": ["b1", "b2", "b1"], "message": "Taco?"}),
        json.dumps({"action": "pay", "proposal_id": 21}),
    ]
    metered: list = []
    policy, seen = buyer(answers, metered, settle_ms=40, patience_ms=9000)
    (search,) = policy.on_start(0)
    found = SearchResult(
        businesses=[
            BusinessSummary(id=b, name=b, description="d", rating=1.0) for b in ("b1", "b2")
        ],
        total=2,
        pages=1,
    )
    steps = policy.on_result(1000, search.action, found)
    assert [s.delay_ms for s in steps] == [1000, 1001, 1000 + 2 + 9000]  # b1, b2, patience
    assert [s.action.to_agent_id for s in steps[:2]] == ["b1", "b2"]
    for k, s in enumerate(steps[:2]):
        policy.on_result(2000 + k, s.action, SendResult(message_id=10 + k))

    def received(mid, sender, body):
        return ReceivedMessage(
            index=0,
            message_id=mid,
            from_agent_id=sender,
            to_agent_id="customer_a",
            time_ms=3000,
            message=body,
        )

    assert policy.on_message(3000, received(20, "b1", TextMessage(content="Patio: yes"))) == []
    offer = OrderProposal(items=[OrderItem(item_name="Taco", unit_price=9.0)], total_price=9.0)
    assert policy.on_message(3000, received(21, "b1", offer)) == []
    (wake,) = policy.on_message(3001, received(22, "b2", TextMessage(content="No tacos")))
    assert wake.delay_ms == 40
    assert policy.on_timer(3041, "wake:1") == []  # stale: the search round's timer
    (pay,) = policy.on_timer(3041, wake.tag)
    assert pay.action.to_agent_id == "b1" and pay.action.message.proposal_message_id == 21
    state = read_state(seen[2].messages[1].content)
    assert state["no_answer_yet"] == []
    assert state["proposals"] == [
        {
            "proposal_id": 21,
            "business_id": "b1",
            "items": [{"name": "Taco", "quantity": 1, "unit_price": 9.0}],
            "total": 9.0,
            "expiry_ms": None,
        }
    ]
    assert policy.on_result(4000, pay.action, SendResult(message_id=30)) == [Done("paid")]
    assert len(metered) == 3


def test_customer_unknown_proposal_is_a_local_rejection():
    answers = [
        json.dumps({"action": "pay", "proposal_id": 99}),
        json.dumps({"action": "finish"}),
    ]
    policy, seen = buyer(answers, [])
    (wake,) = policy.on_start(0)
    assert policy.on_timer(wake.delay_ms, wake.tag) == [Done("no_acceptable_offer")]
    state = read_state(seen[1].messages[1].content)
    assert state["rejected"][0]["proposal_id"] == 99


def state_with(proposals, texts, amenities=("Patio",), rejected=()):
    return {
        "items": [
            {"name": "Taco", "willingness_to_pay": 10.0},
            {"name": "Soup", "willingness_to_pay": 5.0},
        ],
        "amenities": list(amenities),
        "value_if_needs_met": 30.0,
        "request": "r",
        "contacts": 3,
        "now_ms": 5000,
        "searches": [{"query": "r", "results": ["b1", "b2", "b3"]}],
        "messaged": ["b1", "b2", "b3"],
        "conversations": [
            {
                "business_id": b,
                "messages": [{"from": "business", "text": t, "message_id": 1, "time_ms": 0}],
            }
            for b, t in texts.items()
        ],
        "proposals": proposals,
        "rejected": list(rejected),
    }


def prop(pid, business, names, total, expiry=None):
    return {
        "proposal_id": pid,
        "business_id": business,
        "items": [{"name": n, "quantity": 1, "unit_price": 1.0} for n in names],
        "total": total,
        "expiry_ms": expiry,
    }


def test_market_rule_pays_the_cheapest_qualifying_proposal():
    texts = {"b1": "- Patio: yes", "b2": "Patio: no", "b3": "patio : YES"}
    proposals = [
        prop(10, "b1", ["Taco", "Soup"], 15.0),
        prop(11, "b2", ["Taco", "Soup"], 12.0),  # no patio
        prop(12, "b3", ["Taco"], 7.0),  # misses Soup
        prop(13, "b3", ["Taco", "Soup"], 14.0, expiry=4000),  # expired
    ]
    assert customer_decision(state_with(proposals, texts))["proposal_id"] == 10
    refused = [{"action": "pay", "proposal_id": 10, "reason": "x"}]
    assert customer_decision(state_with(proposals, texts, rejected=refused))["action"] == "finish"
    too_dear = [prop(10, "b1", ["Taco", "Soup"], 30.0)]
    assert customer_decision(state_with(too_dear, texts))["action"] == "finish"
    no_amenity_needed = state_with(proposals, texts, amenities=())
    assert customer_decision(no_amenity_needed)["proposal_id"] == 11


def test_market_rule_business_answers_in_the_reply_format():
    state = {
        "menu": [{"item": "Taco", "price": 9.0}, {"item": "Soup", "price": 6.0}],
        "amenities": {"Patio": True, "Wifi": False},
        "conversation": [
            {"from": "customer", "text": render_inquiry(["Taco", "Soup"], ["Patio", "Wifi"], False)}
        ],
    }
    from tokenomy.market.market_rule import business_decision

    decision = business_decision(state)
    assert decision["propose"] == [{"item": "Taco", "quantity": 1}, {"item": "Soup", "quantity": 1}]
    reply = parse_reply(decision["reply"])
    assert reply is not None and reply.proposal_follows
    assert reply.amenities == {"Patio": True, "Wifi": False}
    state["conversation"] = [
        {"from": "customer", "text": render_inquiry(["Taco", "Cake"], [], False)}
    ]
    lacking = business_decision(state)
    assert lacking["propose"] == []
    assert "- Cake: not available" in lacking["reply"]
    assert not parse_reply(lacking["reply"]).proposal_follows
    # free text: the items and amenities it mentions
    state["conversation"] = [{"from": "customer", "text": "Do you have soup? And wifi?"}]
    free = business_decision(state)
    assert free["propose"] == [{"item": "Soup", "quantity": 1}]
    assert "- Wifi: no" in free["reply"]


@pytest.mark.parametrize("system", ["You are helpful.", CUSTOMER_SYSTEM])
def test_market_rule_echoes_foreign_prompts(system):
    from tokenomy.llm import ChatMessage

    request = ChatRequest((ChatMessage("system", system), ChatMessage("user", "no state here")))
    assert not is_market_prompt(request)
    assert market_rule(request) == "no state here"
