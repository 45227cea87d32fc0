"""The Flask application: wires the store, webhooks, auth, rate limits, ETags, faults and routes."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from mlgate.sandbox import githttp, names
from mlgate.sandbox.api import ROUTERS
from mlgate.sandbox.auth import authenticate
from mlgate.sandbox.errors import ApiError
from mlgate.sandbox.faults import SECONDARY_MESSAGE, CallLog, FaultTable
from mlgate.sandbox.ratelimit import RateLimiter
from mlgate.sandbox.store import Store
from mlgate.sandbox.webhooks import WebhookSender

API_PREFIX = "/api/v3"
# (method, template, status, response body, response headers, request JSON body) for every API
# response; the contract tests hook in here
ResponseObserver = Callable[[str, str | None, int, Any, dict[str, str], Any], None]


@dataclass
class Sandbox:
    """Everything one running sandbox owns, reachable as ``app.extensions["sandbox"]``."""

    store: Store
    dispatcher: WebhookSender
    faults: FaultTable = field(default_factory=FaultTable)
    calls: CallLog = field(default_factory=CallLog)
    limits: RateLimiter = field(default_factory=RateLimiter)
    observers: list[ResponseObserver] = field(default_factory=list)


def create_app(
    data_dir: Path | str,
    users: list[str] | None = None,
    orgs: dict[str, list[str]] | None = None,
    public_url: str | None = None,
    webhook_retries: int = 0,
) -> Flask:
    """Build the app; ``users`` are created if missing, ``orgs`` maps org -> admin logins.
    A login that breaks GitHub's rules is a ValueError, before anything is written."""
    for login in [*(users or []), *(orgs or {}), *(a for admins in (orgs or {}).values() for a in admins)]:
        problem = names.login_error(login)
        if problem:
            raise ValueError(problem)
    store = Store(data_dir)
    with store.lock:
        for login in users or []:
            store.ensure_user(login)
        for org, admins in (orgs or {}).items():
            rec = store.ensure_user(org, "Organization")
            members = rec.setdefault("members", {})
            for admin in admins:
                store.ensure_user(admin)
                members[admin] = "admin"
        store.save()
    app = Flask("mlgate.sandbox")
    app.config["PUBLIC_URL"] = public_url
    app.json.sort_keys = False  # type: ignore[attr-defined]
    sandbox = Sandbox(store=store, dispatcher=WebhookSender(store, retries=webhook_retries))
    app.extensions["sandbox"] = sandbox
    for router in ROUTERS:
        app.register_blueprint(router.bp, url_prefix=API_PREFIX)
    from mlgate.sandbox.api.admin import bp as admin_bp

    app.register_blueprint(admin_bp, url_prefix="/_sandbox")
    app.register_blueprint(githttp.bp)
    from mlgate.sandbox.oauth import bp as oauth_bp

    app.register_blueprint(oauth_bp)
    _install_hooks(app, sandbox)
    return app


def _template() -> str | None:
    if request.url_rule is None:
        return None
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint or "")
    op = getattr(view, "openapi", None)
    return op[1] if op else None


def _error(err: ApiError) -> Response:
    resp = jsonify(err.body())
    resp.status_code = err.status
    resp.headers.update(err.headers)
    return resp


def _install_hooks(app: Flask, sandbox: Sandbox) -> None:
    @app.before_request
    def before() -> Response | None:
        if not request.path.startswith(API_PREFIX):
            return None
        g.started = time.monotonic()
        try:
            g.principal = authenticate(sandbox.store, request.headers.get("Authorization"))
        except ApiError as err:
            return _error(err)
        who = g.principal
        template = _template()
        fault = sandbox.faults.take(request.method, template, request.path[len(API_PREFIX):])
        g.fault = fault
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.delay)
            elif fault.kind == "secondary_rate_limit":
                return _error(ApiError(403, SECONDARY_MESSAGE, headers={"Retry-After": str(fault.retry_after)}))
            else:
                msg = "Server Error" if fault.kind == "500" else "Bad Gateway"
                return _error(ApiError(int(fault.kind), msg))
        if template == "/rate_limit":
            return None
        _, ok = sandbox.limits.consume(who.key, who.kind)
        if not ok:
            return _error(ApiError(403, f"API rate limit exceeded for {who.login or 'this IP'}."))
        return None

    @app.after_request
    def after(resp: Response) -> Response:
        if not request.path.startswith(API_PREFIX):
            return resp
        who = g.get("principal")
        template = _template()
        if who is not None:
            if request.method == "GET" and resp.status_code == 200 and resp.is_json:
                etag = 'W/"' + hashlib.sha256(resp.get_data()).hexdigest() + '"'
                resp.headers["ETag"] = etag
                inm = request.headers.get("If-None-Match", "")
                if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                    sandbox.limits.refund(who.key, who.kind)
                    resp = Response(status=304, headers={"ETag": etag})
            bucket = sandbox.limits.bucket(who.key, who.kind)
            resp.headers.update(sandbox.limits.headers(bucket))
        fault = g.get("fault")
        if fault is not None:
            resp.headers["X-Sandbox-Fault"] = f"{fault.id}:{fault.kind}"
        resp.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
        resp.headers["X-GitHub-Request-Id"] = hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:16]
        resp.headers.setdefault("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
        path = request.path[len(API_PREFIX):] or "/"
        sandbox.calls.record(request.method, template, path, resp.status_code,
                             (who.login if who else None) or "anonymous")
        if sandbox.observers:
            body = None
            if resp.is_json and resp.status_code != 304:
                body = json.loads(resp.get_data() or b"null")
            sent = request.get_json(silent=True) if request.data else None
            for observe in sandbox.observers:
                observe(request.method, template, resp.status_code, body, dict(resp.headers), sent)
        return resp

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> Response:
        return _error(err)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if not request.path.startswith(API_PREFIX):
            return Response(f"{exc.code} {exc.name}\n", status=exc.code or 500, mimetype="text/plain")
        route = f"{request.method} {request.path[len(API_PREFIX):]}"
        if (exc.code in (404, 405) and request.url_rule is None) or exc.code == 405:
            return _error(ApiError(404, "Not Found",
                                   sandbox_unimplemented=f"the sandbox does not implement {route}"))
        return _error(ApiError(exc.code or 500, exc.description or exc.name))
