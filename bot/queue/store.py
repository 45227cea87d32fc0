"""Durable merge-queue state: one row per repository in `queue_state` (migration 0003_queue_state), and
who is feeding it in `queue_feed_locks` (migration 0006_queue_feed_locks).

The row holds `mlgate.bot.queue.codec.state_to_json(state)` as text, a `version` for optimistic concurrency (two
workers, or the worker's tick and a delivery, never overwrite each other: the loser re-reads and
re-applies its event, which is safe because `queue.step` is pure), the branch whose
`.github/mlgate.yml` configures the queue, and `wakeup_at` (from `queue.next_wakeup`) so the
worker's tick finds the repositories whose timeouts are due without reading every state.

A feed saves a step, then carries out its actions (a staging commit, a fast-forward): a process
killed in between leaves a saved state whose actions nobody will carry out until a timeout
(`merge.start_timeout_minutes`). So each feed holds the repository's feed lock, a row with the
feeding process and a lease its runner renews while the process lives; an expired lease means the
feeder died mid-feed, and whoever takes the lock over resumes that queue first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mlgate.bot.queue.codec import state_from_json, state_to_json
from mlgate.bot.queue.model import QueueState

metadata = sa.MetaData()  # its own: the table belongs to the queue, created by migration 0003_queue_state
queue_state = sa.Table(
    "queue_state",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("config_branch", sa.String(255), nullable=True),
    sa.Column("wakeup_at", sa.Float(), nullable=True, index=True),
    sa.Column("updated_at", sa.Float(), nullable=False),
)
_c = queue_state.c
queue_feed_locks = sa.Table(
    "queue_feed_locks",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("lease_until", sa.Float(), nullable=True, index=True),
)
_f = queue_feed_locks.c


@dataclass(frozen=True)
class FeedLock:
    """The answer of `QueueStore.acquire_feed`: held or not, and whose expired lease it replaced."""

    held: bool
    took_over_from: str | None = None  # the owner of a feed that stopped mid-way (its lease expired)


@dataclass(frozen=True)
class QueueRow:
    repo: str
    state: QueueState
    version: int  # 0: not stored yet
    config_branch: str | None = None
    wakeup_at: float | None = None


class QueueStore:
    """Load and save queue states through the bot's store engine (`Inbox.engine`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction: on the store's SQLite engine a deferred BEGIN, which never waits
        for (or blocks) writers, instead of the BEGIN IMMEDIATE its writes use."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(mlgate_read_only=True)
            with conn.begin():
                yield conn

    def load(self, repo: str) -> QueueRow:
        """The stored state, or an empty one (version 0). A damaged document raises ValueError."""
        with self._read() as conn:
            row = conn.execute(sa.select(queue_state).where(_c.repo == repo)).first()
        if row is None:
            return QueueRow(repo, QueueState(repo), 0)
        try:
            state = state_from_json(json.loads(row.state))
        except (ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"stored merge-queue state of {repo} is unreadable: {exc}") from exc
        return QueueRow(repo, state, row.version, row.config_branch, row.wakeup_at)

    def save(self, row: QueueRow, state: QueueState, *, wakeup_at: float | None, now: float,
             config_branch: str | None = None) -> bool:
        """Write `state` if nobody saved since `row` was loaded; False means: re-read and re-apply."""
        text = json.dumps(state_to_json(state), separators=(",", ":"), sort_keys=True)
        branch = config_branch or row.config_branch
        values = {"state": text, "version": row.version + 1, "config_branch": branch, "wakeup_at": wakeup_at,
                  "updated_at": now}
        with self.engine.begin() as conn:
            if row.version == 0:
                exists = conn.execute(sa.select(_c.version).where(_c.repo == row.repo)).first()
                if exists is not None:
                    return False
                try:
                    conn.execute(queue_state.insert().values(repo=row.repo, **values))
                except sa.exc.IntegrityError:  # another writer inserted first
                    return False
                return True
            done = conn.execute(queue_state.update().where(_c.repo == row.repo, _c.version == row.version)
                                .values(**values))
            return done.rowcount == 1

    def set_config_branch(self, repo: str, branch: str) -> None:
        """Remember which branch configures the queue (the default branch), for ticks without a payload."""
        with self.engine.begin() as conn:
            conn.execute(queue_state.update().where(_c.repo == repo, _c.config_branch.is_distinct_from(branch))
                         .values(config_branch=branch))

    def due(self, now: float, limit: int = 100) -> list[str]:
        """Repositories whose queue wants a Tick by `now`."""
        with self._read() as conn:
            rows = conn.execute(sa.select(_c.repo).where(_c.wakeup_at.is_not(None), _c.wakeup_at <= now)
                                .order_by(_c.wakeup_at).limit(limit))
            return [r.repo for r in rows]

    # --- feed locks: one feed per repository at a time, across processes ------------------------
    def acquire_feed(self, repo: str, owner: str, now: float, lease: float) -> FeedLock:
        """Take the repository's feed lock when it is free, ours, or its lease expired before `now`."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(_f.owner, _f.lease_until).where(_f.repo == repo).with_for_update()).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(queue_feed_locks.insert().values(repo=repo, owner=owner, lease_until=now + lease))
                except sa.exc.IntegrityError:  # another process inserted it first: it holds it now
                    return FeedLock(False)
                return FeedLock(True)
            expired = row.lease_until is not None and row.lease_until < now
            if row.owner is not None and row.owner != owner and not expired:
                return FeedLock(False)
            conn.execute(queue_feed_locks.update().where(_f.repo == repo).values(owner=owner, lease_until=now + lease))
        # an expired lease: its feed stopped mid-way (another process died, or this one's resume failed)
        return FeedLock(True, row.owner if row.owner is not None and expired else None)

    def release_feed(self, repo: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(queue_feed_locks.update().where(_f.repo == repo, _f.owner == owner)
                         .values(owner=None, lease_until=None))

    def holds_feed(self, repo: str, owner: str, now: float) -> bool:
        """Does `owner` still hold the repository's feed lock under a lease that has not run out? A feed
        asks before each write to GitHub: once its lease ran out another process may have taken over."""
        with self._read() as conn:
            row = conn.execute(sa.select(_f.owner, _f.lease_until).where(_f.repo == repo)).first()
        return row is not None and row.owner == owner and row.lease_until is not None and row.lease_until >= now

    def renew_feeds(self, repos: list[str], owner: str, until: float) -> None:
        """The runner's heartbeat: push forward the leases of the feeds this process is running."""
        if not repos:
            return
        with self.engine.begin() as conn:
            conn.execute(queue_feed_locks.update().where(_f.repo.in_(repos), _f.owner == owner)
                         .values(lease_until=until))

    def abandoned_feeds(self, now: float, limit: int = 100) -> list[str]:
        """Repositories whose feed lock is still held under a lease that expired: the feeder died mid-feed."""
        with self._read() as conn:
            rows = conn.execute(sa.select(_f.repo).where(_f.owner.is_not(None), _f.lease_until < now)
                                .order_by(_f.lease_until).limit(limit))
            return [r.repo for r in rows]
