"""The PR report comment and the `mlgate` check summary: content, escaping, size, hidden state."""

from __future__ import annotations

import re

from mlgate.bot.github.facts import ChangedFile, PullFacts
from mlgate.bot.pr import report as _report
from mlgate.bot.pr.queue_block import QUEUE_BLOCK_END, QUEUE_BLOCK_START, with_queue_block
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.pr.report import (
    COMMENT_LIMIT,
    GateLine,
    ReportData,
    decode_state,
    encode_state,
)
from mlgate.bot.pr.review import IgnoredReview, IgnoreReason, ReviewResult, RuleResult, RuleStatus
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.results import Metric, Status
from mlgate.names import REPORT_MARKER

EVIL = "<img src=x onerror=alert(1)> [click](http://evil.example) @everyone | `code` **bold**"


def facts(**kw: object) -> PullFacts:
    base = dict(
        repo="acme/ml", number=7, title="Tune the model", author="alice", state="open", merged=False, draft=False,
        head_sha="0123456789abcdef" * 2 + "01234567", head_ref="tune", head_repo="acme/ml", base_ref="main",
        base_sha="f" * 40, files=(ChangedFile("train.py", "modified"),),
    )
    base.update(kw)
    return PullFacts(**base)  # type: ignore[arg-type]


def config(source: str = "file", **kw: object) -> RepoConfig:
    if source == "file":
        return RepoConfig("file", "main", blob_sha="abcdef0123456789" * 2 + "abcdef01", config=MlgateConfig(), **kw)
    if source == "defaults":
        return RepoConfig("defaults", "main", config=MlgateConfig())
    return RepoConfig("invalid", "main", blob_sha="9" * 40, error=str(kw.get("error", "bad")))


def rule(name: str = "training code", status: RuleStatus = RuleStatus.MISSING_APPROVALS, **kw: object) -> RuleResult:
    base = dict(name=name, rule=name, status=status, files=("train.py",), required=1, missing=1,
                reviewers_users=("bob",))
    base.update(kw)
    return RuleResult(**base)  # type: ignore[arg-type]


def data(**kw: object) -> ReportData:
    base = dict(
        facts=facts(), config=config(), conclusion="failure", headline="1 of 2 gates block the merge: review",
        next_steps=("Review rule training code: 1 more approval needed from @bob.",),
        gates=(GateLine("review", "fail", "1 of 1 rule need approvals: training code"),),
        review=ReviewResult((rule(),)), state={"applying": ["training code"]},
    )
    base.update(kw)
    return ReportData(**base)  # type: ignore[arg-type]


def render_comment(data: ReportData, *args: object) -> str:
    """The comment with no-break spaces read as spaces (they keep "❌ fail" on one line in a cell)."""
    return _report.render_comment(data, *args).replace("\u00a0", " ")  # type: ignore[arg-type]


def render_check(data: ReportData, *args: object) -> tuple[str, str]:
    title, summary = _report.render_check(data, *args)  # type: ignore[arg-type]
    return title, summary.replace("\u00a0", " ")


def test_comment_has_marker_verdict_steps_gates_rules_and_config_source() -> None:
    body = render_comment(data())
    assert body.startswith(REPORT_MARKER + "\n")
    assert "## ❌ mlgate: 1 of 2 gates block the merge: review" in body
    assert "**What to do next**" in body and "1 more approval needed from @\u200bbob" in body
    assert "| review | ❌ fail | 1 of 1 rule need approvals: training code |" in body
    assert "| training code | ❌ needs approvals | — | 1 |" in body
    assert "Triggered by 1 file: train.py" in body
    assert "Config: .github/mlgate.yml on main (blob `abcdef012345`)" in body
    assert "Merge queue" not in body
    assert decode_state(body) == {"applying": ["training code"]}


def test_review_details_show_approvers_and_ignored_approvals_with_reasons() -> None:
    r = rule(
        status=RuleStatus.SATISFIED, missing=0, approved_by=("bob",), required=1,
        ignored=(
            IgnoredReview("alice", "APPROVED", IgnoreReason.AUTHOR, "a" * 40,
                          "the author cannot approve their own change"),
            IgnoredReview("carol", "APPROVED", IgnoreReason.STALE, "c" * 40,
                          "given on ccccccc, before the latest push"),
        ),
    )
    body = render_comment(data(review=ReviewResult((r,)), conclusion="success", headline="all 1 gates passed"))
    assert "| training code | ✅ approved | bob | 0 |" in body
    assert "Not counted: alice (approved): the author cannot approve their own change" in body
    assert "Not counted: carol (approved): given on ccccccc, before the latest push" in body


def test_defaults_and_invalid_config_are_stated() -> None:
    body = render_comment(data(config=config("defaults"), review=ReviewResult(()), gates=()))
    assert "no .github/mlgate.yml on main; defaults apply (no review rules, no ML gates" in body
    assert "No review rules are configured." in body
    err = ".github/mlgate.yml: review.rules\\[0\\].approvls (line 5): unknown key"
    bad = render_comment(data(config=config("invalid", error=".github/mlgate.yml: review.rules[0].approvls (line 5): "
                                                            "unknown key"), review=None))
    assert err in bad and "is invalid" in bad
    assert "### Review rules" not in bad


def test_gate_key_numbers_show_metric_baseline_and_delta() -> None:
    metrics = (
        Metric("accuracy", 0.81, Status.FAIL, baseline=0.85, delta=-0.04),
        Metric("auc", 0.9, Status.PASS, baseline=0.9, delta=0.0),
    )
    line = GateLine("mlgate/quality", "fail", "accuracy dropped", details_url="https://ci.example/run/1?x=1#l2",
                    metrics=metrics, notes=("no baseline was available: only absolute limits were applied",))
    body = render_comment(data(gates=(line,)))
    assert "| [mlgate/quality](https://ci.example/run/1?x=1#l2) | ❌ fail | accuracy dropped |" in body
    # a failing metric leads, with its baseline and change; one without limits is reported, not judged
    assert "| ❌ accuracy | 0.81 | — | 0.85 | −0.04 |" in body and "| auc | 0.9 | 0.9 | 0 |" in body
    assert "| ❌ **mlgate/quality**" not in body and "[**mlgate/quality**](https://ci.example/run/1?x=1#l2)" in body
    assert "mlgate/quality: no baseline was available" in body


def test_user_text_cannot_inject_markup_links_html_or_mentions() -> None:
    f = facts(head_ref=EVIL, title=EVIL, base_ref="main|x", head_repo="evil/fork")
    r = rule(name=EVIL, files=(EVIL, "a|b.py"), approved_by=(EVIL,), changes_requested_by=(EVIL,),
             notes=(EVIL,), ignored=(IgnoredReview(EVIL, "APPROVED", IgnoreReason.NOT_ALLOWED, "d" * 40, EVIL),))
    line = GateLine(EVIL, "fail", EVIL, details_url="javascript:alert(1)", notes=(EVIL,),
                    metrics=(Metric(EVIL, 1.0, Status.FAIL, slice=EVIL),))
    cfg = config("invalid", error=EVIL)
    for body in (
        render_comment(data(facts=f, review=ReviewResult((r,)), gates=(line,), next_steps=(EVIL,), headline=EVIL)),
        render_comment(data(facts=f, config=cfg, review=None, headline=EVIL)),
        render_check(data(facts=f, gates=(line,), next_steps=(EVIL,), headline=EVIL))[1],
    ):
        visible = body.replace("<details", "").replace("</details>", "").replace("<summary>", "")
        visible = visible.replace("</summary>", "").replace("<sub>", "").replace("</sub>", "")
        visible = re.sub(r"</?b>|<br>", "", visible)  # the templates' own markup
        visible = re.sub(r"<!-- mlgate-(report|details|state: \{.*?\}) -->", "", visible)
        assert "<" not in visible, body
        # brackets escaped (no Markdown link) and the bare URL not autolinked (zero-width space)
        assert not re.search(r"(?<!\\)\]\(http", body) and "\\](http\u200b://evil" in body
        assert "http://evil" not in body
        assert "(javascript:" not in body
        assert "@everyone" not in body and "@\u200beveryone" in body
        assert "**bold**" not in body
        for row in (ln for ln in body.splitlines() if ln.startswith("| ") and EVIL[:4] in ln):
            assert row.count(" | ") + 2 >= 3  # the pipes in user text are escaped: table rows keep their cells
            assert "\\|" in row


def test_state_marker_survives_hostile_rule_names() -> None:
    state = {"applying": ["x --> <b>", "-->"]}
    marker = encode_state(state)
    assert marker.count("-->") == 1 and "<b>" not in marker
    assert decode_state("text\n" + marker + "\nmore") == state
    assert decode_state("no state here") == {}
    assert decode_state("<!-- mlgate-state: {not json} -->") == {}


def test_queue_block_when_the_bot_has_a_queue() -> None:
    body = render_comment(data(queue_note="**Merge queue**: queued for main at position 3 of 4."))
    assert f"{QUEUE_BLOCK_START}\n**Merge queue**: queued for main at position 3 of 4.\n{QUEUE_BLOCK_END}" in body
    assert QUEUE_BLOCK_START not in render_comment(data())
    swapped = with_queue_block(body, "**Merge queue**: Landed on main in abc.")
    assert swapped is not None and "position 3" not in swapped and "Landed on main in abc." in swapped
    assert swapped.replace("Landed on main in abc.", "queued for main at position 3 of 4.") == body
    assert with_queue_block(render_comment(data()), "x") is None


def test_huge_report_fits_the_comment_limit_and_keeps_marker_and_state() -> None:
    files = tuple(f"data/shard-{i:05d}-{'x' * 40}.csv" for i in range(5000))
    rules = tuple(rule(name=f"rule {i}", files=files) for i in range(30))
    gates = tuple(
        GateLine(f"ci/job-{i}", "fail", "y" * 250, metrics=tuple(Metric(f"m{j}", 0.5) for j in range(100)))
        for i in range(300)
    )
    big = data(review=ReviewResult(rules), gates=gates, next_steps=tuple("z" * 200 for _ in range(400)),
               state={"applying": [r.name for r in rules]})
    body = render_comment(big)
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(REPORT_MARKER) and decode_state(body)["applying"][-1] == "rule 29"
    title, summary = render_check(big)
    assert len(summary) <= 65_535 and len(title) <= 200


def test_small_report_is_not_cut() -> None:
    body = render_comment(data())
    assert "cut to fit" not in body and "\n\n\n" not in body


def test_check_summary_has_verdict_steps_and_gate_table() -> None:
    title, summary = render_check(data())
    assert title == "1 of 2 gates block the merge: review"
    assert summary.startswith("**❌ 1 of 2 gates block the merge: review** (head `0123456789ab`)")
    assert "| review | ❌ fail |" in summary and REPORT_MARKER not in summary


def test_the_check_run_summary_does_not_point_below_at_details_it_does_not_have() -> None:
    """The comment shows each gate's details below its first screen; the `mlgate` check run's summary
    does not (they are in each gate's own check run), so "and 3 more failing (below)" would be false there."""
    from mlgate.checks.results import GateResult, LimitCheck

    metrics = [Metric(f"m{i}_difference", 0.4, Status.FAIL, slice="colour",
                      limits=[LimitCheck("max_difference", 0.25, Status.FAIL, 0.4)]) for i in range(5)]
    gate = GateResult("bias", Status.FAIL, "5 metrics failing", metrics=metrics)
    report = data(headline="mlgate/bias blocks the merge", review=None,
                  gates=(GateLine("mlgate/bias", "fail", gate.summary, "https://ci.example/runs/1",
                                  tuple(metrics), result=gate),))
    _, summary = render_check(report)
    assert "and 3 more failing (in its check run)" in summary and "(below)" not in summary
    assert "and 3 more failing (below)" in render_comment(report)
