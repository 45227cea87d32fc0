"""Where the PR heads the bot has seen are kept (bot/commands/approval.py decides with them).

`HeadLog` is the small interface the handlers need: `record` a sighting, read a PR's `seen` list
in the order it was recorded, `forget` a closed PR. `SqlHeadLog` keeps them in the bot's database
(table `pull_heads`, migration 0004_pull_heads), so a restart does not make every PR a "first
contact"; `MemoryHeadLog` in a dict (tests, and a bot without a database). Only the newest
`KEEP` sightings per PR are kept: a command needs the head as of its comment, not the history.
"""

from __future__ import annotations

import threading
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlgate.bot.commands.approval import HeadSeen

KEEP = 20

_meta = sa.MetaData()  # its own: the table belongs to the approvals, created by migration 0004_pull_heads
pull_heads = sa.Table(
    "pull_heads",
    _meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("repo", sa.String(255), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("sha", sa.String(64), nullable=False),
    sa.Column("seen_at", sa.Float(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
)
_c = pull_heads.c


class HeadLog(Protocol):
    def record(self, repo: str, number: int, seen: HeadSeen) -> None: ...

    def seen(self, repo: str, number: int) -> list[HeadSeen]:
        """The PR's sightings, oldest recorded first."""
        ...

    def forget(self, repo: str, number: int) -> None: ...


class MemoryHeadLog:
    """In-process (lost on restart: after one, a PR's first command finds no sighting)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int], list[HeadSeen]] = {}

    def record(self, repo: str, number: int, seen: HeadSeen) -> None:
        with self._lock:
            items = self._seen.setdefault((repo, number), [])
            items.append(seen)
            del items[:-KEEP]

    def seen(self, repo: str, number: int) -> list[HeadSeen]:
        with self._lock:
            return list(self._seen.get((repo, number), ()))

    def forget(self, repo: str, number: int) -> None:
        with self._lock:
            self._seen.pop((repo, number), None)


class SqlHeadLog:
    """The sightings in the bot's database (SQLite or PostgreSQL), one short transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, repo: str, number: int, seen: HeadSeen) -> None:
        where = (_c.repo == repo, _c.number == number)
        with self.engine.begin() as conn:
            conn.execute(pull_heads.insert().values(repo=repo, number=number, sha=seen.sha, seen_at=seen.at,
                                                    source=seen.source))
            ids = [row.id for row in conn.execute(sa.select(_c.id).where(*where).order_by(_c.id.desc())
                                                  .offset(KEEP))]
            if ids:
                conn.execute(pull_heads.delete().where(_c.id.in_(ids)))

    def seen(self, repo: str, number: int) -> list[HeadSeen]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_c.sha, _c.seen_at, _c.source)
                                .where(_c.repo == repo, _c.number == number).order_by(_c.id)).all()
        return [HeadSeen(r.sha, float(r.seen_at), r.source) for r in rows]

    def forget(self, repo: str, number: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(pull_heads.delete().where(_c.repo == repo, _c.number == number))
