"""Ledger throughput: transfers per second from 1, 2 and 4 processes, and latency per transfer.

Each process opens its own :class:`tokenomy.ledger.Ledger` on the same database, waits for the
others, then posts ``--transfers`` one-leg transfers between random pairs of ``--accounts``
accounts (funded so that nothing is refused), timing each call with ``time.perf_counter_ns``.
Throughput is all transfers over the wall time from the common start to the last process's
end; latencies (p50, p99) are over every transfer of the run. After each run the ledger is
audited (it must pass, with imbalance 0).

Backends:

- SQLite, a file in a temporary folder, WAL, ``synchronous=FULL`` (the default: a commit
  survives a power cut) and ``synchronous=NORMAL`` (survives a crash of the process; the last
  commits may be lost on a power cut);
- PostgreSQL when one is available: ``--pg-url URL`` (a database the benchmark may create
  accounts in), else ``TOKENOMY_PG_URL`` or a throwaway local cluster started as the tests do
  (``tests/postgres.py``) but with PostgreSQL's durable defaults (fsync on). ``--no-pg`` skips it.

    python benchmarks/ledger_throughput.py                  # 2,000 transfers per process
    python benchmarks/ledger_throughput.py --quick          # 300 per process
    python benchmarks/ledger_throughput.py --pg-url postgresql+psycopg://me@localhost/bench
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tokenomy.ledger import Ledger  # noqa: E402


def _worker(url: str, names: list[str], n: int, seed: int, start: Any, results: Any) -> None:
    rng = random.Random(seed)
    pairs = [tuple(rng.sample(names, 2)) for _ in range(n)]
    amounts = [rng.randint(1, 1_000) for _ in range(n)]
    latencies = []
    with Ledger.open(url, create=False) as ledger:
        ledger.transfer(names[0], names[1], 1)  # warm the connection and the statement cache
        start.wait()
        began = time.perf_counter()
        for (debit, credit), amount in zip(pairs, amounts, strict=True):
            t0 = time.perf_counter_ns()
            ledger.transfer(debit, credit, amount)
            latencies.append(time.perf_counter_ns() - t0)
        ended = time.perf_counter()
    results.put((began, ended, latencies))


def run(url: str, procs: int, n: int, n_accounts: int) -> dict[str, Any]:
    """One measurement: ``procs`` processes posting ``n`` transfers each on ``url``."""
    prefix = uuid.uuid4().hex[:8]
    names = [f"bench-{prefix}-{i:03d}:money" for i in range(n_accounts)]
    with Ledger.open(url) as ledger:
        for name in names:
            ledger.create_account(name, kind="customer", currency="money")
            ledger.fund(name, 10**12)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(procs)
    results: Any = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(url, names, n, 1_000 + p, start, results))
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    done = [results.get(timeout=1_800) for _ in workers]
    for w in workers:
        w.join()
        w.close()
    results.close()
    results.join_thread()
    wall = max(e for _, e, _ in done) - min(b for b, _, _ in done)
    latencies = sorted(x for _, _, lat in done for x in lat)
    with Ledger.open(url, create=False) as ledger:
        report = ledger.audit()
    if not report.ok or report.imbalance != 0:
        raise SystemExit(f"audit failed after the run: {report.violations[:5]}")
    return {
        "procs": procs,
        "transfers": len(latencies),
        "wall_s": wall,
        "per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) / 1e6,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] / 1e6,
    }


def _pg_url(args: argparse.Namespace) -> tuple[str | None, Any, str]:
    """(URL, provider to close, description) of the PostgreSQL database, or (None, None, why)."""
    if args.no_pg:
        return None, None, "skipped (--no-pg)"
    if args.pg_url:
        return args.pg_url, None, "given by --pg-url"
    from tests.postgres import PostgresProvider, PostgresUnavailable

    try:
        provider = PostgresProvider(durable=True)
    except PostgresUnavailable as exc:
        return None, None, f"unavailable: {exc}"
    where = "TOKENOMY_PG_URL" if provider.cluster is None else "local cluster, fsync on"
    return provider.new_database("bench"), provider, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=2_000, help="transfers per process")
    parser.add_argument("--procs", default="1,2,4", help="process counts, comma-separated")
    parser.add_argument("--accounts", type=int, default=20, help="accounts transfers go between")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL database to use")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--quick", action="store_true", help="300 transfers per process")
    args = parser.parse_args()
    n = 300 if args.quick else args.transfers
    procs = [int(p) for p in args.procs.split(",") if p.strip()]

    print(
        f"ledger throughput — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    print(f"{n} one-leg transfers per process between {args.accounts} accounts\n")
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        for sync in ("full", "normal"):
            for p in procs:
                url = f"sqlite:///{Path(folder) / f'{sync}-{p}.db'}?synchronous={sync}"
                rows.append((f"sqlite WAL sync={sync}", run(url, p, n, args.accounts)))
    pg_url, provider, where = _pg_url(args)
    try:
        if pg_url is not None:
            for p in procs:
                rows.append((f"postgresql ({where})", run(pg_url, p, n, args.accounts)))
    finally:
        if provider is not None:
            provider.close()

    header = f"{'backend':<42} {'procs':>5} {'transfers':>9} {'wall s':>7} {'transfers/s':>11}"
    header += f" {'p50 ms':>7} {'p99 ms':>7}"
    print(header)
    print("-" * len(header))
    for backend, r in rows:
        print(
            f"{backend:<42} {r['procs']:>5} {r['transfers']:>9} {r['wall_s']:>7.2f} "
            f"{r['per_s']:>11,.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
        )
    if pg_url is None:
        print(f"\nPostgreSQL: {where}")


if __name__ == "__main__":
    main()
