"""``tokenomy principal``: principal–agent choice experiments and the Tin Men replay.

    tokenomy principal run SCENARIO.yaml|NAME --backend openai|replay|scripted --n N --out DIR
        [--json] [--model M] [--base-url URL] [--temperature T] [--conditions C ...]
        [--data DIR] [--concurrency C] [--seed S] [--overwrite]
    tokenomy principal replay --data DIR [--json] [--out DIR]
    tokenomy principal report DIR

``run`` asks a backend every sample of scenario × condition × model × temperature × n and
writes ``DIR/transcripts.parquet`` and ``DIR/summary.json`` (kind ``principal-run``).
Backends: ``openai`` (any OpenAI-compatible server, ``TOKENOMY_LLM_*`` or the options),
``replay`` (the published Tin Men transcripts under ``--data``; models and temperature default
to those recorded), ``scripted`` (a deterministic agent that always buys the customer's
stated preference). ``replay`` runs both built-in scenarios against the published transcripts
with our parser and prints ``{"rows": [{"model", "temperature", "scenario", "condition",
"choice", "count"}, ...]}`` (one row per non-zero cell) with ``--json``, otherwise a table with
Wilson intervals, the condition tests and any disagreement with the study's recorded choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_support import guard, out, print_json

principal_app = typer.Typer(
    help="Principal–agent lab: choice experiments (Tin Men replay), delegated shopping.",
    no_args_is_help=True,
)

DEFAULT_DATA = Path("../shared/data/tinmen")


def _replay_backend(data: Path) -> tuple[Any, list[Any]]:
    from tokenomy.principal.tinmen import TinMenReplayChat, read_tinmen

    records = read_tinmen(data)
    return TinMenReplayChat(records), records


@principal_app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario YAML file or built-in name")],
    out_dir: Annotated[Path, typer.Option("--out", help="Result folder to write")],
    backend: Annotated[str, typer.Option(help="openai | replay | scripted")] = "scripted",
    n: Annotated[int, typer.Option("--n", help="Samples per cell", min=1)] = 30,
    model: Annotated[
        list[str] | None, typer.Option(help="Model to ask (repeatable; replay: recorded ones)")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: server URL ending in /v1")] = None,
    temperature: Annotated[
        list[float] | None, typer.Option(help="Temperature (repeatable; default 0.2)")
    ] = None,
    conditions: Annotated[
        list[str] | None, typer.Option(help="Condition (repeatable; default: all)")
    ] = None,
    data: Annotated[Path, typer.Option(help="replay: folder of MODEL/temp-T.csv")] = DEFAULT_DATA,
    concurrency: Annotated[int, typer.Option(help="Calls in flight at once", min=1)] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the first sample")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing result folder")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON")] = False,
) -> None:
    """Run a choice experiment and record every transcript."""
    from tokenomy.errors import ConfigError
    from tokenomy.llm.protocol import ChatModel, close_model
    from tokenomy.llm.scripted import ScriptedChat
    from tokenomy.principal.runner import preference_rule, run_choices, write_choice_run
    from tokenomy.principal.scenarios import load_scenario

    def go() -> dict[str, Any]:
        s = load_scenario(scenario)
        temps = temperature or [0.2]
        chat: ChatModel
        if backend == "scripted":
            chat = ScriptedChat(preference_rule([s]), name="scripted-preference")
            models = model or ["scripted-preference"]
        elif backend == "replay":
            replay, _ = _replay_backend(data)
            chat = replay
            models = model or sorted({m for m, _ in replay.models})
            temps = temperature or sorted({t for _, t in replay.models})
        elif backend == "openai":
            from tokenomy.llm.openai_backend import OpenAIChat
            from tokenomy.llm.settings import LLMSettings

            updates: dict[str, Any] = {} if base_url is None else {"base_url": base_url}
            settings = LLMSettings().model_copy(update=updates)
            chat = OpenAIChat.from_settings(settings)
            models = model or [settings.model]
        else:
            raise ConfigError(f"--backend must be openai, replay or scripted, got '{backend}'")
        try:
            result = run_choices(
                chat, [s], models, temps, n, conditions=conditions, seed=seed,
                concurrency=concurrency,
            )  # fmt: skip
        finally:
            close_model(chat)
        info = {"kind": backend, "name": chat.name, "base_url": base_url, "data": str(data)}
        write_choice_run(result, out_dir, scenarios=[s], backend=info, overwrite=overwrite)
        return {"out": str(out_dir), "rows": result.counts().to_dict(orient="records")}

    result = guard(go)
    if as_json:
        print_json(result)
    else:
        _print_counts(result["rows"])
        out.print(f"wrote {result['out']}", highlight=False)


def _print_counts(rows: list[dict[str, Any]]) -> None:
    table = Table("model", "T", "scenario", "condition", "choice", "count")
    for r in rows:
        table.add_row(
            r["model"], f"{r['temperature']:g}", r["scenario"], r["condition"], r["choice"],
            str(r["count"]),
        )  # fmt: skip
    out.print(table)


def replay_rows(data: Path, *, concurrency: int = 8, out_dir: Path | None = None) -> dict[str, Any]:
    """Run both built-in scenarios against the published transcripts with our parser.

    Returns:
        ``{"rows": [...]}`` (one per non-zero cell), plus (not printed by ``--json``) the run,
        the scenarios and the disagreements with the study's recorded choices.
    """
    from tokenomy.principal.runner import run_choices, write_choice_run
    from tokenomy.principal.scenarios import builtin_scenarios
    from tokenomy.principal.tinmen import disagreements

    scenarios = list(builtin_scenarios().values())
    chat, records = _replay_backend(data)
    sizes = chat.cell_sizes()
    n = min(sizes.values())
    models = sorted({m for m, _ in chat.models})
    temps = sorted({t for _, t in chat.models})
    result = run_choices(chat, scenarios, models, temps, n, concurrency=concurrency)
    if out_dir is not None:
        info = {"kind": "replay", "name": chat.name, "data": str(data)}
        write_choice_run(result, out_dir, scenarios=scenarios, backend=info)
    rows = [
        {
            "model": r["model"],
            "temperature": float(r["temperature"]),
            "scenario": r["scenario"],
            "condition": r["condition"],
            "choice": r["choice"],
            "count": int(r["count"]),
        }
        for r in result.counts().to_dict(orient="records")
    ]
    return {
        "rows": rows,
        "run": result,
        "scenarios": scenarios,
        "disagreements": disagreements(records),
        "unequal_cells": len(set(sizes.values())) > 1,
    }


@principal_app.command("replay")
def replay(
    data: Annotated[Path, typer.Option(help="Folder of MODEL/temp-T.csv")] = DEFAULT_DATA,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Also write the run to this folder")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Calls in flight at once", min=1)] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-cell counts")] = False,
) -> None:
    """Reproduce the Tin Men per-cell counts from the published transcripts."""
    from tokenomy.principal.analysis import condition_tests, outcome_table

    result = guard(lambda: replay_rows(data, concurrency=concurrency, out_dir=out_dir))
    if as_json:
        print_json({"rows": result["rows"]})
        return
    run_ = result["run"]
    outcomes = outcome_table(run_.transcripts, result["scenarios"])
    table = Table("model", "T", "scenario", "condition", "n", "unparsed", "overrides", "rate [95%]")
    for r in outcomes.itertuples(index=False):
        table.add_row(
            str(r.model), f"{r.temperature:g}", str(r.scenario), str(r.condition), str(r.n),
            str(r.unparsed),
            str(r.overrides), f"{r.override_rate:.2f} [{r.lo:.2f}, {r.hi:.2f}]",
        )  # fmt: skip
    out.print(table)
    tests = Table("model", "scenario", "test", "a", "b", "table", "p")
    for t in condition_tests(outcomes).itertuples(index=False):
        cells = (t.model, t.scenario, t.test, t.a, t.b, t.table)
        tests.add_row(*(str(c) for c in cells), f"{t.p_value:.3g}")
    out.print(tests)
    dis = result["disagreements"]
    out.print(f"disagreements with the recorded choices: {len(dis)}", highlight=False)
    for d in dis:
        out.print(f"  {d.record.file} row {d.record.row}: ours {d.ours}, recorded {d.recorded}")


@principal_app.command("report")
def report(folder: Annotated[Path, typer.Argument(help="A principal-run result folder")]) -> None:
    """Write FOLDER/report.html."""
    from tokenomy.report import write_report

    target = guard(lambda: write_report(folder))
    out.print(f"wrote {target}", highlight=False)


@principal_app.command("shop")
def shop(
    data: Annotated[
        Path | None, typer.Argument(help="Market folder (default: a synthetic market)")
    ] = None,
    customers: Annotated[int, typer.Option(help="Synthetic market: customers", min=1)] = 100,
    businesses: Annotated[int, typer.Option(help="Synthetic market: businesses", min=1)] = 300,
    market_seed: Annotated[int, typer.Option(help="Synthetic market's seed", min=0)] = 0,
    seeds: Annotated[int, typer.Option(help="Run seeds 0..N-1", min=2)] = 10,
    bias: Annotated[float, typer.Option(help="Weight of the platform's gain", min=0)] = 1.0,
    user_audit: Annotated[
        float, typer.Option(help="How much the user's view of the explanation curbs the bias")
    ] = 0.75,
    platform_push: Annotated[
        float, typer.Option(help="How much the platform's view of it raises the bias")
    ] = 0.5,
    sponsored_share: Annotated[float, typer.Option(help="Share of sponsored businesses")] = 0.3,
    sponsor_fee: Annotated[float, typer.Option(help="Platform's fee per sponsored sale, $")] = 5.0,
    search: Annotated[str, typer.Option(help="Search algorithm")] = "lexical",
    limit: Annotated[int, typer.Option(help="Consideration-set size", min=1)] = 10,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write summary.json, a table and report.html")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Delegated shopping: a biased agent for user and platform vs the aligned control.

    Per information condition: the user's utility loss with 95% CIs, the override rate and
    the sponsored share.
    """
    from tokenomy.principal.delegation_run import shop_command

    def go() -> None:
        result = shop_command(
            data,
            customers=customers,
            businesses=businesses,
            market_seed=market_seed,
            seeds=seeds,
            bias=bias,
            user_audit=user_audit,
            platform_push=platform_push,
            sponsored_share=sponsored_share,
            sponsor_fee=sponsor_fee,
            search=search,
            limit=limit,
        )
        if out_dir is not None:
            import pyarrow as pa

            from tokenomy.report import write_report
            from tokenomy.results import environment, write_result

            rows = [
                {k: v for k, v in row.items() if not isinstance(v, list | tuple)}
                for row in result["conditions"]
            ]
            result = {**result, "environment": environment()}
            write_result(
                out_dir, {"conditions": pa.Table.from_pylist(rows)}, result, overwrite=overwrite
            )
            write_report(out_dir)
        if as_json:
            print_json(result)
            return
        table = Table(
            title=f"delegated shopping on {result['market']} ({len(result['seeds'])} seeds)"
        )
        for col in ("condition", "weight", "utility loss $ [95% CI]", "override rate", "sponsored"):
            table.add_column(col, justify="left" if col == "condition" else "right")
        for row in result["conditions"]:
            lo, hi = row["loss_ci"]
            table.add_row(
                row["condition"],
                f"{row['weight']:.3g}",
                f"{row['utility_loss']:.3f} [{lo:.3f}, {hi:.3f}]",
                f"{row['override_rate']:.3f}",
                f"{row['sponsored_share']:.3f}",
            )
        out.print(table)

    guard(go)
