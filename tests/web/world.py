"""A small world for the dashboard's tests: the sandbox with a public and a private repository,
the bot's store filled through the bot's own writers (queue store, history, ledger, alert keeper),
and the bot's web app (webhook + dashboard) served on loopback, as `mlgate serve` builds it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlgate.bot.alerts.keeper import AlertKeeper
from mlgate.bot.commands.approval import HeadSeen
from mlgate.bot.commands.heads import SqlHeadLog
from mlgate.bot.deploy.decisions import DeployRecord, Version
from mlgate.bot.deploy.ledger import SqlLedger
from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.history.diff import diff
from mlgate.bot.history.tables import HistoryStore
from mlgate.bot.queue.model import (
    MERGED,
    QUEUED,
    RUNNING,
    TESTING,
    WAITING,
    Build,
    CheckResult,
    Lane,
    Pull,
    QueueState,
    StagedPull,
)
from mlgate.bot.queue.store import QueueStore
from mlgate.bot.settings import Settings
from mlgate.bot.store.inbox import Inbox
from mlgate.bot.wiring import build_web_app
from mlgate.checks.config.models import MlgateConfig
from mlgate.sandbox.harness import SandboxServer

OWNER, PUBLIC, PRIVATE = "alice", "arrests", "secret-model"
READER, STRANGER, BOT = "bob", "eve", "mlgate-bot"
EVIL = "<script>alert('x')</script>"


def results(gate: str, status: str, metrics: dict[str, float], **details: Any) -> str:
    import json

    return json.dumps({"gate": gate, "status": status, "summary": f"{gate}: {status} {EVIL}",
                       "metrics": [{"name": k, "value": v, "status": "pass"} for k, v in metrics.items()],
                       "findings": [], "details": details})


def seed(engine: Any, repo: str, t0: float) -> None:
    """Three landed batches with gate metrics, a running batch, waiting PRs, deployments with a rollback."""
    history, queue, ledger = HistoryStore(engine), QueueStore(engine), SqlLedger(engine)
    landed = [("a" * 40, 0.74, 0.70, "2000-12-31T00:00:00"), ("b" * 40, 0.75, 0.71, "2001-06-30T00:00:00"),
              ("c" * 40, 0.73, 0.72, "2002-01-31T00:00:00")]
    number = 1
    for i, (sha, auc, acc, newest) in enumerate(landed):
        at = t0 + i * 600
        build = Build(i + 1, "batch", "main", "mlgate/staging/main", (StagedPull(number, "f" * 40),), "merge", (),
                      at, state=RUNNING, sha=sha, created_at=at)
        queued = QueueState(repo, pulls=(Pull(number, "main", "f" * 40, TESTING, seq=number, queued_at=at),),
                            lanes=(Lane("main", build=build),))
        before = QueueState(repo, pulls=(Pull(number, "main", "f" * 40, QUEUED, seq=number, queued_at=at),))
        history.record_queue(repo, *diff(before, queued, at - 60))
        done = QueueState(repo, pulls=(Pull(number, "main", "f" * 40, MERGED, seq=number, landed_sha=sha),),
                          lanes=(Lane("main", base_sha=sha),))
        history.record_queue(repo, *diff(queued, done, at + 300))
        unused = results("features", "warn", {"features_total": 2.0}, registry="features.yaml")
        history.record_gate_run(repo, sha, "mlgate/features", status="completed", conclusion="success",
                                app="github-actions", summary="features: warn",
                                results=_with_unused(_digest("mlgate/features", unused)), at=at + 200)
        for gate, value in (("quality", {"roc_auc": auc, "accuracy": acc}), ("data", {"age_days": 30.0 + i})):
            history.record_gate_run(repo, sha, f"mlgate/{gate}", status="completed", conclusion="success",
                                    app="github-actions", summary=f"{gate} passed",
                                    results=_digest(f"mlgate/{gate}", results(gate, "pass", value, newest=newest)),
                                    at=at + 200)
        history.record_gate_run(repo, sha, "tests", status="completed", conclusion="success", app="github-actions",
                                summary="", results=None, at=at + 200)
        card = {"schema": "mlgate.card/v1", "name": "arrests", "status": "pass", "summary_line": "all 3 gates passed",
                "summary": [], "intended_use": [f"Triage only {EVIL}"], "out_of_scope": [], "limitations": [],
                "owners": ["@ml-fairness-team"], "contact": None,
                "versions": {"code": sha, "model": f"sha256:{i}{'0' * 63}"},
                "verdicts": [{"gate": "quality", "status": "pass", "summary": f"roc_auc {auc}"}], "notes": []}
        ledger.add_landed(repo, Version(sha, model=f"sha256:{i}{'0' * 63}", data=f"sha256:{i}{'1' * 63}",
                                        prs=(number,), landed_at=at + 300, card=card))
        number += 1
    # now: #4 in a running batch, #5 queued with priority, #6 queued, #7 waiting on a review
    build = Build(4, "batch", "main", "mlgate/staging/main", (StagedPull(4, "4" * 40),), "merge", ("tests",), t0 + 2000,
                  state=RUNNING, sha="d" * 40, created_at=t0 + 2000,
                  checks=(CheckResult("tests", "completed", "success", None, t0 + 2100),))
    current = QueueState(repo, pulls=(
        Pull(4, "main", "4" * 40, TESTING, seq=4, queued_at=t0 + 1990, requested_by=OWNER),
        Pull(5, "main", "5" * 40, QUEUED, priority=0, seq=5, queued_at=t0 + 2010),
        Pull(6, "main", "6" * 40, QUEUED, priority=2, seq=6, queued_at=t0 + 2020),
        Pull(7, "main", "7" * 40, WAITING, seq=7, reason=f"review: needs bob {EVIL}"),
    ), lanes=(Lane("main", base_sha="c" * 40, build=build),), next_id=5, next_seq=8)
    row = queue.load(repo)
    queue.save(row, current, wakeup_at=None, now=t0 + 2100, config_branch="main")
    history.record_queue(repo, *diff(QueueState(repo), current, t0 + 2000))
    ledger.add_deployment(repo, DeployRecord(101, "staging", "b" * 40, "success"))
    ledger.add_deployment(repo, DeployRecord(102, "staging", "c" * 40, "failure"))
    ledger.add_deployment(repo, DeployRecord(103, "staging", "b" * 40, "success", rollback_of=102,
                                                requested_by=OWNER))
    heads = SqlHeadLog(engine)
    heads.record(repo, 4, HeadSeen("3" * 40, t0 + 1500, "opened"))
    heads.record(repo, 4, HeadSeen("4" * 40, t0 + 1800, "synchronize"))
    history.record_gate_run(repo, "3" * 40, "mlgate/quality", status="completed", conclusion="failure",
                            app="github-actions", summary="quality: roc_auc below its floor", results=None,
                            at=t0 + 1600)
    history.record_review(repo, 4, "3" * 40, "failure", [
        {"name": "training code needs an ML reviewer", "status": "missing_approvals", "approved_by": [],
         "reviewers": "@bob", "summary": "0 of 1 approval; 1 more needed from @bob"}], t0 + 1600)
    history.record_review(repo, 4, "4" * 40, "success", [
        {"name": "training code needs an ML reviewer", "status": "satisfied", "approved_by": ["bob"],
         "reviewers": "@bob", "summary": "1 of 1 approval (@bob)"}], t0 + 1900)
    history.record_gate_run(repo, "4" * 40, "mlgate/quality", status="completed", conclusion="success",
                            app="github-actions", summary=f"quality: pass {EVIL}", results=None, at=t0 + 1900)


def _with_unused(digest: dict[str, Any] | None) -> dict[str, Any]:
    assert digest is not None
    finding = {"severity": "warn", "code": "features.unused", "message": "1 feature is registered but never defined",
               "examples": ["colour (line 7)"]}
    return {**digest, "findings": [finding]}


def _digest(name: str, text: str) -> dict[str, Any] | None:
    from mlgate.bot.history.recorder import digest

    return digest(name, text)


@dataclass
class Dashboard:
    url: str
    sandbox: SandboxServer
    inbox: Inbox
    client_id: str
    keeper: AlertKeeper


@contextmanager
def dashboard_world(root: Path) -> Iterator[Dashboard]:
    users = (OWNER, READER, STRANGER, BOT, "github-actions")
    with SandboxServer(root / "sandbox", users=users) as sandbox:
        files = root / "files"
        (files / ".github").mkdir(parents=True)
        (files / ".github" / "mlgate.yml").write_text(
            "version: 1\nfeatures:\n  registry: features.yaml\n  code_paths: [features.py]\n")
        (files / "features.yaml").write_text(
            "features:\n"
            "  - name: age\n    description: Age in years.\n    owner: \"@ml-team\"\n    docs: docs/age.md\n"
            f"  - name: colour\n    description: \"{EVIL}\"\n    owner: carol\n")
        for name, private in ((PUBLIC, False), (PRIVATE, True)):
            sandbox.create_repo(OWNER, name, OWNER, from_dir=files, private=private)
            sandbox.api("PUT", f"/repos/{OWNER}/{name}/collaborators/{BOT}", OWNER,
                        json={"permission": "push"}).raise_for_status()
        sandbox.api("PUT", f"/repos/{OWNER}/{PRIVATE}/collaborators/{READER}", OWNER,
                    json={"permission": "pull"}).raise_for_status()
        app = sandbox.admin("POST", "/apps", json={"slug": "mlgate-dashboard", "owner": OWNER}).json()
        settings = Settings(webhook_secret="s", database_url=f"sqlite:///{root / 'bot.sqlite3'}",
                            github_url=sandbox.api_url, auth_mode="token", github_token=BOT,
                            oauth_client_id=app["client_id"], oauth_client_secret=app["client_secret"],
                            session_secret="test-session-key", github_web_url=sandbox.url)
        inbox = Inbox.open(settings.database_url)
        t0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc).timestamp()
        for repo in (f"{OWNER}/{PUBLIC}", f"{OWNER}/{PRIVATE}"):
            seed(inbox.engine, repo, t0)
        forges = forge_factory(settings, ForgeOptions(seconds_between_writes=0))
        keeper = AlertKeeper(inbox.engine, lambda repo: MlgateConfig(), lambda repo: forges(repo),  # type: ignore[arg-type,return-value]
                             clock=lambda: t0 + 2200)
        for repo in (f"{OWNER}/{PUBLIC}", f"{OWNER}/{PRIVATE}"):
            keeper.refresh(repo)
        from werkzeug.serving import make_server

        web = build_web_app(settings, inbox, None, forges=forges)
        server = make_server("127.0.0.1", 0, web, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Dashboard(f"http://127.0.0.1:{server.server_port}", sandbox, inbox, app["client_id"], keeper)
        finally:
            server.shutdown()
            server.server_close()
            inbox.close()
            time.sleep(0)
