"""The actions of the model gates (budget, explain, shadow), run step by step against the sandbox.

Each one judges with the base commit's config and limit files (`budget.baseline_model` and
`explain.baseline_model` are read from the base commit, like a schema), writes its results for
actions/publish, and fails the step when its gate fails: a bloated model fails `actions/budget`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.actions.conftest import ACTIONS, ROOT, Repo, job

pytestmark = pytest.mark.e2e

RESULTS_SCHEMA = json.loads((ROOT / "checks" / "results.schema.json").read_text())


@pytest.fixture(scope="module")
def trained_bloated(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PR's checkout, retrained with every feature encoded three times (3x the parameters)."""
    work = tmp_path_factory.mktemp("ws-bloated") / "arrests"
    shutil.copytree(trained, work, symlinks=True)
    proc = subprocess.run([sys.executable, "train.py", "--variant", "bloated"], cwd=work, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return work


@pytest.mark.parametrize("gate", ["budget", "explain", "shadow"])
def test_each_model_gate_runs_in_its_action_with_the_base_commits_config(
    gate: str, repo: Repo, trained: Path, tmp_path: Path
) -> None:
    run = job(trained, tmp_path, repo).run_action(ACTIONS / gate)
    assert not run.failed, run.log
    assert run.outputs["status"] in ("pass", "warn"), run.outputs
    assert run.outputs["config-ref"] == repo.base_sha and run.outputs["published"] == "false"
    data = json.loads(Path(run.outputs["results-path"]).read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert [g["gate"] for g in data["gates"]] == [gate]
    assert data["versions"]["config_ref"] == repo.base_sha
    assert f"{gate}" in run.summary


def test_a_bloated_model_fails_the_budget_action(repo: Repo, trained: Path, trained_bloated: Path,
                                                 tmp_path: Path) -> None:
    # The base commit's own run records its quality metric (what the growth rule compares with).
    base_job = job(trained, tmp_path / "push", repo, event_name="push", event={"after": repo.base_sha},
                   sha=repo.base_sha)
    base = base_job.run_action(ACTIONS / "budget", {"publish": "true"})
    assert not base.failed and base.outputs["published"] == "true", base.log
    # The PR: three times the parameters, the same AUC.
    run = job(trained_bloated, tmp_path / "pr", repo).run_action(ACTIONS / "budget")
    assert run.outputs["baseline-sha"] == repo.base_sha
    assert run.failed and run.outputs["status"] == "fail", run.outputs
    data = json.loads(Path(run.outputs["results-path"]).read_text())
    params = next(m for m in data["gates"][0]["metrics"] if m["name"] == "parameters")
    assert params["baseline"] == 23 and params["value"] == 67  # the base commit's model, counted in this run
    growth = next(m for m in data["gates"][0]["metrics"] if m["name"] == "parameter_growth")
    assert growth["status"] == "fail"
    auc = next(m for m in data["gates"][0]["metrics"] if m["name"] == "roc_auc" and m["slice"] == "quality")
    assert auc["baseline"] is not None and abs(auc["delta"]) < 0.005  # the gain the rule asks for was not bought


def test_the_model_gate_actions_refuse_unknown_inputs(repo: Repo, trained: Path, tmp_path: Path) -> None:
    from tests.actions.harness import HarnessError

    for gate in ("budget", "explain", "shadow"):
        with pytest.raises(HarnessError, match="unexpected inputs"):
            job(trained, tmp_path, repo).run_action(ACTIONS / gate, {"confg": "x"})
