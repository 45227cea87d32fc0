"""Reading GitHub's webhook payloads (bot/github/payloads.py): pure, and never failing on odd data."""

from __future__ import annotations

from typing import Any

import pytest

from mlgate.bot.github.facts import CheckRun
from mlgate.bot.github.payloads import check_run_of, dig, pull_comment_of, pulls_with_head, repo_name, status_of

REPO = {"repository": {"full_name": "acme/ml", "name": "ml", "default_branch": "main"}}
SHA = "a" * 40


def test_dig_and_repo_name_read_nested_fields_or_none() -> None:
    assert dig({"a": {"b": 1}}, "a", "b") == 1 and dig({"a": [1]}, "a", "b") is None and dig(None, "a") is None
    assert repo_name(REPO) == "acme/ml"
    assert repo_name({"repository": {"full_name": "no-slash"}}) is None and repo_name({}) is None


def test_a_check_run_as_reported() -> None:
    run = {"name": "tests", "status": "completed", "conclusion": "success", "head_sha": SHA, "id": 9,
           "app": {"slug": "circleci"}, "html_url": "https://ci/9", "output": {"text": "{}"}}
    assert check_run_of({"check_run": run}) == CheckRun("tests", "completed", "success", "circleci", SHA, id=9,
                                                        details_url="https://ci/9", text="{}")
    odd = {**run, "id": True, "conclusion": 3, "app": "x", "status": None}
    assert check_run_of({"check_run": odd}) == CheckRun("tests", "queued", None, None, SHA, details_url="https://ci/9",
                                                        text="{}")
    assert check_run_of({"check_run": {"name": "x"}}) is None and check_run_of({}) is None


def test_a_commit_status_is_a_check_run_of_kind_status_and_an_error_failed() -> None:
    errored = status_of({"sha": SHA, "context": "ci/legacy", "state": "error", "target_url": "https://ci", "id": 4})
    assert errored == CheckRun("ci/legacy", "completed", "failure", None, SHA, id=4, details_url="https://ci",
                               kind="status")
    pending = status_of({"sha": SHA, "context": "ci/legacy", "state": "pending"})
    assert pending is not None and (pending.status, pending.conclusion) == ("in_progress", None)
    assert status_of({"sha": SHA, "context": 1, "state": "success"}) is None


def test_listed_pulls_count_only_with_this_head_in_this_repository() -> None:
    pulls = [{"number": 1, "head": {"sha": SHA}, "base": {"repo": {"name": "ml"}}},
             {"number": 2, "head": {"sha": "b" * 40}, "base": {"repo": {"name": "ml"}}},
             {"number": 3, "head": {"sha": SHA}, "base": {"repo": {"name": "other"}}},
             {"number": 4}, {"number": "5"}, "junk"]
    assert pulls_with_head(REPO, pulls, SHA) == {1, 4}
    assert pulls_with_head(REPO, None, SHA) == set() and pulls_with_head({}, pulls, SHA) == set()


def comment(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        **REPO, "action": "created", "issue": {"number": 7, "pull_request": {}},
        "comment": {"id": 55, "body": "/merge", "user": {"login": "alice", "type": "User"},
                    "created_at": "2026-11-28T10:00:00Z"},
    }
    payload.update(changes)
    return payload


def test_a_new_comment_on_a_pull_request() -> None:
    c = pull_comment_of(comment())
    assert c is not None and (c.repo, c.number, c.comment_id, c.user, c.body) == ("acme/ml", 7, 55, "alice", "/merge")
    assert c.created_at == 1_795_860_000.0 and c.default_branch == "main" and not c.from_bot


@pytest.mark.parametrize("changes", [
    {"action": "edited"}, {"action": "deleted"}, {"issue": {"number": 7}},  # edits, deletions, plain issues
    {"comment": {"id": 55, "body": None, "user": {"login": "alice"}}}, {"issue": {"number": "7", "pull_request": {}}},
    {"repository": {"full_name": 3}},
])
def test_anything_else_is_not_a_command_comment(changes: dict[str, Any]) -> None:
    assert pull_comment_of(comment(**changes)) is None


def test_apps_are_recognised_by_type_or_login() -> None:
    by_type = comment(comment={"id": 1, "body": "/merge", "user": {"login": "ci", "type": "Bot"}})
    by_login = comment(comment={"id": 1, "body": "/merge", "user": {"login": "renovate[bot]", "type": "User"}})
    read = [pull_comment_of(p) for p in (by_type, by_login)]
    assert all(c is not None and c.from_bot for c in read)
