"""`tokenomy serve` as a separate process: serve, trade, get killed, resume from the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tokenomy.ledger import Ledger
from tokenomy.loopback import free_port
from tokenomy.market.dataset import Market
from tokenomy.market.io import write_market

TOKENOMY = str(Path(sys.executable).with_name("tokenomy"))


def _start(args: list[str], port: int, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TOKENOMY_ADMIN_TOKEN": "operator"}
    proc = subprocess.Popen(
        [TOKENOMY, "serve", *args, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output, _ = proc.communicate()
            pytest.fail(f"serve exited with {proc.returncode}: {output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    proc.communicate()
    pytest.fail("serve did not answer /health within 60 s")


def _stop(proc: subprocess.Popen[str], sig: int) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


def test_serve_trade_kill_and_resume(tiny_market: Market, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_market(tiny_market, data)
    db = f"sqlite:///{tmp_path / 'served.db'}"
    port = free_port()
    proc = _start(["--db", db, "--data", str(data), "--clock", "virtual"], port, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            tokens = {}
            for agent in ("customer_a", "business_1"):
                r = http.post("/register", json={"agent_id": agent})
                assert r.status_code == 201
                tokens[agent] = {"Authorization": f"Bearer {r.json()['token']}"}
            found = http.post(
                "/actions",
                json={"type": "search", "query": "taco soup"},
                headers=tokens["customer_a"],
            ).json()
            assert "business_1" in [b["id"] for b in found["businesses"]]
            proposal = {
                "type": "send_message",
                "to_agent_id": "customer_a",
                "message": {
                    "type": "order_proposal",
                    "items": [{"item_name": "Taco", "unit_price": 9.0}],
                    "total_price": 9.0,
                },
            }
            pid = http.post("/actions", json=proposal, headers=tokens["business_1"]).json()
            pay = {
                "type": "send_message",
                "to_agent_id": "business_1",
                "message": {"type": "payment", "proposal_message_id": pid["message_id"]},
            }
            assert http.post("/actions", json=pay, headers=tokens["customer_a"]).status_code == 200
    finally:
        _stop(proc, signal.SIGKILL)  # no clean shutdown

    with Ledger.open(db, create=False) as ledger:
        assert ledger.audit().ok
        assert len(ledger.holds(status="held")) == 1

    # restarted from the database alone: same market, same agents, the payment still counts
    proc = _start(["--db", db], port, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert http.get("/health").json()["customers"] == 2
            again = http.post("/actions", json=pay, headers=tokens["customer_a"])
            assert again.status_code == 409 and "already paid" in again.json()["reason"]
            done = http.post("/admin/finish", headers={"Authorization": "Bearer operator"})
            assert done.json()["settled"] == 1 and done.json()["audit"]["ok"]
    finally:
        _stop(proc, signal.SIGTERM)
