"""`tokenomy allocate ...`: diagnosis table, serving, agents, and errors as one line."""

import json

from typer.testing import CliRunner

from tokenomy.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


def test_diagnose_prints_all_seven_modes_and_finds_the_injected_one(tmp_path):
    clean, bad = tmp_path / "clean.jsonl", tmp_path / "bad.jsonl"
    assert runner.invoke(app, ["allocate", "synth-log", str(clean), "--n", "300"]).exit_code == 0
    res = runner.invoke(
        app, ["allocate", "synth-log", str(bad), "--mode", "cache misuse", "--n", "300"]
    )
    assert res.exit_code == 0, res.output
    table = runner.invoke(app, ["allocate", "diagnose", str(bad)])
    assert table.exit_code == 0
    for mode in (
        "over-routing",
        "under-routing",
        "over-delegation",
        "under-verification",
        "serving congestion",
        "stale rollouts",
        "cache misuse",
    ):
        assert mode in table.stdout
    rows = {
        r["mode"]: r
        for r in json.loads(
            runner.invoke(app, ["allocate", "diagnose", str(bad), "--json"]).stdout
        )["modes"]
    }
    assert rows["cache misuse"]["count"] > 0
    assert sum(r["count"] for m, r in rows.items() if m != "cache misuse") == 0
    clean_rows = json.loads(
        runner.invoke(app, ["allocate", "diagnose", str(clean), "--json"]).stdout
    )["modes"]
    assert all(r["count"] == 0 for r in clean_rows)


def test_diagnose_bad_log_is_one_error_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"id": "a", "layer": "router"}\n')
    res = runner.invoke(app, ["allocate", "diagnose", str(log)])
    assert res.exit_code == 2
    message = res.output.replace("\n", "")  # the console wraps long lines
    assert "log.jsonl" in message and "line 1" in message


def test_serve_synthetic_congestion_pricing_beats_fcfs(tmp_path):
    log = tmp_path / "serving.jsonl"
    res = runner.invoke(
        app,
        [
            "allocate",
            "serve",
            "--trace",
            "synthetic",
            "--load",
            "0.95",
            "--json",
            "--log",
            str(log),
        ],
    )
    assert res.exit_code == 0, res.output
    policies = json.loads(res.stdout)["policies"]
    fcfs, priced = policies["fcfs"], policies["congestion"]
    assert priced["latency_p99_s"] < fcfs["latency_p99_s"]
    assert priced["welfare_total"] > fcfs["welfare_total"]
    rows = {
        r["mode"]: r
        for r in json.loads(
            runner.invoke(app, ["allocate", "diagnose", str(log), "--json"]).stdout
        )["modes"]
    }
    assert rows["serving congestion"]["count"] > 0  # FCFS admits requests under water


def test_agents_table_and_json():
    res = runner.invoke(app, ["allocate", "agents", "--tasks", "300", "--json"])
    assert res.exit_code == 0, res.output
    agents = {r["agent"]: r for r in json.loads(res.stdout)["agents"]}
    assert "marginal" in agents and len(agents) == 3
    text = runner.invoke(app, ["allocate", "agents", "--tasks", "300"])
    assert "marginal" in text.stdout
