"""The demo behind ``make demo``: the marketplace studies and the equilibrium examples.

Everything is generated (no external data, no API key): a restaurant market of 100 customers ×
300 businesses, identical-business markets for the position-bias study, and business_0001
description variants for the manipulation study. Each study is a sweep; the demo folder is a
*study* holding the three sweeps and ``report.html``. Its ``equilibrium/`` folder holds the
equilibrium engine's built-in economies solved by every method that applies, a result set
(:func:`run_equilibrium_demo`) with its own ``report.html``. Its ``service/`` folder is one run
of the synthetic market as a multi-party service (:func:`run_service_demo`): every agent an
HTTP client of the protocol server, half the customers and every business driven by a chat
model — the shipped OpenAI-compatible test server on loopback, called through the official SDK
— with payments and token costs in the ledger (``service/market.db``) and the model calls
recorded (``service/calls.jsonl``).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

from tokenomy.errors import ResultsError
from tokenomy.market.experiments import (
    consideration_set_size,
    manipulation,
    position_bias,
    run_sweep,
)
from tokenomy.market.generator import (
    MANIPULATION_KINDS,
    GeneratorSpec,
    generate_market,
    manipulation_market,
    position_bias_market,
)
from tokenomy.market.io import write_market
from tokenomy.report import write_report
from tokenomy.results import environment, write_json

Progress = Callable[[int, int, str], None]

DESCRIPTION = (
    "The demo of tokenomy's marketplace: a synthetic restaurant market (seeded) and the three "
    "studies of the Magentic Marketplace paper — consideration-set size, first-proposal "
    "(position) bias, and manipulation by business descriptions — run with scripted agents."
)


def write_demo_data(root: Path, customers: int = 100, businesses: int = 300, seed: int = 0) -> Path:
    """Generate the demo's data sets under ``root`` (Magentic YAML format)."""
    main = generate_market(GeneratorSpec(customers=customers, businesses=businesses, seed=seed))
    write_market(main, root / f"synthetic_{customers}_{businesses}", overwrite=True)
    for domain in ("restaurants", "contractors"):
        for s in range(3):
            pb = position_bias_market(businesses=3, seed=seed + s, domain=domain)
            write_market(pb, root / "position_bias" / f"{domain}_seed{s}", overwrite=True)
    for kind in MANIPULATION_KINDS:
        for competitive, folder in (
            (False, "malicious_description"),
            (True, "competitive_description"),
        ):
            mm = manipulation_market(kind, seed=seed, competitive=competitive)
            mm = dataclasses.replace(mm, name=f"restaurants_{kind}")
            write_market(mm, root / folder / f"restaurants_{kind}", overwrite=True)
    return root


def run_demo(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    customers: int = 100,
    businesses: int = 300,
    progress: Progress | None = None,
) -> Path:
    """Generate data, run the three studies, write ``report.html``; return the report path."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ResultsError(f"{out} already holds results; pass --overwrite to replace them")
        shutil.rmtree(out)
    data = write_demo_data(out / "data", customers, businesses)
    specs = [
        consideration_set_size(data / f"synthetic_{customers}_{businesses}"),
        position_bias(data),
        manipulation(data),
    ]
    total = sum(s.size() for s in specs)
    done = 0
    names = []
    for spec in specs:
        offset = done

        def tick(d: int, _t: int, label: str, offset: int = offset, name: str = spec.name) -> None:
            if progress is not None:
                progress(offset + d, total, f"{name}: {label}")

        result = run_sweep(spec, progress=tick)
        result.save(out / spec.name, overwrite=True)
        done += spec.size()
        names.append(spec.name)
    summary = {
        "kind": "study",
        "name": "tokenomy demo",
        "description": DESCRIPTION,
        "sweeps": names,
        "environment": environment(),
    }
    write_json(out / "summary.json", summary)
    run_equilibrium_demo(out / "equilibrium", progress=progress)
    run_service_demo(data / f"synthetic_{customers}_{businesses}", out / "service", progress)
    return write_report(out)


def run_service_demo(data: Path, out_dir: Path, progress: Progress | None = None) -> Path:
    """Run ``data`` over HTTP with LLM agents (test server) and the ledger; write the run folder.

    Returns the run's ``report.html``.
    """
    from tokenomy.llm.testserver import create_app
    from tokenomy.loopback import serve_in_thread
    from tokenomy.market.io import load_market
    from tokenomy.market.population import PopulationSpec
    from tokenomy.market.runner import RunConfig, run_market

    market = load_market(data)
    out_dir = out_dir.resolve()
    work = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if progress is not None:
        progress(0, 1, "service: LLM agents over HTTP")
    with serve_in_thread(create_app()) as llm_url:
        population = PopulationSpec.model_validate(
            {
                "backends": {
                    "local": {
                        "kind": "openai",
                        "base_url": f"{llm_url}/v1",
                        "model": "rule-market",
                        "record": str(work / "calls.jsonl"),
                    }
                },
                "customers": [
                    {"agents": {"fraction": 0.5}, "policy": "llm", "backend": "local"},
                    {"agents": "*", "policy": "rational"},
                ],
                "businesses": [{"agents": "*", "policy": "llm", "backend": "local"}],
            }
        )
        result = run_market(
            market,
            RunConfig(search="lexical", limit=5, seed=0),
            transport="http",
            db_url=f"sqlite:///{work / 'market.db'}",
            population=population,
            population_dir=work,
        )
    result.summary["db"] = f"sqlite:///{(out_dir / 'market.db').resolve()}"
    result.save(out_dir, overwrite=True)
    for name in ("market.db", "calls.jsonl"):
        shutil.move(str(work / name), str(out_dir / name))
    shutil.rmtree(work, ignore_errors=True)
    if progress is not None:
        progress(1, 1, "service: report")
    return write_report(out_dir)


EQUILIBRIUM_EXAMPLES = (
    "agent-dag",
    "dag-tree",
    "dag-entangled",
    "scarf",
    "fisher-cobb-douglas",
    "exchange-cobb-douglas",
    "crusoe",
    "linear-quadratic",
)


def run_equilibrium_demo(out_dir: str | Path, *, progress: Progress | None = None) -> Path:
    """Solve every built-in economy with every method that applies; save and report them."""
    from tokenomy.equilibrium.compare import compare_solvers, save_comparisons
    from tokenomy.equilibrium.examples import example

    comparisons = []
    for i, name in enumerate(EQUILIBRIUM_EXAMPLES):
        if progress is not None:
            progress(i, len(EQUILIBRIUM_EXAMPLES), f"equilibrium: {name}")
        comparisons.append(compare_solvers(example(name)))
    if progress is not None:
        progress(len(EQUILIBRIUM_EXAMPLES), len(EQUILIBRIUM_EXAMPLES), "equilibrium: report")
    save_comparisons(comparisons, out_dir, overwrite=True)
    return write_report(out_dir)
