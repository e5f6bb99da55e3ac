"""Mixed populations: LLM and scripted agents, several backends, loaded from YAML."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from tokenomy.errors import DataError
from tokenomy.llm import close_model
from tokenomy.market.engine import EventEngine
from tokenomy.market.io import load_market
from tokenomy.market.metrics import baselines, customer_outcomes, summarize
from tokenomy.market.policies.params import BusinessParams, CustomerParams
from tokenomy.market.policies.scripted import ScriptedBusiness, ScriptedCustomer
from tokenomy.market.population import (
    PopulationSpec,
    assign_policies,
    load_population,
    population_factories,
)
from tokenomy.prices import Prices
from tokenomy.rng import uniform


def mixed_spec(server_url: str) -> PopulationSpec:
    return PopulationSpec.model_validate(
        {
            "backends": {
                "small": {"kind": "openai", "base_url": server_url, "model": "rule-market"},
                "large": {"kind": "openai", "base_url": server_url, "model": "rule-market-b"},
            },
            "customers": [
                {"agents": {"fraction": 0.5}, "policy": "llm", "backend": "small"},
                {"agents": "*", "policy": "rational"},
            ],
            "businesses": [
                {"agents": {"fraction": 0.5}, "policy": "llm", "backend": "small"},
                {"agents": "*", "policy": "llm", "backend": "large", "params": {"max_calls": 50}},
            ],
        }
    )


def run_population(market, spec, seed, *, with_market: bool):
    calls: list[tuple[str, str]] = []
    kinds: dict[str, str] = {}

    def wrap(factory):
        def make(ctx):
            def meter(model, tin, tout, latency_s):
                calls.append((ctx.agent_id, model))

            policy = factory(dataclasses.replace(ctx, meter=meter))
            kinds[ctx.agent_id] = type(policy).__name__
            return policy

        return make

    make_c, make_b, models = population_factories(
        spec,
        customer_params=CustomerParams(),
        business_params=BusinessParams(),
        seed=seed,
        market=market if with_market else None,
    )
    try:
        log = EventEngine(
            market, wrap(make_c), wrap(make_b), search_algorithm="lexical", limit=10, seed=seed
        ).run()
    finally:
        for model in models.values():
            close_model(model)
    out = customer_outcomes(market, log, Prices(), "llama-3.1-8b-instruct", "llama-3.1-8b-instruct")
    return log, out, summarize(market, log, out, baselines(market)), calls, kinds, models


def test_mixed_population_runs(magentic, server_url):
    market = load_market(magentic / "mexican_10_30")
    spec = mixed_spec(server_url)
    _, out, metrics, calls, kinds, models = run_population(market, spec, 0, with_market=True)
    assert sorted(models) == ["large", "small"]

    labels = assign_policies(spec, market, 0)
    llm_customers = [c for c in market.customer_ids if labels[c] == "llm:small"]
    scripted = [c for c in market.customer_ids if labels[c] == "rational"]
    assert llm_customers and scripted and len(llm_customers) + len(scripted) == 10
    draws = uniform(0, "population/customers", range(10))
    assert llm_customers == [c for c, u in zip(market.customer_ids, draws, strict=True) if u < 0.5]
    # the factories built what the labels say
    for agent, kind in kinds.items():
        expected = "LLMCustomer" if labels[agent] == "llm:small" else "ScriptedCustomer"
        if agent.startswith("business"):
            expected = "LLMBusiness"
        assert kind == expected, agent
    assert {labels[b] for b in market.business_ids} == {"llm:small", "llm:large"}

    # both business backends answered, under their own model names
    by_model = {}
    for agent, model in calls:
        by_model.setdefault(model, set()).add(labels[agent])
    assert by_model == {
        "rule-market": {"llm:small"},
        "rule-market-b": {"llm:large"},
    }
    # everyone finished; LLM and scripted customers both bought something
    assert "unfinished" not in out.end_note
    paid = {c for c, n in zip(market.customer_ids, out.end_note, strict=True) if n == "paid"}
    assert paid & set(llm_customers) and paid & set(scripted)
    assert 0 < metrics["welfare"] <= metrics["optimal_welfare"]


def test_selection_without_market_uses_the_engine_draw(magentic, server_url):
    market = load_market(magentic / "mexican_3_9")
    spec = mixed_spec(server_url)
    a = run_population(market, spec, 3, with_market=True)
    b = run_population(market, spec, 3, with_market=False)
    assert a[4] == b[4]
    assert a[0].tables(market)["events"].equals(b[0].tables(market)["events"])


def test_rules_glob_list_and_default(tiny_market):
    spec = PopulationSpec.model_validate(
        {
            "backends": {"rule": {"kind": "scripted", "rule": "market"}},
            "customers": [{"agents": ["customer_b"], "policy": "llm", "backend": "rule"}],
            "businesses": [
                {"agents": "business_[12]", "policy": "discounting"},
                {"agents": "business_*", "policy": "llm", "backend": "rule"},
            ],
        }
    )
    labels = assign_policies(spec, tiny_market, 0)
    assert labels == {
        "customer_a": "default",
        "customer_b": "llm:rule",
        "business_1": "discounting",
        "business_2": "discounting",
        "business_3": "llm:rule",
    }
    make_c, make_b, models = population_factories(
        spec, customer_params=CustomerParams(), business_params=BusinessParams(), seed=0
    )
    log = EventEngine(
        tiny_market, make_c, make_b, search_algorithm="lexical", limit=10, seed=0
    ).run()
    out = customer_outcomes(
        tiny_market, log, Prices(), "llama-3.1-8b-instruct", "llama-3.1-8b-instruct"
    )
    assert list(out.end_note) == ["paid", "paid"]
    assert list(models) == ["rule"]


def write(tmp_path, text: str):
    path = tmp_path / "population.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_load_population_with_relative_paths(tmp_path):
    path = write(
        tmp_path,
        """
        backends:
          local: {kind: scripted, rule: market, record: calls.jsonl}
        customers:
          - {agents: {fraction: 0.25}, policy: llm, backend: local, params: {max_calls: 5}}
          - {agents: "*", policy: bounded, params: {contacts: 2}}
        businesses: []
        """,
    )
    spec = load_population(path)
    assert spec.customers[0].agents.fraction == 0.25
    _, _, models = population_factories(
        spec,
        customer_params=CustomerParams(),
        business_params=BusinessParams(),
        seed=0,
        base_dir=tmp_path,
    )
    assert (tmp_path / "calls.jsonl").exists()
    assert models["local"].name == "rule-market"


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("customers: [{policy: llm, backend: nope}]", "customers.0.backend", "a backend name"),
        ("customers: [{policy: llm}]", "customers.0.backend", "a backend name"),
        ("customers: [{policy: greedy}]", "customers.0.policy", "rational"),
        ("businesses: [{policy: rational}]", "businesses.0.policy", "discounting"),
        ("customers: [{policy: rational, backend: x}]", "customers.0.backend", "no backend"),
        ("customers: [{policy: bounded, params: {noise: -1}}]", "customers.0.params", "noise"),
        (
            "backends: {b: {kind: scripted, rule: echo}}\n"
            "customers: [{policy: llm, backend: b, params: {max_calls: 0}}]",
            "customers.0.params.max_calls",
            "greater than or equal to 1",
        ),
        (
            "backends: {b: {kind: scripted, rule: echo}}\n"
            "businesses: [{policy: llm, backend: b, params: {patience_ms: 5}}]",
            "businesses.0.params.patience_ms",
            "Extra inputs",
        ),
        ("customers: [{agents: {fraction: 1.5}, policy: rational}]", "customers.0.agents", "1"),
        ("backends: {b: {kind: grpc}}", "backends.b.kind", "openai"),
        ("backends: {b: {kind: openai, api_key: sk-123}}", "backends.b.api_key", "no such field"),
        ("custommers: []", "custommers", "no such field"),
    ],
)
def test_bad_population_names_file_field_value(tmp_path, text, field, expected):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_population(path)
    message = str(info.value)
    assert message.startswith(f"{path}, field '{field}"), message
    assert expected in message


def test_population_file_not_yaml_or_missing(tmp_path):
    with pytest.raises(DataError, match="valid YAML"):
        load_population(write(tmp_path, "customers: [unclosed"))
    with pytest.raises(DataError, match="a mapping"):
        load_population(write(tmp_path, "- just a list"))
    with pytest.raises(DataError, match="readable population file"):
        load_population(tmp_path / "absent.yaml")


def test_scripted_presets_in_a_population_match_plain_scripted(tiny_market):
    spec = PopulationSpec.model_validate(
        {"customers": [{"policy": "rational"}], "businesses": [{"policy": "posted-price"}]}
    )
    make_c, make_b, _ = population_factories(
        spec, customer_params=CustomerParams(), business_params=BusinessParams(), seed=0
    )
    via_population = EventEngine(
        tiny_market, make_c, make_b, search_algorithm="lexical", limit=10, seed=0
    ).run()
    plain = EventEngine(
        tiny_market,
        lambda ctx: ScriptedCustomer(ctx, CustomerParams()),
        lambda ctx: ScriptedBusiness(ctx, BusinessParams()),
        search_algorithm="lexical",
        limit=10,
        seed=0,
    ).run()
    assert via_population.tables(tiny_market)["events"].equals(plain.tables(tiny_market)["events"])
