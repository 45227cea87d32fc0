"""The report's sentences are true of the numbers beside them: counts agree with their nouns, nothing
is cut inside a number, the baseline is named the way it is known, a number never rounds onto its limit."""

from __future__ import annotations

import json
import re

import pytest

from mlgate.bot.github.facts import ChangedFile, CheckRun, PullFacts
from mlgate.bot.pr.gates import evaluate_gates
from mlgate.bot.pr.review import ReviewResult as Review
from mlgate.bot.pr.review import RuleResult, RuleStatus
from mlgate.checks import report as _report
from mlgate.checks.config.models import parse_config
from mlgate.checks.report_view import examples_table, finding_extra, num, num_beside, value_text
from mlgate.checks.results import Finding, GateResult, LimitCheck, Metric, RunResults, Status
from mlgate.checks.wording import clip, gates_verdict, names, plural


def render_report(*args, **kwargs) -> str:
    """The report with no-break spaces read as spaces (they keep "≤ 0.25" on one line in a cell)."""
    return _report.render_report(*args, **kwargs).replace("\u00a0", " ")


def render_gate(*args, **kwargs) -> str:
    return _report.render_gate(*args, **kwargs).replace("\u00a0", " ")


def _run(gates: list[GateResult], baseline: dict | None = None) -> RunResults:
    return RunResults(gates, {"mlgate": "0", "files": {}}, baseline or {"path": None, "git_sha": None})


@pytest.mark.parametrize(("blocking", "warned", "total", "expected"), [
    (["bias"], [], 1, "bias blocks the merge"),
    (["bias"], [], 6, "1 of 6 gates blocks the merge: bias"),
    (["bias", "regression"], [], 6, "2 of 6 gates block the merge: bias, regression"),
    ([], [], 1, "the gate passed"),
    ([], [], 2, "both gates passed"),
    ([], ["skew"], 6, "all 6 gates passed, with warnings in skew"),
])
def test_the_verdict_agrees_with_its_counts(blocking, warned, total, expected) -> None:
    assert gates_verdict(blocking, warned, total) == expected


def test_a_single_gate_run_never_reads_1_of_1() -> None:
    gate = GateResult("bias", Status.FAIL, "x")
    assert _run([gate]).summary == "bias blocks the merge"
    assert "1 of 1" not in render_report(_run([gate]))
    assert _run([GateResult("bias", Status.PASS, "x")]).summary == "the gate passed"


def test_plural_and_names() -> None:
    assert plural(1, "row") == "1 row" and plural(0, "row") == "0 rows" and plural(30000, "group") == "30,000 groups"
    assert names(["a"]) == "a" and names(["a", "b", "c"]) == "a, b and c"
    assert names([str(i) for i in range(8)], limit=3) == "0, 1, 2 and 5 more"


@pytest.mark.parametrize("limit", range(20, 200, 7))
def test_clip_never_cuts_inside_a_number_or_word(limit: int) -> None:
    text = ("8 groups in 3 attributes (1 below 50 rows, not judged), 11 metrics failing: fpr gap [colour] 0.45 > "
            "0.25 (highest White 0.53, lowest Black 0.0797); fnr gap [colour] 0.491 > 0.25 (highest Black 0.682, "
            "lowest White 0.192); selection_rate ratio [colour] 0.346 < 0.6 (highest White 0.765, lowest Black 0.265)")
    out = clip(text, limit)
    assert len(out) <= limit and out.endswith("…")
    kept = out.removesuffix("…")
    assert text.startswith(kept)
    assert not re.search(r"\d\.?$", kept) or text[len(kept)] in " ;,)"  # a number is whole or absent
    assert text[len(kept)] in " ;,)—"  # cut at a boundary


def test_clip_keeps_short_text_and_cuts_a_long_word() -> None:
    assert clip("short  text", 50) == "short text"
    assert clip("x" * 100, 10) == "x" * 9 + "…"


def test_numbers_next_to_a_limit_never_round_onto_it() -> None:
    assert num_beside(0.2504, [0.25]) == "0.2504"
    assert num_beside(0.25, [0.25]) == "0.25"
    assert num_beside(0.45, [0.25]) == "0.45"
    m = Metric("fpr_difference", 0.25001, Status.FAIL, limits=[LimitCheck("max_difference", 0.25, Status.FAIL)])
    assert value_text(m) == "0.25001"


def test_numbers_are_rounded_for_reading() -> None:
    assert num(0.14542403112632957) == "0.145" and num(4.9887705078077715e-11) == "4.99e−11"
    assert num(2776) == "2,776" and num(1096.0) == "1,096" and num(999.7) == "1,000" and num(-0.5) == "−0.5"
    assert num(None) == "—" and num(float("nan")) == "—"


def test_shares_read_as_percentages_with_their_limits() -> None:
    m = Metric("changed_share", 0.0633, Status.FAIL, baseline=0.0, delta=0.0633,
               limits=[LimitCheck("max", 0.02, Status.FAIL)])
    text = render_report(_run([GateResult("regression", Status.FAIL, "19 of 300 rows changed", metrics=[m])]))
    assert "| ❌ **regression** | changed share | 6.33% | ≤ 2% | 0% |" in text


@pytest.mark.parametrize(("baseline", "expected"), [
    ({"path": "base.json", "git_sha": "f1ae4e3c7b13f963c37a674936028dc62673e1a6"},
     "Baseline: the results of commit f1ae4e3c7b13 (base.json)."),
    ({"path": "base.json", "git_sha": None}, "Baseline: base.json (it does not record its commit)."),
    ({"path": None, "git_sha": None}, "**No baseline given**: only absolute limits were applied"),
])
def test_the_baseline_is_named_as_it_is_known(baseline: dict, expected: str) -> None:
    text = render_report(_run([GateResult("quality", Status.PASS, "ok")], baseline))
    assert expected in text
    assert "unknown comm" not in text


def test_examples_are_small_tables_with_rounded_numbers_not_python_reprs() -> None:
    f = Finding("fail", "108 golden rows moved 'score' by more than 0.05", column="score", count=108, examples=[
        {"id": "376", "baseline": 0.5936312971, "candidate": 0.4482072659736704, "change": 0.14542403112632957}])
    t = examples_table(f)
    assert t is not None and t.headers == ["id", "baseline", "candidate", "change"]
    assert t.rows == [["376", "0.594", "0.448", "0.145"]] and t.caption == "1 of 108 rows; the results JSON lists them"
    text = render_report(_run([GateResult("regression", Status.FAIL, "s", findings=[f])]))
    assert "{'" not in text and "0.14542403112632957" not in text
    assert "| 376 | 0.594 | 0.448 | 0.145 |" in text.replace("0\\.", "0.")


def test_a_finding_does_not_repeat_itself_or_miscount() -> None:
    f = Finding("fail", "colour: fnr regressed in 1 group: Black 0.357 → 0.682", column="colour", count=1,
                examples=["Black 0.357 → 0.682"])
    assert finding_extra(f) == ""
    text = render_report(_run([GateResult("bias", Status.FAIL, "s", findings=[f])]))
    details = text.split("<!-- mlgate-details -->", 1)[1]
    assert "1 rows" not in text and details.count("Black 0.357 → 0.682") == 1


def test_unjudged_numbers_never_get_a_tick() -> None:
    gate = GateResult("skew", Status.PASS, "ok", metrics=[
        Metric("chi2_pvalue", 1e-9, slice="citizen", note="reported, not judged; n 2 vs 3"),
        Metric("psi", 0.04, slice="citizen", limits=[LimitCheck("max", 0.2, Status.PASS, 0.04)])])
    text = render_report(_run([gate]))
    assert "| ✅ PSI · citizen | 0.04 | ≤ 0.2 |" in text
    assert "| χ² p-value · citizen | 1e−9 |" in text  # in the reported table: no icon, no limit
    reported = text.split("reported, not judged", 1)[1]
    assert "PSI" not in reported.split("</details>", 1)[0]


# ---- the bot's sentences ----------------------------------------------------------------------------

HEAD = "a" * 40
CONFIG = parse_config("bias: {sensitive: [colour]}\n")


def _facts(*checks: CheckRun) -> PullFacts:
    return PullFacts(repo="o/r", number=1, title="t", author="carol", state="open", merged=False, draft=False,
                     head_sha=HEAD, head_ref="f", head_repo="o/r", base_ref="main", base_sha="b" * 40,
                     files=(ChangedFile("x.py", "modified"),), checks=checks)


def _bias_run(gate: GateResult) -> CheckRun:
    text = _run([gate]).to_dict()
    text["versions"]["config_sha256"] = "sha256:" + "c" * 64
    return CheckRun("mlgate/bias", "completed", "failure", "github-actions", HEAD, id=5, text=json.dumps(text))


def test_the_bot_title_of_a_single_gate_and_its_next_step_are_whole_sentences() -> None:
    summary = ("8 groups in 3 attributes (1 below 50 rows, not judged), 11 metrics failing: fpr gap [colour] 0.45 > "
               "0.25 (highest White 0.53, lowest Black 0.0797); fnr gap [colour] 0.491 > 0.25 (highest Black 0.682, "
               "lowest White 0.192); selection_rate ratio [colour] 0.346 < 0.6 (highest White 0.765, lowest Black "
               "0.265); …")
    gate = GateResult("bias", Status.FAIL, summary, metrics=[
        Metric("fpr_difference", 0.45, Status.FAIL, slice="colour",
               limits=[LimitCheck("max_difference", 0.25, Status.FAIL, 0.45)])])
    report = evaluate_gates(_facts(_bias_run(gate)), CONFIG, None, config_sha256="sha256:" + "c" * 64)
    assert report.title == "mlgate/bias blocks the merge"
    step = next(s for s in report.next_steps if s.startswith("mlgate/bias"))
    assert step == ("mlgate/bias: look at the groups behind each gap (charts and table in its check run) and change "
                    "the model or its training data until the gaps are within their limits.")


def test_the_review_summary_agrees_with_its_counts() -> None:
    one = RuleResult(name="training code", rule="training code", status=RuleStatus.MISSING_APPROVALS,
                     files=("train.py",), required=1, missing=1, reviewers_users=("bob",))
    assert Review((one,)).summary == "approvals missing: training code"
    two = RuleResult(name="docs", rule="docs", status=RuleStatus.SATISFIED, files=("a.md",), required=1,
                     missing=0, reviewers_users=("bob",), approved_by=("bob",))
    assert Review((one, two)).summary == "1 of 2 rules needs approvals: training code"
    assert Review((two,)).summary == "approved: docs"
    assert Review((two, two)).summary == "both applicable rules are approved"


def test_checks_that_have_not_reported_are_one_step_not_one_line_each() -> None:
    config = parse_config("bias: {sensitive: [colour]}\nquality: {metrics: {accuracy: {min: 0.5}}}\n"
                          "merge: {required_checks: [tests]}\n")
    report = evaluate_gates(_facts(), config, None, config_sha256="sha256:" + "c" * 64)
    waiting = [s for s in report.next_steps if "not reported" in s]
    assert waiting == ["mlgate/quality, mlgate/bias and tests have not reported on aaaaaaa yet; make sure CI runs "
                       "on this commit."]
