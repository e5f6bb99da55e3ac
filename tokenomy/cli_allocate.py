"""``tokenomy route`` and ``tokenomy allocate``: the marginal token allocator on the command line.

    tokenomy route eval --data routellm-gsm8k|routellm-mmlu|dcrouter|routellm-csv [--json]
    tokenomy route fit --data NAME --out router.npz
    tokenomy route report DIR [--out FILE]
    tokenomy allocate diagnose LOG [--json]
    tokenomy allocate synth-log OUT [--mode MODE]
    tokenomy allocate serve [--trace synthetic|code|conv|FILE] [--load 0.9] [--json]
    tokenomy allocate agents [--tasks N] [--json]
    tokenomy allocate pace --data NAME --budget-share 0.3 [--json]

``route eval --json`` prints ``{"data", "test_prompts", "routers": [{"router", "apgr", "cpt50",
"cpt80", "quality", "cost_per_prompt", ...}], ...}``; CPTs are percentages of strong calls (or of
the weak→strong cost span on many-model sets), ``apgr``/``cpt`` are ``null`` for fixed routers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_support import console, guard, out, print_json
from tokenomy.errors import ConfigError

route_app = typer.Typer(help="Route requests between models by net value; score routers.")
allocate_app = typer.Typer(
    help="The marginal token allocator: diagnosis, serving, agents, pacing.",
    no_args_is_help=True,
)
route_app.info.no_args_is_help = True

DataOption = Annotated[
    str, typer.Option("--data", help="routellm-gsm8k | routellm-mmlu | dcrouter | routellm-csv")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="data folder (default ../shared/data; csv: the set's folder)"),
]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:
            return "—"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{digits + 1}g}"
        return f"{value:.2e}"
    return str(value)


def _load_kw(data: str, weak: str | None, strong: str | None) -> dict[str, Any]:
    if data == "routellm-csv":
        if not weak or not strong:
            raise ConfigError("--data routellm-csv needs --weak MODEL and --strong MODEL")
        return {"weak": weak, "strong": strong}
    if weak or strong:
        raise ConfigError("--weak/--strong apply to --data routellm-csv only")
    return {}


# ----------------------------------------------------------------------------- route


@route_app.command("eval")
def route_eval(
    data: DataOption,
    data_dir: DataDirOption = None,
    seed: Annotated[int, typer.Option(help="seed of the split, predictor and random router")] = 0,
    value: Annotated[
        float | None,
        typer.Option("--value", help="V in $ per unit quality (default: 10× max cost)"),
    ] = None,
    predictor: Annotated[str, typer.Option(help="auto | logistic | knn | factor | mean")] = "auto",
    features: Annotated[
        str | None, typer.Option("--features", help="hashing-tfidf | hashing-words | minilm")
    ] = None,
    weak: Annotated[str | None, typer.Option(help="weak model column (routellm-csv)")] = None,
    strong: Annotated[str | None, typer.Option(help="strong model column (routellm-csv)")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="also save a results folder (report-ready)")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing --out folder")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Fit the price router on training prompts and score it against the baselines."""
    from tokenomy.allocate.route_eval import evaluate

    def run() -> Any:
        kw = _load_kw(data, weak, strong)
        say = None if as_json else (lambda msg: console.print(f"… {msg}", highlight=False))
        return evaluate(
            data,
            data_dir=None if data_dir is None else str(data_dir),
            seed=seed,
            value=value,
            predictor=predictor,
            featurizer=features,
            progress=say,
            **kw,
        )

    result = guard(run)
    if out_dir is not None:
        from tokenomy.report.routing import save_route_eval

        guard(lambda: save_route_eval(result, out_dir, overwrite=overwrite))
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(
        title=f"{result.data}: {result.test_prompts} held-out prompts "
        f"(trained on {result.train_prompts}), V = ${result.value:.4g} per unit quality"
    )
    for col in ("router", "APGR", "CPT(50%)", "CPT(80%)", "quality", "$/prompt", "welfare"):
        table.add_column(col, justify="left" if col == "router" else "right", no_wrap=True)
    for r in result.routers:
        table.add_row(
            r.router,
            _fmt(r.apgr),
            _fmt(r.cpt50 and 100 * r.cpt50),
            _fmt(r.cpt80 and 100 * r.cpt80),
            _fmt(r.quality),
            _fmt(r.cost_per_prompt),
            _fmt(r.welfare),
        )
    out.print(table)
    out.print(f"x-axis of APGR/CPT: {result.axis}; weak = {result.weak}, strong = {result.strong}")
    out.print(
        f"predictor: {result.settings.get('predictor')} ({result.settings.get('featurizer')})"
    )
    out.print(f"costs: {result.token_rule}", highlight=False)
    if result.dominates_best_single is not None:
        verdict = "dominates" if result.dominates_best_single else "does not dominate"
        out.print(f"the price router's cost–quality frontier {verdict} the best single model")
    if out_dir is not None:
        console.print(f"saved to {out_dir} (tokenomy route report {out_dir})")


@route_app.command("fit")
def route_fit(
    data: DataOption,
    out_path: Annotated[Path, typer.Option("--out", help="router file to write (.npz)")],
    data_dir: DataDirOption = None,
    value: Annotated[float, typer.Option("--value", help="V in $ per unit quality")] = 1.0,
    predictor: Annotated[str, typer.Option(help="logistic | knn | factor | mean")] = "logistic",
    features: Annotated[str | None, typer.Option("--features")] = None,
    weak: Annotated[str | None, typer.Option(help="weak model column (routellm-csv)")] = None,
    strong: Annotated[str | None, typer.Option(help="strong model column (routellm-csv)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Fit a router on every prompt of a data set and save it (for the proxy or `route_one`)."""
    from tokenomy.allocate.route_data import load
    from tokenomy.allocate.route_eval import fit_router
    from tokenomy.prices import Prices

    def run() -> Path:
        full = load(
            data, None if data_dir is None else str(data_dir), **_load_kw(data, weak, strong)
        )
        router = fit_router(full, Prices(value=value, table=full.table), predictor, features, seed)
        return router.save(out_path)

    path = guard(run)
    console.print(f"router saved to {path}")


@route_app.command("report")
def route_report(
    folder: Annotated[Path, typer.Argument(help="folder written by `route eval --out`")],
    out_file: Annotated[Path | None, typer.Option("--out", help="HTML file to write")] = None,
) -> None:
    """Draw the PGR curves, the cost–quality frontier and welfare of a saved evaluation."""
    from tokenomy.report.routing import write_route_report

    path = guard(lambda: write_route_report(folder, out_file))
    console.print(f"report written to {path}")


# ----------------------------------------------------------------------------- allocate


@allocate_app.command("diagnose")
def allocate_diagnose(
    log: Annotated[Path, typer.Argument(help="decision log (JSON Lines)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Flag the seven failure modes in a decision log, with counts and the regret each caused."""
    from tokenomy.allocate.diagnose import diagnose_log

    result = guard(lambda: diagnose_log(log))
    if as_json:
        print_json(result.to_dict())
        return
    out.print(result.table())


@allocate_app.command("synth-log")
def allocate_synth_log(
    out_path: Annotated[Path, typer.Argument(help="JSON Lines file to write")],
    mode: Annotated[
        str | None, typer.Option(help="failure mode to inject (default: a clean log)")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="decisions")] = 200,
    rate: Annotated[float, typer.Option(help="share of the layer's decisions that fail")] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write a synthetic decision log (clean, or with one failure mode injected)."""
    from tokenomy.allocate.synthetic_logs import write_synthetic_log

    path = guard(lambda: write_synthetic_log(out_path, mode, n, seed, rate))
    console.print(f"wrote {path}")


@allocate_app.command("serve")
def allocate_serve(
    trace: Annotated[
        str, typer.Option(help="synthetic | code | conv | path to an Azure-format CSV")
    ] = "synthetic",
    load: Annotated[float, typer.Option(help="offered load ρ the trace is rescaled to")] = 0.9,
    servers: Annotated[int, typer.Option(help="replicas")] = 1,
    latency_price: Annotated[float, typer.Option("--latency-price", help="λ in $/s")] = 0.01,
    seed: Annotated[int, typer.Option()] = 0,
    data_dir: DataDirOption = None,
    log: Annotated[Path | None, typer.Option("--log", help="write the decision log")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Queueing simulation: first-come-first-served vs congestion-priced admission."""
    from tokenomy.allocate.serving import decision_log, run_serving

    results, summary = guard(
        lambda: run_serving(
            trace,
            load=load,
            servers=servers,
            latency_price=latency_price,
            seed=seed,
            data_dir=data_dir,
        )
    )
    if log is not None:
        from tokenomy.allocate.decision_log import write_log

        records = [r for res in results.values() for r in decision_log(res)]
        guard(lambda: write_log(log, records))
    if as_json:
        print_json(summary)
        return
    table = Table(
        title=f"serving: trace {trace}, load {load}, {servers} replica(s), λ = ${latency_price}/s"
    )
    cols = ["admitted", "p50 s", "p90 s", "p99 s", "req/s", "welfare $", "under water"]
    table.add_column("policy")
    for col in cols:
        table.add_column(col, justify="right")
    for name, row in summary["policies"].items():
        table.add_row(
            name,
            _fmt(row["admitted_share"]),
            _fmt(row["latency_p50_s"]),
            _fmt(row["latency_p90_s"]),
            _fmt(row["latency_p99_s"]),
            _fmt(row["throughput_rps"]),
            _fmt(row["welfare_total"]),
            str(row["underwater"]),
        )
    out.print(table)


@allocate_app.command("agents")
def allocate_agents(
    tasks: Annotated[int, typer.Option("--tasks", help="synthetic tasks")] = 2000,
    seed: Annotated[int, typer.Option()] = 0,
    log: Annotated[Path | None, typer.Option("--log", help="write the decision log")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Simulate fixed-cap ReAct agents against the marginal-value controller."""
    from tokenomy.allocate.agent_simulation import simulate_agents

    result = guard(lambda: simulate_agents(tasks, seed, keep_records=log is not None))
    if log is not None:
        from tokenomy.allocate.decision_log import write_log

        guard(lambda: write_log(log, result.records))
    if as_json:
        print_json({"tasks": tasks, "seed": seed, "agents": result.rows()})
        return
    out.print(result.format(), highlight=False)


@allocate_app.command("pace")
def allocate_pace(
    data: DataOption,
    budget_share: Annotated[
        float, typer.Option(help="budget as a share of always-priciest spend on the stream")
    ] = 0.3,
    data_dir: DataDirOption = None,
    value: Annotated[float | None, typer.Option("--value", help="V in $ per unit quality")] = None,
    step_size: Annotated[float, typer.Option(help="dual step of the budget price")] = 0.05,
    seed: Annotated[int, typer.Option(help="seed of the split and the stream order")] = 0,
    log: Annotated[Path | None, typer.Option("--log", help="write the multipliers (JSON)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Replay held-out prompts as a stream and pace a budget with the online budget price."""
    from tokenomy.allocate.pacing_eval import pace_stream

    result = guard(
        lambda: pace_stream(
            data,
            data_dir=None if data_dir is None else str(data_dir),
            budget_share=budget_share,
            value=value,
            step_size=step_size,
            seed=seed,
        )
    )
    if log is not None:
        from tokenomy.results import dumps

        log.write_text(dumps(result["log"]), encoding="utf-8")
    summary = {k: v for k, v in result.items() if k != "log"}
    if as_json:
        print_json(summary)
        return
    for key, val in summary.items():
        out.print(f"{key:>22}: {_fmt(val) if not isinstance(val, dict) else val}")
