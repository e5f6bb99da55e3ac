"""What the market service costs: the same run in memory, in-process over SQLite, and over HTTP.

Runs each published Magentic market (rational customers, lexical search, k = 5, seed 0) three
ways — the batch engine in memory; the event engine against the market service with its SQLite
journal and the ledger (escrow per payment, settlement at the end); and every agent as an
authenticated HTTP client of the protocol server on 127.0.0.1 — checks that the three agree,
and prints a Markdown table of wall time, protocol events per second and HTTP requests per
second. Ratios within one run are what to compare (these machines are noisy).

    python benchmarks/market_transports.py            # mexican_3_9 .. mexican_100_300
    python benchmarks/market_transports.py --quick    # the two small ones
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tokenomy.market.io import load_market
from tokenomy.market.runner import RunConfig, run_market

ROOT = Path(__file__).resolve().parents[1]
MAGENTIC = ROOT.parent / "shared" / "data" / "magentic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small markets only")
    args = parser.parse_args()
    sets = ["mexican_3_9", "mexican_10_30"]
    if not args.quick:
        sets += ["mexican_33_99", "mexican_100_300"]
    print(
        f"# market transports — {datetime.now(UTC):%Y-%m-%d}, {platform.node()}, "
        f"{platform.processor() or platform.machine()}\n"
    )
    print(
        "| market | transport | wall s | events | events/s | HTTP requests | requests/s "
        "| vs memory | same result |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    config = RunConfig(search="lexical", limit=5, seed=0)
    run_market(load_market(MAGENTIC / sets[0]), config)  # warm-up: imports, first indices
    for name in sets:
        market = load_market(MAGENTIC / name)
        base = None
        for transport in ("memory", "inprocess", "http"):
            with tempfile.TemporaryDirectory() as tmp:
                db = None if transport == "memory" else f"sqlite:///{Path(tmp) / 'm.db'}"
                t0 = time.perf_counter()
                result = run_market(
                    market,
                    config,
                    transport="inprocess" if transport == "memory" else transport,
                    db_url=db,
                )
                wall = time.perf_counter() - t0
            metrics = result.summary["metrics"]
            if base is None:
                base = (wall, metrics)
            same = metrics == base[1]
            requests = result.summary.get("ledger", {}).get("http_requests", 0)
            print(
                f"| {name} | {transport} | {wall:.2f} | {metrics['events']} "
                f"| {metrics['events'] / wall:,.0f} | {requests or '—'} "
                f"| {f'{requests / wall:,.0f}' if requests else '—'} "
                f"| {wall / base[0]:.1f}× | {'yes' if same else 'NO'} |"
            )


if __name__ == "__main__":
    main()
