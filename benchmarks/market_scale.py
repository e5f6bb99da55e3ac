"""Speed and memory of the marketplace engine, from 100 customers to a million.

Each case runs in a fresh process (so its peak memory is its own) and times three phases:
building the market (reading YAML, or generating a synthetic one), running it (search,
messages, decisions, metrics), and writing the run folder (Parquet + summary). It prints a
Markdown table; results with the machine and date go in BENCHMARKS.md.

Targets (2 cores): mexican_100_300 with each search algorithm under 1 s; synthetic 10k × 3k
with lexical under 60 s; 100k × 30k with bm25 under 2 min; 1M × 100k with optimal under
10 min and peak memory under 8 GB; search cost not growing as queries × businesses.

    python benchmarks/market_scale.py            # everything (about 5 minutes)
    python benchmarks/market_scale.py --quick    # small sizes only (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loglog_slope, peak_gb  # noqa: E402

MAGENTIC = ROOT.parent / "shared" / "data" / "magentic"


def run_case(spec: dict) -> dict:
    """Run one case in this process and return its measurements."""
    from tokenomy.market.generator import GeneratorSpec, generate_market
    from tokenomy.market.io import load_market
    from tokenomy.market.runner import RunConfig, run_market

    t0 = time.perf_counter()
    if spec.get("data"):
        market = load_market(spec["data"])
    else:
        market = generate_market(
            GeneratorSpec(customers=spec["customers"], businesses=spec["businesses"], seed=0)
        )
    t1 = time.perf_counter()
    config = RunConfig(search=spec["search"], limit=spec.get("limit", 10), engine=spec["engine"])
    result = run_market(market, config)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result.save(Path(tmp) / "run")
    t3 = time.perf_counter()
    m = result.summary["metrics"]
    return {
        **spec,
        "customers": market.n_customers,
        "businesses": market.n_businesses,
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "write_s": t3 - t2,
        "total_s": t3 - t0,
        "events": m["events"],
        "events_per_s": m["events"] / (t2 - t1),
        "welfare_share": m["welfare_share_of_optimal"],
        "peak_gb": peak_gb(),
    }


def in_subprocess(spec: dict) -> dict:
    """Run a case in a fresh interpreter (clean peak-memory measurement)."""
    out = subprocess.run(
        [sys.executable, __file__, "--case", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"case {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _synthetic(
    group: str,
    customers: int,
    businesses: int,
    search: str,
    engine: str = "batch",
    target: float | None = None,
) -> tuple[str, dict, float | None]:
    case = {"customers": customers, "businesses": businesses, "search": search, "engine": engine}
    return group, case, target


def cases(quick: bool) -> list[tuple[str, dict, float | None]]:
    """(group, case, target seconds) in order."""
    out: list[tuple[str, dict, float | None]] = []
    data = MAGENTIC / "mexican_100_300"
    if data.is_dir():
        for algo in ("lexical", "bm25", "rating", "random", "optimal", "filtered"):
            out.append(
                ("mexican_100_300", {"data": str(data), "search": algo, "engine": "batch"}, 1.0)
            )
        out.append(
            ("mexican_100_300", {"data": str(data), "search": "lexical", "engine": "event"}, 1.0)
        )
    lexical_sizes = (1000, 3000) if quick else (1_000, 3_000, 10_000, 30_000)
    if not quick:
        out += [
            _synthetic("target", 10_000, 3000, "lexical", target=60.0),
            _synthetic("target", 10_000, 3000, "lexical", engine="event"),
            _synthetic("target", 100_000, 30_000, "bm25", target=120.0),
            _synthetic("target", 1_000_000, 100_000, "optimal", target=600.0),
        ]
    out += [_synthetic("scaling lexical", n, int(0.3 * n), "lexical") for n in lexical_sizes]
    if not quick:
        out += [
            _synthetic("scaling optimal", n, n // 10, "optimal")
            for n in (10_000, 100_000, 1_000_000)
        ]
    return out


def growth(rows: list[dict], group: str) -> str:
    """Least-squares exponent of run time against customers within a group."""
    slope = loglog_slope(
        [(r["customers"], r["run_s"]) for g, r in rows if g == group and r["run_s"] > 0]
    )
    if slope is None:
        return ""
    return f"run time grows as N^{slope:.2f} ({group}, N = customers)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    rows = []
    print(f"# market_scale — {platform.node()} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    header = (
        "| case | search | engine | customers × businesses | build s | run s | write s | "
        "total s | events | events/s | peak GB | welfare/optimal | target |"
    )
    print(header)
    print("|" + "---|" * 13)
    for group, spec, target in cases(args.quick):
        r = in_subprocess(spec)
        rows.append((group, r))
        ok = "" if target is None else ("✓" if r["total_s"] < target else "✗") + f" < {target:g} s"
        print(
            f"| {group} | {r['search']} | {r['engine']} | {r['customers']:,} × "
            f"{r['businesses']:,} | {r['build_s']:.2f} | {r['run_s']:.2f} | {r['write_s']:.2f} | "
            f"{r['total_s']:.2f} | {r['events']:,} | {r['events_per_s']:,.0f} | "
            f"{r['peak_gb']:.2f} | {r['welfare_share']:.3f} | {ok} |",
            flush=True,
        )
    print()
    for group in ("scaling lexical", "scaling optimal"):
        line = growth(rows, group)
        if line:
            print(f"- {line}")
    batch = [
        r for g, r in rows if g == "target" and r["engine"] == "batch" and r["customers"] == 10_000
    ]
    event = [r for g, r in rows if g == "target" and r["engine"] == "event"]
    if batch and event:
        print(
            f"- batch engine vs event engine on 10k × 3k lexical (run phase, same process "
            f"setup): {event[0]['run_s'] / batch[0]['run_s']:.1f}× faster"
        )


if __name__ == "__main__":
    main()
