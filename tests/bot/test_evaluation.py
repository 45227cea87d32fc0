"""One PR's verdict from gathered inputs (bot/pr/evaluation.py): pure, no forge, no HTTP."""

from __future__ import annotations

from mlgate.bot.github.effects import RequestReviewers, SetCheck, UpsertReport
from mlgate.bot.github.facts import ChangedFile, CheckRun, PullFacts, Review
from mlgate.bot.pr.evaluation import NO_QUEUE_STEP, Evaluation, PullInputs, evaluate_pull, next_steps, queue_verdict
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.pr.report import decode_state
from mlgate.checks.config.models import parse_config
from mlgate.names import REPORT_MARKER, SUMMARY_CHECK

HEAD = "a" * 40
CONFIG_TEXT = """\
review:
  rules:
    - name: training code
      paths: ["train.py"]
      users: [bob, carol]
      request_reviews: true
merge:
  required_checks: [tests]
"""
CONFIG = RepoConfig("file", "main", blob_sha="1" * 40, config=parse_config(CONFIG_TEXT), sha256="sha256:" + "c" * 64)


def facts(*checks: CheckRun, reviews: tuple[Review, ...] = (), author: str = "carol") -> PullFacts:
    return PullFacts(repo="acme/ml", number=7, title="Tune", author=author, state="open", merged=False, draft=False,
                     head_sha=HEAD, head_ref="tune", head_repo="acme/ml", base_ref="main", base_sha="b" * 40,
                     files=(ChangedFile("train.py", "modified"),), reviews=reviews, checks=checks)


def ci_run(conclusion: str = "success") -> CheckRun:
    return CheckRun("tests", "completed", conclusion, "circleci", HEAD, id=1)


def approval(user: str) -> Review:
    return Review(1, user, "APPROVED", HEAD, "2026-01-01T00:00:00Z")


def check(evaluation: Evaluation) -> SetCheck:
    (found,) = [a for a in evaluation.actions if isinstance(a, SetCheck)]
    return found


def test_a_missing_approval_blocks_and_asks_the_reviewers_once_but_never_the_author() -> None:
    first = evaluate_pull(PullInputs(facts(ci_run()), CONFIG), {})
    assert first.report.conclusion == "failure" and check(first).name == SUMMARY_CHECK
    assert check(first).conclusion == "failure" and "review" in check(first).title
    pending = evaluate_pull(PullInputs(facts(reviews=(approval("bob"),)), CONFIG), {})  # tests not reported yet
    assert check(pending).status == "in_progress" and check(pending).conclusion is None
    (asked,) = [a for a in first.actions if isinstance(a, RequestReviewers)]
    assert asked.users == ("bob",)  # carol wrote the PR
    (report,) = [a for a in first.actions if isinstance(a, UpsertReport)]
    assert report.body.startswith(REPORT_MARKER)
    again = evaluate_pull(PullInputs(facts(ci_run()), CONFIG), decode_state(report.body))
    assert not [a for a in again.actions if isinstance(a, RequestReviewers)]


def test_an_approval_and_green_checks_pass_and_the_same_inputs_give_the_same_actions() -> None:
    inputs = PullInputs(facts(ci_run(), reviews=(approval("bob"),)), CONFIG)
    done = evaluate_pull(inputs, {"applying": ["training code"]})
    assert done.report.conclusion == "success" and check(done).conclusion == "success"
    assert done == evaluate_pull(inputs, {"applying": ["training code"]})
    assert queue_verdict(done.report) == ("success", ())


def test_a_red_check_fails_and_the_queue_is_told_which() -> None:
    red = evaluate_pull(PullInputs(facts(ci_run("failure"), reviews=(approval("bob"),)), CONFIG), {})
    assert check(red).conclusion == "failure"
    assert queue_verdict(red.report) == ("failure", ("tests: fail",))


def test_an_invalid_config_or_an_unreadable_registry_fails_the_check_with_the_reason() -> None:
    invalid = RepoConfig("invalid", "main", blob_sha="2" * 40, error="merge.batch_size (line 3): unknown key")
    failed = evaluate_pull(PullInputs(facts(ci_run()), invalid), {})
    assert check(failed).conclusion == "failure" and "unknown key" in check(failed).summary
    missing = "review rules use `from_features`, but the feature registry features.yaml does not exist"
    failed = evaluate_pull(PullInputs(facts(ci_run()), CONFIG, registry_error=missing), {})
    assert check(failed).conclusion == "failure" and "features.yaml does not exist" in check(failed).summary


def test_without_a_merge_queue_the_next_step_does_not_say_comment_merge() -> None:
    green = evaluate_pull(PullInputs(facts(ci_run(), reviews=(approval("bob"),)), CONFIG), {}, queue=False)
    assert next_steps(green.report, queue=False) == (NO_QUEUE_STEP,)
    assert any("/merge" in step for step in next_steps(green.report, queue=True))
