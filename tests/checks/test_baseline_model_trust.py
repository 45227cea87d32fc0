"""The base commit's model is a file that sets limits: with --config-ref it is read from that commit.

A pull request that grows its model could also overwrite `baseline/model.skops` in its checkout with
the grown model, so that the budget gate compares the model with itself (no growth) and explain sees
no change. These tests build a real git repository where the PR does exactly that, and run the
installed `mlgate` command as the Actions do: without --config-ref the walk-around works (which is
why the Actions always pass it), with it the base commit's model judges the change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from mlgate.checks.config.models import LIMIT_FILES

MLGATE = str(Path(sys.executable).parent / "mlgate")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
CONFIG = """\
version: 1
artifacts: {model: model.skops}
budget:
  baseline_model: baseline/model.skops
  max_relative_growth: {parameters: 0.5}
  latency: null
explain:
  baseline_model: baseline/model.skops
  data: holdout.parquet
  label: target
  n_repeats: 2
  max_rank_shift: {"*": 0}
  severity: fail
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("trust")
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    small_cols = ["mean_radius", "mean_texture", "worst_concavity"]
    small = LogisticRegression(max_iter=5000).fit(frame[small_cols], frame["target"])
    big_cols = [c for c in frame.columns if c != "target"][:12]
    big = LogisticRegression(max_iter=5000).fit(frame[big_cols], frame["target"])
    frame.iloc[1::3].to_parquet(root / "holdout.parquet", index=False)
    (root / ".github").mkdir()
    (root / ".github" / "mlgate.yml").write_text(CONFIG)
    (root / "baseline").mkdir()
    sio.dump(small, root / "baseline" / "model.skops")
    sio.dump(small, root / "model.skops")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--no-gpg-sign", "-m", "base")
    base = _git(root, "rev-parse", "HEAD")
    sio.dump(big, root / "model.skops")  # the PR: a model with 4 times the parameters …
    sio.dump(big, root / "baseline" / "model.skops")  # … and a "baseline" that hides it
    return root, base


def _check(repo: Path, gate: str, *extra: str) -> dict:
    out = repo / f"{gate}-{len(extra)}.json"
    proc = subprocess.run([MLGATE, "check", gate, "--config", ".github/mlgate.yml", "--json", str(out), *extra],
                          cwd=repo, capture_output=True, text=True, timeout=180)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(out.read_text())


def test_the_base_models_are_limit_files() -> None:
    assert {"budget.baseline_model", "explain.baseline_model"} <= set(LIMIT_FILES)


def test_budget_compares_with_the_base_commits_model(repo: tuple[Path, str]) -> None:
    root, base = repo
    loose = _check(root, "budget")["gates"][0]
    assert loose["status"] == "pass"  # the walk-around, without --config-ref
    strict = _check(root, "budget", "--config-ref", base)
    gate = strict["gates"][0]
    params = next(m for m in gate["metrics"] if m["name"] == "parameters")
    assert params["baseline"] == 4 and params["value"] == 13
    assert gate["status"] == "fail" and strict["versions"]["config_ref"] == base


def test_explain_compares_with_the_base_commits_model(repo: tuple[Path, str]) -> None:
    root, base = repo
    assert _check(root, "explain")["gates"][0]["status"] == "pass"  # compared with itself
    gate = _check(root, "explain", "--config-ref", base)["gates"][0]
    assert sorted(gate["details"]["base_importances"]) == ["mean_radius", "mean_texture", "worst_concavity"]
    assert gate["details"]["base_source"] == "baseline_model"
    assert pd.Series([m["status"] for m in gate["metrics"] if m["name"] == "rank_shift"]).eq("fail").any()
