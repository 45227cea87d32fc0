"""bot/deploy/runner.py against the in-memory FakeForge, with the memory and the SQL ledgers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.bot.commands.parse import Command
from mlgate.bot.deploy.decisions import PAYLOAD_KIND, DeployRecord, Version
from mlgate.bot.deploy.ledger import MemoryLedger, SqlLedger, as_ledger
from mlgate.bot.deploy.runner import after_landing, handle_deploy_command, on_deployment_status
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.store.inbox import Inbox
from mlgate.checks.config.models import parse_config
from tests.bot.conftest import fresh_database
from tests.bot.fake_forge import FakeForge

REPO = "acme/ml"
CONFIG = parse_config(
    """
version: 1
merge:
  required_checks: [tests, mlgate/bias]
deploy:
  environments:
    staging: {auto: true, rollback_on_failure: true}
    shadow: {}
    production: {requires: shadow}
"""
)
A, B = "a" * 40, "b" * 40


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    with fresh_database(request.param, tmp_path) as url:
        store = Inbox.open(url)
        try:
            yield store  # the deployer accepts the bot's Inbox itself (tables of migration 0002_deployments)
        finally:
            store.close()


def green(forge: FakeForge, sha: str, model: str = "sha256:m") -> None:
    results = {"schema": "mlgate.results/v1", "versions": {"git_sha": sha, "model": {"sha256": model},
                                                            "data": {"sha256": "sha256:d"}}, "gates": []}
    forge.add_gate_run(REPO, sha, "tests")
    forge.add_gate_run(REPO, sha, "mlgate/bias", text=json.dumps(results))


def status_payload(deployment_id: int, state: str) -> dict[str, object]:
    return {"action": "created", "repository": {"full_name": REPO, "default_branch": "main"},
            "deployment": {"id": deployment_id}, "deployment_status": {"state": state}}


def cmd(name: str, env: str | None) -> Command:
    return Command(name=name, args=(("env", env),) if env else ())


def test_after_landing_deploys_to_staging_with_versions_and_required_contexts(ledger: object) -> None:
    forge = FakeForge()
    green(forge, A, model="sha256:model-a")
    out = after_landing(forge, REPO, A, [3, 4], CONFIG, ledger)
    assert len(forge.deployments) == 1
    dep = next(iter(forge.deployments.values()))
    assert dep["environment"] == "staging" and dep["sha"] == A
    assert dep["required_contexts"] == ("tests", "mlgate/bias")  # GitHub judges them too
    payload = dep["payload"]
    assert payload["kind"] == PAYLOAD_KIND  # type: ignore[index]
    assert payload["version"] == {"code": A, "model": "sha256:model-a", "data": "sha256:d"}  # type: ignore[index]
    assert payload["prs"] == [3, 4] and payload["gates"]["mlgate/bias"] == "success"  # type: ignore[index]
    assert "Created deployment" in out[0]
    state = as_ledger(ledger).load(REPO)
    assert [v.sha for v in state.landed] == [A] and state.deployments[0].environment == "staging"
    # the same landing notice again (a retried delivery): recorded once, deployed once
    assert after_landing(forge, REPO, A, [3, 4], CONFIG, ledger) == []
    assert len(forge.deployments) == 1 and len(as_ledger(ledger).load(REPO).landed) == 1


def test_unchecked_sha_is_refused_by_github_and_reported(ledger: object) -> None:
    forge = FakeForge()
    forge.add_gate_run(REPO, A, "tests")  # mlgate/bias missing
    out = after_landing(forge, REPO, A, [1], CONFIG, ledger)
    assert forge.deployments == {}
    assert "refused" in out[0] and "mlgate/bias" in out[0]
    assert as_ledger(ledger).load(REPO).deployments == ()


def test_a_forge_judging_statuses_only_gets_the_contexts_mlgate_did_not_verify(ledger: object) -> None:
    forge = FakeForge()
    forge.deploy_statuses_only = True  # type: ignore[attr-defined]  # like the sandbox
    green(forge, A)
    out = after_landing(forge, REPO, A, [1], CONFIG, ledger)
    assert "Created deployment" in out[0]
    (dep,) = forge.deployments.values()
    assert dep["required_contexts"] == ()  # both required checks are check runs mlgate verified green
    # an unchecked SHA is still refused there: never-reported names stay required
    out = after_landing(forge, REPO, B, [2], CONFIG, ledger)
    assert len(forge.deployments) == 1 and "GitHub refused" in out[0] and "`tests` (missing)" in out[0]


def test_a_red_gate_check_run_is_refused_by_mlgate_before_asking_github(ledger: object) -> None:
    forge = FakeForge()
    green(forge, A)
    forge.add_gate_run(REPO, A, "mlgate/bias", conclusion="failure")  # the newest run wins
    out = after_landing(forge, REPO, A, [1], CONFIG, ledger)
    assert forge.writes_of("create_deployment") == []
    assert "mlgate refused" in out[0] and "mlgate/bias" in out[0]


def test_failure_status_rolls_back_and_comments_on_the_prs(ledger: object) -> None:
    forge = FakeForge()
    green(forge, A)
    green(forge, B)
    after_landing(forge, REPO, A, [1], CONFIG, ledger)
    first = max(forge.deployments)
    on_deployment_status(forge, status_payload(first, "success"), CONFIG, ledger)
    after_landing(forge, REPO, B, [2, 3], CONFIG, ledger)
    second = max(forge.deployments)
    assert second != first
    on_deployment_status(forge, status_payload(second, "failure"), CONFIG, ledger)
    third = max(forge.deployments)
    assert third != second
    assert forge.deployments[third]["sha"] == A
    assert forge.deployments[third]["payload"]["rollback_of"] == second  # type: ignore[index]
    notes = [c for n in (2, 3) for c in forge.comments_on(REPO, n)]
    assert len(notes) == 2 and all("rolling" in c.body for c in notes)
    assert forge.comments_on(REPO, 1) == []
    # the same failure delivered again (redelivery) does nothing more
    on_deployment_status(forge, status_payload(second, "failure"), CONFIG, ledger)
    assert max(forge.deployments) == third and len(forge.writes_of("create_comment")) == 2


def test_statuses_of_foreign_deployments_are_ignored(ledger: object) -> None:
    forge = FakeForge()
    assert on_deployment_status(forge, status_payload(777, "failure"), CONFIG, ledger) == []
    assert on_deployment_status(forge, {"repository": "junk"}, CONFIG, ledger) == []
    assert forge.writes == []


def test_deploy_and_rollback_commands(ledger: object) -> None:
    forge = FakeForge()
    green(forge, A)
    green(forge, B)
    after_landing(forge, REPO, A, [1], CONFIG, ledger)
    on_deployment_status(forge, status_payload(max(forge.deployments), "success"), CONFIG, ledger)
    after_landing(forge, REPO, B, [2], CONFIG, ledger)
    on_deployment_status(forge, status_payload(max(forge.deployments), "success"), CONFIG, ledger)

    refused = handle_deploy_command(forge, REPO, 2, cmd("deploy", "production"), CONFIG, ledger)
    assert "requires a successful `shadow`" in refused[0]
    out = handle_deploy_command(forge, REPO, 2, cmd("deploy", "shadow"), CONFIG, ledger)
    shadow = max(forge.deployments)
    assert forge.deployments[shadow]["environment"] == "shadow" and forge.deployments[shadow]["sha"] == B
    assert any("Created deployment" in line for line in out)
    on_deployment_status(forge, status_payload(shadow, "success"), CONFIG, ledger)
    handle_deploy_command(forge, REPO, 2, cmd("deploy", "production"), CONFIG, ledger)
    assert forge.deployments[max(forge.deployments)]["environment"] == "production"

    back = handle_deploy_command(forge, REPO, 2, cmd("rollback", "staging"), CONFIG, ledger)
    rb = max(forge.deployments)
    assert forge.deployments[rb]["sha"] == A and forge.deployments[rb]["environment"] == "staging"
    assert "replacing" in back[0]


def test_invalid_config_and_bad_arguments_are_answered() -> None:
    forge = FakeForge()
    bad = RepoConfig(source="invalid", ref="main", error="deploy: bad")
    assert "invalid" in handle_deploy_command(forge, REPO, 1, cmd("deploy", "staging"), bad, MemoryLedger())[0]
    led = MemoryLedger()
    green(forge, A)
    assert after_landing(forge, REPO, A, [1], bad, led) == []  # nothing deployed, but the landing is known
    assert [v.sha for v in led.load(REPO).landed] == [A] and forge.writes_of("create_deployment") == []
    good = RepoConfig(source="file", ref="main", config=CONFIG)
    assert "needs an environment" in handle_deploy_command(forge, REPO, 1, cmd("deploy", None), good, MemoryLedger())[0]
    with pytest.raises(ValueError, match="not a deployment command"):
        handle_deploy_command(forge, REPO, 1, cmd("merge", None), CONFIG, MemoryLedger())
    with pytest.raises(TypeError, match="DeployLedger"):
        as_ledger(42)


def test_sql_ledger_round_trip(tmp_path: Path) -> None:
    store = Inbox.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        led = SqlLedger(store.engine)
        v = Version(A, "sha256:m", None, (("tests", "success"),), (5, 6))
        led.add_landed(REPO, v)
        led.add_landed("other/repo", Version(B))
        led.add_deployment(REPO, DeployRecord(9, "staging", A, "pending", None))
        assert led.set_status(REPO, 9, "success") and not led.set_status(REPO, 10, "success")
        state = led.load(REPO)
        assert state.landed == (v,)
        assert state.deployments == (DeployRecord(9, "staging", A, "success", None),)
    finally:
        store.close()


def test_deploy_approves_the_version_that_had_landed_when_the_comment_was_written() -> None:
    """/deploy approves the version as of the comment: one that landed after it voids the command."""
    forge = FakeForge()
    green(forge, A)
    green(forge, B)
    led = MemoryLedger()
    led.add_landed(REPO, Version(A, landed_at=1000.0))
    led.add_landed(REPO, Version(B, landed_at=1100.0))  # landed while the comment (at 1050) waited
    out = handle_deploy_command(forge, REPO, 2, cmd("deploy", "shadow"), CONFIG, led, as_of=1050.0)
    assert forge.writes_of("create_deployment") == []
    assert f"{B[:7]} landed after your comment (when you commented, the last landed version was {A[:7]})" in out[0]
    assert f"Comment `/deploy shadow` again to deploy {B[:7]}" in out[0]
    ok = handle_deploy_command(forge, REPO, 2, cmd("deploy", "shadow"), CONFIG, led, as_of=1101.0)
    assert any("Created deployment" in line for line in ok) and forge.deployments[max(forge.deployments)]["sha"] == B


def test_sql_ledger_keeps_when_a_version_landed(tmp_path: Path) -> None:
    store = Inbox.open(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        led = SqlLedger(store.engine)
        led.add_landed(REPO, Version(A, landed_at=1_795_860_000.25))
        led.add_landed(REPO, Version(B))
        a, b = led.load(REPO).landed
        assert a.landed_at == pytest.approx(1_795_860_000.25) and b.landed_at is not None and b.landed_at > a.landed_at
    finally:
        store.close()
