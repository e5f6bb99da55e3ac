"""The :class:`Ledger`: double-entry accounts in two currencies, escrow holds, budgets.

Every movement is a *leg* ``Leg(debit, credit, amount)``: ``amount`` leaves the account
``debit`` and enters the account ``credit``. A *transaction* groups one or more legs that are
applied together or not at all. Each currency (``"money"`` in micro-dollars, ``"tokens"``) has an
external account ``external:<currency>`` (no floor) that every endowment comes from and every
withdrawal goes to, and an escrow account ``escrow:<currency>``; since every leg takes from one
account what it gives to another, the balances of a currency always sum to zero.

>>> with Ledger.open(tmp / "ledger.db") as ledger:                         # doctest: +SKIP
...     ledger.create_account("alice:money", kind="customer", currency="money")
...     ledger.create_account("shop:money", kind="business", currency="money")
...     ledger.fund("alice:money", 5_000_000)                               # $5
...     hold = ledger.hold("alice:money", "shop:money", 3_000_000)
...     ledger.settle(hold.id)
...     ledger.balance("shop:money"), ledger.audit().ok                     # (3000000, True)

A transaction runs as follows, in one database transaction (retried as a whole on a transient
SQLite busy or PostgreSQL serialization/deadlock error):

1. with an idempotency key, an earlier txn with that key is looked up: same request → that txn is
   returned and nothing is applied; another request → :class:`IdempotencyConflict`;
2. the txn row is inserted (its unique key makes a concurrent duplicate fail here and roll back;
   the loser then returns the winner's txn);
3. each account's net change is applied by a conditional UPDATE, accounts in id order;
   a debit that would take an account below its floor updates no row →
   :class:`InsufficientFunds`;
4. the budgets covering the debited accounts are charged by conditional UPDATEs of their usage
   row for the window containing ``at`` → :class:`BudgetExceeded` when over the limit;
5. the legs are written to the journal.

Any refusal rolls the whole transaction back: balances, journal and usage are as before.
"""

from __future__ import annotations

import dataclasses
import numbers
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from tokenomy.ledger import database as db
from tokenomy.ledger.audit import AuditReport, audit_connection
from tokenomy.ledger.budgets import (
    Budget,
    BudgetStatus,
    period_name,
    period_seconds,
    usage_from_journal,
    window_bounds,
    window_of,
)
from tokenomy.ledger.errors import (
    BudgetExceeded,
    CurrencyMismatch,
    DuplicateAccount,
    HoldStateError,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    LedgerConfigError,
    LedgerError,
    UnknownAccount,
    UnknownBudget,
    UnknownHold,
)
from tokenomy.ledger.records import (
    SYSTEM_OWNER,
    Account,
    Entry,
    Hold,
    Leg,
    Txn,
    escrow_account,
    external_account,
)
from tokenomy.ledger.schema import (
    CURRENCIES,
    HOLD_STATUSES,
    SCHEMA_VERSION,
    accounts,
    budget_usage,
    budgets,
    holds,
    journal,
    meta,
    metadata,
    txns,
)
from tokenomy.ledger.validation import (
    account_values,
    check_amount,
    check_at,
    check_currency,
    check_key,
    check_legs,
    check_limit,
    check_memo,
    check_name,
    request_hash,
)


class _Ref(NamedTuple):
    """The immutable part of an account, cached per ledger object."""

    id: int
    name: str
    kind: str
    currency: str
    floor: int | None
    group: str | None


_Resolved = list[tuple[_Ref, _Ref, int]]

# Statements built once (SQLAlchemy caches their compiled form).
_DEBIT = (
    update(accounts)
    .where(
        accounts.c.id == bindparam("account_id"),
        or_(
            accounts.c.floor.is_(None),
            accounts.c.balance + bindparam("delta") >= accounts.c.floor,
        ),
    )
    .values(balance=accounts.c.balance + bindparam("delta"))
)
_CREDIT = (
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(balance=accounts.c.balance + bindparam("delta"))
)
_CHARGE = (
    update(budget_usage)
    .where(
        budget_usage.c.budget == bindparam("budget_id"),
        budget_usage.c.window_index == bindparam("window"),
        budget_usage.c.spent + bindparam("charge") <= bindparam("cap"),
    )
    .values(spent=budget_usage.c.spent + bindparam("charge"))
)
_BUDGETS_OF = select(budgets).where(
    or_(
        budgets.c.account.in_(bindparam("account_ids", expanding=True)),
        budgets.c.group_name.in_(bindparam("groups", expanding=True)),
    )
)
_DEBIT_ROW = accounts.alias("debit_row")
_CREDIT_ROW = accounts.alias("credit_row")
_PAYER_ROW = accounts.alias("payer_row")
_PAYEE_ROW = accounts.alias("payee_row")
_TXN_BY_KEY = select(txns.c.id, txns.c.request_hash).where(
    txns.c.idempotency_key == bindparam("key")
)
_LEGS_OF = (
    select(journal.c.txn, _DEBIT_ROW.c.name, _CREDIT_ROW.c.name, journal.c.amount)
    .join(_DEBIT_ROW, _DEBIT_ROW.c.id == journal.c.debit_account)
    .join(_CREDIT_ROW, _CREDIT_ROW.c.id == journal.c.credit_account)
    .where(journal.c.txn.in_(bindparam("txn_ids", expanding=True)))
    .order_by(journal.c.id)
)
_HOLDS = (
    select(holds, _PAYER_ROW.c.name.label("payer_name"), _PAYEE_ROW.c.name.label("payee_name"))
    .join(_PAYER_ROW, _PAYER_ROW.c.id == holds.c.payer)
    .join(_PAYEE_ROW, _PAYEE_ROW.c.id == holds.c.payee)
    .order_by(holds.c.id)
)
_HOLD_BY_ID = _HOLDS.where(holds.c.id == bindparam("hold_id"))
_HOLD_BY_TXN = _HOLDS.where(holds.c.hold_txn == bindparam("txn_id"))
_HOLD_FOR_CLOSE = _HOLD_BY_ID.with_for_update(of=holds)
_TXN_BY_ID = select(txns).where(txns.c.id == bindparam("txn_id"))
_INSERT_TXN = insert(txns)
_INSERT_LEGS = insert(journal)
_REF_COLUMNS = (
    accounts.c.id,
    accounts.c.name,
    accounts.c.kind,
    accounts.c.currency,
    accounts.c.floor,
    accounts.c.group_name,
)


class Ledger:
    """A double-entry ledger in a SQLite file or a PostgreSQL database.

    Open one with :meth:`open`; close it with :meth:`close` or use it as a context manager. One
    object may be shared by threads; several processes may open the same database at once.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        """Wrap an engine made by :func:`tokenomy.ledger.database.make_engine` (use open)."""
        self._engine = engine
        self._writer = db.writer(engine)
        self._url = url
        self._refs: dict[str, _Ref] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, url: str | Path, *, create: bool = True) -> Ledger:
        """Open (and with ``create``, create) the ledger at ``url``.

        Args:
            url: ``sqlite:///path.db``, a file path, or ``postgresql+psycopg://...``. A SQLite
                URL may carry ``?synchronous=normal`` (see :mod:`tokenomy.ledger.database`).
            create: create the file (SQLite), the tables and the system accounts when missing.
                With False, a missing file or missing tables is an error and nothing is created.

        Raises:
            LedgerConfigError: a bad URL, a missing file/folder, an unreachable server, a
                database that is not a ledger (or a ledger of another schema version).
        """
        parsed = db.parse_url(url)
        public = db.public_url(parsed)
        engine = db.make_engine(parsed, create=create)
        try:
            if create:
                db.write(db.writer(engine), _create_schema)
            else:
                missing = db.missing_tables(engine, sorted(metadata.tables))
                if missing:
                    raise LedgerConfigError(
                        f"{public} is not a tokenomy ledger: missing table(s) {', '.join(missing)}"
                    )
            version = db.read(
                engine,
                lambda c: c.execute(
                    select(meta.c.value).where(meta.c.key == "schema_version")
                ).scalar_one_or_none(),
            )
            if version != SCHEMA_VERSION:
                raise LedgerConfigError(
                    f"{public}: ledger schema version {version!r}; this tokenomy reads "
                    f"version {SCHEMA_VERSION!r}"
                )
        except LedgerError:
            engine.dispose()
            raise
        except (OperationalError, DBAPIError) as exc:
            engine.dispose()
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise LedgerConfigError(f"cannot open ledger database {public}: {first}") from None
        return cls(engine, public)

    @property
    def url(self) -> str:
        """The database URL, without the password."""
        return self._url

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for services that keep their own tables beside the ledger)."""
        return self._engine

    def close(self) -> None:
        """Close every pooled connection; the ledger cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self._url!r})"

    def _read(self, work: Callable[[Connection], Any], *, snapshot: bool = False) -> Any:
        self._check_open()
        return db.read(self._engine, work, snapshot=snapshot)

    def _write(self, work: Callable[[Connection], Any]) -> Any:
        self._check_open()
        return db.write(self._writer, work)

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerError(f"ledger {self._url} is closed")

    # ------------------------------------------------------------------ accounts

    def create_account(
        self,
        name: str,
        *,
        kind: str,
        currency: str,
        floor: int | None = 0,
        owner: str | None = None,
        group: str | None = None,
    ) -> Account:
        """Create an account with balance 0.

        Args:
            name: unique name (1 to 200 characters).
            kind: customer, business, platform, provider, escrow or external.
            currency: ``"money"`` or ``"tokens"``.
            floor: the lowest allowed balance (an int, may be negative for credit); None
                (unbounded below) only for external accounts.
            owner: who it belongs to, e.g. an agent id.
            group: a group name, for group budgets.

        Raises:
            DuplicateAccount: the name is taken.
            LedgerConfigError: a bad name, kind, currency or floor.
        """
        values = account_values(name, kind, currency, floor, owner, group)

        def work(conn: Connection) -> Account:
            account_id = _new_id(conn.execute(insert(accounts).values(**values)))
            return _account_of(
                conn.execute(select(accounts).where(accounts.c.id == account_id)).one()
            )

        try:
            return self._write(work)  # type: ignore[no-any-return]
        except IntegrityError:
            raise DuplicateAccount(name) from None

    def create_accounts(self, specs: Sequence[Mapping[str, Any]]) -> int:
        """Create many accounts (balance 0) in one transaction: all of them, or none.

        Args:
            specs: one mapping per account with the keyword arguments of
                :meth:`create_account` (``name``, ``kind``, ``currency``, optional ``floor``,
                ``owner``, ``group``).

        Returns:
            The number of accounts created.

        Raises:
            DuplicateAccount: a name is taken (or repeated in ``specs``); nothing was created.
            LedgerConfigError: a bad name, kind, currency or floor.
        """
        rows = [
            account_values(
                spec["name"],
                spec["kind"],
                spec["currency"],
                spec.get("floor", 0),
                spec.get("owner"),
                spec.get("group"),
            )
            for spec in specs
        ]
        if not rows:
            return 0

        def work(conn: Connection) -> int:
            conn.execute(insert(accounts), rows)
            return len(rows)

        try:
            return self._write(work)  # type: ignore[no-any-return]
        except IntegrityError:
            names = [str(r["name"]) for r in rows]
            existing = {a.name for a in self.accounts()}
            clash = next(
                (n for i, n in enumerate(names) if n in existing or n in names[:i]), names[0]
            )
            raise DuplicateAccount(clash, "nothing was created") from None

    def ensure_account(
        self,
        name: str,
        *,
        kind: str,
        currency: str,
        floor: int | None = 0,
        owner: str | None = None,
        group: str | None = None,
    ) -> Account:
        """The account ``name``, created if missing; an existing one must match exactly.

        Raises:
            DuplicateAccount: an account of that name exists with other settings (names them).
            LedgerConfigError: a bad name, kind, currency or floor.
        """
        values = account_values(name, kind, currency, floor, owner, group)
        for _ in range(2):
            try:
                existing = self.account(name)
            except UnknownAccount:
                try:
                    return self.create_account(
                        name, kind=kind, currency=currency, floor=floor, owner=owner, group=group
                    )
                except DuplicateAccount:
                    continue  # created concurrently: compare with that one
            wanted = {
                "kind": values["kind"],
                "currency": values["currency"],
                "floor": values["floor"],
                "owner": values["owner"],
                "group": values["group_name"],
            }
            differ = [
                f"{key} is {getattr(existing, key)!r}, not {value!r}"
                for key, value in wanted.items()
                if getattr(existing, key) != value
            ]
            if differ:
                raise DuplicateAccount(name, "; ".join(differ))
            return existing
        raise DuplicateAccount(name)  # pragma: no cover - created and vanished

    def account(self, name: str) -> Account:
        """The account ``name`` with its current balance.

        Raises:
            UnknownAccount: no such account.
        """
        row = self._read(
            lambda c: c.execute(select(accounts).where(accounts.c.name == name)).one_or_none()
        )
        if row is None:
            raise UnknownAccount(name)
        return _account_of(row)

    def accounts(
        self,
        *,
        kind: str | None = None,
        currency: str | None = None,
        owner: str | None = None,
    ) -> list[Account]:
        """Accounts (in creation order), optionally only of one kind, currency or owner."""
        query = select(accounts).order_by(accounts.c.id)
        if kind is not None:
            query = query.where(accounts.c.kind == kind)
        if currency is not None:
            query = query.where(accounts.c.currency == currency)
        if owner is not None:
            query = query.where(accounts.c.owner == owner)
        return [_account_of(r) for r in self._read(lambda c: c.execute(query).all())]

    def balance(self, name: str) -> int:
        """Current balance of ``name`` (micro-dollars or tokens).

        Raises:
            UnknownAccount: no such account.
        """
        value = self._read(
            lambda c: c.execute(
                select(accounts.c.balance).where(accounts.c.name == name)
            ).scalar_one_or_none()
        )
        if value is None:
            raise UnknownAccount(name)
        return int(value)

    def _resolve(self, names: Iterable[str], conn: Connection | None = None) -> dict[str, _Ref]:
        """The cached immutable part of accounts (read through ``conn`` when given)."""
        wanted = set(names)
        missing = [n for n in wanted if n not in self._refs]
        if missing:
            for n in missing:
                if not isinstance(n, str):
                    raise LedgerConfigError(f"account name: got {n!r}; expected a str")
            query = select(*_REF_COLUMNS).where(accounts.c.name.in_(sorted(missing)))
            if conn is not None:
                rows = conn.execute(query).all()
            else:
                rows = self._read(lambda c: c.execute(query).all())
            with self._lock:
                for r in rows:
                    self._refs[r.name] = _Ref(
                        int(r.id),
                        r.name,
                        r.kind,
                        r.currency,
                        None if r.floor is None else int(r.floor),
                        r.group_name,
                    )
            for n in sorted(missing):
                if n not in self._refs:
                    raise UnknownAccount(n)
        return {n: self._refs[n] for n in wanted}

    # ------------------------------------------------------------------ posting

    def post(
        self,
        legs: Sequence[Leg | tuple[str, str, int]],
        *,
        kind: str = "transfer",
        memo: str = "",
        idempotency_key: str | None = None,
        at: float | None = None,
    ) -> Txn:
        """Apply ``legs`` atomically as one transaction.

        Args:
            legs: one or more ``Leg(debit, credit, amount)``; each leg's two accounts must hold
                the same currency and differ; amounts are ints > 0.
            kind: what the transaction is (stored with it and with its journal rows).
            memo: free text.
            idempotency_key: makes retries safe: a later post with this key and the same
                kind, legs and memo returns this txn (``replayed=True``) and applies nothing.
            at: the caller's clock in seconds (default ``time.time()``); budgets use it.

        Raises:
            InsufficientFunds: an account would end below its floor (nothing changed).
            BudgetExceeded: a budget's outflow would exceed its limit (nothing changed).
            IdempotencyConflict: the key was used for a different request.
            CurrencyMismatch, UnknownAccount, InvalidAmount, LedgerConfigError: bad input.
        """
        checked = check_legs(legs)
        kind = check_name(kind, "kind")
        memo = check_memo(memo)
        key = check_key(idempotency_key)
        moment = check_at(at)
        resolved = self._resolve_legs(checked)
        request = request_hash(kind, checked, memo)
        txn: Txn = self._post(resolved, kind, memo, key, moment, request)
        return txn

    def transfer(
        self,
        debit: str,
        credit: str,
        amount: int,
        *,
        kind: str = "transfer",
        memo: str = "",
        idempotency_key: str | None = None,
        at: float | None = None,
    ) -> Txn:
        """Move ``amount`` from ``debit`` to ``credit`` (a one-leg :meth:`post`)."""
        return self.post(
            [Leg(debit, credit, amount)],
            kind=kind,
            memo=memo,
            idempotency_key=idempotency_key,
            at=at,
        )

    def fund(
        self,
        account: str,
        amount: int,
        *,
        memo: str = "",
        idempotency_key: str | None = None,
        at: float | None = None,
    ) -> Txn:
        """Endow ``account`` with ``amount`` from its currency's external account."""
        currency = self._resolve([account])[account].currency
        return self.post(
            [Leg(external_account(currency), account, amount)],
            kind="fund",
            memo=memo,
            idempotency_key=idempotency_key,
            at=at,
        )

    def withdraw(
        self,
        account: str,
        amount: int,
        *,
        memo: str = "",
        idempotency_key: str | None = None,
        at: float | None = None,
    ) -> Txn:
        """Take ``amount`` out of ``account`` to its currency's external account."""
        currency = self._resolve([account])[account].currency
        return self.post(
            [Leg(account, external_account(currency), amount)],
            kind="withdraw",
            memo=memo,
            idempotency_key=idempotency_key,
            at=at,
        )

    def _resolve_legs(self, legs: list[Leg]) -> _Resolved:
        refs = self._resolve([n for leg in legs for n in (leg.debit, leg.credit)])
        resolved: _Resolved = []
        for leg in legs:
            debit, credit = refs[leg.debit], refs[leg.credit]
            if debit.currency != credit.currency:
                raise CurrencyMismatch(debit.name, debit.currency, credit.name, credit.currency)
            resolved.append((debit, credit, leg.amount))
        return resolved

    def _post(
        self,
        legs: _Resolved,
        kind: str,
        memo: str,
        key: str | None,
        at: float,
        request: str,
        *,
        after: Callable[[Connection, int], Any] | None = None,
        replay: Callable[[Connection, int], Any] | None = None,
    ) -> Any:
        """Run one transaction (steps 1 to 5 of the module docstring).

        Returns the new :class:`Txn`, or what ``after(conn, txn_id)`` returned; for a retry
        of an idempotency key, ``replay(conn, txn_id)`` of the earlier txn (default: that
        :class:`Txn` with ``replayed=True``).
        """

        def answer(conn: Connection) -> Any:
            assert key is not None
            earlier = _txn_by_key(conn, key)
            if earlier is None:
                return None
            if earlier.request_hash != request:
                raise IdempotencyConflict(key, int(earlier.id))
            if replay is not None:
                return replay(conn, int(earlier.id))
            return _txn_of(conn, int(earlier.id), replayed=True)

        def work(conn: Connection) -> Any:
            if key is not None:
                earlier = answer(conn)
                if earlier is not None:
                    return earlier
            now = time.time()
            txn_id = _insert_txn(conn, key, kind, memo, at, request, now)
            _apply_legs(conn, txn_id, legs, kind, memo, at, now)
            if after is not None:
                return after(conn, txn_id)
            return Txn(
                id=txn_id,
                kind=kind,
                memo=memo,
                at=at,
                legs=tuple(Leg(d.name, c.name, a) for d, c, a in legs),
                idempotency_key=key,
            )

        try:
            return self._write(work)
        except IntegrityError:
            # A concurrent post with the same key won the unique constraint: answer with its txn.
            if key is None:
                raise
            found = self._read(answer)
            if found is None:
                raise
            return found

    # ------------------------------------------------------------------ escrow

    def hold(
        self,
        payer: str,
        payee: str,
        amount: int,
        *,
        memo: str = "",
        idempotency_key: str | None = None,
        at: float | None = None,
    ) -> Hold:
        """Move ``amount`` from ``payer`` into escrow, owed to ``payee`` until settled/released.

        The move counts against the payer's budgets (and its floor) now; :meth:`settle` pays
        the payee, :meth:`release` refunds the payer.

        Raises:
            InsufficientFunds, BudgetExceeded, IdempotencyConflict: as for :meth:`post`.
            CurrencyMismatch: payer and payee hold different currencies.
        """
        amount = check_amount(amount, "hold amount")
        memo = check_memo(memo)
        key = check_key(idempotency_key)
        moment = check_at(at)
        refs = self._resolve([payer, payee])
        source, target = refs[payer], refs[payee]
        if source.currency != target.currency:
            raise CurrencyMismatch(payer, source.currency, payee, target.currency)
        if payer == payee:
            raise LedgerConfigError(f"hold: payer and payee are both '{payer}'; expected two")
        escrow = self._resolve([escrow_account(source.currency)])[escrow_account(source.currency)]
        legs = [Leg(payer, escrow.name, amount)]
        request = request_hash("hold", legs, memo, extra={"payee": payee})

        def after(conn: Connection, txn_id: int) -> Hold:
            hold_id = _new_id(
                conn.execute(
                    insert(holds).values(
                        payer=source.id,
                        payee=target.id,
                        amount=amount,
                        currency=source.currency,
                        status="held",
                        hold_txn=txn_id,
                        close_txn=None,
                        memo=memo,
                        at=moment,
                        closed_at=None,
                    )
                )
            )
            return Hold(
                id=hold_id,
                payer=payer,
                payee=payee,
                amount=amount,
                currency=source.currency,
                status="held",
                hold_txn=txn_id,
                close_txn=None,
                memo=memo,
                at=moment,
                closed_at=None,
            )

        result: Hold = self._post(
            [(source, escrow, amount)],
            "hold",
            memo,
            key,
            moment,
            request,
            after=after,
            replay=lambda conn, txn_id: _hold_by_txn(conn, txn_id, replayed=True),
        )
        return result

    def settle(self, hold_id: int, *, at: float | None = None) -> Txn:
        """Pay a held amount to the payee (escrow → payee); the hold becomes ``settled``.

        Raises:
            UnknownHold: no such hold.
            HoldStateError: the hold is already settled or released (once only, also when two
                processes try at the same moment).
        """
        return self._close(hold_id, "settled", at)

    def release(self, hold_id: int, *, at: float | None = None) -> Txn:
        """Refund a held amount to the payer (escrow → payer); the hold becomes ``released``.

        Raises:
            UnknownHold: no such hold.
            HoldStateError: the hold is already settled or released.
        """
        return self._close(hold_id, "released", at)

    def _close(self, hold_id: int, status: str, at: float | None) -> Txn:
        action = "settle" if status == "settled" else "release"
        if isinstance(hold_id, bool) or not isinstance(hold_id, numbers.Integral):
            raise LedgerConfigError(f"hold id: got {hold_id!r}; expected an int")
        hold_id = int(hold_id)
        moment = check_at(at)

        def work(conn: Connection) -> Txn:
            # The hold's row is locked first (PostgreSQL), so that of two processes closing it
            # at once, the second waits and then sees the first one's status.
            row = conn.execute(_HOLD_FOR_CLOSE, {"hold_id": hold_id}).one_or_none()
            if row is None:
                raise UnknownHold(hold_id)
            if row.status != "held":
                raise HoldStateError(hold_id, row.status, action)
            escrow_name = escrow_account(row.currency)
            target_name = row.payee_name if status == "settled" else row.payer_name
            refs = self._resolve([escrow_name, target_name], conn=conn)
            amount = int(row.amount)
            legs = [(refs[escrow_name], refs[target_name], amount)]
            memo = f"{action} hold {hold_id}"
            request = request_hash(action, [Leg(escrow_name, target_name, amount)], memo)
            now = time.time()
            txn_id = _insert_txn(conn, None, action, memo, moment, request, now)
            done = conn.execute(
                update(holds)
                .where(holds.c.id == hold_id, holds.c.status == "held")
                .values(status=status, close_txn=txn_id, closed_at=moment)
            )
            if done.rowcount != 1:  # pragma: no cover - the row lock above prevents it
                raise HoldStateError(hold_id, "closed", action)
            _apply_legs(conn, txn_id, legs, action, memo, moment, now)
            return Txn(
                id=txn_id,
                kind=action,
                memo=memo,
                at=moment,
                legs=(Leg(escrow_name, target_name, amount),),
            )

        result: Txn = self._write(work)
        return result

    def hold_of(self, hold_id: int) -> Hold:
        """The hold ``hold_id``.

        Raises:
            UnknownHold: no such hold.
        """
        found = self._read(lambda c: _holds(c, _HOLD_BY_ID, {"hold_id": hold_id}))
        if not found:
            raise UnknownHold(hold_id)
        return found[0]  # type: ignore[no-any-return]

    def holds(self, status: str | None = None) -> list[Hold]:
        """All holds (in id order), optionally only those in one status."""
        if status is not None and status not in HOLD_STATUSES:
            raise LedgerConfigError(
                f"hold status: got {status!r}; expected one of {', '.join(HOLD_STATUSES)}"
            )
        query = _HOLDS if status is None else _HOLDS.where(holds.c.status == status)
        return self._read(lambda c: _holds(c, query))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ budgets

    def set_budget(
        self,
        name: str,
        *,
        currency: str,
        limit: int,
        period: str | int = "none",
        account: str | None = None,
        group: str | None = None,
    ) -> Budget:
        """Cap the outflow of one account, or of a group's accounts, per period window.

        Setting a budget that exists (same name, currency and target) changes its limit and
        period. Usage is (re)computed from the journal, so outflow already made in the current
        window counts.

        Args:
            name: unique budget name.
            currency: the currency capped.
            limit: the most that may flow out within one window (an int >= 0).
            period: ``"none"``, ``"minute"``, ``"hour"``, ``"day"``, ``"week"`` or seconds > 0.
            account: the account capped (exactly one of ``account``, ``group``).
            group: the group capped: all its accounts of ``currency`` together.

        Raises:
            LedgerConfigError: bad arguments, or ``name`` names a budget on another target.
            UnknownAccount: ``account`` does not exist.
        """
        name = check_name(name, "budget name")
        check_currency(currency)
        if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 0:
            raise InvalidAmount("budget limit", limit, "an int >= 0")
        cap = int(limit)
        seconds = period_seconds(period)
        if (account is None) == (group is None):
            raise LedgerConfigError(
                f"budget '{name}': got account={account!r} and group={group!r}; expected "
                "exactly one of them"
            )
        ref: _Ref | None = None
        if account is not None:
            ref = self._resolve([account])[account]
            if ref.currency != currency:
                raise LedgerConfigError(
                    f"budget '{name}' is in {currency} but account '{account}' holds {ref.currency}"
                )
        else:
            group = check_name(group, "budget group")

        def work(conn: Connection) -> Budget:
            target = (
                select(accounts.c.id).where(accounts.c.id == ref.id)
                if ref is not None
                else select(accounts.c.id).where(
                    accounts.c.group_name == group, accounts.c.currency == currency
                )
            )
            # Lock the covered accounts (PostgreSQL): posts debiting them wait for this budget,
            # and the backfill below sees every post that committed before.
            conn.execute(target.order_by(accounts.c.id).with_for_update()).all()
            existing = conn.execute(select(budgets).where(budgets.c.name == name)).one_or_none()
            rebuild = True
            if existing is None:
                conn.execute(
                    insert(budgets).values(
                        name=name,
                        currency=currency,
                        limit_amount=cap,
                        period_s=seconds,
                        account=None if ref is None else ref.id,
                        group_name=group,
                        created_at=time.time(),
                    )
                )
            else:
                same = (
                    existing.currency == currency
                    and existing.account == (None if ref is None else ref.id)
                    and existing.group_name == group
                )
                if not same:
                    raise LedgerConfigError(
                        f"budget '{name}' exists for another currency, account or group; "
                        "choose another name"
                    )
                rebuild = int(existing.period_s) != seconds
                conn.execute(
                    update(budgets)
                    .where(budgets.c.id == existing.id)
                    .values(limit_amount=cap, period_s=seconds)
                )
            row = conn.execute(select(budgets).where(budgets.c.name == name)).one()
            if rebuild:
                conn.execute(delete(budget_usage).where(budget_usage.c.budget == row.id))
                usage = usage_from_journal(conn, row)
                if usage:
                    conn.execute(
                        insert(budget_usage),
                        [
                            {"budget": row.id, "window_index": w, "spent": s}
                            for w, s in sorted(usage.items())
                        ],
                    )
            return Budget(name, currency, cap, seconds, account, group)

        budget: Budget = self._write(work)
        return budget

    def budget(self, name: str) -> Budget:
        """The budget ``name``.

        Raises:
            UnknownBudget: no such budget.
        """
        found = [b for b in self.budgets() if b.name == name]
        if not found:
            raise UnknownBudget(name)
        return found[0]

    def budgets(self) -> list[Budget]:
        """All budgets, in creation order."""
        query = (
            select(budgets, accounts.c.name.label("account_name"))
            .outerjoin(accounts, accounts.c.id == budgets.c.account)
            .order_by(budgets.c.id)
        )
        return [
            Budget(
                r.name,
                r.currency,
                int(r.limit_amount),
                int(r.period_s),
                r.account_name,
                r.group_name,
            )
            for r in self._read(lambda c: c.execute(query).all())
        ]

    def budget_status(self, name: str, *, at: float | None = None) -> BudgetStatus:
        """Limit, spent and remaining of budget ``name`` in the window containing ``at``.

        Raises:
            UnknownBudget: no such budget.
        """
        moment = check_at(at)

        def work(conn: Connection) -> tuple[Row[Any] | None, int]:
            row = conn.execute(select(budgets).where(budgets.c.name == name)).one_or_none()
            if row is None:
                return None, 0
            spent = conn.execute(
                select(budget_usage.c.spent).where(
                    budget_usage.c.budget == row.id,
                    budget_usage.c.window_index == window_of(moment, int(row.period_s)),
                )
            ).scalar_one_or_none()
            return row, int(spent or 0)

        row, spent = self._read(work, snapshot=True)
        if row is None:
            raise UnknownBudget(name)
        seconds = int(row.period_s)
        start, end = window_bounds(window_of(moment, seconds), seconds)
        cap = int(row.limit_amount)
        return BudgetStatus(name, cap, spent, max(cap - spent, 0), start, end)

    # ------------------------------------------------------------------ reading

    def transactions(self, limit: int | None = None) -> list[Txn]:
        """Transactions in id order with their legs; with ``limit``, only the latest ``limit``."""

        def work(conn: Connection) -> list[Txn]:
            query = select(txns).order_by(txns.c.id.desc())
            if limit is not None:
                query = query.limit(check_limit(limit))
            rows = list(reversed(conn.execute(query).all()))
            if not rows:
                return []
            legs = _legs_of(conn, [int(r.id) for r in rows])
            return [_txn_from(r, legs.get(int(r.id), ())) for r in rows]

        return self._read(work, snapshot=True)  # type: ignore[no-any-return]

    def journal(self, account: str | None = None, limit: int | None = None) -> list[Entry]:
        """Journal rows in id order (with ``limit``, the latest ``limit`` of them).

        Args:
            account: only the rows debiting or crediting this account.
            limit: how many of the latest rows to return (all when None).

        Raises:
            UnknownAccount: ``account`` does not exist.
        """
        query = (
            select(
                journal,
                _DEBIT_ROW.c.name.label("debit_name"),
                _CREDIT_ROW.c.name.label("credit_name"),
            )
            .join(_DEBIT_ROW, _DEBIT_ROW.c.id == journal.c.debit_account)
            .join(_CREDIT_ROW, _CREDIT_ROW.c.id == journal.c.credit_account)
            .order_by(journal.c.id.desc())
        )
        if account is not None:
            ref = self._resolve([account])[account]
            query = query.where(
                or_(journal.c.debit_account == ref.id, journal.c.credit_account == ref.id)
            )
        if limit is not None:
            query = query.limit(check_limit(limit))
        rows = self._read(lambda c: c.execute(query).all())
        return [
            Entry(
                id=int(r.id),
                txn=int(r.txn),
                debit=r.debit_name,
                credit=r.credit_name,
                amount=int(r.amount),
                currency=r.currency,
                kind=r.kind,
                memo=r.memo,
                at=float(r.at),
                created_at=float(r.created_at),
            )
            for r in reversed(rows)
        ]

    def audit(self) -> AuditReport:
        """Recompute everything from the journal and report every inconsistency.

        See :mod:`tokenomy.ledger.audit` for the checks.
        """
        return self._read(audit_connection, snapshot=True)  # type: ignore[no-any-return]

    def summary(self) -> dict[str, Any]:
        """Counts and per-currency totals (for ``tokenomy ledger show``).

        Returns:
            ``{"url", "accounts", "transactions", "transfers", "holds": {status: count},
            "budgets", "currencies": {currency: {"accounts", "issued", "in_accounts",
            "in_escrow", "held"}}}`` where ``issued`` is what came in from the external account
            net of withdrawals, ``in_accounts`` the sum of the other non-escrow accounts,
            ``in_escrow`` the escrow balance and ``held`` the sum of open holds.
        """

        def count(conn: Connection, table: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        def work(conn: Connection) -> dict[str, Any]:
            per_currency: dict[str, dict[str, int]] = {
                c: {"accounts": 0, "issued": 0, "in_accounts": 0, "in_escrow": 0, "held": 0}
                for c in CURRENCIES
            }
            totals = select(
                accounts.c.currency,
                accounts.c.name,
                accounts.c.balance,
            ).where(accounts.c.name.in_([external_account(c) for c in CURRENCIES]))
            for r in conn.execute(totals):
                per_currency[r.currency]["issued"] = -int(r.balance)
            sums = select(
                accounts.c.currency,
                func.count(),
                func.coalesce(func.sum(accounts.c.balance), 0),
            ).where(~accounts.c.name.in_([external_account(c) for c in CURRENCIES]))
            for currency, n, total in conn.execute(
                sums.where(~accounts.c.name.in_([escrow_account(c) for c in CURRENCIES])).group_by(
                    accounts.c.currency
                )
            ):
                per_currency[currency]["accounts"] = int(n)
                per_currency[currency]["in_accounts"] = int(total)
            for currency, balance in conn.execute(
                select(accounts.c.currency, accounts.c.balance).where(
                    accounts.c.name.in_([escrow_account(c) for c in CURRENCIES])
                )
            ):
                per_currency[currency]["in_escrow"] = int(balance)
            for currency, total in conn.execute(
                select(holds.c.currency, func.sum(holds.c.amount))
                .where(holds.c.status == "held")
                .group_by(holds.c.currency)
            ):
                per_currency[currency]["held"] = int(total)
            status_counts = dict.fromkeys(HOLD_STATUSES, 0)
            for status, n in conn.execute(
                select(holds.c.status, func.count()).group_by(holds.c.status)
            ):
                status_counts[status] = int(n)
            return {
                "url": self._url,
                "accounts": count(conn, accounts),
                "transactions": count(conn, txns),
                "transfers": count(conn, journal),
                "holds": status_counts,
                "budgets": count(conn, budgets),
                "currencies": per_currency,
            }

        return self._read(work, snapshot=True)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- schema creation


def _create_schema(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # Several processes may open a new database at once: create the tables one at a time.
        conn.execute(text("SELECT pg_advisory_xact_lock(7041966931)"))
    metadata.create_all(conn, checkfirst=True)
    version = conn.execute(
        select(meta.c.value).where(meta.c.key == "schema_version")
    ).scalar_one_or_none()
    if version is None:
        conn.execute(insert(meta).values(key="schema_version", value=SCHEMA_VERSION))
    now = time.time()
    for currency in CURRENCIES:
        for name, kind, floor in (
            (external_account(currency), "external", None),
            (escrow_account(currency), "escrow", 0),
        ):
            exists = conn.execute(
                select(accounts.c.id).where(accounts.c.name == name)
            ).scalar_one_or_none()
            if exists is None:
                conn.execute(
                    insert(accounts).values(
                        name=name,
                        kind=kind,
                        currency=currency,
                        floor=floor,
                        owner=SYSTEM_OWNER,
                        group_name=None,
                        balance=0,
                        created_at=now,
                    )
                )


# ---------------------------------------------------------------------- applying legs


def _apply_legs(
    conn: Connection,
    txn_id: int,
    legs: _Resolved,
    kind: str,
    memo: str,
    at: float,
    now: float,
) -> None:
    """Steps 3 to 5 of a transaction (see the module docstring)."""
    delta: dict[int, int] = defaultdict(int)
    refs: dict[int, _Ref] = {}
    outflow: dict[int, int] = defaultdict(int)
    for debit, credit, amount in legs:
        delta[debit.id] -= amount
        delta[credit.id] += amount
        outflow[debit.id] += amount
        refs[debit.id] = debit
        refs[credit.id] = credit
    for account_id in sorted(delta):
        change = delta[account_id]
        if change < 0:
            done = conn.execute(_DEBIT, {"account_id": account_id, "delta": change})
            if done.rowcount != 1:
                ref = refs[account_id]
                balance = conn.execute(
                    select(accounts.c.balance).where(accounts.c.id == account_id)
                ).scalar_one()
                raise InsufficientFunds(ref.name, int(balance), ref.floor, -change)
        elif change > 0:
            conn.execute(_CREDIT, {"account_id": account_id, "delta": change})
    _charge_budgets(conn, outflow, refs, at)
    rows = [
        {
            "txn": txn_id,
            "debit_account": debit.id,
            "credit_account": credit.id,
            "amount": amount,
            "currency": debit.currency,
            "kind": kind,
            "memo": memo,
            "at": at,
            "created_at": now,
        }
        for debit, credit, amount in legs
    ]
    conn.execute(_INSERT_LEGS, rows[0] if len(rows) == 1 else rows)


def _charge_budgets(
    conn: Connection, outflow: dict[int, int], refs: dict[int, _Ref], at: float
) -> None:
    """Add each debited account's outflow to the usage of the budgets that cover it."""
    groups = sorted({g for a in outflow if (g := refs[a].group) is not None})
    found = conn.execute(_BUDGETS_OF, {"account_ids": sorted(outflow), "groups": groups}).all()
    if not found:
        return
    for budget in sorted(found, key=lambda b: int(b.id)):
        if budget.account is not None:
            charge = outflow.get(int(budget.account), 0)
        else:
            charge = sum(
                amount
                for account_id, amount in outflow.items()
                if refs[account_id].group == budget.group_name
                and refs[account_id].currency == budget.currency
            )
        if charge <= 0:
            continue
        seconds = int(budget.period_s)
        window = window_of(at, seconds)
        params = {
            "budget_id": int(budget.id),
            "window": window,
            "charge": charge,
            "cap": int(budget.limit_amount),
        }
        if conn.execute(_CHARGE, params).rowcount == 1:
            continue
        spent = conn.execute(
            select(budget_usage.c.spent).where(
                budget_usage.c.budget == budget.id, budget_usage.c.window_index == window
            )
        ).scalar_one_or_none()
        if spent is None and charge <= int(budget.limit_amount):
            _insert_usage_row(conn, int(budget.id), window)
            if conn.execute(_CHARGE, params).rowcount == 1:
                continue
            spent = conn.execute(
                select(budget_usage.c.spent).where(
                    budget_usage.c.budget == budget.id, budget_usage.c.window_index == window
                )
            ).scalar_one_or_none()
        start, end = window_bounds(window, seconds)
        raise BudgetExceeded(
            budget.name,
            int(budget.limit_amount),
            int(spent or 0),
            charge,
            period_name(seconds),
            start,
            end,
        )


def _insert_usage_row(conn: Connection, budget_id: int, window: int) -> None:
    """Insert a zero usage row unless a concurrent transaction already did."""
    values = {"budget": budget_id, "window_index": window, "spent": 0}
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(budget_usage).values(**values).on_conflict_do_nothing())
    else:
        conn.execute(sqlite.insert(budget_usage).values(**values).on_conflict_do_nothing())


# ---------------------------------------------------------------------- reading rows


def _new_id(result: Any) -> int:
    """The primary key of the row an INSERT just wrote."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _insert_txn(
    conn: Connection, key: str | None, kind: str, memo: str, at: float, request: str, now: float
) -> int:
    """Insert a transaction's row; returns its id."""
    values = {
        "idempotency_key": key,
        "kind": kind,
        "memo": memo,
        "at": at,
        "request_hash": request,
        "created_at": now,
    }
    return _new_id(conn.execute(_INSERT_TXN, values))


def _txn_by_key(conn: Connection, key: str) -> Any:
    return conn.execute(_TXN_BY_KEY, {"key": key}).one_or_none()


def _legs_of(conn: Connection, txn_ids: list[int]) -> dict[int, tuple[Leg, ...]]:
    rows = conn.execute(_LEGS_OF, {"txn_ids": txn_ids}).all()
    legs: dict[int, list[Leg]] = defaultdict(list)
    for txn_id, debit_name, credit_name, amount in rows:
        legs[int(txn_id)].append(Leg(debit_name, credit_name, int(amount)))
    return {t: tuple(v) for t, v in legs.items()}


def _txn_from(row: Row[Any], legs: tuple[Leg, ...], *, replayed: bool = False) -> Txn:
    return Txn(
        id=int(row.id),
        kind=row.kind,
        memo=row.memo,
        at=float(row.at),
        legs=legs,
        idempotency_key=row.idempotency_key,
        replayed=replayed,
    )


def _txn_of(conn: Connection, txn_id: int, *, replayed: bool = False) -> Txn:
    row = conn.execute(_TXN_BY_ID, {"txn_id": txn_id}).one()
    return _txn_from(row, _legs_of(conn, [txn_id]).get(txn_id, ()), replayed=replayed)


def _holds(conn: Connection, query: Any, params: dict[str, Any] | None = None) -> list[Hold]:
    return [_hold_from(r) for r in conn.execute(query, params or {})]


def _hold_from(row: Row[Any], *, replayed: bool = False) -> Hold:
    return Hold(
        id=int(row.id),
        payer=row.payer_name,
        payee=row.payee_name,
        amount=int(row.amount),
        currency=row.currency,
        status=row.status,
        hold_txn=int(row.hold_txn),
        close_txn=None if row.close_txn is None else int(row.close_txn),
        memo=row.memo,
        at=float(row.at),
        closed_at=None if row.closed_at is None else float(row.closed_at),
        replayed=replayed,
    )


def _hold_by_txn(conn: Connection, txn_id: int, *, replayed: bool) -> Hold:
    found = _holds(conn, _HOLD_BY_TXN, {"txn_id": txn_id})
    if not found:  # the key named a txn that is not a hold: a different request
        raise IdempotencyConflict(f"txn {txn_id}", txn_id)
    return dataclasses.replace(found[0], replayed=replayed)


def _account_of(row: Row[Any]) -> Account:
    return Account(
        id=int(row.id),
        name=row.name,
        kind=row.kind,
        currency=row.currency,
        floor=None if row.floor is None else int(row.floor),
        owner=row.owner,
        group=row.group_name,
        balance=int(row.balance),
        created_at=float(row.created_at),
    )


# ---------------------------------------------------------------------- validation
