"""Merging an experiment's shards into its tables, with DuckDB.

The merge is a pure function of the shards and the spec's task order: DuckDB reads every run
shard (``shards/*.parquet``) and customer shard (``shards/customers/*.parquet``), keeps the
spec's tasks, orders them by the spec's order — not by when they finished — and numbers the
runs 0, 1, 2, … in that order. So one spec gives the same tables, byte for byte, whichever
executor ran it, however many workers it had, and however often it was interrupted and resumed.

Tables of an experiment folder:

* ``runs.parquet`` — one row per finished task: ``run``, the condition columns and the metrics;
* ``customers.parquet`` — every customer of every run (``run``, ``task``, the outcome columns);
* ``aggregate.parquet`` — per condition (in the spec's order): the condition columns and, for
  every metric, the mean over seeds with a Student-t 95% interval and the count
  (:func:`tokenomy.market.experiments.aggregate`);
* ``tasks.parquet`` — how each run's task ran: ``attempts``, ``worker`` (``host:pid``),
  ``seconds``. These depend on the execution, so they are kept out of ``runs.parquet``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from tokenomy.market.experiment_spec import Experiment
from tokenomy.market.experiment_tasks import (
    CONDITION_COLUMNS,
    CUSTOMER_SHARDS,
    EXECUTION_COLUMNS,
    RUN_SCHEMA,
    SHARDS,
)
from tokenomy.market.experiments import CUSTOMER_COLUMNS, METRICS, aggregate
from tokenomy.results import write_parquet

RUN_TABLE_COLUMNS = ("run", *(n for n, _ in CONDITION_COLUMNS), *METRICS)
"""Columns of ``runs.parquet``."""

TASK_TABLE_COLUMNS = ("run", "task", "condition", "seed", *(n for n, _ in EXECUTION_COLUMNS))
"""Columns of ``tasks.parquet``."""

GROUP_COLUMNS = tuple(n for n, _ in CONDITION_COLUMNS if n not in ("task", "seed"))
"""The condition columns of ``aggregate.parquet`` (one row per condition)."""


@dataclass
class MergedTables:
    """The merged tables of an experiment folder."""

    runs: pa.Table
    customers: pa.Table
    tasks: pa.Table
    aggregate: pd.DataFrame


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _empty_runs() -> pa.Table:
    fields = [pa.field("run", pa.int64())]
    fields += [RUN_SCHEMA.field(n) for n in RUN_TABLE_COLUMNS if n != "run"]
    return pa.schema(fields).empty_table()


def _empty_tasks() -> pa.Table:
    fields = [pa.field("run", pa.int64())]
    fields += [RUN_SCHEMA.field(n) for n in TASK_TABLE_COLUMNS if n != "run"]
    return pa.schema(fields).empty_table()


def _empty_customers() -> pa.Table:
    return pa.table({"run": pa.array([], pa.int64()), "task": pa.array([], pa.string())})


def merge_shards(out_dir: str | Path, experiment: Experiment) -> MergedTables:
    """Merge the shards under ``out_dir/shards`` of the tasks of ``experiment``.

    Shards of tasks the spec no longer has are left out (and left on disk).
    """
    shards = Path(out_dir) / SHARDS
    order = pa.table(
        {
            "task": pa.array([t.id for t in experiment.tasks], pa.string()),
            "position": pa.array([t.position for t in experiment.tasks], pa.int64()),
        }
    )
    has_runs = any(shards.glob("*.parquet"))
    if not has_runs:
        runs, tasks, customers = _empty_runs(), _empty_tasks(), _empty_customers()
    else:
        con = duckdb.connect()
        try:
            con.register("task_order", order)
            run_glob = _sql_path(shards / "*.parquet")
            con.execute(
                f"""
                CREATE TEMP TABLE merged AS
                SELECT (row_number() OVER (ORDER BY o.position) - 1)::BIGINT AS run,
                       o.position, s.*
                FROM read_parquet('{run_glob}', union_by_name = true) AS s
                JOIN task_order AS o ON s.task = o.task
                """
            )
            run_cols = ", ".join(f'"{c}"' for c in RUN_TABLE_COLUMNS)
            runs = con.sql(f"SELECT {run_cols} FROM merged ORDER BY run").to_arrow_table()
            task_cols = ", ".join(f'"{c}"' for c in TASK_TABLE_COLUMNS)
            tasks = con.sql(f"SELECT {task_cols} FROM merged ORDER BY run").to_arrow_table()
            customer_glob = _sql_path(shards / CUSTOMER_SHARDS / "*.parquet")
            cust_cols = ", ".join(f'c."{c}"' for c in CUSTOMER_COLUMNS)
            customers = con.sql(
                f"""
                SELECT m.run, c.task, {cust_cols}
                FROM read_parquet('{customer_glob}', file_row_number = true) AS c
                JOIN merged AS m ON c.task = m.task
                ORDER BY m.run, c.file_row_number
                """
            ).to_arrow_table()
        finally:
            con.close()
    runs, tasks, customers = (t.combine_chunks() for t in (runs, tasks, customers))
    return MergedTables(runs, customers, tasks, aggregate_runs(runs))


def aggregate_runs(runs: pa.Table) -> pd.DataFrame:
    """Mean, 95% CI and count of every metric per condition, conditions in the runs' order."""
    frame = runs.to_pandas()
    if frame.empty:
        return pd.DataFrame(columns=[*GROUP_COLUMNS, *METRICS])
    stats = aggregate(frame, ["condition"], list(METRICS))
    conditions = frame.drop_duplicates("condition")[list(GROUP_COLUMNS)]
    merged: pd.DataFrame = conditions.merge(stats, on="condition", how="left")
    return merged.reset_index(drop=True)


def _replace_parquet(table: pa.Table, file: Path) -> None:
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        write_parquet(table, tmp)
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_merged(out_dir: str | Path, merged: MergedTables) -> None:
    """Write ``runs``, ``customers``, ``tasks`` and ``aggregate`` Parquet files, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _replace_parquet(merged.runs, out / "runs.parquet")
    _replace_parquet(merged.customers, out / "customers.parquet")
    _replace_parquet(merged.tasks, out / "tasks.parquet")
    agg = pa.Table.from_pandas(merged.aggregate, preserve_index=False)
    _replace_parquet(agg, out / "aggregate.parquet")
