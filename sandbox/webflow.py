"""The browser half of GitHub's App manifest flow, so registration can be rehearsed offline.

On GitHub a page POSTs a form with a ``manifest`` field (JSON) to ``/settings/apps/new`` (or
``/organizations/<org>/settings/apps/new``); the signed-in user confirms, and GitHub redirects to
the manifest's ``redirect_url`` with ``?code=…&state=…``. The sandbox has no sign-in: the user is
the token in ``Authorization`` (as for the API) or a ``login`` form field, and the confirmation is
implied. Without a ``redirect_url`` the code comes back as JSON.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, redirect, request

from mlgate.sandbox import manifest
from mlgate.sandbox.auth import authenticate
from mlgate.sandbox.errors import ApiError

bp = Blueprint("sandbox_webflow", __name__)


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def _new(org: str | None) -> Any:
    store = current_app.extensions["sandbox"].store
    raw = request.form.get("manifest")
    if raw is None:
        return _text(422, "the form has no manifest field")
    try:
        data = json.loads(raw)
    except ValueError:
        return _text(422, "the manifest field is not valid JSON")
    if not isinstance(data, dict):
        return _text(422, "the manifest is not a JSON object")
    found = manifest.problems(data)
    if found:
        return _text(422, "; ".join(found))
    with store.lock:
        if org is not None:
            rec = store.user(org)
            if rec is None or rec["type"] != "Organization":
                return _text(404, f"no organization {org}")
            owner = org
        else:
            try:
                who = authenticate(store, request.headers.get("Authorization"))
            except ApiError as err:
                return _text(err.status, err.message)
            login = who.login if who.kind == "user" else request.form.get("login") or request.args.get("login")
            if not login or store.user(login) is None:
                return _text(401, "sign in: send a user token in Authorization, or a login form field")
            owner = login
        code = manifest.issue_code(store, data, owner)
        store.save()
    state = request.args.get("state") or request.form.get("state")
    target = data.get("redirect_url")
    if isinstance(target, str) and target:
        query = urlencode({"code": code, **({"state": state} if state else {})})
        return redirect(f"{target}{'&' if '?' in target else '?'}{query}", code=302)
    return jsonify({"code": code, "state": state}), 201


@bp.post("/settings/apps/new")
def new_user_app() -> Any:
    return _new(None)


@bp.post("/organizations/<org>/settings/apps/new")
def new_org_app(org: str) -> Any:
    return _new(org)
