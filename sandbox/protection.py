"""Branch protection: which updates of a protected branch GitHub would refuse, and why.

Used by the refs/merges/contents endpoints, the PR merge endpoint and (through a pre-receive hook,
see ``prereceive.py``) by ``git push``, so every way of moving a branch obeys the same rules.
"""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import perms
from mlgate.sandbox.git import ZERO_SHA, GitRepo
from mlgate.sandbox.store import Store

J = dict[str, Any]
PASSING = ("success", "neutral", "skipped")


def rules(repo: J, branch: str) -> J | None:
    return repo.get("protection", {}).get(branch)


def _bypass(r: J, role: str | None) -> bool:
    return role == "admin" and not r.get("enforce_admins", False)


def required_checks(r: J) -> list[tuple[str, int | None]]:
    rsc = r.get("required_status_checks") or {}
    found: dict[str, int | None] = {c: None for c in rsc.get("contexts", [])}
    for check in rsc.get("checks", []):
        app_id = check.get("app_id")
        found[check["context"]] = None if app_id in (None, -1) else int(app_id)
    return list(found.items())


def missing_checks(repo: J, sha: str, r: J) -> list[str]:
    """Required contexts without a passing status or check run on ``sha`` (a pinned app must be the
    one that reported it, so a collaborator cannot forge the check with a status)."""
    missing = []
    for context, app_id in required_checks(r):
        ok = False
        if app_id is None:
            latest = None
            for st in repo["statuses"]:
                if st["sha"] == sha and st["context"] == context:
                    latest = st["state"]
            ok = latest == "success"
        if not ok:
            runs = [run for run in repo["check_runs"].values() if run["head_sha"] == sha and run["name"] == context
                    and (app_id is None or run["app_id"] == app_id)]
            runs.sort(key=lambda run: run["id"])
            ok = bool(runs) and runs[-1]["status"] == "completed" and runs[-1]["conclusion"] in PASSING
        if not ok:
            missing.append(context)
    return missing


def check_push(store: Store, repo: J, git: GitRepo, branch: str, old: str | None, new: str | None,
               role: str | None) -> str | None:
    """Why GitHub would refuse moving ``branch`` from ``old`` to ``new`` outside a PR merge, or None."""
    r = rules(repo, branch)
    if r is None:
        return None
    old, new = old or ZERO_SHA, new or ZERO_SHA
    bypass = _bypass(r, role)
    if new == ZERO_SHA:
        return None if r.get("allow_deletions") or bypass else "Cannot delete this protected branch"
    if old != ZERO_SHA and not git.is_ancestor(old, new) and not r.get("allow_force_pushes") and not bypass:
        return "Cannot force-push to this branch"
    if bypass:
        return None
    if r.get("required_pull_request_reviews"):
        return "Changes must be made through a pull request."
    if r.get("required_linear_history"):
        span = [new] if old == ZERO_SHA else git.rev_list(new, f"^{old}")
        if any(len(git.commit(c).parents) > 1 for c in span):
            return "This branch must not contain merge commits."
    missing = missing_checks(repo, new, r)
    if missing:
        return f'Required status check "{missing[0]}" is expected.' if len(missing) == 1 else \
            f"{len(missing)} of {len(required_checks(r))} required status checks are expected."
    return None


def approvals(store: Store, repo: J, pr: J) -> tuple[int, bool]:
    """(approvals from writers other than the author, whether anyone's latest review requests changes)."""
    author = repo["issues"][str(pr["number"])]["user"]
    latest: dict[str, str] = {}
    for rev in sorted(repo["reviews"].values(), key=lambda x: x["id"]):
        if rev["pull_number"] == pr["number"] and rev["state"] in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[rev["user"]] = rev["state"]
    count = sum(1 for u, s in latest.items() if s == "APPROVED" and u != author
                and perms.at_least(perms.user_role(store, repo, u), "write"))
    return count, any(s == "CHANGES_REQUESTED" for s in latest.values())


def merge_problem(store: Store, repo: J, git: GitRepo, pr: J, role: str | None) -> str | None:
    """Why ``PUT /pulls/{n}/merge`` must be refused by the base branch's protection, or None."""
    r = rules(repo, pr["base_ref"])
    if r is None or _bypass(r, role):
        return None
    reviews = r.get("required_pull_request_reviews")
    if reviews:
        count, changes = approvals(store, repo, pr)
        need = int(reviews.get("required_approving_review_count", 1))
        if changes:
            return "Changes must be made through a pull request. Changes were requested."
        if count < need:
            noun = "review is" if need == 1 else "reviews are"
            return f"At least {need} approving {noun} required by reviewers with write access."
    missing = missing_checks(repo, pr["head_sha"], r)
    if missing:
        return f'Required status check "{missing[0]}" is expected.' if len(missing) == 1 else \
            f"{len(missing)} of {len(required_checks(r))} required status checks are expected."
    base = git.resolve(pr["base_ref"])
    if (r.get("required_status_checks") or {}).get("strict") and base and not git.is_ancestor(base, pr["head_sha"]):
        return "Head branch is not up to date with the base branch."
    return None


def mergeable_state(store: Store, repo: J, git: GitRepo, pr: J) -> str | None:
    """'blocked' or 'behind' when protection would refuse the merge for a non-admin, else None."""
    r = rules(repo, pr["base_ref"])
    if r is None:
        return None
    problem = merge_problem(store, repo, git, pr, role=None)
    if problem is None:
        return None
    return "behind" if problem.startswith("Head branch is not up to date") else "blocked"
