"""The writes a PR's decisions ask for: plain values that the Executor (executor.py) applies through the Forge.

The deciding functions (pr/evaluation.py for the report, the `mlgate` check and review requests;
commands/plan.py for replies and reactions) never call GitHub; they return a list of these. That
keeps every decision testable without HTTP and makes a dry run a matter of printing the list. The
merge queue and the deployments decide their own kinds of actions (queue/model.py,
deploy/decisions.py), which their runners carry out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpsertReport:
    """Create or edit in place the one report comment of a PR (found by its hidden marker)."""

    repo: str
    number: int
    body: str


@dataclass(frozen=True)
class Reply:
    """A new comment answering a command (help, refusal, parse error)."""

    repo: str
    number: int
    body: str


@dataclass(frozen=True)
class React:
    """A reaction on a comment: "+1" acknowledges an accepted command, "confused" a refused one."""

    repo: str
    comment_id: int
    content: str


@dataclass(frozen=True)
class SetCheck:
    """Create or update the check run `name` on `sha` (completed when `conclusion` is set)."""

    repo: str
    sha: str
    name: str
    status: str  # queued, in_progress, completed
    conclusion: str | None
    title: str
    summary: str
    text: str | None = None


@dataclass(frozen=True)
class RequestReviewers:
    repo: str
    number: int
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()


Action = UpsertReport | Reply | React | SetCheck | RequestReviewers
