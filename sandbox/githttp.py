"""git clone/fetch/push over smart HTTP at ``/<owner>/<repo>.git``, served by ``git http-backend``.

After a push, ref changes are turned into what GitHub would do: push webhooks, PR synchronize and
PRs marked merged when their commits reach the base.
"""

from __future__ import annotations

import os
import subprocess
import sys

from flask import Blueprint, Response, current_app, g, request

from mlgate.sandbox import domain, perms, prereceive
from mlgate.sandbox.auth import authenticate
from mlgate.sandbox.errors import ApiError
from mlgate.sandbox.git import GitRepo

bp = Blueprint("githttp", __name__)


def _challenge(message: str = "Authentication required") -> Response:
    return Response(message + "\n", status=401, headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
                    mimetype="text/plain")


@bp.route("/<owner>/<name>.git/<path:rest>", methods=["GET", "POST"])
def smart_http(owner: str, name: str, rest: str) -> Response:
    sandbox = current_app.extensions["sandbox"]
    store = sandbox.store
    service = request.args.get("service", "") or rest.rsplit("/", 1)[-1]
    pushing = "receive-pack" in service
    try:
        who = authenticate(store, request.headers.get("Authorization"))
    except ApiError:
        return _challenge("Invalid username or token.")
    g.principal = who
    with store.lock:
        repo = store.repo(owner, name)
        role = perms.role(store, repo, who) if repo else None
    if repo is None or role is None:
        if who.kind == "anonymous":
            return _challenge()
        return Response("Repository not found.\n", status=404, mimetype="text/plain")
    if pushing and not perms.at_least(role, "write"):
        if who.kind == "anonymous":
            return _challenge()
        return Response(f"Permission to {owner}/{name}.git denied to {who.login}.\n", status=403,
                        mimetype="text/plain")
    if not pushing:
        return _run_backend(store.git_root, owner, name, rest, who.login)
    with store.lock:
        # looked up again under this lock: a save since the first look-up forgot that it was read,
        # and only records looked up since the last save are written (sandbox/store.py)
        repo = store.repo(owner, name)
        if repo is None:
            return Response("Repository not found.\n", status=404, mimetype="text/plain")
        git = GitRepo(store.git_dir(repo))
        prereceive.install(store.git_dir(repo), needed=bool(repo.get("protection")))
        store.save()  # the pre-receive hook reads protection rules from disk
        before = git.refs("refs/heads/") | git.refs("refs/tags/")
        hook_env = {"SANDBOX_DATA_DIR": str(store.data_dir), "SANDBOX_REPO": f"{owner}/{name}",
                    "SANDBOX_ROLE": role or "", "SANDBOX_PYTHON": sys.executable}
        resp = _run_backend(store.git_root, owner, name, rest, who.login, hook_env)
        after = git.refs("refs/heads/") | git.refs("refs/tags/")
        repo = store.repo(owner, name) or repo  # looked up since the save above: what changes now is saved
        changed = sorted(set(before) | set(after))
        for ref in changed:
            if before.get(ref) != after.get(ref):
                domain.on_ref_update(store, sandbox.dispatcher, repo, ref, before.get(ref), after.get(ref),
                                     who.login or "ghost")
        if any(before.get(r) != after.get(r) for r in changed):
            store.save()
    return resp


def _run_backend(root: object, owner: str, name: str, rest: str, login: str | None,
                 extra_env: dict[str, str] | None = None) -> Response:
    data = request.get_data()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": os.environ.get("HOME", "/tmp"),
        "PATH_INFO": f"/{owner}/{name}.git/{rest}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string.decode(),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(data)),
        "REMOTE_USER": login or "",
        "REMOTE_ADDR": request.remote_addr or "127.0.0.1",
        "GIT_COMMITTER_NAME": login or "anonymous",
        "GIT_COMMITTER_EMAIL": f"{login or 'anonymous'}@users.noreply.sandbox",
    }
    env.update(extra_env or {})
    if request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    if request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    proc = subprocess.run(["git", "http-backend"], input=data, env=env, capture_output=True, check=False)
    raw = proc.stdout
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    status = 200
    headers = {}
    for line in head.decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()
    return Response(body, status=status, headers=headers)
