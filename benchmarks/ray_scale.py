"""Beyond one process: sweep throughput and a sharded 1M-customer market, on 2 workers.

Measures, on this machine, with 2 workers (a process pool of 2, or a local Ray instance with
``num_cpus=2``):

(a) **sweep throughput** — experiments through :func:`tokenomy.market.executors.run_experiment`
    with ``local``, ``process`` and ``ray`` (Ray measured cold — starting the local instance is
    part of the sweep — and warm — an instance already running, as on a cluster); tasks/s, for
    40 tasks of a tiny generated 100 × 300 market (4 search algorithms × 2 consideration-set
    sizes × 5 seeds: overhead-bound) and 16 tasks of a search-heavy 3,000 × 900 ``lexical``
    market (2 sizes × 8 seeds: compute-bound);
(b) **a sharded market** — a generated 1M × 100k market (``optimal`` search, the
    market_scale benchmark's 1M case) and a search-heavy 100k × 3k one (``lexical``) run by the
    single-process batch engine (:func:`run_market`) and by :func:`run_sharded` on Ray (4
    shards, 2 workers; cold and warm); wall time, customers/s, peak memory of the driver and of
    the workers, and a check that the results are equal (metrics, customers, events and
    messages tables, compared exactly through Arrow IPC files);
(c) a **projection** (stated as such: computed, not measured) of both to 4–64 workers by
    Amdahl's law, from the serial and parallel parts measured in (a) and (b).

Every case runs in a fresh interpreter (clean peak memory; each Ray case starts its own
instance). Prints Markdown tables; the full run takes about 15 minutes on 2 cores.

    python benchmarks/ray_scale.py            # the measurements above
    python benchmarks/ray_scale.py --quick    # small sizes (about a minute)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_gb  # noqa: E402

WORKERS = 2
SHARDS = 4
PROJECTED = (1, 2, 4, 8, 16, 64)
COMPARED = ("customers", "events", "messages")


# ---------------------------------------------------------------------- cases (subprocesses)
def sweep_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one sweep with one executor in this process; return its timings."""
    from tokenomy.market.executors import run_experiment
    from tokenomy.market.experiment_spec import parse_spec

    experiment = parse_spec(spec["spec"])
    startup = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if spec["executor"] == "ray" and spec["warm"]:
            from tokenomy.ray_support import ray_session

            t0 = time.perf_counter()
            with ray_session(num_cpus=WORKERS):
                startup = time.perf_counter() - t0
                result, wall = _timed_sweep(run_experiment, experiment, tmp, spec)
        else:
            result, wall = _timed_sweep(run_experiment, experiment, tmp, spec)
        if not result.ok:
            raise RuntimeError(f"sweep failed: {result.failures}")
        return {
            **{k: v for k, v in spec.items() if k != "spec"},
            "tasks": int(result.counts["done"]),
            "wall_s": wall,
            "task_s": float(result.tasks["seconds"].sum()),
            "ray_startup_s": startup,
            "runs_digest": hashlib.sha256(result.runs.to_csv().encode()).hexdigest(),
        }


def _timed_sweep(run: Any, experiment: Any, tmp: str, spec: dict[str, Any]) -> tuple[Any, float]:
    workers = None if spec["executor"] == "local" else WORKERS
    t0 = time.perf_counter()
    result = run(experiment, Path(tmp) / "exp", executor=spec["executor"], workers=workers)
    return result, time.perf_counter() - t0


def market_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Generate the market, run it single-process or sharded, save the compared tables."""
    import pyarrow as pa

    from tokenomy.market.generator import GeneratorSpec, generate_market
    from tokenomy.market.runner import RunConfig, run_market
    from tokenomy.market.sharded import run_sharded

    t0 = time.perf_counter()
    market = generate_market(
        GeneratorSpec(customers=spec["customers"], businesses=spec["businesses"], seed=0)
    )
    t1 = time.perf_counter()
    config = RunConfig(search=spec["search"])
    startup = 0.0
    with contextlib.ExitStack() as stack:
        if spec["mode"] == "sharded" and spec["warm"]:
            from tokenomy.ray_support import ray_session

            stack.enter_context(ray_session(num_cpus=WORKERS))
            startup = time.perf_counter() - t1
        t_run = time.perf_counter()
        if spec["mode"] == "single":
            result = run_market(market, config)
        else:
            result = run_sharded(
                market, config, shards=spec["shards"], executor="ray", workers=WORKERS
            )
        t2 = time.perf_counter()
        driver_peak = peak_gb()
        out = Path(spec["out"])
        out.mkdir(parents=True, exist_ok=True)
        tables = result.tables()
        for name in COMPARED:  # Arrow IPC: the comparison memory-maps it (no copy)
            with pa.ipc.new_file(out / f"{name}.arrow", tables[name].schema) as writer:
                writer.write_table(tables[name])
        (out / "metrics.json").write_text(json.dumps(result.summary["metrics"]))
        del tables
    timing = result.summary["timing"]
    workers: dict[int, float] = {}
    for shard in timing.get("shards", []):
        workers[shard["pid"]] = max(workers.get(shard["pid"], 0.0), shard["peak_rss_gb"])
    return {
        **spec,
        "generate_s": t1 - t0,
        "ray_startup_s": startup,
        "run_s": t2 - t_run,
        "events": result.summary["metrics"]["events"],
        "driver_peak_gb": driver_peak,
        "worker_peak_gb": max(workers.values()) if workers else None,
        "timing": timing,
    }


def in_subprocess(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run a case in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, __file__, "--case", kind, json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} case {spec} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- the report
def sweep_specs(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    """The sweeps: (label, spec) — many tiny markets, and fewer search-heavy ones."""
    if quick:
        small, heavy, seeds_small, seeds_heavy = (30, 90), (300, 90), "0-1", "0-1"
    else:
        small, heavy, seeds_small, seeds_heavy = (100, 300), (3000, 900), "0-4", "0-7"
    tiny = {
        "name": "ray-scale-small",
        "grid": {
            "generate": {"customers": small[0], "businesses": small[1], "seed": 0},
            "search": ["lexical", "optimal"] if quick else ["lexical", "bm25", "optimal", "random"],
            "limit": [5, 10],
        },
        "seeds": seeds_small,
    }
    big = {
        "name": "ray-scale-heavy",
        "grid": {
            "generate": {"customers": heavy[0], "businesses": heavy[1], "seed": 0},
            "search": "lexical",
            "limit": [5, 10],
        },
        "seeds": seeds_heavy,
    }
    return [
        (f"{small[0]:,} × {small[1]:,} markets", tiny),
        (f"{heavy[0]:,} × {heavy[1]:,} lexical", big),
    ]


def same_tables(a: Path, b: Path) -> dict[str, bool]:
    """Which compared tables (and the metrics) of two saved runs are identical (exactly)."""
    import pyarrow as pa

    def equal(name: str) -> bool:
        with (
            pa.memory_map(str(a / f"{name}.arrow")) as x,
            pa.memory_map(str(b / f"{name}.arrow")) as y,
        ):
            return bool(pa.ipc.open_file(x).read_all().equals(pa.ipc.open_file(y).read_all()))

    same = {name: equal(name) for name in COMPARED}
    same["metrics"] = json.loads((a / "metrics.json").read_text()) == json.loads(
        (b / "metrics.json").read_text()
    )
    return same


def amdahl(serial: float, parallel: float, workers: int) -> float:
    """Projected wall time ``T(w) = T_s + T_p / w``."""
    return serial + parallel / workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        kind, spec = args.case[0], json.loads(args.case[1])
        print(json.dumps(sweep_case(spec) if kind == "sweep" else market_case(spec)))
        return

    print(f"# ray_scale — {platform.node()} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {_cpu()}, {os.cpu_count()} cores, {_ram_gb():.0f} GB RAM, Python "
        f"{platform.python_version()}, Ray {_ray_version()}, {WORKERS} workers, load average "
        f"{os.getloadavg()[0]:.2f}" + (" — QUICK: small sizes" if args.quick else "") + "\n"
    )

    # (a) sweep throughput
    sweeps: list[tuple[str, dict[str, Any]]] = []
    for label, spec in sweep_specs(args.quick):
        for executor, warm in (("local", False), ("process", False), ("ray", False), ("ray", True)):
            case = {"spec": spec, "executor": executor, "warm": warm}
            sweeps.append((label, in_subprocess("sweep", case)))
    print("## (a) Sweep throughput\n")
    print(
        "| sweep | executor | workers | tasks | wall s | tasks/s | Σ task s | "
        "serial + overhead s | vs local | same results |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    startups = []
    for label, r in sweeps:
        local = next(x for lab, x in sweeps if lab == label and x["executor"] == "local")
        w = 1 if r["executor"] == "local" else WORKERS
        serial = r["wall_s"] - r["task_s"] / w
        same = "✓" if r["runs_digest"] == local["runs_digest"] else "✗"
        if r["warm"]:
            startups.append(r["ray_startup_s"])
        print(
            f"| {label} | {_label(r)} | {w} | {r['tasks']} | {r['wall_s']:.2f} | "
            f"{r['tasks'] / r['wall_s']:.2f} | {r['task_s']:.2f} | {serial:.2f} | "
            f"{local['wall_s'] / r['wall_s']:.2f}× | {same} |"
        )
    print(
        "\n(same results: the merged runs table equals the local executor's. Ray cold includes "
        "starting the local instance; warm: an instance already running (it took "
        + ", ".join(f"{t:.1f}" for t in startups)
        + " s to start, before the sweep's clock).)\n"
    )

    # (b) sharded markets
    cases = (
        [("optimal", 20_000, 2_000), ("lexical", 5_000, 1_000)]
        if args.quick
        else [("optimal", 1_000_000, 100_000), ("lexical", 100_000, 3_000)]
    )
    rows = []  # (single, [(sharded run, which tables equal the single run's)])
    with tempfile.TemporaryDirectory() as tmp:
        for search, n_c, n_b in cases:
            base = {"customers": n_c, "businesses": n_b, "search": search, "shards": SHARDS}
            single = in_subprocess("market", {**base, "mode": "single", "out": f"{tmp}/s"})
            runs = []
            for warm in (False, True):
                out = f"{tmp}/{'warm' if warm else 'cold'}"
                r = in_subprocess("market", {**base, "mode": "sharded", "warm": warm, "out": out})
                runs.append((r, same_tables(Path(single["out"]), Path(out))))
            rows.append((single, runs))
    print(f"## (b) One market: single process vs {SHARDS} shards on Ray ({WORKERS} workers)\n")
    print(
        "| search | customers × businesses | engine | wall s | customers/s | events | "
        "peak GB driver | peak GB worker | equal to single |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for single, runs in rows:
        size = f"{single['customers']:,} × {single['businesses']:,}"
        lines = [(single, "single process (batch engine)", None)]
        lines += [(r, f"{SHARDS} shards, Ray {_warmth(r)}", same) for r, same in runs]
        for r, engine, same in lines:
            equal = "—" if same is None else ", ".join(f"{k} {_ok(v)}" for k, v in same.items())
            worker = "—" if r["worker_peak_gb"] is None else f"{r['worker_peak_gb']:.2f}"
            print(
                f"| {r['search']} | {size} | {engine} | {r['run_s']:.1f} | "
                f"{r['customers'] / r['run_s']:,.0f} | {r['events']:,} | "
                f"{r['driver_peak_gb']:.2f} | {worker} | {equal} |"
            )
    print(
        "\n(Wall time excludes generating the market ("
        + ", ".join(
            f"{s['customers']:,} × {s['businesses']:,}: {s['generate_s']:.1f} s" for s, _ in rows
        )
        + "). Ray cold: the run starts and stops a local instance; warm: one is already running "
        "(started in "
        + ", ".join(f"{r['ray_startup_s']:.1f}" for _, runs in rows for r, _ in runs if r["warm"])
        + " s, before the clock), as on a cluster. Equality: tables compared exactly after a "
        "round trip through Arrow IPC files.)\n"
    )

    print("### Where the sharded run's time goes\n")
    print(
        "| search | Ray | prepare s | shards wall s | Σ shard work s | merge s | metrics s | "
        "start, transfer, stop s | serial T_s | parallel T_p |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    parts = []  # (single, sharded, T_s, T_p)
    for single, runs in rows:
        for r, _ in runs:
            t = r["timing"]
            work = sum(x["seconds"] for x in t["shards"])
            overhead = t["shards_seconds"] - work / WORKERS + t["close_seconds"]
            serial = t["prepare_seconds"] + t["merge_seconds"] + t["metrics_seconds"] + overhead
            parts.append((single, r, serial, work))
            print(
                f"| {r['search']} | {_warmth(r)} | {t['prepare_seconds']:.1f} | "
                f"{t['shards_seconds']:.1f} | {work:.1f} | {t['merge_seconds']:.1f} | "
                f"{t['metrics_seconds']:.1f} | {overhead:.1f} | {serial:.1f} | {work:.1f} |"
            )
    stages: dict[str, float] = {}
    first = rows[0][1][0][0]
    for shard in first["timing"]["shards"]:
        for name, sec in shard["stages"].items():
            stages[name] = stages.get(name, 0.0) + sec
    print(
        f"\nShard work of the {first['search']} case (cold) by stage, Σ over shards: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
        + ".\n"
    )

    # (c) projection
    print("## (c) Projection to more workers (computed by Amdahl's law, not measured)\n")
    print(
        "T(w) = T_s + T_p / w; speedup S(w) = T(1) / T(w) = 1 / (f + (1 − f) / w) with serial "
        "fraction f = T_s / (T_s + T_p). T_s and T_p are the serial and parallel parts measured "
        f"above at w = {WORKERS} (a sweep: T_p = Σ task seconds, T_s = wall − T_p / {WORKERS}; "
        "a sharded run: T_p = Σ shard work, T_s = prepare + merge + metrics + start, transfer "
        "and stop). Assumes the parallel work splits evenly, per-task cost stays what it was "
        "on 2 busy cores, and start-up and transfer stay fixed; a real cluster adds network "
        "transfer of shard results to the driver.\n"
    )
    print("| workload | T_s s | T_p s | f | " + " | ".join(f"w={w}" for w in PROJECTED) + " |")
    print("|" + "---|" * (4 + len(PROJECTED)))
    for label, r in sweeps:
        if r["executor"] == "local":
            continue
        ts = max(r["wall_s"] - r["task_s"] / WORKERS, 0.0)
        tp = r["task_s"]
        cells = [f"{r['tasks'] / amdahl(ts, tp, w):.1f} tasks/s" for w in PROJECTED]
        print(
            f"| sweep of {label}, {_label(r)} | {ts:.1f} | {tp:.1f} | {ts / (ts + tp):.2f} | "
            + " | ".join(cells)
            + " |"
        )
    for single, r, ts, tp in parts:
        cells = [
            f"{r['customers'] / amdahl(ts, tp, w):,.0f} c/s "
            f"({single['run_s'] / amdahl(ts, tp, w):.1f}×)"
            for w in PROJECTED
        ]
        print(
            f"| sharded {r['search']} {r['customers']:,} × {r['businesses']:,}, Ray "
            f"{_warmth(r)} | {ts:.1f} | {tp:.1f} | {ts / (ts + tp):.2f} | "
            + " | ".join(cells)
            + " |"
        )
    print(
        "\n(c/s: customers per second; in brackets the speedup over the single-process run "
        "measured in (b).)"
    )
    print(f"\nLoad average at end: {os.getloadavg()[0]:.2f}")


def _warmth(run: dict[str, Any]) -> str:
    return "warm" if run.get("warm") else "cold"


def _ok(value: bool) -> str:
    return "✓" if value else "✗"


def _label(sweep: dict[str, Any]) -> str:
    if sweep["executor"] != "ray":
        return str(sweep["executor"])
    return "ray (warm)" if sweep["warm"] else "ray (cold)"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return float("nan")


def _ray_version() -> str:
    try:
        import ray

        return str(ray.__version__)
    except ImportError:
        return "not installed"


if __name__ == "__main__":
    main()
