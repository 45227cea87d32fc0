"""`requires_gates`: the config key, its validation, and the pure decision the bot will call for `/deploy`."""

from __future__ import annotations

import pytest

from mlgate.checks.config.models import DEPLOY_GATES, parse_config
from mlgate.checks.deploy_requirements import GateEvidence, unmet_requirements
from mlgate.checks.errors import ConfigError
from mlgate.checks.results import Finding, GateResult, LimitCheck, Metric, RunResults, Status

SHA = "1234567" + "0" * 33
MODEL = "sha256:" + "ab" * 32
SHADOW = """
shadow:
  export: export.parquet
  id: rid
  shadow: {score: s}
  production: {score: p}
"""


def _evidence(status: Status = Status.PASS, conclusion: str = "success", model: str | None = MODEL,
              git_sha: str | None = SHA, metrics: list[Metric] | None = None) -> GateEvidence:
    gate = GateResult("shadow", status, "summary", metrics=metrics or [])
    versions = {"git_sha": git_sha, "model": {"path": "m.skops", "sha256": model} if model else None}
    return GateEvidence(conclusion, RunResults(gates=[gate], versions=versions, baseline={}))


def test_a_passed_gate_for_this_model_allows_the_deployment() -> None:
    assert unmet_requirements(["shadow"], {"shadow": _evidence()}, sha=SHA, model_sha256=MODEL) == []
    warned = _evidence(Status.WARN)
    assert unmet_requirements(["shadow"], {"shadow": warned}, sha=SHA, model_sha256=MODEL) == []


def test_a_failed_gate_refuses_naming_the_failed_limit() -> None:
    low = Metric("agreement", 0.82, status=Status.FAIL,
                 limits=[LimitCheck("min", 0.9, Status.FAIL, 0.82)])
    evidence = _evidence(Status.FAIL, "failure", metrics=[low])
    assert unmet_requirements(["shadow"], {"shadow": evidence}, sha=SHA, model_sha256=MODEL) == [
        "mlgate/shadow fail: agreement 0.82 < 0.9"]


def test_a_failing_finding_is_named_when_no_metric_failed() -> None:
    evidence = _evidence(Status.FAIL, "failure")
    evidence.results.gates[0].findings.append(Finding("fail", "the export is of another model"))
    assert unmet_requirements(["shadow"], {"shadow": evidence}, sha=SHA, model_sha256=MODEL) == [
        "mlgate/shadow fail: the export is of another model"]


@pytest.mark.parametrize("evidence, reason", [
    (None, "mlgate/shadow has not run on 1234567"),
    (GateEvidence(None), "mlgate/shadow has not run on 1234567"),
    (GateEvidence("success", None), "its results could not be read"),
    (_evidence(model="sha256:" + "cd" * 32), "judged model sha256:cdcdcdcdcdcd…, but this version ships"),
    (_evidence(model=None), "does not say which model it judged"),
    (_evidence(git_sha="f" * 40), "computed for another commit (fffffff)"),
    (_evidence(conclusion="failure"), "mlgate/shadow pass: summary"),  # the check run says no: refused
])
def test_no_evidence_for_this_version_refuses(evidence: GateEvidence | None, reason: str) -> None:
    found = {} if evidence is None else {"shadow": evidence}
    reasons = unmet_requirements(["shadow"], found, sha=SHA, model_sha256=MODEL)
    assert len(reasons) == 1 and reason in reasons[0]


def test_the_config_key_is_validated_with_its_line() -> None:
    cfg = parse_config(SHADOW + "deploy:\n  environments:\n    production: {requires_gates: [shadow]}\n")
    assert cfg.deploy.environments["production"].requires_gates == ["shadow"]
    with pytest.raises(ConfigError, match=r"requires_gates \(line 3\): unknown gate 'shadw'"):
        parse_config("deploy:\n  environments:\n    production: {requires_gates: [shadw]}\n")
    with pytest.raises(ConfigError, match=r"requires_gates\[0\] \(line 3\): the shadow gate is not configured"):
        parse_config("deploy:\n  environments:\n    production: {requires_gates: [shadow]}\n")


def test_shadow_runs_in_check_all_but_is_not_a_merge_gate() -> None:
    cfg = parse_config(SHADOW + "budget: {}\n")
    assert cfg.configured_gates() == ["budget", "shadow"]
    assert cfg.merge_gates() == ["budget"] and DEPLOY_GATES == ("shadow",)
