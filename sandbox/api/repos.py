"""Repositories: create (user and org), get, update, delete, list; branches, commits, contents, compare."""

from __future__ import annotations

import base64
import shutil
from typing import Any

from flask import request

from mlgate.sandbox import domain, names, perms, protection, render
from mlgate.sandbox.ctx import actor, body, get_repo, git, guard_branch_update, paginate, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.git import GitRepo
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso
from mlgate.sandbox.urls import api_base, web_base

router = Router("repos")
J = dict[str, Any]


def create_repo(owner: str, name: str, private: bool, description: str | None, auto_init: bool,
                creator: str, default_branch: str = "main") -> J:
    """Create the record and the bare repository (with a first commit when ``auto_init``)."""
    st = store()
    problem = names.repo_name_error(name)
    if problem:  # the name becomes a directory: git/<owner>/<name>.git
        raise validation("Repository", problem, field="name", code="custom")
    if st.repo(owner, name) is not None:
        raise validation("Repository", "name already exists on this account", field="name")
    rec: J = {
        "id": st.next_id("repo"),
        "owner": owner,
        "name": name,
        "private": bool(private),
        "description": description,
        "homepage": None,
        "default_branch": default_branch,
        "created_at": now_iso(),
        "updated_at": now_iso(),
        "pushed_at": None,
        "collaborators": {},
        "next_number": 1,
        "issues": {}, "pulls": {}, "comments": {}, "reviews": {}, "labels": {},
        "statuses": [], "check_runs": {}, "check_suites": {},
        "deployments": {}, "deployment_statuses": {}, "hooks": {},
    }
    st.state["repos"][f"{owner}/{name}"] = rec
    repo_git = GitRepo.init_bare(st.git_dir(rec), default_branch)
    if auto_init:
        blob = repo_git.hash_blob(f"# {name}\n\n{description or ''}\n".encode())
        tree = repo_git.build_tree(None, [("README.md", "100644", blob)])
        who = domain.person_for(st, creator)
        sha = repo_git.commit_tree(tree, [], "Initial commit\n", who, who)
        repo_git.update_ref(f"refs/heads/{default_branch}", sha)
        rec["pushed_at"] = now_iso()
    return rec


@router.route("POST", "/user/repos")
def create_for_user() -> Any:
    who = principal()
    if who.kind != "user":
        raise ApiError(403, "Resource not accessible by integration")
    data = body()
    rec = create_repo(actor(), data.get("name", ""), data.get("private", False), data.get("description"),
                      data.get("auto_init", False), actor())
    return render.repo(store(), rec, full=True), 201


@router.route("POST", "/orgs/{org}/repos")
def create_for_org(org: str) -> Any:
    org_rec = store().user(org)
    if org_rec is None or org_rec["type"] != "Organization":
        raise not_found()
    who = principal()
    if who.kind == "user" and org_rec.get("members", {}).get(actor()) is None:
        raise ApiError(403, "You need admin access to the organization before adding a repository to it.")
    if who.kind not in ("user", "installation"):
        raise ApiError(403, "Resource not accessible by integration")
    data = body()
    rec = create_repo(org, data.get("name", ""), data.get("private", False), data.get("description"),
                      data.get("auto_init", False), actor())
    return render.repo(store(), rec, full=True), 201


@router.route("GET", "/repos/{owner}/{repo}")
def get(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    body_ = render.repo(store(), rec, full=True)
    role = perms.role(store(), rec, principal())
    body_["permissions"] = render.ROLE_TO_PERMISSIONS[role] if role else {}
    return body_


@router.route("PATCH", "/repos/{owner}/{repo}")
def update(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    data = body()
    if "default_branch" in data:
        if git(rec).resolve(f"refs/heads/{data['default_branch']}") is None:
            raise validation("Repository", f"The branch {data['default_branch']} was not found.",
                             field="default_branch", code="invalid")
        rec["default_branch"] = data["default_branch"]
        git(rec).set_head(data["default_branch"])
    for key in ("description", "homepage", "private", "delete_branch_on_merge"):
        if key in data:
            rec[key] = data[key]
    rec["updated_at"] = now_iso()
    return render.repo(store(), rec, full=True)


@router.route("DELETE", "/repos/{owner}/{repo}")
def delete(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    shutil.rmtree(store().git_dir(rec), ignore_errors=True)
    del store().state["repos"][f"{owner}/{repo}"]
    return None, 204


def _visible(recs: list[J]) -> list[J]:
    st = store()
    return [r for r in recs if perms.role(st, r, principal()) is not None]


@router.route("GET", "/user/repos")
def list_for_authenticated_user() -> Any:
    login = actor()
    st = store()
    mine = [r for r in st.state["repos"].values() if perms.user_role(st, r, login)]
    return paginate([render.repo(st, r) for r in sorted(mine, key=lambda r: r["id"])])


@router.route("GET", "/users/{username}/repos")
def list_for_user(username: str) -> Any:
    st = store()
    if st.user(username) is None:
        raise not_found()
    recs = _visible([r for r in st.state["repos"].values() if r["owner"] == username])
    return paginate([render.repo(st, r) for r in sorted(recs, key=lambda r: r["id"])])


@router.route("GET", "/orgs/{org}/repos")
def list_for_org(org: str) -> Any:
    st = store()
    if st.user(org) is None:
        raise not_found()
    recs = _visible([r for r in st.state["repos"].values() if r["owner"] == org])
    return paginate([render.repo(st, r) for r in sorted(recs, key=lambda r: r["id"])])


# --- branches ----------------------------------------------------------------------------------
def _branch_short(rec: J, name: str, sha: str) -> J:
    u = f"{api_base()}/repos/{rec['owner']}/{rec['name']}"
    return {"name": name, "commit": {"sha": sha, "url": f"{u}/commits/{sha}"},
            "protected": protection.rules(rec, name) is not None}


def _branch_protection_summary(rec: J, branch: str) -> J:
    r = protection.rules(rec, branch)
    checks = protection.required_checks(r) if r else []
    return {"enabled": r is not None, "required_status_checks": {
        "enforcement_level": "non_admins" if checks else "off", "contexts": [c for c, _ in checks],
        "checks": [{"context": c, "app_id": a} for c, a in checks]}}


@router.route("GET", "/repos/{owner}/{repo}/branches")
def list_branches(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    refs = git(rec).refs("refs/heads/")
    return paginate([_branch_short(rec, r[len("refs/heads/"):], s) for r, s in sorted(refs.items())])


@router.route("GET", "/repos/{owner}/{repo}/branches/{branch}")
def get_branch(owner: str, repo: str, branch: str) -> Any:
    rec = get_repo(owner, repo)
    sha = git(rec).ref_sha(f"refs/heads/{branch}")
    if sha is None:
        raise not_found("Branch not found")
    u = f"{api_base()}/repos/{owner}/{repo}/branches/{branch}"
    return {
        "name": branch,
        "commit": render.commit(store(), rec, git(rec), sha),
        "_links": {"self": u, "html": f"{web_base()}/{owner}/{repo}/tree/{branch}"},
        "protected": protection.rules(rec, branch) is not None,
        "protection": _branch_protection_summary(rec, branch),
        "protection_url": f"{u}/protection",
    }


# --- branch protection -------------------------------------------------------------------------
def _protection_body(rec: J, branch: str, r: J) -> J:
    u = f"{api_base()}/repos/{rec['owner']}/{rec['name']}/branches/{branch}/protection"
    body_: J = {
        "url": u,
        "enforce_admins": {"url": f"{u}/enforce_admins", "enabled": bool(r.get("enforce_admins"))},
        "required_linear_history": {"enabled": bool(r.get("required_linear_history"))},
        "allow_force_pushes": {"enabled": bool(r.get("allow_force_pushes"))},
        "allow_deletions": {"enabled": bool(r.get("allow_deletions"))},
        "block_creations": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
        "lock_branch": {"enabled": False},
        "allow_fork_syncing": {"enabled": False},
        "required_signatures": {"url": f"{u}/required_signatures", "enabled": False},
    }
    rsc = r.get("required_status_checks")
    if rsc is not None:
        body_["required_status_checks"] = {
            "url": f"{u}/required_status_checks", "contexts_url": f"{u}/required_status_checks/contexts",
            "strict": bool(rsc.get("strict")), "enforcement_level": "non_admins",
            "contexts": [c for c, _ in protection.required_checks(r)],
            "checks": [{"context": c, "app_id": a} for c, a in protection.required_checks(r)],
        }
    reviews = r.get("required_pull_request_reviews")
    if reviews is not None:
        body_["required_pull_request_reviews"] = {
            "url": f"{u}/required_pull_request_reviews",
            "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")),
            "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews")),
            "required_approving_review_count": int(reviews.get("required_approving_review_count", 1)),
            "require_last_push_approval": bool(reviews.get("require_last_push_approval")),
        }
    return body_


@router.route("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection")
def put_protection(owner: str, repo: str, branch: str) -> Any:
    """Required status checks (optionally pinned to an app), required reviews, linear history,
    force-push and deletion rules; ``restrictions`` is accepted but not enforced."""
    rec = get_repo(owner, repo, "admin")
    if git(rec).ref_sha(f"refs/heads/{branch}") is None:
        raise not_found("Branch not found")
    data = body()
    for key in ("required_status_checks", "enforce_admins", "required_pull_request_reviews", "restrictions"):
        if key not in data:
            raise ApiError(422, "Invalid request.", errors=[f'"{key}" wasn\'t supplied.'])
    rsc = data["required_status_checks"]
    if rsc is not None:
        for key in ("strict", "contexts"):
            if key not in rsc:
                raise ApiError(422, "Invalid request.", errors=[f'"{key}" wasn\'t supplied.'])
    r: J = {
        "required_status_checks": data["required_status_checks"],
        "enforce_admins": bool(data["enforce_admins"]),
        "required_pull_request_reviews": data["required_pull_request_reviews"],
        "required_linear_history": bool(data.get("required_linear_history", False)),
        "allow_force_pushes": bool(data.get("allow_force_pushes", False)),
        "allow_deletions": bool(data.get("allow_deletions", False)),
    }
    rec.setdefault("protection", {})[branch] = r
    return _protection_body(rec, branch, r)


@router.route("GET", "/repos/{owner}/{repo}/branches/{branch}/protection")
def get_protection(owner: str, repo: str, branch: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    r = protection.rules(rec, branch)
    if r is None:
        raise not_found("Branch not protected")
    return _protection_body(rec, branch, r)


@router.route("DELETE", "/repos/{owner}/{repo}/branches/{branch}/protection")
def delete_protection(owner: str, repo: str, branch: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    if rec.get("protection", {}).pop(branch, None) is None:
        raise not_found("Branch not protected")
    return None, 204


# --- commits -----------------------------------------------------------------------------------
@router.route("GET", "/repos/{owner}/{repo}/commits")
def list_commits(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    g = git(rec)
    start = g.resolve(request.args.get("sha") or rec["default_branch"])
    if start is None:
        if not g.refs("refs/heads/"):
            raise ApiError(409, "Git Repository is empty.")
        raise not_found("No commit found for SHA: " + (request.args.get("sha") or ""))
    shas = g.rev_list(start, reverse=False, limit=500)
    return paginate([render.commit(store(), rec, g, s) for s in shas])


@router.route("GET", "/repos/{owner}/{repo}/commits/{ref}")
def get_commit(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    sha = git(rec).resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return render.commit(store(), rec, git(rec), sha, with_files=True)


@router.route("GET", "/repos/{owner}/{repo}/compare/{basehead}")
def compare(owner: str, repo: str, basehead: str) -> Any:
    rec = get_repo(owner, repo)
    g = git(rec)
    if "..." in basehead:
        base_ref, head_ref = basehead.split("...", 1)
    elif ".." in basehead:
        base_ref, head_ref = basehead.split("..", 1)
    else:
        raise not_found()
    base, head = g.resolve(base_ref), g.resolve(head_ref)
    if base is None or head is None:
        raise not_found()
    mb = g.merge_base(base, head)
    ahead = g.rev_list(head, f"^{base}")
    behind = g.rev_list(base, f"^{head}")
    status = "identical" if base == head else "ahead" if not behind else "behind" if not ahead else "diverged"
    full = f"{owner}/{repo}"
    web = f"{web_base()}/{full}"
    return {
        "url": f"{api_base()}/repos/{full}/compare/{basehead}",
        "html_url": f"{web}/compare/{basehead}",
        "permalink_url": f"{web}/compare/{base}...{head}",
        "diff_url": f"{web}/compare/{basehead}.diff",
        "patch_url": f"{web}/compare/{basehead}.patch",
        "base_commit": render.commit(store(), rec, g, base),
        "merge_base_commit": render.commit(store(), rec, g, mb or base),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [render.commit(store(), rec, g, s) for s in ahead[-250:]],
        # GitHub's compare shows at most 300 files (and 250 commits)
        "files": [render.diff_entry(rec, head, f) for f in g.diff_files(mb or base, head, limit=300)],
    }


# --- contents ----------------------------------------------------------------------------------
@router.route("GET", "/repos/{owner}/{repo}/contents/{path}")
def get_contents(owner: str, repo: str, path: str) -> Any:
    rec = get_repo(owner, repo)
    g = git(rec)
    ref = request.args.get("ref") or rec["default_branch"]
    sha = g.resolve(ref)
    if sha is None:
        raise not_found(f"No commit found for the ref {ref}")
    path = path.strip("/")
    entry = g.entry_at(sha, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        items = g.tree_entries(entry.sha)
        return [render.dir_entry(rec, ref, path, e.type, e.path, e.sha, e.size or 0) for e in items]
    return render.content_file(rec, g, ref, path, entry.sha)


@router.route("PUT", "/repos/{owner}/{repo}/contents/{path}")
def put_contents(owner: str, repo: str, path: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    for key in ("message", "content"):
        if key not in data:
            raise validation("Contents", f"{key} wasn't supplied.", field=key, code="missing_field")
    g = git(rec)
    branch = data.get("branch") or rec["default_branch"]
    problem = names.branch_error(branch)
    if problem:
        raise validation("Contents", problem, field="branch", code="invalid")
    ref = f"refs/heads/{branch}"
    parent = g.ref_sha(ref)
    path = path.strip("/")
    existing = g.entry_at(parent, path) if parent else None
    if existing is not None and data.get("sha") != existing.sha:
        raise ApiError(409, f"{path} does not match {data.get('sha') or 'the sha you gave'}") if data.get("sha") \
            else validation("Contents", '"sha" wasn\'t supplied.', field="sha", code="missing_field")
    try:
        content = base64.b64decode(data["content"], validate=True)
    except ValueError as exc:
        raise validation("Contents", "content is not valid Base64", field="content") from exc
    blob = g.hash_blob(content)
    base_tree = g.commit(parent).tree if parent else None
    tree = g.build_tree(base_tree, [(path, "100644", blob)])
    author = domain.person_for(store(), actor())
    if isinstance(data.get("author"), dict):
        author.name, author.email = data["author"].get("name", author.name), data["author"].get("email", author.email)
    committer = author
    if isinstance(data.get("committer"), dict):
        committer = domain.person_for(store(), actor())
        committer.name = data["committer"].get("name", committer.name)
        committer.email = data["committer"].get("email", committer.email)
    sha = g.commit_tree(tree, [parent] if parent else [], data["message"], author, committer)
    guard_branch_update(rec, ref, parent, sha)
    g.update_ref(ref, sha, parent or "0" * 40)
    domain.on_ref_update(store(), sandbox().dispatcher, rec, ref, parent, sha, actor())
    return {
        "content": {k: v for k, v in render.content_file(rec, g, branch, path, blob).items()
                    if k not in ("content", "encoding")},
        "commit": render.git_commit(rec, g.commit(sha)),
    }, 200 if existing else 201
