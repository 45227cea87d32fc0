"""A user repository for the actions: the example project, on the local GitHub sandbox.

Once per session: the sandbox starts, `alice/arrests` is created from examples/arrests (its `main`
is the base), a branch `change` adds a commit and a PR opens; the PR head is cloned into a
workspace and `python train.py` runs there (and once more with `--variant unfair` in a copy).
Each test gets its own RUNNER_TEMP and job, so step summaries and outputs never mix.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.actions.harness import Harness, upload_artifact_hook

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = ROOT / "actions"
EXAMPLE = ROOT / "examples" / "arrests"
VENV_BIN = Path(sys.executable).parent
OWNER, REPO = "alice", "arrests"


@dataclass
class Repo:
    full_name: str
    base_sha: str
    head_sha: str
    pr: dict[str, Any]
    api_url: str
    server: Any
    github_token: str = ""  # the job's GITHUB_TOKEN: an installation token of the `github-actions` App


def _git(*args: str, cwd: Path) -> str:
    from mlgate.sandbox.harness import run_git

    return run_git(*args, cwd=cwd)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from mlgate.sandbox.harness import SandboxServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = SandboxServer(tmp_path_factory.mktemp("actions-sandbox"), users=("alice", "bob", "carol")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def repo(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    src = tmp_path_factory.mktemp("arrests-src")
    shutil.copytree(EXAMPLE, src, dirs_exist_ok=True, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
    (src / ".gitignore").write_text("artifacts/\n__pycache__/\n")
    sandbox.create_repo(OWNER, REPO, "alice", from_dir=src)
    base = sandbox.api("GET", f"/repos/{OWNER}/{REPO}/commits/main", "alice").json()["sha"]
    head = sandbox.push_files(OWNER, REPO, "change", {"NOTES.md": "A change under review.\n"}, "alice",
                              message="Add notes", base="main")
    pr = sandbox.open_pr(OWNER, REPO, "change", "alice", title="Add notes")
    assert pr["head"]["sha"] == head and pr["base"]["sha"] == base
    return Repo(f"{OWNER}/{REPO}", base, head, pr, sandbox.api_url, sandbox,
                github_token=sandbox.actions_token(f"{OWNER}/{REPO}"))


def _train(workdir: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=workdir, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def trained(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the PR head with the model trained: the workspace a job would have."""
    work = tmp_path_factory.mktemp("ws") / "arrests"
    _git("clone", "-q", repo.server.clone_url(OWNER, REPO, "alice"), str(work), cwd=work.parent)
    _git("checkout", "-q", repo.head_sha, cwd=work)
    _train(work)
    return work


@pytest.fixture(scope="session")
def trained_unfair(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same checkout, trained with colour as a feature: the bias gate blocks it."""
    work = tmp_path_factory.mktemp("ws-unfair") / "arrests"
    shutil.copytree(trained, work, symlinks=True)
    _train(work, "--variant", "unfair")
    return work


# What a PR that loosens its own gates changes: the bias limits in the config and the data schema.
LOOSENINGS = {
    ".github/mlgate.yml": [
        ("fpr: {max_difference: 0.25}", "fpr: {max_difference: 1.0}"),
        ("fnr: {max_difference: 0.25}", "fnr: {max_difference: 1.0}"),
        ("selection_rate: {min_ratio: 0.6}", "selection_rate: {min_ratio: 0.0}"),
        ("equalized_odds_difference: 0.3", "equalized_odds_difference: 1.0"),
        ("demographic_parity_difference: {max: 0.3, severity: warn}", "demographic_parity_difference: 1.0"),
        ("max_group_regression: {fpr: 0.05, fnr: 0.05}", "max_group_regression: {fpr: 1.0, fnr: 1.0}"),
    ],
    "schema.yaml": [("in_range: {min_value: 10, max_value: 100}", "in_range: {min_value: 10, max_value: 1000}")],
}


@dataclass
class Loosened:
    workspace: Path  # the PR's checkout, with the unfair model trained and a table the base schema refuses
    pr: dict[str, Any]
    head_sha: str


@pytest.fixture(scope="session")
def loosened(repo: Repo, trained_unfair: Path, tmp_path_factory: pytest.TempPathFactory) -> Loosened:
    """A second PR, `loosen`, that raises its own bias limits and widens its schema's age range."""
    import pandas as pd

    files = {}
    for path, swaps in LOOSENINGS.items():
        text = (EXAMPLE / path).read_text()
        for old, new in swaps:
            assert old in text, (path, old)
            text = text.replace(old, new)
        files[path] = text
    head = repo.server.push_files(OWNER, REPO, "loosen", files, "alice", message="Loosen the limits", base="main")
    pr = repo.server.open_pr(OWNER, REPO, "loosen", "alice", title="Loosen the limits")
    work = tmp_path_factory.mktemp("ws-loose") / "arrests"
    shutil.copytree(trained_unfair, work, symlinks=True)
    _git("fetch", "-q", "origin", "loosen", cwd=work)
    _git("checkout", "-q", head, cwd=work)
    table = pd.read_parquet(work / "artifacts" / "train.parquet")
    table.loc[table.index[0], "age"] = 150  # outside the base schema's range, inside the loosened one
    table.to_parquet(work / "artifacts" / "train.parquet", index=False)
    return Loosened(work, pr, head)


def pr_event(repo: Repo, **changes: Any) -> dict[str, Any]:
    pr = {**repo.pr, **changes}
    return {"action": "synchronize", "number": pr["number"], "pull_request": pr,
            "repository": {"full_name": repo.full_name}}


def job(workspace: Path, runner_temp: Path, repo: Repo, *, event_name: str = "pull_request",
        event: dict[str, Any] | None = None, sha: str | None = None, token: str | None = None,
        setup: bool = True, ref: str | None = None) -> Harness:
    """A job on the PR (by default) whose mlgate setup already ran (the test venv stands in for it).
    Its token is the repository's GITHUB_TOKEN unless ``token`` says otherwise (GitHub accepts check
    runs only from Apps, and GitHub Actions is one)."""
    token = token or repo.github_token
    github = {"repository": repo.full_name, "event_name": event_name,
              "event": event if event is not None else pr_event(repo),
              "sha": "f" * 40,  # a pull_request run's GITHUB_SHA is the merge commit
              "token": token, "api_url": repo.api_url, "server_url": repo.server.url, "run_id": "4242",
              "ref": ref or "refs/pull/1/merge"}
    if event_name != "pull_request":
        github["sha"] = sha or repo.head_sha
        github["ref"] = ref or "refs/heads/main"
    env = {}
    if setup:
        env = {"MLGATE": str(VENV_BIN / "mlgate"), "MLGATE_PYTHON": sys.executable}
    return Harness(workspace, runner_temp, github, env=env,
                   uses_hooks={"actions/upload-artifact": upload_artifact_hook})
