"""The inbox: webhook deliveries in, the worker's work out.

It holds the deliveries (stored before they are acknowledged), the per-repository key locks that
order them, the coalescing queue of PR evaluations, the known repositories (for the periodic
resync) and report-comment ids. With PostgreSQL several worker processes share the work: key
locks are claimed with `SELECT … FOR UPDATE SKIP LOCKED` and a lease, so one repository's
deliveries are handled by one worker at a time, in received order. All times are passed in by
the caller (timezone-aware UTC), which keeps the decisions testable. The engines come from
`mlgate.bot.store.engine`; the merge queue, the heads and the deployments keep their own tables
on the same engine (`Inbox.engine`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from mlgate.bot.store.engine import StoreError, open_engines, sqlite_write_gate
from mlgate.bot.store.tables import (
    DONE,
    FAILED,
    PENDING,
    UTCDateTime,
    deliveries,
    delivery_payloads,
    evaluations,
    key_locks,
    report_comments,
    repositories,
)

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 4000


class IntakeBusy(StoreError):
    """The inbox could not be locked in the time allowed: nothing was written."""


DEFAULT_INTAKE_TIMEOUT = 5.0  # seconds a webhook may wait for the database (GitHub gives up after 10)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Delivery:
    """One accepted webhook delivery (bot/intake/webhook.py parses it), with the fields the inbox indexes."""

    delivery_id: str
    event: str
    action: str | None
    repo: str | None
    installation_id: int | None
    payload: dict[str, Any]
    # The body as received (valid JSON): the store keeps it verbatim instead of re-encoding.
    body: str | None = field(default=None, repr=False, compare=False)

    @property
    def serial_key(self) -> str:
        """What orders this delivery: its repository, else its installation, else one global lane."""
        if self.repo:
            return self.repo
        if self.installation_id is not None:
            return f"installation:{self.installation_id}"
        return "global"


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker now holds the lease on."""

    id: int
    delivery_id: str
    event: str
    action: str | None
    repo: str | None
    installation_id: int | None
    serial_key: str
    payload: dict[str, Any]
    attempts: int  # including this one
    received_at: datetime | None = None  # when intake stored it (the worker's lag metric)


@dataclass(frozen=True)
class DeliveryRecord:
    """A stored delivery as operators and tests see it."""

    id: int
    delivery_id: str
    event: str
    action: str | None
    repo: str | None
    installation_id: int | None
    serial_key: str
    status: str
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class DueEvaluation:
    repo: str
    number: int
    generation: int
    attempts: int


@dataclass(frozen=True)
class EvaluationRecord:
    repo: str
    number: int
    due_at: datetime
    first_requested_at: datetime | None
    generation: int
    attempts: int
    last_error: str | None


def _insert(dialect: str, table: sa.Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# The worker's hot path, built once: constructing statements costs more than running them.
_d = deliveries.c
_CLAIM_SELECT = (
    sa.select(deliveries, delivery_payloads.c.payload)
    .join(delivery_payloads, delivery_payloads.c.delivery_pk == _d.id)
    .where(_d.serial_key == sa.bindparam("key"), _d.status == PENDING)
    .order_by(_d.id)
    .limit(1)
    .with_for_update(of=deliveries)
)
_CLAIM_UPDATE = (
    deliveries.update()
    .where(_d.id == sa.bindparam("row_id"))
    .values(attempts=sa.bindparam("new_attempts"), lease_owner=sa.bindparam("owner"),
            lease_until=sa.bindparam("until"))
)
_COMPLETE_UPDATE = (
    deliveries.update()
    .where(_d.id == sa.bindparam("row_id"), _d.lease_owner == sa.bindparam("owner"), _d.status == PENDING)
    .values(status=DONE, processed_at=sa.bindparam("now"), lease_owner=None, lease_until=None, next_attempt_at=None)
)

def _ready_keys_query(excluding: bool) -> sa.Select:
    d, e, r, k = deliveries.c, evaluations.c, repositories.c, key_locks.c
    now = sa.bindparam("now", type_=UTCDateTime())
    # Only a key's oldest pending delivery decides: later ones never overtake it.
    firsts = (
        sa.select(d.serial_key.label("key"), sa.func.min(d.id).label("first_id"))
        .where(d.status == PENDING)
        .group_by(d.serial_key)
        .subquery()
    )
    work = sa.union(
        sa.select(firsts.c.key).join(deliveries, d.id == firsts.c.first_id).where(
            sa.or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
            sa.or_(d.lease_until.is_(None), d.lease_until < now),
        ),
        sa.select(e.repo.label("key")).where(e.due_at <= now),
        sa.select(r.repo.label("key")).where(r.resync_requested.is_(True)),
    ).subquery()
    locked = sa.select(k.serial_key).where(k.owner.is_not(None), k.lease_until >= now)
    query = sa.select(work.c.key).where(work.c.key.not_in(locked))
    if excluding:
        query = query.where(work.c.key.not_in(sa.bindparam("excluded", expanding=True)))
    return query.order_by(work.c.key).limit(sa.bindparam("limit", type_=sa.Integer()))


_READY_KEYS = _ready_keys_query(excluding=False)
_READY_KEYS_EXCLUDING = _ready_keys_query(excluding=True)
_k = key_locks.c
_KEY_LOCKS_KNOWN = sa.select(_k.serial_key).where(_k.serial_key.in_(sa.bindparam("keys", expanding=True)))
_KEY_LOCKS_FREE = (
    sa.select(_k.serial_key)
    .where(_k.serial_key.in_(sa.bindparam("keys", expanding=True)),
           sa.or_(_k.owner.is_(None), _k.lease_until < sa.bindparam("now", type_=UTCDateTime()),
                  _k.owner == sa.bindparam("holder")))
    .order_by(_k.serial_key)
    .with_for_update(skip_locked=True)
)
_KEY_LOCKS_TAKE = (
    key_locks.update()
    .where(_k.serial_key.in_(sa.bindparam("keys", expanding=True)))
    .values(owner=sa.bindparam("new_owner"), lease_until=sa.bindparam("until", type_=UTCDateTime()))
)
_KEY_LOCK_RELEASE = (
    key_locks.update()
    .where(_k.serial_key == sa.bindparam("key"), _k.owner == sa.bindparam("holder"))
    .values(owner=None, lease_until=None)
)

_RESYNC_CHECK = sa.select(repositories.c.resync_requested).where(repositories.c.repo == sa.bindparam("repo"))
_EVALUATION_DUE_CHECK = (
    sa.select(evaluations.c.number)
    .where(evaluations.c.repo == sa.bindparam("repo"),
           evaluations.c.due_at <= sa.bindparam("now", type_=UTCDateTime()))
    .limit(1)
)

# Oldest first: the primary key's order, which is also the received order.
_PURGE_LIST = (
    sa.select(_d.id)
    .where(_d.status == DONE, _d.processed_at < sa.bindparam("cutoff", type_=UTCDateTime()))
    .order_by(_d.id)
    .limit(sa.bindparam("limit", type_=sa.Integer()))
)

# The intake's bounds on PostgreSQL, for its transaction only (SET LOCAL).
_INTAKE_TIMEOUTS = sa.text("SELECT set_config('lock_timeout', :lock_ms, true), "
                           "set_config('statement_timeout', :statement_ms, true)")
_INTAKE_LOCK = "LOCK TABLE deliveries, delivery_payloads IN ROW EXCLUSIVE MODE"

_PG_LOCK_STATES = {"55P03", "57014"}  # lock_not_available, query_canceled (statement_timeout)


def _busy_or(exc: sa.exc.OperationalError, lock_wait: float) -> Exception:
    """IntakeBusy when `exc` is a lock wait that ran out, else `exc` itself."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _PG_LOCK_STATES or "database is locked" in str(orig):
        return IntakeBusy(f"the database stayed locked for {lock_wait:.1f} s")
    return exc


class Inbox:
    """The deliveries and the work they cause; one instance per process, shared by threads."""

    def __init__(self, engine: Engine, intake_engine: Engine | None = None, *,
                 intake_timeout: float = DEFAULT_INTAKE_TIMEOUT) -> None:
        self.engine = engine
        # Deliveries are written through this one (on SQLite: synchronous=FULL), with its own small
        # pool, so a webhook never waits for a connection the worker holds.
        self.intake_engine = intake_engine or engine
        self.intake_timeout = intake_timeout
        self.dialect = engine.dialect.name
        self._closed = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._gate = sqlite_write_gate(engine) if self.dialect == "sqlite" else None
        self._intake_raw: Any = None  # SQLite: intake_batch's driver connection, used under the write gate only
        # Built once: the webhook path inserts with plain parameters (no statement construction).
        # RETURNING, not rowcount: psycopg reports -1 for Core inserts.
        self._insert_delivery_stmt = (
            _insert(self.dialect, deliveries)
            .on_conflict_do_nothing(index_elements=["delivery_id"])
            .returning(deliveries.c.id)
        )
        self._insert_payload_stmt = delivery_payloads.insert()

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True, busy_timeout_ms: int = 10_000,
             pool_size: int = 8, intake_synchronous: str = "FULL",
             intake_timeout: float = DEFAULT_INTAKE_TIMEOUT) -> Inbox:
        """`intake_synchronous` (SQLite): FULL makes an acknowledged delivery survive a power cut;
        NORMAL survives a crash of the process only, and commits several times faster.
        `intake_timeout`: how long storing a delivery may wait for locks before it gives up."""
        engine, intake = open_engines(url, run_migrations=run_migrations, busy_timeout_ms=busy_timeout_ms,
                                      pool_size=pool_size, intake_synchronous=intake_synchronous,
                                      intake_timeout=intake_timeout)
        store = cls(engine, intake, intake_timeout=intake_timeout)
        store.start_checkpointer()
        return store

    def start_checkpointer(self, interval: float = 0.5) -> None:
        """SQLite: copy the WAL into the database file in the background (PASSIVE: it never blocks
        writers), so no request pays for a checkpoint inside its commit."""
        if self.dialect != "sqlite" or self._checkpointer is not None:
            return
        self._closed.clear()

        def run() -> None:
            while not self._closed.wait(interval):
                try:
                    raw = self.engine.raw_connection()
                    try:
                        raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                    finally:
                        raw.close()
                except Exception as exc:  # never let the thread die; the next round retries
                    log.warning("WAL checkpoint failed: %s", type(exc).__name__)

        self._checkpointer = threading.Thread(target=run, name="mlgate-checkpoint", daemon=True)
        self._checkpointer.start()

    def _drop_intake_raw(self) -> None:
        raw, self._intake_raw = self._intake_raw, None
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.invalidate()

    def close(self) -> None:
        self._closed.set()
        if self._intake_raw is not None:
            hold = self._gate.hold(urgent=True) if self._gate is not None else nullcontext()
            with hold:
                raw, self._intake_raw = self._intake_raw, None
                if raw is not None:
                    with contextlib.suppress(Exception):
                        raw.close()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
            self._checkpointer = None
        if self.dialect == "sqlite":
            with contextlib.suppress(Exception):
                raw = self.engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
        self.engine.dispose()
        if self.intake_engine is not self.engine:
            self.intake_engine.dispose()

    @contextmanager
    def _tx(self, engine: Engine | None = None, *, urgent: bool = False) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite, after this process's WriteGate; other
        processes still meet SQLite's busy timeout). `urgent`: webhook intake, served first."""
        gate = self._gate.hold(urgent) if self._gate is not None else nullcontext()
        with gate, (engine or self.engine).begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite a deferred one, which never waits for writers (WAL)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(mlgate_read_only=True)
            with conn.begin():
                yield conn

    def ping(self) -> bool:
        """True when the database answers and the schema is there."""
        try:
            with self._read() as conn:
                conn.execute(sa.select(sa.func.count()).select_from(key_locks).limit(1))
            return True
        except sa.exc.SQLAlchemyError as exc:
            log.warning("database check failed: %s", type(exc).__name__)
            return False

    # ------------------------------------------------------------------ intake

    def _insert_delivery(self, conn: Connection, delivery: Delivery, now: datetime) -> bool:
        if now.tzinfo is None:
            raise ValueError("naive datetime given to the store: pass timezone-aware UTC times")
        if self.dialect == "sqlite":
            return self._insert_delivery_sqlite(conn, delivery, now)
        params = {
            "delivery_id": delivery.delivery_id, "event": delivery.event, "action": delivery.action,
            "repo": delivery.repo, "installation_id": delivery.installation_id, "serial_key": delivery.serial_key,
            "received_at": now, "status": PENDING, "attempts": 0,
        }
        row_id = conn.execute(self._insert_delivery_stmt, params).scalar()
        if row_id is None:
            return False
        conn.execute(self._insert_payload_stmt, {"delivery_pk": row_id, "payload": delivery.payload})
        return True

    def _insert_delivery_sqlite(self, conn: Connection, delivery: Delivery, now: datetime) -> bool:
        """The webhook hot path on SQLite, in plain SQL: statement handling in SQLAlchemy cost more
        CPU than the insert itself. The timestamp is written in SQLAlchemy's SQLite format."""
        received = now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        row_id = conn.exec_driver_sql(
            "INSERT INTO deliveries (delivery_id, event, action, repo, installation_id, serial_key, received_at, "
            "status, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (delivery_id) DO NOTHING RETURNING id",
            (delivery.delivery_id, delivery.event, delivery.action, delivery.repo, delivery.installation_id,
             delivery.serial_key, received, PENDING),
        ).scalar()
        if row_id is None:
            return False
        body = delivery.body if delivery.body is not None else json.dumps(delivery.payload)
        conn.exec_driver_sql("INSERT INTO delivery_payloads (delivery_pk, payload) VALUES (?, ?)", (row_id, body))
        return True

    def _hold_write_gate(self, stack: contextlib.ExitStack, lock_wait: float) -> int:
        """Intake's turn at this process's SQLite write gate (none on PostgreSQL), held until `stack`
        closes; the milliseconds of `lock_wait` left for the database's own lock. Raises IntakeBusy."""
        started = time.monotonic()
        if self._gate is not None:
            try:
                stack.enter_context(self._gate.hold(urgent=True, timeout=max(0.0, lock_wait)))
            except TimeoutError:
                raise IntakeBusy(f"the database stayed locked for {lock_wait:.1f} s") from None
        return max(1, int((lock_wait - (time.monotonic() - started)) * 1000))

    @contextmanager
    def intake_transaction(self, lock_wait: float) -> Iterator[Connection]:
        """A write transaction on the inbox that holds every lock it needs on entry, or raises
        IntakeBusy after at most `lock_wait` seconds having written nothing.

        SQLite: this process's write gate, then BEGIN IMMEDIATE with the busy timeout set to what
        is left. PostgreSQL: lock_timeout (what is left) for this transaction, then the inbox
        tables' ROW EXCLUSIVE lock (what the inserts take anyway; a migration's lock conflicts with
        it); statement_timeout (`intake_timeout`) backs up every statement after that. Once
        inside, only the inserts and the commit remain.
        """
        with contextlib.ExitStack() as stack:
            left_ms = self._hold_write_gate(stack, lock_wait)
            conn = stack.enter_context(self.intake_engine.connect())
            if self.dialect == "sqlite":
                conn.execution_options(mlgate_busy_ms=left_ms)
            try:
                tx = conn.begin()  # SQLite: BEGIN IMMEDIATE, which waits for the write lock
            except sa.exc.OperationalError as exc:
                raise _busy_or(exc, lock_wait) from None
            with tx:
                if self.dialect == "postgresql":
                    try:
                        conn.execute(_INTAKE_TIMEOUTS, {"lock_ms": str(left_ms),
                                                        "statement_ms": str(int(self.intake_timeout * 1000))})
                        conn.exec_driver_sql(_INTAKE_LOCK)
                    except sa.exc.OperationalError as exc:
                        raise _busy_or(exc, lock_wait) from None
                yield conn

    @contextmanager
    def intake_batch(self, lock_wait: float) -> Iterator[IntakeBatch]:
        """`intake_transaction` for the group-commit writer: the same locks and bounds, and an
        `IntakeBatch` that stores many deliveries with one statement per table.

        On SQLite it talks to the driver directly (BEGIN IMMEDIATE, two multi-row INSERTs, COMMIT
        on the intake engine's synchronous=FULL connection): SQLAlchemy's per-statement work cost
        the writer more CPU than SQLite did, and the writer shares the process with the requests.
        A driver error is raised as SQLAlchemy's (OperationalError for a failed database).
        """
        if self.dialect != "sqlite":
            with self.intake_transaction(lock_wait) as conn:
                yield _ConnectionBatch(self, conn)
            return
        with contextlib.ExitStack() as stack:
            left_ms = self._hold_write_gate(stack, lock_wait)
            # One connection of the intake engine's pool (set up by its connect hook: WAL,
            # synchronous=FULL), kept while it works: the write gate, held here, is what makes it
            # one user at a time.
            if self._intake_raw is None:
                self._intake_raw = self.intake_engine.raw_connection()
            cursor = self._intake_raw.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout={left_ms}")
                cursor.execute("BEGIN IMMEDIATE")  # waits (in SQLite) for the write lock, at most left_ms
            except sqlite3.OperationalError as exc:
                wrapped = sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc)
                raise _busy_or(wrapped, lock_wait) from None
            try:
                yield _SqliteBatch(cursor)
                cursor.execute("COMMIT")
            except BaseException as exc:
                try:
                    cursor.execute("ROLLBACK")
                except sqlite3.Error:  # a connection that cannot even roll back is not reused
                    self._drop_intake_raw()
                if isinstance(exc, sqlite3.OperationalError):
                    raise sa.exc.OperationalError("intake batch", None, exc) from None
                if isinstance(exc, sqlite3.Error):
                    raise sa.exc.DatabaseError("intake batch", None, exc) from None
                raise

    def insert_delivery(self, conn: Connection, delivery: Delivery, now: datetime) -> bool:
        """Inside `intake_transaction`: store one delivery; False when its id was stored before."""
        return self._insert_delivery(conn, delivery, now)

    def add_delivery(self, delivery: Delivery, now: datetime | None = None) -> bool:
        """Inbox a delivery; False when this delivery id was stored before (a redelivery)."""
        with self.intake_transaction(self.intake_timeout) as conn:
            return self._insert_delivery(conn, delivery, now or utcnow())

    def add_deliveries(self, items: list[tuple[Delivery, datetime]]) -> list[bool]:
        """Inbox several deliveries in one transaction (one fsync): True for each new one."""
        with self.intake_transaction(self.intake_timeout) as conn:
            return [self._insert_delivery(conn, delivery, now) for delivery, now in items]

    # ------------------------------------------------------------------ inspection

    def delivery(self, delivery_id: str) -> DeliveryRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)).mappings().first()
        return _record(row) if row else None

    def deliveries(self, status: str | None = None) -> list[DeliveryRecord]:
        query = sa.select(deliveries).order_by(deliveries.c.id)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with self._read() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def delivery_payload(self, delivery_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            return conn.execute(
                sa.select(delivery_payloads.c.payload)
                .join(deliveries, deliveries.c.id == delivery_payloads.c.delivery_pk)
                .where(deliveries.c.delivery_id == delivery_id)
            ).scalar_one_or_none()

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status))
            return {status: count for status, count in rows}

    def evaluations(self) -> list[EvaluationRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(evaluations).order_by(evaluations.c.repo, evaluations.c.number)).mappings()
            return [EvaluationRecord(**dict(row)) for row in rows]

    def known_repositories(self) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(sa.select(repositories.c.repo).order_by(repositories.c.repo)).scalars())

    # ------------------------------------------------------------------ key locks

    def ready_keys(self, now: datetime, *, exclude: Iterable[str] = (), limit: int = 16) -> list[str]:
        """Serial keys with work to do now (deliveries, due evaluations, a resync) not locked elsewhere."""
        excluded = sorted(set(exclude))
        query = _READY_KEYS_EXCLUDING if excluded else _READY_KEYS
        params: dict[str, Any] = {"now": now, "limit": limit}
        if excluded:
            params["excluded"] = excluded
        with self._read() as conn:
            return list(conn.execute(query, params).scalars())

    def acquire_keys(self, keys: Iterable[str], owner: str, now: datetime, lease: timedelta) -> list[str]:
        """Lock as many of `keys` as are free (or expired); returns the ones now held by `owner`."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        with self._tx() as conn:
            known = set(conn.execute(_KEY_LOCKS_KNOWN, {"keys": wanted}).scalars())
            missing = [key for key in wanted if key not in known]
            if missing:
                conn.execute(
                    _insert(self.dialect, key_locks).on_conflict_do_nothing(index_elements=["serial_key"]),
                    [{"serial_key": key, "owner": None, "lease_until": None} for key in missing],
                )
            free = list(conn.execute(_KEY_LOCKS_FREE, {"keys": wanted, "now": now, "holder": owner}).scalars())
            if free:
                conn.execute(_KEY_LOCKS_TAKE, {"keys": free, "new_owner": owner, "until": now + lease})
        return free

    def release_key(self, key: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(_KEY_LOCK_RELEASE, {"key": key, "holder": owner})

    def renew(self, owner: str, keys: Iterable[str], delivery_ids: Iterable[int], now: datetime,
              lease: timedelta) -> None:
        """Heartbeat: push the leases this worker holds forward."""
        keys, ids = list(keys), list(delivery_ids)
        until = now + lease
        with self._tx() as conn:
            if keys:
                conn.execute(
                    key_locks.update()
                    .where(key_locks.c.serial_key.in_(keys), key_locks.c.owner == owner)
                    .values(lease_until=until)
                )
            if ids:
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(ids), deliveries.c.lease_owner == owner,
                           deliveries.c.status == PENDING)
                    .values(lease_until=until)
                )

    # ------------------------------------------------------------------ deliveries

    def claim_next_delivery(self, key: str, owner: str, now: datetime, lease: timedelta,
                            max_attempts: int) -> ClaimedDelivery | None:
        """Lease the oldest pending delivery of `key`, or None when the key must wait.

        The key waits when its oldest delivery is leased by a live worker or backing off after a
        failure: later deliveries never overtake it. A delivery whose previous holders died while
        handling it `max_attempts` times is marked failed so it cannot wedge the key forever.
        """
        with self._tx() as conn:
            return self._claim_next(conn, key, owner, now, lease, max_attempts)

    def _claim_next(self, conn: Connection, key: str, owner: str, now: datetime, lease: timedelta,
                    max_attempts: int) -> ClaimedDelivery | None:
        d = deliveries.c
        while True:
            row = conn.execute(_CLAIM_SELECT, {"key": key}).mappings().first()
            if row is None:
                return None
            if row["lease_owner"] not in (None, owner) and row["lease_until"] >= now:
                return None
            if row["next_attempt_at"] is not None and row["next_attempt_at"] > now:
                return None
            if row["attempts"] >= max_attempts:
                message = (f"gave up after {row['attempts']} attempts; the last one did not finish "
                           f"(worker stopped while handling it); earlier error: {row['last_error'] or 'none'}")
                conn.execute(
                    deliveries.update().where(d.id == row["id"]).values(
                        status=FAILED, processed_at=now, lease_owner=None, lease_until=None,
                        last_error=message[:_MAX_ERROR_CHARS],
                    )
                )
                log.error("delivery %s (%s) failed: %s", row["delivery_id"], row["event"], message)
                continue
            attempts = row["attempts"] + 1
            conn.execute(_CLAIM_UPDATE, {"row_id": row["id"], "new_attempts": attempts, "owner": owner,
                                         "until": now + lease})
            return ClaimedDelivery(
                id=row["id"], delivery_id=row["delivery_id"], event=row["event"], action=row["action"],
                repo=row["repo"], installation_id=row["installation_id"], serial_key=row["serial_key"],
                payload=row["payload"], attempts=attempts, received_at=row["received_at"],
            )

    def complete_delivery(
        self,
        delivery_id: int,
        owner: str,
        now: datetime,
        *,
        to_evaluate: Iterable[tuple[str, int]] = (),
        debounce: timedelta = timedelta(seconds=2),
        max_wait: timedelta = timedelta(seconds=15),
        seen_repos: Iterable[tuple[str, int | None]] = (),
        gone_repos: Iterable[str] = (),
    ) -> bool:
        """Mark done and queue its evaluations in one transaction; False if the lease was lost."""
        with self._tx() as conn:
            return self._complete(conn, delivery_id, owner, now, to_evaluate, debounce, max_wait, seen_repos,
                                  gone_repos)

    def complete_and_claim_next(
        self,
        delivery_id: int,
        owner: str,
        now: datetime,
        *,
        key: str,
        lease: timedelta,
        max_attempts: int,
        to_evaluate: Iterable[tuple[str, int]] = (),
        debounce: timedelta = timedelta(seconds=2),
        max_wait: timedelta = timedelta(seconds=15),
        seen_repos: Iterable[tuple[str, int | None]] = (),
        gone_repos: Iterable[str] = (),
    ) -> tuple[bool, ClaimedDelivery | None]:
        """complete_delivery, then claim_next_delivery of the same key, in one transaction."""
        with self._tx() as conn:
            if not self._complete(conn, delivery_id, owner, now, to_evaluate, debounce, max_wait, seen_repos,
                                  gone_repos):
                return False, None
            return True, self._claim_next(conn, key, owner, now, lease, max_attempts)

    def _complete(self, conn: Connection, delivery_id: int, owner: str, now: datetime,
                  to_evaluate: Iterable[tuple[str, int]], debounce: timedelta, max_wait: timedelta,
                  seen_repos: Iterable[tuple[str, int | None]], gone_repos: Iterable[str]) -> bool:
        updated = conn.execute(_COMPLETE_UPDATE, {"row_id": delivery_id, "owner": owner, "now": now}).rowcount
        if updated != 1:
            return False
        if to_evaluate:
            self._request_evaluations(conn, to_evaluate, now, debounce, max_wait)
        if seen_repos or gone_repos:
            self._note_repositories(conn, seen_repos, gone_repos, now)
        return True

    def fail_delivery(self, delivery_id: int, owner: str, now: datetime, error: str,
                      retry_at: datetime | None, *, count_attempt: bool = True) -> bool:
        """Record a failed attempt: back off until `retry_at`, or give up (failed) when it is None.
        `count_attempt=False` (GitHub's rate limit refused it before acting) gives the attempt back."""
        d = deliveries.c
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "last_error": error[:_MAX_ERROR_CHARS]}
        if not count_attempt:
            values["attempts"] = sa.case((d.attempts > 0, d.attempts - 1), else_=0)
        if retry_at is None:
            values.update(status=FAILED, processed_at=now, next_attempt_at=None)
        else:
            values.update(next_attempt_at=retry_at)
        with self._tx() as conn:
            return conn.execute(
                deliveries.update()
                .where(d.id == delivery_id, d.lease_owner == owner, d.status == PENDING)
                .values(**values)
            ).rowcount == 1

    def retry_failed(self, delivery_ids: Iterable[str] | None = None) -> int:
        """Put failed deliveries back in the queue (an operator's repair after fixing the cause)."""
        d = deliveries.c
        stmt = deliveries.update().where(d.status == FAILED)
        if delivery_ids is not None:
            stmt = stmt.where(d.delivery_id.in_(list(delivery_ids)))
        with self._tx() as conn:
            return conn.execute(
                stmt.values(status=PENDING, attempts=0, next_attempt_at=None, processed_at=None)
            ).rowcount

    # ------------------------------------------------------------------ retention

    def purge_done_deliveries(self, cutoff: datetime, batch_size: int = 500) -> int:
        """Delete at most `batch_size` deliveries that were done before `cutoff`, with their
        payloads; returns how many (call again while it returns `batch_size`).

        Pending and failed deliveries are never deleted. The rows are listed in a read
        transaction and deleted by id in a short write transaction that checks status and age
        again, so the webhook intake waits at most for one batch's deletes.
        """
        d = deliveries.c
        with self._read() as conn:
            ids = list(conn.execute(_PURGE_LIST, {"cutoff": cutoff, "limit": batch_size}).scalars())
        if not ids:
            return 0
        with self._tx() as conn:
            # A row may have been retried and done again since it was listed: check once more.
            gone = list(conn.execute(
                sa.select(d.id).where(d.id.in_(ids), d.status == DONE, d.processed_at < cutoff)
            ).scalars())
            if gone:
                conn.execute(delivery_payloads.delete().where(delivery_payloads.c.delivery_pk.in_(gone)))
                conn.execute(deliveries.delete().where(d.id.in_(gone)))
        return len(gone)

    # ------------------------------------------------------------------ repositories and resync

    def _note_repositories(self, conn: Connection, seen: Iterable[tuple[str, int | None]], gone: Iterable[str],
                           now: datetime) -> None:
        for repo, installation_id in sorted(set(seen), key=lambda item: item[0]):
            stmt = _insert(self.dialect, repositories).values(
                repo=repo, installation_id=installation_id, first_seen_at=now, last_resync_at=now,
                resync_requested=False,
            )
            if installation_id is not None:
                stmt = stmt.on_conflict_do_update(index_elements=["repo"], set_={"installation_id": installation_id})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=["repo"])
            conn.execute(stmt)
        gone = sorted(set(gone))
        if gone:
            conn.execute(repositories.delete().where(repositories.c.repo.in_(gone)))

    def add_repositories(self, repos: Iterable[tuple[str, int | None]], now: datetime | None = None) -> None:
        with self._tx() as conn:
            self._note_repositories(conn, repos, (), now or utcnow())

    def mark_resync_due(self, now: datetime, interval: timedelta) -> int:
        """Flag repositories whose last resync is older than `interval` (atomic across processes)."""
        r = repositories.c
        with self._tx() as conn:
            return conn.execute(
                repositories.update()
                .where(sa.or_(r.last_resync_at.is_(None), r.last_resync_at <= now - interval))
                .values(resync_requested=True, last_resync_at=now)
            ).rowcount

    def request_resync(self, repos: Iterable[str] | None = None) -> int:
        r = repositories.c
        stmt = repositories.update()
        if repos is not None:
            stmt = stmt.where(r.repo.in_(list(repos)))
        with self._tx() as conn:
            return conn.execute(stmt.values(resync_requested=True)).rowcount

    def take_resync(self, repo: str) -> bool:
        r = repositories.c
        with self._read() as conn:  # the common answer, without a write transaction
            if not conn.execute(_RESYNC_CHECK, {"repo": repo}).scalar():
                return False
        with self._tx() as conn:
            return conn.execute(
                repositories.update().where(r.repo == repo, r.resync_requested.is_(True)).values(resync_requested=False)
            ).rowcount == 1

    # ------------------------------------------------------------------ evaluations (coalescing)

    def _request_evaluations(self, conn: Connection, prs: Iterable[tuple[str, int]], now: datetime,
                             debounce: timedelta, max_wait: timedelta) -> None:
        e = evaluations.c
        for repo, number in sorted(set(prs)):  # a fixed lock order: no deadlocks between workers
            inserted = conn.execute(
                _insert(self.dialect, evaluations)
                .values(repo=repo, number=number, due_at=now + debounce, first_requested_at=now, generation=1,
                        attempts=0)
                .on_conflict_do_nothing(index_elements=["repo", "number"])
                .returning(evaluations.c.repo)
            ).first()
            if inserted is not None:
                continue
            row = conn.execute(
                sa.select(e.first_requested_at, e.generation)
                .where(e.repo == repo, e.number == number)
                .with_for_update()
            ).first()
            if row is None:  # evaluated and deleted in between: start a new burst
                conn.execute(evaluations.insert().values(repo=repo, number=number, due_at=now + debounce,
                                                         first_requested_at=now, generation=1, attempts=0))
                continue
            first = row.first_requested_at or now
            conn.execute(
                evaluations.update()
                .where(e.repo == repo, e.number == number)
                .values(first_requested_at=first, due_at=min(now + debounce, first + max_wait),
                        generation=row.generation + 1, attempts=0, last_error=None)
            )

    def request_evaluations(self, prs: Iterable[tuple[str, int]], now: datetime | None = None, *,
                            debounce: timedelta = timedelta(seconds=2),
                            max_wait: timedelta = timedelta(seconds=15)) -> None:
        with self._tx() as conn:
            self._request_evaluations(conn, prs, now or utcnow(), debounce, max_wait)

    def claim_due_evaluations(self, repo: str, now: datetime, limit: int = 50) -> list[DueEvaluation]:
        """Take the PRs of `repo` whose debounce has run out; the caller holds the repo's key lock."""
        e = evaluations.c
        with self._read() as conn:  # the common answer, without a write transaction
            if conn.execute(_EVALUATION_DUE_CHECK, {"repo": repo, "now": now}).first() is None:
                return []
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(e.number, e.generation, e.attempts)
                .where(e.repo == repo, e.due_at <= now)
                .order_by(e.due_at, e.number)
                .limit(limit)
                .with_for_update()
            ).all()
            if rows:
                # A request arriving from now on starts a new burst (and a new evaluation).
                conn.execute(
                    evaluations.update()
                    .where(e.repo == repo, e.number.in_([row.number for row in rows]))
                    .values(first_requested_at=None)
                )
        return [DueEvaluation(repo, row.number, row.generation, row.attempts) for row in rows]

    def finish_evaluation(self, due: DueEvaluation) -> None:
        """Drop the row unless a new request came in while it was evaluated."""
        e = evaluations.c
        with self._tx() as conn:
            conn.execute(
                evaluations.delete().where(e.repo == due.repo, e.number == due.number, e.generation == due.generation)
            )

    def fail_evaluation(self, due: DueEvaluation, now: datetime, error: str, retry_at: datetime | None, *,
                        count_attempt: bool = True) -> None:
        e = evaluations.c
        where = (e.repo == due.repo, e.number == due.number)
        with self._tx() as conn:
            if retry_at is None:
                conn.execute(evaluations.delete().where(*where, e.generation == due.generation))
                return
            conn.execute(
                evaluations.update().where(*where, e.generation == due.generation)
                .values(attempts=due.attempts + int(count_attempt), last_error=error[:_MAX_ERROR_CHARS],
                        due_at=retry_at)
            )

    # ------------------------------------------------------------------ report comments

    def report_comment(self, repo: str, number: int) -> int | None:
        rc = report_comments.c
        with self._read() as conn:
            return conn.execute(
                sa.select(rc.comment_id).where(rc.repo == repo, rc.number == number)
            ).scalar_one_or_none()

    def set_report_comment(self, repo: str, number: int, comment_id: int, now: datetime | None = None) -> None:
        stmt = _insert(self.dialect, report_comments).values(
            repo=repo, number=number, comment_id=comment_id, updated_at=now or utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["repo", "number"],
            set_={"comment_id": stmt.excluded.comment_id, "updated_at": stmt.excluded.updated_at},
        )
        with self._tx() as conn:
            conn.execute(stmt)

    def forget_report_comment(self, repo: str, number: int) -> None:
        rc = report_comments.c
        with self._tx() as conn:
            conn.execute(report_comments.delete().where(rc.repo == repo, rc.number == number))


class IntakeBatch:
    """Stores deliveries inside `Inbox.intake_batch`."""

    def insert(self, items: Sequence[tuple[Delivery, datetime]]) -> list[bool]:
        """Store `items` (delivery, received at); True for each new one, False for a delivery id
        stored before or earlier in `items` (a redelivery)."""
        raise NotImplementedError


class _ConnectionBatch(IntakeBatch):
    """PostgreSQL: the SQLAlchemy statements, one delivery at a time."""

    def __init__(self, inbox: Inbox, conn: Connection) -> None:
        self._inbox, self._conn = inbox, conn

    def insert(self, items: Sequence[tuple[Delivery, datetime]]) -> list[bool]:
        return [self._inbox.insert_delivery(self._conn, delivery, now) for delivery, now in items]


_SQLITE_DELIVERY_COLUMNS = ("INSERT INTO deliveries (delivery_id, event, action, repo, installation_id, serial_key, "
                            "received_at, status, attempts) VALUES ")
_SQLITE_DELIVERY_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, 0)"


class _SqliteBatch(IntakeBatch):
    """SQLite: one multi-row INSERT per table through the driver's cursor (at most 256 rows, the
    writer's batch: 2,304 parameters, well under SQLite's 32,766)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def insert(self, items: Sequence[tuple[Delivery, datetime]]) -> list[bool]:
        if not items:
            return []
        params: list[Any] = []
        bodies: list[str] = []
        for delivery, now in items:
            if now.tzinfo is None:
                raise ValueError("naive datetime given to the store: pass timezone-aware UTC times")
            # Before any row is written: a payload that is not JSON fails the batch, not half of it.
            bodies.append(delivery.body if delivery.body is not None else json.dumps(delivery.payload))
            params += (delivery.delivery_id, delivery.event, delivery.action, delivery.repo,
                       delivery.installation_id, delivery.serial_key,
                       now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"), PENDING)
        # RETURNING lists the inserted rows only, in no promised order: matched by delivery id.
        # Rows go in in order, so of a delivery id repeated within the batch the first one is new.
        rows = self._cursor.execute(
            _SQLITE_DELIVERY_COLUMNS + ", ".join([_SQLITE_DELIVERY_ROW] * len(items))
            + " ON CONFLICT (delivery_id) DO NOTHING RETURNING id, delivery_id", params).fetchall()
        inserted = {delivery_id: row_id for row_id, delivery_id in rows}
        new: list[bool] = []
        payloads: list[Any] = []
        for (delivery, _now), body in zip(items, bodies, strict=True):
            row_id = inserted.pop(delivery.delivery_id, None)
            new.append(row_id is not None)
            if row_id is not None:
                payloads += (row_id, body)
        if payloads:
            self._cursor.execute("INSERT INTO delivery_payloads (delivery_pk, payload) VALUES "
                                 + ", ".join(["(?, ?)"] * (len(payloads) // 2)), payloads)
        return new


def _record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(**{name: row[name] for name in DeliveryRecord.__dataclass_fields__})
