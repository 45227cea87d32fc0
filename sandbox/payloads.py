"""Webhook payloads in the shapes of @octokit/webhooks-schemas.

Those schemas are strict (``additionalProperties: false``), and a few REST fields are not part of
the webhook objects, so each builder starts from the REST body and drops what webhooks never carry.
"""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import render
from mlgate.sandbox.git import GitRepo
from mlgate.sandbox.store import Store
from mlgate.sandbox.urls import api_base, node_id, web_base

J = dict[str, Any]


def _drop(body: J, *keys: str) -> J:
    return {k: v for k, v in body.items() if k not in keys}


def sender(store: Store, login: str) -> J:
    return render.user(store.user(login)) or {}


def envelope(store: Store, repo_rec: J | None, login: str, **fields: Any) -> J:
    """Fields every repository event carries: repository, sender and (for org repos) organization."""
    body: J = dict(fields)
    if repo_rec is not None:
        body["repository"] = render.repo(store, repo_rec)
        owner = store.user(repo_rec["owner"])
        if owner and owner["type"] == "Organization":
            body["organization"] = _drop(render.org(store, owner), "html_url")
    body["sender"] = sender(store, login)
    return body


def pull_request(store: Store, repo_rec: J, pr: J, facts: J) -> J:
    body = render.pull(store, repo_rec, pr, facts)
    body["requested_teams"] = [_drop(t, "type") for t in body["requested_teams"]]
    return body


def simple_pull_request(store: Store, repo_rec: J, pr: J) -> J:
    body = render.pull(store, repo_rec, pr)
    body["requested_teams"] = [_drop(t, "type") for t in body["requested_teams"]]
    return body


def issue(store: Store, repo_rec: J, iss: J) -> J:
    body = _drop(render.issue(store, repo_rec, iss), "closed_by")
    body["performed_via_github_app"] = None
    body["timeline_url"] = body["url"] + "/timeline"
    return body


def comment(store: Store, repo_rec: J, com: J) -> J:
    body = render.comment(store, repo_rec, com)
    body["performed_via_github_app"] = None
    return body


def review(store: Store, repo_rec: J, rev: J) -> J:
    body = render.review(store, repo_rec, rev)
    body["state"] = body["state"].lower()
    body.setdefault("submitted_at", None)
    return body


def app(body: J) -> J:
    return _drop(body, "client_id")


def check_run(store: Store, repo_rec: J, run: J, suite: J, git: GitRepo) -> J:
    body = render.check_run(store, repo_rec, run)
    body["app"] = app(body["app"])
    body["check_suite"] = _drop(check_suite(store, repo_rec, suite, git), "latest_check_runs_count",
                                "check_runs_url", "head_commit", "runs_rerequestable", "rerequestable")
    return body


def check_suite(store: Store, repo_rec: J, suite: J, git: GitRepo) -> J:
    body = _drop(render.check_suite(store, repo_rec, suite, git), "repository")
    body["app"] = app(body["app"])
    return body


def commit_entry(repo_rec: J, git: GitRepo, sha: str) -> J:
    """A commit as push events list it (with added/removed/modified paths)."""
    info = git.commit(sha)
    parent = info.parents[0] if info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []
    for f in git.diff_files(parent, sha, with_patch=False):
        {"added": added, "removed": removed}.get(f.status, modified).append(f.filename)
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    return {
        "id": info.sha,
        "tree_id": info.tree,
        "distinct": True,
        "message": info.message,
        "timestamp": info.committer.date,
        "url": f"{web_base()}/{full}/commit/{info.sha}",
        "author": {"name": info.author.name, "email": info.author.email},
        "committer": {"name": info.committer.name, "email": info.committer.email},
        "added": added,
        "removed": removed,
        "modified": modified,
    }


def status_event(store: Store, repo_rec: J, st: J, git: GitRepo, branches: list[str]) -> J:
    com = render.commit(store, repo_rec, git, st["sha"])
    com["commit"]["verification"] = _drop(com["commit"]["verification"], "verified_at")
    full = f"{repo_rec['owner']}/{repo_rec['name']}"
    u = f"{api_base()}/repos/{full}"
    return envelope(
        store,
        repo_rec,
        st["creator"],
        id=st["id"],
        sha=st["sha"],
        name=full,
        target_url=st.get("target_url"),
        avatar_url=f"{web_base()}/avatars/{st['creator']}",
        context=st["context"],
        description=st.get("description"),
        state=st["state"],
        commit=com,
        branches=[
            {"name": b, "commit": {"sha": git.resolve(b), "url": f"{u}/commits/{git.resolve(b)}"}, "protected": False}
            for b in branches
        ],
        created_at=st["created_at"],
        updated_at=st["updated_at"],
    )


def deployment(store: Store, repo_rec: J, dep: J) -> J:
    body = render.deployment(store, repo_rec, dep)
    body["performed_via_github_app"] = None
    return body


def deployment_status(store: Store, repo_rec: J, ds: J) -> J:
    body = render.deployment_status(store, repo_rec, ds)
    body["performed_via_github_app"] = None
    return body


def installation_lite(inst_id: int) -> J:
    return {"id": inst_id, "node_id": node_id("INS", inst_id)}


def team(store: Store, org_login: str, t: J) -> J:
    return _drop(render.team(store, org_login, t), "type")
