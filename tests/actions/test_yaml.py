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
GATES = ["tests", "data", "quality", "bias", "skew", "regression", "features", "budget", "explain", "shadow"]


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
    assert names == {"setup", "report", "publish", *GATES}
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
            assert set(perms) <= {"contents", "checks", "pull-requests"} and perms.get("contents") in (None, "read")
            assert perms.get("pull-requests") in (None, "read")


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
    subprocess.run([str(Path(sys.executable).parent / "mlgate"), "publish", "gates", "--config",
                    str(ROOT / "examples" / "arrests" / ".github" / "mlgate.yml")], env=env, check=True,
                   capture_output=True, cwd=tmp_path)
    gates = json.loads(out.read_text().split("=", 1)[1])
    assert gates == ["data", "quality", "bias", "skew", "regression", "features", "budget", "explain", "shadow"]


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


# A step that runs the project's code gets one of these commands (run: or the tests action's command).
PROJECT_CODE = ("${{ inputs.install }}", "${{ inputs.train }}", "${{ inputs.predict }}", "${{ inputs.test }}")


def _gates_workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "gates.yml").read_text())


def test_actions_call_the_mlgate_command_never_python_m() -> None:
    """`python -m checks.…` in a user's project directory would import the user's own `checks/`."""
    for path in [*ACTIONS, *WORKFLOWS, ROOT / "actions" / "generate.py", ROOT / "actions" / "setup" / "setup.sh"]:
        text = path.read_text()
        assert "-m checks" not in text, path
        assert '"$MLGATE_PYTHON" -m' not in text, path


def test_no_job_that_runs_project_code_holds_a_write_token() -> None:
    jobs = _gates_workflow()["jobs"]
    for name, job in jobs.items():
        runs_project = any(any(p in json.dumps(step) for p in PROJECT_CODE) for step in job["steps"])
        if runs_project:
            assert "write" not in job["permissions"].values(), f"{name} runs project code with {job['permissions']}"
    publish = jobs["publish"]
    assert publish["permissions"]["checks"] == "write"
    assert "gates" in publish["needs"] and "!cancelled()" in publish["if"]
    for step in publish["steps"]:
        text = json.dumps(step)
        assert not any(p in text for p in PROJECT_CODE), step
        assert "working-directory" not in step, "the publish job runs nothing in the project"
        if "actions/checkout" in step.get("uses", ""):  # only mlgate itself is checked out
            assert step["with"]["repository"] == "${{ inputs.mlgate-repository }}", step
    assert any("./.mlgate/actions/publish" in s.get("uses", "") for s in publish["steps"])


def test_gates_job_takes_its_limits_from_the_base_and_sets_up_before_project_code() -> None:
    steps = _gates_workflow()["jobs"]["gates"]["steps"]
    order = [s.get("id") or s.get("name") for s in steps]
    first_project = min(i for i, s in enumerate(steps) if any(p in json.dumps(s) for p in PROJECT_CODE))
    assert order.index("setup") < first_project and order.index("config-ref") < first_project
    gate_steps = [s for s in steps if s.get("uses", "").startswith("./.mlgate/actions/")
                  and s["uses"].split("/")[-1].split(" ")[0] in GATES]
    assert len(gate_steps) == 9
    for step in gate_steps:
        assert step["with"]["config-ref"] == "${{ steps.config-ref.outputs.sha }}"
        assert step["with"].get("publish", "false") == "false" and "token" not in step["with"]
    config = next(s for s in steps if s.get("id") == "config")
    assert "--config-ref" in config["run"]


def test_gate_actions_do_not_publish_by_default() -> None:
    for gate in GATES:
        spec = yaml.safe_load((ROOT / "actions" / gate / "action.yml").read_text())
        assert spec["inputs"]["publish"]["default"] == "false", gate


def test_setup_has_no_predictable_venv_and_no_cache() -> None:
    text = (ROOT / "actions" / "setup" / "setup.sh").read_text()
    spec = (ROOT / "actions" / "setup" / "action.yml").read_text()
    assert "mktemp -d" in text
    assert "mlgate-venv" not in text and "actions/cache" not in spec


def test_the_documented_caller_runs_on_both_merge_queues_and_never_on_pull_request_target() -> None:
    """docs/actions.md's copy-paste caller: PRs, mlgate's staging/try branches and GitHub's
    `merge_group`; a `merge_group` run takes its config from `merge_group.base_sha` (config_ref.plan)."""
    from mlgate.checks.publish.config_ref import Known, plan

    text = (ROOT / "docs" / "actions.md").read_text()
    block = text.split("### Copy-paste caller", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    caller = yaml.safe_load(block)
    triggers = caller[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"pull_request", "push", "merge_group"}
    assert {"mlgate/staging/**", "mlgate/try/**"} <= set(triggers["push"]["branches"])
    assert "gates.yml@" in caller["jobs"]["gates"]["uses"]
    base = "b" * 40
    event = {"merge_group": {"base_sha": base, "head_sha": "a" * 40}}
    ref = "refs/heads/gh-readonly-queue/main/pr-1-" + "c" * 40
    assert plan("merge_group", event, ref, "a" * 40) == Known(base, "the merge group's base commit")
    assert "merge_group" in (ROOT / ".github" / "workflows" / "gates.yml").read_text().split("name:", 1)[0]


def test_the_shadow_step_does_not_fail_the_gates_job() -> None:
    """shadow judges a deployment: its verdict is published, but a PR's job is not red because of it."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "gates.yml").read_text())
    steps = {s.get("name"): s for s in workflow["jobs"]["gates"]["steps"]}
    assert steps["mlgate/shadow"]["with"]["fail"] == "false"
    assert all("fail" not in steps[f"mlgate/{g}"].get("with", {}) for g in ("bias", "budget", "explain"))
