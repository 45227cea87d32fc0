"""Pure deployment decisions (bot/deploy/decisions.py): auto deploys, promotion rules, rollbacks."""

from __future__ import annotations

import json

from mlgate.bot.deploy.decisions import (
    DeployRecord,
    DeployState,
    Version,
    after_landing,
    deploy_command,
    on_status,
    payload_for,
    record_status,
    required_contexts,
    rollback_command,
    split_required,
    version_from_checks,
    version_from_payload,
)
from mlgate.bot.github.facts import CheckRun
from mlgate.checks.config.models import parse_config
from mlgate.names import DEPLOY_MARKER

CONFIG = parse_config(
    """
version: 1
merge:
  required_checks: [tests, {name: mlgate/bias, app: github-actions}]
deploy:
  environments:
    staging: {auto: true}
    shadow: {}
    production: {requires: shadow, rollback_on_failure: true}
    canary: {auto: true, requires: staging, rollback_on_failure: true}
"""
)
A, B, C = "a" * 40, "b" * 40, "c" * 40


def results_text(sha: str | None, model: str = "sha256:m1", data: str = "sha256:d1") -> str:
    return json.dumps(
        {
            "schema": "mlgate.results/v1",
            "versions": {"git_sha": sha, "model": {"path": "m.skops", "sha256": model},
                         "data": {"paths": ["t.parquet"], "sha256": data}},
            "gates": [],
        }
    )


def run(name: str, sha: str, conclusion: str = "success", text: str | None = None, id_: int = 1) -> CheckRun:
    return CheckRun(name=name, status="completed", conclusion=conclusion, app="github-actions", head_sha=sha,
                    id=id_, text=text)


def state(*records: DeployRecord, landed: tuple[Version, ...] = ()) -> DeployState:
    return DeployState(landed=landed, deployments=records)


# --- versions ------------------------------------------------------------------------------------


def test_version_takes_hashes_from_gate_results_json_and_verdicts_from_every_check() -> None:
    checks = [
        run("tests", A),
        run("mlgate/bias", A, "failure", results_text(A, "sha256:mm", "sha256:dd"), id_=2),
        CheckRun(name="mlgate/quality", status="in_progress", conclusion=None, app="x", head_sha=A),
    ]
    v = version_from_checks(A, checks, prs=(7, 9))
    assert (v.model, v.data) == ("sha256:mm", "sha256:dd")
    assert v.gates == (("mlgate/bias", "failure"), ("tests", "success"))
    assert v.prs == (7, 9)


def test_version_ignores_results_json_computed_for_another_sha_and_garbage() -> None:
    checks = [run("mlgate/data", A, text=results_text(B)), run("mlgate/quality", A, text="not json {")]
    v = version_from_checks(A, checks)
    assert v.model is None and v.data is None


def test_newest_run_of_a_name_wins() -> None:
    checks = [run("tests", A, "failure", id_=5), run("tests", A, "success", id_=9)]
    assert version_from_checks(A, checks).gates == (("tests", "success"),)


def test_payload_round_trip_and_required_contexts() -> None:
    v = Version(A, "sha256:m", "sha256:d", (("tests", "success"),), (3,))
    p = payload_for(v, "staging")
    assert p["version"] == {"code": A, "model": "sha256:m", "data": "sha256:d"}
    assert p["gates"] == {"tests": "success"} and p["prs"] == [3] and p["rollback_of"] is None
    assert version_from_payload(A, json.loads(json.dumps(p))) == v
    assert required_contexts(CONFIG) == ("tests", "mlgate/bias")
    assert required_contexts(parse_config("version: 1")) is None


# --- after landing -------------------------------------------------------------------------------


def test_after_landing_deploys_auto_environments_only_and_waits_for_requirements() -> None:
    v = Version(A, prs=(1,))
    d = after_landing(CONFIG, state(landed=(v,)), v)
    assert [r.environment for r in d.requests] == ["staging"]
    req = d.requests[0]
    assert req.required_contexts == ("tests", "mlgate/bias")
    assert req.payload["version"]["code"] == A
    assert any("canary" in m and "staging" in m for m in d.messages)


def test_a_repeated_landing_deploys_nothing_twice() -> None:
    v = Version(A)
    assert after_landing(CONFIG, state(DeployRecord(1, "staging", A), landed=(v,)), v).requests == ()


def test_success_in_a_required_environment_deploys_the_auto_followers_once() -> None:
    v = Version(A)
    s = state(DeployRecord(10, "staging", A, "success"), landed=(v,))
    d = on_status(CONFIG, s, 10, "success")
    assert [r.environment for r in d.requests] == ["canary"]
    s2 = state(DeployRecord(10, "staging", A, "success"), DeployRecord(11, "canary", A), landed=(v,))
    assert on_status(CONFIG, s2, 10, "success").requests == ()


# --- /deploy -------------------------------------------------------------------------------------


def test_deploy_promotes_last_landed_version() -> None:
    s = state(landed=(Version(A), Version(B)))
    d = deploy_command(CONFIG, s, "shadow")
    assert [(r.environment, r.version.sha) for r in d.requests] == [("shadow", B)]


def test_production_requires_a_successful_shadow_of_the_same_version() -> None:
    landed = (Version(A), Version(B))
    refused = deploy_command(CONFIG, state(DeployRecord(1, "shadow", A, "success"), landed=landed), "production")
    assert refused.requests == () and "refused" in refused.messages[0] and "shadow" in refused.messages[0]
    pending = deploy_command(CONFIG, state(DeployRecord(2, "shadow", B, "pending"), landed=landed), "production")
    assert pending.requests == ()
    failed = deploy_command(CONFIG, state(DeployRecord(2, "shadow", B, "failure"), landed=landed), "production")
    assert failed.requests == ()
    ok = deploy_command(CONFIG, state(DeployRecord(2, "shadow", B, "success"), landed=landed), "production")
    assert [(r.environment, r.version.sha) for r in ok.requests] == [("production", B)]
    # superseded (inactive) still proves the version ran fine in shadow
    ok2 = deploy_command(CONFIG, state(DeployRecord(2, "shadow", B, "inactive"), landed=landed), "production")
    assert len(ok2.requests) == 1


def test_deploy_refusals_name_the_problem_and_escape_user_text() -> None:
    assert "needs an environment" in deploy_command(CONFIG, state(), None).messages[0]
    unknown = deploy_command(CONFIG, state(landed=(Version(A),)), "prod_<b>").messages[0]
    assert "no such environment" in unknown and "<b>" not in unknown and "`staging`" in unknown
    assert "nothing has landed" in deploy_command(CONFIG, state(), "staging").messages[0]


# --- /rollback -----------------------------------------------------------------------------------


def test_rollback_redeploys_the_previous_successful_version() -> None:
    s = state(
        DeployRecord(1, "staging", A, "inactive"),
        DeployRecord(2, "staging", B, "failure"),
        DeployRecord(3, "staging", C, "success"),
        landed=(Version(A, model="sha256:old"), Version(B), Version(C)),
    )
    d = rollback_command(CONFIG, s, "staging")
    assert [(r.version.sha, r.rollback_of) for r in d.requests] == [(A, 3)]
    assert d.requests[0].payload["rollback_of"] == 3
    assert d.requests[0].version.model == "sha256:old"


def test_rollback_skips_redeploys_of_the_current_sha_and_refuses_without_history() -> None:
    s = state(DeployRecord(1, "staging", A, "success"), DeployRecord(2, "staging", A, "success"))
    assert rollback_command(CONFIG, s, "staging").requests == ()
    assert "no earlier successful version" in rollback_command(CONFIG, s, "staging").messages[0]
    assert "not deployed anything" in rollback_command(CONFIG, state(), "staging").messages[0]
    assert "no such environment" in rollback_command(CONFIG, state(), "nope").messages[0]


# --- statuses ------------------------------------------------------------------------------------


def test_failure_with_rollback_on_failure_rolls_back_and_notifies_the_prs() -> None:
    s = state(DeployRecord(1, "production", A, "success"), DeployRecord(2, "production", B, "pending"),
              landed=(Version(A), Version(B, prs=(41, 42))))
    s = record_status(s, 2, "failure")
    d = on_status(CONFIG, s, 2, "failure")
    assert [(r.environment, r.version.sha, r.rollback_of) for r in d.requests] == [("production", A, 2)]
    assert [n for n, _ in d.notify] == [41, 42]
    assert all(DEPLOY_MARKER in body and "rolling" in body for _, body in d.notify)


def test_failure_without_rollback_on_failure_does_nothing() -> None:
    s = state(DeployRecord(1, "staging", A, "success"), DeployRecord(2, "staging", B, "failure"))
    assert on_status(CONFIG, s, 2, "failure") == on_status(CONFIG, s, 2, "error") == on_status(CONFIG, s, 9, "x")
    assert on_status(CONFIG, s, 2, "failure").requests == ()


def test_a_failed_rollback_is_not_rolled_back_again() -> None:
    s = state(DeployRecord(1, "production", A, "success"), DeployRecord(2, "production", B, "failure"),
              DeployRecord(3, "production", A, "failure", rollback_of=2), landed=(Version(A, prs=(5,)), Version(B)))
    d = on_status(CONFIG, s, 3, "failure")
    assert d.requests == () and d.notify and "does not roll back a rollback" in d.notify[0][1]


def test_a_stale_failure_of_an_older_deployment_does_not_roll_back() -> None:
    s = state(DeployRecord(1, "production", A, "success"), DeployRecord(2, "production", B, "failure"),
              DeployRecord(3, "production", C, "success"))
    assert on_status(CONFIG, s, 2, "failure").requests == ()


def test_failure_with_nothing_to_go_back_to_says_so() -> None:
    s = state(DeployRecord(1, "production", A, "failure"), landed=(Version(A, prs=(8,)),))
    d = on_status(CONFIG, s, 1, "failure")
    assert d.requests == () and d.notify[0][0] == 8 and "no earlier" in d.notify[0][1]


def test_split_required_verifies_check_runs_and_hands_statuses_and_unreported_names_to_github() -> None:
    status = CheckRun(name="ci/lint", status="completed", conclusion="failure", app=None, head_sha=A, kind="status")
    checks = [run("mlgate/bias", A, "failure", id_=1), run("mlgate/bias", A, "success", id_=2),
              run("mlgate/data", A, "failure", id_=3), status]
    to_github, failing = split_required(("mlgate/bias", "mlgate/data", "ci/lint", "tests"), checks)
    assert to_github == ("ci/lint", "tests")  # GitHub judges statuses and refuses never-reported names
    assert failing == ("mlgate/data (failure)",)
    pending = CheckRun(name="mlgate/data", status="in_progress", conclusion=None, app="x", head_sha=A, id=9)
    assert split_required(("mlgate/data",), [pending]) == ((), ("mlgate/data (in_progress)",))
    assert split_required(None, checks) == (None, ())
