"""A writer killed with SIGKILL mid-stream leaves a consistent ledger: whole txns or none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.ledger.conftest import make_accounts
from tokenomy.cli_ledger import ledger_app
from tokenomy.ledger import Ledger
from tokenomy.ledger.schema import journal, txns

ROOT = Path(__file__).resolve().parents[2]

LOOP = """
import sys
from tokenomy.ledger import Ledger, Leg
with Ledger.open(sys.argv[1], create=False) as ledger:
    i = 0
    while True:
        legs = [Leg("a:money", "b:money", 3), Leg("b:money", "c:money", 2)]
        ledger.post(
            [*legs, Leg("c:money", "a:money", 1)],
            kind="loop",
            memo=f"loop {i}",
        )
        i += 1
        print(i, flush=True)
"""


def test_sigkill_leaves_whole_transactions(ledger_url):
    with Ledger.open(ledger_url) as ledger:
        make_accounts(ledger, ["a:money", "b:money", "c:money"], fund=10**9)
    wanted = 300
    with subprocess.Popen(
        [sys.executable, "-c", LOOP, ledger_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        seen = 0
        deadline = time.monotonic() + 120
        while seen < wanted and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seen = int(line)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        stderr = child.stderr.read() if child.stderr else ""
    assert child.returncode == -signal.SIGKILL
    assert seen >= wanted, f"the child committed only {seen} txns: {stderr[-2000:]}"

    with Ledger.open(ledger_url, create=False) as ledger:
        report = ledger.audit()
        assert report.ok, report.violations
        assert report.imbalance == 0
        with ledger.engine.connect() as conn:
            per_txn = conn.execute(
                select(journal.c.txn, func.count())
                .join(txns, txns.c.id == journal.c.txn)
                .where(txns.c.kind == "loop")
                .group_by(journal.c.txn)
            ).all()
            loops = conn.execute(
                select(func.count()).select_from(txns).where(txns.c.kind == "loop")
            ).scalar_one()
        assert len(per_txn) == loops >= seen
        assert {count for _, count in per_txn} == {3}
        # Net effect per loop txn: a -2, b +1, c +1.
        assert ledger.balance("a:money") == 10**9 - 2 * loops
        assert ledger.balance("b:money") == 10**9 + loops
        assert ledger.balance("c:money") == 10**9 + loops

    done = CliRunner().invoke(ledger_app, ["audit", ledger_url, "--json"])
    assert done.exit_code == 0, done.output
    cli_report = json.loads(done.stdout)
    assert cli_report["ok"] is True and cli_report["imbalance"] == 0
    assert cli_report["transfers"] == report.transfers
