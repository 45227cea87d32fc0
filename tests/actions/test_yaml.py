"""The YAML itself: generated files current, pins, permissions, triggers, and the two validators."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.actions.harness import PINNED

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GATES = ["tests", "data", "quality", "bias", "skew", "regression", "features"]


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed (pip install {name}); .ci/run installs it")
    return found


def test_generated_actions_are_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "actions" / "generate.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_every_action_exists_and_uses_are_pinned() -> None:
    names = {p.parent.name for p in ACTIONS}
    assert names == {"setup", "report", *GATES}
    for path in [*ACTIONS, *WORKFLOWS]:
        for uses in re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)", path.read_text(), re.MULTILINE):
            assert uses.startswith("./") or PINNED.match(uses), f"{path.name}: {uses} is not pinned by SHA"


def test_no_expressions_inside_run_scripts() -> None:
    for path in [*ACTIONS, *WORKFLOWS]:
        data = yaml.safe_load(path.read_text())
        steps = (data.get("runs") or {}).get("steps") or [s for j in (data.get("jobs") or {}).values()
                                                           for s in j.get("steps", [])]
        for step in steps:
            assert "${{" not in str(step.get("run", "")), f"{path.name}: {step.get('name')}"


def test_workflows_use_least_permissions_and_no_pull_request_target() -> None:
    for path in WORKFLOWS:
        data = yaml.safe_load(path.read_text())
        triggers = data.get(True) or data.get("on")  # YAML 1.1 reads `on` as True
        assert "pull_request_target" not in triggers and "workflow_run" not in triggers
        assert data["permissions"] == {}, f"{path.name}: top-level permissions must be empty"
        for name, job in data["jobs"].items():
            perms = job.get("permissions")
            assert isinstance(perms, dict), f"{path.name}:{name} sets its own permissions"
            assert set(perms) <= {"contents", "checks"} and perms.get("contents") in (None, "read")


def test_gates_workflow_wires_every_gate_action() -> None:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "gates.yml").read_text())
    assert list(data[True]) == ["workflow_call"]
    used = [s.get("uses", "") for j in data["jobs"].values() for s in j["steps"]]
    for gate in [*GATES, "setup", "report"]:
        assert f"./.mlgate/actions/{gate}" in used
    # the gate steps run after a failed gate too (every check run gets published)
    for step in data["jobs"]["gates"]["steps"]:
        if step.get("uses", "").startswith("./.mlgate/actions/") and "setup" not in step["uses"]:
            assert "!cancelled()" in step["if"]


def test_configured_gates_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"GITHUB_OUTPUT": str(out), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "checks.publish", "gates", "--config",
                    str(ROOT / "examples" / "arrests" / ".github" / "mlgate.yml")], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    gates = json.loads(out.read_text().split("=", 1)[1])
    assert gates == ["data", "quality", "bias", "skew", "regression", "features"]


def test_check_jsonschema_accepts_actions_and_workflows() -> None:
    tool = _tool("check-jsonschema")
    for schema, files in (("vendor.github-actions", ACTIONS), ("vendor.github-workflows", WORKFLOWS)):
        proc = subprocess.run([tool, "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing() -> None:
    tool = _tool("zizmor")
    proc = subprocess.run([tool, "--offline", "actions/", ".github/"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr
