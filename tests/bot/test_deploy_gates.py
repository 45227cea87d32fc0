"""Gates that judge a deployment, not a merge (`shadow`), and the model card on every deployment.

- a merge never waits for `mlgate/shadow` (the PR's model has not run in shadow yet), neither on a
  PR head nor on a staging commit;
- `/deploy production` with `requires_gates: [shadow]` is refused until `mlgate/shadow` passed on the
  landed commit for its model, and the reply names the failed limit;
- evidence counts only from `merge.gate_app`, for the version's commit, computed with a trusted config;
- each deployment's payload carries the version's model card, and the ledger keeps it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.bot.commands.parse import Command
from mlgate.bot.deploy.decisions import DeployRecord, DeployState, Version, card_for, deploy_command, gate_evidence
from mlgate.bot.deploy.ledger import MemoryLedger, as_ledger
from mlgate.bot.deploy.runner import after_landing, handle_deploy_command
from mlgate.bot.github.facts import ChangedFile, CheckRun, PullFacts, Review
from mlgate.bot.pr.gates import evaluate_gates
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.pr.review import evaluate_review
from mlgate.bot.queue.model import QueueConfig
from mlgate.bot.store.inbox import Inbox
from mlgate.checks.config.models import parse_config
from mlgate.checks.results import GateResult, LimitCheck, Metric, RunResults, Status
from mlgate.names import CONFIG_PATH
from tests.bot.conftest import fresh_database
from tests.bot.fake_forge import FakeForge

REPO = "acme/ml"
CONFIG_TEXT = """
version: 1
artifacts: {model: model.skops}
quality: {task: classification, metrics: {roc_auc: {min: 0.6}}}
shadow:
  export: shadow.csv
  shadow: {score: s}
  production: {score: p}
card: {name: Release model, intended_use: Teaching.}
merge: {required_checks: [tests]}
deploy:
  environments:
    staging: {auto: true}
    shadow: {}
    production: {requires: shadow, requires_gates: [shadow]}
"""
CONFIG = parse_config(CONFIG_TEXT)
CONFIG_HASH = "sha256:" + hashlib.sha256(CONFIG_TEXT.encode()).hexdigest()
REPO_CONFIG = RepoConfig("file", "main", config=CONFIG, sha256=CONFIG_HASH)
A, B = "a" * 40, "b" * 40
MODEL, OTHER_MODEL = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def shadow_result(sha: str, *, status: Status = Status.PASS, model: str = MODEL, config: str = CONFIG_HASH,
                  agreement: float = 0.97) -> str:
    ok = Status.PASS if agreement >= 0.9 else Status.FAIL
    metric = Metric("agreement", agreement, ok, higher_is_better=True,
                    limits=[LimitCheck("min", 0.9, ok, agreement)])
    gate = GateResult("shadow", status, f"shadow {status.value}", metrics=[metric])
    versions = {"git_sha": sha, "config_sha256": config, "model": {"path": "model.skops", "sha256": model}}
    return json.dumps(RunResults([gate], versions, {}).to_dict())


def quality_result(sha: str) -> str:
    gate = GateResult("quality", Status.PASS, "quality pass",
                      metrics=[Metric("roc_auc", 0.7, Status.PASS, higher_is_better=True)])
    versions = {"git_sha": sha, "config_sha256": CONFIG_HASH, "model": {"path": "model.skops", "sha256": MODEL}}
    return json.dumps(RunResults([gate], versions, {}).to_dict())


def shadow_run(sha: str, text: str, conclusion: str = "success", app: str = "github-actions", id_: int = 5) -> CheckRun:
    return CheckRun("mlgate/shadow", "completed", conclusion, app, sha, id=id_, text=text)


def landed(sha: str = A) -> DeployState:
    succeeded_shadow = DeployRecord(1, "shadow", sha, "success")
    return DeployState(landed=(Version(sha, model=MODEL),), deployments=(succeeded_shadow,))


# --- merges do not wait for deployment gates ----------------------------------------------------------


def test_a_pr_head_does_not_wait_for_the_shadow_gate() -> None:
    facts = PullFacts(repo=REPO, number=1, title="t", author="carol", state="open", merged=False, draft=False,
                      head_sha=A, head_ref="f", head_repo=REPO, base_ref="main", base_sha=B,
                      files=(ChangedFile("x.py", "modified"),), reviews=(),
                      checks=(CheckRun("tests", "completed", "success", "ci", A, id=1),
                              CheckRun("mlgate/quality", "completed", "success", "github-actions", A, id=2,
                                       text=quality_result(A))))
    report = evaluate_gates(facts, CONFIG, evaluate_review(facts, []), config_sha256=CONFIG_HASH)
    assert [r.name for r in report.rows] == ["mlgate/quality", "tests"]
    assert report.conclusion == "success"


def test_a_staging_commit_does_not_wait_for_the_shadow_gate() -> None:
    queue = QueueConfig.from_mlgate(CONFIG, config_sha256=CONFIG_HASH)
    assert "mlgate/shadow" not in queue.required_checks and "mlgate/quality" in queue.required_checks


def test_a_shadow_gate_listed_in_required_checks_is_still_required() -> None:
    cfg = parse_config(CONFIG_TEXT.replace("required_checks: [tests]", "required_checks: [tests, mlgate/shadow]"))
    assert "mlgate/shadow" in QueueConfig.from_mlgate(cfg).required_checks


# --- /deploy production needs a passed shadow gate (pure decision) -------------------------------------


def test_production_is_refused_until_the_shadow_gate_has_run() -> None:
    decision = deploy_command(CONFIG, landed(), "production", evidence={})
    assert not decision.requests
    assert "refused" in decision.messages[0] and "mlgate/shadow has not run on aaaaaaa" in decision.messages[0]


def test_production_refusal_names_the_failed_limit() -> None:
    evidence = gate_evidence(["shadow"], A, [shadow_run(A, shadow_result(A, status=Status.FAIL, agreement=0.82),
                                                        "failure")],
                             gate_app="github-actions", trusted_configs=[CONFIG_HASH])
    decision = deploy_command(CONFIG, landed(), "production", evidence=evidence)
    assert not decision.requests
    assert "mlgate/shadow fail: agreement" in decision.messages[0] and "0.82" in decision.messages[0]


def test_production_deploys_once_the_shadow_gate_passed_for_that_model() -> None:
    evidence = gate_evidence(["shadow"], A, [shadow_run(A, shadow_result(A, status=Status.FAIL, agreement=0.5),
                                                        "failure", id_=3),
                                             shadow_run(A, shadow_result(A), id_=9)],  # the re-run counts
                             gate_app="github-actions", trusted_configs=[CONFIG_HASH])
    decision = deploy_command(CONFIG, landed(), "production", evidence=evidence)
    assert [r.environment for r in decision.requests] == ["production"]


def test_both_missing_requirements_are_named_at_once() -> None:
    state = DeployState(landed=(Version(A, model=MODEL),))
    message = deploy_command(CONFIG, state, "production", evidence={}).messages[0]
    assert "successful `shadow` deployment" in message and "mlgate/shadow has not run" in message


@pytest.mark.parametrize(
    ("run", "trusted", "why"),
    [
        (shadow_run(A, shadow_result(A), app="someone-else"), [CONFIG_HASH], "has not run"),
        (shadow_run(A, shadow_result(A, model=OTHER_MODEL)), [CONFIG_HASH], "judged model sha256:2222"),
        (shadow_run(A, shadow_result(B)), [CONFIG_HASH], "another commit"),
        (shadow_run(A, shadow_result(A, config="sha256:" + "f" * 64)), [CONFIG_HASH], "neither the default branch"),
        (shadow_run(A, "not json"), [CONFIG_HASH], "could not be read"),
        (CheckRun("mlgate/shadow", "completed", "success", None, A, id=4, kind="status"), [CONFIG_HASH], "has not run"),
    ],
    ids=["other-app", "other-model", "other-commit", "untrusted-config", "unreadable", "commit-status"],
)
def test_evidence_that_proves_nothing_refuses(run: CheckRun, trusted: list[str], why: str) -> None:
    evidence = gate_evidence(["shadow"], A, [run], gate_app="github-actions", trusted_configs=trusted)
    message = deploy_command(CONFIG, landed(), "production", evidence=evidence).messages[0]
    assert "refused" in message and why in message


# --- through the runner: the check runs and the config are read from the forge ---------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    with fresh_database(request.param, tmp_path) as url:
        store = Inbox.open(url)
        try:
            yield store
        finally:
            store.close()


def land(forge: FakeForge, ledger: object) -> None:
    forge.add_gate_run(REPO, A, "tests")
    forge.add_gate_run(REPO, A, "mlgate/quality", text=quality_result(A))
    forge.pulls[(REPO, 7)] = PullFacts(
        repo=REPO, number=7, title="t", author="carol", state="closed", merged=True, draft=False, head_sha=A,
        head_ref="f", head_repo=REPO, base_ref="main", base_sha=B,
        reviews=(Review(1, "bob", "APPROVED", A, "2026-12-01T10:00:00Z"),))
    after_landing(forge, REPO, A, [7], REPO_CONFIG, ledger)


def test_deploy_command_reads_the_shadow_gate_on_the_landed_commit(ledger: object) -> None:
    forge = FakeForge()
    forge.files[(REPO, A, CONFIG_PATH)] = CONFIG_TEXT
    land(forge, ledger)
    as_ledger(ledger).add_deployment(REPO, DeployRecord(100, "shadow", A, "success"))
    prod = Command(name="deploy", args=(("env", "production"),))

    forge.add_gate_run(REPO, A, "mlgate/shadow", "failure", shadow_result(A, status=Status.FAIL, agreement=0.8))
    reply = handle_deploy_command(forge, REPO, 7, prod, REPO_CONFIG, ledger)
    assert "refused" in reply[0] and "agreement" in reply[0]
    assert not [d for d in forge.deployments.values() if d["environment"] == "production"]

    forge.add_gate_run(REPO, A, "mlgate/shadow", "success", shadow_result(A))
    reply = handle_deploy_command(forge, REPO, 7, prod, REPO_CONFIG, ledger)
    assert [d["environment"] for d in forge.deployments.values()].count("production") == 1, reply
    # the production deployment's card has the shadow comparison that let it through (and the approvals)
    [card] = [d["payload"]["card"] for d in forge.deployments.values() if d["environment"] == "production"]
    assert [v["gate"] for v in card["verdicts"]] == ["quality", "shadow"]
    assert card["shadow"]["metrics"][0]["name"] == "agreement"
    assert card["reviews"] == [{"user": "bob", "commit": A, "submitted_at": "2026-12-01T10:00:00Z"}]


def test_a_result_computed_with_the_versions_own_config_counts(ledger: object) -> None:
    """The default branch's config may have moved on since the version landed; the version's own counts too."""
    forge = FakeForge()
    old_text = CONFIG_TEXT + "\n# older\n"
    forge.files[(REPO, A, CONFIG_PATH)] = old_text
    land(forge, ledger)
    as_ledger(ledger).add_deployment(REPO, DeployRecord(100, "shadow", A, "success"))
    old_hash = "sha256:" + hashlib.sha256(old_text.encode()).hexdigest()
    forge.add_gate_run(REPO, A, "mlgate/shadow", "success", shadow_result(A, config=old_hash))
    handle_deploy_command(forge, REPO, 7, Command(name="deploy", args=(("env", "production"),)), REPO_CONFIG, ledger)
    assert [d["environment"] for d in forge.deployments.values()].count("production") == 1


def test_every_deployment_carries_the_model_card_and_the_ledger_keeps_it(ledger: object) -> None:
    forge = FakeForge()
    land(forge, ledger)
    dep = next(iter(forge.deployments.values()))
    card = dep["payload"]["card"]  # type: ignore[index]
    assert card["schema"] == "mlgate.card/v1" and card["name"] == "Release model"
    assert card["intended_use"] == ["Teaching."]
    assert card["versions"]["code"] == A and card["versions"]["model"]["sha256"] == MODEL
    assert [v["gate"] for v in card["verdicts"]] == ["quality"]
    assert card["reviews"] == [{"user": "bob", "commit": A, "submitted_at": "2026-12-01T10:00:00Z"}]
    assert "1/1 gates passed" in str(dep["description"]) and len(str(dep["description"])) <= 140
    assert as_ledger(ledger).load(REPO).landed[-1].card == card
    # a rollback or a later /deploy of the same version carries the same card
    as_ledger(ledger).set_status(REPO, int(next(iter(forge.deployments))), "success")
    handle_deploy_command(forge, REPO, 7, Command(name="deploy", args=(("env", "shadow"),)), REPO_CONFIG, ledger)
    shadow = [d for d in forge.deployments.values() if d["environment"] == "shadow"]
    assert shadow[0]["payload"]["card"] == card  # type: ignore[index]


def test_card_leaves_out_results_of_other_commits_and_apps() -> None:
    checks = [CheckRun("mlgate/quality", "completed", "success", "github-actions", A, id=1, text=quality_result(B)),
              CheckRun("mlgate/shadow", "completed", "success", "evil-app", A, id=2, text=shadow_result(A))]
    assert card_for(CONFIG, A, checks, gate_app="github-actions") is None
    checks.append(CheckRun("mlgate/quality", "completed", "success", "github-actions", A, id=3,
                           text=quality_result(A)))
    card = card_for(CONFIG, A, checks, gate_app="github-actions")
    assert card is not None and [v["gate"] for v in card["verdicts"]] == ["quality"]


# --- automatic deployments obey requires_gates too ----------------------------------------------------

AUTO = parse_config(CONFIG_TEXT.replace("production: {requires: shadow, requires_gates: [shadow]}",
                                        "production: {auto: true, requires: shadow, requires_gates: [shadow]}")
                    .replace("staging: {auto: true}", "staging: {auto: true, requires_gates: [shadow]}"))


def test_an_auto_environment_waits_for_its_required_gates_after_a_landing() -> None:
    from mlgate.bot.deploy.decisions import after_landing as decide_after_landing

    version = Version(A, model=MODEL)
    waiting = decide_after_landing(AUTO, DeployState(landed=(version,)), version, evidence={})
    assert not waiting.requests and "mlgate/shadow has not run" in " ".join(waiting.messages)
    passed = gate_evidence(["shadow"], A, [shadow_run(A, shadow_result(A))], gate_app="github-actions",
                           trusted_configs=[CONFIG_HASH])
    going = decide_after_landing(AUTO, DeployState(landed=(version,)), version, evidence=passed)
    assert [r.environment for r in going.requests] == ["staging"]


def test_a_success_does_not_promote_to_an_environment_whose_gates_did_not_pass() -> None:
    from mlgate.bot.deploy.decisions import on_status

    state = landed()  # shadow deployment 1 of A succeeded
    held = on_status(AUTO, state, 1, "success", evidence={})
    assert not held.requests and "mlgate/shadow has not run" in " ".join(held.messages)
    passed = gate_evidence(["shadow"], A, [shadow_run(A, shadow_result(A))], gate_app="github-actions",
                           trusted_configs=[CONFIG_HASH])
    assert [r.environment for r in on_status(AUTO, state, 1, "success", evidence=passed).requests] == ["production"]
