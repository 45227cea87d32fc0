"""Read-only queries of the bot's store, as plain page data for the views (gather; no rendering).

Everything here reads; nothing writes. The sources are the bot's own tables: the merge queue's
state (queue_state), its history (queue_builds, queue_events), gate results per commit
(gate_runs), the heads the bot saw (pull_heads), the deployments ledger (deploy_versions,
deploy_records) and the alerts.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mlgate.bot.alerts.store import alerts
from mlgate.bot.commands.heads import pull_heads
from mlgate.bot.deploy.ledger import deploy_records, deploy_versions
from mlgate.bot.history.tables import gate_runs, pull_reviews, queue_builds, queue_events
from mlgate.bot.queue.codec import state_from_json
from mlgate.bot.queue.model import ACTIVE, QUEUED, TESTING, WAITING, Build, QueueState, lane_summary, queue_order
from mlgate.bot.queue.store import queue_state
from mlgate.bot.store.tables import repositories

BATCHES_SHOWN = 50


@dataclass(frozen=True)
class CheckView:
    name: str
    status: str
    conclusion: str | None


@dataclass(frozen=True)
class WaitingPull:
    number: int
    priority: int
    single: bool
    status: str
    waiting_on: str


@dataclass(frozen=True)
class RunningBuild:
    """One build in flight: the running batch, or a speculative one stacked on it (merge.parallel)."""
    build_id: int
    pulls: tuple[int, ...]
    sha: str | None
    state: str
    since: float | None
    checks: tuple[CheckView, ...] = ()


@dataclass(frozen=True)
class LaneView:
    base: str
    base_sha: str | None
    running: tuple[RunningBuild, ...] = ()  # landing order: the first lands first
    waiting: tuple[WaitingPull, ...] = ()
    summary: str = ""  # the queue's one line (paused, held, what is tested), as the report shows it
    paused: bool = False
    probes: tuple[RunningBuild, ...] = ()  # parts of a failed batch tested on the tip; they never land


@dataclass(frozen=True)
class BuildView:
    build_id: int
    kind: str
    base: str
    pulls: tuple[int, ...]
    sha: str | None
    outcome: str
    requested_at: float
    finished_at: float | None
    detail: str

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.requested_at


@dataclass(frozen=True)
class AlertView:
    key: str
    kind: str
    title: str
    body: str
    state: str
    issue_number: int | None
    opened_at: float
    resolved_at: float | None


@dataclass
class RepoSummary:
    repo: str
    queue_length: int = 0
    main_gates: str = "unknown"  # passing, failing, unknown (the newest landed commit's gates)
    newest_alert: AlertView | None = None


@dataclass
class RepoPage:
    repo: str
    lanes: list[LaneView] = field(default_factory=list)
    builds: list[BuildView] = field(default_factory=list)
    ci_runs_per_merged_pr: float | None = None
    median_merge_seconds: float | None = None
    merged: int = 0


@contextmanager
def _read(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn = conn.execution_options(mlgate_read_only=True)
        with conn.begin():
            yield conn


def _state(conn: Connection, repo: str) -> QueueState:
    row = conn.execute(sa.select(queue_state.c.state).where(queue_state.c.repo == repo)).first()
    if row is None:
        return QueueState(repo)
    try:
        return state_from_json(json.loads(row.state))
    except (ValueError, json.JSONDecodeError):
        return QueueState(repo)


def config_branch(engine: Engine, repo: str) -> str:
    """The branch whose `.github/mlgate.yml` configures the repository (the queue's, else main)."""
    with _read(engine) as conn:
        row = conn.execute(sa.select(queue_state.c.config_branch).where(queue_state.c.repo == repo)).first()
    return (row.config_branch if row is not None else None) or "main"


def known_repos(engine: Engine) -> list[str]:
    """Every repository the bot has a record of (names are case-preserved as GitHub sent them)."""
    with _read(engine) as conn:
        q = sa.union(sa.select(repositories.c.repo), sa.select(queue_state.c.repo), sa.select(gate_runs.c.repo),
                     sa.select(deploy_records.c.repo), sa.select(alerts.c.repo))
        return sorted({r[0] for r in conn.execute(q)}, key=str.lower)


def find_repo(engine: Engine, owner: str, name: str) -> str | None:
    """The stored spelling of owner/name (GitHub's names are case-insensitive), or None."""
    wanted = f"{owner}/{name}".lower()
    return next((r for r in known_repos(engine) if r.lower() == wanted), None)


def _alert(row: Any) -> AlertView:
    return AlertView(row.key, row.kind, row.title, row.body, row.state, row.issue_number, row.opened_at,
                     row.resolved_at)


def repo_alerts(engine: Engine, repo: str) -> list[AlertView]:
    """Open alerts first (newest first), then resolved ones (newest first)."""
    with _read(engine) as conn:
        rows = conn.execute(sa.select(alerts).where(alerts.c.repo == repo)).all()
    views = [_alert(r) for r in rows]
    return sorted(views, key=lambda a: (a.state != "open", -(a.resolved_at or a.opened_at)))


def _landed_builds(conn: Connection, repo: str) -> list[Any]:
    return list(conn.execute(sa.select(queue_builds).where(
        queue_builds.c.repo == repo, queue_builds.c.kind == "batch", queue_builds.c.outcome == "landed",
        queue_builds.c.sha.is_not(None)).order_by(queue_builds.c.finished_at, queue_builds.c.build_id)))


def summary(engine: Engine, repo: str) -> RepoSummary:
    out = RepoSummary(repo)
    with _read(engine) as conn:
        state = _state(conn, repo)
        out.queue_length = sum(1 for p in state.pulls if p.status in ACTIVE)
        landed = _landed_builds(conn, repo)
        if landed:
            runs = conn.execute(sa.select(gate_runs.c.conclusion, gate_runs.c.status).where(
                gate_runs.c.repo == repo, gate_runs.c.sha == landed[-1].sha)).all()
            done = [r.conclusion for r in runs if r.status == "completed"]
            if done:
                out.main_gates = "failing" if any(c not in ("success", "neutral", "skipped") for c in done) \
                    else "passing"
    found = repo_alerts(engine, repo)
    out.newest_alert = found[0] if found and found[0].state == "open" else None
    return out


def _waiting(state: QueueState, base: str) -> tuple[WaitingPull, ...]:
    """PRs of `base` not yet in a build, in the order the queue will try them (`queue_order`, the one
    source of that order): the bisection's suspects, the ready PRs by priority and /merge order, then
    the PRs still waiting on their review or gates."""
    lane = state.lane(base)
    building = {n for b in lane.chain for n in b.numbers} if lane else set()
    suspects = set(lane.suspects) if lane else set()
    probed = {n: b.id for b in lane.probes for n in b.numbers} if lane else {}
    out = []
    for p in queue_order(state, base):
        if p.number in building:
            continue
        if p.held:
            why = f"held by {p.held_by}" if p.held_by else "held (/hold)"
        elif p.number in probed:
            why = f"in bisection probe {probed[p.number]}: its batch failed"
        elif p.number in suspects:
            why = "re-test: its batch failed (bisecting)"
        elif p.status == QUEUED:
            why = "built alone" if p.single or p.alone_next else "the next batch"
        else:
            why = p.reason or "its review and gates"
        out.append(WaitingPull(p.number, p.priority, p.single, p.status, why))
    return tuple(out)


def _running(build: Build) -> RunningBuild:
    checks = {c.name: CheckView(c.name, c.status, c.conclusion) for c in build.checks}
    return RunningBuild(build.id, build.numbers, build.sha, build.state, build.created_at or build.requested_at,
                        tuple(checks[n] for n in sorted(checks)))


def repo_page(engine: Engine, repo: str) -> RepoPage:
    page = RepoPage(repo)
    with _read(engine) as conn:
        state = _state(conn, repo)
        bases = sorted({lane.base for lane in state.lanes} | {p.base for p in state.pulls if p.status in ACTIVE})
        for base in bases:
            lane = state.lane(base)
            view = LaneView(base, lane.base_sha if lane else None,
                            tuple(_running(b) for b in (lane.chain if lane else ())), _waiting(state, base),
                            lane_summary(lane, state) if lane else "",
                            bool(lane and lane.paused is not None),
                            tuple(_running(b) for b in (lane.probes if lane else ())))
            page.lanes.append(view)
        rows = conn.execute(sa.select(queue_builds).where(queue_builds.c.repo == repo, queue_builds.c.kind == "batch")
                            .order_by(queue_builds.c.build_id.desc()).limit(BATCHES_SHOWN)).all()
        page.builds = [BuildView(r.build_id, r.kind, r.base, tuple(r.pulls or ()), r.sha, r.outcome, r.requested_at,
                                 r.finished_at, r.detail or "") for r in rows]
        all_builds = conn.execute(sa.select(sa.func.count()).select_from(queue_builds).where(
            queue_builds.c.repo == repo, queue_builds.c.kind == "batch", queue_builds.c.sha.is_not(None))).scalar()
        events = conn.execute(sa.select(queue_events).where(queue_events.c.repo == repo)
                              .order_by(queue_events.c.id)).all()
    first_queued: dict[int, float] = {}
    waits = []
    for e in events:
        if e.kind in (WAITING, QUEUED, TESTING) and e.number not in first_queued:
            first_queued[e.number] = e.at
        elif e.kind == "merged" and e.number in first_queued:
            waits.append(e.at - first_queued.pop(e.number))
        elif e.kind in ("failed", "cancelled"):
            first_queued.pop(e.number, None)
    page.merged = sum(1 for e in events if e.kind == "merged")
    if page.merged:
        page.ci_runs_per_merged_pr = (all_builds or 0) / page.merged
    if waits:
        page.median_merge_seconds = statistics.median(waits)
    return page


@dataclass(frozen=True)
class GateCell:
    name: str
    status: str
    conclusion: str | None
    summary: str


@dataclass(frozen=True)
class RuleView:
    name: str
    status: str
    summary: str
    approved_by: tuple[str, ...]
    reviewers: str


@dataclass(frozen=True)
class HeadView:
    sha: str
    seen_at: float
    gates: tuple[GateCell, ...]
    verdict: str | None = None  # the bot's `mlgate` verdict on this head, when it evaluated it
    rules: tuple[RuleView, ...] = ()


@dataclass(frozen=True)
class EventView:
    kind: str
    detail: str
    at: float


@dataclass
class PullPage:
    repo: str
    number: int
    heads: list[HeadView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    status: str | None = None
    reason: str = ""


def pull_page(engine: Engine, repo: str, number: int) -> PullPage | None:
    """The PR's heads (newest first) with the checks reported on each, and its queue events; None if unknown."""
    page = PullPage(repo, number)
    with _read(engine) as conn:
        heads = conn.execute(sa.select(pull_heads).where(pull_heads.c.repo == repo, pull_heads.c.number == number)
                             .order_by(pull_heads.c.id)).all()
        first: dict[str, float] = {}
        for h in heads:
            first.setdefault(h.sha, h.seen_at)
        # the head log forgets a PR once it is closed; the review verdicts the bot recorded remain
        for r in conn.execute(sa.select(pull_reviews.c.sha, pull_reviews.c.recorded_at).where(
                pull_reviews.c.repo == repo, pull_reviews.c.number == number)):
            first[r.sha] = min(first.get(r.sha, r.recorded_at), r.recorded_at)
        for sha, seen in sorted(first.items(), key=lambda kv: -kv[1]):
            runs = conn.execute(sa.select(gate_runs).where(gate_runs.c.repo == repo, gate_runs.c.sha == sha)
                                .order_by(gate_runs.c.name)).all()
            review = conn.execute(sa.select(pull_reviews).where(
                pull_reviews.c.repo == repo, pull_reviews.c.number == number, pull_reviews.c.sha == sha)).first()
            rules = tuple(RuleView(str(r.get("name")), str(r.get("status")), str(r.get("summary")),
                                   tuple(str(u) for u in r.get("approved_by") or ()), str(r.get("reviewers")))
                          for r in (review.rules if review is not None else ()) if isinstance(r, dict))
            page.heads.append(HeadView(sha, seen, tuple(GateCell(r.name, r.status, r.conclusion, r.summary or "")
                                                         for r in runs),
                                       review.conclusion if review is not None else None, rules))
        events = conn.execute(sa.select(queue_events).where(queue_events.c.repo == repo,
                                                            queue_events.c.number == number)
                              .order_by(queue_events.c.id)).all()
        page.events = [EventView(e.kind, e.detail or "", e.at) for e in events]
        pull = _state(conn, repo).pull(number)
    if pull is not None:
        page.status, page.reason = pull.status, pull.reason
    if not page.heads and not page.events and pull is None:
        return None
    return page


@dataclass(frozen=True)
class Point:
    sha: str
    at: float
    value: float


@dataclass
class ModelsPage:
    repo: str
    series: dict[str, dict[str, list[Point]]] = field(default_factory=dict)  # gate -> "metric [slice]" -> points
    verdicts: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)  # sha, at, gate -> conclusion
    freshness: tuple[str, str, str] | None = None  # newest data timestamp, the commit, the age metric's status
    unused: list[str] = field(default_factory=list)
    registry_path: str | None = None


def models_page(engine: Engine, repo: str) -> ModelsPage:
    """Every gate's metrics on each landed commit (oldest first), data freshness, unused features."""
    page = ModelsPage(repo)
    with _read(engine) as conn:
        for b in _landed_builds(conn, repo):
            runs = conn.execute(sa.select(gate_runs).where(gate_runs.c.repo == repo, gate_runs.c.sha == b.sha)).all()
            at = b.finished_at or b.requested_at
            page.verdicts.append((b.sha, at, {r.name: r.conclusion or r.status for r in runs}))
            for r in runs:
                digest = r.results if isinstance(r.results, dict) else {}
                for m in digest.get("metrics") or ():
                    if not isinstance(m.get("value"), (int, float)):
                        continue
                    label = m["name"] if m.get("slice") in (None, "all") else f"{m['name']} [{m['slice']}]"
                    page.series.setdefault(r.name, {}).setdefault(label, []).append(Point(b.sha, at, float(m["value"])))
                if r.name == "mlgate/data" and (digest.get("details") or {}).get("newest"):
                    age: dict[str, Any] = next(
                        (m for m in digest.get("metrics") or () if m.get("name") == "age_days"), {})
                    page.freshness = (str(digest["details"]["newest"]), b.sha, str(age.get("status") or "—"))
                if r.name == "mlgate/features":
                    page.registry_path = (digest.get("details") or {}).get("registry")
                    page.unused = [str(x) for f in digest.get("findings") or () if f.get("code") == "features.unused"
                                   for x in f.get("examples") or ()]
    return page


@dataclass(frozen=True)
class DeploymentView:
    id: int
    environment: str
    sha: str
    state: str
    rollback_of: int | None
    created_at: float
    updated_at: float
    model: str | None
    data: str | None
    prs: tuple[int, ...]
    requested_by: str = ""
    has_card: bool = False  # the version's model card (mlgate.card/v1) was recorded at landing


def model_card(engine: Engine, repo: str, sha: str) -> dict[str, Any] | None:
    """The model card recorded with the landed version `sha` (built from its gate results at landing and
    rebuilt for each deployment), or None when the version or its card is unknown."""
    with _read(engine) as conn:
        row = conn.execute(sa.select(deploy_versions.c.version).where(
            deploy_versions.c.repo == repo, deploy_versions.c.sha == sha).order_by(deploy_versions.c.id.desc())
            .limit(1)).first()
    version = row.version if row is not None and isinstance(row.version, dict) else {}
    card = version.get("card")
    return card if isinstance(card, dict) else None


def deployments_page(engine: Engine, repo: str) -> tuple[dict[str, DeploymentView], list[DeploymentView]]:
    """(per environment the current version: its newest successful deployment; every deployment, newest first)."""
    with _read(engine) as conn:
        versions: dict[str, dict[str, Any]] = {}
        for v in conn.execute(sa.select(deploy_versions).where(deploy_versions.c.repo == repo)
                              .order_by(deploy_versions.c.id)):
            versions[v.sha] = v.version if isinstance(v.version, dict) else {}
        rows = conn.execute(sa.select(deploy_records).where(deploy_records.c.repo == repo)
                            .order_by(deploy_records.c.deployment_id.desc())).all()
    history = []
    for r in rows:
        found = versions.get(r.sha, {})
        history.append(DeploymentView(int(r.deployment_id), r.environment, r.sha, r.state, r.rollback_of,
                                      r.created_at.timestamp(), r.updated_at.timestamp(), found.get("model"),
                                      found.get("data"), tuple(found.get("prs") or ()), r.requested_by or "",
                                      isinstance(found.get("card"), dict)))
    current: dict[str, DeploymentView] = {}
    for d in history:
        if d.state == "success" and d.environment not in current:
            current[d.environment] = d
    return dict(sorted(current.items())), history
