"""`mlgate publish` from a CI other than GitHub Actions (docs/any-ci.md): a GitLab-style job that
knows the repository, the PR and a token only through environment variables, runs `mlgate check`
and `mlgate publish results` as plain commands, and leaves the `mlgate/<gate>` check runs on the
PR's head in the sandbox, judged by the base commit's config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.actions.conftest import OWNER, REPO, Repo
from tests.actions.test_trust import check_runs

pytestmark = pytest.mark.e2e

MLGATE = [sys.executable, "-m", "mlgate.cli"]


def own_pr(repo: Repo, branch: str) -> tuple[int, str, str]:
    """A PR of this test's own (the session's repository is shared: other tests count check runs on
    its PR): (number, head SHA, base SHA)."""
    head = repo.server.push_files(OWNER, REPO, branch, {f"{branch}.md": "from another CI\n"}, "alice",
                                  message=f"Add {branch}", base="main")
    pr = repo.server.open_pr(OWNER, REPO, branch, "alice", title=f"Add {branch}")
    assert pr["head"]["sha"] == head
    return int(pr["number"]), head, str(pr["base"]["sha"])


def gitlab_env(repo: Repo, tmp: Path, **more: str) -> dict[str, str]:
    """A GitLab job's environment: its own CI_* variables, the mlgate ones from the project's CI
    settings, and nothing of GitHub Actions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "MLGATE_"))}
    env.update({
        "CI": "true", "GITLAB_CI": "true", "CI_COMMIT_SHA": repo.head_sha, "CI_PROJECT_DIR": str(tmp),
        "MLGATE_TOKEN": "alice", "MLGATE_REPOSITORY": repo.full_name, "MLGATE_GITHUB_URL": repo.api_url,
        "MLGATE_PR": str(repo.pr["number"]), "MLGATE_SHA": repo.head_sha,
    })
    env.update(more)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MLGATE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)


def test_a_gitlab_job_publishes_check_runs_with_env_vars_only(repo: Repo, trained: Path, tmp_path: Path) -> None:
    number, head, base = own_pr(repo, "any-ci")
    work = tmp_path / "job"
    shutil.copytree(trained, work, symlinks=True)
    env = gitlab_env(repo, work, MLGATE_PR=str(number), MLGATE_SHA=head)
    ref = run(["publish", "config-ref"], env, work)
    assert ref.returncode == 0, ref.stderr
    assert f"sha={base}" in ref.stdout and f"base commit of PR #{number}" in ref.stdout
    check = run(["check", "bias", "--json", "mlgate-results/bias.json", "--config", ".github/mlgate.yml",
                 "--config-ref", base], env, work)
    assert check.returncode in (0, 1), check.stderr
    published = run(["publish", "results", "--results", "mlgate-results/*.json", "--out", "published.json"], env,
                    work)
    assert published.returncode == 0, published.stdout + published.stderr
    assert f"verifying against .github/mlgate.yml at {base[:7]} (the base commit of PR #{number})" in published.stdout
    [bias] = check_runs(repo, head, "mlgate/bias")  # on the PR's head, as a pull_request run in Actions
    assert bias["conclusion"] == "success", bias["output"]["title"]
    # a gate the base config runs but this job did not compute is published as an error, never skipped
    assert check_runs(repo, head, "mlgate/quality")[0]["conclusion"] == "failure"
    assert (work / "published.json").is_file()


def test_a_bad_pr_number_is_one_line_and_exit_2(repo: Repo, tmp_path: Path) -> None:
    env = gitlab_env(repo, tmp_path, MLGATE_PR="seven")
    done = run(["publish", "config-ref"], env, tmp_path)
    assert done.returncode == 2 and "MLGATE_PR must be a pull request number" in done.stderr
    assert "Traceback" not in done.stderr
    env = gitlab_env(repo, tmp_path, MLGATE_PR="999")
    done = run(["publish", "config-ref"], env, tmp_path)
    assert done.returncode == 2 and "cannot read PR #999" in done.stderr
