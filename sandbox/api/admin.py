"""Sandbox-only admin endpoints under ``/_sandbox/`` (no auth): seed users, orgs and apps, inject
faults, read the call log, and wait for webhook deliveries.  Nothing here exists on GitHub."""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from mlgate.sandbox import auth, mergequeue, names, payloads, render
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
    """Register a GitHub App; returns its id and private key (generated unless one is given)."""
    data = _json()
    slug = data.get("slug")
    if not slug:
        return _err(422, "slug is required")
    problem = _login_problem(data, "slug") or (_login_problem(data, "owner") if data.get("owner") else None)
    if problem:  # the slug becomes the bot's login, "<slug>[bot]"
        return _err(422, problem)
    private = data.get("private_key")
    public = auth.public_key_from_private(private) if private else None
    if not private:
        private, public = auth.generate_app_keypair()
    st = store()
    with st.lock:
        owner = data.get("owner") or "sandbox-admin"
        st.ensure_user(owner)
        app_id = st.next_id("app")
        bot_login = f"{slug}[bot]"
        st.ensure_user(bot_login, "Bot")
        st.state["apps"][str(app_id)] = {
            "id": app_id, "slug": slug, "name": data.get("name", slug), "owner_login": owner,
            "description": data.get("description", ""), "public_key_pem": public, "bot_login": bot_login,
            "webhook_url": data.get("webhook_url"), "webhook_secret": data.get("webhook_secret"),
            "events": data.get("events", []),
            "permissions": data.get("permissions", {"contents": "write", "pull_requests": "write",
                                                    "checks": "write", "statuses": "write", "issues": "write",
                                                    "deployments": "write", "metadata": "read"}),
            "created_at": now_iso(),
            "client_secret": secrets.token_hex(20),  # the OAuth web flow's (sandbox/oauth.py)
        }
        st.save()
    client = {"client_id": f"Iv1.sandbox{app_id}", "client_secret": st.state["apps"][str(app_id)]["client_secret"]}
    return {"id": app_id, "slug": slug, "bot_login": bot_login, "private_key": private, **client}, 201


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
        inst = {"id": st.next_id("installation"), "app_id": app_id, "account": account["login"],
                "repository_selection": "selected" if names else "all", "repository_ids": ids,
                "created_at": now_iso()}
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


@bp.post("/installations/<int:inst_id>/expire-tokens")
def expire_tokens(inst_id: int) -> Any:
    """Make every token of an installation expire now (to test token refresh)."""
    with store().lock:
        n = 0
        for tok in store().state["tokens"].values():
            if tok["installation_id"] == inst_id:
                tok["expires_at"] = time.time() - 1
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
                              int(data.get("retry_after", 1)))
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
    ok = sandbox().dispatcher.wait_idle(float(_json().get("timeout", 30)))
    return ({"idle": True}, 200) if ok else ({"idle": False}, 504)


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
