"""Git data: refs, commits, trees, blobs, and ``POST /merges`` (bors builds staging commits with it)."""

from __future__ import annotations

import base64
from typing import Any

from flask import request

from mlgate.sandbox import domain, names, render
from mlgate.sandbox.ctx import actor, body, get_repo, git, guard_branch_update, guard_workflows, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.git import ZERO_SHA, GitError, Person
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso
from mlgate.sandbox.urls import api_base

router = Router("gitdata")
J = dict[str, Any]


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"



@router.route("GET", "/repos/{owner}/{repo}/git/ref/{ref}")
def get_ref(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    full = _full_ref(ref)
    sha = git(rec).ref_sha(full)
    if sha is None:
        raise not_found()
    return render.git_ref(rec, full, sha, git(rec).object_type(sha) or "commit")


@router.route("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}")
def matching_refs(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    prefix = _full_ref(ref)
    refs = git(rec).refs("refs/")
    return [render.git_ref(rec, name, sha) for name, sha in sorted(refs.items()) if name.startswith(prefix)
            and not name.startswith("refs/pull/")] + \
        [render.git_ref(rec, name, sha) for name, sha in sorted(refs.items())
         if name.startswith(prefix) and name.startswith("refs/pull/")]


@router.route("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    ref, sha = data.get("ref", ""), data.get("sha", "")
    problem = names.ref_error(ref)
    if problem:
        raise validation("Reference", problem, field="ref", code="invalid")
    g = git(rec)
    if ref.startswith("refs/pull/"):
        raise validation("Reference", "Reference cannot be updated")
    if g.object_type(sha) is None:
        raise ApiError(422, "Object does not exist")
    if g.ref_sha(ref) is not None:
        raise ApiError(422, "Reference already exists")
    guard_workflows(rec, ref, None, sha)
    g.update_ref(ref, sha, ZERO_SHA)
    domain.on_ref_update(store(), sandbox().dispatcher, rec, ref, None, sha, actor())
    return render.git_ref(rec, ref, sha, g.object_type(sha) or "commit"), 201


@router.route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}")
def update_ref(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    full = _full_ref(ref)
    g = git(rec)
    old = g.ref_sha(full)
    if old is None:
        raise ApiError(422, "Reference does not exist")
    new = data.get("sha", "")
    if g.object_type(new) is None:
        raise ApiError(422, "Object does not exist")
    if not data.get("force") and not g.is_ancestor(old, new):
        raise ApiError(422, "Update is not a fast forward")
    guard_branch_update(rec, full, old, new)
    try:
        g.update_ref(full, new, old)
    except GitError as exc:  # lost a race with a push
        raise ApiError(422, "Reference cannot be updated") from exc
    domain.on_ref_update(store(), sandbox().dispatcher, rec, full, old, new, actor())
    return render.git_ref(rec, full, new)


@router.route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}")
def delete_ref(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo, "write")
    full = _full_ref(ref)
    g = git(rec)
    old = g.ref_sha(full)
    if old is None:
        raise ApiError(422, "Reference does not exist")
    guard_branch_update(rec, full, old, None)
    g.delete_ref(full)
    domain.on_ref_update(store(), sandbox().dispatcher, rec, full, old, None, actor())
    return None, 204


# --- commits, trees, blobs ---------------------------------------------------------------------
@router.route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}")
def get_git_commit(owner: str, repo: str, commit_sha: str) -> Any:
    rec = get_repo(owner, repo)
    g = git(rec)
    if g.object_type(commit_sha) != "commit":
        raise not_found()
    return render.git_commit(rec, g.commit(commit_sha))


def _person(data: Any, fallback: Person) -> Person:
    if not isinstance(data, dict):
        return fallback
    return Person(data.get("name", fallback.name), data.get("email", fallback.email),
                  data.get("date", fallback.date).replace("+00:00", "Z"))


@router.route("POST", "/repos/{owner}/{repo}/git/commits")
def create_git_commit(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    g = git(rec)
    if "message" not in data or "tree" not in data:
        raise validation("Commit", "message and tree are required", code="missing_field")
    if g.object_type(data["tree"]) != "tree":
        raise validation("Commit", "Tree SHA does not exist", field="tree", code="invalid")
    parents = data.get("parents", [])
    for p in parents:
        if g.object_type(p) != "commit":
            raise validation("Commit", "Parent SHA does not exist or is not a commit object",
                             field="parents", code="invalid")
    default = domain.person_for(store(), actor())
    author = _person(data.get("author"), default)
    committer = _person(data.get("committer"), author)
    sha = g.commit_tree(data["tree"], parents, data["message"], author, committer)
    return render.git_commit(rec, g.commit(sha)), 201


@router.route("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}")
def get_tree(owner: str, repo: str, tree_sha: str) -> Any:
    rec = get_repo(owner, repo)
    g = git(rec)
    kind = g.object_type(tree_sha)
    if kind == "commit":
        tree_sha = g.commit(tree_sha).tree
    elif kind != "tree":
        sha = g.resolve(tree_sha)
        if sha is None:
            raise not_found()
        tree_sha = g.commit(sha).tree
    return _tree_body(rec, tree_sha, bool(request.args.get("recursive")))


def _tree_body(rec: J, tree_sha: str, recursive: bool) -> J:
    u = f"{api_base()}/repos/{rec['owner']}/{rec['name']}"
    entries = git(rec).tree_entries(tree_sha, recursive=recursive)
    return {
        "sha": tree_sha,
        "url": f"{u}/git/trees/{tree_sha}",
        "truncated": False,
        "tree": [
            {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha,
             **({"size": e.size} if e.size is not None else {}),
             "url": f"{u}/git/{'trees' if e.type == 'tree' else 'blobs'}/{e.sha}"}
            for e in entries
        ],
    }


@router.route("POST", "/repos/{owner}/{repo}/git/trees")
def create_tree(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    g = git(rec)
    base = data.get("base_tree")
    if base and g.object_type(base) != "tree":
        if g.object_type(base) == "commit":
            base = g.commit(base).tree
        else:
            raise validation("Tree", "base_tree is not a valid tree oid", field="base_tree", code="invalid")
    changes: list[tuple[str, str, str | None]] = []
    for entry in data.get("tree", []):
        path, mode = entry.get("path"), entry.get("mode", "100644")
        if not path:
            raise validation("Tree", "path is required", field="tree.path", code="missing_field")
        if "content" in entry and entry["content"] is not None:
            sha = g.hash_blob(str(entry["content"]).encode())
        else:
            sha = entry.get("sha")
            if sha is not None and g.object_type(sha) is None:
                raise validation("Tree", f"tree.sha {sha} is not a valid blob", field="tree.sha", code="invalid")
        changes.append((path, mode, sha))
    tree = g.build_tree(base, changes)
    return _tree_body(rec, tree, False), 201


@router.route("POST", "/repos/{owner}/{repo}/git/blobs")
def create_blob(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    if "content" not in data:
        raise validation("Blob", "content is required", field="content", code="missing_field")
    raw = base64.b64decode(data["content"]) if data.get("encoding") == "base64" else data["content"].encode()
    sha = git(rec).hash_blob(raw)
    return {"sha": sha, "url": f"{api_base()}/repos/{owner}/{repo}/git/blobs/{sha}"}, 201


@router.route("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}")
def get_blob(owner: str, repo: str, file_sha: str) -> Any:
    rec = get_repo(owner, repo)
    g = git(rec)
    if g.object_type(file_sha) != "blob":
        raise not_found()
    data = g.blob(file_sha)
    return {
        "sha": file_sha,
        "node_id": render.node_id("B", file_sha),
        "size": len(data),
        "url": f"{api_base()}/repos/{owner}/{repo}/git/blobs/{file_sha}",
        "content": base64.encodebytes(data).decode(),
        "encoding": "base64",
    }


# --- merges ------------------------------------------------------------------------------------
@router.route("POST", "/repos/{owner}/{repo}/merges")
def merge(owner: str, repo: str) -> Any:
    """Merge ``head`` into branch ``base``: 201 with the commit, 204 if nothing to merge, 409 on conflict."""
    rec = get_repo(owner, repo, "write")
    data = body()
    g = git(rec)
    base_branch, head = data.get("base", ""), data.get("head", "")
    base_ref = f"refs/heads/{base_branch}"
    base_sha = g.ref_sha(base_ref)
    if base_sha is None:
        raise ApiError(404, "Base does not exist")
    head_sha = g.resolve(head)
    if head_sha is None:
        raise ApiError(404, "Head does not exist")
    if g.is_ancestor(head_sha, base_sha):
        return None, 204
    result = g.merge_trees(base_sha, head_sha)
    if not result.clean:
        raise ApiError(409, "Merge conflict")
    who = domain.person_for(store(), actor())
    message = data.get("commit_message") or f"Merge {head} into {base_branch}"
    sha = g.commit_tree(result.tree, [base_sha, head_sha], message, who, domain.web_committer())
    guard_branch_update(rec, base_ref, base_sha, sha)
    g.update_ref(base_ref, sha, base_sha)
    domain.on_ref_update(store(), sandbox().dispatcher, rec, base_ref, base_sha, sha, actor())
    rec["updated_at"] = now_iso()
    return render.commit(store(), rec, g, sha), 201
