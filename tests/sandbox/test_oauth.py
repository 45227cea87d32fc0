"""The sandbox's OAuth web flow for GitHub App user-to-server tokens (sandbox/oauth.py): GitHub's
paths, parameters, answers and errors; the `ghu_` token then acts as the user on the API."""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from mlgate.sandbox.harness import SandboxServer

CALLBACK = "http://127.0.0.1:9/-/callback?x=1"


def app(server: SandboxServer) -> dict[str, Any]:
    resp = server.admin("POST", "/apps", json={"slug": "oauth-client", "owner": "alice"})
    resp.raise_for_status()
    return resp.json()


def code_for(server: SandboxServer, client_id: str, login: str, state: str = "st") -> str:
    page = requests.get(f"{server.url}/login/oauth/authorize", timeout=30,
                        params={"client_id": client_id, "redirect_uri": CALLBACK, "state": state})
    assert page.status_code == 200 and "oauth-client" in page.text and "name=login" in page.text
    back = requests.post(f"{server.url}/login/oauth/authorize", allow_redirects=False, timeout=30,
                         data={"client_id": client_id, "redirect_uri": CALLBACK, "state": state, "login": login})
    assert back.status_code == 302
    target = urllib.parse.urlsplit(back.headers["Location"])
    query = dict(urllib.parse.parse_qsl(target.query))
    assert target.path == "/-/callback" and query["x"] == "1" and query["state"] == state
    return query["code"]


def exchange(server: SandboxServer, client: dict[str, Any], code: str, json: bool = True, **extra: str) -> Any:
    resp = requests.post(f"{server.url}/login/oauth/access_token", timeout=30,
                         headers={"Accept": "application/json"} if json else {},
                         data={"client_id": client["client_id"], "client_secret": client["client_secret"],
                               "code": code, **extra})
    assert resp.status_code == 200  # GitHub answers errors with 200 too
    return resp.json() if json else dict(urllib.parse.parse_qsl(resp.text))


def test_the_web_flow_gives_a_user_token(server: SandboxServer) -> None:
    client = app(server)
    assert client["client_id"].startswith("Iv1.")
    token = exchange(server, client, code_for(server, client["client_id"], "bob"))
    assert token["token_type"] == "bearer" and token["access_token"].startswith("ghu_")
    me = server.api("GET", "/user", token["access_token"])
    assert me.status_code == 200 and me.json()["login"] == "bob"
    # form-encoded without Accept: application/json, like GitHub
    form = exchange(server, client, code_for(server, client["client_id"], "carol"), json=False)
    assert form["access_token"].startswith("ghu_") and form["token_type"] == "bearer"


def test_codes_are_single_use_and_bound_to_the_client_and_redirect(server: SandboxServer) -> None:
    client, other = app(server), app(server)
    code = code_for(server, client["client_id"], "bob")
    assert exchange(server, other, code)["error"] == "bad_verification_code"  # another app's client
    code = code_for(server, client["client_id"], "bob")
    assert exchange(server, client, code, redirect_uri="http://elsewhere/")["error"] == "redirect_uri_mismatch"
    code = code_for(server, client["client_id"], "bob")
    assert "access_token" in exchange(server, client, code)
    assert exchange(server, client, code)["error"] == "bad_verification_code"  # used once
    bad = {**client, "client_secret": "wrong"}
    assert exchange(server, bad, code_for(server, client["client_id"], "bob"))["error"] == \
        "incorrect_client_credentials"


def test_bad_requests_are_refused(server: SandboxServer) -> None:
    client = app(server)
    assert requests.get(f"{server.url}/login/oauth/authorize", params={"client_id": "Iv1.nope",
                        "redirect_uri": CALLBACK}, timeout=30).status_code == 404
    assert requests.get(f"{server.url}/login/oauth/authorize", params={"client_id": client["client_id"],
                        "redirect_uri": "javascript:alert(1)"}, timeout=30).status_code == 400
    nobody = requests.post(f"{server.url}/login/oauth/authorize", allow_redirects=False, timeout=30,
                           data={"client_id": client["client_id"], "redirect_uri": CALLBACK, "login": "<b>x</b>"})
    assert nobody.status_code == 401 and "<b>x</b>" not in nobody.text
    assert server.api("GET", "/user", "ghu_forged").status_code == 401
