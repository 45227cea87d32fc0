"""The package layout: one `mlgate` namespace mapped from the repository's folders, nothing else installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "arrests"
FOLDERS = {"core": "mlgate", "checks": "mlgate.checks", "bot": "mlgate.bot", "sandbox": "mlgate.sandbox",
           "templates": "mlgate.templates"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_and_mapped() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {prefix: folder for folder, prefix in FOLDERS.items()}
    found = set()
    for folder, prefix in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join((prefix, *rel.parts)) if rel.parts else prefix)
    assert set(setuptools["packages"]) == found


@pytest.fixture
def shadowed(tmp_path: Path) -> Path:
    """A user's project with its own `checks` and `bot` packages, which mlgate must never import."""
    for name in ("checks", "bot", "sandbox"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the project\\'s own {name} was imported')\n")
        (tmp_path / name / "publish.py").write_text("raise SystemExit(99)\n")
    return tmp_path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_python_dash_m_mlgate_works_beside_a_projects_own_checks_and_bot(shadowed: Path) -> None:
    # `python -m` puts the working directory first on sys.path: the old `python -m checks.publish`
    # of the actions failed in exactly such a project.
    proc = _run([sys.executable, "-m", "mlgate", "--version"], shadowed)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("mlgate, version ")
    proc = _run([sys.executable, "-m", "mlgate", "publish", "gates", "--config", str(EXAMPLE / ".github/mlgate.yml")],
                shadowed)
    assert proc.returncode == 0, proc.stderr
    assert "bias" in proc.stdout and "imported" not in proc.stderr


def test_an_actions_check_command_runs_in_a_project_with_its_own_checks_and_bot(shadowed: Path) -> None:
    """What the gate actions run after `cd`-ing into the project: `mlgate check …` and `mlgate publish …`."""
    project = shadowed
    for item in ("schema.yaml",):
        (project / item).write_text((EXAMPLE / item).read_text())
    table = project / "table.csv"
    table.write_text("id,year\n1,1999\n2,2000\n")
    proc = _run([sys.executable, "-m", "mlgate", "check", "data", "--table", str(table), "--json", "out.json"], project)
    assert proc.returncode in (0, 1), proc.stderr  # a verdict, not an import failure
    assert (project / "out.json").is_file()
    assert "imported" not in proc.stderr


def test_the_actions_call_mlgate_commands_never_internal_modules() -> None:
    for path in [*ROOT.glob("actions/*/action.yml"), *ROOT.glob(".github/workflows/*.yml"),
                 *ROOT.glob("actions/*/*.sh")]:
        text = path.read_text()
        assert "python -m checks" not in text and "python -m bot" not in text, path
        assert "-m mlgate." not in text, f"{path}: call the `mlgate` command, not an internal module"
