"""``tokenomy principal``: replay --json, run (scripted), report, bad input."""

from __future__ import annotations

import json
from collections import Counter

import yaml
from typer.testing import CliRunner

from tokenomy.cli_principal import principal_app
from tokenomy.principal.scenarios import builtin_path

runner = CliRunner()


def test_replay_json_reproduces_the_published_cells(tinmen):
    done = runner.invoke(principal_app, ["replay", "--data", str(tinmen), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert set(data) == {"rows"}
    rows = data["rows"]
    keys = {"model", "temperature", "scenario", "condition", "choice", "count"}
    assert all(set(r) == keys and r["count"] > 0 for r in rows)
    cell = {(r["model"], r["scenario"], r["condition"], r["choice"]): r["count"] for r in rows}
    assert cell[("gpt-3.5-turbo", "shell", "customer-only", "1")] == 29
    assert cell[("gpt-3.5-turbo", "shell", "principal-only", "2")] == 21
    for condition in ("both", "customer-only", "principal-only", "neither"):
        assert cell[("gpt-4", "shell", condition, "2")] == 30
    per_model = Counter()
    for r in rows:
        per_model[r["model"]] += r["count"]
        assert r["temperature"] == 0.2
        assert r["choice"] in ("1", "2", "unparsed")
    assert per_model == {"gpt-3.5-turbo": 240, "gpt-4": 240}


def test_replay_table_lists_tests_and_disagreements(tinmen):
    done = runner.invoke(principal_app, ["replay", "--data", str(tinmen)])
    assert done.exit_code == 0, done.output
    assert "fisher" in done.stdout and "chi2" in done.stdout
    assert "disagreements with the recorded choices: 0" in done.stdout


def test_scripted_run_then_report(tmp_path):
    out = tmp_path / "run"
    args = ["run", "shell", "--backend", "scripted", "--n", "3", "--out", str(out), "--json"]
    done = runner.invoke(principal_app, args)
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    assert {r["choice"] for r in rows} == {"1"}
    assert sum(r["count"] for r in rows) == 4 * 3
    done = runner.invoke(principal_app, ["report", str(out)])
    assert done.exit_code == 0, done.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Override rate" in page


def test_replay_backend_run_writes_a_result(tinmen, tmp_path):
    out = tmp_path / "replayed"
    args = ["run", "openai", "--backend", "replay", "--data", str(tinmen), "--n", "30"]
    done = runner.invoke(principal_app, [*args, "--out", str(out), "--model", "gpt-4", "--json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    assert {(r["condition"], r["choice"], r["count"]) for r in rows} == {
        (c, "2", 30) for c in ("both", "customer-only", "principal-only", "neither")
    }
    assert (out / "transcripts.parquet").is_file()


def test_bad_scenario_is_one_error_line_naming_the_field(tmp_path):
    data = yaml.safe_load(builtin_path("shell").read_text(encoding="utf-8"))
    data["preferred"] = "7"
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "never"
    done = runner.invoke(principal_app, ["run", str(file), "--n", "1", "--out", str(out)])
    assert done.exit_code == 2
    line = done.output.replace("\n", "")  # rich wraps long lines
    assert "field 'preferred': got '7'; expected one of the product ids" in line
    assert "bad.yaml" in line
    assert not out.exists()
