"""The linters, validators and the type checker CI installs are pinned, and pinned alike in `.ci/run`,
the GitHub workflow and pyproject's dev extra: a new ruff, zizmor, check-jsonschema or mypy release adds rules, and
CI on GitHub must judge the same way as `.ci/run` and a developer's `pip install -e '.[dev]'`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("ruff", "zizmor", "check-jsonschema", "mypy")
_REQUIREMENT = re.compile(r"""["']?(?<![\w.-])(ruff|zizmor|check-jsonschema|mypy)\b([^\s"']*)["']?""")


def installs(text: str) -> dict[str, list[str]]:
    """Every version spec given to `pip install` for each tool, as written ('' when unpinned)."""
    found: dict[str, list[str]] = {tool: [] for tool in TOOLS}
    for line in text.splitlines():
        if "pip install" not in line:
            continue
        command = line.split("pip install", 1)[1].split("#", 1)[0]
        for tool, spec in _REQUIREMENT.findall(command):
            found[tool].append(spec)
    return found


def dev_requirements() -> dict[str, Requirement]:
    """The tools in pyproject's `dev = [...]` list (read as text: tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    dev = re.search(r"^dev = \[(.*?)^\]", text, re.S | re.M)
    assert dev, "pyproject.toml has no dev extra"
    reqs = [Requirement(r) for r in re.findall(r'"([^"]+)"', dev.group(1))]
    return {r.name: r for r in reqs if r.name in TOOLS}


@pytest.mark.parametrize("tool", TOOLS)
def test_ci_installs_each_tool_pinned_and_alike(tool: str) -> None:
    ci_run = installs((ROOT / ".ci" / "run").read_text())[tool]
    workflow = installs((ROOT / ".github" / "workflows" / "ci.yml").read_text())[tool]
    assert ci_run and workflow, f"{tool}: installed by .ci/run {ci_run}, by ci.yml {workflow}"
    specs = set(ci_run) | set(workflow)
    assert all(spec.startswith("==") for spec in specs), f"{tool} is not pinned everywhere: {sorted(specs)}"
    assert len(specs) == 1, f"{tool} is pinned differently in .ci/run {ci_run} and ci.yml {workflow}"
    version = specs.pop()[2:]
    dev = dev_requirements()[tool]
    assert str(dev.specifier) == f"=={version}", f"pyproject's dev extra has {dev}, CI installs {tool}=={version}"


def test_the_parser_sees_unpinned_installs() -> None:
    found = installs('      - run: python -m pip install ruff\n'
                     '  python -m pip install -q check-jsonschema "zizmor==1.32.0"')
    assert found == {"ruff": [""], "zizmor": ["==1.32.0"], "check-jsonschema": [""], "mypy": []}
