"""Whether a version may be deployed to an environment with `requires_gates` (pure).

`deploy.environments.<env>.requires_gates: [shadow]` means: `/deploy <env>` deploys a version only
when, on that version's commit, the latest completed `mlgate/<gate>` check run succeeded, its
results JSON says the gate passed (pass or warn), and that result judged this very model (its
`versions.model.sha256` is the version's model hash). The bot gathers the check runs and their
results (GitHub I/O), calls `unmet_requirements`, and refuses with the reasons, which name the
failed limit ("mlgate/shadow: agreement 0.82 < 0.9"), so the person who typed `/deploy` knows what
to fix. Nothing here reads GitHub.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlgate.checks.results import GateResult, RunResults, Status

PASSED = (Status.PASS, Status.WARN)


@dataclass(frozen=True)
class GateEvidence:
    """What the bot found for one gate on the version's commit."""

    conclusion: str | None  # the latest completed mlgate/<gate> check run's conclusion; None: none ran
    results: RunResults | None = None  # its results JSON, when one was attached and parsed
    problem: str | None = None  # why this run is no evidence (e.g. computed with an untrusted config)


def failed_limits(gate: GateResult, most: int = 3) -> list[str]:
    """The breached limits of a gate in words, worst first (e.g. 'agreement 0.82 < 0.9')."""
    from mlgate.checks.gates.quality import breach_text

    out = [breach_text(m) for m in gate.metrics if m.status in (Status.FAIL, Status.ERROR)]
    out += [f.message for f in gate.findings if f.severity in ("fail", "error")]
    if not out:
        out = [gate.summary] if gate.summary else []
    return out[:most]


def unmet_requirements(required: Sequence[str], evidence: Mapping[str, GateEvidence], *, sha: str,
                       model_sha256: str | None) -> list[str]:
    """Why the version at `sha` (shipping model `model_sha256`) may not be deployed; empty: it may."""
    reasons: list[str] = []
    short = sha[:7]
    for name in required:
        check = f"mlgate/{name}"
        e = evidence.get(name)
        if e is None or e.conclusion is None:
            reasons.append(f"{check} has not run on {short}: run the {name} gate on this version first")
            continue
        if e.problem:
            reasons.append(e.problem)
            continue
        gate = None
        if e.results is not None:
            gate = next((g for g in e.results.gates if g.gate == name), None)
        if gate is None:
            reasons.append(f"{check} on {short} concluded {e.conclusion}, but its results could not be read, so "
                           "which model it judged is unknown")
            continue
        ran_on = e.results.versions.get("git_sha") if e.results else None
        if ran_on and ran_on != sha:
            reasons.append(f"{check} on {short} holds results computed for another commit ({str(ran_on)[:7]})")
            continue
        judged = (e.results.versions.get("model") or {}).get("sha256") if e.results else None
        if model_sha256 and judged and judged != model_sha256:
            reasons.append(f"{check} judged model {judged[:19]}…, but this version ships {model_sha256[:19]}…")
            continue
        if model_sha256 and not judged:
            reasons.append(f"{check} does not say which model it judged (set artifacts.model), so it is no "
                           f"evidence for {model_sha256[:19]}…")
            continue
        if e.conclusion != "success" or gate.status not in PASSED:
            limits = "; ".join(failed_limits(gate)) or "no reason given"
            reasons.append(f"{check} {gate.status.value}: {limits}")
    return reasons
