"""Runs the configured gates and assembles the results file (the envelope around GateResults).

The envelope says what was judged (content hashes of every file read, the git SHA, the config
hash) and against what (the baseline file and its SHA), so a reader, the bot or a later run can
tell whether two results are comparable. A missing baseline is stated, never papered over.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mlgate.checks import progress
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.errors import InputError, UserError
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import SCHEMA_ID, Finding, GateResult, ResultsFormatError, RunResults, error_result


def mlgate_version() -> str:
    try:
        return version("mlgate")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class Baseline:
    """The results of the base commit, as given with --baseline."""

    path: str
    git_sha: str | None
    gates: dict[str, GateResult]

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        data = read_results(path)
        gates = {g["gate"]: GateResult.from_dict(g) for g in data.get("gates", [])}
        return cls(str(path), (data.get("versions") or {}).get("git_sha"), gates)


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a results JSON file and check it is one mlgate can compare with."""
    p = Path(path)
    if not p.is_file():
        raise InputError("results file not found", where=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", where=str(p)) from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"not an mlgate results file (schema {found!r}, expected {SCHEMA_ID!r})", where=str(p))
    try:
        RunResults.from_dict(data)  # every field the report, the baseline and the bot read, checked once
    except ResultsFormatError as exc:
        raise ResultsFormatError(str(exc), where=str(p)) from None
    return data


def run_gates(
    config: MlgateConfig,
    gates: list[str],
    ctx: RunContext,
    *,
    baseline: Baseline | None = None,
    config_hash: str | None = None,
    base_ref: str | None = None,
    head_ref: str | None = None,
) -> RunResults:
    """Run the named gates; a gate's user error becomes an `error` result, other gates still run."""
    results: list[GateResult] = []
    for name in gates:
        progress.note(f"{name}: started")
        module = import_module(f"mlgate.checks.gates.{name}")
        base_gate = baseline.gates.get(name) if baseline else None
        try:
            if name == "features":
                result = module.run(config, ctx, base_gate, base_ref=base_ref, head_ref=head_ref)
            else:
                result = module.run(config, ctx, base_gate)
        except UserError as exc:
            result = error_result(name, str(exc))
        # features has no baseline metrics; shadow's baseline is the production model, not the base results
        if baseline is not None and base_gate is None and name not in ("features", "shadow"):
            result.findings.append(
                Finding("info", f"the baseline file has no {name} results: only absolute limits apply",
                        code="baseline.gate_missing")
            )
        progress.note(f"{name}: {result.status.value}")
        results.append(result)
    return RunResults(
        gates=results,
        versions={
            "mlgate": mlgate_version(),
            "git_sha": git_sha(ctx.base_dir),
            "config_sha256": config_hash,
            **artifact_versions(config, ctx),
            "files": dict(sorted(ctx.files.items())),
        },
        baseline=_baseline_block(baseline),
    )


def artifact_versions(config: MlgateConfig, ctx: RunContext) -> dict[str, Any]:
    """`model` and `data`: content hashes of the configured artifacts (what a deployment ships)."""
    out: dict[str, Any] = {"model": None, "data": None}
    if config.artifacts.model:
        if not ctx.path(config.artifacts.model).is_file():
            raise InputError("model artifact not found", where=config.artifacts.model)
        ctx.record(config.artifacts.model)
        out["model"] = {"path": config.artifacts.model, "sha256": ctx.files[config.artifacts.model]}
    if config.artifacts.data:
        digest = hashlib.sha256()
        for path in config.artifacts.data:
            if not ctx.path(path).is_file():
                raise InputError("data artifact not found", where=path)
            ctx.record(path)
            digest.update(f"{path}\0{ctx.files[path]}\n".encode())
        out["data"] = {"paths": list(config.artifacts.data), "sha256": "sha256:" + digest.hexdigest()}
    return out


def _baseline_block(baseline: Baseline | None) -> dict[str, Any]:
    if baseline is None:
        return {"path": None, "git_sha": None, "note": "no baseline given: only absolute limits apply"}
    sha = baseline.git_sha or "unknown commit"
    return {"path": baseline.path, "git_sha": baseline.git_sha, "note": f"compared with {sha}"}


def git_sha(directory: Path) -> str | None:
    """The checkout's HEAD (None outside a git work tree); GITHUB_SHA wins in Actions."""
    import os

    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
