"""``tokenomy experiment run|status|show`` (the typer app the main CLI mounts)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.experiments.conftest import write_spec
from tokenomy.cli_experiment import experiment_app
from tokenomy.market.executors import ExperimentResult
from tokenomy.market.experiment_tasks import FAULTS_ENV

runner = CliRunner()


def flat(output: str) -> str:
    """The output with rich's line wrapping undone (it may break a long path anywhere)."""
    return output.replace("\n", "")


SMALL = """\
name: cli-small
seeds: [0, 1]
grid:
  generate: {customers: 12, businesses: 36, seed: 1}
  search: [lexical, optimal]
"""


def test_run_status_show(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SMALL)
    out = tmp_path / "out"
    result = runner.invoke(experiment_app, ["run", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 tasks: 4 ran, 0 were done before, 0 failed" in flat(result.output)
    assert "lexical" in result.output and "optimal" in result.output
    assert pq.read_table(out / "runs.parquet").num_rows == 4

    again = runner.invoke(experiment_app, ["run", str(spec), "--out", str(out), "--json"])
    assert again.exit_code == 0, again.output
    counts = json.loads(again.stdout)["counts"]
    assert (counts["ran"], counts["skipped"], counts["done"]) == (0, 4, 4)

    status = runner.invoke(experiment_app, ["status", str(spec), "--out", str(out), "--json"])
    assert status.exit_code == 0, status.output
    rows = json.loads(status.stdout)["conditions"]
    assert [(r["done"], r["pending"]) for r in rows] == [(2, 0), (2, 0)]

    shown = runner.invoke(experiment_app, ["show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "4 of 4 tasks done, 0 failed (executor local)" in flat(shown.output)
    as_json = json.loads(runner.invoke(experiment_app, ["show", str(out), "--json"]).stdout)
    assert as_json["kind"] == "experiment" and as_json["counts"]["total"] == 4


def test_a_failed_task_exits_1_and_names_the_task(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = reference.experiment.tasks[0].id
    monkeypatch.setenv(FAULTS_ENV, json.dumps({broken: {"raise": 5}}))
    out = tmp_path / "out"
    result = runner.invoke(
        experiment_app, ["run", str(grid_spec), "--out", str(out), "--retries", "1"]
    )
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert f"failed: task {broken}" in text and "after 2 attempt(s)" in text
    assert str(out / "failures.json") in text
    assert pq.read_table(out / "runs.parquet").num_rows == 8
    status = runner.invoke(experiment_app, ["status", str(grid_spec), "--out", str(out), "--json"])
    rows = json.loads(status.stdout)["conditions"]
    assert sum(r["failed"] for r in rows) == 1 and sum(r["done"] for r in rows) == 8


def test_bad_input_is_one_error_line_with_status_2(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SMALL.replace("search:", "serach:"))
    result = runner.invoke(experiment_app, ["run", str(spec), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "grid.serach" in flat(result.output) and str(spec) in flat(result.output)
    assert "Traceback" not in result.output
    good = write_spec(tmp_path, SMALL, "good.yaml")
    bad_executor = runner.invoke(
        experiment_app, ["run", str(good), "--out", str(tmp_path / "o"), "--executor", "dask"]
    )
    assert bad_executor.exit_code == 2
    assert "unknown executor 'dask'" in flat(bad_executor.output)
    not_experiment = runner.invoke(experiment_app, ["show", str(tmp_path)])
    assert not_experiment.exit_code == 2
    assert "no summary.json" in flat(not_experiment.output)


def test_the_packaged_demo_runs_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(experiment_app, ["status", "demo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["out"] == str(Path("results") / "experiments" / "demo")
    assert all(r["done"] == 0 and r["pending"] == r["tasks"] for r in report["conditions"])


def test_runs_show_and_report_read_an_experiment_folder(reference: ExperimentResult) -> None:
    from tokenomy.cli import app

    shown = runner.invoke(app, ["runs", "show", str(reference.out)])
    assert shown.exit_code == 0, shown.output
    assert "small-grid: 9 runs" in shown.output
    made = runner.invoke(app, ["report", str(reference.out)])
    assert made.exit_code == 0, made.output
    page = (reference.out / "report.html").read_text(encoding="utf-8")
    assert "tokenomy experiment — small-grid" in page
    assert "3 condition(s)" in page and "<img" in page
