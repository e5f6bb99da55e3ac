"""The ledger's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Tables (all prefixed ``ledger_`` so that a ledger can share a database with other services):

``ledger_accounts``
    One row per account: unique ``name``, ``kind``, ``currency``, ``floor`` (lowest allowed
    balance; NULL = unbounded below, external accounts only), ``owner``, ``group_name``, the
    cached ``balance`` and ``created_at``.
``ledger_txns``
    One row per transaction: ``idempotency_key`` (unique when given), ``kind``, ``memo``, ``at``
    (the caller's clock), ``request_hash`` (what a retry must match) and ``created_at``.
``ledger_journal``
    One row per leg: ``txn``, ``debit_account`` (the account the amount leaves),
    ``credit_account`` (the account it enters), ``amount`` > 0, ``currency``, the txn's
    ``kind``, ``memo`` and ``at``, and ``created_at``. An account's balance is the sum of its
    credits minus the sum of its debits.
``ledger_holds``
    Escrow holds: ``payer``, ``payee``, ``amount``, ``currency``, ``status`` (``held``,
    ``settled``, ``released``), the txn that opened it and the txn that closed it.
``ledger_budgets`` / ``ledger_budget_usage``
    Outflow caps per account or per group, and the outflow spent per budget and window.
``ledger_meta``
    Key/value pairs: the schema version.

Money amounts are micro-dollars and token amounts are tokens, both 64-bit integers.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = "1"
"""Written to ``ledger_meta`` when the tables are created."""

CURRENCIES: tuple[str, ...] = ("money", "tokens")
"""The ledger's currencies: micro-dollars and tokens."""

ACCOUNT_KINDS: tuple[str, ...] = (
    "customer",
    "business",
    "platform",
    "provider",
    "escrow",
    "external",
)
"""The kinds an account may have."""

HOLD_STATUSES: tuple[str, ...] = ("held", "settled", "released")
"""The states of an escrow hold."""

# An INTEGER PRIMARY KEY on SQLite (the rowid), a BIGINT identity elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("currency", String(16), nullable=False),
    Column("floor", BigInteger, nullable=True),
    Column("owner", String(200), nullable=True),
    Column("group_name", String(200), nullable=True),
    Column("balance", BigInteger, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    CheckConstraint("floor IS NULL OR balance >= floor", name="ck_ledger_accounts_floor"),
    Index("ix_ledger_accounts_group", "group_name", "currency"),
    Index("ix_ledger_accounts_owner", "owner"),
)

txns = Table(
    "ledger_txns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("kind", String(64), nullable=False),
    Column("memo", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

journal = Table(
    "ledger_journal",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("txn", ForeignKey("ledger_txns.id"), nullable=False),
    Column("debit_account", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("memo", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    CheckConstraint("amount > 0", name="ck_ledger_journal_amount"),
    CheckConstraint("debit_account <> credit_account", name="ck_ledger_journal_accounts"),
    Index("ix_ledger_journal_txn", "txn"),
    Index("ix_ledger_journal_debit", "debit_account", "at"),
    Index("ix_ledger_journal_credit", "credit_account"),
)

holds = Table(
    "ledger_holds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payer", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("payee", ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("hold_txn", ForeignKey("ledger_txns.id"), nullable=False, unique=True),
    Column("close_txn", ForeignKey("ledger_txns.id"), nullable=True, unique=True),
    Column("memo", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),
    Column("closed_at", Float, nullable=True),
    CheckConstraint("amount > 0", name="ck_ledger_holds_amount"),
    Index("ix_ledger_holds_status", "status"),
)

budgets = Table(
    "ledger_budgets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("currency", String(16), nullable=False),
    Column("limit_amount", BigInteger, nullable=False),
    Column("period_s", BigInteger, nullable=False),
    Column("account", ForeignKey("ledger_accounts.id"), nullable=True),
    Column("group_name", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
    CheckConstraint("(account IS NULL) <> (group_name IS NULL)", name="ck_ledger_budgets_target"),
    Index("ix_ledger_budgets_account", "account"),
    Index("ix_ledger_budgets_group", "group_name", "currency"),
)

budget_usage = Table(
    "ledger_budget_usage",
    metadata,
    Column("budget", ForeignKey("ledger_budgets.id"), primary_key=True),
    Column("window_index", BigInteger, primary_key=True, autoincrement=False),
    Column("spent", BigInteger, nullable=False),
)

meta = Table(
    "ledger_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
