"""What handlers need from the request: the store, the caller, a repository they may see, the body."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, g, jsonify, request

from mlgate.sandbox import app_permissions, perms, protection
from mlgate.sandbox.auth import Principal
from mlgate.sandbox.errors import ApiError, not_found
from mlgate.sandbox.git import GitRepo
from mlgate.sandbox.store import Store

J = dict[str, Any]


def sandbox() -> Any:
    return current_app.extensions["sandbox"]


def store() -> Store:
    return sandbox().store


def principal() -> Principal:
    return g.get("principal") or Principal("anonymous")


def actor() -> str:
    """The login a write is attributed to; anonymous callers may not write."""
    who = principal()
    if who.login is None:
        raise ApiError(401, "Requires authentication")
    return who.login


def body() -> J:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "Problems parsing JSON")
    return data


def get_repo(owner: str, name: str, need: str = "read") -> J:
    """The repository record, or GitHub's answers: 404 when invisible, 403 when not allowed."""
    rec = store().repo(owner, name)
    if rec is None:
        raise not_found()
    role = perms.role(store(), rec, principal())
    if role is None:
        raise not_found()
    if not perms.at_least(role, need):
        if principal().kind == "anonymous":
            raise ApiError(401, "Requires authentication")
        if principal().kind == "installation":
            raise ApiError(403, "Resource not accessible by integration")
        raise ApiError(403, f"Must have {need} access to repository.") if need == "admin" else not_found()
    return rec


def git(repo: J) -> GitRepo:
    return GitRepo(store().git_dir(repo))


def item(collection: J, key: Any) -> J:
    found = collection.get(str(key))
    if found is None:
        raise not_found()
    return found


def int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError as exc:
        raise ApiError(400, f"Invalid value for parameter '{name}'") from exc


def page_window() -> tuple[int, int]:
    """(start, stop) of the requested page in a list: ``per_page`` (at most 100, default 30), ``page``."""
    per_page = max(1, min(100, int_arg("per_page", 30)))
    page = max(1, int_arg("page", 1))
    return (page - 1) * per_page, page * per_page


def paginate(items: list[Any], wrap: str | None = None, extra: J | None = None, total: int | None = None) -> Response:
    """GitHub pagination: ``per_page``/``page`` and a Link header PyGithub follows. With ``total``,
    ``items`` is already just the requested page (so only it had to be rendered)."""
    per_page = max(1, min(100, int_arg("per_page", 30)))
    page = max(1, int_arg("page", 1))
    start = (page - 1) * per_page
    count = len(items) if total is None else total
    chunk = items[start : start + per_page] if total is None else items
    last = max(1, -(-count // per_page))
    payload: Any = chunk
    if wrap:
        payload = {"total_count": count, wrap: chunk, **(extra or {})}
    resp = jsonify(payload)
    links = []
    base = request.base_url
    args = {k: v for k, v in request.args.items() if k != "page"}

    def link(p: int, rel: str) -> str:
        return f'<{base}?{urlencode({**args, "page": p})}>; rel="{rel}"'

    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    if links:
        resp.headers["Link"] = ", ".join(links)
    return resp


WORKFLOWS_DIR = ".github/workflows/"


def guard_workflows(repo: J, ref: str, old: str | None, new: str | None) -> None:
    """GitHub refuses an App without `workflows: write` to create or move a branch onto changes to
    `.github/workflows/` (compared with the branch's old tip, or the default branch for a new one)."""
    who = principal()
    if who.kind != "installation" or new is None or not ref.startswith("refs/heads/"):
        return
    if app_permissions.covers(who.granted, "workflows", "write"):
        return
    g = git(repo)
    base = old or g.ref_sha(f"refs/heads/{repo.get('default_branch') or 'main'}")
    if base is None or base == new:
        return
    for change in g.diff_entries(base, new):
        path = next((p for p in (change.filename, change.previous_filename) if p and p.startswith(WORKFLOWS_DIR)),
                    None)
        if path is not None:
            raise ApiError(422, f"refusing to allow a GitHub App to create or update workflow `{path}` without "
                                "`workflows` permission")


def guard_branch_update(repo: J, ref: str, old: str | None, new: str | None) -> None:
    """Refuse an update of a protected branch the way GitHub does (422 with GH006's reason), and one
    an App may not make (workflow changes without `workflows: write`)."""
    if not ref.startswith("refs/heads/"):
        return
    guard_workflows(repo, ref, old, new)
    role = perms.role(store(), repo, principal())
    problem = protection.check_push(store(), repo, git(repo), ref[len("refs/heads/"):], old, new, role)
    if problem:
        raise ApiError(422, f"Protected branch update failed for {ref}: {problem}")
