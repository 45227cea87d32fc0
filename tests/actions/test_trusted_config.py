"""`mlgate check --config-ref`: the limits come from a commit, the data from the working tree.

A pull request controls its checkout, config included. These tests build a real git repository
whose base commit holds strict limits and whose working tree loosens them (config, data schema,
regression baseline), and run the installed `mlgate` command the way the Actions do. They also
cover paths in the config that leave `--root` (`../x`, absolute paths, symlinks), which are refused
while paths given as command-line flags stay free.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # seconds per test: `pytest -m 'not slow'` leaves it out

MLGATE = str(Path(sys.executable).parent / "mlgate")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}

STRICT = """\
version: 1
predictions:
  path: preds.csv
  label: y
  prediction: yhat
data:
  table: table.csv
  schema: schema.yaml
bias:
  sensitive: [g]
  min_group_size: 10
  metrics: [count, fpr, fnr]
  limits:
    fpr: {max_difference: 0.1}
    fnr: {max_difference: 0.1}
regression:
  golden: golden.csv
  baseline_predictions: baseline/golden.csv
  id: id
  prediction: yhat
  max_changed_share: 0.0
  max_score_change: null
"""
LOOSE = STRICT.replace("max_difference: 0.1", "max_difference: 1.0").replace("max_changed_share: 0.0",
                                                                               "max_changed_share: 1.0")
SCHEMA_STRICT = """\
schema_type: dataframe
columns:
  age:
    dtype: int64
    nullable: false
    in_range: {min_value: 10, max_value: 100}
"""
SCHEMA_LOOSE = SCHEMA_STRICT.replace("max_value: 100", "max_value: 1000")


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def mlgate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_SHA"}
    return subprocess.run([MLGATE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("mlgate: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def unfair_predictions(n: int = 400) -> pd.DataFrame:
    """Group b gets far more false positives than group a: an FPR gap of about 0.5."""
    rng = np.random.default_rng(3)
    g = np.array(["a", "b"] * (n // 2))
    y = rng.integers(0, 2, n)
    yhat = np.where(g == "b", 1, y)
    return pd.DataFrame({"id": np.arange(1, n + 1), "g": g, "y": y, "yhat": yhat})


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A repository whose base commit has strict limits; the working tree is the PR's, loosened."""
    root = tmp_path / "repo"
    (root / ".github").mkdir(parents=True)
    (root / "baseline").mkdir()
    (root / ".github" / "mlgate.yml").write_text(STRICT)
    (root / "schema.yaml").write_text(SCHEMA_STRICT)
    preds = unfair_predictions()
    base_golden = preds[["id", "yhat"]].assign(yhat=preds["y"])
    base_golden.to_csv(root / "baseline" / "golden.csv", index=False)
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "base: strict limits", cwd=root)
    base = git("rev-parse", "HEAD", cwd=root)
    # The PR: loosened config and schema, a golden baseline rewritten to match its own predictions,
    # and outputs that break the base's limits.
    (root / ".github" / "mlgate.yml").write_text(LOOSE)
    (root / "schema.yaml").write_text(SCHEMA_LOOSE)
    preds.to_csv(root / "preds.csv", index=False)
    preds[["id", "yhat"]].to_csv(root / "golden.csv", index=False)
    preds[["id", "yhat"]].to_csv(root / "baseline" / "golden.csv", index=False)
    pd.DataFrame({"age": [20, 30, 150]}).to_csv(root / "table.csv", index=False)
    git("commit", "-q", "-am", "PR: loosen the limits", cwd=root)
    return root, base


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("gate", ["bias", "data", "regression"])
def test_the_prs_loosened_limits_pass_without_config_ref(repo: tuple[Path, str], gate: str) -> None:
    """The walk-around itself: judged with the checkout's config, the PR's outputs pass."""
    root, _ = repo
    proc = mlgate("check", gate, "--config", ".github/mlgate.yml", "--json", "out.json", cwd=root)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("gate", ["bias", "data", "regression"])
def test_config_ref_judges_the_pr_with_the_base_commits_limits(repo: tuple[Path, str], gate: str) -> None:
    root, base = repo
    proc = mlgate("check", gate, "--config", ".github/mlgate.yml", "--config-ref", base, "--json", "out.json",
                  cwd=root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads((root / "out.json").read_text())
    assert data["gates"][0]["status"] == "fail"
    versions = data["versions"]
    assert versions["config_sha256"] == sha256(STRICT.encode())
    assert versions["config_ref"] == base and versions["config_path"] == ".github/mlgate.yml"
    if gate == "data":  # the schema's hash is the base commit's, not the working tree's
        assert versions["files"]["schema.yaml"] == sha256(SCHEMA_STRICT.encode())
        assert versions["files"]["table.csv"] == sha256((root / "table.csv").read_bytes())
    if gate == "regression":
        base_golden = git("show", f"{base}:baseline/golden.csv", cwd=root) + "\n"
        assert versions["files"]["baseline/golden.csv"] == sha256(base_golden.encode())


def test_config_ref_accepts_a_branch_name_and_records_the_commit(repo: tuple[Path, str]) -> None:
    root, base = repo
    git("branch", "base-branch", base, cwd=root)
    proc = mlgate("check", "bias", "--config", ".github/mlgate.yml", "--config-ref", "base-branch",
                  "--json", "out.json", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert json.loads((root / "out.json").read_text())["versions"]["config_ref"] == base


def test_check_all_with_config_ref_in_a_subdirectory_project(tmp_path: Path) -> None:
    """--root is a project inside a monorepo: repository paths are found from git's top level."""
    top = tmp_path / "mono"
    project = top / "ml"
    (project / ".github").mkdir(parents=True)
    (project / ".github" / "mlgate.yml").write_text(
        "version: 1\ndata:\n  table: table.csv\n  schema: schema.yaml\n")
    (project / "schema.yaml").write_text(SCHEMA_STRICT)
    git("init", "-q", "-b", "main", cwd=top)
    git("add", "-A", cwd=top)
    git("commit", "-q", "-m", "base", cwd=top)
    base = git("rev-parse", "HEAD", cwd=top)
    (project / "schema.yaml").write_text(SCHEMA_LOOSE)
    pd.DataFrame({"age": [20, 150]}).to_csv(project / "table.csv", index=False)
    proc = mlgate("check", "all", "--config", ".github/mlgate.yml", "--config-ref", base, "--json", "out.json",
                  cwd=project)
    assert proc.returncode == 1, proc.stderr
    versions = json.loads((project / "out.json").read_text())["versions"]
    assert versions["config_path"] == "ml/.github/mlgate.yml"


def test_a_ref_that_does_not_exist_is_one_line(repo: tuple[Path, str]) -> None:
    root, _ = repo
    proc = mlgate("check", "bias", "--config", ".github/mlgate.yml", "--config-ref", "0" * 40, cwd=root)
    assert_one_line_error(proc, "--config-ref", "0" * 40, "fetch-depth: 0")
    proc = mlgate("check", "bias", "--config", ".github/mlgate.yml", "--config-ref", "no-such-branch", cwd=root)
    assert_one_line_error(proc, "--config-ref", "no-such-branch")


def test_a_ref_that_lacks_the_config_or_a_file_it_names(repo: tuple[Path, str]) -> None:
    root, base = repo
    (root / "other.yml").write_text(STRICT)
    proc = mlgate("check", "bias", "--config", "other.yml", "--config-ref", base, cwd=root)
    assert_one_line_error(proc, "other.yml", "does not exist", base[:12])
    # the base names a schema file the base commit does not hold
    git("rm", "-q", "schema.yaml", cwd=root)
    git("commit", "-q", "-m", "no schema", cwd=root)
    no_schema = git("rev-parse", "HEAD", cwd=root)
    (root / "schema.yaml").write_text(SCHEMA_LOOSE)
    proc = mlgate("check", "data", "--config", ".github/mlgate.yml", "--config-ref", no_schema, cwd=root)
    assert_one_line_error(proc, "data.schema", "schema.yaml", "does not exist", no_schema[:12])


def test_a_symlink_in_the_ref_is_refused(repo: tuple[Path, str]) -> None:
    root, _ = repo
    (root / "schema.yaml").unlink()
    (root / "schema.yaml").symlink_to("/etc/hostname")
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "schema is a link", cwd=root)
    head = git("rev-parse", "HEAD", cwd=root)
    proc = mlgate("check", "data", "--config", ".github/mlgate.yml", "--config-ref", head, cwd=root)
    assert_one_line_error(proc, "data.schema", "schema.yaml", "symbolic link")


def test_config_ref_needs_config_and_a_repository(tmp_path: Path, repo: tuple[Path, str]) -> None:
    root, base = repo
    proc = mlgate("check", "bias", "--predictions", "preds.csv", "--label", "y", "--prediction", "yhat",
                  "--sensitive", "g", "--config-ref", base, cwd=root)
    assert_one_line_error(proc, "--config-ref needs --config")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "mlgate.yml").write_text(STRICT)
    proc = mlgate("check", "bias", "--config", "mlgate.yml", "--config-ref", base, cwd=plain)
    assert_one_line_error(proc, "--config-ref", "not inside a git repository")


def test_flags_still_override_the_trusted_config(repo: tuple[Path, str], tmp_path: Path) -> None:
    """A path given on the command line is the user's choice: read from where it points."""
    root, base = repo
    schema = tmp_path / "elsewhere.yaml"
    schema.write_text(SCHEMA_LOOSE)
    proc = mlgate("check", "data", "--config", ".github/mlgate.yml", "--config-ref", base, "--schema", str(schema),
                  "--json", "out.json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((root / "out.json").read_text())["versions"]["config_ref"] == base


# ----------------------------------------------------------------------------- paths that leave --root


@pytest.mark.parametrize(("key", "line", "shown"), [
    ("predictions.path", "predictions:\n  path: ../outside.csv\n", "../outside.csv"),
    ("data.schema", "data:\n  table: t.csv\n  schema: /etc/hostname\n", "/etc/hostname"),
    ("regression.baseline_predictions",
     "regression:\n  golden: g.csv\n  baseline_predictions: sub/../../x.csv\n", "sub/../../x.csv"),
    ("artifacts.data", "artifacts:\n  data: [ok.csv, /tmp/x.csv]\n", "/tmp/x.csv"),
    ("features.code_paths", "features:\n  code_paths: ['../**/*.py']\n", "../**/*.py"),
])
def test_config_paths_that_leave_the_root_are_refused(tmp_path: Path, key: str, line: str, shown: str) -> None:
    root = tmp_path / "root"
    (root / ".github").mkdir(parents=True)
    (root / ".github" / "mlgate.yml").write_text("version: 1\n" + line + "quality: {}\n")
    proc = mlgate("check", "all", "--config", ".github/mlgate.yml", cwd=root)
    assert_one_line_error(proc, key, shown, "outside")


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.csv"
    pd.DataFrame({"y": [0, 1], "p": [0.1, 0.9]}).to_csv(secret, index=False)
    (root / "preds.csv").symlink_to(secret)
    (root / "mlgate.yml").write_text("version: 1\npredictions: {path: preds.csv, label: y, score: p}\nquality: {}\n")
    proc = mlgate("check", "quality", "--config", "mlgate.yml", cwd=root)
    assert_one_line_error(proc, "predictions.path", "preds.csv", "outside")
    # a symlink that stays inside the repository is fine
    (root / "preds.csv").unlink()
    (root / "data").mkdir()
    pd.DataFrame({"y": [0, 1] * 50, "p": [0.1, 0.9] * 50}).to_csv(root / "data" / "p.csv", index=False)
    (root / "preds.csv").symlink_to(root / "data" / "p.csv")
    proc = mlgate("check", "quality", "--config", "mlgate.yml", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr


def test_paths_given_as_flags_stay_free(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "preds.csv"
    pd.DataFrame({"y": [0, 1] * 50, "p": [0.2, 0.8] * 50}).to_csv(outside, index=False)
    (root / "mlgate.yml").write_text("version: 1\npredictions: {label: y, score: p}\nquality: {}\n")
    proc = mlgate("check", "quality", "--config", "mlgate.yml", "--predictions", str(outside), cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    proc = mlgate("check", "quality", "--config", "mlgate.yml", "--predictions", "../preds.csv", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr


def test_registry_paths_that_leave_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.py").write_text('FEATURE_AGE = "age"\n')
    (root / "mlgate.yml").write_text("version: 1\nfeatures: {registry: features.yaml, code_paths: ['*.py']}\n")
    (root / "features.yaml").write_text(
        "features:\n  - name: age\n    description: d\n    owner: o\n    code: ../../etc/passwd\n")
    proc = mlgate("check", "features", "--config", "mlgate.yml", cwd=root)
    assert_one_line_error(proc, "features.yaml", "age", "../../etc/passwd", "outside")
    (root / "features.yaml").write_text(
        "features:\n  - name: age\n    description: d\n    owner: o\n    code: f.py\n    docs: /etc/hostname\n")
    proc = mlgate("check", "features", "--config", "mlgate.yml", cwd=root)
    assert_one_line_error(proc, "features.yaml", "age", "/etc/hostname", "outside")
