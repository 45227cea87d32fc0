"""The bot's database connection: engines set up for SQLite and PostgreSQL, migrations, the write gate.

SQLite (a file, WAL, busy timeout, every write transaction `BEGIN IMMEDIATE` so writers queue
instead of failing on lock upgrades) is the default; PostgreSQL lets several worker processes
share one database. Everything the bot keeps (the inbox, the merge queue's state, the heads it
saw, the deployments) goes through the engine `open_engines` returns: one pool per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.util.exc import CommandError
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from mlgate.bot.settings import normalize_database_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_ID = 0x6D6C67617465  # "mlgate": serialises concurrent migrators on PostgreSQL


class StoreError(RuntimeError):
    """The database cannot be used as configured (the message says why, without the password)."""

def create_store_engine(url: str, *, busy_timeout_ms: int = 10_000, pool_size: int = 8,
                        synchronous: str = "NORMAL", pool_timeout: float = 60) -> Engine:
    """An engine set up for the bot: WAL + busy timeout + immediate write transactions on SQLite.

    `synchronous` (SQLite only): NORMAL survives a crash of the process, FULL also a power cut.
    """
    if synchronous not in {"NORMAL", "FULL"}:
        raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    url = normalize_database_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StoreError("MLGATE_DATABASE_URL: use a SQLite file (sqlite:///path/to/mlgate.sqlite3), not memory")
        parent = Path(database).expanduser().resolve().parent
        if not parent.is_dir():
            raise StoreError(f"MLGATE_DATABASE_URL: directory {str(parent)!r} for the SQLite file does not exist")
        engine = sa.create_engine(
            parsed,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=pool_timeout,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Hand transaction control to SQLAlchemy's "begin" hook below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # NORMAL (WAL): a commit survives a crash of the process; the intake engine uses FULL
            # so that an acknowledged delivery also survives a power cut.
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            # Checkpoints run in the Inbox's background thread, not inside a writer's commit.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            busy_ms = options.get("mlgate_busy_ms")
            if busy_ms is not None:  # the intake's own bound on the wait for the write lock
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_ms)}")
            # Writers take the write lock up front: a deferred transaction that later writes can
            # fail with SQLITE_BUSY at once instead of waiting for the busy timeout.
            conn.exec_driver_sql("BEGIN" if options.get("mlgate_read_only") else "BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        # An unreachable server fails the connection after 10 s instead of the OS's TCP timeout.
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size,
                                pool_timeout=pool_timeout, connect_args=connect_args)
    raise StoreError(f"MLGATE_DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")


def _masked(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _reason(exc: BaseException, engine: Engine) -> str:
    """The driver's first line (what an operator needs), never the password."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    reason = lines[0].strip() if lines else type(orig).__name__
    password = engine.url.password
    return reason.replace(str(password), "***") if password else reason


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = conn
        before = set(MigrationContext.configure(conn).get_current_heads())
        # "heads": independent branches (features added side by side) all apply.
        command.upgrade(config, "heads")
        after = set(MigrationContext.configure(conn).get_current_heads())
    if after != before:  # Alembic's own INFO lines are muted by the CLI; one line says what changed
        log.info("database schema migrated from %s to %s", ", ".join(sorted(before)) or "empty",
                 ", ".join(sorted(after)))

class WriteGate:
    """A mutex with two classes of waiters: webhook intake goes before worker bookkeeping.

    SQLite has one writer at a time. Queuing the threads of a process here (instead of in SQLite's
    busy handler, which sleeps in growing steps) hands the lock over at once, and letting intake
    go first bounds a webhook's wait to the one worker transaction already running.
    """

    def __init__(self, urgent_streak: int = 4) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held = False
        self._urgent_waiting = 0
        self._normal_waiting = 0
        self._streak = 0  # urgent holders in a row; after `urgent_streak` a waiting worker gets a turn
        self._max_streak = urgent_streak

    @contextmanager
    def hold(self, urgent: bool = False, timeout: float | None = None) -> Iterator[None]:
        """Hold the gate; with `timeout`, raise TimeoutError when it is not free in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
                try:
                    while self._held or (self._normal_waiting and self._streak >= self._max_streak):
                        self._wait(deadline)
                finally:
                    self._urgent_waiting -= 1
                self._streak += 1
            else:
                self._normal_waiting += 1
                try:
                    while self._held or (self._urgent_waiting and self._streak < self._max_streak):
                        self._wait(deadline)
                finally:
                    self._normal_waiting -= 1
                self._streak = 0
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()

    def _wait(self, deadline: float | None) -> None:
        if deadline is None:
            self._cond.wait()
            return
        left = deadline - time.monotonic()
        if left <= 0:
            # A waiter that gives up may be what the others wait for; they wake once the condition's
            # lock is free, which is after `hold` has taken this waiter off the counts.
            self._cond.notify_all()
            raise TimeoutError("the write gate was not free in time")
        self._cond.wait(left)

_SQLITE_GATES: dict[str, WriteGate] = {}
_SQLITE_GATES_GUARD = threading.Lock()


def sqlite_write_gate(engine: Engine) -> WriteGate:
    """One gate per SQLite file per process, shared by every Inbox on that file."""
    path = str(Path(engine.url.database or "").expanduser().resolve())
    with _SQLITE_GATES_GUARD:
        return _SQLITE_GATES.setdefault(path, WriteGate())


def open_engines(url: str, *, run_migrations: bool = True, busy_timeout_ms: int = 10_000, pool_size: int = 8,
                 intake_synchronous: str = "FULL", intake_timeout: float = 5.0) -> tuple[Engine, Engine]:
    """(the engine for everything, the intake's own engine), migrated to the newest schema.

    The intake engine has a small pool of its own, so a webhook never waits for a connection the
    worker holds; on SQLite it commits with `intake_synchronous` (FULL: an acknowledged delivery
    survives a power cut). An unusable database raises StoreError saying why, without the password.
    """
    engine = create_store_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
    intake = create_store_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=2,
                                 synchronous=intake_synchronous, pool_timeout=intake_timeout)
    try:
        if run_migrations:
            migrate(engine)
    except (sa.exc.SQLAlchemyError, CommandError) as exc:
        engine.dispose()
        intake.dispose()
        raise StoreError(f"cannot use the database {_masked(engine)}: {_reason(exc, engine)}") from None
    except BaseException:
        engine.dispose()
        intake.dispose()
        raise
    return engine, intake
