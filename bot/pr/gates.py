"""The summary `mlgate` check: every configured gate, every required CI check and the review, on one SHA.

Pure: `evaluate_gates(facts, config, review, …)` reads the check runs and commit statuses on the
head SHA (`PullFacts.checks`) and returns a `GateReport`: one `GateRow` per gate with its state,
a one-line summary with key numbers, a link, and the overall conclusion with what to do next.

Rules (each tested):
- Whether one required check or gate passed is decided by `mlgate.bot.pr.check_rule.judge`, the same rule the
  merge queue applies to staging and try commits: pinned apps (`merge.required_checks[].app`,
  `merge.gate_app`, default github-actions), the newest report per app and per status context,
  every counted report must pass (a status never stands in for a run in progress), GitHub's
  branch-protection rule for CI checks (success, neutral, skipped pass), and for `mlgate/<gate>`
  runs: `success` only, with a results JSON (`output.text`) computed with the base branch's config
  (`versions.config_sha256`; a result without it, or from another config, is an error). A commit
  status never counts as a gate. A required check that names a configured gate (`mlgate/bias`)
  merges into the gate's row; one naming the summary check itself is ignored (it would wait for itself).
- Conclusion: "failure" when any row failed or errored (fail fast: no need to wait for the rest),
  else "pending" while any row is pending or missing, else "success". A missing check turns into
  a failure once `waited_minutes` reaches `merge.start_timeout_minutes`, and a running one once it
  reaches `merge.timeout_minutes`: nothing waits forever, and a misnamed check is named.

All strings in the output are plain text that may contain user-controlled names: the renderer
escapes each one whole (they contain no Markdown of their own).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mlgate.bot.github.facts import CheckRun, PullFacts
from mlgate.bot.pr.check_rule import GateState, Report, judge, read_results
from mlgate.bot.pr.review import ReviewResult, RuleStatus
from mlgate.checks.config.models import MlgateConfig, RequiredCheck
from mlgate.checks.report import num, signed
from mlgate.checks.report_view import advice, limits_advice
from mlgate.checks.results import GateResult, Metric, Status
from mlgate.checks.wording import clip, gates_verdict, names, verb
from mlgate.names import GATE_PREFIX, SUMMARY_CHECK

__all__ = ["GateReport", "GateRow", "GateState", "evaluate_gates", "gate_summary",
           "parse_results_text", "report_of"]

_MAX_SUMMARY = 300


@dataclass(frozen=True)
class GateRow:
    """One line of the gate table.

    `kind`: "gate" (an mlgate/* check run with results JSON), "check" (a required CI check),
    "review" (the review gate) or "config" (the config could not be read). `summary` is one line
    (key numbers and deltas for gates); `url` links the run; `app` is who reported the counted run;
    `pinned_app` who must report it; `result` the parsed results for detailed tables; `notes`
    anything a reader needs (ignored runs, unreadable JSON, missing baseline, near-miss names);
    `conclusion` the counted run's own conclusion as GitHub reported it.
    """

    name: str
    kind: str
    state: GateState
    summary: str
    url: str | None = None
    app: str | None = None
    pinned_app: str | None = None
    result: GateResult | None = None
    notes: tuple[str, ...] = ()
    conclusion: str | None = None  # the counted run's raw conclusion (success, failure, timed_out, …)
    untrusted: bool = False  # a gate result refused for the config it was computed with (or none shown)


@dataclass(frozen=True)
class GateReport:
    """The verdict for the head SHA: `conclusion` is "success", "failure" or "pending".

    `next_steps` are sentences telling the author what to do, most important first. `check_status`
    and `check_conclusion` are ready for `SetCheck` (a pending report is an in-progress check run).
    """

    head_sha: str
    conclusion: str
    rows: tuple[GateRow, ...]
    next_steps: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.conclusion == "success"

    @property
    def blocking(self) -> tuple[GateRow, ...]:
        return tuple(r for r in self.rows if r.state.blocking)

    @property
    def waiting(self) -> tuple[GateRow, ...]:
        return tuple(r for r in self.rows if r.state.waiting)

    @property
    def title(self) -> str:
        """One line for the check run title and the comment's verdict."""
        n = len(self.rows)
        if self.conclusion == "failure":
            return gates_verdict([r.name for r in self.blocking], [], n)
        if self.conclusion == "pending":
            return f"waiting for {', '.join(r.name for r in self.waiting)}"
        return gates_verdict([], [], n) if n else "no gates configured"

    @property
    def check_status(self) -> str:
        return "in_progress" if self.conclusion == "pending" else "completed"

    @property
    def check_conclusion(self) -> str | None:
        return None if self.conclusion == "pending" else self.conclusion


def evaluate_gates(
    facts: PullFacts,
    config: MlgateConfig | None,
    review: ReviewResult | None,
    *,
    config_error: str | None = None,
    gate_app: str | None = None,
    waited_minutes: float | None = None,
    config_sha256: str | None = None,
    known_configs: Mapping[str, str] | None = None,
) -> GateReport:
    """Evaluate every gate on `facts.head_sha`.

    - `config`: the base branch's config (None: defaults, i.e. no gates and no required checks).
    - `config_error`: the validation error when the config file is invalid; it fails the check.
    - `review`: the review gate's result (None: not evaluated yet, the row is pending).
    - `gate_app`: pin the app that must publish the mlgate/* gate runs (e.g. "github-actions").
    - `waited_minutes`: minutes since the head SHA was pushed, to fail checks that never start.
    - `config_sha256`: "sha256:<hex>" of the base branch's config file; a gate result must carry it.
    - `known_configs`: other config hashes by name, to say what a refused result was computed with.
    """
    cfg = config or MlgateConfig()
    checks = [c for c in facts.checks if c.head_sha == facts.head_sha and c.name != SUMMARY_CHECK]
    rows: list[GateRow] = []
    notes: list[str] = []
    if config_error:
        rows.append(GateRow(".github/mlgate.yml", "config", GateState.ERROR, f"invalid config: {config_error}"))

    pins: dict[str, str | None] = {}
    for item in cfg.merge.required_checks:
        name, app = (item.name, item.app) if isinstance(item, RequiredCheck) else (item, None)
        if name == SUMMARY_CHECK:
            notes.append(f"merge.required_checks lists '{SUMMARY_CHECK}', the summary check itself; ignored")
            continue
        pins.setdefault(name, app)

    trust = _Trust(config_sha256, dict(known_configs or {}), f"the base branch's .github/mlgate.yml ({facts.base_ref})")
    gate_names = [f"{GATE_PREFIX}{g}" for g in cfg.merge_gates()]  # not the deployment gates (shadow)
    for name in gate_names:
        rows.append(_check_row(name, checks, pins.get(name) or gate_app, trust))
    for name, app in pins.items():
        if name not in gate_names:
            gate = name.startswith(GATE_PREFIX)
            rows.append(_check_row(name, checks, app or (gate_app if gate else None), trust))
    if cfg.review.rules or (review is not None and review.rules):  # no rules: no review row
        rows.append(_review_row(review))

    rows = [_apply_timeouts(r, cfg, waited_minutes, checks) for r in rows]
    if any(r.state.blocking for r in rows):
        conclusion = "failure"
    elif any(r.state.waiting for r in rows):
        conclusion = "pending"
    else:
        conclusion = "success"
    return GateReport(
        facts.head_sha, conclusion, tuple(rows), tuple(_next_steps(rows, review, facts, conclusion)), tuple(notes)
    )


# ---------------------------------------------------------------------------------------------
# One check


@dataclass(frozen=True)
class _Trust:
    config_sha256: str | None
    known: dict[str, str]
    label: str


def report_of(run: CheckRun, at: float = 0.0) -> Report:
    """A check run or status as the rule's plain `Report` (gate runs with their results JSON read)."""
    results = read_results(run.text, run.name.removeprefix(GATE_PREFIX))[1] if run.name.startswith(GATE_PREFIX) \
        else None
    status = "in_progress" if run.status == "pending" else run.status
    return Report(run.name, status, run.conclusion, run.details_url, at, run.kind, run.app, run.id, results)


def _check_row(name: str, checks: Sequence[CheckRun], pinned: str | None, trust: _Trust) -> GateRow:
    gate = name.startswith(GATE_PREFIX)
    kind = "gate" if gate else "check"
    same = [c for c in checks if c.name == name]
    reports = [report_of(c) for c in same]
    verdict = judge(name, reports, pinned_app=pinned, config_sha256=trust.config_sha256,
                    known_configs=trust.known, config_label=trust.label)
    notes = list(verdict.notes)
    if verdict.deciding is None:
        close = difflib.get_close_matches(name, sorted({c.name for c in checks} - {name}), n=1, cutoff=0.75)
        if close:
            notes.append(f"not reported under this exact name; did you mean {close[0]}?")
        return GateRow(name, kind, GateState.MISSING, "not reported yet", pinned_app=pinned, notes=tuple(notes))
    run = same[reports.index(verdict.deciding)]
    state = verdict.state
    result: GateResult | None = None
    summary = _run_summary(run, state)
    if gate and run.status == "completed":
        result, _, note = read_results(run.text, name.removeprefix(GATE_PREFIX))
        readable_or_counted = result is not None or (run.conclusion or "").lower() == "success"
        if note and readable_or_counted and not (verdict.untrusted and note in verdict.reason):
            notes.append(note)
        if result is not None:
            summary = gate_summary(result)
            if result.metrics and not result.baseline_used:
                notes.append("no baseline was available: only absolute limits were applied")
    if verdict.untrusted:
        summary = _clip(verdict.reason)
    return GateRow(
        name,
        kind,
        state,
        summary,
        url=run.details_url,
        app=run.app,
        pinned_app=pinned,
        result=result,
        notes=tuple(dict.fromkeys(notes)),
        conclusion=run.conclusion,
        untrusted=verdict.untrusted,
    )


def _run_summary(run: CheckRun, state: GateState) -> str:
    if state == GateState.PENDING:
        return "queued" if run.status == "queued" else "running"
    first = (run.summary or "").strip().splitlines()
    text = first[0] if first else (run.conclusion or run.status)
    return _clip(text)


def _clip(text: str) -> str:
    """One line of at most _MAX_SUMMARY characters, cut between clauses, never inside a number."""
    return clip(text, _MAX_SUMMARY)


# ---------------------------------------------------------------------------------------------
# Results JSON


def parse_results_text(text: str | None, gate: str) -> tuple[GateResult | None, str | None]:
    """(the gate's result, a note) from a check run's `output.text`; never raises (see
    `mlgate.bot.pr.check_rule.read_results`, which also returns what the trust rule needs)."""
    result, _, note = read_results(text, gate)
    return result, note


def gate_summary(result: GateResult, max_metrics: int = 3) -> str:
    """One line: the gate's own summary, then the key numbers (failing first) with deltas."""
    head = (result.summary or result.status.value).strip().splitlines()
    parts = [head[0] if head else result.status.value]
    numbers = [_metric_text(m) for m in _key_metrics(result.metrics)[:max_metrics]]
    if numbers:
        parts.append("; ".join(numbers))
    return _clip(" — ".join(parts))


def _key_metrics(metrics: Sequence[Metric]) -> list[Metric]:
    order = {Status.ERROR: 0, Status.FAIL: 1, Status.WARN: 2, Status.PASS: 3}
    return sorted((m for m in metrics if m.value is not None or m.status != Status.PASS), key=lambda m: order[m.status])


def _metric_text(m: Metric) -> str:
    name = m.name if m.slice in ("all", "") else f"{m.name} [{m.slice}]"
    text = f"{name} {num(m.value)}"
    if m.delta is not None:
        text += f" ({signed(m.delta)} vs base)"
    if m.status in (Status.FAIL, Status.ERROR, Status.WARN):
        text += f" {m.status.value}"
    return text


# ---------------------------------------------------------------------------------------------
# Review, timeouts and next steps


def _review_row(review: ReviewResult | None) -> GateRow:
    if review is None:
        return GateRow("review", "review", GateState.PENDING, "not evaluated yet")
    state = GateState.SUCCESS if review.passed else GateState.FAILURE
    return GateRow("review", "review", state, review.summary)


_NEVER_STARTED = "never started"
_TIMED_OUT = "timed out"


def _apply_timeouts(row: GateRow, cfg: MlgateConfig, waited: float | None, checks: Sequence[CheckRun]) -> GateRow:
    if waited is None or row.kind not in ("gate", "check"):
        return row
    if row.state == GateState.MISSING and waited >= cfg.merge.start_timeout_minutes:
        note = (
            f"{row.name} has not been reported within {cfg.merge.start_timeout_minutes} minutes of the push; "
            "check that the workflow runs on this commit and uses exactly this name"
        )
        return _with(row, GateState.FAILURE, _NEVER_STARTED, note)
    if row.state == GateState.PENDING and waited >= cfg.merge.timeout_minutes:
        note = f"{row.name} is still running after {cfg.merge.timeout_minutes} minutes (merge.timeout_minutes)"
        return _with(row, GateState.FAILURE, _TIMED_OUT, note)
    return row


def _with(row: GateRow, state: GateState, summary: str, note: str) -> GateRow:
    return replace(row, state=state, summary=summary, notes=(*row.notes, note))


def _next_steps(rows: Sequence[GateRow], review: ReviewResult | None, facts: PullFacts, conclusion: str) -> list[str]:
    steps: list[str] = []
    sha = facts.head_sha[:7]
    limits_step = False  # one "if a limit is wrong" step after the failing gates, not one per gate
    for row in rows:
        if row.summary in (_NEVER_STARTED, _TIMED_OUT):
            steps.append(row.notes[-1] + ".")  # starts with the check's name, as written
        elif row.kind == "config" and row.state.blocking:
            steps.append(f"Fix .github/mlgate.yml on {facts.base_ref}: {row.summary.removeprefix('invalid config: ')}.")
        elif row.kind == "gate" and row.untrusted:
            steps.append(f"{row.name} was not counted: {row.summary}. Re-run it on {sha} with the mlgate actions, "
                         f"which read .github/mlgate.yml from {facts.base_ref}.")
        elif row.kind == "gate" and row.state == GateState.ERROR:
            steps.append(f"{row.name} could not be computed ({row.summary}); see its log, fix the input and re-run it.")
        elif row.kind == "gate" and row.state == GateState.FAILURE and row.result is not None:
            # The numbers that block it are in the table above the steps: say what to do instead.
            steps.append(f"{row.name}: {advice(row.result, where='in its check run')}.")
            limits_step = True
        elif row.kind == "gate" and row.state == GateState.FAILURE:
            steps.append(f"{row.name} failed: {row.summary.rstrip('.')}. Fix the model or data.")
            limits_step = True
        elif row.kind == "check" and row.state.blocking:
            how = f" ({row.conclusion})" if row.conclusion else ""
            steps.append(f"Required check {row.name} did not pass{how}: fix it, or re-run it if it is flaky.")
    if limits_step:
        steps.append(limits_advice(facts.base_ref))
    for row in rows:
        if row.kind == "review" and row.state.blocking and review is not None:
            for rule in review.applicable:
                if rule.status == RuleStatus.CHANGES_REQUESTED:
                    who = ", ".join(f"@{u}" for u in rule.changes_requested_by)
                    steps.append(
                        f"Review rule {rule.name}: {who} requested changes; address them and ask for a new review "
                        "(or have the review dismissed)."
                    )
                elif rule.status == RuleStatus.MISSING_APPROVALS:
                    plural = "s" if rule.missing != 1 else ""
                    steps.append(
                        f"Review rule {rule.name}: {rule.missing} more approval{plural} needed from "
                        f"{rule.reviewers_text} on {sha}."
                    )
    missing = [r for r in rows if r.state == GateState.MISSING]
    silent = [r.name for r in missing if not r.notes]  # one step for all of them, not one line each
    if silent:
        steps.append(f"{names(silent, limit=10)} {verb(len(silent), 'has', 'have')} not reported on {sha} yet; "
                     "make sure CI runs on this commit.")
    for row in (r for r in missing if r.notes):
        steps.append(f"{row.name} has not reported on {sha} yet; make sure CI runs on this commit ({row.notes[-1]}).")
    pending = [r.name for r in rows if r.state == GateState.PENDING]
    if pending:
        steps.append(f"Wait for {', '.join(pending)} to finish.")
    if conclusion == "success":
        steps.append("Every gate passed: comment /merge to queue this PR.")
    return steps
