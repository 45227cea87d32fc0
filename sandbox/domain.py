"""Rules that several endpoints (and git pushes) share: PR facts computed from git, what a ref
update does to pull requests, and which webhooks it fires."""

from __future__ import annotations

import time
from typing import Any

from mlgate.sandbox import app_permissions, payloads, perms, protection, render
from mlgate.sandbox.git import ZERO_SHA, GitRepo, Person
from mlgate.sandbox.store import Store, now_iso
from mlgate.sandbox.urls import web_base

J = dict[str, Any]
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def person_for(store: Store, login: str) -> Person:
    rec = store.user(login) or {}
    return Person(name=rec.get("name") or login, email=rec.get("email") or f"{login}@users.noreply.sandbox",
                  date=now_iso())


def web_committer() -> Person:
    """GitHub signs API-made commits as its web-flow committer."""
    return Person(name="GitHub", email="noreply@github.com", date=now_iso())


def head_state(repo: J, sha: str) -> str:
    """'failure' if any status or check on ``sha`` failed, 'pending' if any is unfinished, else 'success'."""
    latest: dict[str, str] = {}
    for st in repo["statuses"]:
        if st["sha"] == sha:
            latest[st["context"]] = st["state"]
    states = list(latest.values())
    for run in repo["check_runs"].values():
        if run["head_sha"] == sha:
            if run["status"] != "completed":
                states.append("pending")
            elif run["conclusion"] in ("failure", "timed_out", "cancelled", "action_required"):
                states.append("failure")
            else:
                states.append("success")
    if any(s in ("failure", "error") for s in states):
        return "failure"
    if any(s == "pending" for s in states):
        return "pending"
    return "success"


def pr_facts(store: Store, repo: J, pr: J, git: GitRepo) -> J:
    """mergeable, mergeable_state, counts and the test merge commit, recomputed when the tips move."""
    issue = repo["issues"][str(pr["number"])]
    if pr.get("merged") and pr.get("facts"):
        return {**pr["facts"], "mergeable": None, "mergeable_state": "unknown"}
    if issue["state"] == "open":
        tip = git.resolve(pr["base_ref"])
        if tip:
            pr["base_sha"] = tip
    key = f"{pr['base_sha']}:{pr['head_sha']}"
    cached = pr.get("facts")
    if cached is None or cached.get("key") != key:
        base_point = git.merge_base(pr["base_sha"], pr["head_sha"]) or EMPTY_TREE
        commits = git.rev_list(pr["head_sha"], f"^{pr['base_sha']}") if base_point != EMPTY_TREE else \
            git.rev_list(pr["head_sha"])
        files = git.diff_files(base_point, pr["head_sha"], with_patch=False)
        merge = git.merge_trees(pr["base_sha"], pr["head_sha"])
        merge_sha = None
        if merge.clean:
            merge_sha = git.commit_tree(
                merge.tree, [pr["base_sha"], pr["head_sha"]],
                f"Merge {pr['head_sha']} into {pr['base_sha']}\n", web_committer(), web_committer(),
            )
            git.update_ref(f"refs/pull/{pr['number']}/merge", merge_sha)
        cached = {
            "key": key,
            "commits": len(commits),
            "additions": sum(f.additions for f in files),
            "deletions": sum(f.deletions for f in files),
            "changed_files": len(files),
            "clean": merge.clean,
            "merge_commit_sha": merge_sha,
        }
        pr["facts"] = cached
    facts = dict(cached)
    if issue["state"] != "open":
        facts.update(mergeable=None, mergeable_state="unknown")
    elif not cached["clean"]:
        facts.update(mergeable=False, mergeable_state="dirty")
    else:
        state = head_state(repo, pr["head_sha"])
        blocked = protection.mergeable_state(store, repo, git, pr)
        facts.update(mergeable=True, mergeable_state=blocked or ("unstable" if state == "failure" else "clean"))
    if pr.get("draft") and issue["state"] == "open":
        facts["mergeable_state"] = "draft"
    return facts


def emit_pull(store: Store, dispatcher: Any, repo: J, pr: J, action: str, sender: str, **extra: Any) -> None:
    facts = pr_facts(store, repo, pr, GitRepo(store.git_dir(repo)))
    payload = payloads.envelope(
        store, repo, sender, action=action, number=pr["number"], **extra,
        pull_request=payloads.pull_request(store, repo, pr, facts),
    )
    dispatcher.emit(repo, "pull_request", payload)


def close_pull(store: Store, dispatcher: Any, repo: J, pr: J, sender: str, merged: bool,
               merge_sha: str | None = None, base_before: str | None = None) -> None:
    """Close (or merge) a PR; ``base_before`` is the base tip it was merged onto, which keeps its
    files and commits listable after the base has moved past it."""
    issue = repo["issues"][str(pr["number"])]
    now = now_iso()
    issue.update(state="closed", closed_at=now, updated_at=now, closed_by=sender)
    if merged:
        pr.update(merged=True, merged_at=now, merged_by=sender, merge_commit_sha=merge_sha,
                  merged_base_sha=base_before or pr["base_sha"])
        if pr.get("facts"):
            pr["facts"]["key"] = "merged"
    emit_pull(store, dispatcher, repo, pr, "closed", sender)


def push_payload(store: Store, repo: J, git: GitRepo, ref: str, old: str, new: str, sender: str,
                 forced: bool) -> J:
    full = f"{repo['owner']}/{repo['name']}"
    commits: list[str] = []
    if new != ZERO_SHA:
        if old != ZERO_SHA:
            commits = git.rev_list(new, f"^{old}")
        else:
            others = [s for r, s in git.refs("refs/heads/").items() if r != ref]
            commits = git.rev_list(new, *[f"^{s}" for s in others])
    commits = commits[-20:]
    person = person_for(store, sender)
    compare = f"{web_base()}/{full}/compare/{old[:12]}...{new[:12]}"
    return payloads.envelope(
        store, repo, sender,
        ref=ref, before=old, after=new,
        created=old == ZERO_SHA, deleted=new == ZERO_SHA, forced=forced,
        base_ref=None, compare=compare,
        commits=[payloads.commit_entry(repo, git, c) for c in commits],
        head_commit=payloads.commit_entry(repo, git, new) if new != ZERO_SHA else None,
        pusher={"name": sender, "email": person.email},
    )


def on_ref_update(store: Store, dispatcher: Any, repo: J, ref: str, old: str | None, new: str | None,
                  sender: str) -> None:
    """Everything GitHub does after a ref moves: push event, PR synchronize, PRs merged by a push."""
    git = GitRepo(store.git_dir(repo))
    old, new = old or ZERO_SHA, new or ZERO_SHA
    if old == new or not ref.startswith(("refs/heads/", "refs/tags/")):
        return
    forced = old != ZERO_SHA and new != ZERO_SHA and not git.is_ancestor(old, new)
    repo["pushed_at"] = now_iso()
    dispatcher.emit(repo, "push", push_payload(store, repo, git, ref, old, new, sender, forced))
    if not ref.startswith("refs/heads/"):
        return
    branch = ref[len("refs/heads/"):]
    if new != ZERO_SHA:
        request_check_suites(store, dispatcher, repo, git, branch, old, new, sender)
    for pr in sorted(repo["pulls"].values(), key=lambda p: p["number"]):
        issue = repo["issues"][str(pr["number"])]
        if issue["state"] != "open":
            continue
        if pr["head_ref"] == branch:
            if new == ZERO_SHA:
                close_pull(store, dispatcher, repo, pr, sender, merged=False)
                continue
            before = pr["head_sha"]
            pr["head_sha"] = new
            issue["updated_at"] = now_iso()
            git.update_ref(f"refs/pull/{pr['number']}/head", new)
            emit_pull(store, dispatcher, repo, pr, "synchronize", sender, before=before, after=new)
            dismiss_stale_approvals(store, dispatcher, repo, pr, sender)
        if pr["base_ref"] == branch and new != ZERO_SHA and git.is_ancestor(pr["head_sha"], new):
            # the PR's commits reached its base (a fast-forward by a merge bot, or a manual push):
            # GitHub notices in the background, later (merges.MergeDetector), not in this push
            store.state.setdefault("pending_merges", []).append({
                "repo": f"{repo['owner']}/{repo['name']}", "number": pr["number"], "sender": sender,
                "base_before": old if old != ZERO_SHA else None, "at": time.time()})


def dismiss_stale_approvals(store: Store, dispatcher: Any, repo: J, pr: J, sender: str) -> None:
    """With ``dismiss_stale_reviews`` on the base, a push dismisses approvals of older heads."""
    reviews = (protection.rules(repo, pr["base_ref"]) or {}).get("required_pull_request_reviews") or {}
    if not reviews.get("dismiss_stale_reviews"):
        return
    for rev in repo["reviews"].values():
        if rev["pull_number"] == pr["number"] and rev["state"] == "APPROVED" and rev["commit_id"] != pr["head_sha"]:
            rev["state"] = "DISMISSED"
            payload = payloads.envelope(store, repo, sender, action="dismissed",
                                        review=payloads.review(store, repo, rev),
                                        pull_request=payloads.simple_pull_request(store, repo, pr))
            dispatcher.emit(repo, "pull_request_review", payload)


def branches_containing(git: GitRepo, sha: str) -> list[str]:
    out = git.out("for-each-ref", "--contains", sha, "--format=%(refname:short)", "refs/heads/")
    return [b for b in out.split() if b][:10]


def check_suite_for(store: Store, repo: J, app_id: int, head_sha: str) -> J:
    """GitHub keeps one suite per app and head commit; check runs create it on demand."""
    for suite in repo["check_suites"].values():
        if suite["app_id"] == app_id and suite["head_sha"] == head_sha:
            return suite
    git = GitRepo(store.git_dir(repo))
    branches = branches_containing(git, head_sha)
    suite = {
        "id": store.next_id("check_suite"),
        "app_id": app_id,
        "head_sha": head_sha,
        "head_branch": branches[0] if branches else None,
        "before": None,
        "after": head_sha,
        "created_at": now_iso(),
        "updated_at": now_iso(),
        "completed_sent": False,
    }
    repo["check_suites"][str(suite["id"])] = suite
    return suite


def request_check_suites(store: Store, dispatcher: Any, repo: J, git: GitRepo, branch: str, old: str, new: str,
                         sender: str) -> None:
    """GitHub creates a check suite per installed App for a pushed head and tells only that App
    (``check_suite`` ``requested``), so CI-like Apps know to start."""
    for inst in store.state["installations"].values():
        if not perms.installed_on(inst, repo):
            continue
        app = store.state["apps"][str(inst["app_id"])]
        granted = inst.get("permissions") or app_permissions.normalise(app.get("permissions"))
        # GitHub asks the Apps that may write checks and subscribed to check_suite
        if not app_permissions.covers(granted, "checks", "write"):
            continue
        if not app_permissions.delivers(app.get("events", []), granted, "check_suite"):
            continue
        suite = check_suite_for(store, repo, app["id"], new)
        suite.update(head_branch=branch, before=old, after=new)
        payload = payloads.envelope(store, repo, sender, action="requested",
                                    check_suite=payloads.check_suite(store, repo, suite, git))
        payload["installation"] = payloads.installation_lite(inst["id"])
        dispatcher.emit_app(app, "check_suite", payload, inst["id"])


def after_check_run_change(store: Store, dispatcher: Any, repo: J, suite: J, sender: str) -> None:
    """A suite whose runs have all completed fires ``check_suite`` completed once."""
    runs = [r for r in repo["check_runs"].values() if r["suite_id"] == suite["id"]]
    status, _ = render.suite_state(runs)
    suite["updated_at"] = now_iso()
    if status == "completed" and not suite.get("completed_sent"):
        suite["completed_sent"] = True
        git = GitRepo(store.git_dir(repo))
        payload = payloads.envelope(store, repo, sender, action="completed",
                                    check_suite=payloads.check_suite(store, repo, suite, git))
        dispatcher.emit(repo, "check_suite", payload)
    elif status != "completed":
        suite["completed_sent"] = False
