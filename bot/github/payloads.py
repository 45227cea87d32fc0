"""Reading GitHub's webhook payloads, pure and defensive: a missing or mistyped field reads as None.

Payloads come from GitHub, but the bot must never fail a delivery on a field it did not expect
(GitHub adds fields, and some events leave others out), so every reader here checks types and
returns plain data (`mlgate.bot.github.facts`) or None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mlgate.bot.github.facts import CheckRun


def dig(data: object, *keys: str) -> Any:
    """`data[k1][k2]…`, or None as soon as one level is not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def parse_time(value: object) -> float | None:
    """Seconds since the epoch from GitHub's ISO 8601 timestamp ("2026-11-27T10:00:00Z"); None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def repo_name(payload: Mapping[str, Any]) -> str | None:
    """The repository's "owner/name", or None."""
    name = dig(payload, "repository", "full_name")
    return name if isinstance(name, str) and "/" in name else None


def _id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def check_run_of(payload: Mapping[str, Any]) -> CheckRun | None:
    """The check run of a `check_run` event, as reported."""
    run = payload.get("check_run")
    if not isinstance(run, Mapping) or not isinstance(run.get("head_sha"), str) or not isinstance(run.get("name"), str):
        return None
    return CheckRun(
        name=run["name"], status=str(run.get("status") or "queued"), conclusion=_text(run.get("conclusion")),
        app=_text(dig(run, "app", "slug")), head_sha=run["head_sha"], id=_id(run.get("id")),
        details_url=_text(run.get("details_url") or run.get("html_url")), text=_text(dig(run, "output", "text")))


def status_of(payload: Mapping[str, Any]) -> CheckRun | None:
    """The commit status of a `status` event as a CheckRun of kind "status" (an errored status failed)."""
    sha, context, state = payload.get("sha"), payload.get("context"), payload.get("state")
    if not (isinstance(sha, str) and isinstance(context, str) and isinstance(state, str)):
        return None
    done = state != "pending"
    return CheckRun(
        name=context, status="completed" if done else "in_progress",
        conclusion={"error": "failure"}.get(state, state) if done else None, app=None, head_sha=sha,
        id=_id(payload.get("id")), details_url=_text(payload.get("target_url")), kind="status")


def pulls_with_head(payload: Mapping[str, Any], pulls: object, sha: str) -> set[int]:
    """The PR numbers a check run or suite lists (`pull_requests`) with that head, in this repository."""
    repo = repo_name(payload)
    numbers: set[int] = set()
    for pr in pulls if isinstance(pulls, list) else ():
        number = pr.get("number") if isinstance(pr, Mapping) else None
        head = dig(pr, "head", "sha")
        base_repo = dig(pr, "base", "repo", "name")
        if repo and isinstance(number, int) and head in (None, sha) and base_repo in (None, repo.split("/")[1]):
            numbers.add(number)
    return numbers


@dataclass(frozen=True)
class PullComment:
    """A new comment on a pull request (an `issue_comment` event), as the command handler needs it."""

    repo: str
    number: int
    comment_id: int
    user: str
    body: str
    from_bot: bool  # the commenter is an app (GitHub's user type "Bot", or a login ending in [bot])
    created_at: float | None  # GitHub's time of the comment: what a command approves is decided by it
    default_branch: str | None


def pull_comment_of(payload: Mapping[str, Any]) -> PullComment | None:
    """The comment of a `created` issue_comment event on a PR; None for edits, deletions, issues, bad data."""
    repo, comment = repo_name(payload), payload.get("comment")
    number = dig(payload, "issue", "number")
    if (
        payload.get("action") != "created"  # edits are not re-executed, deletions not answered
        or not repo
        or not isinstance(comment, Mapping)
        or not isinstance(number, int)
        or not isinstance(dig(payload, "issue", "pull_request"), Mapping)  # commands act on PRs only
    ):
        return None
    user, body, comment_id = dig(comment, "user", "login"), comment.get("body"), comment.get("id")
    if not isinstance(user, str) or not isinstance(body, str) or not isinstance(comment_id, int):
        return None
    from_bot = dig(comment, "user", "type") == "Bot" or user.endswith("[bot]")
    return PullComment(repo, number, comment_id, user, body, from_bot, parse_time(comment.get("created_at")),
                       _text(dig(payload, "repository", "default_branch")))


# --- GitHub's own merge queue (`merge_group` events and the checks on its group commits) -------------
_GROUP_BRANCH = re.compile(r"^gh-readonly-queue/(?P<base>.+)/pr-[0-9]+-[0-9a-f]{40}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class MergeGroup:
    """One group commit of GitHub's merge queue: its SHA and branch, and the base it goes into."""

    repo: str
    head_sha: str
    head_ref: str  # gh-readonly-queue/<base>/pr-<n>-<sha> (without refs/heads/)
    base_ref: str  # the base branch (without refs/heads/)
    base_sha: str | None  # the commit the group was built on (None: not known from this payload)


def base_of_group_branch(branch: object) -> str | None:
    """The base branch of a merge-group branch `gh-readonly-queue/<base>/pr-<n>-<sha>`, else None."""
    if not isinstance(branch, str):
        return None
    found = _GROUP_BRANCH.match(branch.removeprefix("refs/heads/"))
    return found.group("base") if found else None


def merge_group_of(payload: Mapping[str, Any]) -> MergeGroup | None:
    """The group of a `merge_group` event, or None when a field is missing or malformed."""
    repo, group = repo_name(payload), payload.get("merge_group")
    if repo is None or not isinstance(group, Mapping):
        return None
    head, head_ref, base_ref, base = (group.get(k) for k in ("head_sha", "head_ref", "base_ref", "base_sha"))
    if not (isinstance(head, str) and _SHA.match(head) and isinstance(base, str) and _SHA.match(base)):
        return None
    if not (isinstance(base_ref, str) and base_ref.startswith("refs/heads/")) or base_of_group_branch(head_ref) is None:
        return None
    return MergeGroup(repo, head, str(head_ref).removeprefix("refs/heads/"), base_ref.removeprefix("refs/heads/"),
                      base)


def group_of_check(payload: Mapping[str, Any], sha: str) -> MergeGroup | None:
    """The merge group a `check_run` or `status` event's commit belongs to, from the branch the event
    names (`check_run.check_suite.head_branch`; a status's `branches`); its base SHA is not in them."""
    repo = repo_name(payload)
    if repo is None or not _SHA.match(sha):
        return None
    names: list[object] = [dig(payload, "check_run", "check_suite", "head_branch"),
                           dig(payload, "check_suite", "head_branch")]
    branches = payload.get("branches")
    names += [b.get("name") for b in branches if isinstance(b, Mapping)] if isinstance(branches, list) else []
    for name in names:
        base = base_of_group_branch(name)
        if base is not None:
            return MergeGroup(repo, sha, str(name), base, None)
    return None
