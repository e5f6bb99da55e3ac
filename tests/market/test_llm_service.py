"""LLM agents through the whole stack: the OpenAI-compatible test server answers every model
call (real HTTP, the official SDK), every agent acts through the protocol server over HTTP,
payments and token costs move through the ledger — then the recorded run replays with no model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tokenomy.ledger import Ledger
from tokenomy.llm.testserver import create_app as create_llm_app
from tokenomy.loopback import serve_in_thread
from tokenomy.market.io import load_market
from tokenomy.market.population import load_population
from tokenomy.market.runner import RunConfig, run_market
from tokenomy.market.service import money_account, provider_id, token_account


def _population(path: Path, backend: dict[str, object]) -> Path:
    spec = {
        "backends": {"model": backend},
        "customers": [{"agents": "*", "policy": "llm", "backend": "model"}],
        "businesses": [{"agents": "*", "policy": "llm", "backend": "model"}],
    }
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.mark.slow
def test_llm_market_over_http_pays_tokens_in_the_ledger_and_replays(
    magentic: Path, tmp_path: Path
) -> None:
    market = load_market(magentic / "mexican_10_30")
    config = RunConfig(search="lexical", limit=10, seed=0)
    transcript = tmp_path / "calls.jsonl"
    with serve_in_thread(create_llm_app()) as llm_url:
        live_pop = _population(
            tmp_path / "live.yaml",
            {
                "kind": "openai",
                "base_url": f"{llm_url}/v1",
                "model": "rule-market",
                "record": str(transcript),
            },
        )
        live = run_market(
            market,
            config,
            transport="http",
            db_url=f"sqlite:///{tmp_path / 'live.db'}",
            population=load_population(live_pop),
            population_dir=tmp_path,
        )
    m = live.summary["metrics"]
    llm = live.summary["llm"]
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    # every customer and business that was asked something paid for it, as the API counted it
    assert llm["calls"] == len(calls) > 0
    assert llm["input_tokens"] == sum(c["response"]["usage"]["input_tokens"] for c in calls)
    assert llm["output_tokens"] == sum(c["response"]["usage"]["output_tokens"] for c in calls)
    assert 0 < m["welfare"] <= m["optimal_welfare"] and m["payments"] > 0
    # token-aware welfare subtracts the customers' metered cost (what the ledger charged)
    assert m["token_cost_customers"] > 0
    assert m["token_aware_welfare"] == pytest.approx(m["welfare"] - m["token_cost_customers"])
    assert (
        live.summary["ledger"]["audit"]["ok"] and live.summary["ledger"]["receipts_match_payments"]
    )
    with Ledger.open(live.summary["db"]) as ledger:
        provider = provider_id("rule-market")
        assert ledger.balance(token_account(provider)) == llm["input_tokens"] + llm["output_tokens"]
        paid_to_provider = ledger.balance(money_account(provider))
        assert paid_to_provider == pytest.approx(llm["cost"] * 1e6, abs=llm["calls"])
        customers_spent = sum(ledger.balance(token_account(c)) for c in market.customer_ids)
        assert customers_spent < len(market.customer_ids) * 5_000_000  # tokens left the accounts

    # replay: no model, no server for the model — the same run
    replay_pop = _population(
        tmp_path / "replay.yaml", {"kind": "replay", "transcript": str(transcript)}
    )
    replay = run_market(
        market,
        config,
        transport="inprocess",
        db_url=f"sqlite:///{tmp_path / 'replay.db'}",
        population=load_population(replay_pop),
        population_dir=tmp_path,
    )
    assert replay.summary["metrics"] == live.summary["metrics"]
    assert replay.summary["llm"] == live.summary["llm"]
    a, b = live.log.tables(market)["events"], replay.log.tables(market)["events"]
    assert a.equals(b)
    assert np.array_equal(live.log.pay_amount, replay.log.pay_amount)


def test_cli_run_with_a_population_records_every_call_in_the_run_folder(
    magentic: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from tokenomy.cli import app

    pop = _population(tmp_path / "pop.yaml", {"kind": "scripted", "rule": "market"})
    out = tmp_path / "run"
    r = CliRunner().invoke(
        app,
        [
            "market",
            "run",
            str(magentic / "mexican_3_9"),
            "--agents",
            str(pop),
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "calls-model.jsonl").read_text().splitlines()
    assert len(lines) == summary["llm"]["calls"] > 0
    assert all({"prompt_hash", "response"} <= set(json.loads(line)) for line in lines)
    assert json.loads(r.stdout)["db"] == f"sqlite:///{tmp_path / 'x.db'}"
