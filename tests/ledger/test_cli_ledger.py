"""``tokenomy ledger show|audit`` (the typer app, run in-process)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.ledger.conftest import make_accounts
from tokenomy.cli_ledger import format_amount, ledger_app
from tokenomy.ledger import Ledger


def _example(url):
    with Ledger.open(url) as ledger:
        make_accounts(ledger, ["alice:money", "shop:money"], fund=12_345_678)
        make_accounts(ledger, ["alice:tokens"], currency="tokens", fund=1_500)
        ledger.hold("alice:money", "shop:money", 2_000_000, memo="order 1", at=10.0)
        ledger.set_budget("alice", currency="money", limit=5_000_000, account="alice:money")


def test_format_amount():
    assert format_amount(12_345_678, "money") == "$12.35"
    assert format_amount(-1_000_000, "money") == "-$1.00"
    assert format_amount(1_500, "tokens") == "1,500 tokens"


def test_show_prints_balances_holds_and_budgets(ledger_url):
    _example(ledger_url)
    done = CliRunner().invoke(ledger_app, ["show", ledger_url])
    assert done.exit_code == 0, done.output
    text = done.stdout
    for expected in ("alice:money", "$10.35", "$12.35", "1,500 tokens", "order 1", "$2.00"):
        assert expected in text
    assert "alice" in text and "$3.00" in text  # the budget's remaining


def test_show_json(ledger_url):
    _example(ledger_url)
    done = CliRunner().invoke(ledger_app, ["show", ledger_url, "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    balances = {a["name"]: a["balance"] for a in data["accounts"]}
    assert balances["alice:money"] == 12_345_678 - 2_000_000
    assert balances["external:money"] == -2 * 12_345_678
    assert [h["payee"] for h in data["open_holds"]] == ["shop:money"]
    assert data["budgets"][0]["status"]["spent"] == 2_000_000
    assert data["summary"]["transactions"] == 4
    assert data["summary"]["currencies"]["money"]["held"] == 2_000_000
    limited = json.loads(
        CliRunner().invoke(ledger_app, ["show", ledger_url, "--json", "--limit", "2"]).stdout
    )
    assert len(limited["accounts"]) == 2 and limited["accounts_shown"] == 2


def test_missing_file_is_exit_2_and_not_created(tmp_path):
    missing = tmp_path / "none.db"
    for command in ("show", "audit"):
        done = CliRunner().invoke(ledger_app, [command, str(missing)])
        assert done.exit_code == 2
        assert "does not exist" in " ".join(done.output.split())
    assert not missing.exists()


def test_bad_url_is_exit_2():
    done = CliRunner().invoke(ledger_app, ["audit", "mysql://x@y/z", "--json"])
    assert done.exit_code == 2 and "unsupported scheme 'mysql'" in " ".join(done.output.split())
