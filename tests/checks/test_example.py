"""The example project end to end, as the README runs it: train, check all, compare with the baseline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "arrests"
SCHEMA = json.loads((REPO / "checks" / "results.schema.json").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("example") / "arrests"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
    return dest


def train(project: Path, variant: str) -> None:
    subprocess.run([sys.executable, "train.py", "--variant", variant], cwd=project, check=True,
                   capture_output=True, timeout=300)


def check_all(project: Path, out: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlgate", "check", "all", "--config", ".github/mlgate.yml",
         "--baseline", "baseline/results.json", "--json", out, "--markdown", out.replace(".json", ".md")],
        cwd=project, capture_output=True, text=True, timeout=300,
    )


def test_baseline_variant_passes_and_matches_schema(project: Path) -> None:
    train(project, "baseline")
    proc = check_all(project, "artifacts/results.json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((project / "artifacts/results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert [g["gate"] for g in results["gates"]] == ["data", "quality", "bias", "skew", "regression", "features"]
    assert results["baseline"]["path"] == "baseline/results.json"
    quality = next(g for g in results["gates"] if g["gate"] == "quality")
    auc = next(m for m in quality["metrics"] if m["name"] == "roc_auc" and m["slice"] == "holdout")
    assert auc["baseline"] is not None and abs(auc["delta"]) < 1e-6  # same model as the base branch
    assert results["versions"]["model"]["path"] == "artifacts/model.skops"
    assert results["versions"]["model"]["sha256"] == results["versions"]["files"]["artifacts/model.skops"]
    assert results["versions"]["data"]["sha256"].startswith("sha256:")
    report = (project / "artifacts/results.md").read_text()
    assert "Baseline: the results of commit" in report and "xychart-beta" in report


def test_committed_baseline_matches_schema() -> None:
    jsonschema.validate(json.loads((EXAMPLE / "baseline/results.json").read_text()), SCHEMA)


def test_unfair_variant_is_blocked_by_bias(project: Path) -> None:
    train(project, "unfair")
    proc = check_all(project, "artifacts/unfair.json")
    assert proc.returncode == 1, proc.stderr
    results = json.loads((project / "artifacts/unfair.json").read_text())
    jsonschema.validate(results, SCHEMA)
    status = {g["gate"]: g["status"] for g in results["gates"]}
    assert status["bias"] == "fail" and status["data"] == "pass"
    bias = next(g for g in results["gates"] if g["gate"] == "bias")
    fnr_gap = next(m for m in bias["metrics"] if m["name"] == "fnr_difference" and m["slice"] == "colour")
    assert fnr_gap["value"] > 0.25 and fnr_gap["status"] == "fail"
    assert "❌ mlgate fail" in proc.stderr
