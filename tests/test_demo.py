"""The demo behind `make demo`, on a smaller market so the test stays quick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenomy.demo import run_demo
from tokenomy.errors import ResultsError


def test_demo_writes_three_studies_and_a_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative output folder, as `make demo` gives
    seen = []
    report = run_demo(
        Path("demo"),
        customers=20,
        businesses=60,
        progress=lambda d, t, label: seen.append((d, t)),
    )
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["kind"] == "study"
    assert summary["sweeps"] == ["consideration-set-size", "position-bias", "manipulation"]
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 6
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached the total
    assert (tmp_path / "demo" / "data" / "synthetic_20_60" / "customers").is_dir()
    equilibrium = json.loads((tmp_path / "demo" / "equilibrium" / "summary.json").read_text())
    assert equilibrium["kind"] == "equilibrium-set"
    names = [e["name"] for e in equilibrium["economies"]]
    assert {"agent-dag", "scarf", "dag-tree", "dag-entangled"} <= set(names)
    scarf = equilibrium["economies"][names.index("scarf")]
    assert scarf["solvers"]["price-loop"]["converged"] is False
    assert scarf["solvers"]["planner"]["converged"] is True
    page = (tmp_path / "demo" / "equilibrium" / "report.html").read_text()
    assert "Price-loop dynamics across economies" in page
    service = json.loads((tmp_path / "demo" / "service" / "summary.json").read_text())
    assert service["transport"] == "http" and service["ledger"]["audit"]["ok"]
    assert service["ledger"]["receipts_match_payments"] and service["metrics"]["payments"] > 0
    assert service["llm"]["calls"] > 0 and service["metrics"]["token_cost_customers"] > 0
    assert (tmp_path / "demo" / "service" / "market.db").is_file()
    assert (tmp_path / "demo" / "service" / "report.html").is_file()
    calls = (tmp_path / "demo" / "service" / "calls.jsonl").read_text().splitlines()
    assert len(calls) == service["llm"]["calls"]
    with pytest.raises(ResultsError, match="--overwrite"):
        run_demo(tmp_path / "demo", customers=20, businesses=60)
