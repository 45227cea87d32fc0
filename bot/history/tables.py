"""The history tables (migration 0005_dashboard) and their writes. Reads are in `mlgate.bot.web.queries`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlgate.bot.history.diff import BuildRow, PullEvent

metadata = sa.MetaData()  # its own: these tables belong to the history, created by migration 0005_dashboard

gate_runs = sa.Table(
    "gate_runs",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("sha", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("conclusion", sa.String(32), nullable=True),
    sa.Column("app", sa.String(255), nullable=True),
    sa.Column("summary", sa.Text(), nullable=True),
    sa.Column("results", sa.JSON(), nullable=True),
    sa.Column("recorded_at", sa.Float(), nullable=False),
)
pull_reviews = sa.Table(
    "pull_reviews",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("sha", sa.String(64), primary_key=True),
    sa.Column("conclusion", sa.String(32), nullable=False),
    sa.Column("rules", sa.JSON(), nullable=False),
    sa.Column("recorded_at", sa.Float(), nullable=False),
)
queue_builds = sa.Table(
    "queue_builds",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("build_id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("base", sa.String(255), nullable=False),
    sa.Column("pulls", sa.JSON(), nullable=False),
    sa.Column("sha", sa.String(64), nullable=True),
    sa.Column("requested_at", sa.Float(), nullable=False),
    sa.Column("finished_at", sa.Float(), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text(), nullable=True),
)
queue_events = sa.Table(
    "queue_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("repo", sa.String(255), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("at", sa.Float(), nullable=False),
    sa.Index("ix_queue_events_repo_number", "repo", "number", "id"),
)


class HistoryStore:
    """Writes of the history, on the bot's engine (`Inbox.engine`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_gate_run(self, repo: str, sha: str, name: str, *, status: str, conclusion: str | None,
                        app: str | None, summary: str | None, results: dict[str, Any] | None, at: float) -> None:
        """The newest report of check `name` on `sha` (a later report replaces an earlier one)."""
        values = {"status": status, "conclusion": conclusion, "app": app, "summary": (summary or "")[:2000],
                  "results": results, "recorded_at": at}
        key = (gate_runs.c.repo == repo) & (gate_runs.c.sha == sha) & (gate_runs.c.name == name)
        with self.engine.begin() as conn:
            if conn.execute(gate_runs.update().where(key).values(**values)).rowcount == 0:
                try:
                    conn.execute(gate_runs.insert().values(repo=repo, sha=sha, name=name, **values))
                except sa.exc.IntegrityError:  # a concurrent writer inserted it first: ours is as new
                    conn.execute(gate_runs.update().where(key).values(**values))

    def record_review(self, repo: str, number: int, sha: str, conclusion: str, rules: list[dict[str, Any]],
                      at: float) -> None:
        """The newest verdict of the review rules on one head of a PR; `recorded_at` stays the first
        evaluation's time (when the bot first judged this head: the PR page's history of heads)."""
        values = {"conclusion": conclusion, "rules": rules}
        key = (pull_reviews.c.repo == repo) & (pull_reviews.c.number == number) & (pull_reviews.c.sha == sha)
        with self.engine.begin() as conn:
            if conn.execute(pull_reviews.update().where(key).values(**values)).rowcount == 0:
                try:
                    conn.execute(pull_reviews.insert().values(repo=repo, number=number, sha=sha, recorded_at=at,
                                                              **values))
                except sa.exc.IntegrityError:
                    conn.execute(pull_reviews.update().where(key).values(**values))

    def record_queue(self, repo: str, builds: Iterable[BuildRow], events: Iterable[PullEvent]) -> None:
        """Upsert the builds that changed; append the PR events."""
        builds, events = list(builds), list(events)
        if not builds and not events:
            return
        with self.engine.begin() as conn:
            for b in builds:
                values = {"kind": b.kind, "base": b.base, "pulls": list(b.pulls), "sha": b.sha,
                          "requested_at": b.requested_at, "finished_at": b.finished_at, "outcome": b.outcome,
                          "detail": b.detail}
                key = (queue_builds.c.repo == repo) & (queue_builds.c.build_id == b.build_id)
                if conn.execute(queue_builds.update().where(key).values(**values)).rowcount == 0:
                    conn.execute(queue_builds.insert().values(repo=repo, build_id=b.build_id, **values))
            if events:
                conn.execute(queue_events.insert(), [
                    {"repo": repo, "number": e.number, "kind": e.kind, "detail": e.detail, "at": e.at}
                    for e in events])
