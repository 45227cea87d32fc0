"""`app.yml` is the one source of truth for the App, and it is held to what the bot does.

One journey, end to end on the sandbox with installation tokens only: the App is registered from
`app.yml` through GitHub's manifest flow and installed on an organisation's repository; a PR that
touches training code asks a team for review, is approved, is `/try`d and `/merge`d through the
merge queue, lands and is deployed to staging; a second PR lands, its rollout fails, and the bot
rolls staging back on its own (the `deployment_status` webhook).

Then, both ways: every permission the App's calls used (the sandbox's call log) is in `app.yml` at
that level and every permission in `app.yml` was used at its level; every subscribed event was
delivered. And removing any one permission or event from the manifest makes the journey fail with
GitHub's 403 or a delivery that never arrives (`test_removing_one_permission_or_event_breaks_it`).
`metadata` is left out: GitHub grants it to every App whatever the manifest says.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.store.engine import create_store_engine
from mlgate.bot.store.inbox import Inbox
from mlgate.bot.wiring import build_dispatcher
from mlgate.names import DEPLOY_MARKER, QUEUE_MARKER
from mlgate.sandbox import manifest as manifests
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.bot_app import BotApp, install_bot, manifest_without
from tests.bot.conftest import running_sandbox
from tests.conftest import FakeTime

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

ORG, CHECK, LINT, ZERO = "acme-journey", "ci/tests", "ci/lint", "0" * 40
APP_YML = manifests.load()
# Permissions this journey does not exercise, and where they are: cancelling the Actions runs of an
# abandoned staging build (best effort; tests/bot/test_queue_e2e.py abandons builds with runs).
NOT_IN_JOURNEY = {"actions", "merge_queues"}
# Events this journey does not produce, and the named test that fails without them: merge_group
# (GitHub's own merge queue; its permission is merge_queues) in tests/bot/test_merge_group_e2e.py,
# whose bot is the App from app.yml too.
EVENTS_NOT_IN_JOURNEY = {"merge_group"}
_journeys = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("journey-sandbox"), ("alice", "bob", "carol")) as srv:
        srv.admin("POST", "/orgs", json={"login": ORG, "admins": ["alice"], "members": ["bob"]}).raise_for_status()
        yield srv


@dataclass
class Journey:
    """What happened: the App, errors the bot raised (as the worker would log them), outcomes."""

    app: BotApp
    repo: str
    errors: list[str] = field(default_factory=list)
    outcomes: dict[str, bool] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Why the journey did not go as it should: GitHub's refusals, events the App never heard,
        steps that did not happen. Empty when everything worked."""
        seen = self.app.exercised()
        found = [f"403: {call}" for call in seen["unmet"]]
        found += [f"error: {e}" for e in self.errors]
        found += [f"never delivered: {event}" for event in APP_YML["default_events"]
                  if event not in seen["events"] and event not in EVENTS_NOT_IN_JOURNEY]
        found += [f"did not happen: {step}" for step, ok in self.outcomes.items() if not ok]
        return found


class Run:
    """One repository, the bot in App mode (handlers + queue + deployments on SQLite), a CI posting
    with a GITHUB_TOKEN, on every pushed branch, the status `ci/tests` and then the check run
    `ci/lint`; deliveries fed like the worker does."""

    def __init__(self, sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path, manifest: dict[str, Any]) -> None:
        self.sandbox, self.sink = sandbox, sink
        n = next(_journeys)
        self.name, team = f"journey-{n}", f"ml-{n}"
        src = tmp_path / "src"
        (src / ".github").mkdir(parents=True)
        (src / CONFIG_PATH).write_text(f"""\
version: 1
review:
  rules:
    - name: training code
      paths: ["train.py"]
      teams: [{ORG}/{team}]
      request_reviews: true
merge:
  required_checks: [{CHECK}, {LINT}]
  batch_size: 4
deploy:
  environments:
    staging: {{auto: true, rollback_on_failure: true}}
""")
        (src / "train.py").write_text("EPOCHS = 1\n")
        self.repo = sandbox.create_repo(ORG, self.name, "alice", from_dir=src)["full_name"]
        api = sandbox.api
        api("PUT", f"/repos/{self.repo}/collaborators/carol", "alice", json={"permission": "push"}).raise_for_status()
        api("POST", f"/orgs/{ORG}/teams", "alice", json={"name": team}).raise_for_status()
        api("PUT", f"/orgs/{ORG}/teams/{team}/memberships/bob", "alice", json={"role": "member"}).raise_for_status()
        api("PUT", f"/orgs/{ORG}/teams/{team}/repos/{self.repo}", "alice",
            json={"permission": "push"}).raise_for_status()
        self.journey = Journey(install_bot(sandbox, sink.url, [self.name], account=ORG, manifest=manifest), self.repo)
        self.ci_token = sandbox.actions_token(self.repo)
        db = f"sqlite:///{tmp_path / 'bot.sqlite'}"
        Inbox.open(db).close()
        settings = self.journey.app.settings(database_url=db)
        self.bot = build_dispatcher(settings, create_store_engine(db), forges=self.journey.app.forges(settings))
        assert self.bot.queue is not None
        self.clock = FakeTime(time.time())
        self.bot.queue.clock = self.clock
        self.bot.queue_knobs["batch_delay_seconds"] = 0.0
        self.seen = 0

    # --- driving -----------------------------------------------------------------------------
    def settle(self, max_rounds: int = 60) -> None:
        for _ in range(max_rounds):
            assert self.sandbox.wait_for_webhooks(timeout=30)
            new = self.sink.deliveries[self.seen:]
            self.seen = len(self.sink.deliveries)
            if not new:
                if not self.tick_if_due():
                    return
                continue
            refs: set[tuple[str, int]] = set()
            for d in new:
                if d.payload.get("repository", {}).get("full_name") != self.repo:
                    continue
                assert d.signature_ok(self.journey.app.secret)
                if d.event == "push":
                    self.ci(d.payload)
                refs |= self.guard(f"{d.event}.{d.payload.get('action')}", lambda d=d: self.bot.handle(
                    d.event, d.payload, d.guid)) or set()
            for repo, number in sorted(refs):
                self.guard(f"evaluate #{number}", lambda r=repo, n=number: self.bot.evaluate(r, n))
        pytest.fail("the bot did not settle")

    def guard(self, what: str, fn: Any) -> Any:
        """Run one unit of the worker's work; an exception is what the worker would log and retry."""
        try:
            return fn()
        except Exception as exc:
            self.journey.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            return None

    def tick_if_due(self, horizon: float = 5.0) -> bool:
        assert self.bot.queue is not None
        wakeup = self.bot.queue.store.load(self.repo).wakeup_at
        if wakeup is None or wakeup - self.clock() > horizon:
            return False
        self.clock.now = max(self.clock.now, wakeup)
        self.guard("tick", self.bot.tick)
        return True

    def ci(self, payload: dict[str, Any]) -> None:
        branch, sha = payload.get("ref", "").removeprefix("refs/heads/"), payload.get("after", ZERO)
        if sha == ZERO or branch == "main" or branch.startswith("mlgate/tmp/"):
            return
        api = self.sandbox.api
        api("POST", f"/repos/{self.repo}/statuses/{sha}", self.ci_token,
            json={"state": "success", "context": CHECK}).raise_for_status()
        # the slower job, a check run of the `github-actions` App: only its `completed` says it is done
        run = api("POST", f"/repos/{self.repo}/check-runs", self.ci_token,
                  json={"name": LINT, "head_sha": sha, "status": "in_progress"})
        run.raise_for_status()
        api("PATCH", f"/repos/{self.repo}/check-runs/{run.json()['id']}", self.ci_token,
            json={"status": "completed", "conclusion": "success"}).raise_for_status()

    # --- the people --------------------------------------------------------------------------
    def pr(self, branch: str, files: dict[str, str | None]) -> int:
        self.sandbox.push_files(ORG, self.name, branch, files, "carol", message=f"Change {branch}", base="main")
        return int(self.sandbox.open_pr(ORG, self.name, branch, "carol")["number"])

    def comment(self, number: int, body: str, user: str = "alice") -> None:
        self.sandbox.api("POST", f"/repos/{self.repo}/issues/{number}/comments", user,
                         json={"body": body}).raise_for_status()

    def get(self, path: str) -> Any:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}{path}", "alice")
        return resp.json() if resp.status_code == 200 else None

    def deployments(self) -> list[dict[str, Any]]:
        return sorted(self.get("/deployments") or [], key=lambda d: d["id"])

    def cd(self, deployment: dict[str, Any], state: str) -> None:
        """The CD system reports how a rollout went (a person's token: CD is not the bot)."""
        self.sandbox.api("POST", f"/repos/{self.repo}/deployments/{deployment['id']}/statuses", "alice",
                         json={"state": state}).raise_for_status()

    def queue_comments(self, number: int) -> str:
        return " ".join(c["body"] for c in self.get(f"/issues/{number}/comments") or []
                        if QUEUE_MARKER in c["body"] or DEPLOY_MARKER in c["body"])


def journey(sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path, manifest: dict[str, Any]) -> Journey:
    """The whole story; each outcome is recorded, never asserted, so a broken App shows all it broke."""
    run = Run(sandbox, sink, tmp_path, manifest)
    out = run.journey.outcomes
    run.settle()
    first = run.pr("tune", {"train.py": "EPOCHS = 2\n"})
    run.settle()
    requested = run.get(f"/pulls/{first}/requested_reviewers") or {}
    out["the team was asked for a review"] = [t["slug"] for t in requested.get("teams", [])] != []
    sandbox.api("POST", f"/repos/{run.repo}/pulls/{first}/reviews", "bob",
                json={"event": "APPROVE"}).raise_for_status()
    run.settle()
    head = (run.get(f"/pulls/{first}") or {}).get("head", {}).get("sha", "")
    runs = (run.get(f"/commits/{head}/check-runs") or {}).get("check_runs", [])
    out["the mlgate check went green"] = any(r["name"] == "mlgate" and r["conclusion"] == "success" for r in runs)
    run.comment(first, "/try", user="carol")
    run.settle()
    out["/try built and reported"] = "success" in run.queue_comments(first) and CHECK in run.queue_comments(first)
    run.comment(first, "/merge")
    run.settle()
    out["the first PR landed"] = bool((run.get(f"/pulls/{first}") or {}).get("merged"))
    deployed = run.deployments()
    out["it was deployed to staging"] = len(deployed) == 1
    if deployed:
        run.cd(deployed[0], "success")
        run.settle()
    second = run.pr("docs", {"README.md": "# model\n"})
    run.settle()
    run.comment(second, "/merge")
    run.settle()
    out["the second PR landed"] = bool((run.get(f"/pulls/{second}") or {}).get("merged"))
    deployed = run.deployments()
    if len(deployed) == 2:
        run.cd(deployed[1], "failure")
        run.settle()
    deployed = run.deployments()
    out["the failed rollout was rolled back"] = (
        len(deployed) == 3 and deployed[2]["sha"] == deployed[0]["sha"] and "failure" in run.queue_comments(second))
    return run.journey


def test_the_app_from_app_yml_runs_queue_try_deployments_and_rollback(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    done = journey(sandbox, sink, tmp_path, APP_YML)
    assert done.problems() == []
    seen = done.app.exercised()
    granted = {k: v for k, v in APP_YML["default_permissions"].items() if k not in NOT_IN_JOURNEY}
    # both ways: what the calls used is exactly what app.yml asks for (metadata: GitHub's, always granted)
    assert seen["permissions"] == granted, "app.yml and the permissions the bot exercised differ"
    assert set(APP_YML["default_events"]) - EVENTS_NOT_IN_JOURNEY <= set(seen["events"]) <= {
        *APP_YML["default_events"], "installation"}


# check_suite `completed` re-evaluates a PR whose last check run finished; in this journey every such
# moment is also a check_run `completed` (or an approval), so nothing visible breaks without it: the
# test sees only the delivery GitHub no longer sends. It matters for check runs created completed in
# one call (GitHub then sends check_run `created`, which the bot does not re-evaluate on).
ONLY_A_MISSING_DELIVERY = {"check_suite"}
REMOVALS = [pytest.param("permission", p, id=f"permission-{p}") for p in APP_YML["default_permissions"]
            if p != "metadata" and p not in NOT_IN_JOURNEY]
REMOVALS += [pytest.param("event", e, id=f"event-{e}") for e in APP_YML["default_events"]
             if e not in EVENTS_NOT_IN_JOURNEY]


@pytest.mark.parametrize(("kind", "name"), REMOVALS)
def test_removing_one_permission_or_event_breaks_it(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path, kind: str, name: str
) -> None:
    """app.yml asks for nothing it does not need: without any one of its lines, GitHub refuses a call
    (403) or never delivers an event the bot relies on."""
    manifest = manifest_without(permission=name) if kind == "permission" else manifest_without(event=name)
    problems = journey(sandbox, sink, tmp_path, manifest).problems()
    assert any(p.startswith(("403: ", "never delivered: ")) for p in problems), problems
    if kind == "event":
        assert f"never delivered: {name}" in problems
        if name not in ONLY_A_MISSING_DELIVERY:
            assert any(p.startswith("did not happen: ") for p in problems), problems
    else:
        assert any(p.startswith("403: ") and name in p for p in problems) or any(
            p.startswith("never delivered: ") for p in problems), problems
