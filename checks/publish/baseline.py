"""Find the results a gate compares with: the check run the same action published on the base commit.

- pull request (`pull_request`, `pull_request_target`): the PR's base SHA from the event payload;
- merge group: the event's `base_sha`;
- a push to the merge queue's `mlgate/staging/<base>` or `mlgate/try/<n>`: the base tip the bot
  built the commit on (the merge-base with the base branch, see checks/publish/config_ref.py: a batch of
  several PRs is a chain of merges, so the first parent is not the base tip);
- anything else (a push to `main`, a manual run): the tested commit's first parent, i.e. its
  parent on that branch.

The results are read back from `output.text` of the newest completed `mlgate/<gate>` check run on
that commit. When there is none, the answer is "no baseline", in words that name the commit: mlgate
never walks further back to an older ancestor (codecov/support#181 is what silent fallbacks do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlgate.checks.publish.config_ref import MergeBase, plan, resolve
from mlgate.checks.publish.rest import GitHub, GitHubError
from mlgate.checks.results import SCHEMA_ID
from mlgate.names import GATE_PREFIX as CHECK_PREFIX


@dataclass
class BaselineChoice:
    sha: str | None  # the commit compared with (None: could not be determined)
    relation: str  # "the PR's base commit", "the parent commit", "the given commit"
    results: dict[str, Any] | None  # a results envelope holding the gate, or None
    note: str  # one line for the report
    check_run_id: int | None = None
    check_run_url: str | None = None
    truncated: bool = False


def short(sha: str | None) -> str:
    return (sha or "?")[:7]


def base_commit(event_name: str, event: dict[str, Any], sha: str, gh: GitHub | None,
                explicit: str | None = None, ref: str = "") -> tuple[str | None, str, str | None]:
    """(base SHA, how it relates to the tested commit, why it is unknown when it is)."""
    if explicit:
        return explicit, "the given baseline commit", None
    queue = plan(event_name, event, ref, sha)
    if isinstance(queue, MergeBase):
        found = resolve(queue, gh)
        relation = "the base tip the queue built it on"
        return found.sha, relation, None if found.sha else found.why
    pr = event.get("pull_request")
    if event_name in ("pull_request", "pull_request_target") and isinstance(pr, dict):
        base = (pr.get("base") or {}).get("sha")
        if base:
            return base, f"the base commit of PR #{pr.get('number')}", None
    if event_name == "merge_group":
        base = (event.get("merge_group") or {}).get("base_sha")
        if base:
            return base, "the merge group's base commit", None
    if gh is None:
        return None, "the parent commit", "no GitHub API access to look up the parent"
    try:
        commit = gh.get(gh.repo_path(f"/commits/{sha}"))
    except GitHubError as exc:
        return None, "the parent commit", f"could not read commit {short(sha)}: {exc}"
    parents = commit.get("parents") or []
    if not parents:
        return None, "the parent commit", f"commit {short(sha)} has no parent"
    return parents[0]["sha"], "the parent commit on this branch", None


def _results_of(run: dict[str, Any], gate: str) -> dict[str, Any] | None:
    text = (run.get("output") or {}).get("text") or ""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        return None
    if not any(isinstance(g, dict) and g.get("gate") == gate for g in data.get("gates", [])):
        return None
    return data


def find_baseline(gh: GitHub, gate: str, *, event_name: str, event: dict[str, Any], sha: str,
                  explicit_sha: str | None = None, ref: str = "") -> BaselineChoice:
    """The results of `mlgate/<gate>` on the base commit, or a plain "no baseline" that says why."""
    name = CHECK_PREFIX + gate
    base, relation, why = base_commit(event_name, event, sha, gh, explicit_sha, ref)
    if base is None:
        return BaselineChoice(None, relation, None, f"No baseline: {why}. Only absolute limits apply.")
    try:
        listing = gh.get(gh.repo_path(f"/commits/{base}/check-runs"),
                         params={"check_name": name, "filter": "latest", "per_page": 100})
    except GitHubError as exc:
        return BaselineChoice(base, relation, None,
                              f"No baseline: could not read the {name} check run on {short(base)} ({relation}): "
                              f"{exc}. Only absolute limits apply.")
    runs = [r for r in (listing or {}).get("check_runs", [])
            if r.get("name") == name and r.get("head_sha", base) == base and r.get("status") == "completed"]
    runs.sort(key=lambda r: (r.get("completed_at") or "", r.get("id") or 0), reverse=True)
    for run in runs:
        data = _results_of(run, gate)
        if data is None:
            continue
        truncated = bool(data.get("truncated"))
        note = (f"Baseline: {name} on {short(base)} ({relation}), check run {run.get('id')}"
                f" ({run.get('conclusion') or 'no conclusion'}).")
        if truncated:
            note += " Its stored results were shortened to fit the check run: rows it dropped are not compared."
        return BaselineChoice(base, relation, data, note, run.get("id"), run.get("html_url"), truncated)
    why = f"its {name} check run holds no mlgate results" if runs else f"it has no completed {name} check run"
    return BaselineChoice(base, relation, None,
                          f"No baseline: {short(base)} ({relation}) was not checked ({why}). Only absolute limits "
                          f"apply; mlgate does not compare with older commits.")
