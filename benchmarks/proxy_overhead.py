"""The proxy's added latency and throughput against an instant local backend.

    python benchmarks/proxy_overhead.py [--requests 2000] [--concurrency 16]

Starts, each in its own process, the OpenAI-compatible test server (echo rule, no delay) and
three proxies in front of it (one backend, one budgeted key, SQLite ledger with
``?synchronous=normal``, decision log on), one per way of keeping the budget: reservations in
the ledger (``ledger``), in memory with each payment written before the answer (``memory``),
and in memory with payments written by the settlement thread every 50 ms (``batched``). Then,
from this process:

1. sequential latency: the same non-streaming chat request ``--requests`` times directly to the
   backend and through the proxy, from one keep-alive ``httpx`` client (p50/p99; overhead =
   proxy − direct);
2. throughput: ``--concurrency`` requests kept in flight by one asyncio (aiohttp) client for
   a fixed count, directly and through the proxy (requests/s), and the CPU time the backend
   (direct) or the proxy process spends per request during it.

Everything (client, proxy, backend, SQLite) shares this machine's cores, so the figures are an
upper bound on the overhead a dedicated proxy host would add.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

KEY = "sk-bench"
BODY = {
    "model": "tokenomy-auto",
    "messages": [{"role": "user", "content": "How many tokens does this take? " * 4}],
    "max_tokens": 16,
}


def serve_backend(port: int) -> None:
    """Child: the echo test server on ``port``."""
    import uvicorn

    from tokenomy.llm.rules import get_rule
    from tokenomy.llm.testserver import create_app

    app = create_app(get_rule("echo"), models=("bench-m",))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_proxy(config: str, port: int) -> None:
    """Child: the proxy for ``config`` on ``port``."""
    import uvicorn

    from tokenomy.proxy import create_app, load_config, open_service

    with open_service(load_config(config)) as service:
        app = create_app(service)
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # as `tokenomy proxy` serves it
            server_header=False,
        )


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def _latencies(url: str, n: int, headers: dict[str, str], body: dict[str, object]) -> list[float]:
    out = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for _ in range(20):  # warm-up
            client.post(url, json=body).raise_for_status()
        for _ in range(n):
            t0 = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            out.append(time.perf_counter() - t0)
    return out


def _throughput(
    url: str, n: int, concurrency: int, headers: dict[str, str], body: dict[str, object]
) -> float:
    """Requests/s with ``concurrency`` requests in flight (one asyncio client, keep-alive).

    An asyncio client costs far less CPU per request than threads of a blocking client, so
    more of the shared cores go to the servers being measured.
    """
    import asyncio
    import json

    import aiohttp

    payload = json.dumps(body).encode()
    sent = {"content-type": "application/json", **headers}

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            failures = 0

            async def one() -> None:
                nonlocal failures
                async with session.post(url, data=payload, headers=sent) as response:
                    await response.read()
                    failures += response.status != 200

            await asyncio.gather(*(one() for _ in range(concurrency)))  # warm the pool
            per = n // concurrency

            async def worker() -> None:
                for _ in range(per):
                    await one()

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - t0
        if failures:
            raise SystemExit(f"{failures} requests failed during the throughput run")
        return per * concurrency / elapsed

    return asyncio.run(run())


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    from tokenomy.loopback import free_port

    work = Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    bport = free_port()
    modes = ["ledger", "memory", "batched"]
    me = str(Path(__file__).resolve())
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, me, "--child-backend", str(bport)], env=env)]
    ports = {}
    for mode in modes:
        config = {
            "ledger_url": f"sqlite:///{work / f'ledger-{mode}.db'}?synchronous=normal",
            "decision_log": str(work / f"decisions-{mode}.jsonl"),
            "reservations": "ledger" if mode == "ledger" else "memory",
            "settlement": "batched" if mode == "batched" else "immediate",
            "prices": {"value": 1.0},
            "backends": [
                {
                    "name": "bench",
                    "base_url": f"http://127.0.0.1:{bport}/v1",
                    "model": "bench-m",
                    "input_per_million": 1.0,
                    "output_per_million": 2.0,
                    "quality": 0.8,
                }
            ],
            "budgets": [{"account": "bench", "limit": 1_000_000.0, "period": "day"}],
            "keys": [
                {
                    "name": "bench",
                    "sha256": hashlib.sha256(KEY.encode()).hexdigest(),
                    "account": "bench",
                }
            ],
        }
        cfg = work / f"proxy-{mode}.yaml"
        cfg.write_text(yaml.safe_dump(config))
        ports[mode] = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, me, "--child-proxy", str(cfg), str(ports[mode])], env=env
            )
        )
    rows = []
    try:
        _wait(f"http://127.0.0.1:{bport}", procs[0])
        for mode, proc in zip(modes, procs[1:], strict=True):
            _wait(f"http://127.0.0.1:{ports[mode]}", proc)
        direct = f"http://127.0.0.1:{bport}/v1/chat/completions"
        auth = {"authorization": f"Bearer {KEY}"}
        plain = {**BODY, "model": "bench-m"}
        n_tp = max(args.requests, args.concurrency * 50)
        lat_d = _latencies(direct, args.requests, {}, plain)
        cpu0 = _cpu_s(procs[0].pid)
        tp_d = _throughput(direct, n_tp, args.concurrency, {}, plain)
        backend_cpu = (_cpu_s(procs[0].pid) - cpu0) / n_tp
        rows.append(("direct", lat_d, tp_d, backend_cpu))
        for mode, proc in zip(modes, procs[1:], strict=True):
            proxied = f"http://127.0.0.1:{ports[mode]}/v1/chat/completions"
            lat_p = _latencies(proxied, args.requests, auth, BODY)
            cpu0 = _cpu_s(proc.pid)
            tp_p = _throughput(proxied, n_tp, args.concurrency, auth, BODY)
            rows.append((f"proxy/{mode}", lat_p, tp_p, (_cpu_s(proc.pid) - cpu0) / n_tp))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
    ms = 1e3
    print(f"proxy overhead: {args.requests} sequential requests, {args.concurrency} in flight "
          f"for throughput, {os.cpu_count()} CPUs, SQLite ledger synchronous=normal")  # fmt: skip
    print("(server CPU: CPU time of the backend (direct) or of the proxy process alone per request")
    print(" during the throughput run; 1000 / it = the requests/s one core of its own would serve)")
    print(f"{'path':<15}{'p50 ms':>8}{'p99 ms':>8}{'mean ms':>8}{'req/s':>7}"
          f"{'p50 overhead':>14}{'server CPU ms':>15}{'req/s/core':>12}")  # fmt: skip
    base = _pct(lat_d, 0.5)
    for name, lat, tp, cpu in rows:
        extra = "—" if name == "direct" else f"{(_pct(lat, 0.5) - base) * ms:.2f}"
        print(
            f"{name:<15}{_pct(lat, 0.5) * ms:>8.2f}{_pct(lat, 0.99) * ms:>8.2f}"
            f"{statistics.fmean(lat) * ms:>8.2f}{tp:>7.0f}{extra:>14}{cpu * ms:>15.3f}"
            f"{1 / cpu if cpu > 0 else float('nan'):>12.0f}"
        )


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child-backend":
        serve_backend(int(sys.argv[2]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "--child-proxy":
        serve_proxy(sys.argv[2], int(sys.argv[3]))
    else:
        main()
