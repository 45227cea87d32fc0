"""Fixtures for reading reports the way a reviewer does: Chromium, GitHub's stylesheet, Mermaid 11.

- `report_assets`: a `node_modules` with npm's `mermaid` (11, GitHub's major version) and
  `github-markdown-css`, installed by the tests themselves with `npm install --no-save` into a
  cache directory (~/.cache/mlgate/npm/…) the first time, then reused. Nothing is vendored.
- `browser`: Debian's Chromium (`apt-get install chromium`) driven by Playwright (a dev dependency);
  Playwright's own browser download is not used. A missing browser or npm fails the test with the
  command that installs it: these tests are never skipped.
- `example_results`: the example project's results for a passing change (`train.py`) and a blocked
  one (`train.py --variant unfair`), from `mlgate check all` as the README runs it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arrests"
NPM_PACKAGES = ("mermaid@11.17.2", "github-markdown-css@5.9.0")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(" ".join(NPM_PACKAGES).encode()).hexdigest()[:12]
    return base / "mlgate" / "npm" / f"report-{key}"


def _installed(modules: Path) -> bool:
    return ((modules / "mermaid" / "dist" / "mermaid.min.js").is_file()
            and (modules / "github-markdown-css" / "github-markdown-light.css").is_file())


@pytest.fixture(scope="session")
def report_assets() -> Path:
    """The npm packages the page needs (MLGATE_REPORT_NPM_DIR may point at a node_modules that has them)."""
    explicit = os.environ.get("MLGATE_REPORT_NPM_DIR")
    if explicit:
        if not _installed(Path(explicit)):
            pytest.fail(f"MLGATE_REPORT_NPM_DIR={explicit} has no mermaid/dist/mermaid.min.js or "
                        "github-markdown-css: unset it, or install them there with "
                        f"`npm install --no-save --prefix <dir> {' '.join(NPM_PACKAGES)}`")
        return Path(explicit)
    prefix = _cache_dir()
    modules = prefix / "node_modules"
    if _installed(modules):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed; the report tests install Mermaid and GitHub's stylesheet with it "
                    "(Debian: apt-get install -y npm)")
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:  # one install at a time, for parallel test runs
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed(modules):
            proc = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error",
                                   "--prefix", str(prefix), *NPM_PACKAGES],
                                  capture_output=True, text=True, timeout=600, check=False)
            if proc.returncode != 0 or not _installed(modules):
                pytest.fail(f"`npm install {' '.join(NPM_PACKAGES)}` into {prefix} failed (exit "
                            f"{proc.returncode}): {proc.stderr.strip()[-800:]}")
    return modules


def chromium_path() -> str | None:
    explicit = os.environ.get("MLGATE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -e '.[dev]' (it is a dev dependency)")
    path = chromium_path()
    if path is None:
        pytest.fail("Chromium was not found (set MLGATE_CHROMIUM to its path, or install it: "
                    "apt-get install -y chromium); the report tests read the report in a real browser")
    with sync_playwright() as p:
        # Playwright gives every launch a fresh, temporary profile (user-data-dir).
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


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
