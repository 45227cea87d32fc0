"""Which commit's config judges a CI run: the one place that decides it (`mlgate publish config-ref`).

The limits that judge a change come from the commit the change is going onto, never from the
change itself (a config change takes effect after it lands, like the review rules):

- `pull_request`, `pull_request_target`: `pull_request.base.sha` from the event;
- `merge_group`: `merge_group.base_sha` from the event;
- a push to `mlgate/staging/<base>` (the merge queue): the merge-base of the pushed commit and
  `<base>`, i.e. the base tip the bot built the staging commit on;
- a push to `mlgate/try/<n>` (`/try`): the merge-base of the pushed commit and PR #n's base branch,
  read from the API (the branch name holds only the number);
- anything else (a push to the default branch after a merge, a manual run): the commit itself,
  since what landed is judged by its own config.

`plan` is pure (the event in, a decision out); `resolve` asks GitHub the one or two questions a
queue branch needs (`GET /pulls/{n}`, `GET /compare/{base}...{sha}`). Reading them from the API
rather than the checkout keeps the answer independent of anything the job's earlier steps did to
`.git`, and gives the gates job and the publish job (which never checks out the repository) the
same answer. The same merge-base is the baseline commit of a queue branch (baseline_discovery).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mlgate.checks.publish.rest import GitHub, GitHubError
from mlgate.names import STAGING_BRANCH_PREFIX, TRY_BRANCH_PREFIX, staging_base

STAGING_PREFIX = f"refs/heads/{STAGING_BRANCH_PREFIX}"
TRY_PREFIX = f"refs/heads/{TRY_BRANCH_PREFIX}"
_PR_EVENTS = ("pull_request", "pull_request_target")


@dataclass(frozen=True)
class Known:
    """The commit is known from the event alone."""

    sha: str
    why: str


@dataclass(frozen=True)
class MergeBase:
    """A queue branch: the merge-base of `sha` with `branch` (or with PR #`pr`'s base branch)."""

    sha: str
    why: str
    branch: str | None = None
    pr: int | None = None


@dataclass(frozen=True)
class Unknown:
    why: str


Plan = Known | MergeBase | Unknown


def plan(event_name: str, event: dict[str, Any], ref: str, sha: str) -> Plan:
    """Decide from the run's facts alone (GITHUB_EVENT_NAME, the event payload, GITHUB_REF, GITHUB_SHA)."""
    if event_name in _PR_EVENTS:
        pr = event.get("pull_request")
        base = (pr.get("base") or {}).get("sha") if isinstance(pr, dict) else None
        if not isinstance(pr, dict) or not base:
            return Unknown(f"the {event_name} event has no pull_request.base.sha")
        return Known(base, f"the base commit of PR #{pr.get('number')}")
    if event_name == "merge_group":
        base = (event.get("merge_group") or {}).get("base_sha")
        if not base:
            return Unknown("the merge_group event has no merge_group.base_sha")
        return Known(base, "the merge group's base commit")
    if not sha:
        return Unknown("GITHUB_SHA is not set")
    if ref.startswith(STAGING_PREFIX) and ref[len(STAGING_PREFIX):]:
        base = staging_base(ref[len(STAGING_PREFIX):])  # a speculative build's ref: mlgate/staging/<base>@<n>
        return MergeBase(sha, f"the tip of {base} the staging commit was built on (merge-base with {base})",
                         branch=base)
    if ref.startswith(TRY_PREFIX):
        number = ref[len(TRY_PREFIX):]
        if not re.fullmatch(r"[1-9][0-9]*", number):
            return Unknown(f"{ref} is not a try branch of the bot (mlgate/try/<pull request number>)")
        return MergeBase(sha, f"the tip of PR #{number}'s base branch the try commit was built on", pr=int(number))
    where = ref.removeprefix("refs/heads/") or "this ref"
    return Known(sha, f"the commit itself ({event_name or 'a run'} on {where}: what landed is judged by its own "
                      f"config)")


@dataclass(frozen=True)
class Resolved:
    sha: str | None  # None: could not be determined (then nothing may be judged)
    why: str  # one line: which commit and how it was chosen, or why it is unknown


def resolve(decision: Plan, gh: GitHub | None) -> Resolved:
    """Carry out a plan: the queue branches need the API."""
    if isinstance(decision, Known):
        return Resolved(decision.sha, decision.why)
    if isinstance(decision, Unknown):
        return Resolved(None, decision.why)
    if gh is None:
        return Resolved(None, f"{decision.why}: needs the GitHub API, and there is no repository to ask")
    branch = decision.branch
    try:
        if branch is None:
            pull = gh.get(gh.repo_path(f"/pulls/{decision.pr}")) or {}
            branch = ((pull.get("base") or {}).get("ref")) or None
            if not branch:
                return Resolved(None, f"PR #{decision.pr} has no base branch in the API's answer")
        compare = gh.get(gh.repo_path(f"/compare/{quote(branch, safe='/')}...{decision.sha}")) or {}
    except GitHubError as exc:
        return Resolved(None, f"{decision.why}: could not ask GitHub ({exc})")
    merge_base = (compare.get("merge_base_commit") or {}).get("sha")
    if not merge_base:
        return Resolved(None, f"{decision.why}: {decision.sha[:12]} and {branch} have no common commit")
    why = decision.why
    if decision.pr is not None:
        why = f"the tip of {branch} (PR #{decision.pr}'s base branch) the try commit was built on " \
              f"(merge-base with {branch})"
    return Resolved(merge_base, why)
