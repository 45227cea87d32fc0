"""Random event orders through the real routing: main only moves to a SHA whose required checks all
passed under the base config, approved by a `/merge` issued for that head; a fork is never built.

The bot under test is the real one: `Handlers.handle` for every delivery (then `evaluate` for the
PRs it returns, as the worker does), the `QueueRunner` with its state in SQLite, the head log, the
check rule. GitHub is a fake forge with a commit graph; what hypothesis controls:

- the world: PRs opened and pushed to (some versions broken), one PR from a fork, comments
  (`/merge`, `/merge <sha>` of the head or of an older one, `/try`, `/retry`, `/cancel`,
  priorities), the clock (several events may share GitHub's second), outside pushes to main;
- CI on any PR head or staging/try commit: the honest CI (`tests` as a status or a run of the app
  `ci`, `lint` from `ci`, `mlgate/bias` from `github-actions` with the base config's hash, runs
  that start and finish later, a `skipped` tests job on a sound commit) and everything else that
  can show up on a commit: a collaborator's green statuses, green runs from another app, a gate
  computed with the PR's own config, without a config hash, `skipped` or `neutral` gates;
- deliveries: handed to the bot in any order, some twice, and the bot restarted (memory lost, the
  database kept).

After every step: each SHA main was moved to by the bot is sound (no broken PR version), the
honest CI reported every required check green on it, and every PR head it brought in was approved
by a `/merge` (or `/retry`) comment written while it was the head, or by `/merge <that sha>`; no
commit of the fork PR ever reached a `mlgate/*` branch. The model does not force-push a PR back to
an older commit (the documented residual, docs/bot.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy.pool import StaticPool

from mlgate.bot.github.facts import CheckRun, Permission, PullFacts
from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.queue.runner import QueueRunner
from mlgate.bot.queue.store import QueueStore
from mlgate.bot.queue.store import metadata as queue_metadata
from mlgate.checks.results import GateResult, RunResults, Status
from tests.bot.conftest import sha256_of
from tests.bot.fake_forge import FakeForge

REPO = "acme/ml"
CONFIG = """\
version: 1
bias: {sensitive: [colour]}
merge:
  required_checks: [tests, {name: lint, app: ci}]
  batch_size: 3
"""
OWN_CONFIG = CONFIG.replace("sensitive: [colour]", "sensitive: [colour], min_group_size: 1")


BASE_HASH, OWN_HASH = sha256_of(CONFIG), sha256_of(OWN_CONFIG)
REQUIRED = ("tests", "lint", "mlgate/bias")
PRS = (1, 2, 3)
FORK = 3  # its head lives in mallory/ml
T0 = 1_800_000_000.0


def sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def iso(t: float) -> str:
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def note(what: str) -> None:
    """Count it in hypothesis' statistics (`--hypothesis-show-statistics`): the promise must not hold
    only because nothing ever lands."""
    if currently_in_test_context():
        event(what)


def gate_text(status: Status, config_hash: str | None) -> str:
    versions = {"config_sha256": config_hash} if config_hash else {}
    return json.dumps(RunResults([GateResult("bias", status, "bias")], versions, {}).to_dict())


class World(FakeForge):
    """GitHub: the fake forge, with every report on every SHA (several apps, statuses)."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: dict[str, list[CheckRun]] = {}
        self.violations: list[str] = []
        self.fork_commits: set[str] = set()

    def report(self, run: CheckRun) -> None:
        runs = self.reports.setdefault(run.head_sha, [])
        same = [i for i, r in enumerate(runs) if r.id == run.id and r.kind == run.kind]
        if same and run.kind == "check_run":
            runs[same[0]] = run  # a run updated in place (in progress → completed)
        else:
            runs.append(run)

    def _own(self, sha_: str) -> tuple[CheckRun, ...]:
        return tuple(r for (rp, s, _), r in self.check_runs.items() if rp == REPO and s == sha_)

    def checks_on(self, repo: str, sha_: str) -> tuple[CheckRun, ...]:
        return (*self.reports.get(sha_, ()), *self._own(sha_))

    def pull_facts(self, repo: str, number: int) -> PullFacts:
        facts = self.pulls[(repo, number)]
        return dataclasses.replace(facts, checks=(*self.reports.get(facts.head_sha, ()), *self._own(facts.head_sha)))

    def merge_into_branch(self, repo: str, branch: str, head_sha: str, message: str) -> tuple[str, str | None]:
        if head_sha in self.fork_commits and branch.startswith("mlgate/"):
            self.violations.append(f"the fork's commit {head_sha[:7]} was merged into {branch}")
        return super().merge_into_branch(repo, branch, head_sha, message)


class TrustMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gh = World()
        self.now = T0
        self.gh.put_file(REPO, "main", CONFIG_PATH, CONFIG)
        self.gh.permissions[(REPO, "alice")] = Permission.WRITE
        self.gh.add_commit(sha("root"), (), {"root"})
        self.gh.set_branch(REPO, "main", sha("root"))
        self.engine = sa.create_engine("sqlite://", poolclass=StaticPool)
        queue_metadata.create_all(self.engine)
        self.heads_table = None
        try:  # the head log's table (bot/commands/heads.py), where it exists
            from mlgate.bot.commands.heads import _meta

            _meta.create_all(self.engine)
            self.heads_table = True
        except ImportError:
            pass
        self.bot = self.new_bot()
        self.inbox: list[tuple[str, dict[str, Any]]] = []
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.branches = dict(self.gh.branches)
        self.version = dict.fromkeys(PRS, -1)
        self.head_of: dict[tuple[int, int], str] = {}
        self.broken: set[str] = set()  # content tokens that break any commit holding them
        self.approved: set[str] = set()  # PR heads a /merge or /retry was written for, or named
        self.honest: dict[str, dict[str, str]] = {}  # sha -> check -> conclusion, from the honest CI
        self.running: list[CheckRun] = []  # honest runs started, not finished
        self.ids = 10_000
        self.comment_ids = 500
        self.staging: set[str] = set()

    # --- plumbing ------------------------------------------------------------------------------
    def new_bot(self) -> Handlers:
        bot = Handlers(forges=lambda repo, installation=None: self.gh, bot_login="mlgate[bot]")
        bot.clock = lambda: self.now  # type: ignore[attr-defined]
        if self.heads_table:
            from mlgate.bot.commands.heads import SqlHeadLog

            bot.heads = SqlHeadLog(self.engine)
        bot.queue = QueueRunner(QueueStore(self.engine), bot._forge, bot.queue_config, clock=lambda: self.now)
        self._patch_fast_forward(bot)
        return bot

    def _patch_fast_forward(self, bot: Handlers) -> None:
        gh, machine = self.gh, self

        def fast_forward(repo: str, branch: str, to: str) -> bool:
            before = gh.branches.get((repo, branch))
            moved = FakeForge.fast_forward_branch(gh, repo, branch, to)
            if moved and branch == "main":
                machine.check_landing(before, to)
            return moved

        gh.fast_forward_branch = fast_forward  # type: ignore[method-assign]

    def next_id(self) -> int:
        self.ids += 1
        return self.ids

    def payload(self, **kw: Any) -> dict[str, Any]:
        return {"repository": {"full_name": REPO, "default_branch": "main"}, **kw}

    def handle(self, event: str, payload: dict[str, Any]) -> None:
        replies = len(self.gh.comments)
        refs = self.bot.handle(event, payload, f"d{len(self.delivered)}")
        if any("nothing was done" in c.body for c in list(self.gh.comments.values())[replies:]):
            note("a command was void or refused")
        self.delivered.append((event, payload))
        for repo, number in sorted(refs):
            self.bot.evaluate(repo, number)
        self.after_bot()

    def after_bot(self) -> None:
        """What GitHub does after the bot wrote: push webhooks for moved branches, PRs merged by main."""
        for (repo, branch), new in sorted(self.gh.branches.items()):
            old = self.branches.get((repo, branch))
            if new != old:
                if branch.startswith(("mlgate/staging/", "mlgate/try/")):
                    self.staging.add(new)
                self.inbox.append(("push", self.payload(ref=f"refs/heads/{branch}", before=old or "0" * 40,
                                                        after=new, commits=[], forced=True)))
        for key in set(self.branches) - set(self.gh.branches):
            self.inbox.append(("push", self.payload(ref=f"refs/heads/{key[1]}", before=self.branches[key],
                                                    after="0" * 40, deleted=True, commits=[])))
        self.branches = dict(self.gh.branches)
        main = self.gh.ancestors(self.gh.branches[(REPO, "main")])
        for (_, n), facts in list(self.gh.pulls.items()):
            if facts.state == "open" and facts.head_sha in main:
                self.gh.update_pull(REPO, n, state="closed", merged=True)
                self.inbox.append(("pull_request", self.payload(action="closed", pull_request={
                    "number": n, "merged": True, "head": {"sha": facts.head_sha}, "updated_at": iso(self.now)})))

    def is_broken(self, sha_: str) -> bool:
        return bool(self.gh.commits[sha_][1] & self.broken)

    def check_landing(self, before: str | None, after: str) -> None:
        """THE promise, checked the moment the bot moves main."""
        note("the bot moved main")
        if self.is_broken(after):
            self.gh.violations.append(f"main moved to {after[:7]}, which holds a broken PR version")
        reported = self.honest.get(after, {})
        missing = [c for c in REQUIRED if reported.get(c) not in ("success", "skipped")]
        if missing:
            self.gh.violations.append(f"main moved to {after[:7]}; the honest CI never passed {missing} on it")
        old = self.gh.commits[before][1] if before else frozenset()
        for n in PRS:
            versions = [v for v in range(self.version[n] + 1) if f"pr{n}:v{v}" in self.gh.commits[after][1]]
            if not versions or f"pr{n}:v{max(versions)}" in old:
                continue
            head = self.head_of[(n, max(versions))]
            if head not in self.approved:
                self.gh.violations.append(f"#{n} landed at {head[:7]}, which no /merge was written for")
            if n == FORK:
                self.gh.violations.append(f"the fork PR #{n} landed")

    def pr_head(self, n: int) -> str | None:
        facts = self.gh.pulls.get((REPO, n))
        return facts.head_sha if facts and facts.state == "open" else None

    def shas(self) -> list[str]:
        heads = [self.head_of[k] for k in sorted(self.head_of)]
        return heads + sorted(self.staging)

    # --- the world -----------------------------------------------------------------------------
    @rule(n=st.sampled_from(PRS), broken=st.sampled_from([False, False, True]), ci_now=st.booleans(),
          later=st.sampled_from([0, 1, 5, 30]))
    def push(self, n: int, broken: bool, ci_now: bool = False, later: int = 0) -> None:
        """Open the PR (first time) or push a new commit to it (and CI runs on it at once, or later),
        `later` seconds after the previous thing that happened (0: in the same second)."""
        self.now += later
        facts = self.gh.pulls.get((REPO, n))
        if facts is not None and facts.state != "open":
            return
        self.version[n] += 1
        v = self.version[n]
        token = f"pr{n}:v{v}"
        if broken:
            self.broken.add(token)
        parent = facts.head_sha if facts else sha("root")
        head = self.gh.add_commit(sha(f"{n}-{v}"), (parent,), {token})
        self.head_of[(n, v)] = head
        if n == FORK:
            self.gh.fork_commits.add(head)
        if facts is None:
            self.gh.add_pull(REPO, n, head_sha=head, head_repo="mallory/ml" if n == FORK else REPO)
            action = "opened"
        else:
            self.gh.update_pull(REPO, n, head_sha=head)
            action = "synchronize"
        self.inbox.append(("pull_request", self.payload(action=action, pull_request={
            "number": n, "head": {"sha": head}, "updated_at": iso(self.now)})))
        if ci_now:
            for check in REQUIRED:
                self.report(self.shas().index(head), check, "run")

    @rule(n=st.sampled_from(PRS), which=st.sampled_from(
        ["/merge", "/merge", "/merge", "/merge sha", "/merge old-sha", "/merge p=2", "/try", "/retry", "/cancel",
         "/try sha"]), later=st.sampled_from([0, 1, 5, 30]))
    def comment(self, n: int, which: str, later: int = 0) -> None:
        self.now += later
        head = self.pr_head(n)
        if head is None:
            return
        if n == FORK and which.startswith(("/merge", "/try", "/retry")):
            note("a fork PR was asked to be built")
        body = which
        if which.endswith("old-sha"):
            older = [self.head_of[(n, v)] for v in range(self.version[n])]
            if not older:
                return
            body = f"/merge {older[0][:9]}"
            self.approved.add(older[0])  # named: approved, though no longer the head
        elif which.endswith(" sha"):
            body = which.replace("sha", head[:8])
            self.approved.add(head)
        elif which.startswith(("/merge", "/retry")):
            self.approved.add(head)  # the head the commenter sees as they write
        self.comment_ids += 1
        self.inbox.append(("issue_comment", self.payload(action="created", issue={
            "number": n, "pull_request": {"url": "x"}}, comment={
            "id": self.comment_ids, "body": body, "user": {"login": "alice", "type": "User"},
            "created_at": iso(self.now)})))

    @rule(seconds=st.sampled_from([0, 1, 1, 30, 90, 1200]))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds
        self.bot.tick()
        self.after_bot()

    @rule()
    def outside_push_to_main(self) -> None:
        tip = self.gh.branches[(REPO, "main")]
        new = self.gh.add_commit(sha(f"outside-{tip}"), (tip,), {f"outside-{tip[:6]}"})
        self.gh.set_branch(REPO, "main", new)
        self.honest.setdefault(new, {})
        self.after_bot()

    # --- CI ------------------------------------------------------------------------------------
    HONEST = ("run", "run", "status", "start", "skipped")
    UNTRUSTED = ("green-status", "other-app", "own-config", "no-hash", "skipped-gate", "neutral-gate", "ci-app-gate")

    @precondition(lambda self: self.head_of)
    @rule(index=st.integers(0, 40), check=st.sampled_from(REQUIRED), how=st.sampled_from(HONEST + UNTRUSTED),
          on=st.sampled_from(["staging", "staging", "head", "any"]))
    def report(self, index: int, check: str, how: str, on: str = "any") -> None:
        """CI reports one required check on one commit: the honest CI tells the truth (a run of `ci`
        or a status for tests, `ci` for lint, `github-actions` with the base config's hash for the
        gate; a run may start now and finish later; a sound commit's tests job may be skipped).
        Everything else is a green-looking report that proves nothing: a collaborator's status,
        another app's run, a gate computed with the PR's own config or without a hash, a skipped or
        neutral gate, a gate published by the CI app instead of github-actions."""
        pool = {"staging": sorted(self.staging), "head": [h for n in PRS if (h := self.pr_head(n))]}.get(on)
        pool = pool or self.shas()
        target = pool[index % len(pool)]
        if how in self.UNTRUSTED:
            self.untrusted(target, check, how)
            return
        ok = not self.is_broken(target)
        conclusion = "success" if ok else "failure"
        if check == "tests" and how == "status":
            self.status(target, check, conclusion)
            self.honest.setdefault(target, {})[check] = conclusion
            return
        if check == "tests" and how == "skipped" and ok:
            conclusion = "skipped"  # a path filter: GitHub counts it as passing
        app = "github-actions" if check == "mlgate/bias" else "ci"
        text = gate_text(Status.PASS if ok else Status.FAIL, BASE_HASH) if check == "mlgate/bias" else None
        if how == "start":
            run = CheckRun(check, "in_progress", None, app, target, id=self.next_id(), text=None)
            self.running.append(run)
            self.check_run(run, "created")
            return
        self.check_run(CheckRun(check, "completed", conclusion, app, target, id=self.next_id(), text=text))
        self.honest.setdefault(target, {})[check] = conclusion

    def untrusted(self, target: str, check: str, how: str) -> None:
        if target in self.staging:
            note("an untrusted green report on a staging or try commit")
        gate = check == "mlgate/bias"
        if how == "green-status":
            self.status(target, check, "success")
            return
        text = gate_text(Status.PASS, BASE_HASH) if gate else None
        app, conclusion = "evil", "success"
        if gate and how == "own-config":
            app, text = "github-actions", gate_text(Status.PASS, OWN_HASH)
        elif gate and how == "no-hash":
            app, text = "github-actions", gate_text(Status.PASS, None)
        elif gate and how in ("skipped-gate", "neutral-gate"):
            app, conclusion = "github-actions", how.split("-")[0]
        elif gate and how == "ci-app-gate":
            app = "ci"
        self.check_run(CheckRun(check, "completed", conclusion, app, target, id=self.next_id(), text=text))

    @precondition(lambda self: self.head_of)
    @rule()
    def honest_ci_round(self) -> None:
        """The real CI catches up: every commit it has not judged yet gets all required checks."""
        for target in self.shas():
            for check in REQUIRED:
                if check not in self.honest.get(target, {}):
                    self.report(self.shas().index(target), check, "run")

    @precondition(lambda self: self.running)
    @rule(index=st.integers(0, 10))
    def honest_ci_finishes(self, index: int) -> None:
        run = self.running.pop(index % len(self.running))
        ok = not self.is_broken(run.head_sha)
        conclusion = "success" if ok else "failure"
        text = gate_text(Status.PASS if ok else Status.FAIL, BASE_HASH) if run.name == "mlgate/bias" else None
        self.check_run(dataclasses.replace(run, status="completed", conclusion=conclusion, text=text))
        self.honest.setdefault(run.head_sha, {})[run.name] = conclusion

    @precondition(lambda self: self.head_of)
    @rule(index=st.integers(0, 40), check=st.sampled_from(REQUIRED), how=st.sampled_from(
        ["status", "other-app", "own-config", "no-hash", "skipped-gate", "neutral-gate", "ci-app-gate"]))
    def untrusted_report(self, index: int, check: str, how: str) -> None:
        """Green-looking reports that prove nothing: a collaborator's status, another app's run, a
        gate computed with the PR's own config or without a hash, a skipped or neutral gate."""
        target = self.shas()[index % len(self.shas())]
        gate = check == "mlgate/bias"
        if how == "status":
            self.status(target, check, "success")
            return
        text = gate_text(Status.PASS, BASE_HASH) if gate else None
        app, conclusion = "evil", "success"
        if how == "other-app":
            pass
        elif not gate:
            app = "evil"
        elif how == "own-config":
            app, text = "github-actions", gate_text(Status.PASS, OWN_HASH)
        elif how == "no-hash":
            app, text = "github-actions", gate_text(Status.PASS, None)
        elif how in ("skipped-gate", "neutral-gate"):
            app, conclusion = "github-actions", how.split("-")[0]
        elif how == "ci-app-gate":
            app = "ci"
        self.check_run(CheckRun(check, "completed", conclusion, app, target, id=self.next_id(), text=text))

    def check_run(self, run: CheckRun, action: str = "completed") -> None:
        self.gh.report(run)
        self.inbox.append(("check_run", self.payload(action=action, check_run={
            "id": run.id, "name": run.name, "head_sha": run.head_sha, "status": run.status,
            "conclusion": run.conclusion, "app": {"slug": run.app}, "output": {"text": run.text},
            "pull_requests": []})))

    def status(self, target: str, context: str, state: str) -> None:
        sid = self.next_id()
        self.gh.report(CheckRun(context, "completed", state, None, target, id=sid, kind="status"))
        self.inbox.append(("status", self.payload(id=sid, sha=target, context=context, state=state)))

    # --- deliveries ----------------------------------------------------------------------------
    @precondition(lambda self: self.inbox or self.delivered)
    @rule(index=st.integers(0, 100), how=st.sampled_from(["all", "all", "next", "any", "again"]))
    def deliver(self, index: int, how: str) -> None:
        """The worker: catches up on everything in the order GitHub sent it, takes the next one, or
        one out of order (GitHub does not promise order), or one it had already handled again."""
        if how == "again":
            if self.delivered:
                self.handle(*self.delivered[index % len(self.delivered)])
            return
        for _ in range(200 if how == "all" else 1):
            if not self.inbox:
                return
            self.handle(*self.inbox.pop(index % len(self.inbox) if how == "any" else 0))

    @rule()
    def restart(self) -> None:
        """A new process: the database survives, memory does not; the worker's resync runs."""
        self.bot = self.new_bot()
        self.bot.resync(REPO)
        self.after_bot()

    # --- the promise ---------------------------------------------------------------------------
    @invariant()
    def main_only_moves_to_approved_green_commits(self) -> None:
        assert not self.gh.violations, self.gh.violations

    def teardown(self) -> None:
        """A calm world: every delivery arrives in order, the honest CI reports everything."""
        for _ in range(20):
            self.deliver(0, "all")
            self.time_passes(90)
            if not self.inbox and not any(set(REQUIRED) - set(self.honest.get(s, {})) for s in self.shas()):
                break
            if self.head_of:
                self.honest_ci_round()
        self.main_only_moves_to_approved_green_commits()


TrustMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
TestTrustThroughTheHandlers = pytest.mark.slow(TrustMachine.TestCase)


def test_the_property_test_sees_a_landing() -> None:
    """The machine can land a PR at all (else its promise would hold vacuously)."""
    m = TrustMachine()
    m.push(1, broken=False, ci_now=True)
    m.deliver(0, "all")
    m.comment(1, "/merge")
    m.deliver(0, "all")
    assert m.staging, "no staging commit was built"
    m.honest_ci_round()
    m.deliver(0, "all")
    assert m.gh.pulls[(REPO, 1)].merged and not m.gh.violations
