"""Deployments end to end over real HTTP: the local GitHub sandbox, the real GitHubForge (PyGithub),
bot/deploy/runner.py, and the sandbox's signed `deployment_status` webhooks routed through bot/intake/handlers.py's
ROUTES (`Handlers.handle`), as the worker does.

Story: version A lands and goes to staging; the CD system (played by alice) reports success. B lands
and goes to staging; the CD system reports failure; the bot rolls staging back to A and comments
on B's PR. A SHA whose required status is missing is refused by GitHub itself (409), and no
deployment exists for it. The bot is a GitHub App registered from `app.yml` (tests/bot/bot_app.py):
deployments and their statuses are written with its installation token, and the `deployment_status`
webhook reaches it because it subscribed to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.deploy.decisions import PAYLOAD_KIND
from mlgate.bot.deploy.ledger import MemoryLedger
from mlgate.bot.deploy.runner import after_landing
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.wiring import build_dispatcher
from mlgate.checks.config.models import parse_config
from mlgate.names import DEPLOY_MARKER
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.bot_app import BotApp, install_bot
from tests.bot.conftest import running_sandbox

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

CONFIG = """\
version: 1
merge:
  required_checks: [ci/tests, mlgate/data]
deploy:
  environments:
    staging: {auto: true, rollback_on_failure: true}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("deploy-sandbox"), ("alice", "bob")) as srv:
        yield srv


def ci(sandbox: SandboxServer, repo: str, sha: str, model: str) -> None:
    """The fake CI, with a workflow's GITHUB_TOKEN: a green `ci/tests` status and an `mlgate/data`
    check run carrying the results JSON."""
    token = sandbox.actions_token(repo)
    sandbox.api("POST", f"/repos/{repo}/statuses/{sha}", token,
                json={"state": "success", "context": "ci/tests"}).raise_for_status()
    results = {"schema": "mlgate.results/v1", "status": "pass", "gates": [],
               "versions": {"git_sha": sha, "model": {"path": "model.skops", "sha256": model},
                            "data": {"paths": ["train.parquet"], "sha256": "sha256:data1"}}}
    sandbox.api("POST", f"/repos/{repo}/check-runs", token, json={
        "name": "mlgate/data", "head_sha": sha, "status": "completed", "conclusion": "success",
        "output": {"title": "data", "summary": "ok", "text": json.dumps(results)}}).raise_for_status()


def deployments(sandbox: SandboxServer, repo: str) -> list[dict[str, Any]]:
    resp = sandbox.api("GET", f"/repos/{repo}/deployments", "alice")
    resp.raise_for_status()
    return sorted(resp.json(), key=lambda d: d["id"])


def report_status(sandbox: SandboxServer, sink: WebhookSink, app: BotApp, bot: Any, repo: str, dep_id: int,
                  state: str) -> None:
    """The CD system posts a status; its signed webhook goes through the route as the worker would."""
    seen = len(sink.deliveries)
    sandbox.api("POST", f"/repos/{repo}/deployments/{dep_id}/statuses", "alice",
                json={"state": state, "description": f"rollout {state}"}).raise_for_status()
    assert sandbox.wait_for_webhooks(timeout=30)
    events = [d for d in sink.deliveries[seen:] if d.event == "deployment_status"]
    assert len(events) == 1 and events[0].signature_ok(app.secret)
    assert bot.handle("deployment_status", events[0].payload, events[0].guid) == set()  # ROUTES, as the worker


def test_land_deploy_fail_roll_back_and_refuse_unchecked(sandbox: SandboxServer, sink: WebhookSink,
                                                         tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / CONFIG_PATH).write_text(CONFIG)
    (src / "train.py").write_text("LR = 0.1\n")
    repo = sandbox.create_repo("alice", "deploy-e2e", "alice", from_dir=src)["full_name"]
    sandbox.api("PUT", f"/repos/{repo}/collaborators/bob", "alice", json={"permission": "push"}).raise_for_status()
    app = install_bot(sandbox, sink.url, ["deploy-e2e"])
    forges = app.forges()
    bot = build_dispatcher(app.settings(), forges=forges)
    ledger = MemoryLedger()
    bot.deploy_store = ledger
    forge = forges(repo, None)  # the installation is looked up, as the worker does
    config = parse_config(CONFIG)

    # A lands (the initial commit) and goes to staging.
    a = sandbox.api("GET", f"/repos/{repo}/branches/main", "alice").json()["commit"]["sha"]
    ci(sandbox, repo, a, "sha256:model-a")
    out = after_landing(forge, repo, a, [], config, ledger)
    assert any("Created deployment" in line for line in out), out
    (dep_a,) = deployments(sandbox, repo)
    assert dep_a["sha"] == a and dep_a["environment"] == "staging"
    assert dep_a["payload"]["kind"] == PAYLOAD_KIND
    assert dep_a["payload"]["version"] == {"code": a, "model": "sha256:model-a", "data": "sha256:data1"}
    assert dep_a["payload"]["gates"] == {"ci/tests": "success", "mlgate/data": "success"}
    report_status(sandbox, sink, app, bot, repo, dep_a["id"], "success")

    # B (PR by bob) lands, goes to staging, and its rollout fails: staging goes back to A.
    b = sandbox.push_files("alice", "deploy-e2e", "retrain", {"train.py": "LR = 0.5\n"}, "bob",
                           message="Retrain", base="main")
    pr = sandbox.open_pr("alice", "deploy-e2e", "retrain", "bob", title="Retrain with <b>LR</b> 0.5")
    ci(sandbox, repo, b, "sha256:model-b")
    after_landing(forge, repo, b, [pr["number"]], config, ledger)
    dep_b = deployments(sandbox, repo)[-1]
    assert dep_b["sha"] == b and dep_b["payload"]["prs"] == [pr["number"]]
    report_status(sandbox, sink, app, bot, repo, dep_b["id"], "failure")

    dep_back = deployments(sandbox, repo)[-1]
    assert dep_back["id"] not in (dep_a["id"], dep_b["id"])
    assert dep_back["sha"] == a and dep_back["environment"] == "staging"
    assert dep_back["payload"]["rollback_of"] == dep_b["id"]
    assert dep_back["payload"]["version"]["model"] == "sha256:model-a"
    comments = sandbox.api("GET", f"/repos/{repo}/issues/{pr['number']}/comments", "alice").json()
    notes = [c for c in comments if DEPLOY_MARKER in c["body"]]
    assert len(notes) == 1 and notes[0]["user"]["login"] == app.login
    assert "failure" in notes[0]["body"] and a[:7] in notes[0]["body"]

    # The rollback succeeds: nothing more happens.
    before = len(deployments(sandbox, repo))
    report_status(sandbox, sink, app, bot, repo, dep_back["id"], "success")
    assert len(deployments(sandbox, repo)) == before

    # C was never checked: GitHub itself refuses the deployment (required_contexts), the bot says so.
    c = sandbox.push_files("alice", "deploy-e2e", "unchecked", {"train.py": "LR = 9\n"}, "bob",
                           message="Unchecked", base="main")
    out = after_landing(forge, repo, c, [], config, ledger)
    assert any("GitHub refused" in line and "ci/tests" in line for line in out), out
    assert all(d["sha"] != c for d in deployments(sandbox, repo))
