"""One experiment task (a condition × seed): run it, and write or ship its Parquet shard.

A task's result depends only on its condition and seed: the market is loaded (``data``) or
generated (``generate``) from the condition, the run is :func:`~tokenomy.market.experiments.
run_cell` with the condition's settings and the seed, and nothing about the worker enters the
result columns. Markets are cached per worker process (:data:`MARKET_CACHE_SIZE` of them, least
recently used first out), so a worker running many seeds of a condition builds its market once.

**Shards.** A finished task is two Parquet files under ``OUT/shards/``:

* ``shards/customers/<task>.parquet`` — its per-customer rows (``task`` and
  :data:`~tokenomy.market.experiments.CUSTOMER_COLUMNS`, in market order), written first;
* ``shards/<task>.parquet`` — its one run row (:data:`RUN_COLUMNS`: condition columns,
  :data:`~tokenomy.market.experiments.METRICS`, and the execution columns ``attempts``,
  ``worker``, ``seconds``), written last.

Each file is written under a temporary name that does not end in ``.parquet`` and renamed into
place (``os.replace``), so a reader sees whole files or none; the run shard is the commit
marker: a task is done exactly when ``shards/<task>.parquet`` exists (its customers file, written
before it, then exists too). A task killed half-way leaves at most a stray temporary file.

**Test-only fault hook.** When the driver's environment has :data:`FAULTS_ENV` set to a JSON
object, tasks whose id (or condition id, or ``"*"``) is a key get that fault on their first
attempts: ``{"raise": n}`` raises :class:`InjectedFault` on attempts 1..n; ``{"pause": n,
"dir": D}`` writes the worker's pid to ``D/<task>.pid`` on attempts 1..n and waits (up to
``timeout_s``, default 60 s) for ``D/<task>.release`` — so a test can kill the worker
mid-task. The tests use it to exercise retries and dead workers; nothing else sets it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tokenomy.errors import ConfigError
from tokenomy.market.dataset import Market
from tokenomy.market.experiment_spec import (
    Condition,
    ConditionEntry,
    TaskDef,
    canonical_condition,
    market_label,
)
from tokenomy.market.experiments import METRICS, family_and_variant, run_cell
from tokenomy.market.llm_limits import Slot, limited
from tokenomy.market.runner import RunConfig, RunResult

if TYPE_CHECKING:  # populations import the LLM clients (openai SDK): loaded only when used
    from tokenomy.market.population import PopulationSpec

MARKET_CACHE_SIZE = 4
"""Markets a worker process keeps (the most recently used)."""

FAULTS_ENV = "TOKENOMY_EXPERIMENT_FAULTS"
"""Test-only: JSON of faults to inject into tasks (see the module's docstring)."""

SHARDS = "shards"
CUSTOMER_SHARDS = "customers"

INT_METRICS = frozenset({"first_proposal_n", "payments", "events", "tokens_customers_in"})
"""Metrics that are counts (int64 columns); the others are float64."""

CONDITION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("task", pa.string()),
    ("condition", pa.string()),
    ("data", pa.string()),
    ("data_path", pa.string()),
    ("generate", pa.string()),
    ("family", pa.string()),
    ("variant", pa.string()),
    ("search", pa.string()),
    ("limit", pa.int64()),
    ("customer_policy", pa.string()),
    ("business_policy", pa.string()),
    ("customer_params", pa.string()),
    ("business_params", pa.string()),
    ("engine", pa.string()),
    ("arrival_window_ms", pa.int64()),
    ("context_tokens", pa.int64()),
    ("focal_business", pa.string()),
    ("agents", pa.string()),
    ("seed", pa.int64()),
)
"""What identifies a run: its task and condition ids and the condition's settings (parameters
and the generator settings as canonical JSON text)."""

EXECUTION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("attempts", pa.int64()),
    ("worker", pa.string()),
    ("seconds", pa.float64()),
)
"""About how the task ran, not its result: kept out of ``runs.parquet`` (``tasks.parquet``)."""

RUN_SCHEMA = pa.schema(
    [
        *(pa.field(n, t) for n, t in CONDITION_COLUMNS),
        *(pa.field(m, pa.int64() if m in INT_METRICS else pa.float64()) for m in METRICS),
        *(pa.field(n, t) for n, t in EXECUTION_COLUMNS),
    ]
)
"""Schema of a run shard (one row)."""

RUN_COLUMNS = tuple(RUN_SCHEMA.names)


class InjectedFault(RuntimeError):  # noqa: N818 - the name says what it is
    """A failure injected by the test-only fault hook (:data:`FAULTS_ENV`)."""


@dataclass(frozen=True)
class TaskPayload:
    """Everything a worker needs to run one attempt of a task (plain, picklable data).

    Attributes:
        task: the task's id, position and seed.
        condition: the condition as the spec wrote it.
        data_dir: the resolved data folder (``data`` conditions).
        population: the LLM population (``agents`` conditions), already checked.
        population_dir: folder its relative paths are relative to.
        attempt: 1 for the first attempt.
        fault: the test-only fault to inject, if any.
        market: a Ray object reference to the market, in a one-element list (so Ray passes
            the reference, not the value), when the driver ships data through the object store.
        limits: Ray limit actors by backend name (Ray only; other executors give slots).
    """

    task: TaskDef
    condition: Condition
    data_dir: str | None = None
    population: PopulationSpec | None = None
    population_dir: str | None = None
    attempt: int = 1
    fault: dict[str, Any] | None = None
    market: list[Any] | None = None
    limits: dict[str, Any] | None = None

    @property
    def holder(self) -> str:
        """The name model-call permits are held under: ``<task>#<attempt>``."""
        return f"{self.task.id}#{self.attempt}"


def payload_for(
    task: TaskDef, entry: ConditionEntry, *, attempt: int = 1, fault: dict[str, Any] | None = None
) -> TaskPayload:
    """The payload of ``task`` (a task of ``entry``'s condition)."""
    return TaskPayload(
        task=task,
        condition=entry.condition,
        data_dir=None if entry.data_dir is None else str(entry.data_dir),
        population=entry.population,
        population_dir=None if entry.agents_file is None else str(entry.agents_file.parent),
        attempt=attempt,
        fault=fault,
    )


@dataclass
class TaskReport:
    """How one attempt of a task ended.

    Attributes:
        task_id: the task.
        attempt: which attempt (1 = first).
        ok: whether it finished (its shard is written, or shipped in ``run``/``customers``).
        error: the error's one-line description (failures).
        traceback: the error's traceback text (failures).
        worker: ``host:pid`` of the worker.
        seconds: wall-clock seconds the attempt took.
        run: the run row as Arrow IPC bytes (Ray: shipped to the driver, which writes it).
        customers: the customer rows as Arrow IPC bytes (Ray).
    """

    task_id: str
    attempt: int
    ok: bool
    error: str = ""
    traceback: str = ""
    worker: str = ""
    seconds: float = 0.0
    run: bytes | None = field(default=None, repr=False)
    customers: bytes | None = field(default=None, repr=False)


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


# ------------------------------------------------------------------------------ faults


def faults_from_env() -> dict[str, dict[str, Any]]:
    """The test-only faults set in :data:`FAULTS_ENV` (empty when unset)."""
    text = os.environ.get(FAULTS_ENV, "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError(f"{FAULTS_ENV} (test-only) must hold a JSON object, got {text!r}")
    return data


def fault_for(faults: Mapping[str, dict[str, Any]], task: TaskDef) -> dict[str, Any] | None:
    """The fault for ``task``: by task id, then condition id, then ``"*"``."""
    for key in (task.id, task.condition_id, "*"):
        if key in faults:
            return dict(faults[key])
    return None


def _inject(payload: TaskPayload) -> None:
    fault = payload.fault
    if not fault:
        return
    if payload.attempt <= int(fault.get("raise", 0)):
        raise InjectedFault(
            f"injected failure of task {payload.task.id}, attempt {payload.attempt}"
        )
    if payload.attempt <= int(fault.get("pause", 0)):
        folder = Path(fault["dir"])
        pid_file = folder / f"{payload.task.id}.pid"
        tmp = folder / f".{payload.task.id}.pid.{os.getpid()}"
        tmp.write_text(str(os.getpid()), encoding="utf-8")
        os.replace(tmp, pid_file)
        deadline = time.monotonic() + float(fault.get("timeout_s", 60.0))
        release = folder / f"{payload.task.id}.release"
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


# ------------------------------------------------------------------------------ markets

_MARKETS: OrderedDict[str, Market] = OrderedDict()


def market_key(condition: Condition, data_dir: str | None) -> str:
    """What identifies a condition's market in a worker's cache."""
    if data_dir is not None:
        return f"data:{data_dir}"
    return "generate:" + json.dumps(
        canonical_condition(condition).get("generate", {}), sort_keys=True
    )


def _build_market(payload: TaskPayload) -> Market:
    if payload.market is not None:
        from tokenomy.ray_support import require_ray

        market: Market = require_ray("a market shipped through Ray").get(payload.market[0])
        return market
    if payload.data_dir is not None:
        from tokenomy.market.io import load_market

        return load_market(payload.data_dir)
    from tokenomy.market.generator import GeneratorSpec, generate_market

    return generate_market(GeneratorSpec(**(payload.condition.generate or {})))


def market_for(payload: TaskPayload) -> Market:
    """The task's market, from this process's cache or built (and cached) now."""
    key = market_key(payload.condition, payload.data_dir)
    if key in _MARKETS:
        _MARKETS.move_to_end(key)
        return _MARKETS[key]
    market = _build_market(payload)
    _MARKETS[key] = market
    while len(_MARKETS) > MARKET_CACHE_SIZE:
        _MARKETS.popitem(last=False)
    return market


# ------------------------------------------------------------------------------ running


def run_config(condition: Condition, seed: int) -> RunConfig:
    """The :class:`RunConfig` of ``condition`` with ``seed``."""
    return RunConfig(
        search=condition.search,
        limit=condition.limit,
        customer_policy=condition.customer_policy,
        business_policy=condition.business_policy,
        customer_params=condition.customer_params,
        business_params=condition.business_params,
        seed=seed,
        engine=condition.engine,
        arrival_window_ms=condition.arrival_window_ms,
        context_tokens=condition.context_tokens,
    )


def _population_runner(
    payload: TaskPayload, slots: Mapping[str, Slot]
) -> Callable[[Market, RunConfig], RunResult]:
    """Run a market with the payload's LLM population, every backend behind its slot.

    The population's chat models are built here, wrapped in
    :class:`~tokenomy.market.llm_limits.LimitedChat`, handed to
    :func:`~tokenomy.market.runner.run_market`, and closed after the run.
    """
    from tokenomy.llm.protocol import close_model
    from tokenomy.market.population import build_backends
    from tokenomy.market.runner import run_market

    population = payload.population
    assert population is not None

    def run(market: Market, config: RunConfig) -> RunResult:
        models = build_backends(population, base_dir=payload.population_dir)
        models = limited(models, slots, payload.holder)
        try:
            return run_market(
                market,
                config,
                population=population,
                population_dir=None
                if payload.population_dir is None
                else Path(payload.population_dir),
                models=models,
            )
        finally:
            for model in models.values():
                close_model(model)

    return run


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _metric(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN: no value
        return None
    return int(value) if name in INT_METRICS else float(value)


def condition_row(task: TaskDef, condition: Condition) -> dict[str, Any]:
    """The condition columns of a task's run row (see :data:`CONDITION_COLUMNS`)."""
    label = market_label(condition)
    family, variant = family_and_variant(label)
    canonical = canonical_condition(condition)
    generate = None
    if condition.generate is not None:
        from tokenomy.market.generator import GeneratorSpec

        generate = _json_text(GeneratorSpec(**condition.generate).as_dict())
    return {
        "task": task.id,
        "condition": task.condition_id,
        "data": label,
        "data_path": canonical.get("data"),
        "generate": generate,
        "family": family,
        "variant": variant,
        "search": condition.search,
        "limit": condition.limit,
        "customer_policy": condition.customer_policy,
        "business_policy": condition.business_policy,
        "customer_params": _json_text(condition.customer_params),
        "business_params": _json_text(condition.business_params),
        "engine": condition.engine,
        "arrival_window_ms": condition.arrival_window_ms,
        "context_tokens": condition.context_tokens,
        "focal_business": condition.focal_business,
        "agents": canonical.get("agents"),
        "seed": task.seed,
    }


@dataclass
class TaskOutput:
    """A finished task's run row and customer rows (Arrow tables)."""

    run: pa.Table
    customers: pa.Table


def run_task(payload: TaskPayload, slots: Mapping[str, Slot] | None = None) -> TaskOutput:
    """Run one attempt of a task.

    Args:
        payload: the task.
        slots: model-call semaphores by backend name (LLM conditions).

    Returns:
        The run row (schema :data:`RUN_SCHEMA`) and the customer rows.
    """
    started = time.perf_counter()
    _inject(payload)
    condition = payload.condition
    market = market_for(payload)
    runner = None
    if payload.population is not None:
        runner = _population_runner(payload, slots or {})
    metrics, customers = run_cell(
        market,
        run_config(condition, payload.task.seed),
        focal_business=condition.focal_business,
        run=runner,
    )
    row = condition_row(payload.task, condition)
    row.update({m: _metric(m, metrics.get(m)) for m in METRICS})
    row.update(
        attempts=payload.attempt,
        worker=worker_name(),
        seconds=time.perf_counter() - started,
    )
    run = pa.Table.from_pylist([row], schema=RUN_SCHEMA)
    customers = customers.add_column(
        0, "task", pa.array([payload.task.id] * customers.num_rows, pa.string())
    )
    return TaskOutput(run, customers)


# ------------------------------------------------------------------------------ shards


def shard_file(out_dir: str | Path, task_id: str) -> Path:
    """The run shard of a task (its presence means the task is done)."""
    return Path(out_dir) / SHARDS / f"{task_id}.parquet"


def customers_shard_file(out_dir: str | Path, task_id: str) -> Path:
    """The customer shard of a task."""
    return Path(out_dir) / SHARDS / CUSTOMER_SHARDS / f"{task_id}.parquet"


def _write_atomically(table: pa.Table, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f"{file.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_shard(out_dir: str | Path, task_id: str, output: TaskOutput) -> Path:
    """Write a task's shard files (customers first, the run row last); the run shard's path."""
    _write_atomically(output.customers, customers_shard_file(out_dir, task_id))
    run_file = shard_file(out_dir, task_id)
    _write_atomically(output.run, run_file)
    return run_file


def to_ipc(table: pa.Table) -> bytes:
    """An Arrow table as IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    """The Arrow table in IPC stream bytes."""
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


def _failed(payload: TaskPayload, exc: BaseException, started: float) -> TaskReport:
    return TaskReport(
        task_id=payload.task.id,
        attempt=payload.attempt,
        ok=False,
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
        worker=worker_name(),
        seconds=time.perf_counter() - started,
    )


def run_and_write(
    payload: TaskPayload, out_dir: str, slots: Mapping[str, Slot] | None = None
) -> TaskReport:
    """Run a task and write its shard here (``local`` and ``process`` executors).

    An exception is caught and reported (with its traceback text), not raised.
    """
    started = time.perf_counter()
    try:
        output = run_task(payload, slots)
        write_shard(out_dir, payload.task.id, output)
    except Exception as exc:
        return _failed(payload, exc, started)
    return TaskReport(
        payload.task.id,
        payload.attempt,
        True,
        worker=worker_name(),
        seconds=time.perf_counter() - started,
    )


# Slots of a process-pool worker, set once per worker by process_worker_init.
_WORKER_SLOTS: dict[str, Slot] = {}


def process_worker_init(semaphores: Mapping[str, Any]) -> None:
    """Initialise a process-pool worker with the pool's shared semaphores (manager proxies)."""
    from tokenomy.market.llm_limits import ManagerSlot

    _WORKER_SLOTS.clear()
    _WORKER_SLOTS.update({name: ManagerSlot(proxy) for name, proxy in semaphores.items()})


def process_worker(payload: TaskPayload, out_dir: str) -> TaskReport:
    """A process-pool worker's entry: run a task with the worker's slots, write its shard."""
    return run_and_write(payload, out_dir, _WORKER_SLOTS)


def ray_worker(payload: TaskPayload) -> TaskReport:
    """A Ray task's entry: run a task and ship its shard to the driver as Arrow IPC bytes.

    The driver writes the shard, so the workers need not share the driver's file system.
    """
    from tokenomy.market.llm_limits import RaySlot

    started = time.perf_counter()
    slots = {name: RaySlot(actor) for name, actor in (payload.limits or {}).items()}
    try:
        output = run_task(payload, slots)
    except Exception as exc:
        return _failed(payload, exc, started)
    return TaskReport(
        payload.task.id,
        payload.attempt,
        True,
        worker=worker_name(),
        seconds=time.perf_counter() - started,
        run=to_ipc(output.run),
        customers=to_ipc(output.customers),
    )
