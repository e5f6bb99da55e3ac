"""LLM customers and businesses run whole markets through the OpenAI-compatible test server."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import business, customer, market_of
from tests.llm.conftest import served
from tokenomy.llm import (
    ChatModel,
    OpenAIChat,
    RecordingChat,
    ReplayChat,
    ScriptedChat,
    read_transcript,
)
from tokenomy.llm.rules import market_rule
from tokenomy.llm.testserver import create_app
from tokenomy.market.dataset import Market
from tokenomy.market.engine import EventEngine
from tokenomy.market.io import load_market
from tokenomy.market.metrics import baselines, customer_outcomes, summarize
from tokenomy.market.policies.interface import PolicyFactory
from tokenomy.market.policies.llm import (
    LLMBusiness,
    LLMBusinessParams,
    LLMCustomer,
    LLMCustomerParams,
)
from tokenomy.prices import Prices

PRICED_AS = "llama-3.1-8b-instruct"


@dataclasses.dataclass
class Metered:
    calls: list[tuple[str, str, int, int]] = dataclasses.field(default_factory=list)

    def wrap(self, factory: PolicyFactory) -> PolicyFactory:
        def make(ctx):
            def meter(model, tin, tout, latency_s):
                assert latency_s >= 0
                self.calls.append((ctx.agent_id, model, tin, tout))

            return factory(dataclasses.replace(ctx, meter=meter))

        return make

    def totals(self) -> tuple[int, int, int]:
        return len(self.calls), sum(c[2] for c in self.calls), sum(c[3] for c in self.calls)


@dataclasses.dataclass
class Run:
    market: Market
    log: object
    metrics: dict
    outcomes: object
    metered: Metered

    def events(self):
        return self.log.tables(self.market)["events"]


def run_llm(
    market: Market,
    customers: ChatModel,
    businesses: ChatModel,
    cp: LLMCustomerParams | None = None,
    bp: LLMBusinessParams | None = None,
    seed: int = 0,
) -> Run:
    cp, bp = cp or LLMCustomerParams(), bp or LLMBusinessParams()
    metered = Metered()
    log = EventEngine(
        market,
        metered.wrap(lambda ctx: LLMCustomer(ctx, customers, cp)),
        metered.wrap(lambda ctx: LLMBusiness(ctx, businesses, bp)),
        search_algorithm="lexical",
        limit=10,
        seed=seed,
    ).run()
    out = customer_outcomes(market, log, Prices(), PRICED_AS, PRICED_AS)
    return Run(market, log, summarize(market, log, out, baselines(market)), out, metered)


def paid_proposals_hold_requested_items(run: Run) -> bool:
    tables = run.log.tables(run.market)
    items = tables["proposal_items"].to_pylist()
    for pay in tables["payments"].to_pylist():
        offered = {row["item"] for row in items if row["proposal_id"] == pay["proposal_id"]}
        c = run.market.customer_index[pay["customer"]]
        wanted = {run.market.items[i] for i in run.market.customer_items(c)[0]}
        if not wanted <= offered:
            return False
    return True


@pytest.mark.parametrize("data", ["mexican_3_9", "mexican_10_30"])
def test_market_through_http_then_replayed_offline(magentic, tmp_path, data):
    market = load_market(magentic / data)
    transcript = tmp_path / "calls.jsonl"
    with served(create_app(), "rule-market") as chat:
        recorder = RecordingChat(chat, transcript)
        live = run_llm(market, recorder, recorder)
    m = live.metrics
    assert set(live.outcomes.end_note) <= {"paid", "no_acceptable_offer"}
    assert m["payments"] > 0
    assert paid_proposals_hold_requested_items(live)
    assert 0 < m["welfare"] <= m["optimal_welfare"]
    assert m["rejected_actions"] == 0

    # every chat call was metered, with the usage the API reported
    records = list(read_transcript(transcript))
    assert live.metered.totals() == (
        len(records),
        sum(r.response.usage.input_tokens for r in records),
        sum(r.response.usage.output_tokens for r in records),
    )
    assert not any(r.response.usage.estimated for r in records)
    tags = {r.tag for r in records}
    assert set(market.customer_ids) <= tags
    assert any("/" in t for t in tags)  # business conversations

    # the server is gone; the transcript alone replays the identical run
    replay = ReplayChat(transcript)
    again = run_llm(market, replay, replay)
    assert again.events().equals(live.events())
    assert again.metrics["welfare"] == m["welfare"]
    assert again.metered.calls == live.metered.calls


def test_virtual_time_comes_from_output_tokens(magentic, tmp_path):
    market = load_market(magentic / "mexican_3_9")
    transcript = tmp_path / "calls.jsonl"
    cp = LLMCustomerParams(think_ms_base=700, think_ms_per_output_token=3.0)
    chat = RecordingChat(ScriptedChat(market_rule, "rule-market"), transcript)
    run = run_llm(market, chat, chat, cp=cp)
    first_call = {
        r.tag: r.response.usage.output_tokens for r in read_transcript(transcript) if r.tag_seq == 0
    }
    events = run.events().to_pylist()
    for cid in market.customer_ids:
        search = next(e for e in events if e["agent"] == cid and e["action"] == "search")
        assert search["time_ms"] == 700 + round(3.0 * first_call[cid])


def test_http_and_in_process_rule_give_the_same_run(magentic, server_url):
    market = load_market(magentic / "mexican_10_30")
    with OpenAIChat(server_url, "rule-market") as chat:
        remote = run_llm(market, chat, chat)
    local_model = ScriptedChat(market_rule, "rule-market")
    local = run_llm(market, local_model, local_model)
    assert local.events().equals(remote.events())
    assert local.metered.calls == remote.metered.calls


def test_same_seed_same_run_other_seed_other_request_seeds(tiny_market):
    chat = ScriptedChat(market_rule, "rule-market")
    a, b = run_llm(tiny_market, chat, chat, seed=4), run_llm(tiny_market, chat, chat, seed=4)
    assert a.events().equals(b.events())
    assert a.metrics == b.metrics


def test_tiny_market_reaches_the_optimum(tiny_market):
    chat = ScriptedChat(market_rule, "rule-market")
    run = run_llm(tiny_market, chat, chat)
    # customer_a must skip the cheaper business_2 (no Patio); customer_b buys at business_3
    assert run.metrics["welfare"] == run.metrics["optimal_welfare"] == 20.0
    assert list(run.outcomes.end_note) == ["paid", "paid"]


def test_call_budget_ends_the_episode(tiny_market):
    chat = ScriptedChat(market_rule, "rule-market")
    run = run_llm(tiny_market, chat, chat, cp=LLMCustomerParams(max_calls=1))
    assert list(run.outcomes.end_note) == ["call_budget", "call_budget"]
    assert run.metered.totals()[0] == 2  # one call each, then the budget is spent
    assert run.metrics["searches"] == 2 and run.metrics["payments"] == 0


def test_invalid_output_is_paid_for_and_ends_the_episode(tiny_market):
    garbage = ScriptedChat(lambda request: "I would rather chat.", "chatty")
    run = run_llm(tiny_market, garbage, garbage, cp=LLMCustomerParams(repair_attempts=2))
    assert list(run.outcomes.end_note) == ["invalid_output", "invalid_output"]
    assert run.metered.totals()[0] == 6  # 1 + 2 repairs per customer, all metered
    assert {c[1] for c in run.metered.calls} == {"chatty"}


def test_patience_decides_when_a_business_stays_silent(tiny_market):
    # businesses that never answer: the customer decides when its patience runs out
    silent = ScriptedChat(lambda request: '{"reply": "", "propose": []}', "silent")
    chat = ScriptedChat(market_rule, "rule-market")
    cp = LLMCustomerParams(patience_ms=5000)
    run = run_llm(tiny_market, chat, silent, cp=cp)
    assert list(run.outcomes.end_note) == ["no_acceptable_offer", "no_acceptable_offer"]
    events = run.events().to_pylist()
    for cid in tiny_market.customer_ids:
        sent = [e["time_ms"] for e in events if e["agent"] == cid and e["action"] == "send_text"]
        end = next(e["time_ms"] for e in events if e["agent"] == cid and e["action"] == "end")
        assert end >= max(sent) + 5000


def test_a_rejected_message_is_shown_to_the_model(tiny_market):
    seen = []

    def rule(request):
        seen.append(request.messages[-1].content)
        if len(seen) == 1:
            return '{"action": "message", "business_ids": ["business_9"], "message": "hi"}'
        return '{"action": "finish", "reason": "done"}'

    one = market_of(
        [customer("customer_a", {"Taco": 10.0})], [business("business_1", {"Taco": 9.0})]
    )
    run = run_llm(one, ScriptedChat(rule), ScriptedChat(market_rule))
    assert run.metrics["rejected_actions"] == 1
    assert '"business_id": "business_9"' in seen[1] and "Rejected actions" in seen[1]
    assert list(run.outcomes.end_note) == ["no_acceptable_offer"]
