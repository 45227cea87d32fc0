"""The GitHub calls added for the merge queue and `approvals_on: unchanged_paths`, against `responses`
with GitHub's own example bodies: list and cancel Actions runs, compare two commits."""

from __future__ import annotations

import pytest
import responses

from mlgate.bot.github.client import GitHubAPIError, GitHubForge
from tests.bot.test_github_adapter import REPO, R, Sleeps, calls, op_example, token_forge

SHA = "c" * 40


@pytest.fixture
def forge() -> GitHubForge:
    return token_forge(Sleeps())


def test_active_workflow_runs_lists_by_head_sha_and_skips_completed_ones(rsps, forge) -> None:  # type: ignore[no-untyped-def]
    body = op_example("/repos/{owner}/{repo}/actions/runs", "get")
    run = body["workflow_runs"][0]
    done = {**run, "id": run["id"] + 1, "status": "completed", "conclusion": "success"}
    other = {**run, "id": run["id"] + 2, "head_sha": "d" * 40}
    body["workflow_runs"] = [{**run, "head_sha": SHA, "status": "in_progress"}, {**done, "head_sha": SHA}, other]
    rsps.get(f"{R}/actions/runs", json=body)
    assert forge.active_workflow_runs(REPO, SHA) == (run["id"],)
    assert calls(rsps) == [("GET", f"/repos/{REPO}/actions/runs?head_sha={SHA}&per_page=100")]


def test_cancel_workflow_run_is_false_when_it_completed_meanwhile(rsps, forge) -> None:  # type: ignore[no-untyped-def]
    rsps.post(f"{R}/actions/runs/30433642/cancel", status=202, json={})
    rsps.post(f"{R}/actions/runs/7/cancel", status=409,
              json={"message": "Cannot cancel a workflow run that is completed."})
    rsps.post(f"{R}/actions/runs/8/cancel", status=403, json={"message": "Resource not accessible by integration"})
    assert forge.cancel_workflow_run(REPO, 30433642) is True
    assert forge.cancel_workflow_run(REPO, 7) is False
    with pytest.raises(GitHubAPIError):
        forge.cancel_workflow_run(REPO, 8)


@pytest.mark.parametrize(("status", "expected"), [
    ("ahead", ("file1.txt",)), ("identical", ("file1.txt",)), ("diverged", None), ("behind", None)])
def test_changed_paths_only_for_a_descendant(rsps, forge, status: str, expected) -> None:  # type: ignore[no-untyped-def]
    body = op_example("/repos/{owner}/{repo}/compare/{basehead}", "get")
    body["status"] = status
    body["files"] = [{**body["files"][0], "filename": "file1.txt"}]
    rsps.get(f"{R}/compare/{'a' * 40}...{SHA}", json=body)
    assert forge.changed_paths(REPO, "a" * 40, SHA) == expected


def test_changed_paths_names_both_sides_of_a_rename_and_gives_up_on_a_cut_list(rsps, forge) -> None:  # type: ignore[no-untyped-def]
    body = op_example("/repos/{owner}/{repo}/compare/{basehead}", "get")
    body["status"] = "ahead"
    base = body["files"][0]
    body["files"] = [{**base, "filename": "new.py", "status": "renamed", "previous_filename": "old.py"}]
    rsps.get(f"{R}/compare/{'a' * 40}...{SHA}", json=body)
    assert forge.changed_paths(REPO, "a" * 40, SHA) == ("new.py", "old.py")
    many = {**body, "files": [{**base, "filename": f"f{i}"} for i in range(300)]}
    rsps.replace(responses.GET, f"{R}/compare/{'a' * 40}...{SHA}", json=many)
    assert forge.changed_paths(REPO, "a" * 40, SHA) is None
