"""The few git questions the features gate asks, through the `git` command line.

A change is what `git diff base...head` shows (three dots: from the merge-base of the two refs to
head), which is what GitHub shows for a pull request: commits that landed on the base branch after
the PR branched off are not the PR's changes. Paths are relative to the directory git runs in
(`--relative`), so a project in a sub-directory of a monorepo sees only its own files.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mlgate.checks.errors import InputError

_TIMEOUT = 60
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=_TIMEOUT
        )
    except FileNotFoundError as exc:
        raise InputError("git is not installed (the features gate's change check needs it)") from exc
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"git {_command(args)} took longer than {_TIMEOUT}s", where=str(cwd)) from exc
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise InputError(f"git {_command(args)} failed: {msg}", where=str(cwd))
    return proc


def _command(args: tuple[str, ...]) -> str:
    """The git sub-command's name for messages (skips `-c key=value` options)."""
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a == "-c":
            skip = True
        elif not a.startswith("-"):
            return a
    return "command"


def resolve(cwd: Path, ref: str) -> str:
    """The commit SHA a ref names; InputError naming the ref when the checkout does not have it."""
    if _git(cwd, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise InputError("not a git checkout, so --base/--head cannot be compared", where=str(cwd))
    if ref.startswith("-"):
        raise InputError(f"invalid git ref {ref!r}", where=str(cwd))
    proc = _git(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0:
        raise InputError(
            f"unknown git ref {ref!r} (in CI, fetch it first, e.g. actions/checkout with fetch-depth: 0)",
            where=str(cwd),
        )
    return proc.stdout.strip()


def merge_base(cwd: Path, base: str, head: str) -> str:
    proc = _git(cwd, "merge-base", base, head, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise InputError(
            f"{base[:12]} and {head[:12]} have no common ancestor"
            " (a shallow clone? fetch with fetch-depth: 0)",
            where=str(cwd),
        )
    return proc.stdout.strip()


def changed_files(cwd: Path, old: str, new: str) -> list[str]:
    """Paths added, modified or deleted between two commits; a rename counts as both of its paths."""
    out = _git(cwd, "diff", "--name-only", "--no-renames", "--relative", "-z", old, new).stdout
    return sorted(p for p in out.split("\0") if p)


def changed_lines(cwd: Path, old: str, new: str, paths: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Per path, the line ranges of `new` a change touched (a pure deletion touches its neighbours)."""
    result: dict[str, list[tuple[int, int]]] = {}
    if not paths:
        return result
    out = _git(
        cwd, "-c", "core.quotePath=false", "diff", "-U0", "--no-renames", "--relative", "--no-color",
        old, new, "--", *paths,
    ).stdout
    current: str | None = None
    for line in out.splitlines():
        if line.startswith("+++ "):
            target = line[4:].rstrip("\t")
            current = target[2:] if target.startswith("b/") else None
            if current is not None:
                result.setdefault(current, [])
        elif line.startswith("@@") and current is not None:
            m = _HUNK.match(line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
                result[current].append((start, start + count - 1) if count else (start, start + 1))
    return result


def show(cwd: Path, commit: str, path: str) -> str | None:
    """A file's text at a commit (path relative to `cwd`); None when it does not exist there."""
    proc = _git(cwd, "show", f"{commit}:./{path}", check=False)
    return proc.stdout if proc.returncode == 0 else None
