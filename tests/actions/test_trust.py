"""What the Actions trust: the base commit's limits, a fresh mlgate, and a publish job that checks.

Every test here runs the composite actions step by step (tests/actions/harness.py) against the
local GitHub sandbox, as the walk-arounds would happen in CI:

- a PR whose checkout loosens its config and data schema is judged with the base commit's;
- the publish job (actions/publish, no project code, the only job with `checks: write`) refuses
  a result computed with another config, and publishes an error for a configured gate that left
  no results;
- the setup action never reuses a virtual environment found at a path project code could have
  prepared.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.actions.conftest import ACTIONS, OWNER, REPO, Loosened, Repo, job, pr_event

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out


def check_runs(repo: Repo, sha: str, name: str) -> list[dict[str, Any]]:
    resp = repo.server.api("GET", f"/repos/{repo.full_name}/commits/{sha}/check-runs", "alice",
                           params={"check_name": name, "filter": "all"})
    resp.raise_for_status()
    return resp.json()["check_runs"]


def base_config_sha256(repo: Repo) -> str:
    resp = repo.server.api("GET", f"/repos/{repo.full_name}/contents/.github/mlgate.yml", "alice",
                           params={"ref": repo.base_sha}, headers={"Accept": "application/vnd.github.raw"})
    resp.raise_for_status()
    import base64

    data = resp.json()
    raw = base64.b64decode(data["content"]) if isinstance(data, dict) else resp.content
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def loose_event(repo: Repo, loose: Loosened) -> dict[str, Any]:
    return pr_event(repo, **{k: loose.pr[k] for k in ("number", "head", "base", "title")})


def test_a_pr_that_loosens_its_config_and_schema_is_judged_with_the_base(repo: Repo, loosened: Loosened,
                                                                        tmp_path: Path) -> None:
    harness = job(loosened.workspace, tmp_path / "temp", repo, event=loose_event(repo, loosened))
    expected = base_config_sha256(repo)
    for gate in ("bias", "data"):
        run = harness.run_action(ACTIONS / gate, {"discover-baseline": "false"})
        assert run.outputs["status"] == "fail", (gate, run.log)
        assert run.failed and run.exit_code == 1
        versions = json.loads(Path(run.outputs["results-path"]).read_text())["versions"]
        assert versions["config_sha256"] == expected
        assert versions["config_ref"] == repo.base_sha
        assert f"the config of {repo.base_sha} judges this run" in run.step("ref").stdout
        assert "base commit of PR" in run.step("ref").stdout
    # The same checkout judged with its own config passes: that is the walk-around the base closes.
    for gate in ("bias", "data"):
        own = harness.run_action(ACTIONS / gate, {"discover-baseline": "false", "config-ref": "working-tree"})
        assert own.outputs["status"] in ("pass", "warn"), (gate, own.log)
        assert json.loads(Path(own.outputs["results-path"]).read_text())["versions"]["config_sha256"] != expected


def test_publish_job_refuses_results_of_another_config(repo: Repo, loosened: Loosened, tmp_path: Path) -> None:
    event = loose_event(repo, loosened)
    gates = job(loosened.workspace, tmp_path / "gates", repo, event=event)
    honest = gates.run_action(ACTIONS / "bias", {"discover-baseline": "false", "fail": "false"})
    assert honest.outputs["status"] == "fail" and honest.outputs["published"] == "false"
    # A results file computed with the PR's own config (e.g. a workflow edited to drop the base).
    forged = gates.run_action(ACTIONS / "quality", {"discover-baseline": "false", "config-ref": "working-tree",
                                                    "fail": "false"})
    assert forged.outputs["status"] in ("pass", "warn")
    # The publish job: another machine, no checkout of the repository, only the artifacts.
    empty = tmp_path / "publish-ws"
    empty.mkdir()
    publisher = job(empty, tmp_path / "publish", repo, event=event)
    shutil.copytree(tmp_path / "gates" / "_artifacts", tmp_path / "publish" / "mlgate-artifacts")
    run = publisher.run_action(ACTIONS / "publish", {"download-artifacts": "false"})
    # quality, and data, skew, regression, features, budget, explain, shadow: no results
    assert run.outputs["refused"] == "8", run.log
    sha = loosened.head_sha
    [bias] = check_runs(repo, sha, "mlgate/bias")
    assert bias["conclusion"] == "failure" and json.loads(bias["output"]["text"])["gates"][0]["status"] == "fail"
    [quality] = check_runs(repo, sha, "mlgate/quality")
    assert quality["conclusion"] == "failure"
    assert "computed with the PR's own config" in quality["output"]["title"]
    assert f".github/mlgate.yml at {repo.base_sha[:12]}" in quality["output"]["summary"]
    text = json.loads(quality["output"]["text"])
    assert text["gates"][0]["status"] == "error"
    for gate in ("data", "skew", "regression", "features", "budget", "explain", "shadow"):
        [missing] = check_runs(repo, sha, f"mlgate/{gate}")
        assert missing["conclusion"] == "failure" and "no results" in missing["output"]["title"]
    assert run.outputs["status"] == "error" and not run.failed  # input fail defaults to 'false'
    assert "mlgate/quality refused" in run.step("publish").stdout


def test_publish_job_publishes_verified_results_and_tests(repo: Repo, trained: Path, tmp_path: Path) -> None:
    gates = job(trained, tmp_path / "gates", repo)
    for gate in ("data", "quality", "bias", "skew", "regression", "features", "budget", "explain", "shadow"):
        run = gates.run_action(ACTIONS / gate, {"discover-baseline": "false"})
        assert not run.failed, run.log
    tests = gates.run_action(ACTIONS / "tests", {"command": "true"})
    assert tests.outputs["status"] == "warn"
    empty = tmp_path / "publish-ws"
    empty.mkdir()
    publisher = job(empty, tmp_path / "publish", repo)
    shutil.copytree(tmp_path / "gates" / "_artifacts", tmp_path / "publish" / "mlgate-artifacts")
    before = len(check_runs(repo, repo.head_sha, "mlgate/quality"))
    run = publisher.run_action(ACTIONS / "publish", {"download-artifacts": "false", "tests": "true"})
    assert not run.failed, run.log
    assert run.outputs["refused"] == "0" and run.outputs["status"] in ("pass", "warn")
    quality = check_runs(repo, repo.head_sha, "mlgate/quality")
    assert len(quality) == before + 1 and quality[0]["conclusion"] == "success"
    tests_run = check_runs(repo, repo.head_sha, "mlgate/tests")[0]
    assert tests_run["conclusion"] == "success"  # a warning passes; the title says so
    assert tests_run["output"]["title"].startswith("⚠️ passed with warnings:")


def test_config_ref_of_a_staging_push_is_the_base_tip(repo: Repo, trained: Path, tmp_path: Path) -> None:
    staging = repo.server.push_files(OWNER, REPO, "mlgate/staging/main", {"STAGED.md": "batch\n"}, "alice",
                                     message="Staging", base="main")
    harness = job(trained, tmp_path, repo, event_name="push", event={"after": staging}, sha=staging,
                  ref="refs/heads/mlgate/staging/main")
    run = harness.run_action(ACTIONS / "bias", {"discover-baseline": "false"})
    assert f"the config of {repo.base_sha} judges this run" in run.step("ref").stdout, run.log
    versions = json.loads(Path(run.outputs["results-path"]).read_text())["versions"]
    assert versions["config_ref"] == repo.base_sha


def test_an_unknown_config_ref_is_an_error_not_a_pass(repo: Repo, trained: Path, tmp_path: Path) -> None:
    harness = job(trained, tmp_path, repo, event_name="push", event={}, sha=repo.head_sha,
                  ref="refs/heads/mlgate/try/not-a-number")
    run = harness.run_action(ACTIONS / "bias", {"discover-baseline": "false"})
    assert run.failed and run.outputs["status"] == "error"
    assert "cannot tell which commit's config judges this run" in run.summary


# ----------------------------------------------------------------------------- the setup action


def _tiny_mlgate(src: Path) -> None:
    """A source tree the setup action installs in seconds (the real one takes minutes)."""
    shutil.copytree(ACTIONS / "setup", src / "actions" / "setup")
    (src / "core").mkdir()
    (src / "core" / "__init__.py").write_text("")
    (src / "core" / "cli.py").write_text("def main():\n    print('mlgate, version 0.0.1')\n")
    (src / "pyproject.toml").write_text(
        "[build-system]\nrequires = ['setuptools>=61']\nbuild-backend = 'setuptools.build_meta'\n"
        "[project]\nname = 'mlgate'\nversion = '0.0.1'\n[project.scripts]\nmlgate = 'mlgate.cli:main'\n"
        "[tool.setuptools]\npackages = ['mlgate']\n[tool.setuptools.package-dir]\nmlgate = 'core'\n")


def test_setup_installs_fresh_and_never_reuses_a_planted_venv(repo: Repo, trained: Path, tmp_path: Path) -> None:
    src = tmp_path / "mlgate-src"
    _tiny_mlgate(src)
    action = src / "actions" / "setup"
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "PATH": "/usr/bin:/bin"}
    # What the project's install or training step could leave behind: a venv at the path the setup
    # action used to reuse, carrying the key it checked, whose `mlgate` is the project's own.
    keyed = subprocess.run(["bash", str(action / "setup.sh"), "key"], env=env, capture_output=True, text=True,
                           check=False)
    values = dict(line.split("=", 1) for line in keyed.stdout.splitlines() if "=" in line)
    planted = Path(values.get("venv") or temp / "mlgate-venv")
    marker = tmp_path / "planted-mlgate-ran"
    (planted / "bin").mkdir(parents=True)
    fake = planted / "bin" / "mlgate"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\necho 'mlgate, version 6.6.6'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (planted / "bin" / "python").symlink_to("/usr/bin/python3")
    (planted / ".mlgate-key").write_text(values.get("key", "planted") + "\n")

    harness = job(trained, temp, repo, setup=False)
    harness.job_env.update(PATH="/usr/bin:/bin")
    run = harness.run_action(action)
    assert not run.failed, run.log
    assert run.outputs["version"] == "0.0.1"
    assert not marker.exists(), "the planted mlgate ran"
    installed = Path(run.outputs["mlgate"])
    assert planted not in installed.parents and installed.is_file()
    assert run.env_file["MLGATE_PYTHON"] == str(installed.parent / "python")
    [bin_dir] = run.path_entries
    assert sorted(p.name for p in Path(bin_dir).iterdir()) == ["mlgate"]  # the job's python stays the user's
    assert Path(bin_dir).parent == installed.parent.parent.parent  # next to the venv, in the fresh directory
    # Every run installs into a directory of its own, never one that existed before.
    again = job(trained, temp, repo, setup=False)
    again.job_env.update(PATH="/usr/bin:/bin")
    second = again.run_action(action)
    assert not second.failed, second.log
    assert Path(second.outputs["mlgate"]).parent.parent != installed.parent.parent
    assert oct(os.stat(installed.parent.parent.parent).st_mode & 0o777) == "0o700"
