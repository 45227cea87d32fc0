"""The summary `mlgate` check: states, pinned apps, latest runs, results JSON, review, timeouts, next steps."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.bot.github.facts import ChangedFile, CheckRun, PullFacts, Review
from mlgate.bot.pr.gates import GateState, evaluate_gates, gate_summary, parse_results_text
from mlgate.bot.pr.review import RuleSpec, evaluate_review
from mlgate.checks.config.models import parse_config
from mlgate.checks.results import SCHEMA_ID, GateResult, LimitCheck, Metric, RunResults, Status

HEAD = "a1b2c3d" + "0" * 33
OLD = "f" * 40
BASE_CONFIG = "sha256:" + "ba" * 32  # the hash of the base branch's .github/mlgate.yml
PR_CONFIG = "sha256:" + "0e" * 32  # the hash of the PR's own (loosened) copy

CONFIG = parse_config(
    """
quality: {task: classification, metrics: {accuracy: {min: 0.5}}}
bias: {sensitive: [colour]}
merge:
  required_checks: [tests, {name: lint, app: github-actions}, {name: mlgate/bias, app: github-actions}]
"""
)


def facts(*checks: CheckRun, reviews=(), files=("README.md",)) -> PullFacts:
    return PullFacts(
        repo="acme/models",
        number=3,
        title="t",
        author="carol",
        state="open",
        merged=False,
        draft=False,
        head_sha=HEAD,
        head_ref="f",
        head_repo="acme/models",
        base_ref="main",
        base_sha="b" * 40,
        files=tuple(ChangedFile(f, "modified") for f in files),
        reviews=tuple(reviews),
        checks=checks,
        team_members={"acme/ml": ("alice",)},
    )


def run(
    name,
    conclusion="success",
    *,
    status="completed",
    app="github-actions",
    id=1,
    text=None,
    kind="check_run",
    sha=HEAD,
    summary=None,
):
    return CheckRun(
        name,
        status,
        conclusion,
        app,
        sha,
        id=id,
        details_url=f"https://ci/{name}/{id}",
        summary=summary,
        text=text,
        kind=kind,
    )


def status(name, state="success", id=1):
    return CheckRun(
        name,
        "completed" if state != "pending" else "pending",
        None if state == "pending" else state,
        None,
        HEAD,
        id=id,
        kind="status",
    )


def results_text(gate="quality", st=Status.PASS, metrics=(), baseline_used=True, whole=True,
                 config=BASE_CONFIG) -> str:
    result = GateResult(gate, st, f"{gate} {st.value}", metrics=list(metrics), baseline_used=baseline_used)
    if whole:
        versions = {"config_sha256": config} if config else {}
        return json.dumps(RunResults([result], versions, {}).to_dict())
    return json.dumps(result.to_dict())


GREEN = (
    run("mlgate/quality", text=results_text("quality")),
    run("mlgate/bias", text=results_text("bias")),
    run("tests", app="circleci"),
    run("lint"),
)


def states(report) -> dict[str, GateState]:
    return {r.name: r.state for r in report.rows}


def evaluate(*checks, config=CONFIG, review=None, **kw):
    f = facts(*checks)
    kw.setdefault("config_sha256", BASE_CONFIG)
    return evaluate_gates(f, config, review if review is not None else evaluate_review(f, []), **kw)


# --- overall ---------------------------------------------------------------------------------------


def test_all_green() -> None:
    report = evaluate(*GREEN)
    assert report.conclusion == "success" and report.passed
    assert list(states(report)) == ["mlgate/quality", "mlgate/bias", "tests", "lint"]
    assert report.title == "all 4 gates passed"
    assert report.next_steps == ("Every gate passed: comment /merge to queue this PR.",)
    assert (report.check_status, report.check_conclusion) == ("completed", "success")


@pytest.mark.parametrize(
    ("replaced", "expected_state", "conclusion"),
    [
        (run("tests", "failure", app="circleci"), GateState.FAILURE, "failure"),
        (run("tests", "timed_out", app="circleci"), GateState.FAILURE, "failure"),
        (run("tests", "cancelled", app="circleci"), GateState.FAILURE, "failure"),
        (run("tests", "action_required", app="circleci"), GateState.FAILURE, "failure"),
        (run("tests", "neutral", app="circleci"), GateState.SUCCESS, "success"),  # GitHub: neutral passes
        (run("tests", "skipped", app="circleci"), GateState.SUCCESS, "success"),
        (run("tests", None, status="in_progress", app="circleci"), GateState.PENDING, "pending"),
        (run("tests", None, status="queued", app="circleci"), GateState.PENDING, "pending"),
        (run("tests", "weird", app="circleci"), GateState.ERROR, "failure"),
        (status("tests", "success"), GateState.SUCCESS, "success"),  # unpinned: a status counts
        (status("tests", "pending"), GateState.PENDING, "pending"),
        (status("tests", "error"), GateState.ERROR, "failure"),
        (status("tests", "failure"), GateState.FAILURE, "failure"),
        (None, GateState.MISSING, "pending"),
    ],
)
def test_required_check_states(replaced, expected_state, conclusion) -> None:
    checks = [c for c in GREEN if c.name != "tests"] + ([replaced] if replaced else [])
    report = evaluate(*checks)
    assert states(report)["tests"] == expected_state
    assert report.conclusion == conclusion


def test_failure_wins_over_pending() -> None:
    report = evaluate(run("tests", "failure", app="circleci"))  # everything else missing
    assert report.conclusion == "failure"
    assert report.title == "1 of 4 gates blocks the merge: tests"
    assert report.next_steps[0] == "Required check tests did not pass (failure): fix it, or re-run it if it is flaky."
    assert report.check_conclusion == "failure"


def test_pending_title_and_check_status() -> None:
    report = evaluate(*GREEN[:3], run("lint", None, status="in_progress"))
    assert report.conclusion == "pending" and report.title == "waiting for lint"
    assert (report.check_status, report.check_conclusion) == ("in_progress", None)
    assert "Wait for lint to finish." in report.next_steps


def test_no_config_no_gates() -> None:
    f = facts()
    report = evaluate_gates(f, None, evaluate_review(f, []))
    assert report.conclusion == "success" and report.rows == () and report.title == "no gates configured"


def test_invalid_config_fails_with_the_error() -> None:
    f = facts(*GREEN)
    report = evaluate_gates(f, None, None, config_error="merge.batch_size (line 3): unknown key")
    assert report.conclusion == "failure"
    assert report.rows[0].state == GateState.ERROR
    assert report.next_steps[0] == "Fix .github/mlgate.yml on main: merge.batch_size (line 3): unknown key."


# --- pinned apps, statuses and duplicates ------------------------------------------------------------


def test_pinned_check_from_the_wrong_app_does_not_count() -> None:
    checks = [c for c in GREEN if c.name != "lint"] + [run("lint", app="evil-app", id=9), status("lint", id=10)]
    report = evaluate(*checks)
    (lint,) = [r for r in report.rows if r.name == "lint"]
    assert lint.state == GateState.MISSING and report.conclusion == "pending"
    assert lint.notes == (
        "reported by the app evil-app, but only the app github-actions may report lint; ignored",
        "reported by a commit status (no app), but only the app github-actions may report lint; ignored",
    )


def test_pinned_check_counts_the_right_app_only() -> None:
    checks = [c for c in GREEN if c.name != "lint"] + [run("lint", "failure", app="evil", id=9), run("lint", id=2)]
    (lint,) = [r for r in evaluate(*checks).rows if r.name == "lint"]
    assert lint.state == GateState.SUCCESS and lint.app == "github-actions" and len(lint.notes) == 1


def test_app_pin_is_case_insensitive() -> None:
    checks = [c for c in GREEN if c.name != "lint"] + [run("lint", app="GitHub-Actions")]
    assert states(evaluate(*checks))["lint"] == GateState.SUCCESS


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ((run("tests", "failure", id=1, app="ci"), run("tests", "success", id=2, app="ci")), GateState.SUCCESS),
        ((run("tests", "success", id=5, app="ci"), run("tests", "failure", id=3, app="ci")), GateState.SUCCESS),
        ((run("tests", "success", id=2, app="ci"), run("tests", "failure", id=7, app="ci")), GateState.FAILURE),
        (
            (run("tests", "success", id=2, app="ci"), run("tests", None, status="queued", id=3, app="ci")),
            GateState.PENDING,
        ),
        ((status("tests", "failure", id=1), status("tests", "success", id=2)), GateState.SUCCESS),
        (
            (run("tests", "success", id=9, app="ci"), status("tests", "failure", id=1)),
            GateState.FAILURE,
        ),  # every source must pass
        (
            (run("tests", None, status="in_progress", id=3, app="ci"), status("tests", "success", id=9)),
            GateState.PENDING,
        ),  # a status never stands in for a run still in progress
        (
            (run("tests", "failure", id=1, app="ci"), run("tests", "success", id=9, app="another-app")),
            GateState.FAILURE,
        ),  # a later green run from a second app does not hide the red one
    ],
)
def test_latest_run_by_id_counts(runs, expected) -> None:
    checks = [c for c in GREEN if c.name != "tests"] + list(runs)
    assert states(evaluate(*checks))["tests"] == expected


def test_runs_on_other_shas_are_ignored() -> None:
    checks = [c for c in GREEN if c.name != "tests"] + [run("tests", app="ci", sha=OLD)]
    assert states(evaluate(*checks))["tests"] == GateState.MISSING


def test_a_status_never_counts_as_a_gate() -> None:
    config = parse_config("quality: {task: classification, metrics: {accuracy: {min: 0.5}}}")
    report = evaluate(status("mlgate/quality", "success"), config=config)
    (row,) = report.rows
    assert row.state == GateState.MISSING
    assert "gate results come only from check runs" in row.notes[0]


def test_gate_app_pin() -> None:
    config = parse_config("quality: {task: classification, metrics: {accuracy: {min: 0.5}}}")
    report = evaluate(run("mlgate/quality", app="other", text=results_text()), config=config, gate_app="github-actions")
    assert report.rows[0].state == GateState.MISSING


def test_summary_check_in_required_checks_is_ignored() -> None:
    config = parse_config("merge: {required_checks: [mlgate, tests]}")
    report = evaluate(run("tests", app="ci"), run("mlgate", "failure"), config=config)
    assert [r.name for r in report.rows] == ["tests"] and report.passed
    assert "summary check itself" in report.notes[0]


def test_near_miss_names_are_suggested() -> None:
    config = parse_config("merge: {required_checks: [tests]}")
    report = evaluate(run("test", app="ci"), config=config)
    (row,) = report.rows
    assert row.notes == ("not reported under this exact name; did you mean test?",)
    assert "did you mean test?" in report.next_steps[0]


# --- gates and their results JSON -------------------------------------------------------------------


def _quality(st: Status, text: str | None, conclusion="success"):
    config = parse_config("quality: {task: classification, metrics: {accuracy: {min: 0.5}}}")
    report = evaluate(run("mlgate/quality", conclusion, text=text), config=config)
    return report.rows[0], report


METRICS = [
    Metric(
        "accuracy", 0.81, Status.PASS, baseline=0.80, delta=0.01, limits=[LimitCheck("min", 0.5, Status.PASS, 0.81)]
    ),
    Metric("roc_auc", 0.62, Status.FAIL, baseline=0.70, delta=-0.08),
    Metric("fnr_difference", 0.3, Status.WARN, slice="colour"),
]


def test_gate_summary_from_results_json() -> None:
    row, _ = _quality(Status.FAIL, results_text(st=Status.FAIL, metrics=METRICS), conclusion="failure")
    assert row.state == GateState.FAILURE and row.result is not None
    assert row.summary == (
        "quality fail — roc_auc 0.62 (−0.08 vs base) fail; fnr_difference [colour] 0.3 warn; "
        "accuracy 0.81 (+0.01 vs base)"
    )
    assert row.url == "https://ci/mlgate/quality/1"


@pytest.mark.parametrize("whole", [True, False])
def test_results_json_whole_run_or_one_gate(whole: bool) -> None:
    row, _ = _quality(Status.PASS, results_text(whole=whole, metrics=METRICS[:1]))
    assert row.result.gate == "quality"
    assert row.state == (GateState.SUCCESS if whole else GateState.ERROR)  # one gate alone has no config hash


def test_results_json_inside_a_markdown_fence() -> None:
    text = "Results:\n```json\n" + results_text(metrics=METRICS[:1]) + "\n```\n"
    row, _ = _quality(Status.PASS, text)
    assert row.result is not None and row.notes == ()


@pytest.mark.parametrize(
    ("text", "note"),
    [
        (None, "no results JSON in the check run's output"),
        ("   ", "no results JSON in the check run's output"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "is a list, expected an object"),
        ('{"hello": 1}', "neither `gates` nor `gate`"),
        ('{"gate": "quality"}', "malformed (gate.status: required field is missing)"),
        ('{"gate": "quality", "status": "purple"}', "malformed"),
        (
            '{"gates": [{"gate": "a", "status": "pass"}, {"gate": "b", "status": "pass"}]}',
            "no gate quality (it has: a, b)",
        ),
        ('{"schema": "mlgate.results/v9", "gates": 5}', "schema mlgate.results/v9 is not " + SCHEMA_ID),
    ],
)
def test_a_green_gate_whose_results_cannot_be_read_is_an_error_saying_why(text, note) -> None:
    row, report = _quality(Status.PASS, text)
    assert row.state == GateState.ERROR and row.untrusted  # a green conclusion alone proves nothing
    assert row.result is None
    assert note in row.summary, row.summary
    assert report.conclusion == "failure"
    assert report.next_steps[0].startswith("mlgate/quality was not counted: its result cannot be read")


def test_a_gate_without_a_config_hash_is_an_error_saying_so() -> None:
    for text in (results_text(config=None), results_text(whole=False)):  # one gate alone carries no versions
        row, report = _quality(Status.PASS, text)
        assert row.state == GateState.ERROR and report.conclusion == "failure"
        assert "carries no config hash (versions.config_sha256)" in row.summary


def test_a_gate_computed_with_the_prs_own_config_is_an_error_saying_so() -> None:
    """The walk-around: a PR raises its own bias limits, its CI computes a green mlgate/bias with them."""
    config = parse_config("quality: {task: classification, metrics: {accuracy: {min: 0.5}}}")
    loosened = run("mlgate/quality", text=results_text(config=PR_CONFIG))
    report = evaluate(loosened, config=config, known_configs={PR_CONFIG: "the PR's own .github/mlgate.yml"})
    (row,) = report.rows
    assert row.state == GateState.ERROR and report.conclusion == "failure"
    assert row.summary.startswith("its result was computed with the PR's own .github/mlgate.yml (sha256:0e0e")
    assert "not with the base branch's .github/mlgate.yml (main) (sha256:baba" in row.summary
    assert "a PR cannot change its own gates" in row.summary
    unknown = evaluate(loosened, config=config)
    assert "computed with another config (sha256:0e0e" in unknown.rows[0].summary
    assert "the PR's own, or the base's before it last changed" in unknown.rows[0].summary
    assert evaluate(run("mlgate/quality", text=results_text()), config=config).passed


def test_no_gate_result_is_trusted_without_the_base_config_hash() -> None:
    config = parse_config("quality: {task: classification, metrics: {accuracy: {min: 0.5}}}")
    report = evaluate(run("mlgate/quality", text=results_text()), config=config, config_sha256=None)
    assert report.rows[0].state == GateState.ERROR and "is unknown" in report.rows[0].summary


def test_results_verdict_overrides_a_green_conclusion() -> None:
    row, report = _quality(Status.FAIL, results_text(st=Status.FAIL), conclusion="success")
    assert row.state == GateState.FAILURE and report.conclusion == "failure"
    assert "its results say fail" in row.notes[0]


def test_results_error_is_an_error_state() -> None:
    row, report = _quality(Status.ERROR, results_text(st=Status.ERROR), conclusion="failure")
    assert row.state == GateState.ERROR
    assert report.next_steps[0].startswith("mlgate/quality could not be computed")


def test_a_gate_with_warnings_published_as_success_passes() -> None:
    row, _ = _quality(Status.WARN, results_text(st=Status.WARN), conclusion="success")
    assert row.state == GateState.SUCCESS


@pytest.mark.parametrize("conclusion", ["skipped", "neutral"])
def test_a_skipped_or_neutral_gate_judged_nothing_and_fails(conclusion: str) -> None:
    row, _ = _quality(Status.PASS, results_text(st=Status.WARN), conclusion=conclusion)
    assert row.state == GateState.FAILURE and "nothing was judged" in row.notes[-1]


def test_missing_baseline_is_said() -> None:
    row, _ = _quality(Status.PASS, results_text(metrics=METRICS[:1], baseline_used=False))
    assert "no baseline was available: only absolute limits were applied" in row.notes


def test_pending_gate_does_not_parse_results() -> None:
    config = parse_config("quality: {task: classification, metrics: {accuracy: {min: 0.5}}}")
    report = evaluate(run("mlgate/quality", None, status="in_progress", text="garbage"), config=config)
    assert report.rows[0].state == GateState.PENDING and report.rows[0].notes == ()


def test_required_check_naming_a_gate_merges_into_its_row_with_the_pin() -> None:
    report = evaluate(
        *[c for c in GREEN if c.name != "mlgate/bias"], run("mlgate/bias", app="evil", text=results_text("bias"))
    )
    names = [r.name for r in report.rows]
    assert names.count("mlgate/bias") == 1
    (bias,) = [r for r in report.rows if r.name == "mlgate/bias"]
    assert bias.state == GateState.MISSING and bias.pinned_app == "github-actions" and bias.kind == "gate"


def test_parse_results_text_direct() -> None:
    result, note = parse_results_text(results_text("bias"), "bias")
    assert note is None and result.gate == "bias"
    single, note = parse_results_text(results_text("data"), "quality")  # one gate in the file: taken
    assert single.gate == "data" and note is None


def test_gate_summary_caps_length() -> None:
    long = GateResult("q", Status.FAIL, "x" * 1000)
    assert len(gate_summary(long)) == 300


# --- review and timeouts ----------------------------------------------------------------------------


def test_review_blocks_then_passes() -> None:
    rule = RuleSpec("training", paths=("train.py",), teams=("ml",))
    f = facts(*GREEN, files=("train.py",))
    report = evaluate_gates(f, CONFIG, evaluate_review(f, [rule]), config_sha256=BASE_CONFIG)
    assert states(report)["review"] == GateState.FAILURE and report.conclusion == "failure"
    assert report.next_steps == ("Review rule training: 1 more approval needed from @ml on a1b2c3d.",)
    approved = replace(f, reviews=(Review(1, "alice", "APPROVED", HEAD, "2026-11-27T10:00:00Z"),))
    report = evaluate_gates(approved, CONFIG, evaluate_review(approved, [rule]), config_sha256=BASE_CONFIG)
    assert report.conclusion == "success" and states(report)["review"] == GateState.SUCCESS


def test_review_changes_requested_next_step() -> None:
    rule = RuleSpec("training", paths=("train.py",), teams=("ml",))
    f = facts(*GREEN, files=("train.py",), reviews=(Review(1, "alice", "CHANGES_REQUESTED", OLD, "2026-11-27T10:00Z"),))
    report = evaluate_gates(f, CONFIG, evaluate_review(f, [rule]), config_sha256=BASE_CONFIG)
    assert report.next_steps[0].startswith("Review rule training: @alice requested changes")


def test_review_not_evaluated_is_pending() -> None:
    report = evaluate_gates(facts(*GREEN), CONFIG, None, config_sha256=BASE_CONFIG)
    assert report.conclusion == "success"  # no rules configured: no review row
    config = parse_config("review: {rules: [{name: r, paths: ['**']}]}")
    report = evaluate_gates(facts(), config, None)
    assert states(report) == {"review": GateState.PENDING} and report.conclusion == "pending"


@pytest.mark.parametrize(
    ("waited", "tests_state", "conclusion"),
    [(None, GateState.MISSING, "pending"), (14.9, GateState.MISSING, "pending"), (15, GateState.FAILURE, "failure")],
)
def test_a_check_that_never_starts_fails_fast(waited, tests_state, conclusion) -> None:
    checks = [c for c in GREEN if c.name != "tests"]
    report = evaluate(*checks, waited_minutes=waited)
    assert states(report)["tests"] == tests_state and report.conclusion == conclusion
    if tests_state == GateState.FAILURE:
        assert report.next_steps[0] == (
            "tests has not been reported within 15 minutes of the push; check that the workflow runs on this "
            "commit and uses exactly this name."
        )


def test_a_check_running_too_long_fails() -> None:
    checks = [c for c in GREEN if c.name != "tests"] + [run("tests", None, status="in_progress", app="ci")]
    assert states(evaluate(*checks, waited_minutes=119))["tests"] == GateState.PENDING
    report = evaluate(*checks, waited_minutes=120)
    assert states(report)["tests"] == GateState.FAILURE
    assert "still running after 120 minutes" in report.next_steps[0]


_conclusions = st.sampled_from(["success", "failure", "neutral", "skipped", "timed_out", "cancelled", None])
_runs = st.lists(
    st.builds(
        lambda name, c, app, i, kind: CheckRun(
            name, "completed" if c else "in_progress", c, None if kind == "status" else app, HEAD, id=i, kind=kind
        ),
        st.sampled_from(["tests", "lint", "mlgate/quality", "mlgate/bias", "other"]),
        _conclusions,
        st.sampled_from(["github-actions", "circleci", "evil"]),
        st.integers(1, 50),
        st.sampled_from(["check_run", "status"]),
    ),
    max_size=12,
)


@given(_runs)
def test_conclusion_matches_the_rows(runs) -> None:
    report = evaluate(*runs)
    row_states = {r.state for r in report.rows}
    if row_states & {GateState.FAILURE, GateState.ERROR}:
        assert report.conclusion == "failure"
    elif row_states & {GateState.PENDING, GateState.MISSING}:
        assert report.conclusion == "pending"
    else:
        assert report.conclusion == "success" and report.next_steps[-1].startswith("Every gate passed")
    for row in report.rows:
        if row.name in ("lint", "mlgate/bias") and row.app is not None:
            assert row.app == "github-actions"  # pinned: nobody else's run is counted
        if row.kind == "gate" and row.state != GateState.MISSING:
            assert row.app is not None  # a gate is never taken from a commit status


def test_failing_gates_next_steps_advise_without_repeating_the_first_screens_numbers() -> None:
    """The comment's first screen already has a table of the numbers that block each gate (value, limit,
    baseline); the steps under it say what to do per gate, and where limits change once."""
    fnr_gap = Metric("fnr_difference", 0.49, Status.FAIL, slice="colour",
                     limits=[LimitCheck("max_difference", 0.25, Status.FAIL, 0.49)])
    changed = Metric("changed_share", 0.063, Status.FAIL, limits=[LimitCheck("max", 0.02, Status.FAIL, 0.063)])
    report = evaluate(run("mlgate/bias", "failure", text=results_text("bias", Status.FAIL, [fnr_gap])),
                      run("mlgate/regression", "failure", text=results_text("regression", Status.FAIL, [changed])),
                      config=parse_config("bias: {sensitive: [colour]}\n"
                                          "regression: {golden: g.csv, baseline_predictions: b.csv}"))
    assert report.next_steps == (
        "mlgate/bias: look at the groups behind each gap (charts and table in its check run) and change the "
        "model or its training data until the gaps are within their limits.",
        "mlgate/regression: check that the changed predictions are intended; list intended ones under "
        "regression.acknowledge, or fix the model.",
        "If a limit itself is wrong, change it in .github/mlgate.yml on main: the gates always use the base "
        "branch's config, so a pull request cannot loosen its own limits.",
    )
    assert not any("0.49" in step or "0.25" in step for step in report.next_steps)
