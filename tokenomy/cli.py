"""The ``tokenomy`` command line: one sub-command group per capability.

    tokenomy market generate|run|baselines|sweep|study|validate
    tokenomy serve --db URL [--data DIR]
    tokenomy proxy --config proxy.yaml
    tokenomy experiment run|status|show SPEC  (--executor local|process|ray)
    tokenomy ledger show|audit DB_URL
    tokenomy llm testserver|ask|transcript
    tokenomy principal run|replay|report|shop
    tokenomy equilibrium solve|example|report
    tokenomy route eval|fit|report
    tokenomy allocate diagnose|synth-log|serve|agents|pace
    tokenomy runs show DIR
    tokenomy report DIR
    tokenomy prices show
    tokenomy demo

Errors tokenomy raises on purpose (bad data, bad settings) print one red line and exit with
status 2; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_allocate import allocate_app, route_app
from tokenomy.cli_equilibrium import equilibrium_app, show_equilibrium_summary
from tokenomy.cli_experiment import experiment_app
from tokenomy.cli_ledger import ledger_app
from tokenomy.cli_llm import llm_app
from tokenomy.cli_principal import principal_app
from tokenomy.cli_proxy import proxy
from tokenomy.cli_service import serve
from tokenomy.cli_support import (
    console,
    csv_list,
    guard,
    out,
    parse_params,
    print_json,
    progress_bar,
    token_prices,
)
from tokenomy.errors import ConfigError

app = typer.Typer(
    help="tokenomy — the economics layer for systems of LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
market_app = typer.Typer(help="The agentic marketplace.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect result folders.", no_args_is_help=True)
prices_app = typer.Typer(help="Token prices.", no_args_is_help=True)
app.add_typer(market_app, name="market")
app.add_typer(runs_app, name="runs")
app.add_typer(prices_app, name="prices")
app.add_typer(equilibrium_app, name="equilibrium")
app.add_typer(route_app, name="route")
app.add_typer(allocate_app, name="allocate")
app.command("serve")(serve)
app.add_typer(llm_app, name="llm")
app.add_typer(ledger_app, name="ledger")
app.add_typer(principal_app, name="principal")
app.command("proxy")(proxy)
app.add_typer(experiment_app, name="experiment")


# ------------------------------------------------------------------------------ market


@market_app.command("generate")
def market_generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the data set to")],
    customers: Annotated[int, typer.Option(help="Number of customers", min=1)] = 100,
    businesses: Annotated[int, typer.Option(help="Number of businesses", min=1)] = 300,
    seed: Annotated[int, typer.Option(help="Seed", min=0)] = 0,
    domain: Annotated[str, typer.Option(help="restaurants or contractors")] = "restaurants",
    fmt: Annotated[str, typer.Option("--format", help="yaml (Magentic) or parquet")] = "yaml",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder")] = False,
) -> None:
    """Generate a synthetic market in the Magentic format (seeded, any scale)."""
    from tokenomy.market.generator import GeneratorSpec, generate_market
    from tokenomy.market.io import write_market

    def go() -> None:
        spec = GeneratorSpec(customers=customers, businesses=businesses, seed=seed, domain=domain)
        with progress_bar() as bar:
            task = bar.add_task("generating", total=None)
            market = generate_market(spec)
            bar.update(task, description="writing", total=market.n_customers + market.n_businesses)
            write_market(
                market,
                out_dir,
                fmt=fmt,
                overwrite=overwrite,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
        console.print(
            f"wrote {market.n_customers} customers and {market.n_businesses} businesses "
            f"({fmt}) to {out_dir}"
        )

    guard(go)


@market_app.command("run")
def market_run(
    data_dir: Annotated[Path, typer.Argument(help="Data-set folder (Magentic format)")],
    search: Annotated[str, typer.Option(help="lexical|bm25|rating|random|optimal|filtered")] = (
        "lexical"
    ),
    limit: Annotated[int, typer.Option(help="Consideration-set size", min=1)] = 10,
    customer_policy: Annotated[str, typer.Option(help="rational|first-proposal|bounded")] = (
        "rational"
    ),
    business_policy: Annotated[str, typer.Option(help="posted-price|discounting")] = (
        "posted-price"
    ),
    seed: Annotated[int, typer.Option(min=0)] = 0,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: results/runs/...)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON")] = False,
    engine: Annotated[str, typer.Option(help="auto|batch|event")] = "auto",
    customer_param: Annotated[
        list[str] | None, typer.Option(help="Override a customer parameter, key=value")
    ] = None,
    business_param: Annotated[
        list[str] | None, typer.Option(help="Override a business parameter, key=value")
    ] = None,
    customer_model: Annotated[str, typer.Option(help="Price customers' tokens as")] = (
        "llama-3.1-8b-instruct"
    ),
    business_model: Annotated[str, typer.Option(help="Price businesses' tokens as")] = (
        "llama-3.1-8b-instruct"
    ),
    prices_file: Annotated[Path | None, typer.Option("--prices", help="Price table YAML")] = None,
    latency_price: Annotated[float, typer.Option(help="λ, dollars per second", min=0)] = 0.0,
    context_tokens: Annotated[int, typer.Option(help="Input tokens per action", min=0)] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder")] = False,
    transport: Annotated[
        str,
        typer.Option(
            help="inprocess: agents call the market directly; http: every agent is an "
            "authenticated client of the protocol server, started on a loopback port"
        ),
    ] = "inprocess",
    db: Annotated[
        str | None,
        typer.Option(
            help="Market + ledger database (sqlite:///file.db or a PostgreSQL URL); payments "
            "then go through the ledger. Default: none for inprocess, RUN/market.db for http"
        ),
    ] = None,
    agents: Annotated[
        Path | None,
        typer.Option(help="Population YAML: LLM or scripted policy and backend per agent"),
    ] = None,
    endowment_factor: Annotated[
        float, typer.Option(help="Customers start with this multiple of their value", min=0)
    ] = 3.0,
    contract: Annotated[
        Path | None,
        typer.Option(help="Contract YAML checked before every action of the bound agents"),
    ] = None,
    contract_agents: Annotated[
        str, typer.Option(help="Glob of the agent ids the contract binds")
    ] = "customer_*",
    shards: Annotated[
        int,
        typer.Option(
            help="Split the customers into this many blocks run on workers (scripted "
            "policies; the result is the unsharded run's)",
            min=1,
        ),
    ] = 1,
    executor: Annotated[str, typer.Option(help="Where shards run: local|process|ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: a local Ray instance)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes / CPUs of a local Ray instance", min=1)
    ] = None,
) -> None:
    """Run one market and write its folder (Parquet tables + summary.json)."""
    from tokenomy.market.io import load_market
    from tokenomy.market.runner import RunConfig
    from tokenomy.market.sharded import run_market_or_sharded

    def go() -> None:
        from tokenomy.cli_service import default_db, keep_db

        if transport not in ("inprocess", "http"):
            raise ConfigError(f"--transport must be 'inprocess' or 'http', got '{transport}'")
        population = None
        if agents is not None:
            from tokenomy.market.population import load_population

            population = load_population(agents)
        loaded_contract = None
        if contract is not None:
            from tokenomy.principal.contracts import load_contract

            loaded_contract = load_contract(contract)
        config = RunConfig(
            search=search,
            limit=limit,
            customer_policy=customer_policy,
            business_policy=business_policy,
            customer_params=parse_params(customer_param, "--customer-param"),
            business_params=parse_params(business_param, "--business-param"),
            seed=seed,
            engine=engine,
            customer_model=customer_model,
            business_model=business_model,
            context_tokens=context_tokens,
        )
        config.policies()  # validate before loading data
        prices = token_prices(prices_file, latency_price)
        target = out_dir or Path("results") / "runs" / (
            f"{data_dir.name}-{search}-k{limit}-{customer_policy}-seed{seed}"
        )
        db_url, temp_db = default_db(db, transport)
        from tokenomy.market.service import Funding

        transcripts: dict[str, Path] = {}
        if population is not None:  # every model call is recorded, in the run folder
            import tempfile

            population, transcripts = population.recording_into(
                Path(tempfile.mkdtemp(prefix="tokenomy-calls-"))
            )
        with progress_bar(not as_json) as bar:
            task = bar.add_task("loading", total=None)
            market = load_market(
                data_dir, progress=lambda d, t: bar.update(task, completed=d, total=t)
            )
            result = run_market_or_sharded(
                market,
                config,
                shards=shards,
                executor=executor,
                address=address,
                workers=workers,
                prices=prices,
                progress=lambda stage: bar.update(task, description=stage),
                transport=transport,
                db_url=db_url,
                population=population,
                population_dir=agents.parent if agents is not None else None,
                funding=Funding(endowment_factor=endowment_factor),
                contract=loaded_contract,
                contract_agents=contract_agents,
            )
            bar.update(task, description="writing")
            if temp_db is not None:  # the database will be kept in the run folder
                result.summary["db"] = f"sqlite:///{target / 'market.db'}"
            result.save(target, overwrite=overwrite)
        db_shown = keep_db(temp_db, target) if temp_db is not None else result.summary.get("db")
        for file in transcripts.values():
            if file.exists():
                shutil.move(str(file), str(target / file.name))
                shutil.rmtree(file.parent, ignore_errors=True)
        if as_json:
            print_json({**result.summary["metrics"], "out": str(target), "db": db_shown})
        else:
            _show_summary(result.summary, target)
            if db_shown:
                console.print(f"database: {db_shown}")

    guard(go)


@market_app.command("baselines")
def market_baselines(
    data_dir: Annotated[Path, typer.Argument(help="Data-set folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Optimal and pick-cheapest welfare of a data set, computed from its files."""
    from tokenomy.market.io import load_market
    from tokenomy.market.metrics import baselines

    def go() -> None:
        base = baselines(load_market(data_dir))
        if as_json:
            print_json(base.to_dict())
        else:
            table = Table(title=f"baselines of {data_dir}")
            table.add_column("baseline")
            table.add_column("welfare", justify="right")
            table.add_row("optimal", f"{base.optimal:.2f}")
            table.add_row("pick_cheapest", f"{base.pick_cheapest:.2f}")
            out.print(table)

    guard(go)


@market_app.command("validate")
def market_validate(data_dir: Annotated[Path, typer.Argument(help="Data-set folder")]) -> None:
    """Check a data set: every file parses; print its size and how servable it is."""
    import numpy as np

    from tokenomy.market.io import load_market

    def go() -> None:
        market = load_market(data_dir)
        ptr, _ = market.carriers
        carriers = np.diff(ptr)
        out.print(
            f"{data_dir}: {market.n_customers} customers, {market.n_businesses} businesses, "
            f"{market.n_items} distinct items, {len(market.amenities)} amenities; "
            f"carriers per customer: min {carriers.min()}, mean {carriers.mean():.2f}, "
            f"max {carriers.max()}; customers no business can serve: {(carriers == 0).sum()}"
        )

    guard(go)


def _sweep_progress(bar: Any, total: int) -> Callable[[int, int, str], None]:
    task = bar.add_task("sweep", total=total)

    def update(done: int, _total: int, label: str) -> None:
        bar.update(task, completed=done, description=label)

    return update


@market_app.command("sweep")
def market_sweep(
    data_dirs: Annotated[list[Path], typer.Argument(help="Data-set folders")],
    out_dir: Annotated[Path, typer.Option("--out", help="Sweep folder")],
    search: Annotated[str, typer.Option(help="Comma-separated algorithms")] = "lexical",
    limit: Annotated[str, typer.Option(help="Comma-separated sizes, e.g. 1,3,10")] = "10",
    customer_policy: Annotated[str, typer.Option(help="Comma-separated policies")] = "rational",
    business_policy: Annotated[str, typer.Option(help="Comma-separated policies")] = (
        "posted-price"
    ),
    seeds: Annotated[str, typer.Option(help="e.g. 0-9 or 1,2,3")] = "0",
    customer_param: Annotated[
        list[str] | None, typer.Option(help="Override for every customer policy, key=value")
    ] = None,
    business_param: Annotated[
        list[str] | None, typer.Option(help="Override for every business, key=value")
    ] = None,
    focal_business: Annotated[str | None, typer.Option(help="Report this business's share")] = (
        None
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the aggregate as JSON")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder")] = False,
) -> None:
    """Run a grid: data × search × limit × customer policy × business policy × seeds."""
    from tokenomy.market.experiments import SweepSpec, parse_seeds

    def go() -> None:
        policies = csv_list(customer_policy, str, "--customer-policy")
        overrides = parse_params(customer_param, "--customer-param")
        spec = SweepSpec(
            name="sweep",
            data=[str(d) for d in data_dirs],
            search=csv_list(search, str, "--search"),
            limit=csv_list(limit, int, "--limit"),
            customer_policy=policies,
            customer_params={p: overrides for p in policies} if overrides else {},
            business_policy=csv_list(business_policy, str, "--business-policy"),
            seeds=parse_seeds(seeds),
            business_params=parse_params(business_param, "--business-param"),
            focal_business=focal_business,
        )
        _run_and_save_sweep(spec, out_dir, overwrite, as_json)

    guard(go)


@market_app.command("study")
def market_study(
    name: Annotated[str, typer.Argument(help="consideration-set-size|position-bias|manipulation")],
    data_root: Annotated[Path, typer.Option("--data", help="Folder holding the data sets")],
    out_dir: Annotated[Path, typer.Option("--out", help="Sweep folder")],
    seeds: Annotated[str | None, typer.Option(help="Override the preset's seeds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the aggregate as JSON")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder")] = False,
) -> None:
    """Run one of the Magentic Marketplace paper's three studies as a sweep."""
    from tokenomy.market.experiments import parse_seeds, preset

    def go() -> None:
        spec = preset(name, data_root, parse_seeds(seeds) if seeds else None)
        _run_and_save_sweep(spec, out_dir, overwrite, as_json)

    guard(go)


def _run_and_save_sweep(spec: Any, out_dir: Path, overwrite: bool, as_json: bool) -> None:
    from tokenomy.market.experiments import run_sweep

    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"{out_dir} already holds results; pass --overwrite to replace them")
    with progress_bar(not as_json) as bar:
        result = run_sweep(spec, progress=_sweep_progress(bar, spec.size()))
    result.save(out_dir, overwrite=overwrite)
    if as_json:
        print_json(result.summary["aggregate"])
    else:
        _show_aggregate(result.summary, out_dir)


# ------------------------------------------------------------------------------ runs


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.2f}"
    return str(value)


def _show_summary(summary: dict[str, Any], folder: Path | None = None) -> None:
    metrics = summary.get("metrics", {})
    cfg = summary.get("config", {})
    title = f"run of {summary.get('market', '?')}"
    if cfg:
        title += (
            f" — {cfg.get('search')} k={cfg.get('limit')}, {cfg.get('customer_policy')} / "
            f"{cfg.get('business_policy')}, seed {cfg.get('seed')}"
        )
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, _fmt(value))
    for block in ("llm", "ledger"):
        for key, value in (summary.get(block) or {}).items():
            if isinstance(value, dict):  # the audit: its verdict and imbalance
                value = f"ok={value.get('ok')}, imbalance={value.get('imbalance')}"
            table.add_row(f"{block}.{key}", _fmt(value))
    out.print(table)
    if folder is not None:
        out.print(f"results in {folder}")


def _mean_pm(row: dict[str, Any], metric: str) -> str:
    mean, lo, hi = row.get(metric), row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if mean is None or mean != mean:
        return "—"
    if lo is None or hi is None or lo != lo or hi != hi or hi == lo:
        return _fmt(mean)
    return f"{_fmt(mean)} ±{(hi - lo) / 2:.2g}"


def _show_aggregate(summary: dict[str, Any], folder: Path | None = None) -> None:
    rows = summary.get("aggregate", [])
    table = Table(title=f"{summary.get('name', 'sweep')}: {summary.get('runs')} runs (±: 95% CI)")
    axes = ("data", "search", "limit", "customer_policy", "business_policy")
    keys = [k for k in axes if rows and len({str(r.get(k)) for r in rows}) > 1]
    headers = {
        "welfare": "welfare",
        "needs_met_rate": "needs met",
        "first_proposal_share": "first-prop.",
        "focal_share": "focal",
    }
    shown = [m for m in headers if any(r.get(m) == r.get(m) and r.get(m) is not None for r in rows)]
    for k in keys:
        name = k.replace("customer_policy", "customer").replace("business_policy", "business")
        table.add_column(name, overflow="fold")
    for m in shown:
        table.add_column(headers[m], justify="right")
    for r in rows:
        label = [str(r.get(k)).replace("_description/", "/") for k in keys]
        table.add_row(*label, *(_mean_pm(r, m) for m in shown))
    out.print(table)
    if folder is not None:
        out.print(f"results in {folder}")


@runs_app.command("show")
def runs_show(
    folder: Annotated[Path, typer.Argument(help="A run, sweep or study folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json")] = False,
) -> None:
    """Print the summary of a result folder."""
    from tokenomy.results import read_summary

    def go() -> None:
        summary = read_summary(folder)
        if as_json:
            print_json(summary)
        elif summary.get("kind") in ("sweep", "experiment"):
            _show_aggregate(summary)
        elif summary.get("kind") in ("equilibrium", "equilibrium-set"):
            show_equilibrium_summary(summary)
        elif summary.get("kind") == "study":
            for name in summary.get("sweeps", []):
                _show_aggregate(read_summary(folder / name))
        else:
            _show_summary(summary)

    guard(go)


# ------------------------------------------------------------------------------ report, prices


@app.command("report")
def report(
    folder: Annotated[Path, typer.Argument(help="A run, sweep or study folder")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="HTML file (default: FOLDER/report.html)")
    ] = None,
) -> None:
    """Write a self-contained HTML report with figures for a result folder."""
    from tokenomy.report import write_report

    def go() -> None:
        path = write_report(folder, out_file)
        console.print(f"report written to {path}")

    guard(go)


@prices_app.command("show")
def prices_show(
    prices_file: Annotated[Path | None, typer.Option("--prices", help="Price table YAML")] = None,
) -> None:
    """List the token price table (dollars per million tokens)."""
    from tokenomy.prices import PriceTable

    def go() -> None:
        table_data = PriceTable.load(prices_file) if prices_file else PriceTable.default()
        table = Table(title="token prices ($ per 1M tokens)")
        table.add_column("model")
        table.add_column("input", justify="right")
        table.add_column("output", justify="right")
        for name, p in table_data.models.items():
            table.add_row(name, f"{p.input_per_million:.2f}", f"{p.output_per_million:.2f}")
        out.print(table)

    guard(go)


@app.command("demo")
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo")] = Path(
        "results/demo"
    ),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing demo folder")] = False,
    customers: Annotated[int, typer.Option(help="Customers in the synthetic market")] = 100,
    businesses: Annotated[int, typer.Option(help="Businesses in the synthetic market")] = 300,
) -> None:
    """The demo: marketplace studies, equilibrium examples, and a market run as a service."""
    from tokenomy.demo import run_demo

    def go() -> None:
        with progress_bar() as bar:
            task = bar.add_task("demo", total=None)
            path = run_demo(
                out_dir,
                overwrite=overwrite,
                customers=customers,
                businesses=businesses,
                progress=lambda done, total, label: bar.update(
                    task, completed=done, total=total, description=label
                ),
            )
        from tokenomy.results import read_summary

        summary_json = json.loads((out_dir / "summary.json").read_text())
        for name in summary_json.get("sweeps", []):
            _show_aggregate(read_summary(out_dir / name))
        console.print(f"[bold green]report:[/] {path}")
        console.print(
            f"[bold green]equilibrium report:[/] {out_dir / 'equilibrium' / 'report.html'}"
        )
        service = read_summary(out_dir / "service")
        m, ledger = service["metrics"], service["ledger"]
        console.print(
            f"[bold green]service run[/] (HTTP, LLM agents, ledger): welfare "
            f"{m['welfare']:.2f} of {m['optimal_welfare']:.2f}, {m['payments']} payments, "
            f"{service['llm']['calls']} model calls (${service['llm']['cost']:.4f}), ledger "
            f"audit {'ok' if ledger['audit']['ok'] else 'FAILED'} — "
            f"{out_dir / 'service' / 'report.html'}"
        )

    guard(go)


def main() -> None:
    """Entry point of the ``tokenomy`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
