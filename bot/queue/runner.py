"""The I/O side of the merge queue: state from the store, events through `queue.step`, actions to GitHub.

`bot/queue/transitions.py` decides; this module only carries out. For one repository at a time (a lock per
repository in this process, and the repository's feed lock in the store across processes, see
bot/queue/store.py; optimistic versions besides) it loads the state, steps each event, saves the new
state and `next_wakeup`, THEN executes the actions. Saving first means a crash loses at most a
comment, never the queue: `Resume` re-emits the in-flight `CreateStaging` / `FastForward`, and both
are idempotent here. A process killed between the save and the actions leaves its feed lock behind;
the runner renews its leases from a background thread while the process lives, so a lease runs out
only when its feeder is gone, and then the first tick of any live worker (or the next feed of that
repository) takes the lock over and resumes the queue before anything else: a crashed worker never
leaves a base branch waiting for `merge.start_timeout_minutes` or for a webhook that will not come.

Executing an action can produce events (`StagingCreated` plus the checks already on the new SHA,
`StagingFailed`, `FastForwardDone` / `FastForwardRefused`); they are stepped in the same call.

Staging commits are built the bors-ng way, through the REST API only: a temporary branch at the
base tip, `POST /repos/{o}/{r}/merges` of each PR head into it (squash: one commit with the merged
tree on top of the previous one; rebase: the same per PR commit, with its message), then
`mlgate/staging/<base>` (or `mlgate/try/<n>`) is forced to the result. The base itself only ever
moves with a NON-force ref update to a tested SHA; GitHub's 422 refusal is the queue's
`FastForwardRefused`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlgate.bot.github.facts import CheckRun
from mlgate.bot.github.forge import Forge
from mlgate.bot.pr.gates import report_of
from mlgate.bot.queue.model import (
    CancelBuild,
    CheckUpdate,
    Comment,
    CreateStaging,
    DeleteBranch,
    Dequeue,
    Event,
    FastForward,
    FastForwardDone,
    FastForwardRefused,
    MergePull,
    QueueAction,
    QueueConfig,
    QueueState,
    Resume,
    StagingCreated,
    StagingFailed,
    Tick,
)
from mlgate.bot.queue.store import FeedLock, QueueRow, QueueStore
from mlgate.bot.queue.transitions import next_wakeup, step
from mlgate.bot.queue.watch import watch_action, watch_change, watch_event
from mlgate.checks.report import md
from mlgate.names import QUEUE_MARKER, SUMMARY_CHECK, temp_branch
from mlgate.retry import ForgeError

log = logging.getLogger(__name__)
# GitHub's refusal of a ref update that changes .github/workflows/ for an App without `workflows: write`
WORKFLOWS_REFUSAL = "without `workflows` permission"

ForgeFor = Callable[[str], Forge]
ConfigFor = Callable[[str, str], "QueueConfig | None"]  # (repo, branch whose config applies) -> config
DEFAULT_CONFIG_BRANCH = "main"
_MAX_EVENTS_PER_FEED = 200  # a safety net: follow-up events of one feed (a bug must not spin forever)
_SAVE_ATTEMPTS = 8
_FEED_LOCK_WAIT_SECONDS = 120.0  # a feed waits this long for another process's feed of the same repository


class FeedLost(RuntimeError):
    """This process's feed lease ran out mid-feed: another process may be feeding the queue now."""


def process_owner() -> str:
    """This process, as the owner of feed locks (host, pid and a random part: pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_updates(runs: Iterable[CheckRun], sha: str) -> list[CheckUpdate]:
    """Check runs and statuses as the queue's CheckUpdate events: who reported them and, for a gate
    run, what its results JSON says (a pending status is in progress). The queue judges them with the
    check rule (bot/pr/check_rule.py); nothing is filtered here, so no report escapes the rule."""
    out = []
    for run in runs:
        report = report_of(run)
        out.append(CheckUpdate(sha, run.name, report.status, run.conclusion, run.details_url, run.kind, run.app,
                               run.id, report.results))
    return out


def no_queue_config() -> QueueConfig:
    """Without a valid `.github/mlgate.yml` nothing can be queued (the queue says why)."""
    return QueueConfig(branches=(), required_checks=())


@dataclass
class QueueRunner:
    """Feeds events to the pure queue and executes its actions through a Forge."""

    store: QueueStore
    forge_for: ForgeFor
    config_for: ConfigFor
    clock: Callable[[], float] = time.time
    # Called once the base moved to a landed SHA: (repo, sha, PR numbers, config branch); deployments hook here.
    on_landed: Callable[[str, str, tuple[int, ...], str], None] | None = None
    # Called after each feed with the state before and after it (and the config used): the PRs' reports
    # show where each PR stands (bot/queue/status.py), so the Dispatcher edits those that changed.
    on_changed: Callable[[str, QueueState, QueueState, QueueConfig], None] | None = None
    configs: dict[str, QueueConfig] = field(default_factory=dict)  # the config of each repo's last feed
    # Called after each saved step: (repo, state before, state after, now); the dashboard's history hooks here.
    on_step: Callable[[str, QueueState, QueueState, float], None] | None = None
    executed: deque[str] = field(default_factory=lambda: deque(maxlen=1000))  # recent work, for logs and tests
    owner: str = field(default_factory=process_owner)  # this process, in the feed locks
    lease_seconds: float = 60.0  # a feed lock not renewed for this long belongs to a dead process
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _held: set[str] = field(default_factory=set)  # repositories whose feed lock this process holds
    _must_resume: set[str] = field(default_factory=set)  # repositories whose resume raised
    _renewer: threading.Thread | None = None

    # --- entry points --------------------------------------------------------------------------
    def feed(self, repo: str, events: Iterable[Event], *, config_branch: str | None = None) -> list[QueueAction]:
        """Step `events` (and the events their execution produces) in order; returns every action."""
        pending = deque(events)
        if not pending:
            return []
        with self._lock(repo), self._feeding(repo, wait=True) as fed:
            assert fed is not None
            return fed + self._feed_held(repo, pending, config_branch)

    def _feed_held(self, repo: str, pending: deque[Event], config_branch: str | None = None) -> list[QueueAction]:
        """`feed`'s work, with both locks of `repo` held."""
        done: list[QueueAction] = []
        if pending:
            row = self.store.load(repo)
            branch = config_branch or row.config_branch or DEFAULT_CONFIG_BRANCH
            config = self.config_for(repo, branch) or no_queue_config()
            self.configs[repo] = config
            before = row.state
            forge = self.forge_for(repo)
            count = 0
            while pending:
                count += 1
                if count > _MAX_EVENTS_PER_FEED:
                    log.error("merge queue of %s: more than %d follow-up events in one feed; stopping (the next "
                              "tick resumes)", repo, _MAX_EVENTS_PER_FEED)
                    break
                event = pending.popleft()
                watch_event(repo, event)
                actions = self._step_and_save(repo, event, config, branch)
                for action in actions:
                    self._ensure_held(repo)
                    done.append(action)
                    watch_action(repo, action)
                    pending.extend(self._execute(forge, action))
                self._landed(repo, actions, branch)
            self._changed(repo, before, config)
        return done

    # --- the feed lock across processes ------------------------------------------------------------
    @contextmanager
    def _feeding(self, repo: str, *, wait: bool) -> Iterator[list[QueueAction] | None]:
        """Hold `repo`'s feed lock in the store for the block (the caller holds the process's lock).

        Yields the actions of the resume it had to run first (a dead process's feed), or None when
        the lock is busy and `wait` is False. Waiting for a live feed of another process is bounded:
        past `_FEED_LOCK_WAIT_SECONDS` it raises, and the delivery is retried later."""
        deadline = time.monotonic() + _FEED_LOCK_WAIT_SECONDS
        pause = 0.02
        while True:
            lock = self.store.acquire_feed(repo, self.owner, self.clock(), self.lease_seconds)
            if lock.held or not wait:
                break
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the merge queue of {repo} is being fed by another process for over "
                                   f"{_FEED_LOCK_WAIT_SECONDS:.0f} s")
            time.sleep(pause)  # another worker's feed of this repository: seconds at most
            pause = min(0.5, pause * 2)
        if not lock.held:
            yield None
            return
        self._hold(repo)
        release = True
        try:
            try:
                resumed = self._resume_abandoned(repo, lock)
            except Exception:
                release = False  # the lease runs out unrenewed and the next tick resumes again
                with self._guard:
                    self._must_resume.add(repo)  # and so does this process's next feed, even before
                raise
            yield resumed
        finally:
            with self._guard:
                self._held.discard(repo)
            try:
                if release:
                    self.store.release_feed(repo, self.owner)
            except Exception as exc:  # its lease runs out; the next feed or tick takes it over
                log.error("could not release the merge-queue feed lock of %s (%s: %s)", repo, type(exc).__name__,
                          exc)

    def _ensure_held(self, repo: str) -> None:
        """Stop a feed whose lease ran out (a slow call, a paused process, failed renewals): another
        process may have taken the feed over and be carrying out the same actions. Its saved steps stand;
        the new feeder resumes them."""
        if not self.store.holds_feed(repo, self.owner, self.clock()):
            raise FeedLost(f"the merge-queue feed lock of {repo} was lost (its lease ran out); stopping this feed")

    def _resume_abandoned(self, repo: str, lock: FeedLock) -> list[QueueAction]:
        with self._guard:
            retry = repo in self._must_resume
        if lock.took_over_from is None and not retry:
            return []
        log.warning("merge queue of %s: the feed of %s stopped mid-way (its lease expired: the process died, or "
                    "a resume failed); resuming its in-flight work", repo, lock.took_over_from or self.owner)
        actions = self._resume_held(repo)
        with self._guard:
            self._must_resume.discard(repo)
        return actions

    def _hold(self, repo: str) -> None:
        with self._guard:
            self._held.add(repo)
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(target=self._renew, name="mlgate-queue-lease", daemon=True)
                self._renewer.start()

    def _renew(self) -> None:
        """Keep this process's feed locks alive, every third of the lease, until it holds none."""
        period = max(0.05, self.lease_seconds / 3)
        while True:
            time.sleep(period)
            with self._guard:
                held = sorted(self._held)
                if not held:
                    self._renewer = None
                    return
            try:
                self.store.renew_feeds(held, self.owner, self.clock() + self.lease_seconds)
            except Exception as exc:
                log.error("merge-queue lease renewal failed (%s: %s)", type(exc).__name__, exc)

    def _changed(self, repo: str, before: QueueState, config: QueueConfig) -> None:
        after = self.store.load(repo).state
        if after == before:
            return
        watch_change(repo, before, after, self.clock())
        if self.on_changed is None:
            return
        try:
            self.on_changed(repo, before, after, config)
        except Exception as exc:  # a report that cannot be edited never undoes or blocks the queue
            log.error("after a queue step in %s: %s: %s", repo, type(exc).__name__, exc)

    def _landed(self, repo: str, actions: Iterable[QueueAction], branch: str) -> None:
        landed: dict[str, list[int]] = {}
        for action in actions:
            if isinstance(action, MergePull):
                landed.setdefault(action.landed_sha, []).append(action.number)
        for sha, numbers in landed.items():
            if self.on_landed is None:
                continue
            try:
                self.on_landed(repo, sha, tuple(numbers), branch)
            except Exception as exc:  # a deployment problem never undoes or blocks a landing
                log.error("after landing %s in %s: %s: %s", sha[:12], repo, type(exc).__name__, exc)

    def tick(self, now: float | None = None) -> int:
        """Resume every queue whose feeder died mid-feed, then step `Tick` for every repository whose
        `next_wakeup` has come; returns how many repositories were stepped. A repository another live
        process is feeding is left to the next tick."""
        now = self.clock() if now is None else now
        abandoned = self.store.abandoned_feeds(now)
        repos = self.store.due(now)
        for repo in dict.fromkeys([*abandoned, *repos]):
            try:
                with self._lock(repo), self._feeding(repo, wait=False) as fed:
                    if fed is not None and repo in repos:
                        self._feed_held(repo, deque([Tick()]))
            except Exception as exc:  # one broken repository must not stop the others' timeouts
                log.error("merge queue tick of %s failed (%s: %s)", repo, type(exc).__name__, exc)
        return len(repos)

    def resume(self, repo: str) -> list[QueueAction]:
        """After a restart: re-emit in-flight work and re-read the checks on running builds' SHAs."""
        with self._lock(repo), self._feeding(repo, wait=True) as fed:
            assert fed is not None
            return fed if fed else self._resume_held(repo)

    def _resume_held(self, repo: str) -> list[QueueAction]:
        actions = self._feed_held(repo, deque([Resume()]))
        state = self.state(repo)
        forge = self.forge_for(repo)
        updates: list[Event] = []
        for sha in running_shas(state):
            updates.extend(self._checks(forge, repo, sha))
        return actions + self._feed_held(repo, deque(updates))

    def state(self, repo: str) -> QueueState:
        return self.store.load(repo).state

    def knows_sha(self, repo: str, sha: str) -> bool:
        """Is `sha` a running staging or try commit of this repository (is a check on it for us)?"""
        return sha in running_shas(self.state(repo))

    # --- stepping --------------------------------------------------------------------------------
    def _step_and_save(self, repo: str, event: Event, config: QueueConfig, branch: str) -> tuple[QueueAction, ...]:
        for _ in range(_SAVE_ATTEMPTS):
            row: QueueRow = self.store.load(repo)
            now = self.clock()
            new, actions = step(row.state, event, now, config)
            if new == row.state and not actions and row.version:
                return ()
            if self.store.save(row, new, wakeup_at=next_wakeup(new, config), now=now, config_branch=branch):
                if self.on_step is not None:
                    self.on_step(repo, row.state, new, now)
                return actions
            log.info("merge queue of %s changed while stepping %s; re-reading", repo, type(event).__name__)
        raise RuntimeError(f"could not save the merge-queue state of {repo}: it kept changing")

    # --- executing -------------------------------------------------------------------------------
    def _execute(self, forge: Forge, action: QueueAction) -> list[Event]:
        if isinstance(action, CreateStaging):
            try:
                return self._create_staging(forge, action)
            except FeedLost:
                raise
            except Exception as exc:
                # Left "creating": the queue asks again after merge.start_timeout_minutes (Tick).
                log.error("staging commit for build %d of %s failed (%s: %s); the queue will ask again",
                          action.build_id, action.repo, type(exc).__name__, exc)
                self.executed.append(f"staging {action.build_id} error")
                return []
        if isinstance(action, FastForward):
            return self._fast_forward(forge, action)
        if isinstance(action, Comment):
            forge.create_comment(action.repo, action.number, f"{QUEUE_MARKER}\n{action.body}")
            self.executed.append(f"comment #{action.number}")
            return []
        if isinstance(action, MergePull):
            if action.method != "merge":
                # The tested commit is on the base; the PR is closed as landed (its comment has the SHA).
                forge.close_pull(action.repo, action.number)
            # method merge: the PR head is in the base now, GitHub marks the PR merged by itself.
            self.executed.append(f"landed #{action.number} in {action.landed_sha[:12]}")
            return []
        if isinstance(action, DeleteBranch):
            self._delete_head(forge, action)
            return []
        if isinstance(action, CancelBuild):
            self._cancel_runs(forge, action)
            return []
        if isinstance(action, Dequeue):
            log.info("%s#%d left the merge queue: %s (%s)", action.repo, action.number, action.outcome, action.reason)
            self.executed.append(f"dequeued #{action.number}: {action.outcome}")
            return []
        raise TypeError(f"unknown queue action {type(action).__name__}")

    def _create_staging(self, forge: Forge, a: CreateStaging) -> list[Event]:
        repo = a.repo
        base_sha = a.base_sha or forge.get_branch_sha(repo, a.base)
        if base_sha is None:
            return [StagingFailed(a.build_id, None, f"the base branch {a.base} does not exist")]
        tmp = temp_branch(a.build_id)
        forge.force_branch(repo, tmp, base_sha)
        current = base_sha
        for pull in a.pulls:
            try:
                built = self._build_one(forge, a, tmp, pull, current)
            except ForgeError as exc:
                if WORKFLOWS_REFUSAL not in str(exc):
                    raise
                # GitHub will never build this PR for an App without `workflows: write`: it fails, the rest goes on.
                forge.delete_branch(repo, tmp)
                return [StagingFailed(a.build_id, pull.number, f"GitHub refused to build it: {exc}. Landing a PR "
                                      "that changes .github/workflows/ needs the App's `workflows: write` "
                                      "permission, which app.yml does not ask for (docs/permissions.md)")]
            if isinstance(built, StagingFailed):
                return [built]
            current = built
        self._ensure_held(repo)  # building took long enough to lose the feed: the new feeder builds it
        forge.force_branch(repo, a.branch, current)
        forge.delete_branch(repo, tmp)
        self.executed.append(f"staging {a.build_id} at {current[:12]} on {a.branch}")
        return [StagingCreated(a.build_id, current, base_sha), *self._checks(forge, repo, current)]

    def _build_one(self, forge: Forge, a: CreateStaging, tmp: str, pull: Any, current: str) -> str | StagingFailed:
        """Add one PR to the staging commit on `tmp`: the new tip, or why it cannot be built."""
        repo = a.repo
        message = f"Merge #{pull.number} ({pull.head_sha[:12]}) into {a.base}\n\nmlgate {a.purpose} {a.build_id}"
        if a.method == "rebase":
            replayed = self._replay(forge, repo, tmp, pull.number, pull.head_sha, current)
            if replayed is None:
                forge.delete_branch(repo, tmp)
                return StagingFailed(a.build_id, pull.number, "its commits do not replay cleanly")
            return replayed
        outcome, sha = forge.merge_into_branch(repo, tmp, pull.head_sha, message)
        if outcome == "conflict":
            forge.delete_branch(repo, tmp)
            return StagingFailed(a.build_id, pull.number, "merge conflict")
        if outcome == "noop":
            sha = forge.get_branch_sha(repo, tmp) or current  # already contained (or a re-sent merge)
        elif a.method == "squash":
            assert sha is not None
            squash = f"{message}\n\nSquashed: the tree of the merge of {pull.head_sha[:12]}"
            sha = forge.commit_with_tree_of(repo, sha, current, squash)
            forge.force_branch(repo, tmp, sha)
        assert sha is not None
        return sha

    def _checks(self, forge: Forge, repo: str, sha: str) -> list[CheckUpdate]:
        return check_updates(forge.checks_on(repo, sha), sha)

    def _replay(self, forge: Forge, repo: str, tmp: str, number: int, head_sha: str, current: str) -> str | None:
        """Rebase through the API: each PR commit is merged into `tmp`, then replaced by a commit with
        the merged tree, the previous replayed commit as its only parent and the original message."""
        commits = forge.pull_commits(repo, number)
        shas = [sha for sha, _ in commits]
        if head_sha not in shas:
            return None  # the PR moved on (its HeadPushed follows) or lists more than 250 commits
        for sha, message in commits[: shas.index(head_sha) + 1]:
            outcome, merged = forge.merge_into_branch(repo, tmp, sha, f"Replay {sha[:12]} of #{number}")
            if outcome == "conflict":
                return None
            if outcome == "noop":
                continue  # already on the base
            assert merged is not None
            current = forge.commit_with_tree_of(repo, merged, current, message)
            forge.force_branch(repo, tmp, current)
        return current

    def _fast_forward(self, forge: Forge, a: FastForward) -> list[Event]:
        if forge.get_branch_sha(a.repo, a.base) == a.to_sha:
            self.executed.append(f"base {a.base} already at {a.to_sha[:12]}")
            return [FastForwardDone(a.build_id, a.to_sha)]
        self._ensure_held(a.repo)
        self._summary_check(forge, a)
        if forge.fast_forward_branch(a.repo, a.base, a.to_sha):
            self.executed.append(f"fast-forwarded {a.base} to {a.to_sha[:12]}")
            return [FastForwardDone(a.build_id, a.to_sha)]
        tip = forge.get_branch_sha(a.repo, a.base)
        self.executed.append(f"fast-forward of {a.base} refused (tip {str(tip)[:12]})")
        if tip == a.from_sha:
            log.error("GitHub refused to fast-forward %s of %s to the tested %s although %s did not move: a branch "
                      "protection rule or ruleset the bot cannot satisfy (required reviews, signed commits, a check "
                      "it does not set?) or a missing permission; the queue asks again after "
                      "merge.start_timeout_minutes", a.base, a.repo, a.to_sha[:12], a.base)
        return [FastForwardRefused(a.build_id, "not a fast-forward", tip)]

    def _summary_check(self, forge: Forge, a: FastForward) -> None:
        """The bot's `mlgate` check on the staging commit: branch protection requires it on the SHA pushed.
        Set only here, after the queue judged every required check green on exactly this SHA."""
        prs = ", ".join(f"#{n}" for n in a.numbers) or "the batch"
        checks = ", ".join(f"`{md(c)}`" for c in a.required) or "none"
        try:
            forge.set_check(a.repo, a.to_sha, SUMMARY_CHECK, status="completed", conclusion="success",
                            title=f"Merge queue: tested, landing {prs}",
                            summary=f"Every required check passed on this staging commit ({checks}); the merge "
                                    f"queue fast-forwards {md(a.base)} to it, landing {prs}.")
        except Exception as exc:  # the fast-forward still says what GitHub thinks
            log.error("could not set the %s check on %s of %s (%s: %s)", SUMMARY_CHECK, a.to_sha[:12], a.repo,
                      type(exc).__name__, exc)

    def _cancel_runs(self, forge: Forge, a: CancelBuild) -> None:
        """Cancel the GitHub Actions runs on an abandoned build's SHA: their result can no longer land
        anything, and runners are shared. Best effort: a failure is logged, never fatal."""
        self.executed.append(f"abandoned build {a.build_id}")
        if not a.sha:
            log.info("build %d of %s abandoned before its commit existed (%s)", a.build_id, a.repo, a.reason)
            return
        try:
            cancelled = [run for run in forge.active_workflow_runs(a.repo, a.sha)
                         if forge.cancel_workflow_run(a.repo, run)]
        except Exception as exc:
            log.warning("build %d of %s abandoned (%s); its Actions runs on %s were not cancelled (%s: %s)",
                        a.build_id, a.repo, a.reason, a.sha[:12], type(exc).__name__, exc)
            return
        log.info("build %d of %s abandoned (%s): cancelled %d Actions run(s) on %s%s", a.build_id, a.repo, a.reason,
                 len(cancelled), a.sha[:12], f" ({', '.join(map(str, cancelled))})" if cancelled else "")
        self.executed.append(f"cancelled {len(cancelled)} run(s) on {a.sha[:12]}")

    def _delete_head(self, forge: Forge, a: DeleteBranch) -> None:
        ref, sha, head_repo = forge.pull_head_branch(a.repo, a.number)
        if head_repo.lower() != a.repo.lower() or sha != a.head_sha:
            self.executed.append(f"kept the head branch of #{a.number}")
            return  # a fork, or new commits: not ours to delete
        forge.delete_branch(a.repo, ref)
        self.executed.append(f"deleted {ref}")

    def _lock(self, repo: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(repo, threading.Lock())


def running_shas(state: QueueState) -> set[str]:
    """SHAs of the staging, probe and try commits whose checks the queue is waiting for."""
    shas = {build.sha for lane in state.lanes for build in (*lane.chain, *lane.probes) if build.sha}
    shas |= {t.sha for t in state.tries if t.sha}
    return shas


__all__ = ["QueueRunner", "check_updates", "no_queue_config", "running_shas"]
