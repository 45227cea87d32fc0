"""JUnit XML → the `tests` gate: counts, and each failed test located at a file and line.

pytest writes `xunit2` by default, which has no `file`/`line` attributes, so a failure is located
from, in order: the `file`/`line` attributes (xunit1, many other tools); the last
`path/to/file.py:LINE:` of the failure text that names a file in the repository (pytest's
traceback ends at the failing assertion); the test function's `def` line in the file its
`classname` maps to (`tests.test_x.TestY` → `tests/test_x.py`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from mlgate.checks.errors import InputError
from mlgate.checks.results import Finding, GateResult, Metric, Status

_TRACE_LINE = re.compile(r"^(?P<path>[^\s:][^:\n]*?\.\w+):(?P<line>\d+):", re.MULTILINE)


@dataclass
class FailedTest:
    test_id: str
    kind: str  # failure | error
    message: str
    details: str
    path: str | None = None  # relative to the repository root
    line: int | None = None


@dataclass
class JUnitSummary:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0
    files: int = 0


def parse_files(paths: list[Path], project_dir: Path, repo_root: Path) -> tuple[JUnitSummary, list[FailedTest]]:
    """Parse JUnit files; paths of failures are made relative to `repo_root`."""
    total = JUnitSummary()
    failed: list[FailedTest] = []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as exc:
            raise InputError(f"not a readable JUnit XML file: {exc}", where=str(path)) from exc
        total.files += 1
        for case in root.iter("testcase"):
            total.tests += 1
            total.time += _float(case.get("time"))
            if case.find("skipped") is not None:
                total.skipped += 1
                continue
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is None:
                    continue
                if kind == "failure":
                    total.failures += 1
                else:
                    total.errors += 1
                failed.append(_failed(case, node, kind, project_dir, repo_root))
                break
    return total, failed


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _failed(case: ET.Element, node: ET.Element, kind: str, project_dir: Path, repo_root: Path) -> FailedTest:
    classname, name = case.get("classname", ""), case.get("name", "")
    test_id = f"{classname}::{name}" if classname else name
    message = (node.get("message") or "").strip()
    details = (node.text or "").strip()
    path, line = _locate(case, details, classname, name, project_dir, repo_root)
    return FailedTest(test_id, kind, message or details.splitlines()[-1:][0] if details else message,
                      details, path, line)


def _repo_relative(candidate: str, project_dir: Path, repo_root: Path) -> str | None:
    p = Path(candidate)
    for base in ((p,) if p.is_absolute() else (project_dir / p, repo_root / p)):
        try:
            resolved = base.resolve()
            if resolved.is_file():
                return resolved.relative_to(repo_root.resolve()).as_posix()
        except (OSError, ValueError):
            continue
    return None


def _locate(case: ET.Element, details: str, classname: str, name: str, project_dir: Path,
            repo_root: Path) -> tuple[str | None, int | None]:
    file_attr = case.get("file")
    if file_attr:
        rel = _repo_relative(file_attr, project_dir, repo_root)
        if rel:
            line = case.get("line")
            # pytest's xunit1 `line` is 0-based; others write 1-based. A def line is never 0.
            return rel, (int(line) + 1 if line and line.isdigit() else _def_line(repo_root / rel, name))
    for match in reversed(list(_TRACE_LINE.finditer(details))):
        rel = _repo_relative(match.group("path"), project_dir, repo_root)
        if rel:
            return rel, int(match.group("line"))
    parts = classname.split(".") if classname else []
    for end in range(len(parts), 0, -1):
        rel = _repo_relative("/".join(parts[:end]) + ".py", project_dir, repo_root)
        if rel:
            return rel, _def_line(repo_root / rel, name)
    return None, None


def _def_line(path: Path, name: str) -> int:
    func = re.escape(name.split("[", 1)[0])
    try:
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.match(rf"\s*(async\s+)?def\s+{func}\s*\(", text):
                return number
    except (OSError, UnicodeDecodeError):
        pass
    return 1


def tests_gate(summary: JUnitSummary, failed: list[FailedTest], exit_code: int, command: str,
               junit_patterns: list[str]) -> GateResult:
    """The `tests` gate result: fails on a failed test or a non-zero exit of the test command."""
    metrics = [
        Metric("tests", summary.tests),
        Metric("failures", summary.failures, status=Status.FAIL if summary.failures else Status.PASS,
               higher_is_better=False),
        Metric("errors", summary.errors, status=Status.FAIL if summary.errors else Status.PASS,
               higher_is_better=False),
        Metric("skipped", summary.skipped),
        Metric("seconds", round(summary.time, 3)),
    ]
    findings = [
        Finding("fail", f"{t.test_id}: {t.message or t.kind}"
                + (f" ({t.path}:{t.line})" if t.path else ""), code=f"tests.{t.kind}")
        for t in failed
    ]
    if not summary.files:
        sev = "fail" if exit_code else "warn"
        findings.append(Finding(sev, f"no JUnit XML found at {', '.join(junit_patterns)}: cannot tell which tests "
                                     f"ran (the test command exited {exit_code})", code="tests.no_junit"))
    elif exit_code and not failed:
        findings.append(Finding("fail", f"the test command exited {exit_code} although no test failed",
                                code="tests.exit_code"))
    status = Status.worst([Status.FAIL if (failed or exit_code) else Status.PASS]
                          + [Status.WARN for f in findings if f.severity == "warn"])
    if failed:
        summary_text = f"{len(failed)} of {summary.tests} tests failed"
    elif exit_code:
        summary_text = f"the test command exited {exit_code}"
    elif not summary.files:
        summary_text = "the test command passed, but it wrote no JUnit XML"
    else:
        skipped = f" ({summary.skipped} skipped)" if summary.skipped else ""
        summary_text = f"all {summary.tests} tests passed{skipped}"
    return GateResult(gate="tests", status=status, summary=summary_text, metrics=metrics, findings=findings,
                      details={"command": command, "exit_code": exit_code, "junit": junit_patterns})
