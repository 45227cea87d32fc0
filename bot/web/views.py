"""The dashboard's pages (Flask blueprint): gather (queries.py) → render (templates/*.html).

Routes: `/`, `/<owner>/<repo>`, `/<owner>/<repo>/pull/<n>`, `/<owner>/<repo>/models`,
`/<owner>/<repo>/deployments`, `/<owner>/<repo>/alerts`, and signing in under `/-/` (`-` is
not a valid GitHub login, so no repository page can be shadowed). Every repository page asks
`access.viewable` first and answers 404 when the viewer may not see it, exactly as for a name
that does not exist. Templates autoescape every value.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
from flask import Blueprint, Flask, abort, redirect, render_template, request, session, url_for
from sqlalchemy.engine import Engine
from werkzeug.wrappers import Response

from mlgate.bot.web import queries
from mlgate.bot.web.access import RepoAccess, viewable
from mlgate.bot.web.charts import line_chart
from mlgate.bot.web.registry import RegistryView

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class DashboardConfig:
    """Signing in: the GitHub App's OAuth client, GitHub's web and API roots, the cookie key."""

    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    github_web_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    session_secret: str | None = None
    secure_cookies: bool = False


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")


def plain(markdown: str) -> str:
    """The alerts' Markdown (written for GitHub issues, user text escaped by `md`) as the plain text it
    reads as: code spans, bold and backslash escapes dropped, entities decoded. The template escapes
    the result again, so nothing in it is ever markup on the page."""
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip(), markdown)
    text = text.replace("**", "")
    text = _MD_ESCAPE.sub(r"\1", text)
    return html.unescape(text)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never `//host` or a URL): no open redirect after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _no_registry(repo: str, branch: str) -> RegistryView:
    return RegistryView(None, problem="the bot has no GitHub credentials to read it with")


def create_blueprint(engine: Engine, access: RepoAccess, config: DashboardConfig,
                     registry: Callable[[str, str], RegistryView] = _no_registry) -> Blueprint:
    bp = Blueprint("dashboard", __name__, template_folder=str(TEMPLATES))

    def viewer() -> str | None:
        login = session.get("login")
        return login if isinstance(login, str) else None

    def repo_or_404(owner: str, name: str) -> str:
        repo = queries.find_repo(engine, owner, name)
        if repo is None or not viewable(access, repo, viewer()):
            abort(404)
        return repo

    def page(template: str, **values: Any) -> str:
        return render_template(template, viewer=viewer(), when=_when, duration=_duration, plain=plain,
                               sign_in=bool(config.oauth_client_id), web_url=config.github_web_url.rstrip("/"),
                               **values)

    @bp.get("/")
    def index() -> str:
        login = viewer()
        repos = [queries.summary(engine, r) for r in queries.known_repos(engine) if viewable(access, r, login)]
        return page("index.html", repos=repos)

    @bp.get("/<owner>/<name>")
    def repo_page(owner: str, name: str) -> str:
        repo = repo_or_404(owner, name)
        return page("repo.html", repo=repo, data=queries.repo_page(engine, repo), now=time.time())

    @bp.get("/<owner>/<name>/pull/<int:number>")
    def pull_page(owner: str, name: str, number: int) -> str:
        repo = repo_or_404(owner, name)
        data = queries.pull_page(engine, repo, number)
        if data is None:
            abort(404)
        return page("pull.html", repo=repo, data=data)

    @bp.get("/<owner>/<name>/models")
    def models_page(owner: str, name: str) -> str:
        repo = repo_or_404(owner, name)
        data = queries.models_page(engine, repo)
        charts = {gate: {label: line_chart(f"{gate} {label}", label.split(" [")[0],
                                           [p.sha[:7] for p in points], [p.value for p in points])
                         for label, points in sorted(series.items())}
                  for gate, series in sorted(data.series.items())}
        unused_names = {item.split(" ", 1)[0] for item in data.unused}  # "name (line N)"
        return page("models.html", repo=repo, data=data, charts=charts, unused_names=unused_names,
                    registry=registry(repo, queries.config_branch(engine, repo)))

    @bp.get("/<owner>/<name>/deployments")
    def deployments_page(owner: str, name: str) -> str:
        repo = repo_or_404(owner, name)
        current, history = queries.deployments_page(engine, repo)
        return page("deployments.html", repo=repo, current=current, history=history)

    @bp.get("/<owner>/<name>/card/<sha>")
    def card_page(owner: str, name: str, sha: str) -> str:
        repo = repo_or_404(owner, name)
        card = queries.model_card(engine, repo, sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None
        if card is None:
            abort(404)
        return page("card.html", repo=repo, sha=sha, card=card,
                    card_json=json.dumps(card, indent=2, sort_keys=True, default=str))

    @bp.get("/<owner>/<name>/alerts")
    def alerts_page(owner: str, name: str) -> str:
        repo = repo_or_404(owner, name)
        return page("alerts.html", repo=repo, alerts=queries.repo_alerts(engine, repo))

    # --- signing in with GitHub (the App's OAuth web flow, user-to-server) ---------------------------
    @bp.get("/-/login")
    def login() -> Response:
        if not config.oauth_client_id:
            abort(404)
        state = secrets.token_urlsafe(24)
        session["oauth_state"] = state
        session["next"] = _safe_next(request.args.get("next"))
        query = urllib.parse.urlencode({"client_id": config.oauth_client_id, "state": state,
                                        "redirect_uri": url_for("dashboard.callback", _external=True)})
        return redirect(f"{config.github_web_url.rstrip('/')}/login/oauth/authorize?{query}")

    @bp.get("/-/callback")
    def callback() -> Response:
        expected = session.pop("oauth_state", None)
        state, code = request.args.get("state"), request.args.get("code")
        if not expected or not state or not code or not secrets.compare_digest(expected, state):
            abort(400, "the sign-in was not started here, or it expired: sign in again")
        token = _exchange(config, code, url_for("dashboard.callback", _external=True))
        login = _login_of(config, token) if token else None
        if not login:
            abort(403, "GitHub did not confirm the sign-in")
        target = _safe_next(session.pop("next", "/"))
        session.clear()
        session["login"] = login  # the token itself is not kept: permissions are asked with the bot's
        return redirect(target)

    @bp.post("/-/logout")
    def logout() -> Response:
        session.clear()
        return redirect("/")

    return bp


def _exchange(config: DashboardConfig, code: str, redirect_uri: str) -> str | None:
    resp = requests.post(f"{config.github_web_url.rstrip('/')}/login/oauth/access_token", timeout=15,
                         headers={"Accept": "application/json"},
                         data={"client_id": config.oauth_client_id, "client_secret": config.oauth_client_secret,
                               "code": code, "redirect_uri": redirect_uri})
    if resp.status_code != 200:
        return None
    token = resp.json().get("access_token")
    return token if isinstance(token, str) and token else None


def _login_of(config: DashboardConfig, token: str) -> str | None:
    resp = requests.get(f"{config.github_api_url.rstrip('/')}/user", timeout=15,
                        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"})
    login = resp.json().get("login") if resp.status_code == 200 else None
    return login if isinstance(login, str) and login else None


def register_dashboard(app: Flask, engine: Engine, access: RepoAccess, config: DashboardConfig,
                       registry: Callable[[str, str], RegistryView] = _no_registry) -> None:
    """Mount the dashboard on the bot's Flask app (signed-cookie sessions)."""
    app.secret_key = config.session_secret or os.urandom(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.secure_cookies, SESSION_COOKIE_NAME="mlgate_session")
    app.register_blueprint(create_blueprint(engine, access, config, registry))
