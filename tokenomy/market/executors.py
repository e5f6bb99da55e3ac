"""Running an experiment's tasks here, in a process pool, or on Ray — with the same results.

>>> from tokenomy.market.executors import run_experiment                # doctest: +SKIP
>>> result = run_experiment("spec.yaml", "results/exp", executor="process", workers=4)
>>> result.aggregate[["search", "limit", "welfare", "welfare_ci_low"]]  # doctest: +SKIP

Three executors run the tasks (:data:`EXECUTORS`):

* ``local`` — one after another in this process;
* ``process`` — a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes
  (``forkserver`` context where the platform has it, else ``spawn``); workers write their
  shards themselves;
* ``ray`` — Ray tasks (one CPU each) on a local instance or the cluster at ``address``, through
  :func:`tokenomy.ray_support.ray_session`; an already initialised Ray is reused. Workers ship
  their shards back as Arrow IPC bytes and the driver writes them, and the driver ships each
  ``data`` market once through the object store, so workers need no shared file system for
  data or results (population files and replay transcripts must still be readable at the same
  path on every node).

What they share:

* **Resume.** A task whose shard exists is skipped (``fresh=True`` deletes the shards and the
  merged tables first). Interrupting a run — even killing it — loses at most the tasks in
  flight; running it again finishes the rest.
* **Retries.** A failed attempt — an exception, or a dead worker (a broken process pool, Ray's
  ``WorkerCrashedError`` and the other Ray errors) — is retried up to ``retries`` times. When a
  process-pool worker dies the whole pool breaks: every task in flight (never more than
  ``workers``) has lost its attempt, and is resubmitted to a new pool. A task that fails every
  attempt is reported in ``failures.json`` (error and traceback text) and in the result —
  never dropped — and the other tasks are merged as usual.
* **One driver per folder.** The output folder is locked (``OUT/.lock``) for the length of a
  run; a second run on the same folder is refused.
* **LLM conditions** run with a global cap on model calls at once per backend
  (:mod:`tokenomy.market.llm_limits`).

Then the shards are merged (:mod:`tokenomy.market.experiment_merge`) into ``runs``,
``customers``, ``aggregate`` and ``tasks`` tables, and ``summary.json`` records the spec, the
counts (done, failed, skipped, ...), the executor and the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tokenomy.errors import ConfigError, ResultsError, UnknownNameError
from tokenomy.market.experiment_merge import merge_shards, write_merged
from tokenomy.market.experiment_spec import Experiment, TaskDef, load_spec
from tokenomy.market.experiment_tasks import (
    CUSTOMER_SHARDS,
    SHARDS,
    TaskOutput,
    TaskPayload,
    TaskReport,
    fault_for,
    faults_from_env,
    from_ipc,
    payload_for,
    process_worker,
    process_worker_init,
    ray_worker,
    run_and_write,
    shard_file,
    write_shard,
)
from tokenomy.market.llm_limits import ThreadSlot, ray_limit_actor, stop_ray_limits
from tokenomy.results import environment, read_summary, write_json

EXECUTORS = ("local", "process", "ray")
"""Names of the executors."""

MERGED_FILES = (
    "runs.parquet",
    "customers.parquet",
    "aggregate.parquet",
    "tasks.parquet",
    "summary.json",
    "failures.json",
)
"""Files a run writes into the output folder besides ``shards/``."""

LOCK = ".lock"

ProgressFn = Callable[[int, int, int, str], None]
"""``progress(done, total, failed, label)``: called when a task finishes or fails."""


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` did and the merged tables.

    Attributes:
        experiment: the loaded spec.
        out: the output folder.
        executor: the executor's name.
        runs: one row per finished task (``run``, condition columns, metrics).
        customers: every customer of every run.
        aggregate: per condition, mean / 95% CI / count of every metric over seeds.
        tasks: per finished task, how it ran (attempts, worker, seconds).
        failures: the tasks that failed every attempt (task, condition, seed, attempts, error,
            traceback, worker).
        counts: ``total``, ``done``, ``skipped`` (done before this run), ``ran``, ``failed``,
            ``retried`` (attempts beyond the first, this run).
        summary: the folder's ``summary.json``.
    """

    experiment: Experiment
    out: Path
    executor: str
    runs: pd.DataFrame
    customers: pa.Table
    aggregate: pd.DataFrame
    tasks: pd.DataFrame
    failures: list[dict[str, Any]]
    counts: dict[str, int]
    summary: dict[str, Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        """Whether every task of the spec is done."""
        return not self.failures and self.counts["done"] == self.counts["total"]


class _Book:
    """Attempts, retries and final outcomes of the tasks of one run."""

    def __init__(
        self,
        experiment: Experiment,
        retries: int,
        faults: Mapping[str, dict[str, Any]],
        total: int,
        done: int,
        progress: ProgressFn | None,
    ) -> None:
        self.experiment = experiment
        self.retries = retries
        self.faults = faults
        self.total = total
        self.done = done
        self.progress = progress
        self.tasks: dict[str, TaskDef] = {t.id: t for t in experiment.tasks}
        self.finished: dict[str, TaskReport] = {}
        self.failed: dict[str, TaskReport] = {}
        self.retried = 0

    def payload(self, task: TaskDef, attempt: int = 1) -> TaskPayload:
        entry = self.experiment.condition(task.condition_id)
        return payload_for(task, entry, attempt=attempt, fault=fault_for(self.faults, task))

    def settle(self, report: TaskReport) -> TaskPayload | None:
        """Record an attempt's end; the next attempt's payload when it is to be retried."""
        task = self.tasks[report.task_id]
        if report.ok:
            self.finished[task.id] = report
            self.done += 1
        elif report.attempt <= self.retries:
            self.retried += 1
            return self.payload(task, report.attempt + 1)
        else:
            self.failed[task.id] = report
        if self.progress is not None:
            entry = self.experiment.condition(task.condition_id)
            self.progress(
                self.done, self.total, len(self.failed), f"{entry.label()} seed={task.seed}"
            )
        return None


def _lost(payload: TaskPayload, error: str, detail: str = "") -> TaskReport:
    """The report of an attempt whose worker died."""
    return TaskReport(
        payload.task.id, payload.attempt, False, error=error, traceback=detail or error
    )


# ------------------------------------------------------------------------------ local


def _run_local(book: _Book, pending: list[TaskDef], out_dir: Path, caps: Mapping[str, int]) -> None:
    slots = {name: ThreadSlot(cap) for name, cap in caps.items()}
    for task in pending:
        payload: TaskPayload | None = book.payload(task)
        while payload is not None:
            payload = book.settle(run_and_write(payload, str(out_dir), slots))


# ------------------------------------------------------------------------------ process


def _run_process(
    book: _Book, pending: list[TaskDef], out_dir: Path, caps: Mapping[str, int], workers: int
) -> None:
    context = _pool_context()
    queue: deque[TaskPayload] = deque(book.payload(t) for t in pending)
    manager = context.Manager() if caps else None
    try:
        while queue:
            # Fresh semaphores for every pool: a broken pool's workers are all dead, so no
            # permit of the new ones can be held by a dead process.
            semaphores = (
                {n: manager.BoundedSemaphore(c) for n, c in caps.items()} if manager else {}
            )
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=process_worker_init,
                initargs=(semaphores,),
            )
            try:
                _drain_pool(book, pool, queue, out_dir, workers)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if manager is not None:
            manager.shutdown()


def _pool_context() -> Any:
    """``forkserver`` (workers fork from a server that has imported tokenomy once), or ``spawn``.

    Both start workers from a clean process, never a copy of this one's threads. The
    forkserver is started once per driver process and kept, so starting a pool — again after a
    worker died — costs a fork, not a fresh interpreter importing NumPy, pandas and tokenomy.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Preload what workers run (only effective before the server starts; harmless after).
    context.set_forkserver_preload(["tokenomy.market.experiment_tasks", "tokenomy.llm"])
    return context


def _drain_pool(
    book: _Book, pool: ProcessPoolExecutor, queue: deque[TaskPayload], out_dir: Path, workers: int
) -> None:
    """Run the queue on ``pool`` until it is empty or the pool breaks (then requeue the lost)."""
    in_flight: dict[Future[TaskReport], TaskPayload] = {}
    while queue or in_flight:
        while queue and len(in_flight) < workers:
            payload = queue.popleft()
            in_flight[pool.submit(process_worker, payload, str(out_dir))] = payload
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        broken = any(isinstance(f.exception(), BrokenProcessPool) for f in done)
        if broken:  # every other task in flight is lost too; collect what did finish
            wait(in_flight)
            done = set(in_flight)
        for future in done:
            payload = in_flight.pop(future)
            exc = future.exception()
            if exc is None:
                report = future.result()
            elif isinstance(exc, BrokenProcessPool):
                report = _lost(
                    payload,
                    "a worker process died while this task was in flight (BrokenProcessPool)",
                    f"{type(exc).__name__}: {exc}",
                )
            else:  # the task could not be sent or its report not returned
                report = _lost(payload, f"{type(exc).__name__}: {exc}")
            retry = book.settle(report)
            if retry is not None:
                queue.append(retry)
        if broken:
            return


# ------------------------------------------------------------------------------ ray


def _run_ray(
    book: _Book,
    pending: list[TaskDef],
    out_dir: Path,
    caps: Mapping[str, int],
    workers: int | None,
    address: str | None,
) -> None:
    from tokenomy.ray_support import ray_session

    with ray_session(address, num_cpus=workers) as ray:
        remote = ray.remote(num_cpus=1, max_retries=0)(ray_worker)
        run_id = uuid.uuid4().hex[:12]
        limits = {name: ray_limit_actor(ray, name, cap, run_id) for name, cap in caps.items()}
        markets: dict[str, Any] = {}
        cpus = int(ray.cluster_resources().get("CPU", workers or 1))
        window = max(2, 2 * cpus)
        queue: deque[TaskPayload] = deque(book.payload(t) for t in pending)
        in_flight: dict[Any, TaskPayload] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < window:
                    payload = queue.popleft()
                    try:
                        payload = _ray_payload(ray, payload, markets, limits)
                    except Exception as exc:  # the driver could not load the data
                        report = _lost(payload, f"{type(exc).__name__}: {exc}")
                        report.attempt = book.retries + 1  # loading again would fail again
                        book.settle(report)
                        continue
                    in_flight[remote.remote(payload)] = payload
                if not in_flight:
                    continue
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    payload = in_flight.pop(ref)
                    retry = book.settle(_ray_report(ray, ref, payload, limits, out_dir))
                    if retry is not None:
                        queue.append(retry)
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            stop_ray_limits(ray, limits)


def _ray_payload(
    ray: Any, payload: TaskPayload, markets: dict[str, Any], limits: Mapping[str, Any]
) -> TaskPayload:
    """The payload with its data market in the object store (put once) and the limit actors."""
    from dataclasses import replace

    shipped = None
    if payload.data_dir is not None:
        if payload.data_dir not in markets:
            from tokenomy.market.io import load_market

            markets[payload.data_dir] = ray.put(load_market(payload.data_dir))
        shipped = [markets[payload.data_dir]]
    return replace(payload, market=shipped, limits=dict(limits) or None)


def _ray_report(
    ray: Any, ref: Any, payload: TaskPayload, limits: Mapping[str, Any], out_dir: Path
) -> TaskReport:
    """The report of a finished Ray task; its shard written here when it succeeded."""
    try:
        report: TaskReport = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the worker died, was killed, or Ray failed it
        for actor in limits.values():  # give back the permits the dead attempt held
            ray.get(actor.release_all.remote(payload.holder))
        return _lost(payload, f"{type(exc).__name__}: {str(exc).splitlines()[0]}", str(exc))
    if report.ok:
        assert report.run is not None
        assert report.customers is not None
        output = TaskOutput(from_ipc(report.run), from_ipc(report.customers))
        write_shard(out_dir, report.task_id, output)
        report.run = report.customers = None
    return report


# ------------------------------------------------------------------------------ folder


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold ``OUT/.lock`` (an exclusive ``flock``) for the length of a run."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{out_dir} is in use by another experiment run; wait for it or use another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_folder(out_dir: Path) -> None:
    """Refuse an output folder that holds something other than an experiment."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ResultsError(f"{out_dir} exists and is not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if (out_dir / SHARDS).is_dir():
        return
    if (out_dir / "summary.json").is_file():
        try:
            if read_summary(out_dir).get("kind") == "experiment":
                return
        except ResultsError:
            pass
    raise ResultsError(f"{out_dir} holds other results (no {SHARDS}/ folder); choose another --out")


def _clear(out_dir: Path) -> None:
    """Delete the shards and the merged files of a previous run (``fresh``)."""
    shutil.rmtree(out_dir / SHARDS, ignore_errors=True)
    for name in MERGED_FILES:
        (out_dir / name).unlink(missing_ok=True)


def _remove_partial(out_dir: Path) -> None:
    """Delete temporary files a killed run left (no other run can be writing: we hold the lock)."""
    for folder in (out_dir / SHARDS, out_dir / SHARDS / CUSTOMER_SHARDS):
        if folder.is_dir():
            for tmp in folder.glob("*.tmp-*"):
                tmp.unlink(missing_ok=True)


def _failure_record(book: _Book, report: TaskReport) -> dict[str, Any]:
    task = book.tasks[report.task_id]
    entry = book.experiment.condition(task.condition_id)
    return {
        "task": task.id,
        "condition": task.condition_id,
        "origin": entry.origin,
        "label": entry.label(),
        "seed": task.seed,
        "attempts": report.attempt,
        "error": report.error,
        "traceback": report.traceback,
        "worker": report.worker,
    }


# ------------------------------------------------------------------------------ entry point


def run_experiment(
    spec: Experiment | str | Path,
    out: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    retries: int = 2,
    fresh: bool = False,
    progress: ProgressFn | None = None,
) -> ExperimentResult:
    """Run every task of an experiment not yet done, then merge all shards.

    Args:
        spec: a loaded spec or the path of a spec file.
        out: the output folder (created; resumed when it holds shards of an earlier run).
        executor: ``local``, ``process`` or ``ray``.
        workers: processes of the ``process`` pool (default ``os.cpu_count()``), or CPUs of a
            local Ray instance (default: all); ignored when Ray runs at ``address``.
        address: a Ray cluster to connect to (``auto``, ``host:6379``, ``ray://host:10001``);
            None starts a local instance (``ray`` only).
        retries: attempts after the first for a failed task.
        fresh: delete the shards and merged tables of earlier runs first.
        progress: ``progress(done, total, failed, label)`` after every task's end.

    Returns:
        The merged tables, the failures and the counts (also written to ``out``).

    Raises:
        UnknownNameError: an unknown executor.
        ConfigError: bad ``workers``/``retries``/``address``, Ray missing for ``ray``, or the
            folder is in use by another run.
        ResultsError: ``out`` holds something other than an experiment.
        DataError: the spec file is wrong.
    """
    if executor not in EXECUTORS:
        raise UnknownNameError("executor", executor, EXECUTORS)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if retries < 0:
        raise ConfigError(f"--retries must be 0 or more, got {retries}")
    if address is not None and executor != "ray":
        raise ConfigError(f"--address is for --executor ray, not '{executor}'")
    experiment = spec if isinstance(spec, Experiment) else load_spec(spec)
    if executor == "ray":
        from tokenomy.ray_support import require_ray

        require_ray("--executor ray")
    out_dir = Path(out)
    _check_folder(out_dir)
    started = time.perf_counter()
    with _locked(out_dir):
        if fresh:
            _clear(out_dir)
        _remove_partial(out_dir)
        (out_dir / SHARDS / CUSTOMER_SHARDS).mkdir(parents=True, exist_ok=True)
        done_before = {t.id for t in experiment.tasks if shard_file(out_dir, t.id).is_file()}
        pending = [t for t in experiment.tasks if t.id not in done_before]
        total = len(experiment.tasks)
        book = _Book(experiment, retries, faults_from_env(), total, len(done_before), progress)
        caps = experiment.llm_caps()
        n_workers = workers or os.cpu_count() or 1
        if pending:
            if executor == "local":
                _run_local(book, pending, out_dir, caps)
            elif executor == "process":
                _run_process(book, pending, out_dir, caps, min(n_workers, len(pending)))
            else:
                _run_ray(book, pending, out_dir, caps, workers, address)
        merged = merge_shards(out_dir, experiment)
        write_merged(out_dir, merged)
        failures = [_failure_record(book, r) for r in book.failed.values()]
        failures.sort(key=lambda f: book.tasks[f["task"]].position)
        write_json(out_dir / "failures.json", {"failures": failures})
        done = merged.runs.num_rows
        counts = {
            "total": total,
            "done": done,
            "skipped": len(done_before),
            "ran": len(book.finished),
            "failed": len(failures),
            "pending": total - done - len(failures),
            "retried": book.retried,
        }
        summary = {
            "kind": "experiment",
            "name": experiment.name,
            "description": experiment.spec.description,
            "spec": experiment.spec.model_dump(mode="json"),
            "source": None if experiment.source is None else str(experiment.source),
            "conditions": [
                {"condition": e.id, "origin": e.origin, "label": e.label()}
                for e in experiment.conditions
            ],
            "counts": counts,
            "runs": done,
            "executor": {
                "name": executor,
                "workers": {"local": None, "process": n_workers, "ray": workers}[executor],
                "address": address,
                "retries": retries,
                "seconds": time.perf_counter() - started,
            },
            "failures": [f["task"] for f in failures],
            "aggregate": merged.aggregate.to_dict(orient="records"),
            "environment": environment(),
        }
        write_json(out_dir / "summary.json", summary)
    return ExperimentResult(
        experiment=experiment,
        out=out_dir,
        executor=executor,
        runs=merged.runs.to_pandas(),
        customers=merged.customers,
        aggregate=merged.aggregate,
        tasks=merged.tasks.to_pandas(),
        failures=failures,
        counts=counts,
        summary=summary,
    )
