"""Issues (PRs are issues too), issue comments with reactions, and labels."""

from __future__ import annotations

from typing import Any

from flask import request

from mlgate.sandbox import domain, payloads, perms, render
from mlgate.sandbox.ctx import actor, body, get_repo, item, paginate, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso

router = Router("issues")
J = dict[str, Any]
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def get_issue(rec: J, number: Any) -> J:
    try:
        return item(rec["issues"], int(number))
    except ValueError as exc:
        raise not_found() from exc


@router.route("POST", "/repos/{owner}/{repo}/issues")
def create_issue(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    data = body()
    if not data.get("title"):
        raise validation("Issue", "title is missing", field="title", code="missing_field")
    number = rec["next_number"]
    rec["next_number"] += 1
    now = now_iso()
    iss = {"number": number, "id": store().next_id("issue"), "title": data["title"], "body": data.get("body"),
           "user": actor(), "state": "open", "labels": [], "assignees": list(data.get("assignees", [])),
           "created_at": now, "updated_at": now, "closed_at": None, "is_pull": False}
    rec["issues"][str(number)] = iss
    for name in data.get("labels", []):
        _ensure_label(rec, name)
        iss["labels"].append(name)
    return render.issue(store(), rec, iss), 201


@router.route("GET", "/repos/{owner}/{repo}/issues/{issue_number}")
def get(owner: str, repo: str, issue_number: str) -> Any:
    rec = get_repo(owner, repo)
    return render.issue(store(), rec, get_issue(rec, issue_number))


@router.route("GET", "/repos/{owner}/{repo}/issues")
def list_issues(owner: str, repo: str) -> Any:
    """Issues and pull requests, newest first, like GitHub (``state``, ``labels``, ``creator`` filters)."""
    rec = get_repo(owner, repo)
    state = request.args.get("state", "open")
    wanted = [x for x in request.args.get("labels", "").split(",") if x]
    creator = request.args.get("creator")
    out = [iss for iss in rec["issues"].values()
           if (state == "all" or iss["state"] == state) and all(w in iss["labels"] for w in wanted)
           and (not creator or iss["user"] == creator)]
    out.sort(key=lambda i: -i["number"])
    if request.args.get("direction") == "asc":
        out.reverse()
    return paginate([render.issue(store(), rec, i) for i in out])


@router.route("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}")
def update_issue(owner: str, repo: str, issue_number: str) -> Any:
    rec = get_repo(owner, repo)
    iss = get_issue(rec, issue_number)
    login = actor()
    if login != iss["user"] and not perms.at_least(perms.role(store(), rec, principal()), "triage"):
        raise ApiError(403, "Must have triage access to update an issue.")
    data = body()
    for key in ("title", "body"):
        if key in data:
            iss[key] = data[key]
    if "labels" in data:
        iss["labels"] = []
        for lab in data["labels"]:
            name = lab["name"] if isinstance(lab, dict) else lab
            _ensure_label(rec, name)
            iss["labels"].append(name)
    if "assignees" in data:
        iss["assignees"] = [a for a in data["assignees"] if store().user(a)]
    state = data.get("state")
    if state not in (None, "open", "closed"):
        raise validation("Issue", "state is invalid", field="state", code="invalid")
    if state and state != iss["state"]:
        if iss.get("is_pull"):
            pr = rec["pulls"][str(iss["number"])]
            if state == "closed":
                domain.close_pull(store(), sandbox().dispatcher, rec, pr, login, merged=False)
            elif pr.get("merged"):
                raise validation("Issue", "A merged pull request cannot be reopened")
            else:
                iss.update(state="open", closed_at=None, closed_by=None)
                domain.emit_pull(store(), sandbox().dispatcher, rec, pr, "reopened", login)
        else:
            now = now_iso()
            iss.update(state=state, closed_at=now if state == "closed" else None,
                       closed_by=login if state == "closed" else None,
                       state_reason=data.get("state_reason") or ("completed" if state == "closed" else "reopened"))
    iss["updated_at"] = now_iso()
    return render.issue(store(), rec, iss)


# --- comments ----------------------------------------------------------------------------------
def _emit_comment(rec: J, com: J, action: str, login: str, **extra: Any) -> None:
    iss = rec["issues"][str(com["issue_number"])]
    payload = payloads.envelope(store(), rec, login, action=action, **extra,
                                issue=payloads.issue(store(), rec, iss),
                                comment=payloads.comment(store(), rec, com))
    sandbox().dispatcher.emit(rec, "issue_comment", payload)


@router.route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
def list_comments(owner: str, repo: str, issue_number: str) -> Any:
    rec = get_repo(owner, repo)
    iss = get_issue(rec, issue_number)
    since = request.args.get("since")
    coms = [c for c in rec["comments"].values() if c["issue_number"] == iss["number"]
            and (not since or c["updated_at"] >= since)]
    return paginate([render.comment(store(), rec, c) for c in sorted(coms, key=lambda c: c["id"])])


@router.route("GET", "/repos/{owner}/{repo}/issues/comments")
def list_repo_comments(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    coms = sorted(rec["comments"].values(), key=lambda c: c["id"])
    return paginate([render.comment(store(), rec, c) for c in coms])


@router.route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
def create_comment(owner: str, repo: str, issue_number: str) -> Any:
    rec = get_repo(owner, repo)
    iss = get_issue(rec, issue_number)
    data = body()
    if not data.get("body"):
        raise validation("IssueComment", "body is missing", field="body", code="missing_field")
    if len(data["body"]) > 65536:
        raise validation("IssueComment", "Body is too long (maximum is 65536 characters)", field="body")
    now = now_iso()
    com = {"id": store().next_id("comment"), "issue_number": iss["number"], "user": actor(), "body": data["body"],
           "created_at": now, "updated_at": now, "reactions": {}}
    rec["comments"][str(com["id"])] = com
    iss["updated_at"] = now
    _emit_comment(rec, com, "created", actor())
    return render.comment(store(), rec, com), 201


def _own_or_write(rec: J, com: J) -> None:
    if com["user"] != actor() and not perms.at_least(perms.role(store(), rec, principal()), "write"):
        raise ApiError(403, "You must be the author or have write access to change this comment.")


@router.route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_comment(owner: str, repo: str, comment_id: str) -> Any:
    rec = get_repo(owner, repo)
    return render.comment(store(), rec, item(rec["comments"], comment_id))


@router.route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_comment(owner: str, repo: str, comment_id: str) -> Any:
    rec = get_repo(owner, repo)
    com = item(rec["comments"], comment_id)
    _own_or_write(rec, com)
    data = body()
    if not data.get("body"):
        raise validation("IssueComment", "body is missing", field="body", code="missing_field")
    if len(data["body"]) > 65536:
        raise validation("IssueComment", "Body is too long (maximum is 65536 characters)", field="body")
    old = com["body"]
    com["body"] = data["body"]
    com["updated_at"] = now_iso()
    _emit_comment(rec, com, "edited", actor(), changes={"body": {"from": old}})
    return render.comment(store(), rec, com)


@router.route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def delete_comment(owner: str, repo: str, comment_id: str) -> Any:
    rec = get_repo(owner, repo)
    com = item(rec["comments"], comment_id)
    _own_or_write(rec, com)
    _emit_comment(rec, com, "deleted", actor())
    del rec["comments"][str(com["id"])]
    return None, 204


# --- reactions ---------------------------------------------------------------------------------
@router.route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def list_reactions(owner: str, repo: str, comment_id: str) -> Any:
    rec = get_repo(owner, repo)
    com = item(rec["comments"], comment_id)
    content = request.args.get("content")
    rs = [r for r in com["reactions"].values() if not content or r["content"] == content]
    return paginate([render.reaction(store(), r) for r in sorted(rs, key=lambda r: r["id"])])


@router.route("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def create_reaction(owner: str, repo: str, comment_id: str) -> Any:
    rec = get_repo(owner, repo)
    com = item(rec["comments"], comment_id)
    content = body().get("content")
    if content not in REACTIONS:
        raise validation("Reaction", f"content must be one of {', '.join(REACTIONS)}", field="content",
                         code="invalid")
    login = actor()
    for r in com["reactions"].values():
        if r["user"] == login and r["content"] == content:
            return render.reaction(store(), r), 200
    r = {"id": store().next_id("reaction"), "user": login, "content": content, "created_at": now_iso()}
    com["reactions"][str(r["id"])] = r
    return render.reaction(store(), r), 201


@router.route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}")
def delete_reaction(owner: str, repo: str, comment_id: str, reaction_id: str) -> Any:
    rec = get_repo(owner, repo)
    com = item(rec["comments"], comment_id)
    r = item(com["reactions"], reaction_id)
    if r["user"] != actor():
        raise ApiError(403, "You can only delete your own reactions.")
    del com["reactions"][str(r["id"])]
    return None, 204


# --- labels ------------------------------------------------------------------------------------
def _ensure_label(rec: J, name: str) -> J:
    if name not in rec["labels"]:
        rec["labels"][name] = {"id": store().next_id("label"), "name": name, "color": "ededed",
                               "description": None}
    return rec["labels"][name]


@router.route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def list_labels(owner: str, repo: str, issue_number: str) -> Any:
    rec = get_repo(owner, repo)
    iss = get_issue(rec, issue_number)
    return paginate([render.label(rec, rec["labels"][n]) for n in iss["labels"]])


@router.route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def add_labels(owner: str, repo: str, issue_number: str) -> Any:
    rec = get_repo(owner, repo, "triage")
    iss = get_issue(rec, issue_number)
    data = request.get_json(silent=True)
    names = data.get("labels", []) if isinstance(data, dict) else data or []
    names = [n["name"] if isinstance(n, dict) else n for n in names]
    for name in names:
        _ensure_label(rec, name)
        if name not in iss["labels"]:
            iss["labels"].append(name)
            if iss.get("is_pull"):
                domain.emit_pull(store(), sandbox().dispatcher, rec, rec["pulls"][str(iss["number"])], "labeled",
                                 actor(), label=render.label(rec, rec["labels"][name]))
    iss["updated_at"] = now_iso()
    return [render.label(rec, rec["labels"][n]) for n in iss["labels"]]


@router.route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}")
def remove_label(owner: str, repo: str, issue_number: str, name: str) -> Any:
    rec = get_repo(owner, repo, "triage")
    iss = get_issue(rec, issue_number)
    if name not in iss["labels"]:
        raise ApiError(404, "Label does not exist")
    iss["labels"].remove(name)
    iss["updated_at"] = now_iso()
    if iss.get("is_pull"):
        domain.emit_pull(store(), sandbox().dispatcher, rec, rec["pulls"][str(iss["number"])], "unlabeled",
                         actor(), label=render.label(rec, rec["labels"][name]))
    return [render.label(rec, rec["labels"][n]) for n in iss["labels"]]
