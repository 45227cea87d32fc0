"""The Dispatcher the worker calls: routes each delivery, answers commands, evaluates PRs.

Every route follows one rhythm: **gather** what the decision needs (the payload, then GitHub
through the Forge), **decide** with a pure function, **execute** (GitHub writes through the
Executor, merge-queue events through the QueueRunner, deployments through the deploy runner).

- `handle(event, payload, delivery_id)` routes one delivery (table `ROUTES`) and returns the PRs
  whose report must be re-evaluated; slash-commands are answered right away (commands/run.py).
  Unknown events and actions return nothing, never raise.
- `evaluate(repo, number)` reads a fresh PullFacts snapshot, the config from the PR's BASE branch
  and what the rules need (pr/gather.py), decides the `mlgate` check, the report comment and the
  review requests (pr/evaluation.py) and applies them through the idempotent Executor: evaluating
  twice with the same facts writes nothing the second time, so the bot never loops on the events
  its own writes cause.
- `resync(repo)` lists the open PRs, for the worker's periodic repair after missed webhooks.
- The merge queue (when `queue` is set, as `mlgate.bot.wiring.build_dispatcher` does): `/merge`,
  `/cancel`, `/retry`, `/try`, `/priority`, `/single` become queue events fed to the
  `QueueRunner`; so do pushes to a queued PR's head, closing it, checks and statuses on
  staging/try SHAs, pushes to a base branch and each evaluation of a queued PR (its review and PR
  gates). `tick()` is the worker's timer.
- What a command approves: the PR heads the bot sees (`pull_request` events with GitHub's time, its
  own reads) go to the head log; `/merge`, `/try` and `/retry` approve the head as of the comment's
  `created_at` (bot/commands/approval.py), or exactly `/merge <sha>`, and a later push voids them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlgate.bot.commands.approval import READ, HeadSeen
from mlgate.bot.commands.heads import HeadLog, MemoryHeadLog
from mlgate.bot.commands.parse import parse_comment
from mlgate.bot.commands.plan import PullGatesVerdict
from mlgate.bot.commands.run import answer_commands, command_permissions
from mlgate.bot.deploy.ledger import DeployLedger
from mlgate.bot.deploy.runner import after_landing, on_deployment_status
from mlgate.bot.github.effects import Action
from mlgate.bot.github.executor import Executor
from mlgate.bot.github.facts import CheckRun, PullFacts
from mlgate.bot.github.forge import Forge, ForgeFactory
from mlgate.bot.github.payloads import (
    MergeGroup,
    PullComment,
    check_run_of,
    dig,
    group_of_check,
    merge_group_of,
    parse_time,
    pull_comment_of,
    pulls_with_head,
    repo_name,
    status_of,
)
from mlgate.bot.intake.pull_index import PullIndex
from mlgate.bot.pr.evaluation import Evaluation, evaluate_pull, queue_verdict
from mlgate.bot.pr.gather import gather_inputs
from mlgate.bot.pr.queue_block import with_queue_block
from mlgate.bot.pr.repo_config import ConfigCache, RepoConfig, load_repo_config, push_touches_config
from mlgate.bot.pr.report import decode_state
from mlgate.bot.queue.merge_group import group_check
from mlgate.bot.queue.messages import status_text
from mlgate.bot.queue.model import (
    ACTIVE,
    BaseMoved,
    Event,
    HeadPushed,
    PullClosed,
    PullGates,
    QueueConfig,
    QueueKnobs,
    QueueState,
)
from mlgate.bot.queue.runner import QueueRunner, check_updates
from mlgate.bot.queue.status import QueueStatus, pull_status, statuses
from mlgate.names import BOT_MARKERS, REPORT_MARKER, SUMMARY_CHECK

log = logging.getLogger(__name__)

PullRef = tuple[str, int]


@dataclass
class Handlers:
    """The Dispatcher: what the bot knows (config cache, heads, queue, deployments) and its routes."""

    forges: ForgeFactory
    bot_login: Callable[[], str | None] | str | None = None
    config_cache: ConfigCache = field(default_factory=ConfigCache)
    index: PullIndex = field(default_factory=PullIndex)
    gate_app: str | None = None  # pin the app that must publish mlgate/<gate> runs (None: any app)
    queue: QueueRunner | None = None  # None: queue commands answer that the queue is not available
    deploy_store: DeployLedger | None = None  # the deployments ledger; None: /deploy is not available
    queue_knobs: QueueKnobs = field(default_factory=QueueKnobs)  # overrides of merge.* (tests, demo, bench)
    heads: HeadLog = field(default_factory=MemoryHeadLog)  # PR heads seen, with when (bot/commands/heads.py)
    clock: Callable[[], float] = time.time
    # Told of every delivery after it is routed, and of every tick: the dashboard's history and the
    # alerts (bot/history/recorder.py, bot/alerts). They observe; they never change a decision.
    observers: list[Callable[[str, Mapping[str, Any]], None]] = field(default_factory=list)
    tickers: list[Callable[[], None]] = field(default_factory=list)
    evaluated: list[Callable[[PullFacts, Evaluation], None]] = field(default_factory=list)
    _last_read: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    # (comment id, body) of each PR's report as this process last wrote or read it: a queue-only change
    # edits it without reading it again (an evaluation always re-reads it, repairing a stale copy)
    _reports: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict, repr=False)
    _unit: threading.local = field(default_factory=threading.local, repr=False)  # see `unit_of_work`
    _group_bases: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)  # (repo, group SHA) -> base SHA

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """One delivery, one evaluation or one tick: the base config is read once inside it.

        A command alone used to read `.github/mlgate.yml` three times (its permissions, the PR's
        gates, the queue's config) within milliseconds; now the first read is reused until the
        unit ends, and the next unit asks GitHub again (a conditional request, see
        bot/github/conditional.py). Nested units share the outer one. Per thread."""
        depth = getattr(self._unit, "depth", 0)
        if depth == 0:
            self._unit.configs = {}
        self._unit.depth = depth + 1
        try:
            yield
        finally:
            self._unit.depth = depth
            if depth == 0:
                self._unit.configs = None

    # --- Dispatcher protocol -------------------------------------------------------------------
    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[PullRef]:
        with self.unit_of_work():
            return self._handle(event, payload, delivery_id)

    def _handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[PullRef]:
        if not isinstance(payload, Mapping):
            return set()
        repo = repo_name(payload)
        installation = dig(payload, "installation", "id")
        if repo and isinstance(installation, int):
            self.index.set_installation(repo, installation)
        route = ROUTES.get(event)
        if route is None:
            return set()
        refs = route(self, payload)
        for observe in self.observers:
            observe(event, payload)
        log.debug("delivery %s (%s.%s) -> %d PRs", delivery_id, event, payload.get("action"), len(refs))
        return refs

    def evaluate(self, repo: str, number: int) -> None:
        with self.unit_of_work():
            self._evaluate(repo, number)

    def _evaluate(self, repo: str, number: int) -> None:
        forge = self._forge(repo)
        facts = forge.pull_facts(repo, number)
        self.index.remember(repo, number, facts.head_sha, open_=facts.state == "open")
        if facts.state != "open":
            return  # a closed PR keeps its last report
        self.saw_read(facts)
        config = self.repo_config(forge, repo, facts.base_ref)
        executor = Executor(forge, current_checks=facts.checks)
        existing = executor.existing_report(repo, number)
        evaluation = self.evaluation(forge, facts, config, decode_state(existing[1] if existing else None),
                                     queue_note=self.queue_note(repo, number))
        executor.apply(evaluation.actions)
        written = executor.existing_report(repo, number)
        if written is not None:
            self._reports[(repo, number)] = written
        for observe in self.evaluated:
            observe(facts, evaluation)
        self._feed_gates(facts, evaluation)

    def resync(self, repo: str) -> set[PullRef]:
        with self.unit_of_work():
            numbers = self._forge(repo).open_pull_numbers(repo)
            self.index.mark_warm(repo, numbers)
            self._resume_queue(repo)
            return {(repo, n) for n in numbers}

    def tick(self) -> int:
        """The worker's timer: step `Tick` for the repositories whose queue timeouts are due."""
        with self.unit_of_work():
            for tick in self.tickers:
                tick()
            return self.queue.tick() if self.queue is not None else 0

    # --- evaluation: gather (pr/gather.py), decide (pr/evaluation.py) ---------------------------
    def evaluation(self, forge: Forge, facts: PullFacts, config: RepoConfig, previous: Mapping[str, Any],
                   queue_note: str | None = None) -> Evaluation:
        """Review + gates + verdict for one PR: the actions and the gate report (reads only what the rules need)."""
        return evaluate_pull(gather_inputs(forge, facts, config), previous, gate_app=self.gate_app,
                             queue=self.queue is not None, queue_note=queue_note)

    # --- where a PR stands in the queue: its report's queue block and /status ----------------------
    def queue_status(self, repo: str, number: int) -> QueueStatus | None:
        if self.queue is None:
            return None
        return pull_status(self.queue.state(repo), number, self.queue.configs.get(repo))

    def queue_note(self, repo: str, number: int) -> str | None:
        """The report's queue block (None on a bot without the queue: no block)."""
        if self.queue is None:
            return None
        return status_text(self.queue_status(repo, number))

    def on_queue_changed(self, repo: str, before: QueueState, after: QueueState, config: QueueConfig) -> None:
        """The queue runner's `on_changed`: edit the queue block of every PR whose place changed (queued,
        moved up, batch started, preempted, landed, left), one edit each, nothing else read."""
        old, new = statuses(before, config), statuses(after, config)
        for number in sorted(new):
            if number in old and status_text(old[number]) == status_text(new[number]):
                continue
            self._edit_queue_block(repo, number, status_text(new[number]))

    def _edit_queue_block(self, repo: str, number: int, note: str) -> None:
        forge = self._forge(repo)
        report = self._reports.get((repo, number)) or forge.find_comment(repo, number, REPORT_MARKER)
        if report is None:
            return  # no report yet: the first evaluation renders it with the block
        body = with_queue_block(report[1], note)
        if body is None or body == report[1]:
            return
        forge.update_comment(repo, report[0], body)
        self._reports[(repo, number)] = (report[0], body)
        log.info("updated the queue state in the report of %s#%d", repo, number,
                 extra={"repo": repo, "pr": number, "event": "github.write", "write": "update_comment"})

    def decide_actions(self, forge: Forge, facts: PullFacts, config: RepoConfig, previous: Mapping[str, Any]
                       ) -> list[Action]:
        """The actions of `evaluation` (what `evaluate` applies), for a dry run."""
        return list(self.evaluation(forge, facts, config, previous).actions)

    def pull_gates(self, forge: Forge, facts: PullFacts) -> PullGatesVerdict:
        """The PR's review + PR-level gates on its head, as the merge queue sees them."""
        if facts.state != "open":
            return "failure", ("the PR is not open",)
        config = self.repo_config(forge, facts.repo, facts.base_ref)
        return queue_verdict(self.evaluation(forge, facts, config, {}).report)

    def repo_config(self, forge: Forge, repo: str, branch: str) -> RepoConfig:
        """`.github/mlgate.yml` of `branch` (a base or the default branch, never a PR head), parsed once per
        blob and read once per unit of work (`unit_of_work`)."""
        configs: dict[tuple[str, str], RepoConfig] | None = getattr(self._unit, "configs", None)
        if configs is not None and (repo, branch) in configs:
            return configs[(repo, branch)]
        config = load_repo_config(forge, repo, branch, self.config_cache)
        if configs is not None:
            configs[(repo, branch)] = config
        return config

    def saw_read(self, facts: PullFacts) -> None:
        """Remember the head this read showed, at the bot's clock (once per head: the first read is
        the evidence that counts, bot/commands/approval.py)."""
        key = (facts.repo, facts.number)
        if self._last_read.get(key) == facts.head_sha:
            return
        self.heads.record(facts.repo, facts.number, HeadSeen(facts.head_sha, self.clock(), READ))
        self._last_read[key] = facts.head_sha

    def queue_config(self, repo: str, branch: str) -> QueueConfig | None:
        """The queue's config from `branch` (the default branch): None when missing or invalid."""
        config = self.repo_config(self._forge(repo), repo, branch)
        if not config.valid or config.effective is None:
            return None
        return QueueConfig.from_mlgate(config.effective, config_sha256=config.sha256, gate_app=self.gate_app,
                                       knobs=self.queue_knobs)

    # --- routes ------------------------------------------------------------------------------
    def on_pull_request(self, payload: Mapping[str, Any]) -> set[PullRef]:
        repo, pr = repo_name(payload), payload.get("pull_request")
        if not repo or not isinstance(pr, Mapping) or not isinstance(pr.get("number"), int):
            return set()
        number, action = pr["number"], payload.get("action")
        if action == "closed":
            self.index.remember(repo, number, None, open_=False)
            self.heads.forget(repo, number)
            if self._queue_tracks(repo, number):
                self._feed(payload, [PullClosed(number, merged=bool(pr.get("merged")))])
            return set()
        head = dig(pr, "head", "sha")
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
        repo, number = repo_name(payload), dig(payload, "pull_request", "number")
        if repo and isinstance(number, int) and payload.get("action") in ("submitted", "dismissed", "edited"):
            return {(repo, number)}
        return set()

    def on_check_run(self, payload: Mapping[str, Any]) -> set[PullRef]:
        run = check_run_of(payload)
        if run is not None:
            self._feed_check(payload, run)
        raw = payload.get("check_run")
        if not isinstance(raw, Mapping) or raw.get("name") == SUMMARY_CHECK:
            return set()  # our own check run never re-triggers an evaluation
        group = group_of_check(payload, run.head_sha) if run is not None else None
        if group is not None:
            self.judge_merge_group(group)  # queued, started or completed: the check follows every step
            return set()
        if payload.get("action") != "completed":
            return set()
        return self._by_head(payload, raw.get("head_sha"), raw.get("pull_requests"))

    def on_check_suite(self, payload: Mapping[str, Any]) -> set[PullRef]:
        suite = payload.get("check_suite")
        if payload.get("action") != "completed" or not isinstance(suite, Mapping):
            return set()
        if isinstance(suite.get("head_sha"), str) and group_of_check(payload, suite["head_sha"]) is not None:
            return set()  # a merge group's commit: its check runs are judged one by one (on_check_run)
        return self._by_head(payload, suite.get("head_sha"), suite.get("pull_requests"))

    def on_status(self, payload: Mapping[str, Any]) -> set[PullRef]:
        status = status_of(payload)
        if status is not None:
            self._feed_check(payload, status)
            group = group_of_check(payload, status.head_sha)
            if group is not None:
                self.judge_merge_group(group)
                return set()
        if payload.get("state") == "pending":
            return set()  # a pending status changes nothing that a completed one will not
        return self._by_head(payload, payload.get("sha"), None)

    def on_push(self, payload: Mapping[str, Any]) -> set[PullRef]:
        repo = repo_name(payload)
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
        installation = dig(payload, "installation", "id")
        refs: set[PullRef] = set()
        for item in repos if isinstance(repos, list) else ():
            name = item.get("full_name") if isinstance(item, Mapping) else None
            if isinstance(name, str) and "/" in name:
                if isinstance(installation, int):
                    self.index.set_installation(name, installation)
                refs |= self.resync(name)
        return refs

    def on_issue_comment(self, payload: Mapping[str, Any]) -> set[PullRef]:
        """Answer the slash-commands of a new PR comment: parse (pure), gather and decide
        (commands/run.py), then post the reaction and reply, then feed the queue."""
        comment = pull_comment_of(payload)
        if comment is None or self._is_bot(comment):
            return set()
        parsed = parse_comment(comment.body, bot_login=self._bot_login())
        if parsed.empty:
            return set()
        forge = self._forge(comment.repo)
        perms = command_permissions(self, forge, comment.repo, comment.default_branch)
        actions, events = answer_commands(self, forge, comment, parsed, perms)
        Executor(forge).apply(actions)
        if events:
            self._feed(payload, events)
        return set()

    def on_deployment_status(self, payload: Mapping[str, Any]) -> set[PullRef]:
        """Record a deployment's status; roll back on failure where configured (bot/deploy/runner.py).

        The config comes from the default branch (trusted, like commands). Without a ledger,
        deployments are off and the status is ignored, like /deploy. Re-evaluates no PR."""
        repo, branch = repo_name(payload), dig(payload, "repository", "default_branch")
        if self.deploy_store is None or not repo or not isinstance(branch, str):
            return set()
        forge = self._forge(repo)
        on_deployment_status(forge, payload, self.repo_config(forge, repo, branch), self.deploy_store)
        return set()

    # --- GitHub's own merge queue (merge_group) -------------------------------------------------------
    def on_merge_group(self, payload: Mapping[str, Any]) -> set[PullRef]:
        """`checks_requested`: judge the group's commit and set `mlgate` there (bot/queue/merge_group.py);
        `destroyed`: forget it. The PRs themselves are not re-evaluated."""
        group = merge_group_of(payload)
        if group is None:
            return set()
        if payload.get("action") == "destroyed":
            self._group_bases.pop((group.repo, group.head_sha), None)
        elif payload.get("action") == "checks_requested":
            self.judge_merge_group(group)
        return set()

    def judge_merge_group(self, group: MergeGroup) -> None:
        """Read the config of the group's base BRANCH and the checks on its commit; set `mlgate` there.

        Not the config of `base_sha`: for the second group in GitHub's queue that is the first group's
        commit, holding the first PR's unlanded changes, and GitHub may land both through the second
        group's checks alone, so a PR could loosen the limits that judge its own landing. The base
        branch holds only what landed; a gate result computed with another config fails the hash check.

        A check event names the group's branch but not its base commit: that is remembered from
        `checks_requested`, else asked of GitHub (the merge-base of the group commit and the base
        branch, which is the base commit, or the base after earlier groups merged)."""
        forge = self._forge(group.repo)
        key = (group.repo, group.head_sha)
        base_sha = group.base_sha or self._group_bases.get(key) or forge.merge_base(group.repo, group.base_ref,
                                                                                    group.head_sha)
        if base_sha is None:
            log.warning("merge group %s of %s: its base commit on %s is unknown; not judged", group.head_sha[:12],
                        group.repo, group.base_ref)
            return
        if len(self._group_bases) > 1000:
            self._group_bases.clear()
        self._group_bases[key] = base_sha
        config = self.repo_config(forge, group.repo, group.base_ref)
        checks = forge.checks_on(group.repo, group.head_sha)
        action = group_check(dataclasses.replace(group, base_sha=base_sha), config, checks, gate_app=self.gate_app)
        Executor(forge, current_checks=checks).apply([action])

    # --- the merge queue ---------------------------------------------------------------------------
    def _resume_queue(self, repo: str) -> None:
        """The resync repairs the queue too: in-flight builds are re-asked and the checks on running
        staging SHAs re-read, so missed webhooks (or a restart) never leave a batch waiting for a timeout."""
        if self.queue is None or not self.queue.store.load(repo).version:
            return
        try:
            self.queue.resume(repo)
        except Exception as exc:  # the PRs' resync must go on; the next resync or tick tries again
            log.error("merge queue resume of %s failed (%s: %s)", repo, type(exc).__name__, exc)

    def _feed_gates(self, facts: PullFacts, evaluation: Evaluation) -> None:
        if self.queue is None or not self._queue_tracks(facts.repo, facts.number, active=True):
            return
        conclusion, reasons = queue_verdict(evaluation.report)
        self.queue.feed(facts.repo, [PullGates(facts.number, facts.head_sha, conclusion, reasons)])

    def on_landed(self, repo: str, sha: str, numbers: tuple[int, ...], branch: str) -> None:
        """The queue runner's `on_landed`: deploy a landed version to the `auto` environments."""
        if self.deploy_store is None:
            return  # deployments are off
        forge = self._forge(repo)
        after_landing(forge, repo, sha, numbers, self.repo_config(forge, repo, branch), self.deploy_store)

    def _queue_tracks(self, repo: str, number: int, active: bool = False) -> bool:
        """Does the queue know this PR (with `active`: is it waiting, queued or being tested)?"""
        if self.queue is None:
            return False
        pull = self.queue.state(repo).pull(number)
        return pull is not None and (not active or pull.status in ACTIVE)

    def _feed_check(self, payload: Mapping[str, Any], run: CheckRun) -> None:
        """A check run or status on a running staging/try SHA goes to the queue as reported; the queue
        judges it with the check rule (pinned apps, results JSON, config hash) like a PR head."""
        repo = repo_name(payload)
        if self.queue is None or not repo or not self.queue.knows_sha(repo, run.head_sha):
            return
        self._feed(payload, check_updates([run], run.head_sha))

    def _feed(self, payload: Mapping[str, Any], events: Sequence[Event]) -> None:
        repo = repo_name(payload)
        if self.queue is None or not repo:
            return
        branch = dig(payload, "repository", "default_branch")
        self.queue.feed(repo, events, config_branch=branch if isinstance(branch, str) else None)

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

    def _is_bot(self, comment: PullComment) -> bool:
        """Bots (the bot itself included) are never obeyed: no loops, no bot-to-bot commands."""
        if comment.from_bot:
            return True
        if any(marker in comment.body for marker in BOT_MARKERS):
            return True  # the bot's own comment, in token mode where it posts as a user
        login = self._bot_login()
        return bool(login) and comment.user.lower() == str(login).lower().removesuffix("[bot]")

    def _by_head(self, payload: Mapping[str, Any], sha: object, pulls: object) -> set[PullRef]:
        repo = repo_name(payload)
        if not repo or not isinstance(sha, str) or not sha:
            return set()
        listed = pulls_with_head(payload, pulls, sha)
        if listed:
            return {(repo, n) for n in listed}
        known = self.index.pulls_with_head(repo, sha)
        if known is None:
            return self.resync(repo)  # first event for this repo since start: evaluate all open PRs once
        return {(repo, n) for n in known}


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
    "deployment_status": Handlers.on_deployment_status,
    "merge_group": Handlers.on_merge_group,
}
