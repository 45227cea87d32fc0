"""`mlgate demo` end to end: sandbox, bot (web app + worker + SQLite), fake CI running the real
`mlgate check all`, the example trained and pushed, the whole story. Bounded by per-step deadlines."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgate.demo import demo, run_demo

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out


def test_the_demo_story_runs_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    started = time.monotonic()
    result = run_demo(lines.append, step_timeout=60, root=tmp_path / "demo")
    elapsed = time.monotonic() - started
    out = "\n".join(lines)
    assert [s.outcome for s in result.steps] == ["ok"] * 8, out[-6000:]
    assert elapsed < 420
    # the unfair model is blocked by the bias gate, and its report comment is printed
    assert "report comment on #1" in out and "mlgate/bias" in result.steps[1].detail
    # each report is printed once as it changes: a waiting report is one line, never a full report
    assert "report on #1: ⏳ mlgate: waiting for" in out
    boxes = [block.split("└", 1)[0] for block in out.split("┌── report comment on ")[1:]]
    assert len(boxes) == len(set(boxes)) and not any("│ ## ⏳" in b for b in boxes)
    assert "not reported yet" not in "".join(boxes)
    # the bloated model (three times the parameters, the same AUC) is blocked by the budget gate alone
    assert "mlgate/budget alone" in result.steps[2].detail, result.steps[2].detail
    # the training change waits for bob, then goes green
    assert "@\u200bbob" in out or "@bob" in out
    # the three good PRs land together after the reviewed one: two staging runs in all
    assert "in one batch" in result.steps[5].detail, result.steps[5].detail
    # deployments carry the versions, and /rollback redeploys the previous version
    assert "model sha256:" in out and "/rollback staging" in out and "redeployed" in result.steps[6].detail
    # production is refused until shadow has the version; its failed rollout is reported on the PRs
    assert "requires a successful `shadow` deployment" in out and "**failed**" in out
    # ... and until mlgate/shadow passed on it: too little traffic is refused, naming the limit
    assert "mlgate/shadow fail" in out and "with its model card" in result.steps[7].detail
    assert "Summary" in out


def test_the_demo_command_has_its_options() -> None:
    res = CliRunner().invoke(demo, ["--help"])
    assert res.exit_code == 0 and "--keep" in res.output and "--step-timeout" in res.output
    res = CliRunner().invoke(demo, ["--step-timeout", "1"])
    assert res.exit_code != 0 and "--step-timeout" in res.output
