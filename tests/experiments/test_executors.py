"""The local and process executors: identical merged tables, resume, retries, failures, and
workers (or the whole run) killed mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.experiments.conftest import GRID, write_spec
from tokenomy.errors import ConfigError, ResultsError, UnknownNameError
from tokenomy.market.executors import ExperimentResult, run_experiment
from tokenomy.market.experiment_tasks import FAULTS_ENV, shard_file

MERGED = ("runs", "customers", "aggregate")


def assert_same_merged(a: Path, b: Path) -> None:
    """The merged tables of two experiment folders are equal, and so are their files' bytes."""
    for name in MERGED:
        ta, tb = pq.read_table(a / f"{name}.parquet"), pq.read_table(b / f"{name}.parquet")
        assert ta.equals(tb), name
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name


def assert_every_task_once(result: ExperimentResult) -> None:
    ids = [t.id for t in result.experiment.tasks]
    assert list(result.runs["task"]) == ids  # in the spec's order, each exactly once
    assert list(result.runs["run"]) == list(range(len(ids)))
    assert result.customers.column("task").unique().to_pylist() == ids


def wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def kill_when_paused(folder: Path, task: str) -> threading.Thread:
    """A thread that SIGKILLs the process the fault hook reports for ``task``."""

    def kill() -> None:
        pid_file = folder / f"{task}.pid"
        wait_for(pid_file)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_the_reference_run_has_every_task_and_seeds_matter(reference: ExperimentResult) -> None:
    assert reference.ok and reference.counts["ran"] == 9
    assert_every_task_once(reference)
    runs = reference.runs
    assert set(runs["data"]) == {"generated/restaurants_30_60_seed3", "market"}
    # seeds change the outcome of the noisy and the jittered conditions
    assert runs.groupby("condition")["welfare"].nunique().min() > 1
    agg = reference.aggregate
    assert list(agg["condition"]) == [e.id for e in reference.experiment.conditions]
    assert (agg["welfare_n"] == 3).all()
    assert (agg["welfare_ci_low"] <= agg["welfare"]).all()
    assert "attempts" not in runs and "worker" not in runs
    assert (reference.tasks["attempts"] == 1).all()
    assert reference.customers.num_rows == 2 * 3 * 30 + 3 * 20
    summary = json.loads((reference.out / "summary.json").read_text())
    assert summary["kind"] == "experiment" and summary["counts"]["done"] == 9
    assert json.loads((reference.out / "failures.json").read_text()) == {"failures": []}


def test_process_executor_gives_identical_merged_tables(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path
) -> None:
    result = run_experiment(grid_spec, tmp_path / "process", executor="process", workers=2)
    assert result.ok
    assert_same_merged(reference.out, result.out)
    assert result.tasks["worker"].nunique() >= 1


def test_resume_skips_finished_shards(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path
) -> None:
    smaller = write_spec(grid_spec.parent, GRID.replace("[0, 1, 2]", "[0, 2]"), "smaller.yaml")
    out = tmp_path / "grown"
    first = run_experiment(smaller, out)
    assert first.counts["ran"] == 6
    done = {t.id: shard_file(out, t.id).stat().st_mtime_ns for t in first.experiment.tasks}
    grown = run_experiment(grid_spec, out)  # the spec grew by a seed
    assert (grown.counts["skipped"], grown.counts["ran"]) == (6, 3)
    assert all(shard_file(out, t).stat().st_mtime_ns == m for t, m in done.items())
    assert_same_merged(reference.out, out)
    again = run_experiment(grid_spec, out)
    assert (again.counts["skipped"], again.counts["ran"]) == (9, 0)
    fresh = run_experiment(grid_spec, out, fresh=True)
    assert (fresh.counts["skipped"], fresh.counts["ran"]) == (0, 9)


def test_a_task_that_fails_once_is_retried(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = reference.experiment.tasks[4].id
    monkeypatch.setenv(FAULTS_ENV, json.dumps({flaky: {"raise": 1}}))
    result = run_experiment(grid_spec, tmp_path / "retried", retries=1)
    assert result.ok and result.counts["retried"] == 1
    attempts = dict(zip(result.tasks["task"], result.tasks["attempts"], strict=True))
    assert attempts[flaky] == 2
    assert all(n == 1 for t, n in attempts.items() if t != flaky)
    assert_same_merged(reference.out, result.out)


def test_a_task_that_always_fails_is_reported_and_the_rest_merged(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = reference.experiment.tasks[7]
    monkeypatch.setenv(FAULTS_ENV, json.dumps({broken.id: {"raise": 99}}))
    out = tmp_path / "failing"
    result = run_experiment(grid_spec, out, executor="process", workers=2, retries=2)
    assert not result.ok
    assert result.counts["failed"] == 1 and result.counts["done"] == 8
    [failure] = json.loads((out / "failures.json").read_text())["failures"]
    assert failure["task"] == broken.id and failure["seed"] == broken.seed
    assert failure["attempts"] == 3
    assert failure["error"].startswith("InjectedFault: injected failure")
    assert "Traceback" in failure["traceback"] and "_inject" in failure["traceback"]
    assert broken.id not in set(result.runs["task"])
    assert list(result.runs["run"]) == list(range(8))
    # resumed without the fault, the sweep completes and equals the uninterrupted run
    monkeypatch.delenv(FAULTS_ENV)
    resumed = run_experiment(grid_spec, out)
    assert resumed.ok and (resumed.counts["ran"], resumed.counts["skipped"]) == (1, 8)
    assert json.loads((out / "failures.json").read_text()) == {"failures": []}
    assert_same_merged(reference.out, out)


def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = reference.experiment.tasks[2].id
    monkeypatch.setenv(FAULTS_ENV, json.dumps({victim: {"pause": 1, "dir": str(tmp_path)}}))
    killer = kill_when_paused(tmp_path, victim)
    result = run_experiment(grid_spec, tmp_path / "killed", executor="process", workers=2)
    killer.join(timeout=5)
    assert result.ok
    assert_every_task_once(result)
    attempts = dict(zip(result.tasks["task"], result.tasks["attempts"], strict=True))
    assert attempts[victim] == 2  # its first worker died; the new pool ran it again
    assert result.counts["retried"] >= 1
    assert_same_merged(reference.out, result.out)


def test_the_whole_run_killed_then_resumed_equals_an_uninterrupted_run(
    grid_spec: Path, reference: ExperimentResult, tmp_path: Path
) -> None:
    tasks = reference.experiment.tasks
    stop_at = tasks[5].id
    out = tmp_path / "crashed"
    env = {**os.environ, FAULTS_ENV: json.dumps({stop_at: {"pause": 1, "dir": str(tmp_path)}})}
    command = [sys.executable, "-m", "tokenomy.cli_experiment", "run", str(grid_spec)]
    command += ["--out", str(out), "--executor", "process", "--workers", "2"]
    with subprocess.Popen(
        command,
        env=env,
        start_new_session=True,  # its own process group: the driver, its pool, its server
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            wait_for(tmp_path / f"{stop_at}.pid")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "runs.parquet").exists()  # killed before the merge
    finished = [t.id for t in tasks if shard_file(out, t.id).exists()]
    # task 5 was started only once 4 tasks were done (2 in flight at most); the killed run's
    # shards carry the ids this process computes (ids are stable across processes)
    assert 4 <= len(finished) < len(tasks) and stop_at not in finished
    assert {p.stem for p in (out / "shards").glob("*.parquet")} == set(finished)

    resumed = run_experiment(grid_spec, out)
    assert resumed.ok
    assert (resumed.counts["skipped"], resumed.counts["ran"]) == (
        len(finished),
        len(tasks) - len(finished),
    )
    assert_every_task_once(resumed)
    assert not list((out / "shards").rglob("*.tmp-*"))
    assert_same_merged(reference.out, out)


def test_bad_executor_settings_are_config_errors(grid_spec: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'process'"):
        run_experiment(grid_spec, tmp_path / "x", executor="proces")
    with pytest.raises(ConfigError, match="--workers"):
        run_experiment(grid_spec, tmp_path / "x", executor="process", workers=0)
    with pytest.raises(ConfigError, match="--address is for --executor ray"):
        run_experiment(grid_spec, tmp_path / "x", address="auto")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ResultsError, match="holds other results"):
        run_experiment(grid_spec, other)
    assert (other / "notes.txt").read_text(encoding="utf-8") == "mine"
