"""checks/publish/config_ref.py (which commit's config judges a run) and verify.py (which results to publish)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import responses

from mlgate.checks.publish.baseline import find_baseline
from mlgate.checks.publish.config_ref import Known, MergeBase, Unknown, plan, resolve
from mlgate.checks.publish.rest import PUBLISH_POLICY, GitHub
from mlgate.checks.publish.verify import BaseConfig, verify
from mlgate.checks.results import GateResult, RunResults, Status

API = "https://api.example.test"
REPO = "alice/model"
SHA, BASE, TIP = "a" * 40, "b" * 40, "c" * 40


@pytest.fixture
def gh() -> GitHub:
    return GitHub(API, "t", REPO, policy=replace(PUBLISH_POLICY, max_attempts=2), sleep=lambda s: None,
                  log=lambda m: None)


# ----------------------------------------------------------------------------- plan (pure)


def test_pull_requests_take_the_base_commit_from_the_event() -> None:
    event = {"pull_request": {"number": 7, "base": {"sha": BASE, "ref": "main"}, "head": {"sha": SHA}}}
    for name in ("pull_request", "pull_request_target"):
        assert plan(name, event, "refs/pull/7/merge", "f" * 40) == Known(BASE, "the base commit of PR #7")
    assert isinstance(plan("pull_request", {"pull_request": {"number": 7}}, "", SHA), Unknown)


def test_merge_groups_take_base_sha() -> None:
    assert plan("merge_group", {"merge_group": {"base_sha": BASE}}, "refs/heads/gh-readonly-queue/main/x", SHA) == \
        Known(BASE, "the merge group's base commit")
    assert isinstance(plan("merge_group", {}, "", SHA), Unknown)


def test_queue_branches_need_the_merge_base() -> None:
    staging = plan("push", {}, "refs/heads/mlgate/staging/release/1.x", SHA)
    assert isinstance(staging, MergeBase) and staging.branch == "release/1.x" and staging.sha == SHA
    tried = plan("push", {}, "refs/heads/mlgate/try/12", SHA)
    assert isinstance(tried, MergeBase) and tried.pr == 12 and tried.branch is None
    assert isinstance(plan("push", {}, "refs/heads/mlgate/try/12abc", SHA), Unknown)
    # a manual run on a queue branch is judged the same way
    assert isinstance(plan("workflow_dispatch", {}, "refs/heads/mlgate/staging/main", SHA), MergeBase)


def test_other_pushes_are_judged_by_their_own_commit() -> None:
    decision = plan("push", {"after": SHA}, "refs/heads/main", SHA)
    assert isinstance(decision, Known) and decision.sha == SHA and "main" in decision.why
    assert isinstance(plan("push", {}, "refs/heads/main", ""), Unknown)


# ----------------------------------------------------------------------------- resolve (the API)


@responses.activate
def test_staging_resolves_through_compare(gh: GitHub) -> None:
    call = responses.get(f"{API}/repos/{REPO}/compare/release/1.x...{SHA}",
                         json={"merge_base_commit": {"sha": TIP}})
    found = resolve(plan("push", {}, "refs/heads/mlgate/staging/release/1.x", SHA), gh)
    assert found.sha == TIP and "release/1.x" in found.why
    assert len(call.calls) == 1


@responses.activate
def test_try_reads_the_prs_base_branch_first(gh: GitHub) -> None:
    responses.get(f"{API}/repos/{REPO}/pulls/12", json={"number": 12, "base": {"ref": "dev", "sha": "d" * 40}})
    responses.get(f"{API}/repos/{REPO}/compare/dev...{SHA}", json={"merge_base_commit": {"sha": TIP}})
    found = resolve(plan("push", {}, "refs/heads/mlgate/try/12", SHA), gh)
    assert found.sha == TIP and "PR #12's base branch" in found.why and "dev" in found.why


@responses.activate
def test_api_failures_leave_the_commit_unknown(gh: GitHub) -> None:
    responses.get(f"{API}/repos/{REPO}/pulls/12", status=404, json={"message": "Not Found"})
    found = resolve(plan("push", {}, "refs/heads/mlgate/try/12", SHA), gh)
    assert found.sha is None and "could not ask GitHub" in found.why
    assert resolve(plan("push", {}, "refs/heads/mlgate/staging/main", SHA), None).sha is None


@responses.activate
def test_staging_baseline_is_the_base_tip_not_the_first_parent(gh: GitHub) -> None:
    """A batch of two PRs is base → merge PR 1 → merge PR 2: the first parent has no check runs."""
    responses.get(f"{API}/repos/{REPO}/compare/main...{SHA}", json={"merge_base_commit": {"sha": TIP}})
    env = {"schema": "mlgate.results/v1", "status": "pass", "gates": [{"gate": "bias", "status": "pass"}],
           "versions": {"git_sha": TIP}}
    responses.get(f"{API}/repos/{REPO}/commits/{TIP}/check-runs", json={"check_runs": [
        {"id": 5, "name": "mlgate/bias", "head_sha": TIP, "status": "completed", "conclusion": "success",
         "completed_at": "2026-01-01T00:00:00Z", "output": {"text": json.dumps(env)}}]})
    choice = find_baseline(gh, "bias", event_name="push", event={}, sha=SHA, ref="refs/heads/mlgate/staging/main")
    assert choice.sha == TIP and choice.check_run_id == 5
    assert "the base tip the queue built it on" in choice.note
    assert not any(c.request.url.endswith(f"/commits/{SHA}") for c in responses.calls)


# ----------------------------------------------------------------------------- verify (pure)


def _results(gate: str, config: str | None, ref: str | None = BASE) -> RunResults:
    return RunResults(gates=[GateResult(gate, Status.PASS, "ok")],
                      versions={"config_sha256": config, "config_ref": ref}, baseline={})


BASE_CONFIG = BaseConfig(".github/mlgate.yml", BASE, "sha256:base", ("data", "bias"))


def test_results_of_the_base_config_pass_through() -> None:
    found = {"bias": _results("bias", "sha256:base"), "data": _results("data", "sha256:base")}
    verdicts = verify(found, BASE_CONFIG, expect_tests=False)
    assert [(v.gate, v.refused) for v in verdicts] == [("data", None), ("bias", None)]
    assert verdicts[1].results is found["bias"]


def test_results_of_another_config_become_errors() -> None:
    found = {"bias": _results("bias", "sha256:loose"), "data": _results("data", "sha256:base", ref=SHA)}
    by_gate = {v.gate: v for v in verify(found, BASE_CONFIG, expect_tests=False)}
    bias = by_gate["bias"]
    assert bias.results.gates[0].status == Status.ERROR
    assert "computed with the PR's own config" in bias.refused and "sha256:loose" in bias.refused
    assert f".github/mlgate.yml at {BASE[:12]} is sha256:base" in bias.refused
    assert bias.results.versions["config_sha256"] == "sha256:loose"  # the bot sees the mismatch too
    assert "--config-ref" in by_gate["data"].refused
    [flags_only] = verify({"bias": _results("bias", None)}, BaseConfig(".github/mlgate.yml", BASE, "sha256:base",
                                                                        ("bias",)), expect_tests=False)
    assert "without a config file (flags only)" in flags_only.refused


def test_a_configured_gate_without_results_and_an_unreadable_base() -> None:
    verdicts = verify({"bias": _results("bias", "sha256:base")}, BASE_CONFIG, expect_tests=True)
    by_gate = {v.gate: v for v in verdicts}
    assert [v.gate for v in verdicts] == ["tests", "data", "bias"]
    assert "no results for mlgate/data" in by_gate["data"].refused
    assert "the tests job" in by_gate["tests"].refused
    broken = BaseConfig(".github/mlgate.yml", BASE, None, (), problem=".github/mlgate.yml does not exist at bbb")
    [only] = verify({"bias": _results("bias", "sha256:base")}, broken, expect_tests=False)
    assert only.results.gates[0].status == Status.ERROR and "does not exist" in only.refused


def test_tests_results_are_not_judged_by_a_config() -> None:
    tests = RunResults(gates=[GateResult("tests", Status.FAIL, "1 of 2 tests failed")], versions={}, baseline={})
    [v] = verify({"tests": tests}, BaseConfig(".github/mlgate.yml", BASE, "sha256:base"), expect_tests=True)
    assert v.refused is None and v.results is tests
