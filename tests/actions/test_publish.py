"""The publishing glue (checks/publish/), its REST client, baseline discovery and the JUnit gate, with `responses`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import responses

from mlgate.checks.gates.junit import parse_files
from mlgate.checks.gates.junit import tests_gate as junit_gate
from mlgate.checks.publish.baseline import find_baseline
from mlgate.checks.publish.rest import PUBLISH_POLICY, GitHub, GitHubError, NoWriteAccess
from mlgate.checks.publish.run import (
    ANNOTATION_BATCH,
    CHECK_TEXT_LIMIT,
    Annotation,
    RunEnv,
    gate_envelope,
    publish_check_run,
    results_text,
)
from mlgate.checks.results import GateResult, GroupRow, Metric, RunResults, Status
from tests.conftest import FakeTime

API = "https://api.example.test"
REPO = "acme/model"
SHA = "a" * 40
BASE = "b" * 40


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def gh(clock: FakeTime) -> GitHub:
    return GitHub(API, "t0ken", REPO, policy=replace(PUBLISH_POLICY, max_attempts=4), log=lambda _m: None,
                  sleep=clock.sleep, clock=clock, jitter=lambda: 0.0)


def _publish(gh: GitHub, n_annotations: int = 0):
    notes = [Annotation("a.py", i + 1, "failure", f"m{i}") for i in range(n_annotations)]
    return publish_check_run(gh, name="mlgate/bias", sha=SHA, conclusion="failure", title="t", summary="s",
                             text="{}", annotations=notes)


@responses.activate
def test_annotations_go_in_batches_of_50(gh: GitHub) -> None:
    post = responses.post(f"{API}/repos/{REPO}/check-runs", json={"id": 7, "html_url": "u"}, status=201)
    patch = responses.patch(f"{API}/repos/{REPO}/check-runs/7", json={"id": 7})
    pub = _publish(gh, 120)
    assert pub.published and pub.check_run_id == 7 and pub.calls == 3
    first = json.loads(post.calls[0].request.body)
    assert first["name"] == "mlgate/bias" and first["head_sha"] == SHA and first["conclusion"] == "failure"
    assert first["status"] == "completed" and len(first["output"]["annotations"]) == ANNOTATION_BATCH
    sizes = [len(json.loads(c.request.body)["output"]["annotations"]) for c in patch.calls]
    assert sizes == [50, 20]
    assert all(json.loads(c.request.body)["output"]["summary"] == "s" for c in patch.calls)
    assert post.calls[0].request.headers["Authorization"] == "Bearer t0ken"


@responses.activate
def test_a_lost_create_is_found_again_not_reposted(gh: GitHub, clock: FakeTime) -> None:
    post = responses.post(f"{API}/repos/{REPO}/check-runs", status=502, json={"message": "Bad Gateway"})

    def listing(request):  # the create took effect: a run with our external_id exists
        sent = json.loads(post.calls[0].request.body)
        return 200, {}, json.dumps({"total_count": 1, "check_runs": [
            {"id": 9, "name": "mlgate/bias", "external_id": sent["external_id"], "html_url": "h"}]})

    responses.add_callback(responses.GET, f"{API}/repos/{REPO}/commits/{SHA}/check-runs", callback=listing)
    pub = _publish(gh)
    assert pub.check_run_id == 9
    assert len(post.calls) == 1  # never re-sent


@responses.activate
def test_a_create_that_did_not_happen_is_sent_again_after_backoff(gh: GitHub, clock: FakeTime) -> None:
    responses.post(f"{API}/repos/{REPO}/check-runs", status=500, json={"message": "Server Error"})
    responses.post(f"{API}/repos/{REPO}/check-runs", status=201, json={"id": 3})
    responses.get(f"{API}/repos/{REPO}/commits/{SHA}/check-runs", json={"total_count": 0, "check_runs": []})
    assert _publish(gh).check_run_id == 3
    assert clock.sleeps == [1.0]


@responses.activate
def test_rate_limits_wait_for_reset_or_retry_after(gh: GitHub, clock: FakeTime) -> None:
    reset = int(clock.now) + 30
    responses.patch(f"{API}/repos/{REPO}/check-runs/1", status=403,
                    json={"message": "API rate limit exceeded"},
                    headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    responses.patch(f"{API}/repos/{REPO}/check-runs/1", status=429, json={"message": "slow down"},
                    headers={"Retry-After": "7"})
    responses.patch(f"{API}/repos/{REPO}/check-runs/1", json={"id": 1})
    gh.request("PATCH", f"/repos/{REPO}/check-runs/1", json={}, write=True)
    assert clock.sleeps == [31.0, 7.0]


@responses.activate
def test_a_rate_limited_create_is_resent_without_lookup(gh: GitHub, clock: FakeTime) -> None:
    responses.post(f"{API}/repos/{REPO}/check-runs", status=403, headers={"Retry-After": "2"},
                   json={"message": "You have exceeded a secondary rate limit."})
    responses.post(f"{API}/repos/{REPO}/check-runs", status=201, json={"id": 4})
    assert _publish(gh).check_run_id == 4
    assert clock.sleeps == [2.0]
    assert not any(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_a_long_rate_limit_is_reported_not_slept(gh: GitHub, clock: FakeTime) -> None:
    responses.get(f"{API}/repos/{REPO}/commits/{SHA}", status=403, json={"message": "API rate limit exceeded"},
                  headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.now) + 3600)})
    with pytest.raises(GitHubError, match="rate limited"):
        gh.get(f"/repos/{REPO}/commits/{SHA}")
    assert clock.sleeps == []


@responses.activate
def test_5xx_gives_up_after_the_attempts(gh: GitHub, clock: FakeTime) -> None:
    responses.get(f"{API}/repos/{REPO}/commits/{SHA}", status=503, json={"message": "unavailable"})
    with pytest.raises(GitHubError, match="after 4 attempts"):
        gh.get(f"/repos/{REPO}/commits/{SHA}")
    assert clock.sleeps == [1.0, 2.0, 4.0]


@responses.activate
def test_read_only_token_is_no_write_access(gh: GitHub) -> None:
    responses.post(f"{API}/repos/{REPO}/check-runs", status=403,
                   json={"message": "Resource not accessible by integration"})
    with pytest.raises(NoWriteAccess):
        _publish(gh)
    assert len(responses.calls) == 1


# ----------------------------------------------------------------------------- output.text size


def _big_bias(n_groups: int) -> RunResults:
    groups = [GroupRow("zip", f"z{i:05d}", 100, True, {"fpr": 0.1, "fnr": 0.2, "selection_rate": 0.5},
                       status=Status.FAIL if i == n_groups - 1 else Status.PASS) for i in range(n_groups)]
    gate = GateResult("bias", Status.FAIL, "gaps", metrics=[Metric("fpr_difference", 0.3, Status.FAIL, "zip")],
                      groups=groups)
    return RunResults(gates=[gate], versions={"git_sha": SHA}, baseline={})


def test_small_results_go_in_whole() -> None:
    results = _big_bias(10)
    env = gate_envelope(results, results.gates[0])
    text, truncated = results_text(env)
    assert not truncated and json.loads(text) == env


def test_large_results_are_compacted_keeping_metrics_and_what_fails() -> None:
    results = _big_bias(5000)
    env = gate_envelope(results, results.gates[0])
    assert len(json.dumps(env)) > CHECK_TEXT_LIMIT
    text, truncated = results_text(env, artifact="mlgate-bias")
    assert truncated and len(text) <= CHECK_TEXT_LIMIT
    data = json.loads(text)
    assert data["truncated"] is True and data["schema"] == "mlgate.results/v1"
    gate = data["gates"][0]
    assert gate["metrics"] == env["gates"][0]["metrics"]
    assert gate["groups"][0]["group"] == "z04999"  # the failing group survives the cut
    kept, total = data["truncation"]["kept"]["bias"]["groups"]
    assert total == 5000 and kept == len(gate["groups"]) < 5000
    assert data["truncation"]["full_results"] == "mlgate-bias"


# ----------------------------------------------------------------------------- baseline discovery


def _run(sha: str, gate: str = "bias", run_id: int = 1, text: str | None = None) -> dict:
    env = {"schema": "mlgate.results/v1", "status": "pass", "gates": [{"gate": gate, "status": "pass"}],
           "versions": {"git_sha": sha}}
    return {"id": run_id, "name": f"mlgate/{gate}", "head_sha": sha, "status": "completed", "conclusion": "success",
            "completed_at": f"2026-11-2{run_id}T00:00:00Z", "html_url": f"h/{run_id}",
            "output": {"text": json.dumps(env) if text is None else text}}


@responses.activate
def test_pr_baseline_is_the_base_commits_check_run(gh: GitHub) -> None:
    listing = responses.get(f"{API}/repos/{REPO}/commits/{BASE}/check-runs",
                            json={"check_runs": [_run(BASE, run_id=1), _run(BASE, run_id=2)]})
    event = {"pull_request": {"number": 5, "base": {"sha": BASE}, "head": {"sha": SHA}}}
    choice = find_baseline(gh, "bias", event_name="pull_request", event=event, sha=SHA)
    assert choice.sha == BASE and choice.check_run_id == 2
    assert choice.note.startswith(f"Baseline: mlgate/bias on {BASE[:7]} (the base commit of PR #5)")
    assert listing.calls[0].request.params == {"check_name": "mlgate/bias", "filter": "latest", "per_page": "100"}


@responses.activate
def test_push_baseline_is_the_parent_and_missing_is_said_plainly(gh: GitHub) -> None:
    responses.get(f"{API}/repos/{REPO}/commits/{SHA}", json={"sha": SHA, "parents": [{"sha": BASE}, {"sha": "c" * 40}]})
    responses.get(f"{API}/repos/{REPO}/commits/{BASE}/check-runs",
                  json={"check_runs": [_run(BASE, text="not json"), _run(BASE, gate="data")]})
    choice = find_baseline(gh, "bias", event_name="push", event={}, sha=SHA)
    assert choice.sha == BASE and choice.results is None
    assert choice.note.startswith(f"No baseline: {BASE[:7]} (the parent commit on this branch) was not checked")
    assert "does not compare with older commits" in choice.note
    # exactly one commit looked at: no walking back through history
    assert [c.request.url.split("?")[0] for c in responses.calls] == [
        f"{API}/repos/{REPO}/commits/{SHA}", f"{API}/repos/{REPO}/commits/{BASE}/check-runs"]


@responses.activate
def test_unreadable_checks_are_no_baseline_not_a_crash(gh: GitHub) -> None:
    responses.get(f"{API}/repos/{REPO}/commits/{BASE}/check-runs", status=404, json={"message": "Not Found"})
    choice = find_baseline(gh, "bias", event_name="merge_group", event={"merge_group": {"base_sha": BASE}}, sha=SHA)
    assert choice.results is None and "could not read" in choice.note and BASE[:7] in choice.note


def test_run_env_targets_the_pr_head_and_spots_forks(tmp_path: Path) -> None:
    event = {"pull_request": {"head": {"sha": SHA, "repo": {"full_name": "mallory/model"}},
                              "base": {"sha": BASE, "repo": {"full_name": REPO}}}}
    (tmp_path / "e.json").write_text(json.dumps(event))
    env = RunEnv.from_environ({"GITHUB_EVENT_PATH": str(tmp_path / "e.json"), "GITHUB_EVENT_NAME": "pull_request",
                               "GITHUB_SHA": "f" * 40, "GITHUB_REPOSITORY": REPO})
    assert env.tested_sha() == SHA and env.fork_pr() == "mallory/model"
    assert env.tested_sha("d" * 40) == "d" * 40


# ----------------------------------------------------------------------------- JUnit


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" errors="1" skipped="1">
<testcase classname="tests.test_model" name="test_ok" time="0.1"/>
<testcase classname="tests.test_model" name="test_auc" time="0.2">
  <failure message="AssertionError: auc too low">def test_auc():
&gt;       assert auc() &gt; 0.9
E       AssertionError: auc too low

tests/test_model.py:7: AssertionError</failure></testcase>
<testcase classname="tests.test_model.TestData" name="test_rows[big]" time="0.0">
  <error message="fixture 'db' not found">file /x/y.py, line 3</error></testcase>
<testcase classname="tests.test_model" name="test_skip" time="0.0"><skipped message="later"/></testcase>
</testsuite></testsuites>
"""


def test_junit_failures_are_located_at_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_model.py").write_text(
        "def auc():\n    return 0.5\n\n\ndef test_auc():\n    x = 1\n    assert auc() > 0.9\n\n\n"
        "class TestData:\n    def test_rows(self, db):\n        pass\n")
    (tmp_path / "junit.xml").write_text(JUNIT)
    summary, failed = parse_files([tmp_path / "junit.xml"], tmp_path, tmp_path)
    assert (summary.tests, summary.failures, summary.errors, summary.skipped) == (4, 1, 1, 1)
    auc, rows = failed
    assert (auc.path, auc.line, auc.kind) == ("tests/test_model.py", 7, "failure")
    assert auc.message == "AssertionError: auc too low"
    assert (rows.path, rows.line, rows.kind) == ("tests/test_model.py", 11, "error")  # def line via classname
    gate = junit_gate(summary, failed, 1, "pytest", ["junit.xml"])
    assert gate.status == Status.FAIL and gate.summary == "2 of 4 tests failed"


def test_junit_in_a_subdirectory_project_is_relative_to_the_repository(tmp_path: Path) -> None:
    project = tmp_path / "ml"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_model.py").write_text("def test_auc():\n    x = 1\n    assert 0\n" + "\n" * 5)
    (project / "junit.xml").write_text(JUNIT)
    _, failed = parse_files([project / "junit.xml"], project, tmp_path)
    assert failed[0].path == "ml/tests/test_model.py" and failed[0].line == 7


# ----------------------------------------------------------------------------- conclusions and the publish job


@responses.activate
def test_a_warning_is_published_as_success_never_neutral(tmp_path: Path) -> None:
    """The bot counts an mlgate/<gate> as passing only on success: a neutral check judged nothing."""
    from mlgate.checks.publish.run import finish_gate

    post = responses.post(f"{API}/repos/{REPO}/check-runs", json={"id": 3, "html_url": "u"}, status=201)
    gate = GateResult("quality", Status.WARN, "brier 0.26 above 0.25 (warn)")
    results = RunResults(gates=[gate], versions={"config_sha256": "sha256:x"}, baseline={})
    env = RunEnv.from_environ({"GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": API, "GITHUB_SHA": SHA,
                               "MLGATE_TOKEN": "t", "GITHUB_EVENT_NAME": "push"})
    done = finish_gate(env, results, "quality", results_path=tmp_path / "r.json", baseline_note="", baseline_sha=None,
                       artifact=None, publish=True, sha=SHA)
    body = json.loads(post.calls[0].request.body)
    assert done.conclusion == "success" and body["conclusion"] == "success"
    assert body["output"]["title"] == "⚠️ passed with warnings: brier 0.26 above 0.25 (warn)"


@responses.activate
def test_the_base_config_is_read_through_the_contents_api(tmp_path: Path) -> None:
    import base64

    from mlgate.checks.publish.run import config_repo_path, fetch_base_config

    raw = b"version: 1\nbias: {sensitive: [g]}\n"
    call = responses.get(f"{API}/repos/{REPO}/contents/ml/.github/mlgate.yml",
                         json={"type": "file", "encoding": "base64", "content": base64.b64encode(raw).decode()})
    responses.get(f"{API}/repos/{REPO}/contents/.github/mlgate.yml", status=404, json={"message": "Not Found"})
    gh = GitHub(API, "t", REPO, policy=replace(PUBLISH_POLICY, max_attempts=1), log=lambda _m: None)
    assert config_repo_path(".github/mlgate.yml", "ml") == "ml/.github/mlgate.yml"
    assert config_repo_path("../../x.yml", "ml") is None
    assert fetch_base_config(gh, "ml/.github/mlgate.yml", BASE) == (raw, None)
    assert call.calls[0].request.params == {"ref": BASE}
    data, problem = fetch_base_config(gh, ".github/mlgate.yml", BASE)
    assert data is None and problem == f".github/mlgate.yml does not exist at {BASE[:12]}"
