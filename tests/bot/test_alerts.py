"""Alerts: the pure decision (facts → which alerts hold → open/update/close), and end to end on the
sandbox: the `mlgate-alert` issue opens once, is updated in place, and closes when resolved."""

from __future__ import annotations

import json
from pathlib import Path

import cmarkgfm
import pytest
import sqlalchemy as sa

from mlgate.bot.alerts.decide import issue_body, plan, raised, settings_of
from mlgate.bot.alerts.keeper import AlertKeeper
from mlgate.bot.alerts.model import (
    BATCH_TIMEOUT,
    DATA_STALE,
    DEPLOYMENT,
    GATE_FAILURE,
    OPEN,
    RESOLVED,
    Alert,
    AlertSettings,
    BuildFact,
    DeploymentFact,
    Facts,
    Freshness,
    GateOnCommit,
    LandedCommit,
    StoredAlert,
)
from mlgate.bot.deploy.decisions import DeployRecord
from mlgate.bot.deploy.ledger import SqlLedger
from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.history.diff import BuildRow
from mlgate.bot.history.tables import HistoryStore
from mlgate.bot.settings import Settings
from mlgate.bot.store.inbox import Inbox
from mlgate.checks.config.models import parse_config
from mlgate.sandbox.harness import SandboxServer

NOW = 1_800_000_000.0
ALL = AlertSettings()


def landed(sha: str, *gates: tuple[str, str]) -> LandedCommit:
    return LandedCommit("main", sha, NOW - 100, tuple(GateOnCommit(n, c, "") for n, c in gates))


# --- the pure decision -------------------------------------------------------------------------------


def test_a_gate_failing_on_the_newest_landed_commit_raises_one_alert_per_check() -> None:
    facts = Facts("o/r", NOW, landed=(landed("a" * 40, ("mlgate/bias", "failure"), ("mlgate/data", "success"),
                                             ("tests", "timed_out")),))
    alerts = raised(facts, ALL)
    assert [(a.key, a.kind) for a in alerts] == [("gate:main:mlgate/bias", GATE_FAILURE),
                                                 ("gate:main:tests", GATE_FAILURE)]
    assert "aaaaaaa" in alerts[0].title
    assert raised(Facts("o/r", NOW, landed=(landed("b" * 40, ("mlgate/bias", "success")),)), ALL) == []


def test_data_staleness_by_the_gate_and_by_the_clock() -> None:
    fresh = Freshness("main", "a" * 40, "2026-01-01T00:00:00", 3.0, "pass", limit_days=30, newest_epoch=NOW - 3 * 86400)
    assert raised(Facts("o/r", NOW, freshness=(fresh,)), ALL) == []
    judged = Freshness("main", "a" * 40, "2020-01-01T00:00:00", 900.0, "fail", limit_days=30)
    assert [a.kind for a in raised(Facts("o/r", NOW, freshness=(judged,)), ALL)] == [DATA_STALE]
    # the gate passed when it ran, but the clock has moved past the limit since: stale now
    aged = Freshness("main", "a" * 40, "x", 3.0, "pass", limit_days=30, newest_epoch=NOW - 31 * 86400)
    [alert] = raised(Facts("o/r", NOW, freshness=(aged,)), ALL)
    assert alert.key == "data-stale:main" and "31.0 days old" in alert.body
    # a config that pins the gate's clock (staleness.now) is judged by the gate alone
    pinned = Freshness("main", "a" * 40, "x", 3.0, "pass", limit_days=30, pinned_now=True, newest_epoch=0.0)
    assert raised(Facts("o/r", NOW, freshness=(pinned,)), ALL) == []


def test_deployment_failure_and_rollback_raise_until_a_new_success() -> None:
    def dep(i: int, state: str, rollback_of: int | None = None) -> DeploymentFact:
        return DeploymentFact("staging", i, f"{i}" * 40, state, rollback_of, NOW)

    assert [a.title for a in raised(Facts("o/r", NOW, deployments=(dep(1, "success"), dep(2, "failure"))), ALL)] \
        == ["Deployment to staging failed"]
    assert [a.title for a in raised(Facts("o/r", NOW, deployments=(dep(2, "failure"), dep(3, "success", 2))), ALL)] \
        == ["staging was rolled back"]
    assert raised(Facts("o/r", NOW, deployments=(dep(3, "success", 2), dep(4, "success"))), ALL) == []


def test_a_batch_past_its_timeout_raises_until_a_batch_lands() -> None:
    running = BuildFact("main", 7, "s" * 40, (3, 4), NOW - 121 * 60, None, "running")
    [alert] = raised(Facts("o/r", NOW, builds=(running,), timeout_minutes=120), ALL)
    assert alert.kind == BATCH_TIMEOUT and "#3, #4" in alert.body and "121 minutes" in alert.body
    assert raised(Facts("o/r", NOW, builds=(running,), timeout_minutes=180), ALL) == []
    timed_out = BuildFact("main", 7, "s" * 40, (3,), NOW - 7300, NOW - 100, "split",
                          "tests did not finish within 120 minutes (merge.timeout_minutes)")
    assert [a.key for a in raised(Facts("o/r", NOW, builds=(timed_out,)), ALL)] == ["timeout:main"]
    later = BuildFact("main", 8, "t" * 40, (3,), NOW - 50, NOW - 10, "landed")
    assert raised(Facts("o/r", NOW, builds=(timed_out, later)), ALL) == []


def test_the_config_switches_kinds_off() -> None:
    facts = Facts("o/r", NOW, landed=(landed("a" * 40, ("mlgate/bias", "failure")),),
                  deployments=(DeploymentFact("prod", 1, "a" * 40, "error", None, NOW),))
    config = parse_config("version: 1\nalerts:\n  gate_failure: false\n  label: ml-alert\n  mention: [alice]\n")
    settings = settings_of(config)
    assert settings.label == "ml-alert" and settings.mention == ("alice",)
    assert [a.kind for a in raised(facts, settings)] == [DEPLOYMENT]
    assert raised(facts, settings_of(parse_config("version: 1\nalerts: {enabled: false}\n"))) == []
    assert settings_of(parse_config("version: 1\n")) == AlertSettings()


def test_plan_opens_once_updates_on_change_and_closes_when_resolved() -> None:
    a = Alert("gate:main:mlgate/bias", GATE_FAILURE, "t1", "b1")

    def stored(state: str, title: str = "t1", synced: bool = True) -> dict[str, StoredAlert]:
        return {a.key: StoredAlert(a.key, a.kind, title, "b1", state, 12, NOW, NOW, None, synced)}

    assert [c.action for c in plan([a], {})] == ["open"]
    assert plan([a], stored(OPEN)) == []  # the same alert again: nothing to write
    assert [(c.action, c.issue_number) for c in plan([a], stored(OPEN, "t0"))] == [("update", 12)]
    assert [c.action for c in plan([a], stored(OPEN, synced=False))] == ["update"]  # a failed write is retried
    assert [(c.action, c.issue_number) for c in plan([], stored(OPEN))] == [("close", 12)]
    assert [(c.action, c.issue_number) for c in plan([a], stored(RESOLVED))] == [("open", 12)]  # it came back


def test_user_text_in_an_alert_is_escaped() -> None:
    evil = "@everyone <img src=x onerror=alert(1)> [x](javascript:alert(1))"
    facts = Facts("o/r", NOW, landed=(LandedCommit("main", "a" * 40, NOW, (GateOnCommit("mlgate/bias", "failure",
                                                                                          evil),)),))
    [alert] = raised(facts, ALL)
    html = cmarkgfm.github_flavored_markdown_to_html(issue_body(alert, ALL))
    assert "<img" not in html and "&lt;img" in html and "href=" not in html


# --- end to end on the sandbox -----------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """The sandbox and the bot's store, on SQLite and on PostgreSQL (the `db_url` fixture)."""
    with SandboxServer(tmp_path / "sandbox", users=("alice", "mlgate-bot")) as sandbox:
        sandbox.create_repo("alice", "model", "alice", auto_init=True)
        sandbox.api("PUT", "/repos/alice/model/collaborators/mlgate-bot", "alice",
                    json={"permission": "push"}).raise_for_status()
        settings = Settings(database_url=db_url, github_url=sandbox.api_url,
                            auth_mode="token", github_token="mlgate-bot")
        inbox = Inbox.open(settings.database_url)
        forges = forge_factory(settings, ForgeOptions(seconds_between_writes=0))
        clock = [NOW]
        config = parse_config("version: 1\nalerts:\n  mention: [alice]\n")
        keeper = AlertKeeper(inbox.engine, lambda repo: config, lambda repo: forges(repo),  # type: ignore[arg-type,return-value]
                             clock=lambda: clock[0], dashboard_url="http://dash.example")
        try:
            yield sandbox, inbox, keeper, clock
        finally:
            inbox.close()


def _land(history: HistoryStore, build_id: int, sha: str, conclusion: str, at: float) -> None:
    history.record_queue("alice/model", [BuildRow(build_id, "batch", "main", (build_id,), sha, at - 60, at, "landed")],
                         [])
    results = json.dumps({"gate": "bias", "status": "fail" if conclusion == "failure" else "pass",
                          "summary": "fnr gap", "metrics": []})
    history.record_gate_run("alice/model", sha, "mlgate/bias", status="completed", conclusion=conclusion,
                            app="github-actions", summary="bias", results={"summary": results}, at=at)


def _issues(sandbox: SandboxServer) -> list[dict]:
    resp = sandbox.api("GET", "/repos/alice/model/issues", "alice", params={"state": "all", "labels": "mlgate-alert"})
    resp.raise_for_status()
    return resp.json()


def test_the_alert_issue_opens_updates_and_closes(world) -> None:  # type: ignore[no-untyped-def]
    sandbox, inbox, keeper, clock = world
    history = HistoryStore(inbox.engine)
    _land(history, 1, "a" * 40, "failure", NOW - 10)
    keeper.refresh("alice/model")
    [issue] = _issues(sandbox)
    assert issue["state"] == "open" and [lab["name"] for lab in issue["labels"]] == ["mlgate-alert"]
    assert issue["title"] == "mlgate/bias fails on main (aaaaaaa)"
    assert "@alice" in issue["body"] and "http://dash.example/alice/model/alerts" in issue["body"]
    keeper.refresh("alice/model")  # nothing changed: nothing written, still one issue
    assert len(_issues(sandbox)) == 1

    # another landed commit fails the same gate: the same issue is updated, not a second one opened
    clock[0] += 600
    _land(history, 2, "b" * 40, "failure", clock[0] - 10)
    keeper.refresh("alice/model")
    [issue] = _issues(sandbox)
    assert issue["state"] == "open" and issue["title"] == "mlgate/bias fails on main (bbbbbbb)"

    # a deployment fails too: a second alert, a second issue
    ledger = SqlLedger(inbox.engine)
    ledger.add_deployment("alice/model", DeployRecord(9, "staging", "b" * 40, "failure"))
    keeper.refresh("alice/model")
    assert sorted(i["title"] for i in _issues(sandbox)) == ["Deployment to staging failed",
                                                            "mlgate/bias fails on main (bbbbbbb)"]

    # a newer landed commit passes: the gate alert's issue is closed, saying so
    clock[0] += 600
    _land(history, 3, "c" * 40, "success", clock[0] - 10)
    keeper.refresh("alice/model")
    by_title = {i["title"]: i for i in _issues(sandbox)}
    gate_issue = by_title["mlgate/bias fails on main (bbbbbbb)"]
    assert gate_issue["state"] == "closed" and "**Resolved**" in gate_issue["body"]
    assert by_title["Deployment to staging failed"]["state"] == "open"
    with inbox.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT key, state, issue_number, synced FROM alerts ORDER BY key")).all()
    assert [(r.key, r.state, bool(r.synced)) for r in rows] == [("deploy:staging", "open", True),
                                                               ("gate:main:mlgate/bias", "resolved", True)]


def test_an_issue_write_that_fails_is_retried_and_the_alert_is_kept(world) -> None:  # type: ignore[no-untyped-def]
    sandbox, inbox, keeper, _clock = world
    _land(HistoryStore(inbox.engine), 1, "a" * 40, "failure", NOW - 10)
    sandbox.admin("POST", "/faults", json={"method": "POST", "path": "/repos/alice/model/issues", "kind": "500",
                                           "count": 10}).raise_for_status()
    keeper.refresh("alice/model")
    assert _issues(sandbox) == []
    with inbox.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT state, synced FROM alerts")).one() == ("open", False)
    sandbox.admin("DELETE", "/faults").raise_for_status()
    keeper.refresh("alice/model")
    assert [i["state"] for i in _issues(sandbox)] == ["open"]
