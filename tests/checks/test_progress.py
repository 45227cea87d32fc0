"""Progress of long checks: on a terminal (a real pty on stderr) `mlgate check` says what it is
doing (rows read, groups computed, each gate), in CI it is quiet unless `--progress`; stdout is
never touched (the Markdown report stays clean)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.checks import progress
from tests.checks.test_cli import MLGATE, preds  # noqa: F401 (the fixture)

BIAS = ("check", "bias", "--label", "y", "--prediction", "yhat", "--sensitive", "race", "--sensitive", "sex",
        "--markdown", "-")


def run_with_pty_stderr(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (as at a person's shell) and stdout on a pipe."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*MLGATE, *args], stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=120)
    os.close(leader)
    return code, out, b"".join(chunks).decode(errors="replace")


def env_without_ci(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(more)
    return env


def test_a_terminal_sees_rows_read_and_groups_computed(preds: Path) -> None:  # noqa: F811
    code, out, err = run_with_pty_stderr([*BIAS, "--predictions", str(preds)], env_without_ci())
    assert code in (0, 1), err
    assert "read 2,000 rows" in err and "preds.csv" in err
    assert "bias: counted 2,000 rows into" in err and "groups of race, sex" in err
    assert "bias: started" in err
    assert out.strip() and "mlgate: [" not in out  # stdout: the report, without progress lines


def test_ci_on_a_terminal_is_quiet_unless_asked(preds: Path) -> None:  # noqa: F811
    _, _, err = run_with_pty_stderr([*BIAS, "--predictions", str(preds)], env_without_ci(CI="true"))
    assert "rows" not in err and "started" not in err
    _, _, err = run_with_pty_stderr([*BIAS, "--predictions", str(preds), "--progress"], env_without_ci(CI="true"))
    assert "read 2,000 rows" in err


def test_a_pipe_is_quiet_and_progress_goes_to_stderr_when_asked(preds: Path) -> None:  # noqa: F811
    plain = subprocess.run([*MLGATE, *BIAS, "--predictions", str(preds)], capture_output=True, text=True,
                           env=env_without_ci(), timeout=120)
    assert "rows" not in plain.stderr
    asked = subprocess.run([*MLGATE, *BIAS, "--predictions", str(preds), "--progress"], capture_output=True,
                           text=True, env=env_without_ci(CI="true"), timeout=120)
    assert "read 2,000 rows" in asked.stderr and "read 2,000 rows" not in asked.stdout
    off = subprocess.run([*MLGATE, *BIAS, "--predictions", str(preds), "--no-progress"], capture_output=True,
                         text=True, env=env_without_ci(), timeout=120)
    assert "rows" not in off.stderr


@pytest.mark.parametrize(("flag", "tty", "ci", "expected"), [
    (None, True, None, True), (None, True, "true", False), (None, False, None, False),
    (True, False, "true", True), (False, True, None, False),
])
def test_wanted(flag: bool | None, tty: bool, ci: str | None, expected: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert progress.wanted(flag, Stream(), {"CI": ci} if ci else {}) is expected


def test_note_is_silent_outside_reporting() -> None:
    progress.note("nobody listens")  # no reporter: nothing happens, nothing fails
    stream = io.StringIO()
    with progress.reporting(True, stream):
        progress.note("read 3 rows")
    assert "read 3 rows" in stream.getvalue()
    assert sys.stderr is not stream
