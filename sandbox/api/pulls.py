"""Pull requests, their merge, reviews and review requests.  Facts (mergeable, files, commits)
always come from git, never from what a client claimed."""

from __future__ import annotations

from typing import Any

from flask import request

from mlgate.sandbox import domain, payloads, perms, protection, render
from mlgate.sandbox.ctx import actor, body, get_repo, git, item, page_window, paginate, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso

router = Router("pulls")
J = dict[str, Any]
MERGE_METHODS = ("merge", "squash", "rebase")
MAX_LISTED_FILES = 3000  # GET /pulls/{n}/files
MAX_LISTED_COMMITS = 250  # GET /pulls/{n}/commits


def get_pull(rec: J, number: Any) -> J:
    try:
        return item(rec["pulls"], int(number))
    except ValueError as exc:
        raise not_found() from exc


def full_pull(rec: J, pr: J) -> J:
    facts = domain.pr_facts(store(), rec, pr, git(rec))
    return render.pull(store(), rec, pr, facts)


def _branch_name(rec: J, head: str) -> str:
    if ":" in head:
        owner, head = head.split(":", 1)
        if owner != rec["owner"]:
            raise validation("PullRequest", "Pull requests from forks are not supported by the sandbox",
                             field="head", code="invalid")
    return head


@router.route("GET", "/repos/{owner}/{repo}/pulls")
def list_pulls(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    state = request.args.get("state", "open")
    head = request.args.get("head")
    base = request.args.get("base")
    out = []
    for pr in sorted(rec["pulls"].values(), key=lambda p: -p["number"]):
        iss = rec["issues"][str(pr["number"])]
        if state != "all" and iss["state"] != state:
            continue
        if head and pr["head_ref"] != _branch_name(rec, head):
            continue
        if base and pr["base_ref"] != base:
            continue
        out.append(render.pull(store(), rec, pr))
    if request.args.get("direction") == "asc":
        out.reverse()
    return paginate(out)


@router.route("POST", "/repos/{owner}/{repo}/pulls")
def create_pull(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    login = actor()
    data = body()
    g = git(rec)
    for key in ("head", "base"):
        if not data.get(key):
            raise validation("PullRequest", f"{key} is missing", field=key, code="missing_field")
    if not data.get("title") and not data.get("issue"):
        raise validation("PullRequest", "title is missing", field="title", code="missing_field")
    head_ref, base_ref = _branch_name(rec, data["head"]), data["base"]
    head_sha = g.ref_sha(f"refs/heads/{head_ref}")
    base_sha = g.ref_sha(f"refs/heads/{base_ref}")
    if head_sha is None:
        raise validation("PullRequest", "head is invalid", field="head", code="invalid")
    if base_sha is None:
        raise validation("PullRequest", "base is invalid", field="base", code="invalid")
    if g.is_ancestor(head_sha, base_sha):
        raise validation("PullRequest", f"No commits between {base_ref} and {head_ref}")
    for pr in rec["pulls"].values():
        if (pr["head_ref"], pr["base_ref"]) == (head_ref, base_ref) and \
                rec["issues"][str(pr["number"])]["state"] == "open":
            raise validation("PullRequest", f"A pull request already exists for {owner}:{head_ref}.")
    number = rec["next_number"]
    rec["next_number"] += 1
    now = now_iso()
    rec["issues"][str(number)] = {
        "number": number, "id": store().next_id("issue"), "title": data.get("title", ""),
        "body": data.get("body"), "user": login, "state": "open", "labels": [], "assignees": [],
        "created_at": now, "updated_at": now, "closed_at": None, "is_pull": True,
    }
    pr = {
        "number": number, "id": store().next_id("pull"), "head_ref": head_ref, "head_sha": head_sha,
        "base_ref": base_ref, "base_sha": base_sha, "draft": bool(data.get("draft", False)),
        "merged": False, "merged_at": None, "merged_by": None, "merge_commit_sha": None,
        "requested_reviewers": [], "requested_teams": [],
    }
    rec["pulls"][str(number)] = pr
    g.update_ref(f"refs/pull/{number}/head", head_sha)
    domain.emit_pull(store(), sandbox().dispatcher, rec, pr, "opened", login)
    return full_pull(rec, pr), 201


@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
def get(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    return full_pull(rec, get_pull(rec, pull_number))


@router.route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}")
def update(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    iss = rec["issues"][str(pr["number"])]
    login = actor()
    if login != iss["user"] and not perms.at_least(perms.role(store(), rec, principal()), "write"):
        raise ApiError(403, "Must have push access to update a pull request.")
    data = body()
    changes: J = {}
    for key in ("title", "body"):
        if key in data and data[key] != iss.get(key):
            changes[key] = {"from": iss.get(key)}
            iss[key] = data[key]
    if "base" in data and data["base"] != pr["base_ref"]:
        new_base = git(rec).ref_sha(f"refs/heads/{data['base']}")
        if new_base is None:
            raise validation("PullRequest", "Proposed base branch was not found", field="base", code="invalid")
        changes["base"] = {"ref": {"from": pr["base_ref"]}, "sha": {"from": pr["base_sha"]}}
        pr["base_ref"], pr["base_sha"] = data["base"], new_base
    iss["updated_at"] = now_iso()
    d = sandbox().dispatcher
    if changes:
        domain.emit_pull(store(), d, rec, pr, "edited", login, changes=changes)
    state = data.get("state")
    if state == "closed" and iss["state"] == "open":
        domain.close_pull(store(), d, rec, pr, login, merged=False)
    elif state == "open" and iss["state"] == "closed":
        if pr.get("merged"):
            raise validation("PullRequest", "state cannot be changed. The pull request has been merged.")
        iss.update(state="open", closed_at=None, closed_by=None)
        domain.emit_pull(store(), d, rec, pr, "reopened", login)
    return full_pull(rec, pr)


@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files")
def list_files(owner: str, repo: str, pull_number: str) -> Any:
    """GitHub lists at most 3,000 files of a PR (``changed_files`` still counts them all). One diff
    lists them; patches are made for the requested page only."""
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    g = git(rec)
    base_tip = pr.get("merged_base_sha") or pr["base_sha"]
    base = g.merge_base(base_tip, pr["head_sha"]) or base_tip
    listed = g.diff_entries(base, pr["head_sha"])[:MAX_LISTED_FILES]
    start, stop = page_window()
    page = g.with_patches(base, pr["head_sha"], list(listed[start:stop]))
    return paginate([render.diff_entry(rec, pr["head_sha"], f) for f in page], total=len(listed))


@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits")
def list_commits(owner: str, repo: str, pull_number: str) -> Any:
    """GitHub lists at most 250 commits of a PR (the oldest first); ``commits`` counts them all."""
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    g = git(rec)
    shas = g.rev_list(pr["head_sha"], f"^{pr.get('merged_base_sha') or pr['base_sha']}")[:MAX_LISTED_COMMITS]
    start, stop = page_window()
    return paginate([render.commit(store(), rec, g, s) for s in shas[start:stop]], total=len(shas))


@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
def check_merged(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    if not get_pull(rec, pull_number).get("merged"):
        raise not_found()
    return None, 204


@router.route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
def merge(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo, "write")
    pr = get_pull(rec, pull_number)
    iss = rec["issues"][str(pr["number"])]
    data = body()
    login = actor()
    method = data.get("merge_method", "merge")
    if method not in MERGE_METHODS:
        raise validation("PullRequest", f"merge_method {method} is not one of {list(MERGE_METHODS)}",
                         field="merge_method", code="invalid")
    if iss["state"] != "open":
        raise ApiError(405, "Pull Request is not mergeable")
    if data.get("sha") and data["sha"] != pr["head_sha"]:
        raise ApiError(409, "Head branch was modified. Review and try the merge again.")
    if pr.get("draft"):
        raise ApiError(405, "Pull Request is still a draft")
    g = git(rec)
    base_ref = f"refs/heads/{pr['base_ref']}"
    base_sha = g.ref_sha(base_ref)
    if base_sha is None:
        raise ApiError(405, "Base branch was deleted")
    problem = protection.merge_problem(store(), rec, g, pr, perms.role(store(), rec, principal()))
    if problem:
        raise ApiError(405, problem)
    rules = protection.rules(rec, pr["base_ref"]) or {}
    if method == "merge" and rules.get("required_linear_history"):
        raise ApiError(405, "Merge commits are not allowed on this repository.")
    author = domain.person_for(store(), login)
    committer = domain.web_committer()
    commits = g.rev_list(pr["head_sha"], f"^{base_sha}")
    if method == "rebase":
        tip = base_sha
        for c in commits:
            picked = g.cherry_pick(tip, c, committer)
            if picked is None:
                raise ApiError(405, "This branch can't be rebased")
            tip = picked
        new_sha = tip
    else:
        result = g.merge_trees(base_sha, pr["head_sha"])
        if not result.clean:
            raise ApiError(405, "Pull Request is not mergeable")
        if method == "merge":
            title = data.get("commit_title") or f"Merge pull request #{pr['number']} from {owner}/{pr['head_ref']}"
            message = data.get("commit_message", iss["title"])
            new_sha = g.commit_tree(result.tree, [base_sha, pr["head_sha"]], f"{title}\n\n{message}".rstrip() + "\n",
                                    author, committer)
        else:
            title = data.get("commit_title") or f"{iss['title']} (#{pr['number']})"
            default = "\n\n".join(f"* {g.commit(c).message.strip()}" for c in commits)
            message = data.get("commit_message", default)
            new_sha = g.commit_tree(result.tree, [base_sha], f"{title}\n\n{message}".rstrip() + "\n",
                                    author, committer)
    g.update_ref(base_ref, new_sha, base_sha)
    d = sandbox().dispatcher
    domain.close_pull(store(), d, rec, pr, login, merged=True, merge_sha=new_sha, base_before=base_sha)
    domain.on_ref_update(store(), d, rec, base_ref, base_sha, new_sha, login)
    if rec.get("delete_branch_on_merge"):
        head_ref = f"refs/heads/{pr['head_ref']}"
        old = g.ref_sha(head_ref)
        if old:
            g.delete_ref(head_ref)
            domain.on_ref_update(store(), d, rec, head_ref, old, None, login)
    return {"sha": new_sha, "merged": True, "message": "Pull Request successfully merged"}


# --- reviews -----------------------------------------------------------------------------------
EVENT_STATE = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def _emit_review(rec: J, pr: J, rev: J, action: str, login: str, **extra: Any) -> None:
    payload = payloads.envelope(
        store(), rec, login, action=action, **extra,
        review=payloads.review(store(), rec, rev),
        pull_request=payloads.simple_pull_request(store(), rec, pr),
    )
    sandbox().dispatcher.emit(rec, "pull_request_review", payload)


def _submit(rec: J, pr: J, rev: J, event: str | None, review_body: str | None, login: str) -> None:
    if event not in EVENT_STATE:
        raise validation("PullRequestReview", f"event {event!r} is not one of APPROVE, REQUEST_CHANGES, COMMENT",
                         field="event", code="invalid")
    author = rec["issues"][str(pr["number"])]["user"]
    if login == author and event == "APPROVE":
        raise ApiError(422, "Unprocessable Entity",
                       errors=["Can not approve your own pull request"])
    if login == author and event == "REQUEST_CHANGES":
        raise ApiError(422, "Unprocessable Entity",
                       errors=["Can not request changes on your own pull request"])
    if event in ("REQUEST_CHANGES", "COMMENT") and not (review_body or rev.get("body")):
        raise ApiError(422, "Unprocessable Entity",
                       errors=[f"Review body is required when event is {event}"])
    if review_body is not None:
        rev["body"] = review_body
    rev["state"] = EVENT_STATE[event]
    rev["submitted_at"] = now_iso()
    if login in pr.get("requested_reviewers", []):
        pr["requested_reviewers"].remove(login)
    _emit_review(rec, pr, rev, "submitted", login)


@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
def list_reviews(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    login = principal().login
    revs = [r for r in rec["reviews"].values() if r["pull_number"] == pr["number"]
            and (r["state"] != "PENDING" or r["user"] == login)]
    return paginate([render.review(store(), rec, r) for r in sorted(revs, key=lambda r: r["id"])])


@router.route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
def create_review(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    login = actor()
    data = body()
    commit_id = data.get("commit_id") or pr["head_sha"]
    if git(rec).object_type(commit_id) != "commit":
        raise validation("PullRequestReview", "commit_id is not part of the pull request",
                         field="commit_id", code="invalid")
    if any(r["pull_number"] == pr["number"] and r["user"] == login and r["state"] == "PENDING"
           for r in rec["reviews"].values()):
        raise ApiError(422, "Unprocessable Entity", errors=["User can only have one pending review per pull request"])
    rev = {"id": store().next_id("review"), "pull_number": pr["number"], "user": login,
           "body": data.get("body") or "", "state": "PENDING", "commit_id": commit_id, "submitted_at": None}
    if data.get("event"):
        _submit(rec, pr, rev, data["event"], data.get("body"), login)
    rec["reviews"][str(rev["id"])] = rev
    return render.review(store(), rec, rev)


def _get_review(rec: J, pr: J, review_id: str) -> J:
    rev = item(rec["reviews"], review_id)
    if rev["pull_number"] != pr["number"]:
        raise not_found()
    return rev


@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}")
def get_review(owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    rec = get_repo(owner, repo)
    return render.review(store(), rec, _get_review(rec, get_pull(rec, pull_number), review_id))


@router.route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}")
def update_review(owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    rev = _get_review(rec, pr, review_id)
    if rev["user"] != actor():
        raise ApiError(403, "You can only update your own reviews")
    old = rev["body"]
    rev["body"] = body().get("body", rev["body"])
    if rev["state"] != "PENDING":
        _emit_review(rec, pr, rev, "edited", actor(), changes={"body": {"from": old}})
    return render.review(store(), rec, rev)


@router.route("DELETE", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}")
def delete_pending_review(owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    rec = get_repo(owner, repo)
    rev = _get_review(rec, get_pull(rec, pull_number), review_id)
    if rev["state"] != "PENDING" or rev["user"] != actor():
        raise ApiError(422, "Unprocessable Entity", errors=["Can not delete a non-pending pull request review"])
    del rec["reviews"][str(rev["id"])]
    return render.review(store(), rec, rev)


@router.route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/events")
def submit_review(owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    rev = _get_review(rec, pr, review_id)
    if rev["user"] != actor() or rev["state"] != "PENDING":
        raise ApiError(422, "Unprocessable Entity", errors=["Can not submit a non-pending review"])
    data = body()
    _submit(rec, pr, rev, data.get("event"), data.get("body"), actor())
    return render.review(store(), rec, rev)


@router.route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals")
def dismiss_review(owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    rec = get_repo(owner, repo, "write")
    pr = get_pull(rec, pull_number)
    rev = _get_review(rec, pr, review_id)
    data = body()
    if not data.get("message"):
        raise validation("PullRequestReview", "message is required", field="message", code="missing_field")
    if rev["state"] not in ("APPROVED", "CHANGES_REQUESTED"):
        raise ApiError(422, "Unprocessable Entity",
                       errors=[f"Can not dismiss a {rev['state'].lower()} pull request review"])
    rev["state"] = "DISMISSED"
    rev["dismissal_message"] = data["message"]
    _emit_review(rec, pr, rev, "dismissed", actor())
    return render.review(store(), rec, rev)


# --- review requests ---------------------------------------------------------------------------
@router.route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def list_requested(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    body_ = render.pull(store(), rec, pr)
    return {"users": body_["requested_reviewers"], "teams": body_["requested_teams"]}


@router.route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def request_reviewers(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    login = actor()
    data = body()
    author = rec["issues"][str(pr["number"])]["user"]
    teams = store().state["teams"].get(rec["owner"], {})
    for reviewer in data.get("reviewers", []):
        if reviewer == author:
            raise validation("PullRequest", "Review cannot be requested from pull request author.")
        if store().user(reviewer) is None or perms.user_role(store(), rec, reviewer) is None:
            raise validation("PullRequest", "Reviews may only be requested from collaborators. One or more of "
                             "the users or teams you specified is not a collaborator of the "
                             f"{rec['owner']}/{rec['name']} repository.")
    full = f"{rec['owner']}/{rec['name']}"
    for slug in data.get("team_reviewers", []):
        if slug not in teams:
            raise validation("PullRequest", f"Could not resolve to a team: {slug}")
        if full not in teams[slug]["repos"]:
            # GitHub's rule: a team can review only where it has access to the repository
            raise validation("PullRequest", "Reviews may only be requested from collaborators. One or more of the "
                             "teams you specified is not a collaborator of the "
                             f"{full} repository.")
    for reviewer in data.get("reviewers", []):
        if reviewer not in pr["requested_reviewers"]:
            pr["requested_reviewers"].append(reviewer)
            domain.emit_pull(store(), sandbox().dispatcher, rec, pr, "review_requested", login,
                             requested_reviewer=render.user(store().user(reviewer)))
    for slug in data.get("team_reviewers", []):
        if slug not in pr["requested_teams"]:
            pr["requested_teams"].append(slug)
            team = payloads.team(store(), rec["owner"], teams[slug])
            domain.emit_pull(store(), sandbox().dispatcher, rec, pr, "review_requested", login,
                             requested_team=team)
    return render.pull(store(), rec, pr), 201


@router.route("DELETE", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def remove_requested(owner: str, repo: str, pull_number: str) -> Any:
    rec = get_repo(owner, repo)
    pr = get_pull(rec, pull_number)
    login = actor()
    data = body()
    for reviewer in data.get("reviewers", []):
        if reviewer in pr["requested_reviewers"]:
            pr["requested_reviewers"].remove(reviewer)
            domain.emit_pull(store(), sandbox().dispatcher, rec, pr, "review_request_removed", login,
                             requested_reviewer=render.user(store().user(reviewer)))
    for slug in data.get("team_reviewers", []):
        if slug in pr["requested_teams"]:
            pr["requested_teams"].remove(slug)
    return render.pull(store(), rec, pr)
