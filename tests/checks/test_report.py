"""The Markdown report: verdict, tables, escaping of user data, chart, and the comment size limit."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.checks import report as _report
from mlgate.checks.report import GITHUB_COMMENT_LIMIT, code, md
from mlgate.checks.results import Finding, GateResult, GroupRow, LimitCheck, Metric, RunResults, Status, error_result
from tests.conftest import github_html


def render_report(*args, **kwargs) -> str:
    """The report with no-break spaces read as spaces (they keep "≤ 0.25" on one line in a cell)."""
    return _report.render_report(*args, **kwargs).replace("\u00a0", " ")


def render_gate(*args, **kwargs) -> str:
    return _report.render_gate(*args, **kwargs).replace("\u00a0", " ")


def _results(gates: list[GateResult], baseline_path: str | None = None) -> RunResults:
    return RunResults(
        gates=gates,
        versions={"mlgate": "0.1.0", "git_sha": "abc123", "config_sha256": None,
                  "files": {"p.csv": "sha256:" + "0" * 64}},
        baseline={"path": baseline_path, "git_sha": "def4567890" if baseline_path else None, "note": ""},
    )


def _bias_gate(n_groups: int = 2, evil: str = "White") -> GateResult:
    groups = [
        GroupRow("race", evil if i == 0 else f"g{i}", 100 + i, True, {"fpr": 0.1 + i / 1000, "fnr": 0.2}, {"fpr": 0.1})
        for i in range(n_groups)
    ]
    gap = Metric("fpr_difference", 0.31, Status.FAIL, slice="race",
                 limits=[LimitCheck("max_difference", 0.1, Status.FAIL, 0.31)])
    return GateResult("bias", Status.FAIL, "fpr gap 0.31 > 0.1 for race", metrics=[gap], groups=groups)


def test_verdict_tables_and_chart() -> None:
    quality = GateResult(
        "quality", Status.PASS, "roc_auc 0.81",
        metrics=[Metric("roc_auc", 0.81, baseline=0.80, delta=0.01,
                        limits=[LimitCheck("min", 0.7, Status.PASS, 0.81)])],
    )
    text = render_report(_results([quality, _bias_gate()], baseline_path="base.json"))
    assert text.startswith("<!-- mlgate-report -->")
    assert "## ❌ mlgate: 1 of 2 gates blocks the merge: bias" in text
    assert "| ❌ **bias** | FPR gap · race | 0.31 | ≤ 0.1 | — |" in text  # first screen: what blocks
    assert "Baseline: the results of commit def4567890 (base.json)." in text
    assert "| ✅ ROC AUC | 0.81 | ≥ 0.7 | 0.8 | +0.01 |" in text
    assert "| ❌ FPR gap · race | 0.31 | ≤ 0.1 | — | — |" in text
    # one chart per rate, highest first, the gap limit drawn as a line
    assert "xychart-beta horizontal" in text and 'title "FPR by race"' in text
    assert 'x-axis ["g1 0.101", "White 0.1"]' in text and "bar [0.1010, 0.1000]" in text
    assert "line [0.2000, 0.2000]" in text  # the lowest FPR (0.1) plus the allowed gap (0.1)
    assert "the lowest judged FPR (White 0.1) plus the allowed gap 0.1 = 0.2" in text
    assert "No line: no gap limit is set on FNR." in text  # fnr has no gap metric here


def test_no_baseline_is_said_in_words() -> None:
    text = render_report(_results([_bias_gate()]))
    assert "**No baseline given**: only absolute limits were applied" in text


def test_user_text_is_escaped() -> None:
    evil = '<img src=x onerror=alert(1)> [click](http://evil) @admin | `x`"'
    gate = _bias_gate(evil=evil)
    gate.findings.append(Finding("fail", f"value {evil} not allowed", column="race|x", count=3, examples=[evil]))
    text = render_report(_results([gate]))
    assert "<img" not in text and "@admin" not in text
    assert "[click]" not in text.replace("\\[click\\]", "")  # brackets escaped: no link
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    # the Mermaid label cannot close its quotes or the code block
    for chart in text.split("```mermaid")[1:]:
        labels = chart.split("```", 1)[0].split("x-axis [", 1)[1].split("]", 1)[0]
        assert '"' not in labels.replace('", "', "").strip('"')
def test_md_keeps_text_on_one_line() -> None:
    assert md("a\nb |c") == "a b \\|c"


def test_large_report_fits_a_comment() -> None:
    gate = _bias_gate(n_groups=5000)
    gate.findings = [Finding("fail", "x" * 200, column="c", count=i) for i in range(2000)]
    text = render_report(_results([gate]))
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "tables list at most" in text and "more findings in the results JSON" in text
    assert "of 5,000 groups" in text and "The results JSON has every group." in text


def test_gate_summary_for_check_run() -> None:
    text = render_gate(_bias_gate(), baseline_note="Compared with abc")
    assert text.startswith("Compared with abc\n\n### ❌ bias: blocks the merge\n")
    assert "| ❌ **bias** | FPR gap · race | 0.31 | ≤ 0.1 | — |" in text
    assert "| ❌ FPR gap · race | 0.31 | ≤ 0.1 | — | — |" in text


# ---- what GitHub would link or format: rendered with cmark-gfm, GitHub's own Markdown engine ------

ZW = "\u200b"


def _visible(html_text: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", html_text)).replace(ZW, "").strip()


NASTY = [
    "https://evil.example/phish?x=1", "HTTP://EVIL.EXAMPLE", "see www.evil.example now", "ftp://files.example",
    "mail bob@example.com", "mailto:a@b.example", "xmpp:a@b.example", "<https://a.example>",
    "[click](https://evil.example)", "![img](https://evil.example/x.png)", "<img src=x onerror=alert(1)>",
    "**bold** _it_ ~~gone~~ `code` $x^2$", "# heading", "- item", "1. first", "+ plus", "> quote",
    "a | b", "\\*not\\*", "&amp; &lt;", "x <!-- hidden --> y", "[^1] footnote",
]


@pytest.mark.parametrize("text", NASTY)
def test_md_output_renders_as_the_literal_text_on_github(text: str) -> None:
    html_text = github_html(md(text))
    assert "<a " not in html_text and "<img" not in html_text and "<strong" not in html_text
    assert "<em" not in html_text and "<del" not in html_text and "<code" not in html_text
    assert "<h1" not in html_text and "<ul" not in html_text and "<ol" not in html_text
    assert "<blockquote" not in html_text
    assert _visible(html_text) == text


@pytest.mark.parametrize("text", ["owner/repo#12", "fixes #34", "GH-56 again", "#7", "@admin", "@org/team",
                                  "user@example.com"])
def test_md_neutralises_github_references_and_mentions(text: str) -> None:
    """GitHub links #12, owner/repo#12 and GH-12 and pings @someone after Markdown; a zero-width space
    after # / GH / @ leaves the text readable and links nothing."""
    out = md(text)
    assert not re.search(r"#\d|\bGH-\d|@\w", out), out
    assert _visible(github_html(out)) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"ab1 .:/#@<>&[]()!*_`~|\\$-+=w", "http", "www.", "://", "GH-"]),
               max_size=25).map("".join))
def test_md_renders_any_text_literally(text: str) -> None:
    html_text = github_html(md(text))
    assert "<a " not in html_text and "<img" not in html_text
    assert _visible(html_text) == " ".join(text.split())


def test_report_escapes_gate_names_and_every_field() -> None:
    evil = "[x](https://evil.example) <b>@admin owner/repo#1"
    gate = GateResult(evil, Status.FAIL, "www.evil.example", metrics=[Metric("m", 0.5, slice="s")],
                      groups=[GroupRow("a", "g", 40, True, {"fpr": 0.1, evil: 0.2})])
    results = _results([gate])
    results.versions["files"] = {"https://evil.example/data.csv": "sha256:" + "0" * 64}
    text = render_report(results)
    html_text = github_html(text)
    assert "evil.example" not in " ".join(re.findall(r'href="([^"]*)"', html_text))
    assert "<b>" not in text and "@admin" not in text and "owner/repo#1" not in text
    assert "### ❌ \\[x\\]" in text  # the gate heading is escaped too


@pytest.mark.parametrize("text", ["9a6ebc0f15bc", "a`b", "``x``", "<b>x</b> https://e.example @me #1 | y",
                                  "sha256:" + "0" * 12])
def test_code_spans_show_the_text_exactly_even_in_a_table(text: str) -> None:
    html_text = github_html(f"| a |\n|---|\n| {code(text)} |\n")
    cell = re.search(r"<td>(.*)</td>", html_text).group(1)
    assert cell.startswith("<code>") and cell.count("<code>") == 1 and "<a " not in cell
    assert _visible(cell) == text


def test_a_metric_without_limits_reads_not_judged_not_a_green_tick() -> None:
    gate = GateResult("skew", Status.PASS, "", metrics=[
        Metric("chi2_pvalue", 1e-9, slice="city"),
        Metric("psi", 0.01, slice="city", limits=[LimitCheck("max", 0.2, Status.PASS, 0.01)]),
    ])
    text = render_gate(gate)
    assert "| χ² p-value · city | 1e−9 | — | — |" in text
    assert "1 number reported, not judged" in text
    assert "| ✅ PSI · city | 0.01 | ≤ 0.2 | — | — |" in text


def test_a_warning_only_run_shows_what_warns_and_an_erroring_gate_says_why() -> None:
    skew = GateResult("skew", Status.WARN, "1 of 6 features drifted", metrics=[
        Metric("psi", 0.31, Status.WARN, slice="city", limits=[LimitCheck("max", 0.2, Status.WARN, 0.31, Status.WARN)]),
        Metric("chi2_pvalue", 1e-9, slice="city", note="reported, not judged; n 2 vs 3")])
    text = render_report(_results([skew, GateResult("quality", Status.PASS, "ok")]))
    assert "## ⚠️ mlgate: both gates passed, with warnings in skew" in text
    assert "| gate | warns on | value | limit | baseline |" in text
    assert "| ⚠️ **skew** | PSI · city | 0.31 | ≤ 0.2 (warning) | — |" in text
    assert "### ⚠️ skew: passed with warnings" in text and "✅ Passed: quality." in text
    broken = error_result("data", "artifacts/train.parquet: no such file")
    text = render_report(_results([broken, GateResult("quality", Status.PASS, "ok")]))
    assert "| 💥 **data** | artifacts/train.parquet: no such file |" in text
    assert "**data**: it could not be computed: fix the input its message names and run it again." in text
    assert "### 💥 data: could not be computed" in text


def test_a_gate_failing_on_a_finding_shows_the_finding_on_the_first_screen() -> None:
    data = GateResult("data", Status.FAIL, "6 rows; schema: 1 violation in age", findings=[
        Finding("info", "newest row 3 days old"),
        Finding("fail", "3 rows of column 'age' fail in_range(0, 120)", column="age", count=3,
                examples=[{"index": 0, "value": -1}, {"index": 2, "value": 130}, {"index": 3, "value": 140}])])
    text = render_report(_results([data]))
    assert "| ❌ **data** | 3 rows of column 'age' fail in\\_range(0, 120) |" in text
    assert "| index | value |" in text and "| 0 | −1 |" in text
    details = text.split("<!-- mlgate-details -->", 1)[1]
    assert details.index("❌ 3 rows") < details.index("ℹ️ newest row")  # problems first
