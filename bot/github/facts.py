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

    @property
    def changed_paths(self) -> tuple[str, ...]:
        paths: list[str] = []
        for f in self.files:
            paths.append(f.filename)
            if f.previous_filename:
                paths.append(f.previous_filename)
        return tuple(paths)

