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


def train(project: Path, variant: str, *extra: str) -> None:
    subprocess.run([sys.executable, "train.py", "--variant", variant, *extra], cwd=project, check=True,
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
    assert [g["gate"] for g in results["gates"]] == ["data", "quality", "bias", "skew", "regression", "features",
                                                     "budget", "explain", "shadow"]
    assert {g["gate"]: g["status"] for g in results["gates"]}["budget"] == "pass"
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


def test_bloated_variant_is_blocked_by_budget_alone(project: Path) -> None:
    train(project, "bloated")
    proc = check_all(project, "artifacts/bloated.json")
    assert proc.returncode == 1, proc.stderr
    results = json.loads((project / "artifacts/bloated.json").read_text())
    jsonschema.validate(results, SCHEMA)
    status = {g["gate"]: g["status"] for g in results["gates"]}
    assert status.pop("budget") == "fail"
    assert set(status.values()) <= {"pass", "warn"}, status  # same predictions: nothing else notices
    budget = next(g for g in results["gates"] if g["gate"] == "budget")
    params = next(m for m in budget["metrics"] if m["name"] == "parameters")
    assert params["baseline"] == 23 and params["value"] == 67  # every feature encoded three times
    rule = next(m for m in budget["metrics"] if m["name"] == "parameter_growth")
    assert rule["status"] == "fail" and rule["value"] == pytest.approx(67 / 23 - 1)
    auc = next(m for m in budget["metrics"] if m["name"] == "roc_auc" and m["slice"] == "quality")
    assert abs(auc["delta"]) < 0.005  # the gain the rule asks for was not bought


def test_shadow_with_too_little_traffic_fails(project: Path) -> None:
    train(project, "baseline", "--shadow-requests", "200")
    proc = subprocess.run(
        [sys.executable, "-m", "mlgate", "check", "shadow", "--config", ".github/mlgate.yml", "--json",
         "artifacts/shadow.json"], cwd=project, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    gate = json.loads((project / "artifacts/shadow.json").read_text())["gates"][0]
    assert "requests 200 < 500" in gate["summary"] and gate["details"]["version_matches"] is True


def test_model_card_of_the_example(project: Path) -> None:
    train(project, "baseline")
    assert check_all(project, "artifacts/landed.json").returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "mlgate", "card", "artifacts/landed.json", "--config", ".github/mlgate.yml",
         "--json", "artifacts/card.json", "--markdown", "artifacts/card.md"], cwd=project, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    card = json.loads((project / "artifacts/card.json").read_text())
    assert card["name"] == "Arrests release model" and card["missing"] == [] and card["notes"][0].startswith("no rev")
    assert [f["name"] for f in card["features"]] == ["age", "sex", "employed", "citizen", "checks", "has_record"]
    assert card["budget"]["parameters"] == 23 and card["explanation"]["top"][0]["feature"] == "checks"
    assert any(m["slice"] == "future" for m in card["quality"]["metrics"])
    text = (project / "artifacts/card.md").read_text()
    for heading in ("## Intended use", "## Quality", "## Fairness", "## What the model relies on", "## Cost",
                    "## In shadow", "## Features", "## Approvals"):
        assert heading in text
