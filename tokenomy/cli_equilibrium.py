"""``tokenomy equilibrium``: solve economies, run the built-in examples, draw reports.

    tokenomy equilibrium solve SPEC.yaml [--solver planner|price-loop|first-order|...] [--json]
    tokenomy equilibrium example [NAME] [--json | --yaml] [--out DIR]
    tokenomy equilibrium report INPUT... [--out FILE]

``solve --json`` prints the result object (``prices``, ``productions``, ``routing``,
``welfare``, ``certificates``, ``converged``, ``iterations``, ``wall_s``, ...). A method that
does not converge says so (``converged: false`` and a ``status`` such as ``cycling``); the
command still exits 0, since reporting that is its job. Bad specs and infeasible economies exit
2 with one line naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_support import console, guard, out, print_json, progress_bar
from tokenomy.errors import ConfigError

equilibrium_app = typer.Typer(
    help="General equilibrium of orchestrated agent systems, with certificates.",
    no_args_is_help=True,
)

SolverOption = Annotated[
    str,
    typer.Option(
        "--solver",
        help="planner | price-loop | first-order | closed-form | proportional-response",
    ),
]


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "—"
        return f"{value:.3g}" if (value == 0 or 1e-3 <= abs(value) < 1e5) else f"{value:.2e}"
    return str(value)


def _options(eta: float | None, max_iter: int | None, tol: float | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if eta is not None:
        options["eta"] = eta
    if max_iter is not None:
        options["max_iter"] = max_iter
    if tol is not None:
        options["tol"] = tol
    return options


ROWS = (
    ("status", None),
    ("iterations", None),
    ("seconds", "wall_s"),
    ("welfare", None),
    ("walras", "walras"),
    ("clearing", "clearing"),
    ("complementarity", "complementarity"),
    ("profit gap", "profit_gap"),
    ("planner gap", "planner_gap"),
)


def _methods_table(title: str, results: dict[str, dict[str, Any]], errors: dict[str, str]) -> Table:
    """One column per method, one row per outcome and certificate (fits 80 columns)."""
    table = Table(title=title)
    table.add_column("")
    for solver in results:
        table.add_column(solver, justify="right")
    for solver in errors:
        table.add_column(solver, justify="right")
    for label, key in ROWS:
        cells = []
        for r in results.values():
            if label in ("walras", "clearing", "complementarity", "profit gap", "planner gap"):
                cells.append(_fmt(r["certificates"][key]))
            else:
                cells.append(_fmt(r[key or label]))
        cells += ["[red]failed[/]" if label == "status" else "" for _ in errors]
        table.add_row(label, *cells)
    for solver, message in errors.items():
        console.print(f"[red]{solver}:[/] {message}", highlight=False)
    return table


def _prices_table(result: dict[str, Any]) -> Table:
    """Prices by good, or by market and metric with all-zero rows left out."""
    prices = result["prices"]
    table = Table(title=f"prices ({result['solver']})")
    if prices and all(not isinstance(v, dict) for v in prices.values()):
        for good in prices:
            table.add_column(str(good), justify="right")
        table.add_row(*(_fmt(float(v)) for v in prices.values()))
        return table
    top = max((abs(float(c)) for b in prices.values() for cs in b.values() for c in cs), default=0)
    floor = 1e-9 * top
    table.add_column("market")
    table.add_column("metric")
    table.add_column("price coefficients (welfare units)", overflow="fold")
    hidden = 0
    for market, block in prices.items():
        for metric, coefs in block.items():
            if all(abs(float(c)) <= floor for c in coefs):
                hidden += 1
                continue
            shown = ", ".join(_fmt(float(c)) if abs(float(c)) > floor else "0" for c in coefs[:8])
            if len(coefs) > 8:
                shown += f", … ({len(coefs)} in all)"
            table.add_row(market, metric, shown)
    if hidden:
        table.caption = f"{hidden} market/metric pairs with every price zero (slack) not shown"
    return table


def show_equilibrium_summary(summary: dict[str, Any]) -> None:
    """Print an ``equilibrium`` or ``equilibrium-set`` summary (``tokenomy runs show``)."""
    if summary.get("kind") == "equilibrium":
        out.print(_methods_table(str(summary.get("name")), {summary["solver"]: summary}, {}))
        out.print(_prices_table(summary))
        if summary.get("message"):
            out.print(summary["message"])
        return
    for entry in summary.get("economies", []):
        out.print(_methods_table(entry["name"], entry["solvers"], entry.get("errors", {})))


@equilibrium_app.command("solve")
def equilibrium_solve(
    spec_file: Annotated[Path, typer.Argument(help="Economy, Fisher or exchange spec (YAML)")],
    solver: SolverOption = "planner",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    compare_planner: Annotated[
        bool, typer.Option(help="Also solve the planner and report the exact planner gap")
    ] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Save a result folder")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder")] = False,
    eta: Annotated[float | None, typer.Option(help="Price-loop step size")] = None,
    max_iter: Annotated[int | None, typer.Option(help="Iteration cap (iterative methods)")] = None,
    tol: Annotated[float | None, typer.Option(help="Residual tolerance")] = None,
) -> None:
    """Solve an economy and print its prices, productions, routing and certificates."""
    from tokenomy.equilibrium import load_spec, solve

    def go() -> None:
        spec = load_spec(spec_file)
        result = solve(
            spec, solver, compare_planner=compare_planner, **_options(eta, max_iter, tol)
        )
        if out_dir is not None:
            result.save(out_dir, overwrite=overwrite)
        if as_json:
            print_json(result.to_json())
            return
        data = result.to_json()
        out.print(_methods_table(spec.name, {solver: data}, {}))
        out.print(_prices_table(data))
        if result.message:
            out.print(result.message)
        if out_dir is not None:
            out.print(f"results in {out_dir} (tokenomy equilibrium report {out_dir})")

    guard(go)


@equilibrium_app.command("example")
def equilibrium_example(
    name: Annotated[str | None, typer.Argument(help="Example name (omit to list them)")] = None,
    solver: SolverOption = "planner",
    only: Annotated[
        bool, typer.Option("--only", help="Run just --solver, not every method that applies")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the example's spec")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Save a result set")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder")] = False,
) -> None:
    """Solve a built-in example with every method that applies and compare them.

    With --json the top level is --solver's result (the same object as ``solve --json``), and
    ``solvers`` holds every method's.
    """
    from tokenomy.equilibrium.compare import compare_solvers, save_comparisons
    from tokenomy.equilibrium.examples import EXAMPLES, describe, example, example_yaml

    def go() -> None:
        if name is None:
            table = Table(title="built-in examples")
            table.add_column("name")
            table.add_column("what it shows", overflow="fold")
            for key in EXAMPLES:
                table.add_row(key, describe(key))
            out.print(table)
            return
        if as_yaml:
            print(example_yaml(name), end="")
            return
        spec = example(name)
        with progress_bar(not as_json) as bar:
            task = bar.add_task(name, total=None)
            comp = compare_solvers(
                spec,
                [solver] if only else None,
                progress=lambda done, total, label: bar.update(
                    task, completed=done, total=total, description=label
                ),
            )
        if out_dir is not None:
            save_comparisons([comp], out_dir, overwrite=overwrite)
        summary = comp.summary()
        if as_json:
            if solver not in comp.results:
                raise ConfigError(
                    f"--solver {solver} did not produce a result for '{name}': "
                    + comp.errors.get(solver, f"it does not apply; try {list(comp.results)}")
                )
            print_json(
                {
                    **comp.results[solver].to_json(),
                    "description": comp.description,
                    "solvers": summary["solvers"],
                    "errors": comp.errors,
                    "agreement": summary["agreement"],
                }
            )
            return
        out.print(comp.description, highlight=False)
        out.print(_methods_table(name, summary["solvers"], comp.errors))
        ref = comp.reference
        if ref is not None:
            out.print(_prices_table(ref.to_json()))
        for solver_name, result in comp.results.items():
            if not result.converged and result.message:
                out.print(f"{solver_name}: {result.status} — {result.message}", highlight=False)
        if out_dir is not None:
            out.print(f"results in {out_dir} (tokenomy equilibrium report {out_dir})")

    guard(go)


def _records(inputs: list[str], solvers: list[str] | None) -> list[Any]:
    from tokenomy.equilibrium.compare import compare_solvers
    from tokenomy.equilibrium.examples import EXAMPLES, example
    from tokenomy.equilibrium.spec import load_spec
    from tokenomy.report.equilibrium import record_of_comparison, records_from_folder
    from tokenomy.results import read_summary

    records = []
    with progress_bar() as bar:
        task = bar.add_task("solving", total=None)
        for item in inputs:
            path = Path(item)
            if path.is_dir():
                records += records_from_folder(path, read_summary(path))
                continue
            if path.is_file():
                spec = load_spec(path)
            elif item in EXAMPLES:
                spec = example(item)
            else:
                raise ConfigError(
                    f"report input '{item}' is neither a result folder, a spec file nor a "
                    f"built-in example ({', '.join(EXAMPLES)})"
                )
            comp = compare_solvers(
                spec,
                solvers,
                progress=lambda done, total, label: bar.update(
                    task, completed=done, total=total, description=label
                ),
            )
            records.append(record_of_comparison(comp))
    return records


@equilibrium_app.command("report")
def equilibrium_report(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Result folders, spec files or built-in example names"),
    ],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="HTML file (default: FOLDER/report.html for one folder, "
            "else results/equilibrium/NAME.html)",
        ),
    ] = None,
    solver: Annotated[
        list[str] | None, typer.Option("--solver", help="Methods for spec inputs (repeatable)")
    ] = None,
) -> None:
    """Draw price trajectories, productions, routing and convergence into one HTML report.

    Several inputs share one report, with a last section comparing the price loop across
    them (try: ``tokenomy equilibrium report dag-tree dag-entangled``).
    """
    from tokenomy.report import render
    from tokenomy.report.equilibrium import equilibrium_sections

    def go() -> None:
        records = _records(inputs, solver or None)
        names = "+".join(r.name for r in records)
        if out_file is not None:
            target = out_file
        elif len(inputs) == 1 and Path(inputs[0]).is_dir():
            target = Path(inputs[0]) / "report.html"
        else:
            target = Path("results/equilibrium") / f"{names}.html"
        path = render(
            f"tokenomy equilibrium — {names}",
            ", ".join(inputs),
            equilibrium_sections(records),
            target,
        )
        console.print(f"[bold green]report:[/] {path}")

    guard(go)
