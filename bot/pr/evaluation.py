"""One PR's verdict, pure: the gathered inputs in, the `mlgate` check, the report and review requests out.

`evaluate_pull(inputs, previous, …)` evaluates the review rules (review.py) and every gate on
the head (gates.py), renders the report (report.py) and returns what to write as actions
(`SetCheck`, `RequestReviewers`, `UpsertReport`) with the gate report the merge queue judges a
queued PR by. Nothing here reads GitHub: `mlgate.bot.pr.gather` has read everything before.
Evaluating twice with the same inputs gives the same actions, and the executor writes nothing
that is already there, so the bot never loops on the events its own writes cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlgate.bot.github.effects import Action, RequestReviewers, SetCheck, UpsertReport
from mlgate.bot.github.facts import PullFacts
from mlgate.bot.pr.check_rule import GateState
from mlgate.bot.pr.gates import GateReport, evaluate_gates
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.pr.report import GateLine, ReportData, render_check, render_comment
from mlgate.bot.pr.review import FeatureOwnership, ReviewResult, evaluate_review
from mlgate.names import SUMMARY_CHECK

_LINE_STATES = {
    GateState.SUCCESS: "pass",
    GateState.FAILURE: "fail",
    GateState.ERROR: "error",
    GateState.PENDING: "pending",
    GateState.MISSING: "missing",
}
_MERGE_HINT = "comment /merge"
NO_QUEUE_STEP = "Every gate passed: this PR can be merged (this bot runs without the merge queue)."


@dataclass(frozen=True)
class PullInputs:
    """What the evaluation of one PR decides on; nothing in here is read again while deciding."""

    facts: PullFacts  # `team_members` filled for the teams the rules name
    config: RepoConfig  # from the base branch
    features: Mapping[str, FeatureOwnership] | None = None  # the registry's owners, for `from_features` rules
    registry_error: str | None = None  # the registry such a rule needs cannot be read: the check fails
    writers: tuple[str, ...] = ()  # reviewers with write permission (rules that list no reviewers)
    known_configs: Mapping[str, str] = field(default_factory=dict)  # {config hash: what it is}, for refusals
    # `approvals_on: unchanged_paths`: an older approved SHA -> the paths changed since (head descends from it)
    changed_since: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation decided: the actions, in the order to apply them, and the gate report."""

    actions: tuple[Action, ...]
    report: GateReport
    review: ReviewResult | None = None  # the review rules' verdicts (None when the config is invalid)


def evaluate_pull(
    inputs: PullInputs, previous: Mapping[str, Any], *, gate_app: str | None = None, queue: bool = True,
    queue_note: str | None = None,
) -> Evaluation:
    """Review + gates + verdict → the actions for one PR.

    `previous`: the state the last report stored (which rules applied, so reviewers are requested
    once); `gate_app`: the bot's pin for `mlgate/<gate>` runs when the config names none; `queue`:
    whether this bot runs the merge queue (the next steps say "comment /merge" only then);
    `queue_note`: where the PR stands in the queue (messages.status_text), shown in the report's queue
    block, which then also carries the "comment /merge" advice (so it disappears once the PR is queued).
    """
    facts, config = inputs.facts, inputs.config
    review: ReviewResult | None = None
    requests: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    state: dict[str, Any] = {"head": facts.head_sha}
    if config.valid and inputs.registry_error is None:
        cfg = config.effective
        review = evaluate_review(facts, cfg.review.rules, writers=inputs.writers, features=inputs.features,
                                 changed_since=inputs.changed_since)
        report = evaluate_gates(facts, cfg, review, gate_app=cfg.merge.gate_app or gate_app,
                                config_sha256=config.sha256, known_configs=inputs.known_configs)
        state["applying"] = [r.name for r in review.applicable]
        requests = review.review_requests(previous.get("applying") or ())
    else:
        report = evaluate_gates(facts, None, None, config_error=inputs.registry_error or config.error or "invalid")
    data = ReportData(
        facts=facts,
        config=config,
        conclusion=report.conclusion,
        headline=report.title,
        next_steps=next_steps(report, queue=queue, queue_block=queue_note is not None),
        gates=gate_lines(report),
        review=review,
        queue_note=queue_note,
        state=state,
    )
    title, summary = render_check(data)
    actions: list[Action] = [
        SetCheck(facts.repo, facts.head_sha, SUMMARY_CHECK, report.check_status, report.check_conclusion, title,
                 summary),
    ]
    users, teams = requests
    users = tuple(u for u in users if u.lower() != facts.author.lower())
    if users or teams:
        actions.append(RequestReviewers(facts.repo, facts.number, users, teams))
    actions.append(UpsertReport(facts.repo, facts.number, render_comment(data)))
    return Evaluation(tuple(actions), report, review)


def gate_lines(report: GateReport) -> tuple[GateLine, ...]:
    """The gate table's rows, with the key numbers of each gate's results JSON."""
    lines = []
    for row in report.rows:
        metrics = tuple(row.result.metrics) if row.result is not None else ()
        lines.append(
            GateLine(
                name=row.name,
                state=_LINE_STATES.get(row.state, "error"),
                summary=row.summary,
                details_url=row.url,
                metrics=metrics,
                notes=tuple(row.notes),
                result=row.result,
            )
        )
    return tuple(lines)


def next_steps(report: GateReport, queue: bool = False, queue_block: bool = False) -> tuple[str, ...]:
    """The gate report's steps; without a merge queue (`queue` False) "comment /merge" becomes plain advice;
    with a queue block in the report (`queue_block`) the block says whether to comment /merge."""
    if queue and queue_block:
        return tuple(step for step in report.next_steps if _MERGE_HINT not in step)
    if queue:
        return tuple(report.next_steps)
    return tuple(NO_QUEUE_STEP if _MERGE_HINT in step else step for step in report.next_steps)


def queue_verdict(report: GateReport) -> tuple[str, tuple[str, ...]]:
    """The PR gates as the merge queue sees them: success, pending or failure, and one phrase per gate in the way."""
    conclusion = report.conclusion if report.conclusion in ("success", "pending") else "failure"
    rows = (*report.blocking, *report.waiting)
    return conclusion, tuple(f"{row.name}: {_LINE_STATES.get(row.state, 'error')}" for row in rows)
