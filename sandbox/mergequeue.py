"""GitHub's own merge queue (a ruleset with "Require merge queue"), enough to test a bot beside it.

What GitHub does, and so does this module:

* `enqueue` (GitHub: the "Merge when ready" button / GraphQL `enqueuePullRequest`; here the admin
  endpoint ``POST /_sandbox/repos/<owner>/<repo>/merge-queue`` with ``{"number": n}``) builds the
  group's commit: the PR's head merged onto the previous group's commit, or onto the base tip
  when the queue is empty. It is pushed to ``refs/heads/gh-readonly-queue/<base>/pr-<n>-<head sha>``
  (a `push` event and check suites follow, like any push) and ``merge_group`` ``checks_requested``
  is sent.
* `advance` runs after every status and check run change: while the first group has every check
  the base branch's protection requires green, the base fast-forwards to the group's commit (the PR
  is merged by that push) and the group is destroyed (reason ``merged``). A required check that
  fails removes its PR (``invalidated``); the groups behind it are rebuilt without it
  (``destroyed`` with reason ``invalidated``, then ``checks_requested`` for the new commits).

Not modelled: grouping several PRs into one group build, the minimum/maximum group sizes and
timeouts, "only merge non-failing PRs". The queue is each repository's ``merge_queue`` list.
"""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import domain, payloads, protection
from mlgate.sandbox.errors import ApiError
from mlgate.sandbox.git import ZERO_SHA, GitRepo
from mlgate.sandbox.store import Store

J = dict[str, Any]
PREFIX = "gh-readonly-queue/"
FAILED = ("failure", "cancelled", "timed_out", "action_required", "stale", "startup_failure", "error")


def group_ref(base: str, number: int, head_sha: str) -> str:
    return f"refs/heads/{PREFIX}{base}/pr-{number}-{head_sha}"


def _head_commit(git: GitRepo, sha: str) -> J:
    info = git.commit(sha)
    return {"id": info.sha, "tree_id": info.tree, "message": info.message, "timestamp": info.committer.date,
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email}}


def _emit(store: Store, dispatcher: Any, repo: J, git: GitRepo, entry: J, action: str, sender: str,
          reason: str | None = None) -> None:
    group = {"head_sha": entry["head_sha"], "head_ref": entry["head_ref"], "base_ref": f"refs/heads/{entry['base']}",
             "base_sha": entry["base_sha"], "head_commit": _head_commit(git, entry["head_sha"])}
    extra = {"reason": reason} if reason else {}
    dispatcher.emit(repo, "merge_group", payloads.envelope(store, repo, sender, action=action, merge_group=group,
                                                           **extra))


def _build(store: Store, dispatcher: Any, repo: J, git: GitRepo, pr: J, parent: str, sender: str) -> J | None:
    """The group commit of `pr` on `parent`, pushed and announced; None when they conflict."""
    merged = git.merge_trees(parent, pr["head_sha"])
    if not merged.clean:
        return None
    person = domain.web_committer()
    message = f"Merge pull request #{pr['number']} from {pr['head_ref']}\n\n{pr.get('title') or ''}".rstrip()
    sha = git.commit_tree(merged.tree, [parent, pr["head_sha"]], message, person, person)
    ref = group_ref(pr["base_ref"], pr["number"], pr["head_sha"])
    entry = {"number": pr["number"], "base": pr["base_ref"], "base_sha": parent, "head_sha": sha, "head_ref": ref,
             "sender": sender}
    old = git.ref_sha(ref)
    git.update_ref(ref, sha)
    domain.on_ref_update(store, dispatcher, repo, ref, old, sha, sender)
    _emit(store, dispatcher, repo, git, entry, "checks_requested", sender)
    return entry


def _destroy(store: Store, dispatcher: Any, repo: J, git: GitRepo, entry: J, reason: str) -> None:
    old = git.ref_sha(entry["head_ref"])
    if old is not None:
        git.delete_ref(entry["head_ref"])
        domain.on_ref_update(store, dispatcher, repo, entry["head_ref"], old, ZERO_SHA, entry["sender"])
    _emit(store, dispatcher, repo, git, entry, "destroyed", entry["sender"], reason)


def enqueue(store: Store, dispatcher: Any, repo: J, number: int, sender: str) -> J:
    """Add an open PR to its base branch's queue (call under the store lock); its group entry."""
    pr = repo["pulls"].get(str(number))
    if pr is None or repo["issues"][str(number)]["state"] != "open":
        raise ApiError(422, f"pull request #{number} is not open")
    queue: list[J] = repo.setdefault("merge_queue", [])
    if any(e["number"] == number for e in queue):
        raise ApiError(422, f"pull request #{number} is already in the merge queue")
    git = GitRepo(store.git_dir(repo))
    same_base = [e for e in queue if e["base"] == pr["base_ref"]]
    parent = same_base[-1]["head_sha"] if same_base else git.ref_sha(f"refs/heads/{pr['base_ref']}")
    if parent is None:
        raise ApiError(422, f"the base branch {pr['base_ref']} does not exist")
    entry = _build(store, dispatcher, repo, git, pr, parent, sender)
    if entry is None:
        raise ApiError(422, f"pull request #{number} conflicts with the merge queue's head")
    queue.append(entry)
    return entry


def _verdict(repo: J, entry: J) -> str:
    """"green", "red" or "waiting" for the checks the base branch requires on the group's commit."""
    rules = protection.rules(repo, entry["base"]) or {}
    required = protection.required_checks(rules)
    if not protection.missing_checks(repo, entry["head_sha"], rules):
        return "green"
    sha = entry["head_sha"]
    for context, app_id in required:
        states = [s["state"] for s in repo["statuses"] if s["sha"] == sha and s["context"] == context]
        runs = sorted((r for r in repo["check_runs"].values() if r["head_sha"] == sha and r["name"] == context
                       and (app_id is None or r["app_id"] == app_id)), key=lambda r: r["id"])
        if (app_id is None and states and states[-1] in FAILED) or \
                (runs and runs[-1]["status"] == "completed" and runs[-1]["conclusion"] in FAILED):
            return "red"
    return "waiting"


def advance(store: Store, dispatcher: Any, repo: J, sender: str) -> None:
    """Merge green groups at the front of each base's queue; drop red ones and rebuild what follows."""
    queue: list[J] = repo.get("merge_queue") or []
    if not queue:
        return
    git = GitRepo(store.git_dir(repo))
    for base in dict.fromkeys(e["base"] for e in queue):
        while True:
            lane = [e for e in repo["merge_queue"] if e["base"] == base]
            if not lane:
                break
            first = lane[0]
            verdict = _verdict(repo, first)
            if verdict == "waiting":
                break
            repo["merge_queue"].remove(first)
            if verdict == "green":
                old = git.ref_sha(f"refs/heads/{base}")
                git.update_ref(f"refs/heads/{base}", first["head_sha"])
                domain.on_ref_update(store, dispatcher, repo, f"refs/heads/{base}", old, first["head_sha"],
                                     first["sender"])
                _destroy(store, dispatcher, repo, git, first, "merged")
                continue
            _destroy(store, dispatcher, repo, git, first, "invalidated")
            parent = git.ref_sha(f"refs/heads/{base}")
            for entry in lane[1:]:  # rebuilt without the failed PR
                repo["merge_queue"].remove(entry)
                _destroy(store, dispatcher, repo, git, entry, "invalidated")
                pr = repo["pulls"][str(entry["number"])]
                rebuilt = _build(store, dispatcher, repo, git, pr, parent or entry["base_sha"], entry["sender"])
                if rebuilt is not None:
                    repo["merge_queue"].append(rebuilt)
                    parent = rebuilt["head_sha"]
