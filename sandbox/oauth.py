"""GitHub's OAuth web flow for a GitHub App's user-to-server tokens, at GitHub's own paths.

- `GET /login/oauth/authorize?client_id=…&redirect_uri=…&state=…`: GitHub's sign-in and consent
  page. The sandbox has no passwords (a user's token is its login), so the page asks for the login
  to sign in as, and names the app asking.
- `POST /login/oauth/authorize`: "Authorize": back to `redirect_uri` with `code` and `state`.
- `POST /login/oauth/access_token` (`client_id`, `client_secret`, `code`, optional `redirect_uri`):
  a `ghu_` token acting as that user, as JSON with `Accept: application/json`, else form-encoded,
  like GitHub. Errors are 200s with `error` / `error_description`, like GitHub's
  (`bad_verification_code`, `incorrect_client_credentials`, `redirect_uri_mismatch`).

Codes are single-use and expire after 10 minutes; tokens after 8 hours (GitHub's defaults for
expiring user tokens). An app's `client_id` is `Iv1.sandbox<id>` and its `client_secret` is
returned when it is registered (`POST /_sandbox/apps`).
"""

from __future__ import annotations

import html
import secrets
import time
import urllib.parse
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, request

bp = Blueprint("oauth", __name__)

CODE_TTL = 600.0
TOKEN_TTL = 8 * 3600.0


def _store() -> Any:
    return current_app.extensions["sandbox"].store


def app_by_client_id(state: dict[str, Any], client_id: str | None) -> dict[str, Any] | None:
    return next((a for a in state["apps"].values() if f"Iv1.sandbox{a['id']}" == client_id), None)


def _page(body: str, status: int = 200) -> Response:
    return Response(f"<!doctype html><html><head><meta charset=utf-8><title>Sign in · sandbox GitHub</title></head>"
                    f"<body style='font-family:sans-serif;max-width:30em;margin:3em auto'>{body}</body></html>",
                    status=status, mimetype="text/html")


def _valid_redirect(uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@bp.get("/login/oauth/authorize")
def authorize_page() -> Response:
    state = _store().state
    app = app_by_client_id(state, request.args.get("client_id"))
    if app is None:
        return _page("<h1>404</h1><p>No application with this client_id.</p>", 404)
    redirect_uri = request.args.get("redirect_uri", "")
    if not _valid_redirect(redirect_uri):
        return _page("<h1>Redirect URI mismatch</h1><p>redirect_uri must be an http(s) URL.</p>", 400)
    e = html.escape
    hidden = "".join(f"<input type=hidden name='{k}' value='{e(request.args.get(k, ''))}'>"
                     for k in ("client_id", "redirect_uri", "state"))
    return _page(f"<h1>Sign in to the sandbox GitHub</h1><p><strong>{e(app['name'])}</strong> by "
                 f"{e(app['owner_login'])} wants to know who you are.</p>"
                 f"<form method=post action='/login/oauth/authorize'>{hidden}"
                 "<label>Username <input name=login autocomplete=username autofocus></label> "
                 f"<button type=submit>Authorize {e(app['slug'])}</button></form>")


@bp.post("/login/oauth/authorize")
def authorize() -> Any:
    st = _store()
    form = request.form
    app = app_by_client_id(st.state, form.get("client_id"))
    redirect_uri = form.get("redirect_uri", "")
    login = (form.get("login") or "").strip()
    if app is None or not _valid_redirect(redirect_uri):
        return _page("<h1>Bad request</h1>", 400)
    user = st.user(login)
    if user is None or user["type"] != "User":
        return _page(f"<h1>Incorrect username</h1><p>No user {html.escape(login)} in this sandbox.</p>", 401)
    code = secrets.token_hex(10)
    with st.lock:
        st.state.setdefault("oauth_codes", {})[code] = {
            "app_id": app["id"], "login": login, "redirect_uri": redirect_uri, "expires_at": time.time() + CODE_TTL}
        st.save()
    query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
    sep = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
    return redirect(f"{redirect_uri}{sep}{urllib.parse.urlencode(query)}", code=302)


def _answer(data: dict[str, str]) -> Response:
    if "application/json" in request.headers.get("Accept", ""):
        return jsonify(data)
    return Response(urllib.parse.urlencode(data), mimetype="application/x-www-form-urlencoded")


def _error(code: str, description: str) -> Response:
    return _answer({"error": code, "error_description": description,
                    "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})


@bp.post("/login/oauth/access_token")
def access_token() -> Response:
    st = _store()
    args: dict[str, Any] = {**request.args, **request.form, **(request.get_json(silent=True) or {})}
    app = app_by_client_id(st.state, args.get("client_id"))
    if app is None or not secrets.compare_digest(str(app.get("client_secret") or "x"),
                                                 str(args.get("client_secret") or "")):
        return _error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
    with st.lock:
        codes = st.state.setdefault("oauth_codes", {})
        grant = codes.pop(str(args.get("code") or ""), None)
        if grant is None or grant["app_id"] != app["id"] or grant["expires_at"] < time.time():
            st.save()
            return _error("bad_verification_code", "The code passed is incorrect or expired.")
        if args.get("redirect_uri") and args["redirect_uri"] != grant["redirect_uri"]:
            st.save()
            return _error("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL.")
        token = "ghu_" + secrets.token_urlsafe(27)
        st.state.setdefault("oauth_tokens", {})[token] = {"login": grant["login"], "app_id": app["id"],
                                                          "expires_at": time.time() + TOKEN_TTL}
        st.save()
    return _answer({"access_token": token, "expires_in": str(int(TOKEN_TTL)), "token_type": "bearer", "scope": ""})
