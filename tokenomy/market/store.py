"""The market session's tables, beside the ledger's in the same database.

* ``market_meta`` — the session's settings (market name, sizes, seed, ...), key → JSON;
* ``market_files`` — the market data itself, in tokenomy's columnar Parquet format, so that
  ``tokenomy serve --db URL`` can serve a session with nothing but its database;
* ``market_agents`` — registered agents and the SHA-256 of their bearer tokens (never the token);
* ``market_journal`` — every action with its result, every end of an episode and every metered
  model call, in order; reopening a session replays it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter

from tokenomy.errors import ConfigError
from tokenomy.ledger.database import write, writer
from tokenomy.market.dataset import Market
from tokenomy.market.protocol import Action, ActionResult, Rejected

metadata = sa.MetaData()

meta_table = sa.Table(
    "market_meta",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
files_table = sa.Table(
    "market_files",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
)
agents_table = sa.Table(
    "market_agents",
    metadata,
    sa.Column("agent_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("registered_at", sa.Float, nullable=False),
)
journal_table = sa.Table(
    "market_journal",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("agent_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # action | end | usage
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("result", sa.String(20), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)

_ACTION = TypeAdapter(Action)


@dataclass(frozen=True)
class JournalRow:
    """One journal entry, decoded."""

    time_ms: int
    agent_id: str
    kind: str
    action: Any = None
    note: str = ""
    usage: tuple[int, int, int] = (0, 0, 0)
    forced_reason: str | None = None


class MarketStore:
    """Reads and writes the market session's tables (see the module docstring)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)
        write(self._writer, lambda conn: metadata.create_all(conn))

    @staticmethod
    def digest(token: str) -> str:
        """SHA-256 hex digest of a bearer token (what is stored)."""
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    # ------------------------------------------------------------------ meta and data
    def get(self, key: str) -> Any:
        """A stored setting (None if absent)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == key)).first()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store a setting (replacing it)."""

        def work(conn: sa.Connection) -> None:
            conn.execute(sa.delete(meta_table).where(meta_table.c.key == key))
            conn.execute(sa.insert(meta_table).values(key=key, value=json.dumps(value)))

        write(self._writer, work)

    def claim(self, market: Market, meta: dict[str, Any]) -> None:
        """Bind this database to ``market`` and ``meta`` (first open), or check they match.

        Raises:
            ConfigError: the database already holds another market or other settings.
        """
        stored = self.get("session")
        if stored is None:
            self._store_market(market)
            self.put("session", meta)
            return
        diff = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
        if diff:
            shown = ", ".join(
                f"{k}: {stored.get(k)!r} in the database, {meta.get(k)!r} now" for k in diff
            )
            raise ConfigError(
                f"the database already holds a market session with other settings ({shown}); "
                f"use a new --db, or the same settings to resume it"
            )

    def _store_market(self, market: Market) -> None:
        from tokenomy.market.io import write_market

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "market"
            write_market(market, folder, fmt="parquet")
            rows = [
                {"name": str(p.relative_to(folder)), "content": p.read_bytes()}
                for p in sorted(folder.rglob("*"))
                if p.is_file()
            ]

        def work(conn: sa.Connection) -> None:
            conn.execute(sa.delete(files_table))
            conn.execute(sa.insert(files_table), rows)

        write(self._writer, work)

    def load_market(self) -> Market:
        """The market stored in this database.

        Raises:
            ConfigError: the database holds no market session.
        """
        from tokenomy.market.io import load_market

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(files_table.c.name, files_table.c.content)).all()
        if not rows:
            raise ConfigError(
                "this database holds no market; start one with `tokenomy serve --data DIR`"
            )
        session = self.get("session") or {}
        label = str(session.get("market") or "market").replace("/", "_") or "market"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / label  # the market is named after its folder
            for name, content in rows:
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            return load_market(folder)

    # ------------------------------------------------------------------ agents
    def register(self, agent_id: str, kind: str) -> str:
        """Claim ``agent_id``; return a new secret token.

        Raises:
            ConfigError: the agent is already registered.
        """
        token = secrets.token_urlsafe(32)
        row = {
            "agent_id": agent_id,
            "kind": kind,
            "token_sha256": self.digest(token),
            "registered_at": time.time(),
        }
        try:
            write(self._writer, lambda conn: conn.execute(sa.insert(agents_table).values(**row)))
        except sa.exc.IntegrityError:
            raise ConfigError(f"agent '{agent_id}' is already registered") from None
        return token

    def agent_tokens(self) -> dict[str, str]:
        """Token digest → agent id of every registered agent."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(agents_table.c.token_sha256, agents_table.c.agent_id))
            return {str(digest): str(agent) for digest, agent in rows}

    # ------------------------------------------------------------------ journal
    def journal_action(
        self,
        time_ms: int,
        agent_id: str,
        action: Action,
        result: ActionResult,
        forced_reason: str | None = None,
    ) -> None:
        """Append an executed (or refused) action."""
        self._append(
            time_ms,
            agent_id,
            "action",
            action.model_dump_json(),
            "forced" if forced_reason is not None else result.type,
            forced_reason
            if forced_reason is not None
            else (result.reason if isinstance(result, Rejected) else None),
        )

    def journal_end(self, time_ms: int, agent_id: str, note: str) -> None:
        """Append the end of an agent's episode."""
        self._append(time_ms, agent_id, "end", json.dumps({"note": note}), None, None)

    def journal_usage(
        self,
        time_ms: int,
        agent_id: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost_micro: int,
        latency_s: float,
    ) -> None:
        """Append one metered model call."""
        body = {
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_micro": cost_micro,
            "latency_s": latency_s,
        }
        self._append(time_ms, agent_id, "usage", json.dumps(body), None, None)

    def _append(
        self,
        time_ms: int,
        agent_id: str,
        kind: str,
        body: str,
        result: str | None,
        reason: str | None,
    ) -> None:
        row = {
            "time_ms": time_ms,
            "agent_id": agent_id,
            "kind": kind,
            "body": body,
            "result": result,
            "reason": reason,
        }
        write(self._writer, lambda conn: conn.execute(sa.insert(journal_table).values(**row)))

    def journal(self) -> Iterator[JournalRow]:
        """Every journal row, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(journal_table).order_by(journal_table.c.seq)).all()
        for row in rows:
            if row.kind == "action":
                yield JournalRow(
                    row.time_ms,
                    row.agent_id,
                    "action",
                    action=_ACTION.validate_json(row.body),
                    forced_reason=row.reason if row.result == "forced" else None,
                )
            elif row.kind == "end":
                yield JournalRow(
                    row.time_ms, row.agent_id, "end", note=json.loads(row.body)["note"]
                )
            else:
                u = json.loads(row.body)
                yield JournalRow(
                    row.time_ms,
                    row.agent_id,
                    "usage",
                    usage=(u["input_tokens"], u["output_tokens"], u["cost_micro"]),
                )

    def counts(self) -> dict[str, int]:
        """Rows per journal kind, and registered agents."""
        with self.engine.connect() as conn:
            kinds: dict[str, int] = dict(
                conn.execute(
                    sa.select(journal_table.c.kind, sa.func.count()).group_by(journal_table.c.kind)
                ).all()
            )
            agents = conn.execute(sa.select(sa.func.count()).select_from(agents_table)).scalar_one()
        return {
            "actions": kinds.get("action", 0),
            "ends": kinds.get("end", 0),
            "model_calls": kinds.get("usage", 0),
            "agents": int(agents),
        }
