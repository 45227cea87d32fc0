"""What the bot's tests share: HTTP mocks, databases (SQLite file and PostgreSQL), the sandbox."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from mlgate.bot.store.inbox import Inbox
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.conftest import body_passed, postgres_base_url

# ------------------------------------------------------------------------------------- HTTP mocks

@pytest.fixture
def rsps(request: pytest.FixtureRequest) -> Iterator[responses.RequestsMock]:
    """`responses` for one test. Every registered mock must be called, which is checked only when
    the test itself passed: a failed or skipped test reports that, not a second error at teardown."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        if body_passed(request.node) is False:
            mock.assert_all_requests_are_fired = False


# -------------------------------------------------------------------------------------- databases


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of `kind` ('sqlite' file or 'postgres'), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlgate.sqlite3'}"
        return
    base = postgres_base_url()
    name = f"mlgate_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DB_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, and a PostgreSQL database (the `postgres` marker)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Inbox]:
    """The bot's store on `db_url` (a test module may override it with one on a single kind)."""
    s = Inbox.open(db_url)
    yield s
    s.close()


# ---------------------------------------------------------------------------------------- sandbox


@contextmanager
def running_sandbox(data_dir: Path, users: tuple[str, ...]) -> Iterator[SandboxServer]:
    """A sandbox on a free loopback port for the duration of the block (werkzeug's request log muted)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = SandboxServer(data_dir, users=users).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """Receives and verifies the sandbox's signed webhook deliveries."""
    s = WebhookSink().start()
    yield s
    s.stop()


def sha256_of(text: str) -> str:
    """The `sha256:<hex>` digest the results JSON uses for a file's content."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
