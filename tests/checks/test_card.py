"""The model card: built from a results file, the config's text and the approvals; every value escaped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cmarkgfm
import pytest

from mlgate.checks.card import CARD_SCHEMA, Review, approvals, build_card, load_reviews, render_card
from mlgate.checks.config.models import parse_config
from mlgate.checks.errors import InputError
from mlgate.checks.results import Finding, GateResult, GroupRow, Metric, RunResults, Status

CONFIG = parse_config("""
card:
  name: Credit <b>model</b>
  summary: |
    First paragraph.

    Second [paragraph](https://evil.example) @everyone.
  intended_use: Ranking applications for manual review.
  limitations: Trained on 2020 data only.
  owners: ["@risk-team"]
""")


def _results(with_explain: bool = True) -> RunResults:
    gates = [
        GateResult("quality", Status.PASS, "roc_auc 0.8", metrics=[
            Metric("roc_auc", 0.8, slice="holdout", baseline=0.79, delta=0.01),
            Metric("roc_auc", 0.75, slice="future")], details={"task": "classification",
                                                              "slices": {"holdout": 100, "future": 40}}),
        GateResult("bias", Status.WARN, "gap", metrics=[Metric("fpr_difference", 0.12, slice="sex")],
                   groups=[GroupRow("sex", "F", 60, True, {"fpr": 0.1}),
                           GroupRow("sex", "M", 80, True, {"fpr": 0.22})]),
        GateResult("features", Status.PASS, "ok", details={"features": [
            {"name": "income", "owner": "@data-team", "description": "Yearly income"}]}),
        GateResult("budget", Status.FAIL, "67 parameters", metrics=[
            Metric("parameters", 67, slice="model"), Metric("size_mb", 0.2, slice="model"),
            Metric("row_p99_ms", 3.0, slice="latency")], findings=[Finding("fail", "grew")],
            details={"machine": {"cpu": "Test CPU", "cores": 2}, "latency": {"batch_size": 100}}),
    ]
    if with_explain:
        gates.append(GateResult("explain", Status.PASS, "top 2", details={
            "scoring": "roc_auc", "top_k": 2, "base_source": "baseline_model",
            "top": [{"feature": "income", "rank": 1, "importance": 0.2, "base_rank": 1},
                    {"feature": "age", "rank": 2, "importance": 0.1, "base_rank": 3},
                    {"feature": "zip", "rank": 5, "importance": 0.0, "base_rank": 2}],
            "entered": ["age"], "left": ["zip"]}))
    return RunResults(gates=gates, versions={
        "mlgate": "0.1.0", "git_sha": "a" * 40, "config_sha256": "sha256:" + "c" * 64,
        "model": {"path": "model.skops", "sha256": "sha256:" + "m" * 64},
        "data": {"paths": ["train.parquet"], "sha256": "sha256:" + "d" * 64}, "files": {}},
        baseline={"path": None, "git_sha": None, "note": ""})


def test_the_card_holds_every_section_from_the_results() -> None:
    card = build_card(_results(), CONFIG, [Review("alice", "APPROVED", "b" * 40, "2026-01-02T03:04:05Z")],
                      config_sha256="sha256:" + "c" * 64)
    assert card["schema"] == CARD_SCHEMA and card["status"] == "fail"
    assert card["versions"]["model"]["sha256"] == "sha256:" + "m" * 64 and card["versions"]["code"] == "a" * 40
    assert card["summary"] == ["First paragraph.", "Second [paragraph](https://evil.example) @everyone."]
    assert [m["slice"] for m in card["quality"]["metrics"]] == ["holdout", "future"]
    assert card["fairness"]["groups"][1] == {"attribute": "sex", "group": "M", "count": 80, "judged": True,
                                             "metrics": {"fpr": 0.22}}
    assert [r["feature"] for r in card["explanation"]["top"]] == ["income", "age"]  # the top 2 only
    assert card["budget"]["parameters"] == 67 and card["budget"]["machine"]["cpu"] == "Test CPU"
    assert card["features"] == [{"name": "income", "owner": "@data-team", "description": "Yearly income"}]
    assert card["reviews"] == [{"user": "alice", "commit": "b" * 40, "submitted_at": "2026-01-02T03:04:05Z"}]
    assert [v["gate"] for v in card["verdicts"]] == ["quality", "bias", "features", "budget", "explain"]
    assert card["missing"] == [] and card["notes"] == []
    json.dumps(card, allow_nan=False)


def test_missing_sections_and_a_foreign_config_are_said_plainly() -> None:
    card = build_card(_results(with_explain=False), CONFIG, None, config_sha256="sha256:" + "0" * 64)
    assert card["missing"] == ["explanation (explain)"]
    assert any("other than the one that judged" in n for n in card["notes"])
    assert any("approvals not shown" in n for n in card["notes"])
    text = render_card(card)
    assert "No explanation (explain) results" in text and "Not given (mlgate card --reviews FILE)" in text


def test_the_markdown_shows_user_text_literally() -> None:
    text = render_card(build_card(_results(), CONFIG, []))
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    assert "<b>model</b>" not in html and "&lt;b&gt;model&lt;/b&gt;" in html
    assert 'href="https://evil.example"' not in html
    assert "@everyone" not in html.replace("@\u200beveryone", "")  # no mention survives
    assert "## Intended use" in text and "Ranking applications for manual review." in text
    assert "| income | @\u200bdata-team | Yearly income |" in text
    assert "No approving review." in text
    assert "```" not in text  # no chart or code block a value could break out of


def test_approvals_follow_each_reviewers_latest_decision() -> None:
    reviews = [Review("a", "APPROVED"), Review("b", "APPROVED"), Review("b", "COMMENTED"),
               Review("c", "APPROVED"), Review("c", "CHANGES_REQUESTED"), Review("d", "CHANGES_REQUESTED"),
               Review("d", "APPROVED"), Review("e", "APPROVED"), Review("e", "DISMISSED")]
    assert [r.user for r in approvals(reviews)] == ["a", "b", "d"]


def test_reviews_load_from_githubs_json_and_a_plain_list(tmp_path: Path) -> None:
    (tmp_path / "gh.json").write_text(json.dumps([
        {"id": 1, "user": {"login": "alice"}, "state": "APPROVED", "commit_id": "abc", "submitted_at": "t"}]))
    assert load_reviews(tmp_path / "gh.json") == [Review("alice", "APPROVED", "abc", "t")]
    (tmp_path / "plain.json").write_text(json.dumps({"reviews": [{"user": "bob", "state": "approved"}]}))
    assert load_reviews(tmp_path / "plain.json") == [Review("bob", "APPROVED")]


@pytest.mark.parametrize("content, problem", [
    ("not json", "not valid JSON"),
    ('{"a": 1}', "expected a list of reviews"),
    ('[{"state": "APPROVED"}]', "needs a user"),
    ("[3]", "is not an object"),
])
def test_bad_reviews_files(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "r.json").write_text(content)
    with pytest.raises(InputError, match=problem):
        load_reviews(tmp_path / "r.json")


def _card(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlgate", "card", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_cli_writes_markdown_and_json_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(_results().to_dict()))
    (tmp_path / "mlgate.yml").write_text("card: {name: Example, intended_use: Teaching.}\n")
    (tmp_path / "reviews.json").write_text('[{"user": {"login": "alice"}, "state": "APPROVED"}]')
    ok = _card("results.json", "--config", "mlgate.yml", "--reviews", "reviews.json", "--json", "card.json",
               "--markdown", "card.md", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "card.json").read_text())["name"] == "Example"
    assert (tmp_path / "card.md").read_text().startswith("# Model card: Example")
    stdout = _card("results.json", cwd=tmp_path)
    assert stdout.returncode == 0 and stdout.stdout.startswith("# Model card: model")
    (tmp_path / "bad.json").write_text("[1]")
    bad = _card("results.json", "--reviews", "bad.json", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == "mlgate: error: bad.json: review [0] is not an object"
    missing = _card("nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip() == "mlgate: error: nope.json: results file not found"
