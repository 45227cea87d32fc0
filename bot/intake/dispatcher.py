"""Event routing and PR evaluation: the Dispatcher the worker calls.

- `handle(event, payload, delivery_id)` routes one webhook delivery (table `ROUTES`) and returns the
  PRs whose report must be re-evaluated; slash-commands are answered right away. Unknown events and
  actions return nothing, never raise.
- `evaluate(repo, number)` reads a fresh PullFacts snapshot, the config from the PR's BASE branch,
  evaluates the review (bot/pr/review.py) and the CI/ML gates with the verdict (bot/pr/gates.py), and
  applies the actions (one report comment edited in place, the `mlgate` check run, review requests)
  through the idempotent Executor: evaluating twice with the same facts writes nothing the second
  time, so the bot never loops on the events its own writes cause.
- `resync(repo)` lists the open PRs, for the worker's periodic repair after missed webhooks.
- The merge queue (when `queue` is set, as `build_dispatcher` does): `/merge`, `/cancel`, `/retry`,
  `/try`, `/priority`, `/single` become `mlgate.bot.queue.machine` events fed to the `QueueRunner`; so do pushes to
  a queued PR's head, closing it, checks and statuses on staging/try SHAs, pushes to a base branch
  and each evaluation of a queued PR (its review and PR gates). `tick()` is the worker's timer.
- What a command approves: the PR heads the bot sees (`pull_request` events with GitHub's time, its
  own reads) go to the head log; `/merge`, `/try` and `/retry` approve the head as of the comment's
  `created_at` (bot/commands/approval.py), or exactly `/merge <sha>`, and a later push voids them with a
  reply. `/merge`, `/try` and `/retry` refuse PRs from forks unless `merge.allow_forks: true`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlgate.bot.commands.approval import READ, Approval, HeadSeen, approve, parse_time
from mlgate.bot.commands.parse import (
    Command,
    ParseResult,
    comment_permission,
    error_reply,
    help_text,
    parse_comment,
    permissions_from,
    refusal_reply,
)
from mlgate.bot.github.effects import Action, React, Reply, RequestReviewers, SetCheck, UpsertReport
from mlgate.bot.github.executor import REPORT_MARKER, Executor, reply_marker
from mlgate.bot.github.facts import CheckRun, Permission, PullFacts
from mlgate.bot.github.forge import Forge
from mlgate.bot.pr.check_rule import GATE_PREFIX, read_results
from mlgate.bot.pr.gates import GateReport, GateState, evaluate_gates
from mlgate.bot.pr.repo_config import (
    CONFIG_PATH,
    ConfigCache,
    RepoConfig,
    config_sha256,
    load_repo_config,
    push_touches_config,
)
from mlgate.bot.pr.report import GateLine, ReportData, decode_state, render_check, render_comment
from mlgate.bot.pr.review import (
    ReviewResult,
    evaluate_review,
    ownership_from_registry,
    reviewers_to_check,
    teams_to_resolve,
)
from mlgate.bot.queue.machine import ACTIVE as QUEUE_ACTIVE
from mlgate.bot.queue.machine import (
    BaseMoved,
    CancelRequested,
    Event,
    HeadPushed,
    MergeRequested,
    PriorityChanged,
    PullClosed,
    PullGates,
    QueueConfig,
    RetryRequested,
    SingleChanged,
    TryRequested,
)
from mlgate.bot.queue.runner import QUEUE_MARKER, QueueRunner, check_updates
from mlgate.bot.store.heads import HeadLog, MemoryHeadLog
from mlgate.checks.report import md

log = logging.getLogger(__name__)

PullRef = tuple[str, int]
ForgeFactory = Callable[[str, "int | None"], Forge]
CHECK_NAME = "mlgate"
QUEUE_COMMANDS = ("merge", "cancel", "retry", "try", "priority", "single")
APPROVING = ("merge", "retry", "try")  # commands that build the PR's head into this repository
FORK_REASON = ("mlgate does not build pull requests from forks into this repository unless "
               "`merge.allow_forks: true`, because staging branches in the base repository run `on: push` "
               "workflows with the base repository's secrets")
DEPLOY_COMMANDS = ("deploy", "rollback")


# ---------------------------------------------------------------------------------------------
# Which PRs a head SHA belongs to


class PullIndex:
    """head SHA → open PRs, and repo → installation id, learnt from payloads and evaluations.

    In memory and per process. A repository the index has never listed is "cold": the caller then
    re-evaluates every open PR once (a resync), which lists them. Once listed, a lookup returns the
    open PRs with that head plus those whose head is not known yet (listed but not evaluated), so a
    failed evaluation never hides a PR. The worker's periodic resync repairs anything missed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heads: dict[str, dict[int, str | None]] = {}  # repo -> number -> head sha (None: unknown)
        self._warm: set[str] = set()
        self._installations: dict[str, int] = {}

    def remember(self, repo: str, number: int, head_sha: str | None, open_: bool = True) -> None:
        with self._lock:
            heads = self._heads.setdefault(repo, {})
            if open_ and head_sha:
                heads[number] = head_sha
            else:
                heads.pop(number, None)

    def mark_warm(self, repo: str, numbers: Iterable[int]) -> None:
        """The complete list of open PRs, from a resync."""
        numbers = set(numbers)
        with self._lock:
            heads = self._heads.setdefault(repo, {})
            for gone in set(heads) - numbers:
                heads.pop(gone, None)
            for number in numbers:
                heads.setdefault(number, None)
            self._warm.add(repo)

    def pulls_with_head(self, repo: str, sha: str) -> set[int] | None:
        """Open PRs whose head is `sha` or unknown; None when this repository was never listed."""
        with self._lock:
            if repo not in self._warm:
                return None
            return {n for n, head in self._heads.get(repo, {}).items() if head in (sha, None)}

    def set_installation(self, repo: str, installation_id: int) -> None:
        with self._lock:
            self._installations[repo] = installation_id

    def installation(self, repo: str) -> int | None:
        with self._lock:
            return self._installations.get(repo)


# ---------------------------------------------------------------------------------------------
# From the gate report to what the comment shows (pure)

_LINE_STATES = {
    GateState.SUCCESS: "pass",
    GateState.FAILURE: "fail",
    GateState.ERROR: "error",
    GateState.PENDING: "pending",
    GateState.MISSING: "missing",
}
_MERGE_HINT = "comment /merge"


def gate_lines(report: GateReport) -> tuple[GateLine, ...]:
    """The gate table's rows, with the key numbers of each gate's results JSON."""
    lines = []
    for row in report.rows:
        metrics = tuple(row.result.metrics) if row.result is not None else ()
        lines.append(
            GateLine(
                name=row.name,
                state=_LINE_STATES.get(row.state, "error"),
                summary=row.summary,
                details_url=row.url,
                metrics=metrics,
                notes=tuple(row.notes),
                result=row.result,
            )
        )
    return tuple(lines)


def next_steps(report: GateReport, queue: bool = False) -> tuple[str, ...]:
    """The gate report's steps; without a merge queue (`queue` False) "comment /merge" becomes plain advice."""
    if queue:
        return tuple(report.next_steps)
    steps = []
    for step in report.next_steps:
        if _MERGE_HINT in step:
            step = "Every gate passed: this PR can be merged (the merge queue and /merge come later)."
        steps.append(step)
    return tuple(steps)


# ---------------------------------------------------------------------------------------------
# The dispatcher


@dataclass
class Handlers:
    """The Dispatcher: routes deliveries, answers commands, evaluates PRs."""

    forges: Callable[..., Forge]
    bot_login: Callable[[], str | None] | str | None = None
    config_cache: ConfigCache = field(default_factory=ConfigCache)
    index: PullIndex = field(default_factory=PullIndex)
    gate_app: str | None = None  # pin the app that must publish mlgate/<gate> runs (None: any app)
    queue: QueueRunner | None = None  # None: queue commands answer "not available" (unit tests of the rest)
    deploy_store: object | None = None  # the deployments ledger (a Store/Engine); None: /deploy not available
    queue_knobs: dict[str, Any] = field(default_factory=dict)  # QueueConfig overrides of merge.* (tests, demo)
    heads: HeadLog = field(default_factory=MemoryHeadLog)  # PR heads seen, with when (bot/store/heads.py)
    clock: Callable[[], float] = time.time
    _last_read: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)

    # --- Dispatcher protocol -------------------------------------------------------------------
    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[PullRef]:
        if not isinstance(payload, Mapping):
            return set()
        repo = _repo_name(payload)
        installation = _dig(payload, "installation", "id")
        if repo and isinstance(installation, int):
            self.index.set_installation(repo, installation)
        route = ROUTES.get(event)
        if route is None:
            return set()
        refs = route(self, payload)
        log.debug("delivery %s (%s.%s) -> %d PRs", delivery_id, event, payload.get("action"), len(refs))
        return refs

    def evaluate(self, repo: str, number: int) -> None:
        forge = self._forge(repo)
        facts = forge.pull_facts(repo, number)
        self.index.remember(repo, number, facts.head_sha, open_=facts.state == "open")
        if facts.state != "open":
            return  # a closed PR keeps its last report
        self._saw_read(facts)
        config = load_repo_config(forge, repo, facts.base_ref, self.config_cache)
        executor = Executor(forge, current_checks=facts.checks)
        existing = executor.existing_report(repo, number)
        previous = decode_state(existing[1] if existing else None)
        actions, report = self.decide(forge, facts, config, previous)
        executor.apply(actions)
        self._feed_gates(facts, report)

    def resync(self, repo: str) -> set[PullRef]:
        numbers = self._forge(repo).open_pull_numbers(repo)
        self.index.mark_warm(repo, numbers)
        self._resume_queue(repo)
        return {(repo, n) for n in numbers}

    def _resume_queue(self, repo: str) -> None:
        """The resync repairs the queue too: in-flight builds are re-asked and the checks on running
        staging SHAs re-read, so missed webhooks (or a restart) never leave a batch waiting for a timeout."""
        if self.queue is None or not self.queue.store.load(repo).version:
            return
        try:
            self.queue.resume(repo)
        except Exception as exc:  # the PRs' resync must go on; the next resync or tick tries again
            log.error("merge queue resume of %s failed (%s: %s)", repo, type(exc).__name__, exc)

    # --- evaluation --------------------------------------------------------------------------
    def decide_actions(
        self, forge: Forge, facts: PullFacts, config: RepoConfig, previous: Mapping[str, Any]
    ) -> list[Action]:
        """Review + gates + verdict → the actions for one PR (reads only what the rules need)."""
        return self.decide(forge, facts, config, previous)[0]

    def decide(
        self, forge: Forge, facts: PullFacts, config: RepoConfig, previous: Mapping[str, Any]
    ) -> tuple[list[Action], GateReport]:
        """`decide_actions`, plus the gate report (the merge queue needs its verdict and reasons)."""
        review: ReviewResult | None = None
        requests: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        state: dict[str, Any] = {"head": facts.head_sha}
        features, registry_error = (None, None)
        if config.valid and any(r.from_features for r in config.effective.review.rules):
            features, registry_error = feature_owners(forge, facts, config.effective)
        if config.valid and registry_error is None:
            cfg = config.effective
            rules = cfg.review.rules
            facts = _with_teams(forge, facts, teams_to_resolve(facts, rules, features))
            writers = _writers(forge, facts) if any(not (r.users or r.teams) for r in rules) else ()
            review = evaluate_review(facts, rules, writers=writers, features=features)
            report = evaluate_gates(facts, cfg, review, gate_app=cfg.merge.gate_app or self.gate_app,
                                    config_sha256=config.sha256, known_configs=pr_config(forge, facts, config))
            state["applying"] = [r.name for r in review.applicable]
            requests = review.review_requests(previous.get("applying") or ())
        else:
            report = evaluate_gates(facts, None, None, config_error=registry_error or config.error or "invalid")
        data = ReportData(
            facts=facts,
            config=config,
            conclusion=report.conclusion,
            headline=report.title,
            next_steps=next_steps(report, queue=self.queue is not None),
            gates=gate_lines(report),
            review=review,
            state=state,
        )
        title, summary = render_check(data)
        actions: list[Action] = [
            SetCheck(
                facts.repo, facts.head_sha, CHECK_NAME, report.check_status, report.check_conclusion, title, summary
            ),
        ]
        users, teams = requests
        users = tuple(u for u in users if u.lower() != facts.author.lower())
        if users or teams:
            actions.append(RequestReviewers(facts.repo, facts.number, users, teams))
        actions.append(UpsertReport(facts.repo, facts.number, render_comment(data)))
        return actions, report

    # --- routes ------------------------------------------------------------------------------
    def on_pull_request(self, payload: Mapping[str, Any]) -> set[PullRef]:
        repo, pr = _repo_name(payload), payload.get("pull_request")
        if not repo or not isinstance(pr, Mapping) or not isinstance(pr.get("number"), int):
            return set()
        number, action = pr["number"], payload.get("action")
        if action == "closed":
            self.index.remember(repo, number, None, open_=False)
            self.heads.forget(repo, number)
            if self._queue_tracks(repo, number):
                self._feed(payload, [PullClosed(number, merged=bool(pr.get("merged")))])
            return set()
        head = _dig(pr, "head", "sha")
        if isinstance(head, str):
            self.index.remember(repo, number, head)
            at = parse_time(pr.get("updated_at"))
            if at is not None:  # the head at GitHub's time of this event
                source = action if action in ("opened", "synchronize", "reopened") else "event"
                self.heads.record(repo, number, HeadSeen(head, at, str(source)))
            if action == "synchronize" and self._queue_tracks(repo, number):
                self._feed(payload, [HeadPushed(number, head)])
        if action in ("opened", "synchronize", "edited", "reopened", "ready_for_review"):
            return {(repo, number)}
        return set()

    def on_review(self, payload: Mapping[str, Any]) -> set[PullRef]:
        repo, number = _repo_name(payload), _dig(payload, "pull_request", "number")
        if repo and isinstance(number, int) and payload.get("action") in ("submitted", "dismissed", "edited"):
            return {(repo, number)}
        return set()

    def on_check_run(self, payload: Mapping[str, Any]) -> set[PullRef]:
        run = payload.get("check_run")
        if isinstance(run, Mapping) and isinstance(run.get("head_sha"), str) and isinstance(run.get("name"), str):
            app, text = _dig(run, "app", "slug"), _dig(run, "output", "text")
            conclusion, url = run.get("conclusion"), run.get("details_url") or run.get("html_url")
            run_id = run.get("id")
            self._feed_check(payload, CheckRun(
                name=run["name"], status=str(run.get("status") or "queued"),
                conclusion=conclusion if isinstance(conclusion, str) else None,
                app=app if isinstance(app, str) else None, head_sha=run["head_sha"],
                id=run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None,
                details_url=url if isinstance(url, str) else None, text=text if isinstance(text, str) else None))
        if payload.get("action") != "completed" or not isinstance(run, Mapping) or run.get("name") == CHECK_NAME:
            return set()  # our own check run never re-triggers an evaluation
        return self._by_head(payload, run.get("head_sha"), run.get("pull_requests"))

    def on_check_suite(self, payload: Mapping[str, Any]) -> set[PullRef]:
        suite = payload.get("check_suite")
        if payload.get("action") != "completed" or not isinstance(suite, Mapping):
            return set()
        return self._by_head(payload, suite.get("head_sha"), suite.get("pull_requests"))

    def on_status(self, payload: Mapping[str, Any]) -> set[PullRef]:
        sha, context, state = payload.get("sha"), payload.get("context"), payload.get("state")
        if isinstance(sha, str) and isinstance(context, str) and isinstance(state, str):
            done = state != "pending"
            url, status_id = payload.get("target_url"), payload.get("id")
            self._feed_check(payload, CheckRun(
                name=context, status="completed" if done else "in_progress",
                conclusion={"error": "failure"}.get(state, state) if done else None, app=None, head_sha=sha,
                id=status_id if isinstance(status_id, int) and not isinstance(status_id, bool) else None,
                details_url=url if isinstance(url, str) else None, kind="status"))
        if payload.get("state") == "pending":
            return set()  # a pending status changes nothing that a completed one will not
        return self._by_head(payload, payload.get("sha"), None)

    def on_push(self, payload: Mapping[str, Any]) -> set[PullRef]:
        repo = _repo_name(payload)
        ref, after = payload.get("ref"), payload.get("after")
        if repo and self.queue is not None and isinstance(ref, str) and ref.startswith("refs/heads/") \
                and isinstance(after, str) and after.strip("0"):
            branch = ref.removeprefix("refs/heads/")
            if self.queue.state(repo).lane(branch) is not None:
                self._feed(payload, [BaseMoved(branch, after)])
        if not repo or not push_touches_config(payload):
            return set()
        # Every open PR is re-evaluated: each reads the config of its own base, and an evaluation
        # that changes nothing writes nothing. Config pushes are rare; listing bases costs as much.
        return self.resync(repo)

    def on_installation(self, payload: Mapping[str, Any]) -> set[PullRef]:
        action = payload.get("action")
        key = {"created": "repositories", "added": "repositories_added"}.get(str(action))
        repos = payload.get(key) if key else None
        installation = _dig(payload, "installation", "id")
        refs: set[PullRef] = set()
        for item in repos if isinstance(repos, list) else ():
            name = item.get("full_name") if isinstance(item, Mapping) else None
            if isinstance(name, str) and "/" in name:
                if isinstance(installation, int):
                    self.index.set_installation(name, installation)
                refs |= self.resync(name)
        return refs

    def on_issue_comment(self, payload: Mapping[str, Any]) -> set[PullRef]:
        self.run_commands(payload)
        return set()

    # --- commands ------------------------------------------------------------------------------
    def run_commands(self, payload: Mapping[str, Any]) -> list[Action]:
        """Answer the slash-commands of a new PR comment; returns the actions applied."""
        repo, comment = _repo_name(payload), payload.get("comment")
        number = _dig(payload, "issue", "number")
        if (
            payload.get("action") != "created"  # edits are not re-executed, deletions not answered
            or not repo
            or not isinstance(comment, Mapping)
            or not isinstance(number, int)
            or not isinstance(_dig(payload, "issue", "pull_request"), Mapping)  # commands act on PRs only
        ):
            return []
        user = _dig(comment, "user", "login")
        body, comment_id = comment.get("body"), comment.get("id")
        if not isinstance(user, str) or not isinstance(body, str) or not isinstance(comment_id, int):
            return []
        if self._is_bot(comment, user, body):
            return []
        login = self._bot_login()
        parsed = parse_comment(body, bot_login=login)
        if parsed.empty:
            return []
        forge = self._forge(repo)
        default_branch = _dig(payload, "repository", "default_branch")
        perms = self._command_permissions(forge, repo, default_branch if isinstance(default_branch, str) else None)
        events: list[Event] = []
        actions = self.command_actions(forge, repo, number, comment_id, user, parsed, perms, queue_events=events,
                                       created_at=parse_time(comment.get("created_at")))
        Executor(forge).apply(actions)
        if events:
            self._feed(payload, events)
        return actions

    def _command_permissions(self, forge: Forge, repo: str, branch: str | None) -> dict[str, Permission] | None:
        """Per-command permissions from `commands.permissions` of the default branch's config.

        An issue_comment payload does not carry the PR's base; the default branch's config is a
        trusted source (never the PR head) and saves fetching the PR for every comment. Without a
        valid config the defaults apply (write for queue/deploy commands, read for /help).
        """
        if not branch:
            return None
        config = load_repo_config(forge, repo, branch, self.config_cache)
        if not config.valid or config.effective is None:
            return None
        return permissions_from(config.effective.commands.permissions)

    def command_actions(
        self,
        forge: Forge,
        repo: str,
        number: int,
        comment_id: int,
        user: str,
        parsed: ParseResult,
        perms: Mapping[str, Permission] | None = None,
        queue_events: list[Event] | None = None,
        created_at: float | None = None,
    ) -> list[Action]:
        """The reaction and reply to accepted (or refused) commands. Queue commands add their events
        to `queue_events` (fed by the caller after the reply) and need no reply text of their own:
        the queue answers in its comments; a command voided (the head moved since the comment) or
        refused (a fork) is answered here. `created_at`: the comment's time (GitHub's), which
        decides what `/merge`, `/try`, `/retry` and `/deploy` approve."""
        marker = reply_marker(comment_id)
        if parsed.errors:
            body = f"{marker}\n{error_reply(parsed.errors, perms)}"
            return [React(repo, comment_id, "confused"), Reply(repo, number, body)]
        needed = comment_permission(parsed.commands, perms)
        have = forge.permission(repo, user)
        if not have.at_least(needed):
            body = f"{marker}\n{refusal_reply(user, needed, have, parsed.commands)}"
            return [React(repo, comment_id, "confused"), Reply(repo, number, body)]
        answers: list[str] = []
        refused: set[str] = set()
        queued = [c for c in parsed.commands if c.name in QUEUE_COMMANDS]
        if self.queue is not None and queue_events is not None and queued:
            events, refusals, refused = self._queue_events(forge, repo, number, user, queued, created_at)
            queue_events.extend(events)
            answers.extend(refusals)
        for command in parsed.commands:
            if command.name in QUEUE_COMMANDS and self.queue is not None and queue_events is not None:
                continue
            if command.name in DEPLOY_COMMANDS and self.deploy_store is not None:
                answers.extend(self._deploy(forge, repo, number, command, created_at))
                continue
            answers.append(answer(command))
        nothing_ran = all(c.name in refused for c in parsed.commands)  # every command void or refused: 😕
        actions: list[Action] = [React(repo, comment_id, "confused" if nothing_ran else "+1")]
        if answers:
            actions.append(Reply(repo, number, "\n\n".join([marker, *dict.fromkeys(answers)])))
        return actions

    # --- the merge queue ---------------------------------------------------------------------------
    def tick(self) -> int:
        """The worker's timer: step `Tick` for the repositories whose queue timeouts are due."""
        return self.queue.tick() if self.queue is not None else 0

    def queue_config(self, repo: str, branch: str) -> QueueConfig | None:
        """The queue's config from `branch` (the default branch): None when missing or invalid."""
        config = load_repo_config(self._forge(repo), repo, branch, self.config_cache)
        if not config.valid or config.effective is None:
            return None
        knobs = {"config_sha256": config.sha256, "gate_app": self.gate_app, **self.queue_knobs}
        return QueueConfig.from_mlgate(config.effective, **knobs)

    def _queue_events(self, forge: Forge, repo: str, number: int, user: str, commands: list[Command],
                      created_at: float | None) -> tuple[list[Event], list[str], set[str]]:
        """The queue events of a comment's queue commands, the replies of those refused or void, and
        the names of those commands.

        `/merge`, `/try` and `/retry` build the PR into a branch of this repository: they approve
        the head as of the comment (bot/commands/approval.py) and refuse forks unless `merge.allow_forks`."""
        facts: PullFacts | None = None
        gates: tuple[str, tuple[str, ...]] = ("pending", ())
        refusals: list[str] = []
        approvals: dict[str, Approval] = {}
        if any(c.name in APPROVING for c in commands):
            facts = forge.pull_facts(repo, number)
            seen = self.heads.seen(repo, number)
            self._saw_read(facts)
            config = load_repo_config(forge, repo, facts.base_ref, self.config_cache)
            fork = fork_refusal(facts, config)
            for c in commands:
                if c.name not in APPROVING:
                    continue
                verdict = approve(c.name, seen, created_at, facts.head_sha, c.sha)
                if fork:
                    verdict = Approval(None, f"`/{c.name}`: {fork}")
                approvals[c.name] = verdict
                if not verdict.ok:
                    refusals.append(verdict.reason)
            if any(a.ok for a in approvals.values()):
                gates = self._pull_gates(forge, facts)
        events: list[Event] = []
        for c in commands:
            approved = approvals.get(c.name)
            if c.name in APPROVING and (facts is None or approved is None or not approved.ok):
                continue
            if c.name == "merge" and facts is not None:
                events.append(MergeRequested(number, facts.base_ref, facts.head_sha, user, c.priority, *gates))
            elif c.name == "retry" and facts is not None:
                events.append(RetryRequested(number, user, facts.head_sha, facts.base_ref, *gates))
            elif c.name == "try" and facts is not None:
                events.append(TryRequested(number, facts.base_ref, facts.head_sha, user))
            elif c.name == "cancel":
                events.append(CancelRequested(number, user))
            elif c.name == "priority" and c.priority is not None:
                events.append(PriorityChanged(number, c.priority, user))
            elif c.name == "single":
                events.append(SingleChanged(number, bool(c.arg("on", True)), user))
        voided = {name for name, verdict in approvals.items() if not verdict.ok}
        return events, list(dict.fromkeys(refusals)), voided

    def _saw_read(self, facts: PullFacts) -> None:
        """Remember the head this read showed, at the bot's clock (once per head: the first read is
        the evidence that counts, bot/commands/approval.py)."""
        key = (facts.repo, facts.number)
        if self._last_read.get(key) == facts.head_sha:
            return
        self.heads.record(facts.repo, facts.number, HeadSeen(facts.head_sha, self.clock(), READ))
        self._last_read[key] = facts.head_sha

    def _pull_gates(self, forge: Forge, facts: PullFacts) -> tuple[str, tuple[str, ...]]:
        """The PR's review + PR-level gates on its head: (success|pending|failure, reasons)."""
        if facts.state != "open":
            return "failure", ("the PR is not open",)
        config = load_repo_config(forge, facts.repo, facts.base_ref, self.config_cache)
        return _queue_verdict(self.decide(forge, facts, config, {})[1])

    def _feed_gates(self, facts: PullFacts, report: GateReport) -> None:
        if self.queue is None or not self._queue_tracks(facts.repo, facts.number, active=True):
            return
        conclusion, reasons = _queue_verdict(report)
        self.queue.feed(facts.repo, [PullGates(facts.number, facts.head_sha, conclusion, reasons)])

    def _after_landing(self, repo: str, sha: str, numbers: tuple[int, ...], branch: str) -> None:
        """Deploy a landed version to the `auto` environments (bot/deploy/runner.py, when present)."""
        try:
            from mlgate.bot.deploy.runner import after_landing
        except ImportError:
            return
        forge = self._forge(repo)
        config = load_repo_config(forge, repo, branch, self.config_cache)
        after_landing(forge, repo, sha, numbers, config, self.deploy_store)

    def _queue_tracks(self, repo: str, number: int, active: bool = False) -> bool:
        """Does the queue know this PR (with `active`: is it waiting, queued or being tested)?"""
        if self.queue is None:
            return False
        pull = self.queue.state(repo).pull(number)
        return pull is not None and (not active or pull.status in QUEUE_ACTIVE)

    def _feed_check(self, payload: Mapping[str, Any], run: CheckRun) -> None:
        """A check run or status on a running staging/try SHA goes to the queue as reported; the queue
        judges it with the check rule (pinned apps, results JSON, config hash) like a PR head."""
        repo = _repo_name(payload)
        if self.queue is None or not repo or not self.queue.knows_sha(repo, run.head_sha):
            return
        self._feed(payload, check_updates([run], run.head_sha))

    def _feed(self, payload: Mapping[str, Any], events: list[Event]) -> None:
        repo = _repo_name(payload)
        if self.queue is None or not repo:
            return
        branch = _dig(payload, "repository", "default_branch")
        self.queue.feed(repo, events, config_branch=branch if isinstance(branch, str) else None)

    def _deploy(self, forge: Forge, repo: str, number: int, command: Command, created_at: float | None = None
                ) -> list[str]:
        try:
            from mlgate.bot.deploy.runner import handle_deploy_command
        except ImportError:
            return [answer(command)]
        default = "main"
        if self.queue is not None:
            default = self.queue.store.load(repo).config_branch or default
        config = load_repo_config(forge, repo, default, self.config_cache)
        return list(handle_deploy_command(forge, repo, number, command, config, self.deploy_store, as_of=created_at))

    # --- helpers -------------------------------------------------------------------------------
    def _forge(self, repo: str) -> Forge:
        return self.forges(repo, self.index.installation(repo))

    def _bot_login(self) -> str | None:
        if callable(self.bot_login):
            try:
                return self.bot_login()
            except Exception:  # identity is a nicety for mentions; never fail a delivery on it
                log.warning("could not determine the bot's login", exc_info=True)
                return None
        return self.bot_login

    def _is_bot(self, comment: Mapping[str, Any], user: str, body: str) -> bool:
        """Bots (the bot itself included) are never obeyed: no loops, no bot-to-bot commands."""
        if _dig(comment, "user", "type") == "Bot" or user.endswith("[bot]"):
            return True
        if REPORT_MARKER in body or "<!-- mlgate-reply:" in body or QUEUE_MARKER in body:
            return True  # the bot's own comment, in token mode where it posts as a user
        login = self._bot_login()
        return bool(login) and user.lower() == str(login).lower().removesuffix("[bot]")

    def _by_head(self, payload: Mapping[str, Any], sha: object, pulls: object) -> set[PullRef]:
        repo = _repo_name(payload)
        if not repo or not isinstance(sha, str) or not sha:
            return set()
        refs: set[PullRef] = set()
        for pr in pulls if isinstance(pulls, list) else ():
            number = pr.get("number") if isinstance(pr, Mapping) else None
            head = _dig(pr, "head", "sha")
            base_repo = _dig(pr, "base", "repo", "name")
            if isinstance(number, int) and (head in (None, sha)) and base_repo in (None, repo.split("/")[1]):
                refs.add((repo, number))
        if refs:
            return refs
        known = self.index.pulls_with_head(repo, sha)
        if known is None:
            return self.resync(repo)  # first event for this repo since start: evaluate all open PRs once
        return {(repo, n) for n in known}


def _queue_verdict(report: GateReport) -> tuple[str, tuple[str, ...]]:
    """The PR gates as the queue sees them: success, pending or failure, and one phrase per gate in the way."""
    conclusion = report.conclusion if report.conclusion in ("success", "pending") else "failure"
    rows = (*report.blocking, *report.waiting)
    return conclusion, tuple(f"{row.name}: {_LINE_STATES.get(row.state, 'error')}" for row in rows)


def answer(command: Command) -> str:
    """The reply to one accepted command (Markdown, no user text)."""
    if command.name == "help":
        return help_text()
    if command.name in QUEUE_COMMANDS:
        return (
            f"`/{command.name}`: the merge queue is not available yet, so nothing was queued or changed. "
            "Until it is, merge with GitHub's button once the `mlgate` check is green."
        )
    if command.name in DEPLOY_COMMANDS:
        return f"`/{command.name}`: deployments are not available yet, so nothing was deployed."
    return f"`/{md(command.name)}`: not available."


ROUTES: dict[str, Callable[[Handlers, Mapping[str, Any]], set[PullRef]]] = {
    "pull_request": Handlers.on_pull_request,
    "pull_request_review": Handlers.on_review,
    "check_run": Handlers.on_check_run,
    "check_suite": Handlers.on_check_suite,
    "status": Handlers.on_status,
    "push": Handlers.on_push,
    "issue_comment": Handlers.on_issue_comment,
    "installation": Handlers.on_installation,
    "installation_repositories": Handlers.on_installation,
    "deployment_status": lambda handlers, payload: _deployment_status(handlers, payload),
}


def _deployment_status(handlers: Handlers, payload: Mapping[str, Any]) -> set[PullRef]:
    """Record a deployment's status; roll back on failure where configured (bot/deploy/runner.py)."""
    from mlgate.bot.deploy.runner import deployment_status_route

    return deployment_status_route(handlers, payload)


def fork_refusal(facts: PullFacts, config: RepoConfig) -> str | None:
    """Why this PR may not be built into the base repository (None: it may): a head in another
    repository (a fork, or a deleted one) is refused unless the base config sets `merge.allow_forks`."""
    if facts.head_repo and facts.head_repo.lower() == facts.repo.lower():
        return None
    if config.valid and config.effective.merge.allow_forks:
        return None
    where = f"the fork {md(facts.head_repo)}" if facts.head_repo else "a repository that no longer exists"
    return f"refused: this PR comes from {where}. {FORK_REASON}; nothing was done."


def pr_config(forge: Forge, facts: PullFacts, config: RepoConfig) -> dict[str, str]:
    """{hash: "the PR's own .github/mlgate.yml"} when a gate result on the head was computed with a
    config other than the base's and that config is the PR's own, so the report can say so plainly.

    Read only then (one request): the PR's file explains a refused result, it never judges one."""
    foreign = set()
    for run in facts.checks:
        if run.head_sha == facts.head_sha and run.name.startswith(GATE_PREFIX) and run.kind == "check_run":
            digest = read_results(run.text, run.name.removeprefix(GATE_PREFIX))[1].config_sha256
            if digest and digest != config.sha256:
                foreign.add(digest)
    if not foreign:
        return {}
    found = forge.read_file(facts.repo, CONFIG_PATH, facts.head_sha)
    if found is None:
        return {}
    digest = config_sha256(found[0])
    return {digest: f"the PR's own {CONFIG_PATH}"} if digest in foreign else {}


def feature_owners(forge: Forge, facts: PullFacts, cfg: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Feature ownership for `from_features` review rules, from the registry on the PR's BASE branch
    (like the config: a PR must not choose its own reviewers). An unreadable registry is an error
    that fails the `mlgate` check rather than a rule that silently applies to nothing."""
    from mlgate.checks.errors import UserError
    from mlgate.checks.gates.feature_registry import parse_registry

    path = cfg.features.registry if cfg.features else "features.yaml"
    docs_paths = cfg.features.docs_paths if cfg.features else ["docs/features/"]
    found = forge.read_file(facts.repo, path, facts.base_ref)
    if found is None:
        return None, (f"review rules use `from_features`, but the feature registry {path} does not exist on "
                      f"the base branch {facts.base_ref}")
    try:
        registry = parse_registry(found[0], f"{path}@{facts.base_ref}")
    except UserError as exc:
        return None, f"review rules use `from_features`, but the feature registry cannot be read: {exc}"
    return ownership_from_registry(registry, docs_paths), None


def build_dispatcher(settings: Any, forges: Callable[..., Forge] | None = None) -> Handlers:
    """The worker's Dispatcher for these settings (the GitHub client is bot/github/client.py's)."""
    if forges is None:
        from mlgate.bot.github.client import forge_factory

        forges = forge_factory(settings)
    login = getattr(settings, "bot_login", None) or getattr(forges, "bot_login", None)
    handlers = Handlers(forges=forges, bot_login=login)
    url = getattr(settings, "database_url", None)
    if url:
        from mlgate.bot.queue.store import QueueStore
        from mlgate.bot.store.engine import create_store_engine
        from mlgate.bot.store.heads import SqlHeadLog

        engine = create_store_engine(str(url))
        handlers.heads = SqlHeadLog(engine)
        handlers.queue = QueueRunner(QueueStore(engine), handlers._forge, handlers.queue_config,
                                     on_landed=handlers._after_landing)
        handlers.deploy_store = engine
        delay = getattr(settings, "queue_batch_delay_seconds", None)
        if isinstance(delay, (int, float)) and not isinstance(delay, bool):
            handlers.queue_knobs["batch_delay_seconds"] = float(delay)
    return handlers


# ---------------------------------------------------------------------------------------------
# small pure helpers


def _dig(data: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _repo_name(payload: Mapping[str, Any]) -> str | None:
    name = _dig(payload, "repository", "full_name")
    return name if isinstance(name, str) and "/" in name else None


def _with_teams(forge: Forge, facts: PullFacts, keys: Iterable[str]) -> PullFacts:
    """Fill `team_members` for the rules' teams ("org/team"); teams already known are kept."""
    members = dict(facts.team_members)
    known = {k.lower() for k in members}
    for key in keys:
        org, _, slug = key.partition("/")
        if key.lower() in known or not org or not slug:
            continue
        found = forge.team_members(org, slug)
        if found:
            members[key] = tuple(found)
    return dataclasses.replace(facts, team_members=members) if members != facts.team_members else facts


def _writers(forge: Forge, facts: PullFacts) -> tuple[str, ...]:
    """Reviewers with write permission: who may approve for rules that list no reviewers."""
    return tuple(u for u in dict.fromkeys(reviewers_to_check(facts)) if forge.permission(facts.repo, u).at_least(
        Permission.WRITE))
