"""Keeps the alerts of a repository: gather the facts (the bot's store), decide (decide.py), store,
then write the GitHub issues.

Called by the history recorder when checks on a landed commit or a deployment changed, and by the
worker's tick once a minute (queue changes, timeouts and staleness by the clock). The store is
written first: the dashboard shows an alert even when GitHub is down, and an issue write that
failed is retried at the next evaluation (`synced` stays false until GitHub has the text).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlgate.bot.alerts.decide import issue_body, plan, raised, settings_of
from mlgate.bot.alerts.issues import IssueWriter
from mlgate.bot.alerts.model import (
    OPEN,
    RESOLVED,
    Alert,
    BuildFact,
    DeploymentFact,
    Facts,
    Freshness,
    GateOnCommit,
    LandedCommit,
)
from mlgate.bot.alerts.store import AlertStore
from mlgate.bot.deploy.ledger import deploy_records
from mlgate.bot.history.tables import gate_runs, queue_builds
from mlgate.checks.config.models import MlgateConfig

log = logging.getLogger(__name__)

ConfigFor = Callable[[str], "MlgateConfig | None"]  # repo -> its default branch's config (None: none or invalid)
IssuesFor = Callable[[str], IssueWriter]
TICK_SECONDS = 60.0


def _epoch(iso: object) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def gather(engine: Engine, repo: str, config: MlgateConfig | None, now: float) -> Facts:
    """The facts of one repository, from the bot's tables."""
    with engine.connect() as conn:
        builds = conn.execute(sa.select(queue_builds).where(queue_builds.c.repo == repo,
                                                            queue_builds.c.kind == "batch")
                              .order_by(queue_builds.c.build_id)).all()
        landed_by_base: dict[str, Any] = {}
        newest_finished: dict[str, Any] = {}
        running = []
        for b in builds:
            if b.outcome == "landed" and b.sha:
                landed_by_base[b.base] = b
            if b.finished_at is None:
                running.append(b)
            else:
                newest_finished[b.base] = b
        landed, fresh = [], []
        staleness = config.data.staleness if config is not None and config.data is not None else None
        for base, b in sorted(landed_by_base.items()):
            runs = conn.execute(sa.select(gate_runs).where(gate_runs.c.repo == repo, gate_runs.c.sha == b.sha)).all()
            landed.append(LandedCommit(base, b.sha, b.finished_at or b.requested_at, tuple(
                GateOnCommit(r.name, r.conclusion, str((r.results or {}).get("summary") or r.summary or ""))
                for r in sorted(runs, key=lambda r: r.name) if r.status == "completed")))
            data = next((r for r in runs if r.name == "mlgate/data"), None)
            digest = data.results if data is not None and isinstance(data.results, dict) else None
            if digest:
                age = next((m for m in digest.get("metrics") or () if m.get("name") == "age_days"), None)
                newest = (digest.get("details") or {}).get("newest")
                if age is not None or newest:
                    fresh.append(Freshness(
                        base, b.sha, newest, age.get("value") if age else None, age.get("status") if age else None,
                        staleness.max_age_days if staleness else None,
                        pinned_now=bool(staleness and staleness.now), newest_epoch=_epoch(newest)))
        deps = conn.execute(sa.select(deploy_records).where(deploy_records.c.repo == repo)).all()
    deployments = tuple(DeploymentFact(d.environment, int(d.deployment_id), d.sha, d.state, d.rollback_of,
                                       d.updated_at.timestamp()) for d in deps)
    build_facts = tuple(BuildFact(b.base, b.build_id, b.sha, tuple(b.pulls or ()), b.requested_at, b.finished_at,
                                  b.outcome, b.detail or "") for b in [*running, *newest_finished.values()])
    timeout = config.merge.timeout_minutes if config is not None else 120.0
    return Facts(repo, now, tuple(landed), tuple(fresh), deployments, build_facts, timeout)


class AlertKeeper:
    """gather → decide → store → GitHub issues, per repository (one at a time in this process)."""

    def __init__(self, engine: Engine, config_for: ConfigFor, issues_for: IssuesFor, *,
                 clock: Callable[[], float] = time.time, dashboard_url: str | None = None) -> None:
        self.engine, self.config_for, self.issues_for, self.clock = engine, config_for, issues_for, clock
        self.store = AlertStore(engine)
        self.dashboard_url = dashboard_url
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._next_tick = 0.0

    def __call__(self, repo: str, what: str = "") -> None:
        """A recorder's listener: checks matter only on a landed commit; a deployment status always does."""
        if what.startswith("checks:") and not self._landed(repo, what.removeprefix("checks:")):
            return
        self.refresh(repo)

    def _landed(self, repo: str, sha: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(queue_builds.c.build_id).where(
                queue_builds.c.repo == repo, queue_builds.c.sha == sha, queue_builds.c.outcome == "landed")
            ).first() is not None

    def refresh(self, repo: str) -> None:
        with self._guard:
            lock = self._locks.setdefault(repo, threading.Lock())
        with lock:
            self._refresh(repo)

    def known_repos(self) -> list[str]:
        with self.engine.connect() as conn:
            q = sa.union(sa.select(queue_builds.c.repo), sa.select(deploy_records.c.repo))
            return sorted(r[0] for r in conn.execute(q))

    def tick(self) -> None:
        """The worker's timer (every second): every TICK_SECONDS, re-evaluate every repository (a batch
        past its timeout, data gone stale by the clock)."""
        now = self.clock()
        if now < self._next_tick:
            return
        self._next_tick = now + TICK_SECONDS
        for repo in self.known_repos():
            try:
                self.refresh(repo)
            except Exception as exc:  # one repository must not stop the others
                log.error("alerts of %s: %s: %s", repo, type(exc).__name__, exc)

    def _refresh(self, repo: str) -> None:
        config = self.config_for(repo)
        settings = settings_of(config)
        now = self.clock()
        facts = gather(self.engine, repo, config, now)
        stored = self.store.load(repo)
        changes = plan(raised(facts, settings), stored)
        for change in changes:
            if change.action == "open":
                self.store.opened(repo, change.alert, now)
            elif change.action == "update":
                self.store.updated(repo, change.alert, now)
            else:
                self.store.resolved(repo, change.alert.key, now)
            log.info("alert %s of %s: %s", change.alert.key, repo, change.action)
        if settings.issues:
            self._sync(repo, settings)

    def _sync(self, repo: str, settings: Any) -> None:
        """Make each unsynced alert's issue say what its row says (create, edit, reopen or close)."""
        pending = [a for a in self.store.load(repo).values() if not a.synced]
        if not pending:
            return
        writer = self.issues_for(repo)
        url = f"{self.dashboard_url.rstrip('/')}/{repo}/alerts" if self.dashboard_url else None
        for a in pending:
            alert = Alert(a.key, a.kind, a.title, a.body)
            try:
                if a.state == OPEN:
                    body = issue_body(alert, settings, dashboard_url=url)
                    number = a.issue_number
                    if number is None:
                        number = writer.create_issue(repo, a.title, body, (settings.label,))
                    else:
                        writer.edit_issue(repo, number, title=a.title, body=body, state="open")
                    self.store.synced(repo, a.key, number)
                elif a.state == RESOLVED:
                    if a.issue_number is not None:
                        body = issue_body(alert, settings, resolved_at=a.resolved_at, dashboard_url=url)
                        writer.edit_issue(repo, a.issue_number, title=a.title, body=body, state="closed")
                    self.store.synced(repo, a.key, a.issue_number)
            except Exception as exc:  # retried at the next evaluation: the row stays unsynced
                log.error("alert issue %s of %s not written (%s: %s); retried later", a.key, repo,
                          type(exc).__name__, exc)

