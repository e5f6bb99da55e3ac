"""``tokenomy ledger``: look into a ledger database and audit it.

    tokenomy ledger show DB_URL [--json] [--limit N] [--at SECONDS]
    tokenomy ledger audit DB_URL [--json]

``DB_URL`` is ``sqlite:///file.db``, a file path, or ``postgresql+psycopg://...``. Neither
command creates anything: a missing file is an error. ``audit`` exits 1 when the ledger is
inconsistent (its violations are listed) and 2 for a bad URL or a missing database;
``audit --json`` prints ``{"ok", "accounts", "transfers", "imbalance", "violations"}``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from tokenomy.cli_support import guard, out, print_json
from tokenomy.market.money import format_dollars

ledger_app = typer.Typer(
    help="Double-entry ledger of money and tokens: show balances, audit conservation.",
    no_args_is_help=True,
)

UrlArgument = Annotated[
    str, typer.Argument(help="Ledger database: sqlite:///file.db, a path, or a PostgreSQL URL")
]


def format_amount(amount: int, currency: str) -> str:
    """``$12.34`` for 12,340,000 micro-dollars; ``1,234 tokens`` for tokens."""
    if currency == "money":
        text = format_dollars(abs(amount))
        return f"-${text}" if amount < 0 else f"${text}"
    return f"{amount:,} {currency}"


def _floor(floor: int | None, currency: str) -> str:
    return "none" if floor is None else format_amount(floor, currency)


def _show_data(url: str, limit: int, at: float | None) -> dict[str, Any]:
    from tokenomy.ledger import Ledger

    with Ledger.open(url, create=False) as ledger:
        summary = ledger.summary()
        accounts = ledger.accounts()
        budgets = ledger.budgets()
        return {
            "summary": summary,
            "accounts": [a.to_dict() for a in (accounts[:limit] if limit else accounts)],
            "accounts_shown": min(len(accounts), limit) if limit else len(accounts),
            "open_holds": [h.to_dict() for h in ledger.holds(status="held")][: limit or None],
            "budgets": [
                {**b.to_dict(), "status": ledger.budget_status(b.name, at=at).to_dict()}
                for b in budgets
            ],
        }


def _print_show(data: dict[str, Any]) -> None:
    summary = data["summary"]
    holds = summary["holds"]
    out.print(
        f"ledger {summary['url']}: {summary['accounts']} accounts, "
        f"{summary['transactions']} transactions ({summary['transfers']} legs), "
        f"holds {holds['held']} open / {holds['settled']} settled / "
        f"{holds['released']} released, {summary['budgets']} budgets",
        highlight=False,
    )
    totals = Table(title="currencies")
    for column in ("currency", "accounts", "issued", "in accounts", "in escrow", "open holds"):
        totals.add_column(column, justify="left" if column == "currency" else "right")
    for currency, t in summary["currencies"].items():
        totals.add_row(
            currency,
            str(t["accounts"]),
            format_amount(t["issued"], currency),
            format_amount(t["in_accounts"], currency),
            format_amount(t["in_escrow"], currency),
            format_amount(t["held"], currency),
        )
    out.print(totals)

    table = Table(title="accounts")
    for column in ("name", "kind", "owner", "group", "floor", "balance"):
        table.add_column(column, justify="right" if column in ("floor", "balance") else "left")
    for a in data["accounts"]:
        table.add_row(
            a["name"],
            a["kind"],
            a["owner"] or "",
            a["group"] or "",
            _floor(a["floor"], a["currency"]),
            format_amount(a["balance"], a["currency"]),
        )
    if data["accounts_shown"] < summary["accounts"]:
        table.caption = (
            f"{data['accounts_shown']} of {summary['accounts']} accounts shown (--limit 0: all)"
        )
    out.print(table)

    if data["open_holds"]:
        held = Table(title="open holds")
        for column in ("id", "payer", "payee", "amount", "at", "memo"):
            held.add_column(column, justify="right" if column in ("id", "amount") else "left")
        for h in data["open_holds"]:
            held.add_row(
                str(h["id"]),
                h["payer"],
                h["payee"],
                format_amount(h["amount"], h["currency"]),
                f"{h['at']:.3f}",
                h["memo"],
            )
        out.print(held)

    if data["budgets"]:
        table = Table(title="budgets (current window)")
        for column in ("name", "caps", "period", "limit", "spent", "remaining"):
            table.add_column(
                column, justify="right" if column in ("limit", "spent", "remaining") else "left"
            )
        for b in data["budgets"]:
            status, currency = b["status"], b["currency"]
            table.add_row(
                b["name"],
                b["account"] or f"group {b['group']}",
                b["period"],
                format_amount(b["limit"], currency),
                format_amount(status["spent"], currency),
                format_amount(status["remaining"], currency),
            )
        out.print(table)


@ledger_app.command("show")
def ledger_show(
    db_url: UrlArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON")] = False,
    limit: Annotated[
        int, typer.Option(min=0, help="Accounts and open holds to list (0: all)")
    ] = 100,
    at: Annotated[
        float | None,
        typer.Option(help="Moment (seconds on the ledger's clock) for budget windows; now"),
    ] = None,
) -> None:
    """Print accounts with balances, totals per currency, open holds and budgets."""

    def go() -> None:
        data = _show_data(db_url, limit, at)
        if as_json:
            print_json(data)
        else:
            _print_show(data)

    guard(go)


@ledger_app.command("audit")
def ledger_audit(
    db_url: UrlArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Recompute every balance from the journal and check conservation, floors, escrow, budgets.

    Exits 1 when a check fails.
    """
    from tokenomy.ledger import AuditReport, Ledger

    def go() -> AuditReport:
        with Ledger.open(db_url, create=False) as ledger:
            return ledger.audit()

    report = guard(go)
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        out.print(
            f"[green]audit ok[/]: {report.accounts} accounts, {report.transfers} legs, "
            f"imbalance {report.imbalance}",
            highlight=False,
        )
    else:
        out.print(
            f"[red]audit failed[/]: {len(report.violations)} violation(s), "
            f"imbalance {report.imbalance}",
            highlight=False,
        )
        for line in report.violations:
            out.print(f"  - {line}", highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)
