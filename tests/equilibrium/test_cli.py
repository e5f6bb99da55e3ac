"""The ``tokenomy equilibrium`` command line: the JSON contract and the report."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from tokenomy.cli import app

runner = CliRunner()
CORE = {"walras", "clearing", "complementarity", "profit_gap", "planner_gap"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _spec(tmp_path, name: str):
    res = invoke("equilibrium", "example", name, "--yaml")
    assert res.exit_code == 0, res.output
    path = tmp_path / f"{name}.yaml"
    path.write_text(res.stdout)
    return path


@pytest.mark.parametrize("solver", ["planner", "price-loop", "first-order"])
def test_solve_json_contract(tmp_path, solver):
    res = invoke("equilibrium", "solve", _spec(tmp_path, "agent-dag"), "--solver", solver,
                 "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data.keys() >= {"prices", "productions", "routing", "welfare", "certificates",
                           "converged", "iterations", "wall_s"}  # fmt: skip
    assert data["certificates"].keys() >= CORE
    for key in CORE:
        value = data["certificates"][key]
        assert isinstance(value, float) and value >= 0.0, key
    assert data["converged"] is True
    assert isinstance(data["iterations"], int) and data["iterations"] >= 1
    assert data["wall_s"] > 0
    assert set(data["prices"]) == {"planner", "coder_strong", "coder_fast", "coder_backup",
                                   "verifier"}  # fmt: skip
    assert len(data["prices"]["coder_fast"]["tokens"]) == 8  # K basis coefficients
    assert {e["from"] for e in data["routing"]["edges"]} >= {"source", "planner"}


def test_fisher_json_prices_are_keyed_by_good(tmp_path):
    res = invoke("equilibrium", "solve", _spec(tmp_path, "fisher-cobb-douglas"), "--json")
    data = json.loads(res.stdout)
    assert set(data["prices"]) == {"bread", "wine", "cheese", "olives"}
    assert data["prices"]["bread"] == pytest.approx(4 * 0.4 + 2 * 0.1 + 3 * 0.25, abs=1e-8)


def test_scarf_example_reports_the_loop_does_not_converge():
    res = invoke("equilibrium", "example", "scarf", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["solver"] == "planner" and data["converged"] is True
    assert data["prices"] == pytest.approx({"g1": 1.0, "g2": 1.0, "g3": 1.0}, abs=1e-8)
    loop = data["solvers"]["price-loop"]
    assert loop["converged"] is False
    assert loop["status"] == "cycling"


def test_example_listing_and_table():
    listing = invoke("equilibrium", "example")
    assert listing.exit_code == 0
    for name in ("fisher-cobb-douglas", "exchange-cobb-douglas", "crusoe", "scarf", "agent-dag",
                 "dag-tree", "dag-entangled"):  # fmt: skip
        assert name in listing.stdout
    table = invoke("equilibrium", "example", "dag-entangled")
    assert table.exit_code == 0
    assert "cycling" in table.stdout


def test_bad_spec_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(_spec(tmp_path, "dag-tree").read_text().replace("[c, sink]", "[c, a]"))
    res = invoke("equilibrium", "solve", bad)
    assert res.exit_code == 2
    assert "graph.edges" in res.output and "cycle" in res.output


def test_unknown_solver_exits_2(tmp_path):
    res = invoke("equilibrium", "solve", _spec(tmp_path, "crusoe"), "--solver", "magic")
    assert res.exit_code == 2
    assert "magic" in res.output


def test_saved_set_shows_and_reports(tmp_path):
    out = tmp_path / "set"
    res = invoke("equilibrium", "example", "dag-tree", "--out", out)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "equilibrium-set"
    assert set(summary["economies"][0]["folders"]) == {"planner", "price-loop", "first-order"}
    show = invoke("runs", "show", out)
    assert show.exit_code == 0 and "dag-tree" in show.stdout
    report = invoke("report", out)
    assert report.exit_code == 0, report.output
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64") >= 4
    # refusing to overwrite keeps what is there
    again = invoke("equilibrium", "example", "dag-tree", "--out", out)
    assert again.exit_code == 2
    assert (out / "report.html").exists()


def test_report_of_specs_and_examples(tmp_path):
    target = tmp_path / "r.html"
    res = invoke("equilibrium", "report", "dag-tree", "dag-entangled", "--out", target)
    assert res.exit_code == 0, res.output
    page = target.read_text()
    assert "Price-loop dynamics across economies" in page
    assert re.search(r"dag-entangled</b>: cycling", page)
    assert re.search(r"dag-tree</b>: optimal", page)
    single = tmp_path / "agent.html"
    spec = _spec(tmp_path, "agent-dag")
    res = invoke("equilibrium", "report", spec, "--out", single)
    assert res.exit_code == 0, res.output
    page = single.read_text()
    for caption in ("Prices p_a(t)", "Productions y_a(t)", "Routing flow on the DAG",
                    "Residual of the iterative methods"):  # fmt: skip
        assert caption in page
    assert "coder_strong.tokens" in page  # where capacity binds


def test_solve_saves_a_result_folder(tmp_path):
    out = tmp_path / "res"
    res = invoke("equilibrium", "solve", _spec(tmp_path, "crusoe"), "--solver", "price-loop",
                 "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "equilibrium" and summary["solver"] == "price-loop"
    assert (out / "trace.parquet").exists() and (out / "price_path.parquet").exists()
    report = invoke("equilibrium", "report", out)
    assert report.exit_code == 0, report.output
    assert (out / "report.html").exists()
