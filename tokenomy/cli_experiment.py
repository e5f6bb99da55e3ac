"""``tokenomy experiment run|status|show``: experiment specs run here, in processes, or on Ray.

    tokenomy experiment run SPEC.yaml --out DIR [--executor local|process|ray] [--workers N]
                                      [--address ADDR] [--retries N] [--fresh] [--json]
    tokenomy experiment status SPEC.yaml --out DIR
    tokenomy experiment show DIR

``SPEC`` is a spec file, or the name of a packaged one (``demo``). ``run`` exits with status 1
when a task failed every attempt (the others are merged and written), 2 on bad input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_support import console, guard, out, print_json, progress_bar

experiment_app = typer.Typer(
    help="Experiments: conditions × seeds from a YAML spec, run here, in processes or on Ray.",
    no_args_is_help=True,
)

SHOWN_AXES = (
    "data",
    "search",
    "limit",
    "customer_policy",
    "business_policy",
    "customer_params",
    "business_params",
    "engine",
    "arrival_window_ms",
    "context_tokens",
    "focal_business",
    "agents",
)
SHOWN_METRICS = {
    "welfare": "welfare",
    "welfare_share_of_optimal": "of optimal",
    "needs_met_rate": "needs met",
    "first_proposal_share": "first-prop.",
    "focal_share": "focal",
}


def _spec_file(spec: str) -> Path:
    """A spec file's path, or the packaged spec of that name."""
    from tokenomy.market.experiment_spec import builtin_spec

    path = Path(spec)
    if path.exists():
        return path
    packaged = builtin_spec(spec)
    return packaged if packaged is not None else path


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _mean_ci(row: dict[str, Any], metric: str) -> str:
    mean, lo, hi = row.get(metric), row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    text = _cell(mean)
    if isinstance(lo, float) and isinstance(hi, float) and not math.isnan(lo) and hi > lo:
        text += f" ±{(hi - lo) / 2:.2g}"
    return text


def _setting(axis: str, value: Any) -> str:
    """One setting of a condition, compactly: ``k=3``, ``bounded``, ``noise=0.1``."""
    if axis == "limit":
        return f"k={value}"
    if axis in ("customer_params", "business_params"):
        params = json.loads(value) if isinstance(value, str) else {}
        return " ".join(f"{k}={v}" for k, v in params.items())
    if axis in ("arrival_window_ms", "context_tokens"):
        return f"{axis.split('_')[0]}={value}"
    if axis in ("focal_business", "agents"):
        return f"{axis}={_cell(value)}"
    return _cell(value).removeprefix("generated/")


def show_aggregate(rows: list[dict[str, Any]], title: str) -> None:
    """Print one line per condition: the settings that vary, then metrics (mean ± 95% CI)."""
    table = Table(title=title)
    axes = [a for a in SHOWN_AXES if len({str(r.get(a)) for r in rows}) > 1] or ["data"]
    metrics = [
        m for m in SHOWN_METRICS if any(r.get(m) is not None and r.get(m) == r.get(m) for r in rows)
    ]
    table.add_column("condition", overflow="fold")
    for metric in metrics:
        table.add_column(SHOWN_METRICS[metric], justify="right")
    table.add_column("seeds", justify="right")
    for r in rows:
        n = r.get("welfare_n")
        settings = " ".join(t for a in axes if (t := _setting(a, r.get(a))))
        table.add_row(
            settings,
            *(_mean_ci(r, m) for m in metrics),
            _cell(int(n) if isinstance(n, int | float) and n == n else None),
        )
    out.print(table)


def _show_failures(failures: list[dict[str, Any]], folder: Path) -> None:
    for f in failures:
        console.print(
            f"[bold red]failed:[/] task {f['task']} ({f['label']}, seed {f['seed']}) after "
            f"{f['attempts']} attempt(s): {f['error']}",
            highlight=False,
        )
    if failures:
        console.print(f"errors and tracebacks: {folder / 'failures.json'}", highlight=False)


@experiment_app.command("run")
def experiment_run(
    spec: Annotated[str, typer.Argument(help="Spec YAML, or a packaged spec's name (demo)")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: results/experiments/NAME)"),
    ] = None,
    executor: Annotated[str, typer.Option(help="local | process | ray")] = "local",
    workers: Annotated[
        int | None,
        typer.Option(help="Processes (process) or CPUs of a local Ray (default: all cores)"),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join: auto, HOST:6379 or ray://HOST:10001"),
    ] = None,
    retries: Annotated[int, typer.Option(help="Retries of a failed task", min=0)] = 2,
    fresh: Annotated[bool, typer.Option(help="Delete earlier shards and start over")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts and failures as JSON")] = (
        False
    ),
) -> None:
    """Run every task of SPEC not done yet, then merge the results (Parquet + summary.json)."""
    from tokenomy.market.executors import run_experiment
    from tokenomy.market.experiment_spec import load_spec

    def go() -> int:
        experiment = load_spec(_spec_file(spec))
        target = out_dir or Path("results") / "experiments" / experiment.name
        with progress_bar(not as_json) as bar:
            task = bar.add_task(f"{experiment.name}", total=len(experiment.tasks))

            def progress(done: int, total: int, failed: int, label: str) -> None:
                failures = f" — {failed} failed" if failed else ""
                bar.update(task, completed=done, total=total, description=f"{label}{failures}")

            result = run_experiment(
                experiment,
                target,
                executor=executor,
                workers=workers,
                address=address,
                retries=retries,
                fresh=fresh,
                progress=progress,
            )
        c = result.counts
        if as_json:
            print_json(
                {
                    "out": str(target),
                    "counts": c,
                    "failures": [
                        {k: v for k, v in f.items() if k != "traceback"} for f in result.failures
                    ],
                }
            )
        else:
            if result.summary["aggregate"]:
                show_aggregate(
                    result.summary["aggregate"],
                    f"{experiment.name}: {c['done']} runs (±: 95% CI over seeds)",
                )
            console.print(
                f"{c['total']} tasks: {c['ran']} ran, {c['skipped']} were done before, "
                f"{c['failed']} failed, {c['retried']} retried — results in {target}",
                highlight=False,
            )
            _show_failures(result.failures, target)
        return 1 if result.failures else 0

    code = guard(go)
    if code:
        raise typer.Exit(code)


@experiment_app.command("status")
def experiment_status(
    spec: Annotated[str, typer.Argument(help="Spec YAML, or a packaged spec's name")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: results/experiments/NAME)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """How many tasks of SPEC are done in the output folder, per condition (runs nothing)."""
    from tokenomy.market.experiment_spec import load_spec
    from tokenomy.market.experiment_tasks import shard_file

    def go() -> None:
        experiment = load_spec(_spec_file(spec))
        target = out_dir or Path("results") / "experiments" / experiment.name
        failed: set[str] = set()
        failures_file = target / "failures.json"
        if failures_file.is_file():
            failed = {f["task"] for f in json.loads(failures_file.read_text())["failures"]}
        rows = []
        for entry in experiment.conditions:
            tasks = [t for t in experiment.tasks if t.condition_id == entry.id]
            done = sum(shard_file(target, t.id).is_file() for t in tasks)
            bad = sum(t.id in failed and not shard_file(target, t.id).is_file() for t in tasks)
            rows.append(
                {
                    "condition": entry.id,
                    "label": entry.label(),
                    "tasks": len(tasks),
                    "done": done,
                    "failed": bad,
                    "pending": len(tasks) - done,
                }
            )
        if as_json:
            print_json({"out": str(target), "conditions": rows})
            return
        table = Table(title=f"{experiment.name} in {target}")
        for column in ("condition", "label", "done", "failed", "pending"):
            table.add_column(column, justify="right" if column in ("done", "pending") else "left")
        for r in rows:
            table.add_row(
                str(r["condition"]),
                str(r["label"]),
                f"{r['done']}/{r['tasks']}",
                str(r["failed"]),
                str(r["pending"]),
            )
        out.print(table)

    guard(go)


@experiment_app.command("show")
def experiment_show(
    folder: Annotated[Path, typer.Argument(help="An experiment's output folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json")] = False,
) -> None:
    """Print an experiment folder's aggregate table, counts and failures."""
    from tokenomy.errors import ResultsError
    from tokenomy.results import read_summary

    def go() -> None:
        summary = read_summary(folder)
        if summary.get("kind") != "experiment":
            raise ResultsError(f"{folder} is not an experiment folder (kind {summary.get('kind')})")
        if as_json:
            print_json(summary)
            return
        c = summary["counts"]
        if summary["aggregate"]:
            show_aggregate(summary["aggregate"], f"{summary['name']}: {c['done']} runs")
        console.print(
            f"{c['done']} of {c['total']} tasks done, {c['failed']} failed "
            f"(executor {summary['executor']['name']})",
            highlight=False,
        )
        failures_file = folder / "failures.json"
        if failures_file.is_file():
            _show_failures(json.loads(failures_file.read_text())["failures"], folder)

    guard(go)


if __name__ == "__main__":  # pragma: no cover - `python -m tokenomy.cli_experiment ...`
    experiment_app()
