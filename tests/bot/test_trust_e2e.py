"""Walk-arounds of the merge bot's promise, end to end on the local GitHub sandbox.

The promise: a change lands only when every gate passes on the exact commit that will land,
judged by the base branch's rules. Each test here is a way around it that once worked; it drives
the real bot (handlers, queue runner with its SQLite state, GitHubForge over HTTP) with the
sandbox's signed webhooks, and a fake CI that publishes check runs the way the mlgate actions do
(with a GITHUB_TOKEN, so as the app `github-actions`, the results JSON in `output.text`) or the way
a careless or hostile workflow would. The bot is a GitHub App registered from `app.yml`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.store.engine import create_store_engine
from mlgate.bot.wiring import build_dispatcher
from mlgate.checks.results import GateResult, RunResults, Status
from mlgate.names import REPORT_MARKER
from mlgate.sandbox.harness import SandboxApp, SandboxServer, SinkDelivery, WebhookSink
from tests.bot.conftest import running_sandbox, sha256_of
from tests.bot.test_queue_e2e import ZERO, World

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

GATE_APP = "github-actions"  # the app the actions publish as (merge.gate_app's default)
MALLORY = "mallory"  # a collaborator with write access: may post statuses; her check runs come from her App "mallory"
CONFIG = """\
version: 1
bias:
  sensitive: [colour]
  limits:
    fpr: {max_difference: 0.1}
merge:
  required_checks: [tests]
  batch_size: 4
"""
LOOSENED = CONFIG.replace("max_difference: 0.1", "max_difference: 1.0")
UNFAIR_GAP, FAIR_GAP = 0.4, 0.02  # the candidate model's FPR gap between groups


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    users = ("alice", "bob", "carol", MALLORY)
    with running_sandbox(tmp_path_factory.mktemp("trust-sandbox"), users) as srv:
        yield srv


_MALLORY_APPS: dict[int, SandboxApp] = {}


def mallory_app(sandbox: SandboxServer) -> SandboxApp:
    """Mallory's own App (check runs need one): slug "mallory", registered once per sandbox."""
    if id(sandbox) not in _MALLORY_APPS:
        _MALLORY_APPS[id(sandbox)] = sandbox.register_app(MALLORY, owner=MALLORY, permissions={"checks": "write"})
    return _MALLORY_APPS[id(sandbox)]


class GateCI:
    """CI reacting to pushes: `tests` and `mlgate/bias` check runs published as `github-actions`.

    `reads` says which `.github/mlgate.yml` a run judges with, per kind of branch: "base" (main's,
    as the mlgate actions do with `--config-ref`) or "tree" (the pushed commit's own: a careless
    workflow, which the PR controls). The bias verdict follows that config's limit and the model's
    gap (`model.txt`: "unfair" or "fair"). `staging_hook(sha)` replaces the staging run, to play
    other CI behaviours on staging commits.
    """

    def __init__(self, w: TrustWorld, *, pr_reads: str = "base", staging_reads: str = "base") -> None:
        self.w = w
        self.reads = {"pr": pr_reads, "staging": staging_reads}
        self.staging_hook: Any = None
        self.staging: list[str] = []

    def on_push(self, payload: dict[str, Any]) -> None:
        ref, sha = payload.get("ref", ""), payload.get("after", ZERO)
        branch = ref.removeprefix("refs/heads/")
        if sha == ZERO or branch == "main" or branch.startswith("mlgate/tmp/"):
            return
        kind = "staging" if branch.startswith(("mlgate/staging/", "mlgate/try/")) else "pr"
        if kind == "staging":
            self.staging.append(sha)
            if self.staging_hook is not None:
                self.staging_hook(sha)
                return
        self.run(sha, self.reads[kind])

    def run(self, sha: str, reads: str) -> None:
        self.w.check_run(sha, "tests", "success")
        config = self.w.file("main" if reads == "base" else sha, CONFIG_PATH)
        self.w.check_run(sha, "mlgate/bias", *bias_verdict(config, self.w.file(sha, "model.txt")))


def bias_verdict(config: str, model: str | None) -> tuple[str, str]:
    """(conclusion, results JSON) of the bias gate computed with `config` on the model."""
    limit = 1.0 if "max_difference: 1.0" in config else 0.1
    gap = UNFAIR_GAP if model and "unfair" in model else FAIR_GAP
    ok = gap <= limit
    return ("success" if ok else "failure"), results_json(Status.PASS if ok else Status.FAIL, sha256_of(config))


def results_json(status: Status, config_sha256: str | None) -> str:
    gate = GateResult("bias", status, f"fpr gap {UNFAIR_GAP}", baseline_used=True)
    versions = {"config_sha256": config_sha256} if config_sha256 else {}
    return json.dumps(RunResults([gate], versions, {}).to_dict())


class ForkView:
    """The sandbox cannot open pull requests from forks; this forge shows the chosen PRs as GitHub's
    API shows a fork's PR (`head.repo` is the fork), everything else passes through to the real
    GitHubForge. The commits, branches and webhooks stay the sandbox's own."""

    def __init__(self, inner: Any, forks: dict[int, str]) -> None:
        self.inner, self.forks = inner, forks

    def pull_facts(self, repo: str, number: int, **kw: Any) -> Any:
        facts = self.inner.pull_facts(repo, number, **kw)
        fork = self.forks.get(number)
        return dataclasses.replace(facts, head_repo=fork) if fork else facts

    def pull_head_branch(self, repo: str, number: int) -> tuple[str, str, str]:
        ref, sha, head_repo = self.inner.pull_head_branch(repo, number)
        return ref, sha, self.forks.get(number, head_repo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TrustWorld(World):
    """The queue e2e world plus the apps and users these walk-arounds need, deliveries that can be
    held back and handed to the bot later (a busy worker, a restart, GitHub redelivering), and PRs
    that the bot sees as coming from forks (`forks`)."""

    def __init__(self, sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path, name: str,
                 config: str = CONFIG) -> None:
        self.forks: dict[int, str] = {}
        super().__init__(sandbox, sink, tmp_path, name, config=config, batch_delay=0.0)
        resp = sandbox.api("PUT", f"/repos/{self.repo}/collaborators/{MALLORY}", "alice", json={"permission": "push"})
        resp.raise_for_status()
        mallory = mallory_app(sandbox)
        # who publishes check runs: workflows with their GITHUB_TOKEN, and mallory's App installed here
        self.check_tokens = {GATE_APP: sandbox.actions_token(self.repo),
                             MALLORY: sandbox.installation_token(mallory, sandbox.install_app(mallory.id, "alice",
                                                                                                [name]))}
        self.ci = GateCI(self)  # type: ignore[assignment]

    def new_bot(self) -> Handlers:
        settings = self.app.settings(database_url=self.db_url)
        inner = self.app.forges(settings)

        def forges(repo: str, installation: int | None = None) -> Any:
            return ForkView(inner(repo, installation), self.forks)

        forges.bot_login = getattr(inner, "bot_login", None)  # type: ignore[attr-defined]
        bot = build_dispatcher(settings, create_store_engine(self.db_url), forges=forges)
        assert bot.queue is not None
        bot.queue.clock = self.clock
        bot.queue_knobs["batch_delay_seconds"] = self.batch_delay
        return bot

    def held(self) -> list[SinkDelivery]:
        """The deliveries GitHub sent since the last look, NOT handled (the bot is busy or down)."""
        assert self.sandbox.wait_for_webhooks(timeout=30)
        new = self.sink.deliveries[self.seen:]
        self.seen = len(self.sink.deliveries)
        return [d for d in new if d.payload.get("repository", {}).get("full_name") == self.repo]

    def deliver(self, deliveries: list[SinkDelivery]) -> None:
        """Hand held deliveries to the bot in this order, as the worker would, then settle."""
        refs: set[tuple[str, int]] = set()
        for d in deliveries:
            if d.event == "push":
                self.ci.on_push(d.payload)
            refs |= self.bot.handle(d.event, d.payload, d.guid)
        for repo, number in sorted(refs):
            self.bot.evaluate(repo, number)
        self.settle()

    def replies(self, number: int) -> list[str]:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/issues/{number}/comments", "alice")
        resp.raise_for_status()
        return [c["body"] for c in resp.json() if "mlgate-reply:" in (c.get("body") or "")]

    def file(self, ref: str, path: str) -> str | None:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/contents/{path}", "alice", params={"ref": ref})
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        import base64

        return base64.b64decode(resp.json()["content"]).decode()

    def check_run(self, sha: str, name: str, conclusion: str | None, text: str | None = None,
                  app: str = GATE_APP) -> int:
        body: dict[str, Any] = {"name": name, "head_sha": sha, "output": {"title": name, "summary": name}}
        body.update({"status": "completed", "conclusion": conclusion} if conclusion else {"status": "in_progress"})
        if text is not None:
            body["output"]["text"] = text
        resp = self.sandbox.api("POST", f"/repos/{self.repo}/check-runs", self.check_tokens[app], json=body)
        resp.raise_for_status()
        return int(resp.json()["id"])

    def finish_run(self, run_id: int, conclusion: str, app: str = GATE_APP) -> None:
        resp = self.sandbox.api("PATCH", f"/repos/{self.repo}/check-runs/{run_id}", self.check_tokens[app],
                                json={"status": "completed", "conclusion": conclusion})
        resp.raise_for_status()

    def status(self, sha: str, context: str, state: str, user: str = MALLORY) -> None:
        resp = self.sandbox.api("POST", f"/repos/{self.repo}/statuses/{sha}", user,
                                json={"state": state, "context": context})
        resp.raise_for_status()

    def mlgate(self, sha: str) -> dict[str, Any]:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/commits/{sha}/check-runs", "alice",
                                params={"check_name": "mlgate"})
        resp.raise_for_status()
        (run,) = [r for r in resp.json()["check_runs"] if r["name"] == "mlgate"]
        return run

    def report(self, number: int) -> str:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/issues/{number}/comments", "alice")
        resp.raise_for_status()
        (body,) = [c["body"] for c in resp.json() if REPORT_MARKER in (c.get("body") or "")]
        return str(body)


# ---------------------------------------------------------------------------------------------
# 1. A PR loosens its own gates through CI


def test_a_pr_that_loosens_its_own_bias_limit_does_not_turn_its_bias_gate_green(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = TrustWorld(sandbox, sink, tmp_path, "trust-own-config")
    w.ci = GateCI(w, pr_reads="tree", staging_reads="tree")  # a workflow that reads the pushed tree's config
    main_before = w.branch_sha("main")
    n = w.open_pr("loosen", {CONFIG_PATH: LOOSENED, "model.txt": "unfair\n"})
    w.settle()
    head = w.pull(n)["head"]["sha"]
    # Someone with write access also publishes a green mlgate/bias from her own app: not the pinned one.
    w.check_run(head, "mlgate/bias", "success", results_json(Status.PASS, sha256_of(CONFIG)), app=MALLORY)
    w.settle()

    run = w.mlgate(head)
    assert (run["status"], run["conclusion"]) == ("completed", "failure"), run["output"]["title"]
    report = w.report(n)
    assert "computed with the PR's own .github/mlgate.yml" in report
    assert "a PR cannot change its own gates" in report
    assert "reported by the app mallory, but only the app github-actions may report mlgate/bias; ignored" in report
    w.comment(n, "/merge")
    w.settle()
    assert w.statuses()[n] == "waiting" and not w.ci.staging  # never built, never landed
    assert w.branch_sha("main") == main_before


def test_a_staging_result_computed_with_another_config_does_not_land(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """The PR head is judged honestly (main's config), but the `on: push` run on the staging commit
    reads the staging tree's config, which the PR changed: that result proves nothing."""
    w = TrustWorld(sandbox, sink, tmp_path, "trust-staging-config")
    w.ci = GateCI(w, pr_reads="base", staging_reads="tree")
    main_before = w.branch_sha("main")
    n = w.open_pr("tweak", {CONFIG_PATH: LOOSENED, "model.txt": "fair\n"})
    w.settle()
    assert w.mlgate(w.pull(n)["head"]["sha"])["conclusion"] == "success"
    w.comment(n, "/merge")
    w.settle()
    assert w.ci.staging, "no staging commit was built"
    assert w.statuses()[n] == "failed"
    assert any("computed with another config" in c for c in w.queue_comments(n)), w.queue_comments(n)
    assert w.branch_sha("main") == main_before


# ---------------------------------------------------------------------------------------------
# 4. Staging commits judged more loosely than PR heads


def test_a_commit_status_does_not_replace_a_check_run_still_running_on_staging(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = TrustWorld(sandbox, sink, tmp_path, "trust-status-over-run")
    ci: GateCI = w.ci  # type: ignore[assignment]
    running: dict[str, int] = {}

    def slow_tests(sha: str) -> None:  # the real test run is slow; the gate is quick and green
        running[sha] = w.check_run(sha, "tests", None)
        w.check_run(sha, "mlgate/bias", *bias_verdict(CONFIG, "fair"))

    ci.staging_hook = slow_tests
    main_before = w.branch_sha("main")
    n = w.open_pr("feature", {"model.txt": "fair\n"})
    w.settle()
    w.comment(n, "/merge")
    w.settle()
    (staging,) = running
    w.status(staging, "tests", "success")  # a collaborator's status with the run's name
    w.settle()
    assert w.statuses()[n] == "testing" and w.branch_sha("main") == main_before
    finished: set[str] = set()
    while set(running) - finished:  # the run fails; a PR failing alone is re-run once (flakes), failing again
        for sha in set(running) - finished:
            w.finish_run(running[sha], "failure")
            finished.add(sha)
        w.settle()
    assert w.statuses()[n] == "failed" and w.branch_sha("main") == main_before


def test_a_skipped_gate_on_a_staging_commit_does_not_land_it(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = TrustWorld(sandbox, sink, tmp_path, "trust-skipped-gate")
    ci: GateCI = w.ci  # type: ignore[assignment]

    def skipped_gate(sha: str) -> None:  # a path filter skipped the gate's job on the staging push
        w.check_run(sha, "tests", "success")
        w.check_run(sha, "mlgate/bias", "skipped")
        # and a green mlgate/bias from another app does not stand in for it
        w.check_run(sha, "mlgate/bias", "success", results_json(Status.PASS, sha256_of(CONFIG)), app=MALLORY)

    ci.staging_hook = skipped_gate
    main_before = w.branch_sha("main")
    n = w.open_pr("feature", {"model.txt": "fair\n"})
    w.settle()
    w.comment(n, "/merge")
    w.settle()
    assert w.statuses()[n] == "failed" and w.branch_sha("main") == main_before
    assert any("mlgate/bias: skipped: the gate judged nothing" in c for c in w.queue_comments(n))


# ---------------------------------------------------------------------------------------------
# 3. /merge applies to a head the commenter never saw


def test_a_push_after_the_merge_comment_is_not_merged_on_the_strength_of_it(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """The worker is busy: the `/merge` comment and a later push wait in its inbox. When it gets to
    the comment, GitHub already shows the new head; the comment approved the old one."""
    w = TrustWorld(sandbox, sink, tmp_path, "trust-late-push")
    main_before = w.branch_sha("main")
    n = w.open_pr("feature", {"model.txt": "fair\n"})
    w.settle()
    seen = w.pull(n)["head"]["sha"]
    w.comment(n, "/merge")
    unseen = sandbox.push_files("alice", w.name, "feature", {"model.txt": "fair, retrained by bob\n"}, "bob",
                                message="Unreviewed change")
    w.deliver(w.held())  # in the order GitHub sent them: the comment first
    assert n not in w.statuses() and not w.ci.staging and w.branch_sha("main") == main_before
    (reply,) = w.replies(n)
    assert f"the head of this PR was {seen[:7]}; it is now {unseen[:7]}" in reply
    assert f"`/merge {unseen[:7]}`" in reply
    # Whoever reviewed the new head approves exactly it.
    w.comment(n, f"/merge {unseen[:7]}")
    w.settle()
    assert w.statuses()[n] == "merged" and w.pull(n)["head"]["sha"] == unseen


def test_a_push_delivered_before_an_earlier_merge_comment_does_not_ride_on_it(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """GitHub redelivers after an outage, out of order: the push's webhooks arrive before the comment's."""
    w = TrustWorld(sandbox, sink, tmp_path, "trust-reordered")
    main_before = w.branch_sha("main")
    n = w.open_pr("feature", {"model.txt": "fair\n"})
    w.settle()
    w.comment(n, "/merge")
    sandbox.push_files("alice", w.name, "feature", {"model.txt": "fair, retrained by bob\n"}, "bob",
                       message="Unreviewed change")
    held = w.held()
    comments = [d for d in held if d.event == "issue_comment"]
    w.deliver([d for d in held if d.event != "issue_comment"] + comments)
    assert n not in w.statuses() and w.branch_sha("main") == main_before
    assert "it is now" in w.replies(n)[0]


# ---------------------------------------------------------------------------------------------
# 2. Fork PRs write into the base repository


def test_a_pr_from_a_fork_is_never_built_into_the_base_repository(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = TrustWorld(sandbox, sink, tmp_path, "trust-fork")
    main_before = w.branch_sha("main")
    n = w.open_pr("fork-feature", {"model.txt": "fair\n"})
    w.forks[n] = f"{MALLORY}/trust-fork"
    w.settle()
    assert w.mlgate(w.pull(n)["head"]["sha"])["conclusion"] == "success"  # its gates are judged as usual
    pushes_before = len(sink.events("push"))
    w.comment(n, "/try")
    w.comment(n, "/merge")
    w.settle()
    assert not w.ci.staging and n not in w.statuses() and w.branch_sha("main") == main_before
    new_refs = [d.payload["ref"] for d in sink.events("push")[pushes_before:]
                if d.payload["repository"]["full_name"] == w.repo]
    assert new_refs == []  # no mlgate/tmp, mlgate/try or mlgate/staging branch was ever pushed
    replies = w.replies(n)
    assert len(replies) == 2 and all(f"this PR comes from the fork {MALLORY}/trust-fork" in r for r in replies)
    assert all("unless `merge.allow_forks: true`, because staging branches in the base repository run "
               "`on: push` workflows with the base repository's secrets" in r for r in replies)
    # The repository's owner may decide otherwise, on the base branch.
    sandbox.push_files("alice", w.name, "main", {CONFIG_PATH: CONFIG.replace("  batch_size: 4\n",
                                                                          "  batch_size: 4\n  allow_forks: true\n")},
                       "alice", message="Build fork PRs")
    w.settle()
    w.ci.run(w.pull(n)["head"]["sha"], "base")  # the config changed: its gates are computed again with it
    w.comment(n, "/merge")
    w.settle()
    assert w.statuses()[n] == "merged"
