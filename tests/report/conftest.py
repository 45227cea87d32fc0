"""Fixtures for reading reports the way a reviewer does: Chromium, GitHub's stylesheet, Mermaid 11.

The browser and the npm packages (`browser`, `browser_assets`) are the shared ones of
tests/browser.py. Here:
- `screens`: where the screenshots go;
- `example_results`: the example project's results for a passing change (`train.py`) and a blocked
  one (`train.py --variant unfair`), from `mlgate check all` as the README runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arrests"


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go, for a person to look at (the path is printed with -s or on failure)."""
    out = tmp_path_factory.getbasetemp() / "report-screens"
    out.mkdir(exist_ok=True)
    return out


def _check_all(project: Path, out: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "mlgate", "check", "all", "--config", ".github/mlgate.yml",
         "--baseline", "baseline/results.json", "--json", out],
        cwd=project, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode not in (0, 1):
        raise AssertionError(f"mlgate check all failed ({proc.returncode}): {proc.stderr[-800:]}")
    return json.loads((project / out).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def example_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """{"pass": results of `train.py`, "fail": results of `train.py --variant unfair`}."""
    project = tmp_path_factory.mktemp("report-example") / "arrests"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
    out = {}
    for name, variant in (("pass", "baseline"), ("fail", "unfair")):
        subprocess.run([sys.executable, "train.py", "--variant", variant], cwd=project, check=True,
                       capture_output=True, timeout=300)
        out[name] = _check_all(project, f"artifacts/{name}.json")
    return out
