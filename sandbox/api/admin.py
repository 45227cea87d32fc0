"""Sandbox-only admin endpoints under ``/_sandbox/`` (no auth): seed users, orgs and apps, inject
faults, read the call log, and wait for webhook deliveries.  Nothing here exists on GitHub."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from mlgate.sandbox import app_permissions, auth, manifest, mergequeue, names, payloads, registry, render
from mlgate.sandbox.ctx import sandbox, store
from mlgate.sandbox.errors import ApiError
from mlgate.sandbox.store import now_iso

bp = Blueprint("sandbox_admin", __name__)
J = dict[str, Any]


def _json() -> J:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _err(status: int, message: str) -> Response:
    resp = jsonify({"message": message})
    resp.status_code = status
    return resp


def _login_problem(data: J, *keys: str) -> str | None:
    """The first invalid login among `data[key]` (a login, or a list of them for admins/members)."""
    for key in keys:
        values = data.get(key, [])
        for value in values if isinstance(values, list) else [values]:
            problem = names.login_error(value)
            if problem:
                return f"{key}: {problem}"
    return None


@bp.get("/health")
def health() -> Any:
    return {"ok": True}


@bp.post("/users")
def create_user() -> Any:
    data = _json()
    if not data.get("login"):
        return _err(422, "login is required")
    problem = _login_problem(data, "login")
    if problem:
        return _err(422, problem)
    with store().lock:
        rec = store().ensure_user(data["login"], name=data.get("name"),
                                  **({"email": data["email"]} if data.get("email") else {}))
        store().save()
        return render.user(rec), 201


@bp.post("/orgs")
def create_org() -> Any:
    data = _json()
    if not data.get("login"):
        return _err(422, "login is required")
    problem = _login_problem(data, "login", "admins", "members")
    if problem:
        return _err(422, problem)
    with store().lock:
        rec = store().ensure_user(data["login"], "Organization")
        members = rec.setdefault("members", {})
        for admin in data.get("admins", []):
            store().ensure_user(admin)
            members[admin] = "admin"
        for member in data.get("members", []):
            store().ensure_user(member)
            members.setdefault(member, "member")
        store().save()
        return render.org(store(), rec), 201


@bp.post("/apps")
def create_app() -> Any:
    """Register a GitHub App; returns its id and private key (generated unless one is given).
    As on GitHub it gets the permissions it names (plus metadata: read) and the events it names."""
    data = _json()
    slug = data.get("slug")
    if not slug:
        return _err(422, "slug is required")
    spec = registry.AppSpec(
        slug=str(slug), name=str(data.get("name") or slug), owner=str(data.get("owner") or "sandbox-admin"),
        description=str(data.get("description") or ""), webhook_url=data.get("webhook_url"),
        webhook_secret=data.get("webhook_secret"), permissions=data.get("permissions") or {},
        events=data.get("events") or [], private_key=data.get("private_key"),
    )
    st = store()
    with st.lock:
        problems = registry.problems(st, spec)
        if problems:
            return _err(422, "; ".join(problems))
        record, private = registry.register(st, spec)
        st.save()
    client = {"client_id": f"Iv1.sandbox{record['id']}", "client_secret": record["client_secret"]}  # OAuth web flow
    return {"id": record["id"], "slug": record["slug"], "bot_login": record["bot_login"], "private_key": private,
            "permissions": record["permissions"], "events": record["events"], **client}, 201


@bp.post("/app-manifests")
def manifest_code() -> Any:
    """The manifest form's outcome without a browser: ``{manifest, owner}`` → a one-time code
    for ``POST /app-manifests/{code}/conversions``."""
    data = _json()
    found = manifest.problems(data.get("manifest") or {}) if isinstance(data.get("manifest"), dict) else \
        ["manifest: must be an object"]
    owner = str(data.get("owner") or "")
    if store().user(owner) is None:
        found.append(f"owner: no user or organization {owner!r}")
    if found:
        return _err(422, "; ".join(found))
    with store().lock:
        code = manifest.issue_code(store(), data["manifest"], owner)
        store().save()
    return {"code": code}, 201


@bp.post("/apps/<int:app_id>/installations")
def install_app(app_id: int) -> Any:
    """Install an app on an account (all repos, or the named ones); fires ``installation`` created."""
    data = _json()
    st = store()
    with st.lock:
        app = st.state["apps"].get(str(app_id))
        account = st.user(data.get("account", ""))
        if app is None or account is None:
            return _err(404, "app or account not found")
        names = data.get("repositories")
        ids = []
        for name in names or []:
            rec = st.repo(account["login"], name)
            if rec is None:
                return _err(404, f"repository {name} not found")
            ids.append(rec["id"])
        # the installation accepts the App's permissions as they are now; later changes to the
        # App do not reach it (on GitHub the account must accept them first)
        inst = {"id": st.next_id("installation"), "app_id": app_id, "account": account["login"],
                "repository_selection": "selected" if names else "all", "repository_ids": ids,
                "permissions": app_permissions.normalise(app.get("permissions")), "created_at": now_iso()}
        st.state["installations"][str(inst["id"])] = inst
        repos = [r for r in st.state["repos"].values() if r["owner"] == account["login"]
                 and (not names or r["id"] in ids)]
        payload = {
            "action": "created",
            "installation": render.installation(st, inst) | {"account": render.user(account)},
            "repositories": [{"id": r["id"], "node_id": render.node_id("R", r["id"]), "name": r["name"],
                              "full_name": f"{r['owner']}/{r['name']}", "private": r["private"]} for r in repos],
            "sender": payloads.sender(st, data.get("sender") or account["login"] if account["type"] == "User"
                                      else app["owner_login"]),
        }
        sandbox().dispatcher.emit_app(app, "installation", payload, inst["id"])
        st.save()
        return render.installation(st, inst), 201


# GitHub Actions' GITHUB_TOKEN is an installation token of the `github-actions` App, limited to the
# workflow's repository; these are the permissions of GitHub's permissive default for workflows.
ACTIONS_SLUG = "github-actions"
ACTIONS_PERMISSIONS = {p: "write" for p in ("actions", "checks", "contents", "deployments", "issues", "packages",
                                             "pages", "pull_requests", "repository_projects", "security_events",
                                             "statuses")}


def actions_installation(st: Any, account: str) -> J:
    """The built-in `github-actions` App and its installation on ``account`` (made on first use)."""
    app = next((a for a in st.state["apps"].values() if a["slug"] == ACTIONS_SLUG), None)
    if app is None:
        st.ensure_user("github", "Organization")
        app, _ = registry.register(st, registry.AppSpec(
            slug=ACTIONS_SLUG, name="GitHub Actions", owner="github", permissions=ACTIONS_PERMISSIONS,
            description="Automate your workflow from idea to production (sandbox stand-in)"))
    for inst in st.state["installations"].values():
        if inst["app_id"] == app["id"] and inst["account"] == account:
            return inst
    inst = {"id": st.next_id("installation"), "app_id": app["id"], "account": account,
            "repository_selection": "all", "repository_ids": [],
            "permissions": app_permissions.normalise(app["permissions"]), "created_at": now_iso()}
    st.state["installations"][str(inst["id"])] = inst
    return inst


@bp.post("/actions/token")
def actions_token() -> Any:
    """A GITHUB_TOKEN for a workflow run in ``repository``: ``permissions`` narrows it the way a
    workflow's ``permissions:`` key does (``{}`` leaves metadata: read only). Check runs created with
    it come from the `github-actions` App, as on GitHub."""
    data = _json()
    full = str(data.get("repository") or "")
    st = store()
    with st.lock:
        rec = st.state["repos"].get(full)
        if rec is None:
            return _err(404, f"no repository {full!r}")
        inst = actions_installation(st, rec["owner"])
        wanted = data.get("permissions")
        granted = inst["permissions"] if wanted is None else app_permissions.normalise(
            {k: v for k, v in dict(wanted).items() if k in inst["permissions"]})
        minted = auth.mint_installation_token(st, inst["id"], granted, [rec["id"]])
        st.save()
    return {**minted, "permissions": granted, "installation_id": inst["id"]}, 201


@bp.post("/installations/<int:inst_id>/expire-tokens")
def expire_tokens(inst_id: int) -> Any:
    """Make every token of an installation expire now (to test token refresh)."""
    with store().lock:
        n = 0
        for key, tok in store().state["tokens"].items():
            if tok["installation_id"] == inst_id:
                tok["expires_at"] = time.time() - 1
                store().touch("tokens", key)  # found by iterating: tell the store it changed
                n += 1
        store().save()
    return {"expired": n}


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults() -> Any:
    table = sandbox().faults
    if request.method == "DELETE":
        table.clear()
        return Response(status=204)
    if request.method == "POST":
        data = _json()
        try:
            fault = table.add(data.get("method", "*"), data.get("path", "*"), str(data.get("kind", "500")),
                              int(data.get("count", 1)), float(data.get("delay", 0)),
                              int(data.get("retry_after", 1)), str(data.get("event") or "*"), data.get("action"))
        except ValueError as exc:
            return _err(422, str(exc))
        return {"id": fault.id}, 201
    return jsonify(table.as_json())


@bp.route("/calls", methods=["GET", "DELETE"])
def calls() -> Any:
    if request.method == "DELETE":
        sandbox().calls.reset()
        return Response(status=204)
    return sandbox().calls.summary()


@bp.post("/webhooks/wait")
def wait_webhooks() -> Any:
    """Wait for pending deliveries, and for merge detections due soon (they send webhooks)."""
    ok = sandbox().settle(float(_json().get("timeout", 30)))
    return ({"idle": True}, 200) if ok else ({"idle": False}, 504)


@bp.route("/merges", methods=["GET", "PUT"])
def merges() -> Any:
    """GET: detections waiting (a push made a PR's head part of its base; GitHub has not noticed
    yet). PUT ``{"delay": seconds | null}``: how long detection takes (null: only when asked)."""
    detector = sandbox().merges
    if request.method == "PUT":
        delay = _json().get("delay")
        if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
            return _err(422, "delay must be a number of seconds >= 0, or null")
        detector.delay = None if delay is None else float(delay)
    return {"delay": detector.delay, "pending": detector.pending()}


@bp.post("/merges/detect")
def detect_merges() -> Any:
    """Run every waiting merge detection now."""
    return {"merged": sandbox().merges.detect_now()}


@bp.get("/deliveries")
def deliveries() -> Any:
    with store().lock:
        return jsonify(list(store().state["deliveries"]))


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int) -> Any:
    with store().lock:
        d = store().read_delivery(delivery_id)
    return d if d is not None else _err(404, "no such delivery")


@bp.post("/ratelimit")
def ratelimit() -> Any:
    """Set the primary limit for a principal (``login`` for users, ``installation_id`` for tokens)."""
    data = _json()
    if data.get("installation_id"):
        inst = store().state["installations"].get(str(data["installation_id"]))
        if inst is None:
            return _err(404, "no such installation")
        app = store().state["apps"][str(inst["app_id"])]
        key = f"installation:{app['bot_login']}:{inst['id']}"
    else:
        key = f"user:{data.get('login')}:"
    sandbox().limits.set_limit(key, int(data.get("limit", 5000)))
    return {"key": key}


@bp.route("/repos/<owner>/<name>/merge-queue", methods=["GET", "POST"])
def merge_queue(owner: str, name: str) -> Any:
    """GitHub's merge queue (sandbox/mergequeue.py): POST {"number", "sender"} adds a PR (GitHub's
    "Merge when ready"); GET lists the groups waiting, first first."""
    st = store()
    with st.lock:
        rec = st.repo(owner, name)
        if rec is None:
            return _err(404, "repository not found")
        if request.method == "GET":
            return jsonify(list(rec.get("merge_queue") or []))
        data = _json()
        number, sender = data.get("number"), data.get("sender") or owner
        if not isinstance(number, int) or st.user(sender) is None:
            return _err(422, "number (an integer) and sender (a user) are required")
        try:
            entry = mergequeue.enqueue(st, sandbox().dispatcher, rec, number, sender)
        except ApiError as exc:
            return _err(exc.status, exc.message)
        st.save()
        return entry, 201
