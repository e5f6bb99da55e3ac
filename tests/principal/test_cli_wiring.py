"""The principal lab through the main `tokenomy` command: contracts on a market run, shopping."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tokenomy.cli import app

RUNNER = CliRunner()


def test_market_run_with_a_contract_blocks_and_reports(magentic: Path, tmp_path: Path) -> None:
    contract = tmp_path / "contract.yaml"
    contract.write_text(
        "name: one-message-each\n"
        "invariants:\n"
        "  - {kind: max_messages_per_counterparty, limit: 0}\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    r = RUNNER.invoke(
        app,
        [
            "market",
            "run",
            str(magentic / "mexican_3_9"),
            "--contract",
            str(contract),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    summary = json.loads((out / "summary.json").read_text())
    totals = summary["contracts"]["totals"]
    # no customer may message anyone: every inquiry is blocked, none is executed
    assert totals["blocks"] > 0 and metrics["messages"] == 0 and metrics["payments"] == 0
    assert (out / "contracts.parquet").is_file()
    report = RUNNER.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert (
        "one-message-each" in (out / "report.html").read_text()
        or "contract" in (out / "report.html").read_text().lower()
    )


def test_bad_contract_is_one_clear_error(magentic: Path, tmp_path: Path) -> None:
    contract = tmp_path / "bad.yaml"
    contract.write_text("name: x\ninvariants:\n  - {kind: max_payment, amount: -5}\n")
    r = RUNNER.invoke(
        app, ["market", "run", str(magentic / "mexican_3_9"), "--contract", str(contract)]
    )
    message = r.output.replace("\n", "")  # the console wraps long lines
    assert r.exit_code == 2 and "bad.yaml" in message and "invariants.0.amount" in message


def test_principal_shop_json(tmp_path: Path) -> None:
    r = RUNNER.invoke(
        app,
        [
            "principal",
            "shop",
            "--customers",
            "20",
            "--businesses",
            "60",
            "--seeds",
            "3",
            "--out",
            str(tmp_path / "shop"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    rows = {row["condition"]: row for row in result["conditions"]}
    assert set(rows) == {"aligned", "both", "user-only", "platform-only", "neither"}
    assert rows["aligned"]["utility_loss"] == 0.0
    assert rows["neither"]["utility_loss"] >= rows["user-only"]["utility_loss"]
    page = (tmp_path / "shop" / "report.html").read_text()
    assert "Delegated shopping" in page and page.count("data:image/png;base64,") >= 1
    assert (tmp_path / "shop" / "conditions.parquet").is_file()
