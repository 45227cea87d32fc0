"""The composite actions, run step by step by the harness against the local GitHub sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.actions.conftest import ACTIONS, ROOT, VENV_BIN, Repo, job, pr_event

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

RESULTS_SCHEMA = json.loads((ROOT / "checks" / "results.schema.json").read_text())


def check_runs(repo: Repo, sha: str, name: str) -> list[dict[str, Any]]:
    """The check runs named `name` on `sha`, newest first, through the REST API."""
    resp = repo.server.api("GET", f"/repos/{repo.full_name}/commits/{sha}/check-runs", "alice",
                           params={"check_name": name, "filter": "all"})
    resp.raise_for_status()
    return resp.json()["check_runs"]


def stored_annotations(repo: Repo, run_id: int) -> list[dict[str, Any]]:
    """Every annotation of the run, through the REST API (GitHub appends each request's to the run's)."""
    found: list[dict[str, Any]] = []
    for page in range(1, 20):
        resp = repo.server.api("GET", f"/repos/{repo.full_name}/check-runs/{run_id}/annotations", "alice",
                               params={"per_page": 100, "page": page})
        resp.raise_for_status()
        found += resp.json()
        if len(resp.json()) < 100:
            return found
    return found


def assert_results_file(path: str, gate: str) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert [g["gate"] for g in data["gates"]] == [gate]
    return data


def test_push_then_pr_compares_with_the_base_commits_check_run(repo: Repo, trained: Path, tmp_path: Path) -> None:
    # 1. A push to main tests the base commit: no parent, so no baseline, said in words.
    base_job = job(trained, tmp_path / "push", repo, event_name="push", event={"after": repo.base_sha},
                   sha=repo.base_sha)
    run = base_job.run_action(ACTIONS / "bias", {"publish": "true"})
    assert not run.failed, run.log
    assert run.outputs["status"] == "pass"
    assert run.outputs["published"] == "true"
    assert "publishing from the job that ran the project's code" in run.step("publish").stdout
    assert "No baseline" in run.summary and "has no parent" in run.summary
    assert run.outputs["baseline-sha"] == ""
    [published] = check_runs(repo, repo.base_sha, "mlgate/bias")
    assert published["conclusion"] == "success" and published["head_sha"] == repo.base_sha
    assert str(published["id"]) == run.outputs["check-run-id"]

    # 2. The PR: its base commit's mlgate/bias check run is the baseline; the run says which one.
    pr_job = job(trained, tmp_path / "pr", repo)
    run = pr_job.run_action(ACTIONS / "bias", {"working-directory": ".", "publish": "true"})
    assert not run.failed, run.log
    assert run.outputs["status"] == "pass" and run.outputs["conclusion"] == "success"
    assert run.outputs["baseline-sha"] == repo.base_sha
    assert f"Baseline: mlgate/bias on {repo.base_sha[:7]}" in run.summary
    assert "base commit of PR" in run.summary
    data = assert_results_file(run.outputs["results-path"], "bias")
    assert data["baseline"]["git_sha"] == repo.base_sha
    assert data["gates"][0]["baseline_used"] is True
    [published] = check_runs(repo, repo.head_sha, "mlgate/bias")  # on the PR head, not the merge commit
    assert published["name"] == "mlgate/bias" and published["conclusion"] == "success"
    text = json.loads(published["output"]["text"])
    assert text["schema"] == "mlgate.results/v1" and "truncated" not in text
    assert text["gates"][0]["gate"] == "bias"
    assert published["output"]["summary"].startswith("Baseline: mlgate/bias on")
    # the artifact holds the same file
    uploaded = run.step("publish").outputs["results-path"]
    assert (tmp_path / "pr" / "_artifacts" / "mlgate-bias" / Path(uploaded).name).is_file()


def test_failing_gate_fails_the_step_and_publishes_a_failure(repo: Repo, trained_unfair: Path,
                                                              tmp_path: Path) -> None:
    run = job(trained_unfair, tmp_path, repo).run_action(ACTIONS / "bias", {"discover-baseline": "false",
                                                                            "publish": "true"})
    assert run.failed and run.exit_code == 1
    assert run.step("check").outputs["exit-code"] == "1"
    assert run.outputs["status"] == "fail" and run.outputs["conclusion"] == "failure"
    assert "❌ bias" in run.summary and "No baseline: discovery is turned off" in run.summary
    assert "::error title=mlgate/bias%3A fail::" in run.step("publish").stdout
    published = check_runs(repo, repo.head_sha, "mlgate/bias")[0]
    assert published["conclusion"] == "failure" and str(published["id"]) == run.outputs["check-run-id"]
    annotations = stored_annotations(repo, published["id"])
    assert annotations, "failing metrics become annotations"
    config_lines = (trained_unfair / ".github" / "mlgate.yml").read_text().splitlines()
    for a in annotations:
        assert a["path"] == ".github/mlgate.yml"  # relative to the repository root
        assert a["annotation_level"] in ("failure", "warning")
    failing = [a for a in annotations if a["annotation_level"] == "failure"]
    assert failing and all(config_lines[a["start_line"] - 1].strip().startswith(("limits:", "bias:"))
                           for a in failing)


def test_fail_false_keeps_the_step_green(repo: Repo, trained_unfair: Path, tmp_path: Path) -> None:
    run = job(trained_unfair, tmp_path, repo).run_action(
        ACTIONS / "bias", {"discover-baseline": "false", "fail": "false", "publish": "false"})
    assert not run.failed and run.outputs["status"] == "fail"
    assert run.outputs["published"] == "false"


def test_missing_data_file_is_a_clear_error(repo: Repo, trained: Path, tmp_path: Path) -> None:
    run = job(trained, tmp_path, repo).run_action(ACTIONS / "data", {"table": "artifacts/nope.parquet",
                                                                     "discover-baseline": "false", "publish": "true"})
    assert run.failed and run.exit_code == 2
    assert run.outputs["status"] == "error" and run.outputs["exit-code"] == "2"
    assert "nope.parquet" in run.summary
    published = check_runs(repo, repo.head_sha, "mlgate/data")[0]
    assert published["conclusion"] == "failure" and "nope.parquet" in published["output"]["summary"]


def test_missing_config_and_working_directory(repo: Repo, trained: Path, tmp_path: Path) -> None:
    run = job(trained, tmp_path / "a", repo).run_action(ACTIONS / "quality", {"config": "missing.yml",
                                                                              "publish": "false"})
    assert run.failed and run.exit_code == 2 and run.outputs["status"] == "error"
    assert "missing.yml does not exist in " + repo.base_sha[:12] in run.summary  # read from the PR's base
    run = job(trained, tmp_path / "b", repo).run_action(ACTIONS / "skew", {"working-directory": "no/such/dir",
                                                                           "publish": "false"})
    assert run.failed and run.exit_code == 2
    assert "working-directory 'no/such/dir' does not exist" in run.summary


def test_fork_pr_skips_publishing_without_failing(repo: Repo, trained: Path, tmp_path: Path) -> None:
    head = {**repo.pr["head"], "repo": {**repo.pr["head"]["repo"], "full_name": "mallory/arrests"}}
    event = pr_event(repo, head=head)
    before = len(check_runs(repo, repo.head_sha, "mlgate/skew"))
    read_only = repo.server.actions_token(repo.full_name, permissions={"contents": "read"})  # a fork run's token
    run = job(trained, tmp_path, repo, event=event, token=read_only).run_action(ACTIONS / "skew", {"publish": "true"})
    assert not run.failed, run.log
    assert run.outputs["status"] in ("pass", "warn") and run.outputs["published"] == "false"
    log = run.step("publish").stdout
    assert "fork mallory/arrests" in log and "read-only" in log and "merge.allow_forks: true" in log
    assert len(check_runs(repo, repo.head_sha, "mlgate/skew")) == before
    assert "skew" in run.summary and "| metric |" in run.summary  # the job summary still has the report


def test_token_without_write_access_skips_publishing(repo: Repo, trained: Path, tmp_path: Path) -> None:
    read_only = repo.server.actions_token(repo.full_name, permissions={"contents": "read", "checks": "read"})
    run = job(trained, tmp_path, repo, token=read_only).run_action(ACTIONS / "regression", {"publish": "true"})
    assert not run.failed, run.log
    assert run.outputs["published"] == "false"
    assert "cannot write check runs" in run.step("publish").stdout


def test_every_table_gate_runs_on_the_example(repo: Repo, trained: Path, tmp_path: Path) -> None:
    harness = job(trained, tmp_path, repo)
    for gate in ("data", "quality", "skew", "regression", "features"):
        run = harness.run_action(ACTIONS / gate)
        assert not run.failed, run.log
        assert run.outputs["status"] in ("pass", "warn"), (gate, run.outputs)
        assert run.outputs["published"] == "false"  # the publish job publishes; this job only has results
        assert run.outputs["config-ref"] == repo.base_sha
        assert_results_file(run.outputs["results-path"], gate)
        assert f"### {'✅' if run.outputs['status'] == 'pass' else '⚠️'} {gate}" in run.summary
    features = harness.run_action(ACTIONS / "features")
    assert "--base " + repo.base_sha in features.step("check").stdout  # PR base from the event
    # One combined job summary from what the gates wrote in this job.
    report = harness.run_action(ACTIONS / "report")
    assert not report.failed, report.log
    combined = json.loads(Path(report.outputs["results-path"]).read_text())
    assert [g["gate"] for g in combined["gates"]] == ["data", "quality", "skew", "regression", "features"]
    assert report.outputs["status"] in ("pass", "warn")
    assert "mlgate-report" in report.summary


TESTS_FILE = '''\
def helper():
    return 41


def test_ok():
    assert helper() == 41


def test_answer():
    value = helper()
    assert value == 42, "the answer is 42"
'''


def test_tests_action_annotates_the_failing_line(repo: Repo, trained: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(trained, ws, symlinks=True, ignore=shutil.ignore_patterns("artifacts"))
    (ws / "tests").mkdir()
    (ws / "tests" / "test_demo.py").write_text(TESTS_FILE)
    harness = job(ws, tmp_path / "temp", repo)
    harness.job_env["PATH"] = f"{VENV_BIN}:/usr/bin:/bin"
    run = harness.run_action(ACTIONS / "tests", {"command": 'python -m pytest -q -p no:cacheprovider tests '
                                                            '--junitxml="$MLGATE_JUNIT_XML"', "publish": "true"})
    assert run.failed and run.exit_code == 1
    assert run.outputs["exit-code"] == "1" and run.outputs["status"] == "fail"
    assert run.outputs["summary"] == "1 of 2 tests failed"
    published = check_runs(repo, repo.head_sha, "mlgate/tests")[0]
    assert published["conclusion"] == "failure"
    [annotation] = stored_annotations(repo, published["id"])
    assert annotation["path"] == "tests/test_demo.py"
    assert annotation["start_line"] == 11  # the failing assert, not the def
    assert annotation["annotation_level"] == "failure" and "test_answer" in annotation["title"]
    assert "the answer is 42" in annotation["message"]
    uploaded = tmp_path / "temp" / "_artifacts" / "mlgate-tests"
    assert (uploaded / "junit.xml").is_file() and (uploaded / "results.json").is_file()


def test_tests_action_without_junit_or_command(repo: Repo, trained: Path, tmp_path: Path) -> None:
    run = job(trained, tmp_path / "a", repo).run_action(ACTIONS / "tests", {"command": "true", "publish": "false"})
    assert not run.failed and run.outputs["status"] == "warn"
    assert "wrote no JUnit XML" in run.outputs["summary"]
    run = job(trained, tmp_path / "b", repo).run_action(ACTIONS / "tests", {"command": "", "publish": "false"})
    assert run.failed and "input command is empty" in run.step("run").stdout


def test_setup_refuses_a_missing_or_old_python(repo: Repo, trained: Path, tmp_path: Path) -> None:
    run = job(trained, tmp_path, repo, setup=False).run_action(ACTIONS / "setup", {"python": "python2.1"})
    assert run.failed and run.exit_code == 2
    assert "Python interpreter 'python2.1' not found" in run.step("install").stdout + run.step("install").stderr


@pytest.mark.parametrize("gate", ["data", "quality", "bias", "skew", "regression", "features", "tests"])
def test_unknown_inputs_are_refused_like_a_typo(gate: str, repo: Repo, trained: Path, tmp_path: Path) -> None:
    from tests.actions.harness import HarnessError

    with pytest.raises(HarnessError, match="unexpected inputs"):
        job(trained, tmp_path, repo).run_action(ACTIONS / gate, {"confg": "x"})
