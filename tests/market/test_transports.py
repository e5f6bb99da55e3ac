"""In memory, in-process over the service, and over HTTP: the same run, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tests.postgres import postgres_url
from tokenomy.cli import app
from tokenomy.ledger import Ledger
from tokenomy.market.dataset import Market
from tokenomy.market.io import load_market
from tokenomy.market.runner import RunConfig, run_market

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def mexican_10_30(magentic: Path) -> Market:
    return load_market(magentic / "mexican_10_30")


def _events(result: object, market: Market) -> pa.Table:
    return result.log.tables(market)["events"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("policy", ["rational", "first-proposal"])
def test_memory_inprocess_and_http_runs_are_identical(
    mexican_10_30: Market, tmp_path: Path, policy: str
) -> None:
    config = RunConfig(search="lexical", limit=5, customer_policy=policy, seed=3)
    memory = run_market(mexican_10_30, config)
    inproc = run_market(
        mexican_10_30, config, transport="inprocess", db_url=f"sqlite:///{tmp_path / 'a.db'}"
    )
    http = run_market(
        mexican_10_30, config, transport="http", db_url=f"sqlite:///{tmp_path / 'b.db'}"
    )
    assert memory.summary["transport"] == "memory" and http.summary["transport"] == "http"
    for other in (inproc, http):
        assert other.summary["metrics"] == memory.summary["metrics"]
        assert _events(other, mexican_10_30).equals(_events(memory, mexican_10_30))
        assert other.log.pay_amount.tolist() == memory.log.pay_amount.tolist()
        ledger = other.summary["ledger"]
        assert ledger["audit"]["ok"] and ledger["audit"]["imbalance"] == 0
        assert ledger["receipts_match_payments"]
        assert ledger["settled"] == memory.summary["metrics"]["payments"] > 0
    assert http.summary["ledger"]["http_requests"] > memory.summary["metrics"]["events"]


def test_cli_http_run_keeps_its_database_and_it_audits(magentic: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = RUNNER.invoke(
        app,
        [
            "market",
            "run",
            str(magentic / "mexican_3_9"),
            "--transport",
            "http",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["db"] == f"sqlite:///{out / 'market.db'}" and (out / "market.db").is_file()
    assert json.loads((out / "summary.json").read_text())["db"] == summary["db"]
    audit = RUNNER.invoke(app, ["ledger", "audit", summary["db"], "--json"])
    assert audit.exit_code == 0, audit.output
    report = json.loads(audit.stdout)
    assert report["ok"] and report["imbalance"] == 0 and report["violations"] == []
    assert report["accounts"] > 2 * (3 + 9) and report["transfers"] > 0
    with Ledger.open(summary["db"]) as ledger:
        held = ledger.holds(status="settled")
        assert len(held) == summary["payments"]
    reuse = RUNNER.invoke(
        app,
        [
            "market",
            "run",
            str(magentic / "mexican_3_9"),
            "--db",
            summary["db"],
            "--out",
            str(tmp_path / "again"),
            "--json",
        ],
    )
    assert reuse.exit_code == 2 and "already holds a run" in reuse.output


def test_inprocess_without_db_reports_no_database(magentic: Path, tmp_path: Path) -> None:
    r = RUNNER.invoke(
        app,
        ["market", "run", str(magentic / "mexican_3_9"), "--out", str(tmp_path / "m"), "--json"],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["db"] is None


def test_http_run_on_postgresql_equals_the_memory_run(
    mexican_10_30: Market, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = postgres_url(tmp_path_factory)  # skips, saying why, when PostgreSQL is unavailable
    config = RunConfig(search="bm25", limit=10, seed=1)
    memory = run_market(mexican_10_30, config)
    http = run_market(mexican_10_30, config, transport="http", db_url=url)
    assert http.summary["metrics"] == memory.summary["metrics"]
    assert _events(http, mexican_10_30).equals(_events(memory, mexican_10_30))
    assert (
        http.summary["ledger"]["audit"]["ok"] and http.summary["ledger"]["receipts_match_payments"]
    )
    assert http.summary["db"].startswith("postgresql+psycopg://")
