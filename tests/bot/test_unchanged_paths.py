"""`approvals_on: unchanged_paths`, read from GitHub: an approval of an older commit still counts for a
rule when the head descends from it and none of the rule's paths changed since (bot/pr/gather.py reads
the compare, bot/pr/review.py decides)."""

from __future__ import annotations

from mlgate.bot.github.facts import Review
from mlgate.bot.pr.evaluation import evaluate_pull
from mlgate.bot.pr.gather import gather_inputs
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.checks.config.models import parse_config
from tests.bot.fake_forge import FakeForge

REPO, OLD, HEAD = "acme/ml", "0" * 40, "a" * 40
TEXT = """\
review:
  rules:
    - name: training code
      paths: ["train/**"]
      users: [bob]
      approvals_on: {mode}
merge:
  required_checks: [tests]
"""


def status(mode: str, compare: tuple[str, ...] | None) -> tuple[str, FakeForge]:
    forge = FakeForge()
    forge.add_pull(REPO, 7, author="carol", head_sha=HEAD, files=("train/model.py", "README.md"))
    facts = forge.update_pull(REPO, 7, reviews=(Review(1, "bob", "APPROVED", OLD, "2026-01-01T00:00:00Z"),))
    forge.compare = {(REPO, OLD, HEAD): compare} if compare is not None else {}  # type: ignore[attr-defined]
    config = RepoConfig("file", "main", blob_sha="1" * 40, config=parse_config(TEXT.format(mode=mode)),
                        sha256="sha256:" + "c" * 64)
    inputs = gather_inputs(forge, facts, config)
    evaluation = evaluate_pull(inputs, {})
    (row,) = [r for r in evaluation.report.rows if r.kind == "review"]
    return row.state.value, forge


def test_an_older_approval_counts_when_the_rules_paths_did_not_change_since() -> None:
    found, forge = status("unchanged_paths", ("README.md",))
    assert found == "success"
    assert ("changed_paths", REPO, OLD, HEAD) in forge.reads


def test_it_is_stale_when_a_rule_path_changed_since() -> None:
    assert status("unchanged_paths", ("train/model.py",))[0] == "failure"


def test_it_is_stale_when_the_head_does_not_descend_from_the_approved_commit() -> None:
    assert status("unchanged_paths", None)[0] == "failure"  # a force-push, or too many files


def test_head_mode_never_asks_for_the_diff() -> None:
    found, forge = status("head", ("README.md",))
    assert found == "failure"
    assert not [r for r in forge.reads if r[0] == "changed_paths"]
