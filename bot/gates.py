"""The summary `mlgate` check: every configured gate, every required CI check and the review, on one SHA.

Pure: `evaluate_gates(facts, config, review, …)` reads the check runs and commit statuses on the
head SHA (`PullFacts.checks`) and returns a `GateReport`: one `GateRow` per gate with its state,
a one-line summary with key numbers, a link, and the overall conclusion with what to do next.

Rules (each tested):
- Gates are the `mlgate/<gate>` check runs the actions publish, one per configured section, with
  the results JSON (`mlgate.results/v1`, whole run or one gate) in `output.text`. A missing or
  unreadable JSON leaves the state to the run's conclusion and says so in `notes`. A commit status
  with a gate's name never counts: statuses can be posted by any collaborator, check runs only by
  apps. A skipped gate is a failure: nothing was judged.
- Required checks (`merge.required_checks`, a name or {name, app}) follow GitHub's rules: success,
  neutral and skipped pass. A pinned check counts only from that app (a commit status has no app,
  so it never satisfies a pin); a run from another app is reported and ignored. A required check
  that names a configured gate (`mlgate/bias`) merges into the gate's row; one naming the summary
  check itself is ignored (it would wait for itself).
- Several runs with one name: the latest by id counts. A check run and a status with one name:
  the worse of the two counts.
- Conclusion: "failure" when any row failed or errored (fail fast: no need to wait for the rest),
  else "pending" while any row is pending or missing, else "success". A missing check turns into
  a failure once `waited_minutes` reaches `merge.start_timeout_minutes`, and a running one once it
  reaches `merge.timeout_minutes`: nothing waits forever, and a misnamed check is named.

All strings in the output are plain text that may contain user-controlled names: the renderer
escapes each one whole (they contain no Markdown of their own).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from bot.facts import CheckRun, PullFacts
from bot.review import ReviewResult, RuleStatus
from checks.config import MlgateConfig, RequiredCheck
from checks.report import num, signed
from checks.results import SCHEMA_ID, GateResult, Metric, RunResults, Status

SUMMARY_CHECK = "mlgate"
GATE_PREFIX = "mlgate/"
_MAX_SUMMARY = 300
_PASSING_GATE = {"success", "neutral"}  # neutral: passed with warnings
_PASSING_CI = {"success", "neutral", "skipped"}
_FAILING = {"failure", "timed_out", "cancelled", "action_required", "stale", "startup_failure"}
_JSON_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


class GateState(str, Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"  # queued or running
    MISSING = "missing"  # not reported on this SHA (yet)
    ERROR = "error"  # could not be computed (results status "error", a status in state "error")

    @property
    def blocking(self) -> bool:
        return self in (GateState.FAILURE, GateState.ERROR)

    @property
    def waiting(self) -> bool:
        return self in (GateState.PENDING, GateState.MISSING)


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
            names = [r.name for r in self.blocking]
            return f"{len(names)} of {n} gate{'s' if n != 1 else ''} block the merge: {', '.join(names)}"
        if self.conclusion == "pending":
            return f"waiting for {', '.join(r.name for r in self.waiting)}"
        return f"all {n} gate{'s' if n != 1 else ''} passed" if n else "no gates configured"

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
) -> GateReport:
    """Evaluate every gate on `facts.head_sha`.

    - `config`: the base branch's config (None: defaults, i.e. no gates and no required checks).
    - `config_error`: the validation error when the config file is invalid; it fails the check.
    - `review`: the review gate's result (None: not evaluated yet, the row is pending).
    - `gate_app`: pin the app that must publish the mlgate/* gate runs (e.g. "github-actions").
    - `waited_minutes`: minutes since the head SHA was pushed, to fail checks that never start.
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

    gate_names = [f"{GATE_PREFIX}{g}" for g in cfg.configured_gates()]
    for name in gate_names:
        rows.append(_check_row(name, checks, pins.get(name) or gate_app, gate=True))
    for name, app in pins.items():
        if name not in gate_names:
            rows.append(_check_row(name, checks, app, gate=name.startswith(GATE_PREFIX)))
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


def _check_row(name: str, checks: Sequence[CheckRun], pinned: str | None, *, gate: bool) -> GateRow:
    kind = "gate" if gate else "check"
    same = [c for c in checks if c.name == name]
    notes: list[str] = []
    if gate:
        statuses = [c for c in same if c.kind == "status"]
        if statuses:
            notes.append(f"a commit status named {name} was ignored: gate results come only from check runs")
        same = [c for c in same if c.kind != "status"]
    if pinned:
        wrong = [c for c in same if (c.app or "").lower() != pinned.lower()]
        for reporter in dict.fromkeys(_reporter(c) for c in wrong):
            notes.append(f"reported by {reporter}, but only the app {pinned} may report {name}; ignored")
        same = [c for c in same if c not in wrong]
    if not same:
        close = difflib.get_close_matches(name, sorted({c.name for c in checks} - {name}), n=1, cutoff=0.75)
        if close:
            notes.append(f"not reported under this exact name; did you mean {close[0]}?")
        return GateRow(name, kind, GateState.MISSING, "not reported yet", pinned_app=pinned, notes=tuple(notes))

    counted = _latest(same)
    states = [(_run_state(run, gate), run) for run in counted]
    state, run = max(states, key=lambda sr: _STATE_RANK[sr[0]])
    result: GateResult | None = None
    summary = _run_summary(run, state)
    if gate and run.status == "completed":
        result, note = parse_results_text(run.text, name.removeprefix(GATE_PREFIX))
        if note:
            notes.append(note)
        if result is not None:
            summary = gate_summary(result)
            state = _combine(state, result.status, notes, run)
            if result.metrics and not result.baseline_used:
                notes.append("no baseline was available: only absolute limits were applied")
    if gate and run.conclusion == "skipped":
        notes.append("the gate was skipped, so nothing was judged")
    return GateRow(
        name,
        kind,
        state,
        summary,
        url=run.details_url,
        app=run.app,
        pinned_app=pinned,
        result=result,
        notes=tuple(notes),
        conclusion=run.conclusion,
    )


_STATE_RANK = {
    GateState.SUCCESS: 0,
    GateState.MISSING: 1,
    GateState.PENDING: 2,
    GateState.FAILURE: 3,
    GateState.ERROR: 4,
}


def _reporter(run: CheckRun) -> str:
    return f"the app {run.app}" if run.app else "a commit status (no app)"


def _latest(runs: Sequence[CheckRun]) -> list[CheckRun]:
    """The latest run of each kind (check_run, status): highest id, later in the list on ties."""
    latest: dict[str, tuple[int, int, CheckRun]] = {}
    for index, run in enumerate(runs):
        key = (run.id if run.id is not None else -1, index)
        if run.kind not in latest or key > latest[run.kind][:2]:
            latest[run.kind] = (*key, run)
    return [entry[2] for entry in latest.values()]


def _run_state(run: CheckRun, gate: bool) -> GateState:
    if run.status != "completed":
        return GateState.PENDING
    conclusion = (run.conclusion or "").lower()
    if conclusion in (_PASSING_GATE if gate else _PASSING_CI):
        return GateState.SUCCESS
    if conclusion == "error":
        return GateState.ERROR
    if conclusion in _FAILING or conclusion == "skipped":
        return GateState.FAILURE
    return GateState.ERROR  # an unknown or missing conclusion on a completed run: do not guess


def _combine(state: GateState, status: Status, notes: list[str], run: CheckRun) -> GateState:
    """The worse of the run's conclusion and the results JSON's verdict."""
    from_json = {Status.FAIL: GateState.FAILURE, Status.ERROR: GateState.ERROR}.get(status, GateState.SUCCESS)
    if _STATE_RANK[from_json] > _STATE_RANK[state]:
        notes.append(f"the run concluded {run.conclusion} but its results say {status.value}; the results count")
        return from_json
    return state


def _run_summary(run: CheckRun, state: GateState) -> str:
    if state == GateState.PENDING:
        return "queued" if run.status == "queued" else "running"
    first = (run.summary or "").strip().splitlines()
    text = first[0] if first else (run.conclusion or run.status)
    return _clip(text)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Results JSON


def parse_results_text(text: str | None, gate: str) -> tuple[GateResult | None, str | None]:
    """(the gate's result, a note) from a check run's `output.text`; never raises.

    Accepts a whole run (`{"schema": "mlgate.results/v1", "gates": [...]}`), one gate
    (`{"gate": …}`), either possibly inside a ```json fence. The note says what was wrong.
    """
    if not text or not text.strip():
        return None, "no results JSON in the check run's output"
    data = _load_json(text)
    if data is None:
        return None, "the results JSON in the check run's output is not valid JSON"
    if not isinstance(data, dict):
        return None, f"the results JSON is a {type(data).__name__}, expected an object"
    schema = data.get("schema")
    try:
        if "gates" in data:
            run = RunResults.from_dict(data)
            match = [g for g in run.gates if g.gate == gate]
            if not match and len(run.gates) == 1:
                match = run.gates
            if not match:
                found = ", ".join(g.gate for g in run.gates) or "none"
                return None, f"the results JSON has no gate {gate} (it has: {found})"
            result = match[0]
        elif "gate" in data:
            result = GateResult.from_dict(data)
        else:
            return None, "the results JSON has neither `gates` nor `gate`"
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return None, f"the results JSON is malformed ({_describe(exc)})" + (
            f"; schema {schema} is not {SCHEMA_ID}" if schema and schema != SCHEMA_ID else ""
        )
    note = (
        f"results schema {schema} is not {SCHEMA_ID}; read as {SCHEMA_ID}" if schema and schema != SCHEMA_ID else None
    )
    return result, note


def _load_json(text: str) -> Any:
    candidates = [text]
    candidates += _JSON_FENCE.findall(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return _clip(str(exc))[:120] or type(exc).__name__


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
    for row in rows:
        if row.summary in (_NEVER_STARTED, _TIMED_OUT):
            steps.append(row.notes[-1] + ".")  # starts with the check's name, as written
        elif row.kind == "config" and row.state.blocking:
            steps.append(f"Fix .github/mlgate.yml on {facts.base_ref}: {row.summary.removeprefix('invalid config: ')}.")
        elif row.kind == "gate" and row.state == GateState.ERROR:
            steps.append(f"{row.name} could not be computed ({row.summary}); see its log, fix the input and re-run it.")
        elif row.kind == "gate" and row.state == GateState.FAILURE:
            steps.append(
                f"{row.name} failed: {row.summary}. Fix the model or data, or change the limits in "
                f".github/mlgate.yml on {facts.base_ref} (a PR cannot change its own gates)."
            )
        elif row.kind == "check" and row.state.blocking:
            how = f" ({row.conclusion})" if row.conclusion else ""
            steps.append(f"Required check {row.name} did not pass{how}: fix it, or re-run it if it is flaky.")
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
    for row in missing:
        hint = f" ({row.notes[-1]})" if row.notes else ""
        steps.append(f"{row.name} has not reported on {sha} yet; make sure CI runs on this commit{hint}.")
    pending = [r.name for r in rows if r.state == GateState.PENDING]
    if pending:
        steps.append(f"Wait for {', '.join(pending)} to finish.")
    if conclusion == "success":
        steps.append("Every gate passed: comment /merge to queue this PR.")
    return steps
