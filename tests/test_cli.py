"""The command-line contract that scripts depend on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import MAIN_SETS
from tokenomy.cli import app

runner = CliRunner()
REQUIRED = {
    "welfare",
    "optimal_welfare",
    "pick_cheapest",
    "customers",
    "businesses",
    "payments",
    "needs_met_rate",
    "first_proposal_share",
    "events",
}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_market_run_json_contract(magentic, tmp_path):
    out = tmp_path / "run"
    res = invoke(
        "market",
        "run",
        magentic / "mexican_10_30",
        "--search",
        "optimal",
        "--limit",
        10,
        "--customer-policy",
        "rational",
        "--business-policy",
        "posted-price",
        "--seed",
        3,
        "--out",
        out,
        "--json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data.keys() >= REQUIRED
    assert data["welfare"] == pytest.approx(data["optimal_welfare"])
    assert (data["customers"], data["businesses"]) == (10, 30)
    for table in ("events", "messages", "proposals", "payments", "customers", "summary"):
        assert any(p.name.startswith(table) for p in out.iterdir()), table


@pytest.mark.parametrize("name", MAIN_SETS)
def test_baselines_json_equals_the_shipped_constants(magentic, name):
    res = invoke("market", "baselines", magentic / name, "--json")
    data = json.loads(res.stdout)
    shipped = json.loads((magentic / name / "baseline_utilities.json").read_text())
    assert set(data) == {"optimal", "pick_cheapest"}
    assert data["optimal"] == pytest.approx(shipped["pick_optimal_baseline"]["constant"], abs=1e-6)
    assert data["pick_cheapest"] == pytest.approx(
        shipped["pick_cheapest_baseline"]["constant"], abs=1e-6
    )


def test_generate_then_run_then_show(tmp_path):
    data = tmp_path / "data"
    res = invoke(
        "market", "generate", "--customers", 30, "--businesses", 90, "--seed", 4, "--out", data
    )
    assert res.exit_code == 0, res.output
    assert len(list((data / "customers").glob("*.yaml"))) == 30
    assert len(list((data / "businesses").glob("*.yaml"))) == 90
    run = tmp_path / "run"
    res = invoke(
        "market",
        "run",
        data,
        "--customer-policy",
        "bounded",
        "--customer-param",
        "noise=0.2",
        "--business-param",
        "jitter_ms=300",
        "--out",
        run,
    )
    assert res.exit_code == 0, res.output
    shown = invoke("runs", "show", run, "--json")
    summary = json.loads(shown.stdout)
    assert summary["policies"]["customer"]["noise"] == 0.2
    assert summary["policies"]["business"]["jitter_ms"] == 300
    assert "welfare" in invoke("runs", "show", run).stdout


def test_sweep_and_study(magentic, tmp_path):
    res = invoke(
        "market",
        "sweep",
        magentic / "mexican_3_9",
        "--limit",
        "1,3",
        "--seeds",
        "0-1",
        "--customer-policy",
        "rational,first-proposal",
        "--out",
        tmp_path / "s",
        "--json",
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 4 and all(r["welfare_n"] == 2 for r in rows)
    res = invoke(
        "market",
        "study",
        "position-bias",
        "--data",
        magentic,
        "--seeds",
        "0-2",
        "--out",
        tmp_path / "p",
    )
    assert res.exit_code == 0, res.output
    assert "position-bias" in res.stdout


def test_errors_are_one_clear_line_and_exit_code_2(magentic, tmp_path):
    res = runner.invoke(app, ["market", "run", str(magentic / "mexican_3_9"), "--search", "lexicl"])
    assert res.exit_code == 2
    assert "Did you mean 'lexical'" in res.output
    res = runner.invoke(app, ["market", "run", str(tmp_path / "none")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(
        app, ["market", "run", str(magentic / "mexican_3_9"), "--customer-param", "oops"]
    )
    assert res.exit_code == 2 and "key=value" in res.output
    out = tmp_path / "r"
    assert invoke("market", "run", magentic / "mexican_3_9", "--out", out).exit_code == 0
    res = runner.invoke(app, ["market", "run", str(magentic / "mexican_3_9"), "--out", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output


def test_prices_show_and_validate(magentic):
    assert "llama-3.1-8b-instruct" in invoke("prices", "show").stdout
    res = invoke("market", "validate", magentic / "mexican_100_300")
    assert "100 customers, 300 businesses" in res.stdout
    assert "customers no business can serve: 0" in res.stdout


def test_the_console_script_is_installed():
    exe = Path(sys.executable).with_name("tokenomy")
    assert exe.exists(), "run `pip install -e .` (make test does)"
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "market" in res.stdout and "report" in res.stdout
