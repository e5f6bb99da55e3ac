"""The Ray executor on a local Ray instance: the same merged tables as the local executor, and a
Ray worker killed mid-task costs a retry, never a lost or duplicated result."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.experiments.test_executors import (
    assert_every_task_once,
    assert_same_merged,
    kill_when_paused,
)
from tokenomy.market.executors import ExperimentResult, run_experiment
from tokenomy.market.experiment_tasks import FAULTS_ENV


def test_ray_executor_gives_identical_merged_tables(
    ray_local: object, grid_spec: Path, reference: ExperimentResult, tmp_path: Path
) -> None:
    result = run_experiment(grid_spec, tmp_path / "ray", executor="ray", workers=2)
    assert result.ok and result.executor == "ray"
    assert_every_task_once(result)
    assert_same_merged(reference.out, result.out)
    # the workers are Ray's processes, not this one
    assert f":{os.getpid()}" not in " ".join(result.tasks["worker"])
    assert result.summary["executor"]["name"] == "ray"


def test_a_ray_worker_killed_mid_task_is_retried(
    ray_local: object,
    grid_spec: Path,
    reference: ExperimentResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    victim = reference.experiment.tasks[6].id  # a task of the data condition (object store)
    monkeypatch.setenv(FAULTS_ENV, json.dumps({victim: {"pause": 1, "dir": str(tmp_path)}}))
    killer = kill_when_paused(tmp_path, victim)
    result = run_experiment(grid_spec, tmp_path / "ray-killed", executor="ray", workers=2)
    killer.join(timeout=5)
    pid = int((tmp_path / f"{victim}.pid").read_text())
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)  # the worker that ran the first attempt is gone
    assert result.ok
    assert_every_task_once(result)
    attempts = dict(zip(result.tasks["task"], result.tasks["attempts"], strict=True))
    assert attempts[victim] == 2
    assert all(n == 1 for t, n in attempts.items() if t != victim)
    assert_same_merged(reference.out, result.out)
