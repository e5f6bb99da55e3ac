"""Time to certified equilibrium prices: the first-order method against the cvxpy planner.

Economies from :func:`tokenomy.equilibrium.synthetic.layered_economy`: a four-stage pipeline
of N agents, 4 metrics (quality, tokens, latency, risk) × 16 piecewise-constant basis functions
per agent (64 goods per agent), capacities that vary over the day, softmax routing. For each
size, in a fresh process (so peak memory is the case's own), the script builds and compiles
the economy, then times each method from the compiled economy to a result whose certificates
(clearing, complementarity, Walras, profit gap) are all ≤ 1e-6 — the certificates' own cost
included. The planner (cvxpy + Clarabel, the reference) runs up to a size cap, since its cost
grows much faster. These economies are capacity-limited, so the first-order method works on
its per-agent dual; the same method on the dual over all goods (``first-order (goods dual)``,
what any other economy gets) is timed up to the same cap.

Targets (2 cores): 1,000 agents under 2 s; 10,000 agents under 30 s; at least 10× faster than
the planner at 500 agents.

    python benchmarks/equilibrium_scale.py            # 10 … 10,000 agents (about 5 minutes)
    python benchmarks/equilibrium_scale.py --quick    # up to 500 agents
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loglog_slope, peak_gb  # noqa: E402

CERTIFIED = 1e-6


def run_case(case: dict) -> dict:
    """One size and one method, in this process."""
    import numpy as np

    from tokenomy.equilibrium import compile_economy, solve
    from tokenomy.equilibrium.synthetic import layered_economy

    method, options = case["method"], {}
    if method.startswith("first-order"):
        options = {"tol": 5e-7, "dual": "goods" if "goods" in method else "auto"}
        method = "first-order"
    solve(compile_economy(layered_economy(8, basis_size=2)), method, **options)  # warm imports
    t0 = time.perf_counter()
    spec = layered_economy(case["agents"], basis_size=16)
    t1 = time.perf_counter()
    economy = compile_economy(spec)
    t2 = time.perf_counter()
    result = solve(economy, method, **options)
    t3 = time.perf_counter()
    certs = result.certificates
    core = {k: getattr(certs, k) for k in ("walras", "clearing", "complementarity", "profit_gap")}
    return {
        **case,
        "goods": economy.n_goods,
        "build_s": t1 - t0,
        "compile_s": t2 - t1,
        "solve_s": t3 - t2,  # to a result with its certificates
        "iterations": result.iterations,
        "status": result.status,
        "worst_certificate": max(core.values()),
        "certified": max(core.values()) <= CERTIFIED,
        "welfare": result.welfare,
        "prices": np.asarray(result.price_vector).tolist() if case.get("keep_prices") else None,
        "peak_gb": peak_gb(),
    }


def in_subprocess(case: dict, timeout: float) -> dict | None:
    """Run a case in a fresh interpreter; None if it ran past ``timeout`` seconds."""
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--case", json.dumps(case)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def growth(rows: list[dict], method: str) -> str:
    """Least-squares exponent of time against agents for one method."""
    slope = loglog_slope(
        [(r["agents"], r["solve_s"]) for r in rows if r["method"] == method and r["agents"] >= 100]
    )
    if slope is None:
        return ""
    return f"{method}: time grows as N^{slope:.2f} (N ≥ 100 agents)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 500 agents")
    parser.add_argument("--planner-cap", type=int, default=1000, help="largest planner size")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    sizes = [10, 100, 500] if args.quick else [10, 100, 500, 1000, 3000, 10_000]
    print(f"# equilibrium_scale — {platform.node()} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; 4 metrics × 16 basis functions per agent\n"
    )
    print("| agents | goods | method | build + compile (s) | solve + certificates (s) | "
          "iterations | worst certificate | peak GB | target |")  # fmt: skip
    print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
    rows: list[dict] = []
    targets = {1000: 2.0, 10_000: 30.0}
    for n in sizes:
        methods = ["first-order"]
        if n <= args.planner_cap:
            methods += ["first-order (goods dual)", "planner"]
        for method in methods:
            row = in_subprocess({"agents": n, "method": method}, timeout=900)
            if row is None:
                print(f"| {n:,} | | {method} | | > 900 (stopped) | | | | |")
                continue
            rows.append(row)
            target = ""
            if method == "first-order" and n in targets:
                ok = row["solve_s"] < targets[n] and row["certified"]
                target = f"< {targets[n]:g} s: {'met' if ok else 'MISSED'}"
            print(
                f"| {n:,} | {row['goods']:,} | {method} | "
                f"{row['build_s'] + row['compile_s']:.2f} | {row['solve_s']:.2f} | "
                f"{row['iterations']} | {row['worst_certificate']:.1e} | "
                f"{row['peak_gb']:.2f} | {target} |",
                flush=True,
            )
    print()
    for n in sizes:
        fo = [r for r in rows if r["agents"] == n and r["method"] == "first-order"]
        pl = [r for r in rows if r["agents"] == n and r["method"] == "planner"]
        if fo and pl:
            ratio = pl[0]["solve_s"] / fo[0]["solve_s"]
            dw = abs(pl[0]["welfare"] - fo[0]["welfare"]) / max(1.0, abs(pl[0]["welfare"]))
            note = (
                " (target ≥ 10×: " + ("met" if ratio >= 10 else "MISSED") + ")" if n == 500 else ""
            )
            print(f"- {n:,} agents: first-order {ratio:.0f}× faster than the planner{note}; "
                  f"welfare agrees to {dw:.1e}")  # fmt: skip
    for method in ("first-order", "first-order (goods dual)", "planner"):
        line = growth(rows, method)
        if line:
            print(f"- {line}")
    fo_rows = [r for r in rows if r["method"] == "first-order"]
    if len(fo_rows) >= 2:
        big = max(fo_rows, key=lambda r: r["agents"])
        print(f"- first-order peak memory at {big['agents']:,} agents: {big['peak_gb']:.2f} GB")


if __name__ == "__main__":
    main()
