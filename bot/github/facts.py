"""Plain data the bot's decisions are made on: a snapshot of a pull request and its surroundings.

Decision code (commands, review, gates, report) sees only these frozen dataclasses, never PyGithub
objects, so it can be tested with literals and replayed from stored state. `bot/github/client.py`
builds them from the API, `bot/github/payloads.py` from webhook payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Permission(str, Enum):
    """A user's permission on a repository, ordered from least to most."""

    NONE = "none"
    READ = "read"
    TRIAGE = "triage"
    WRITE = "write"
    MAINTAIN = "maintain"
    ADMIN = "admin"

    @property
    def level(self) -> int:
        return list(Permission).index(self)

    def at_least(self, other: Permission) -> bool:
        return self.level >= other.level


@dataclass(frozen=True)
class Review:
    """One submitted review. `commit_id` is the head SHA it was given on."""

    id: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    commit_id: str
    submitted_at: str  # ISO 8601; reviews are applied in this order


@dataclass(frozen=True)
class CheckRun:
    """A check run (or a commit status, with `app` None and `kind` "status") on a SHA."""

    name: str
    status: str  # queued, in_progress, completed (statuses: pending or completed)
    conclusion: str | None  # success, failure, neutral, cancelled, skipped, timed_out, action_required
    app: str | None  # slug of the app that reported it; None for a commit status
    head_sha: str
    id: int | None = None
    details_url: str | None = None
    summary: str | None = None  # output.summary
    text: str | None = None  # output.text: the actions put the results JSON here
    kind: str = "check_run"  # or "status"


@dataclass(frozen=True)
class ChangedFile:
    filename: str
    status: str  # added, removed, modified, renamed, …
    previous_filename: str | None = None


@dataclass(frozen=True)
class PullFacts:
    """Everything the gates and the report need about one pull request, at one moment."""

    repo: str  # owner/name
    number: int
    title: str
    author: str
    state: str  # open, closed
    merged: bool
    draft: bool
    head_sha: str
    head_ref: str
    head_repo: str  # owner/name of the head repository (a fork differs from `repo`)
    base_ref: str
    base_sha: str
    labels: tuple[str, ...] = ()
    files: tuple[ChangedFile, ...] = ()
    reviews: tuple[Review, ...] = ()
    checks: tuple[CheckRun, ...] = ()  # on head_sha
    team_members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "org/team" -> logins
    changed_files: int | None = None  # GitHub's count of the PR's changed files (None: not known)

    @property
    def unlisted_files(self) -> int:
        """Changed files GitHub did not list (it lists at most 3,000 of a PR's files)."""
        return max(0, self.changed_files - len(self.files)) if self.changed_files is not None else 0

    @property
    def changed_paths(self) -> tuple[str, ...]:
        paths: list[str] = []
        for f in self.files:
            paths.append(f.filename)
            if f.previous_filename:
                paths.append(f.previous_filename)
        return tuple(paths)


STATUS_MAP = {  # commit status state -> (check status, conclusion)
    "pending": ("pending", None),
    "success": ("completed", "success"),
    "failure": ("completed", "failure"),
    "error": ("completed", "failure"),  # an errored status is a failed one; its description says why
}


STATUS_DESCRIPTION_LIMIT = 140  # GitHub's limit on a commit status's description


def check_as_status(status: str, conclusion: str | None, title: str) -> tuple[str, str]:
    """(state, description) of the commit status that stands for a check run in token mode: GitHub
    refuses check runs to anything but an App, so a user's token reports the verdict as a status.
    Queued or running is `pending`; success, neutral and skipped are `success`; anything else
    (failure, cancelled, timed out, action required) is `failure`."""
    if status != "completed":
        state = "pending"
    else:
        state = "success" if conclusion in ("success", "neutral", "skipped") else "failure"
    text = " ".join(title.split())
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        text = text[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
    return state, text
